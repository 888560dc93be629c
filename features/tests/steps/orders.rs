//! `orders.feature`: orders become plans and tasks; a resubmitted order is
//! the same order.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cucumber::gherkin::Step;
use cucumber::{then, when};
use features::PATIENCE;
use serde_json::{json, Value};

use super::{ensure, fail, task, Failure, Outcome};
use crate::Company;

/// How long the log must stay unchanged to count as still.
const STILL_FOR: Duration = Duration::from_millis(300);
/// How long a resubmission is watched for events it might cause.
const WATCH_FOR: Duration = Duration::from_secs(1);

impl Company {
    /// Gives an order as `role`; the answer is kept, and the directive
    /// followed when it was accepted.
    async fn order(&mut self, role: &str, body: Value, key: Option<String>) -> Outcome {
        let answer = self
            .os()?
            .post(
                "/api/v1/directives",
                &self.token(role)?,
                &body,
                key.as_deref(),
            )
            .await?;
        if answer.status == 202 {
            if let Some(id) = answer.json()?["directive_id"].as_str() {
                self.directive = Some(id.to_owned());
            }
        }
        self.answers.push(answer);
        self.last_order = Some((body, key));
        Ok(())
    }

    /// The answer to the `n`th order (0: the first).
    fn answer_json(&self, n: usize) -> Result<Value, Failure> {
        match self.answers.get(n) {
            Some(answer) => Ok(answer.json()?),
            None => fail(format!("only {} orders were given", self.answers.len())),
        }
    }
}

#[when(regex = r#"^the (CEO|operator|auditor|viewer) orders "([^"]*)"$"#)]
async fn orders(world: &mut Company, role: String, text: String) -> Outcome {
    world.order(&role, json!({ "text": text }), None).await
}

#[when(regex = r#"^the CEO orders "([^"]*)" with the Idempotency-Key "([^"]*)"$"#)]
async fn orders_with_key(world: &mut Company, text: String, key: String) -> Outcome {
    world.order("ceo", json!({ "text": text }), Some(key)).await
}

#[when(regex = r#"^the CEO orders "([^"]*)" with a spending limit of ([A-Z]{3}) (\d+)$"#)]
async fn orders_with_limit(
    world: &mut Company,
    text: String,
    currency: String,
    units: i64,
) -> Outcome {
    let limit = json!({ "minor": units * 100, "currency": currency });
    world
        .order(
            "ceo",
            json!({ "text": text, "spending_limit": limit }),
            None,
        )
        .await
}

#[when(regex = r#"^the CEO sends the same order again with the Idempotency-Key "([^"]*)"$"#)]
async fn orders_again(world: &mut Company, key: String) -> Outcome {
    let Some((body, _)) = world.last_order.clone() else {
        return fail("no order was given before".to_owned());
    };
    world.order("ceo", body, Some(key)).await
}

#[then("the order is accepted")]
async fn accepted(world: &mut Company) -> Outcome {
    let Some(answer) = world.answers.last() else {
        return fail("no order was given".to_owned());
    };
    let answer = answer.clone().expect(202)?;
    let body = answer.json()?;
    ensure(
        body["directive_id"].is_string()
            && body["checkpoint"].is_string()
            && body["duplicate"] == false,
        || format!("an accepted order names its directive and checkpoint: {body}"),
    )
}

