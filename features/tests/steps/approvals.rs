//! `approvals.feature`: a task over the order's spending limit waits for
//! the CEO; approved it is dispatched, rejected it is cancelled.

use cucumber::{then, when};
use serde_json::{json, Value};

use super::{ensure, fail, task, Failure, Outcome};
use crate::Company;

impl Company {
    /// The followed approval as the inbox lists it under `status`, once it does.
    async fn approval_listed_as(&self, status: &str) -> Result<Value, Failure> {
        let id = self.approval_id()?;
        let answer = self
            .os()?
            .get_until(
                &format!("/api/v1/approvals?status={status}"),
                &self.token("ceo")?,
                &format!("approval {id} to be {status}"),
                |a| a.status == 200 && a.json().is_ok_and(|list| listed(&list, &id).is_some()),
            )
            .await?;
        match listed(&answer.json()?, &id) {
            Some(approval) => Ok(approval),
            None => fail(format!("approval {id} vanished from the inbox")),
        }
    }

    /// Decides the followed approval as the CEO.
    async fn decide(&self, decision: &str, reason: &str) -> Outcome {
        let id = self.approval_id()?;
        self.os()?
            .post(
                &format!("/api/v1/approvals/{id}"),
                &self.token("ceo")?,
                &json!({ "decision": decision, "reason": reason }),
                None,
            )
            .await?
            .expect(202)?;
        Ok(())
    }
}

/// The approval `id` in a list of approvals.
fn listed(list: &Value, id: &str) -> Option<Value> {
    list["approvals"]
        .as_array()?
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
}

#[then(regex = r#"^the task "(\w+)" awaits approval because of the order's spending limit$"#)]
async fn awaits_approval(world: &mut Company, key: String) -> Outcome {
    let directive = world
        .directive_when(&format!("{key} to await approval"), |d| {
            task(d, &key)
                .is_some_and(|t| t["status"] == "awaiting_approval" && t["approval_id"].is_string())
        })
        .await?;
    let Some(waiting) = task(&directive, &key) else {
        return fail(format!("no task {key}: {directive:#}"));
    };
    let rule = waiting["approval_rule"].as_str().unwrap_or_default();
    ensure(rule.contains("spending limit"), || {
        format!("{key} should wait because of the spending limit, not {rule:?}: {waiting}")
    })?;
    world.approval = waiting["approval_id"].as_str().map(str::to_owned);
    Ok(())
}

#[then(regex = r"^the approvals inbox lists its approval as pending for ([A-Z]{3}) (\d+)$")]
async fn listed_pending(world: &mut Company, currency: String, units: i64) -> Outcome {
    let approval = world.approval_listed_as("pending").await?;
    let directive = world.directive_id()?;
    let amount = json!({ "minor": units * 100, "currency": currency });
    ensure(
        approval["directive_id"] == directive.as_str()
            && approval["amount"] == amount
            && approval["why"]
                .as_str()
                .is_some_and(|why| why.contains("spending limit")),
        || format!("the approval should ask for {amount} over the spending limit: {approval:#}"),
    )
}

#[then("the approvals inbox lists its approval as granted")]
async fn listed_granted(world: &mut Company) -> Outcome {
    let approval = world.approval_listed_as("granted").await?;
    ensure(approval["decided_by"].is_string(), || {
        format!("a granted approval names who decided: {approval:#}")
    })
}

#[then(regex = r#"^the approvals inbox lists its approval as rejected because "([^"]*)"$"#)]
async fn listed_rejected(world: &mut Company, reason: String) -> Outcome {
    let approval = world.approval_listed_as("rejected").await?;
    ensure(approval["reason"] == reason.as_str(), || {
        format!("the rejection should give the reason {reason:?}: {approval:#}")
    })
}

#[when("the CEO approves it")]
async fn approves(world: &mut Company) -> Outcome {
    world
        .decide("approve", "within this quarter's budget")
        .await
}

#[when(regex = r#"^the CEO rejects it because "([^"]*)"$"#)]
async fn rejects(world: &mut Company, reason: String) -> Outcome {
    world.decide("reject", &reason).await
}

#[then(regex = r#"^the task "(\w+)" is (planned|dispatched|completed|cancelled)$"#)]
async fn task_is(world: &mut Company, key: String, status: String) -> Outcome {
    world
        .directive_when(&format!("{key} to be {status}"), |d| {
            task(d, &key).is_some_and(|t| t["status"] == status.as_str())
        })
        .await
        .map(|_| ())
}

#[then(regex = r"^the order is closed as (completed|failed|cancelled)$")]
async fn closed_as(world: &mut Company, status: String) -> Outcome {
    world
        .directive_when(&format!("the order to be closed as {status}"), |d| {
            d["status"] == status.as_str()
        })
        .await
        .map(|_| ())
}
