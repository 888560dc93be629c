//! The steps, one module per feature file, and what they share.

mod access;
mod approvals;
mod audit;
mod logistics;
mod orders;

use std::fmt;

use api::gateway::Role;
use cucumber::given;
use features::AgentOs;
use serde_json::Value;

use crate::Company;

/// What a step ends with; a failure fails the step with its whole chain of causes.
type Outcome = Result<(), Failure>;

/// Why a step failed.
#[derive(Debug)]
pub struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self(format!("{error:#}"))
    }
}

/// Fails the step with `message` unless `condition` holds.
fn ensure(condition: bool, message: impl FnOnce() -> String) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(Failure(message()))
    }
}

/// Fails the step with `message`.
fn fail<T>(message: String) -> Result<T, Failure> {
    Err(Failure(message))
}

impl Company {
    /// AgentOS, as the Background started it.
    fn os(&self) -> Result<&AgentOs, Failure> {
        match &self.agentos {
            Some(agentos) => Ok(agentos),
            None => fail("AgentOS is not running: the Background starts it".to_owned()),
        }
    }

    /// The token of `role` (`ceo`, `viewer` …).
    fn token(&self, role: &str) -> Result<String, Failure> {
        match self.tokens.get(&role.to_lowercase()) {
            Some(token) => Ok(token.clone()),
            None => fail(format!(
                "no {role} token: a step `… holds a token` gives one"
            )),
        }
    }

    /// The directive the scenario follows.
    fn directive_id(&self) -> Result<String, Failure> {
        match &self.directive {
            Some(id) => Ok(id.clone()),
            None => fail("no order was accepted yet".to_owned()),
        }
    }

    /// The approval the scenario follows.
    fn approval_id(&self) -> Result<String, Failure> {
        match &self.approval {
            Some(id) => Ok(id.clone()),
            None => fail("no task awaits an approval yet".to_owned()),
        }
    }

    /// The directive as the API shows it once `done` holds for it.
    async fn directive_when(
        &self,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Result<Value, Failure> {
        let id = self.directive_id()?;
        let token = self.token("ceo")?;
        let answer = self
            .os()?
            .get_until(&format!("/api/v1/directives/{id}"), &token, what, |a| {
                a.status == 200 && a.json().is_ok_and(|d| done(&d))
            })
            .await?;
        Ok(answer.json()?)
    }

    /// The total number of events in the log, as the audit endpoint counts
    /// them (from the store, not a read model).
    async fn events_in_log(&self) -> Result<u64, Failure> {
        let report = self
            .os()?
            .get("/api/v1/audit/verify", &self.token("ceo")?)
            .await?
            .expect(200)?
            .json()?;
        match report["events"].as_u64() {
            Some(events) => Ok(events),
            None => fail(format!("the audit report has no event count: {report}")),
        }
    }
}

/// The task with `key` in a directive as the API shows it.
fn task<'a>(directive: &'a Value, key: &str) -> Option<&'a Value> {
    directive["tasks"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
}

#[given("AgentOS runs on PostgreSQL with its events relayed through NATS JetStream")]
async fn agentos_runs(world: &mut Company) -> Outcome {
    world.agentos = Some(AgentOs::start().await?);
    Ok(())
}

#[given(regex = r"^(?:the|a|an) (CEO|operator|auditor|viewer) holds a token$")]
async fn holds_a_token(world: &mut Company, role: String) -> Outcome {
    let role_name = role.to_lowercase();
    let parsed: Role = match role_name.parse() {
        Ok(role) => role,
        Err(error) => return fail(format!("{error}")),
    };
    let token = world.os()?.token(parsed).await?;
    world.tokens.insert(role_name, token);
    Ok(())
}