#[then("the rule-based planner plans it into these tasks:")]
async fn planned_into(world: &mut Company, step: &Step) -> Outcome {
    let Some(table) = step.table.as_ref() else {
        return fail("the step needs a table of tasks".to_owned());
    };
    let header = ["task", "department", "after", "status"];
    ensure(table.rows.first().is_some_and(|h| *h == header), || {
        format!(
            "the table's columns are {header:?}: {:?}",
            table.rows.first()
        )
    })?;
    let rows: Vec<&Vec<String>> = table.rows.iter().skip(1).collect();
    let directive = world
        .directive_when("the plan's tasks to reach the statuses of the table", |d| {
            d["tasks"].as_array().map(Vec::len) == Some(rows.len())
                && rows
                    .iter()
                    .all(|row| task(d, &row[0]).is_some_and(|t| t["status"] == row[3].as_str()))
        })
        .await?;
    ensure(directive["planner"] == "rules", || {
        format!("the rule-based planner should have planned it: {directive:#}")
    })?;
    ensure(directive["status"] == "in_progress", || {
        format!("a planned order is in progress: {directive:#}")
    })?;
    let keys: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
    ensure(directive["plan"]["tasks"] == json!(keys), || {
        format!("the plan's tasks, in order, should be {keys:?}: {directive:#}")
    })?;
    let key_of: BTreeMap<&str, &str> = directive["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["id"].as_str()?, t["key"].as_str()?)))
        .collect();
    for row in rows {
        let (key, department, after) = (&row[0], &row[1], &row[2]);
        let Some(shown) = task(&directive, key) else {
            return fail(format!("no task {key}: {directive:#}"));
        };
        ensure(shown["department"] == department.as_str(), || {
            format!("{key} belongs to {department}: {shown}")
        })?;
        let mut depends_on: Vec<&str> = shown["depends_on"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|id| id.as_str().and_then(|id| key_of.get(id).copied()))
            .collect();
        depends_on.sort_unstable();
        let mut expected: Vec<&str> = after
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect();
        expected.sort_unstable();
        ensure(depends_on == expected, || {
            format!("{key} should wait for {expected:?}, waits for {depends_on:?}: {shown}")
        })?;
    }
    Ok(())
}

#[when(regex = r#"^the task "(\w+)" is dispatched and the log is still$"#)]
async fn dispatched_and_still(world: &mut Company, key: String) -> Outcome {
    world
        .directive_when(&format!("{key} to be dispatched"), |d| {
            task(d, &key).is_some_and(|t| t["status"] == "dispatched")
        })
        .await?;
    // The orchestrator may still be writing; wait until the count of
    // events stays the same for a while.
    let deadline = Instant::now() + PATIENCE;
    let mut seen = world.events_in_log().await?;
    let mut since = Instant::now();
    while since.elapsed() < STILL_FOR {
        ensure(Instant::now() < deadline, || {
            format!("the log did not come to rest within {PATIENCE:?}")
        })?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = world.events_in_log().await?;
        if now != seen {
            (seen, since) = (now, Instant::now());
        }
    }
    world.logged_events = Some(seen);
    Ok(())
}

#[then("both answers name the same directive and the same checkpoint")]
async fn same_directive(world: &mut Company) -> Outcome {
    let (first, second) = (world.answer_json(0)?, world.answer_json(1)?);
    ensure(
        first["directive_id"].is_string()
            && first["directive_id"] == second["directive_id"]
            && first["checkpoint"] == second["checkpoint"],
        || format!("the same key should name the same order: {first} and {second}"),
    )
}

#[then("the second answer is marked as a duplicate")]
async fn marked_duplicate(world: &mut Company) -> Outcome {
    let (first, second) = (world.answer_json(0)?, world.answer_json(1)?);
    ensure(
        first["duplicate"] == false && second["duplicate"] == true,
        || format!("only the resubmission is a duplicate: {first} and {second}"),
    )
}

#[then("the log holds no new event")]
async fn no_new_event(world: &mut Company) -> Outcome {
    let Some(before) = world.logged_events else {
        return fail("the log was not counted before".to_owned());
    };
    // Watch a while: the orchestrator would react to anything new.
    let until = Instant::now() + WATCH_FOR;
    while Instant::now() < until {
        let now = world.events_in_log().await?;
        ensure(now == before, || {
            format!("the log held {before} events before the resubmission, {now} after it")
        })?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[then("the log holds no event")]
async fn no_event(world: &mut Company) -> Outcome {
    let events = world.events_in_log().await?;
    ensure(events == 0, || format!("the log holds {events} events"))
}

#[then(regex = r"^the directives list holds (\d+) directives?$")]
async fn directives_listed(world: &mut Company, count: usize) -> Outcome {
    // Read-your-writes: the list reflects the last accepted order.
    let checkpoint = world
        .answers
        .iter()
        .rev()
        .filter_map(|a| a.json().ok())
        .find_map(|b| b["checkpoint"].as_str().map(str::to_owned));
    let path = match checkpoint {
        Some(at) => format!("/api/v1/directives?min_checkpoint={at}"),
        None => "/api/v1/directives".to_owned(),
    };
    let answer = world
        .os()?
        .get(&path, &world.token("ceo")?)
        .await?
        .expect(200)?;
    ensure(!answer.stale, || {
        format!("the directives list did not catch up: {}", answer.text)
    })?;
    let listed = answer.json()?;
    let found = listed["directives"].as_array().map_or(0, Vec::len);
    ensure(found == count, || {
        format!("{count} directives expected, {found} listed: {listed:#}")
    })
}
