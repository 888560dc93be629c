//! `audit.feature`: an order's histories are unbroken hash chains, checked
//! by the client from what the API sent; replayed, they give the state the
//! read models show.

use std::collections::BTreeMap;
use std::time::Duration;

use cucumber::{then, when};
use domain::approval::{Approval, ApprovalEvent, ApprovalStatus};
use domain::directive::{Directive, DirectiveEvent, DirectiveStatus};
use domain::task::{Task, TaskEvent};
use domain::{Aggregate, DomainEvent, EventId, JsonText, Position, RecordedEvent};
use eventstore::chain::ChainCheck;
use features::{EventsPage, History};
use serde_json::Value;

use super::{ensure, fail, Failure, Outcome};
use crate::Company;

/// Rounds of reading every history until two in a row agree.
const SETTLE_ROUNDS: usize = 50;

impl Company {
    /// The streams of the followed order: its directive, its tasks and
    /// their approvals, as the API names them.
    async fn order_streams(&self) -> Result<Vec<String>, Failure> {
        let directive = self.directive_when("the order", |_| true).await?;
        let mut streams = vec![format!("directive-{}", self.directive_id()?)];
        for task in directive["tasks"].as_array().into_iter().flatten() {
            if let Some(id) = task["id"].as_str() {
                streams.push(format!("task-{id}"));
            }
            if let Some(id) = task["approval_id"].as_str() {
                streams.push(format!("approval-{id}"));
            }
        }
        Ok(streams)
    }

    /// The last position among the histories read.
    fn last_position(&self) -> Result<Position, Failure> {
        let last = self
            .histories
            .values()
            .flat_map(|h| h.events.iter().map(|e| e.position))
            .max();
        match last {
            Some(at) => Ok(at),
            None => fail("the auditor has read no history".to_owned()),
        }
    }

    /// The history of `stream` as read.
    fn history(&self, stream: &str) -> Result<&History, Failure> {
        match self.histories.get(stream) {
            Some(history) => Ok(history),
            None => fail(format!("the auditor did not read {stream}")),
        }
    }

    /// GET `path` as the auditor at the histories' last position; the body.
    async fn read_model(&self, path: &str) -> Result<Value, Failure> {
        let at = self.last_position()?;
        let separator = if path.contains('?') { '&' } else { '?' };
        let answer = self
            .os()?
            .get(
                &format!("{path}{separator}min_checkpoint={at}"),
                &self.token("auditor")?,
            )
            .await?
            .expect(200)?;
        ensure(!answer.stale, || {
            format!("{path} did not reach {at}: {}", answer.text)
        })?;
        Ok(answer.json()?)
    }
}

/// Decodes a history's events.
fn decode<E: DomainEvent>(history: &History) -> Result<Vec<E>, Failure> {
    history
        .recorded()
        .iter()
        .map(|e| {
            E::decode(e).map_err(|error| {
                Failure(format!(
                    "{} v{} does not decode: {error}",
                    e.stream_id, e.stream_version
                ))
            })
        })
        .collect()
}

/// A status as the read models spell it.
fn label(value: &impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn approval_label(status: ApprovalStatus) -> &'static str {
    match status {
        ApprovalStatus::Unknown => "unknown",
        ApprovalStatus::Pending => "pending",
        ApprovalStatus::Granted => "granted",
        ApprovalStatus::Rejected => "rejected",
        ApprovalStatus::Expired => "expired",
        ApprovalStatus::Withdrawn => "withdrawn",
    }
}

/// Checks a history's chain from its events alone: each links to the one
/// before, and the last is the stream's head.
fn chain_of(history: &History) -> Result<u64, String> {
    let events = history.recorded();
    let mut check = ChainCheck::new();
    for event in &events {
        check.push(event);
    }
    let Some(last) = events.last() else {
        return Err("the history is empty".to_owned());
    };
    check
        .finish(history.version, last.hash)
        .map_err(|broken| format!("{broken:?}"))
}

#[when("the auditor reads the histories of the order's directive, tasks and approvals")]
async fn reads_histories(world: &mut Company) -> Outcome {
    let token = world.token("auditor")?;
    // The orchestrator may still be writing: read until two rounds agree.
    let mut previous: Option<BTreeMap<String, u64>> = None;
    for _ in 0..SETTLE_ROUNDS {
        let streams = world.order_streams().await?;
        let mut histories = BTreeMap::new();
        for stream in streams {
            let history = world.os()?.history(&token, &stream, None).await?;
            histories.insert(stream, history);
        }
        let heads: BTreeMap<String, u64> = histories
            .iter()
            .map(|(s, h)| (s.clone(), h.version))
            .collect();
        if previous.as_ref() == Some(&heads) {
            world.histories = histories;
            return Ok(());
        }
        previous = Some(heads);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    fail("the order's streams kept changing".to_owned())
}

#[then("every history is an unbroken hash chain")]
async fn unbroken_chains(world: &mut Company) -> Outcome {
    ensure(world.histories.len() >= 3, || {
        format!(
            "a directive, a task and an approval should have been read: {:?}",
            world.histories.keys()
        )
    })?;
    for (stream, history) in &world.histories {
        let events = chain_of(history)
            .map_err(|broken| Failure(format!("{stream}'s chain is broken: {broken}")))?;
        ensure(
            events == history.version && history.as_of == history.version,
            || format!("{stream}: {events} events checked of {}", history.version),
        )?;
        // The check has teeth: one changed payload breaks the chain.
        let mut forged = history.clone();
        if let Some(first) = forged.events.first_mut() {
            first.payload = JsonText::from_value(&serde_json::json!({ "forged": true }));
        }
        ensure(chain_of(&forged).is_err(), || {
            format!("{stream}: a forged payload went unnoticed")
        })?;
    }
    Ok(())
}

#[then("the audit endpoint finds every chain intact")]
async fn endpoint_intact(world: &mut Company) -> Outcome {
    let token = world.token("auditor")?;
    let whole = world
        .os()?
        .get("/api/v1/audit/verify", &token)
        .await?
        .expect(200)?
        .json()?;
    let read: u64 = world.histories.values().map(|h| h.version).sum();
    ensure(
        whole["intact"] == true
            && whole["broken_streams"] == 0
            && whole["events"].as_u64().is_some_and(|n| n >= read),
        || format!("the whole log should verify, with at least the {read} events read: {whole:#}"),
    )?;
    for (stream, history) in &world.histories {
        let one = world
            .os()?
            .get(&format!("/api/v1/audit/verify?stream={stream}"), &token)
            .await?
            .expect(200)?
            .json()?;
        ensure(
            one["intact"] == true && one["events"] == history.version,
            || {
                format!(
                    "{stream} should verify with {} events: {one:#}",
                    history.version
                )
            },
        )?;
    }
    Ok(())
}

#[then("the order's story in the event log is exactly its events in those histories")]
async fn story_matches(world: &mut Company) -> Outcome {
    let directive = world
        .read_model(&format!("/api/v1/directives/{}", world.directive_id()?))
        .await?;
    let Some(correlation) = directive["correlation_id"].as_str() else {
        return fail(format!(
            "the directive has no correlation id: {directive:#}"
        ));
    };
    let in_histories: BTreeMap<EventId, RecordedEvent> = world
        .histories
        .values()
        .flat_map(History::recorded)
        .filter(|e| e.metadata.correlation_id.to_string() == correlation)
        .map(|e| (e.event_id, e))
        .collect();
    let mut story: BTreeMap<EventId, RecordedEvent> = BTreeMap::new();
    let mut path = format!("/api/v1/events?correlation_id={correlation}&limit=500");
    loop {
        let page: EventsPage = serde_json::from_value(world.read_model(&path).await?)
            .map_err(|e| Failure(format!("not a page of events: {e}")))?;
        story.extend(
            page.events
                .into_iter()
                .map(RecordedEvent::from)
                .map(|e| (e.event_id, e)),
        );
        match page.next_cursor {
            Some(cursor) => {
                path =
                    format!("/api/v1/events?correlation_id={correlation}&limit=500&cursor={cursor}")
            }
            None => break,
        }
    }
    ensure(
        story.values().any(|e| e.event_type == "DirectiveIssued"),
        || format!("the story should open with the order: {:?}", story.keys()),
    )?;
    ensure(story == in_histories, || {
        let only_story: Vec<_> = story
            .values()
            .filter(|e| in_histories.get(&e.event_id) != Some(e))
            .map(|e| format!("{} v{} {}", e.stream_id, e.stream_version, e.event_type))
            .collect();
        let only_histories: Vec<_> = in_histories
            .values()
            .filter(|e| story.get(&e.event_id) != Some(e))
            .map(|e| format!("{} v{} {}", e.stream_id, e.stream_version, e.event_type))
            .collect();
        format!(
            "the event log and the histories differ: only (or changed) in the log \
             {only_story:?}, only (or changed) in the histories {only_histories:?}"
        )
    })
}

#[then("the directive replayed from its history is the directive the API shows")]
async fn directive_replays(world: &mut Company) -> Outcome {
    let id = world.directive_id()?;
    let shown = world
        .read_model(&format!("/api/v1/directives/{id}"))
        .await?;
    let events: Vec<DirectiveEvent> = decode(world.history(&format!("directive-{id}"))?)?;
    let replayed = Directive::replay(&events);
    let Some(issued) = &replayed.issued else {
        return fail("the replayed directive was never issued".to_owned());
    };
    ensure(label(&replayed.status) == shown["status"], || {
        format!("replayed {:?}, shown {}", replayed.status, shown["status"])
    })?;
    ensure(
        shown["text"] == issued.text.as_str()
            && shown["spending_limit"] == label(&issued.spending_limit),
        || format!("replayed the order {issued:?}, shown {shown:#}"),
    )?;
    let shown_tasks = shown["tasks"].as_array().cloned().unwrap_or_default();
    ensure(shown_tasks.len() == replayed.tasks.len(), || {
        format!(
            "replayed {} tasks, shown {}",
            replayed.tasks.len(),
            shown_tasks.len()
        )
    })?;
    for (slot, view) in replayed.tasks.iter().zip(&shown_tasks) {
        let planned = &slot.task;
        let depends_on: Vec<String> = planned.depends_on.iter().map(|d| d.to_string()).collect();
        ensure(
            view["id"] == planned.task_id.to_string()
                && view["key"] == planned.key.as_str()
                && view["kind"] == planned.kind.as_str()
                && view["department"] == label(&planned.department)
                && view["depends_on"] == label(&depends_on),
            || format!("replayed the task {planned:?}, shown {view}"),
        )?;
        if let Some(settled) = slot.settled {
            ensure(label(&settled) == view["status"], || {
                format!(
                    "the directive saw {} end {settled:?}, shown {view}",
                    planned.key
                )
            })?;
        }
    }
    Ok(())
}

#[then("each task and approval replayed from its history has the status the API shows")]
async fn tasks_and_approvals_replay(world: &mut Company) -> Outcome {
    let id = world.directive_id()?;
    let shown = world
        .read_model(&format!("/api/v1/directives/{id}"))
        .await?;
    let approvals = world.read_model("/api/v1/approvals?limit=500").await?;
    let mut approvals_checked = 0;
    for view in shown["tasks"].as_array().into_iter().flatten() {
        let Some(task_id) = view["id"].as_str() else {
            return fail(format!("a task without an id: {view}"));
        };
        let events: Vec<TaskEvent> = decode(world.history(&format!("task-{task_id}"))?)?;
        let replayed = Task::replay(&events);
        ensure(label(&replayed.status) == view["status"], || {
            format!(
                "task {task_id}: replayed {:?}, shown {view}",
                replayed.status
            )
        })?;
        let Some(approval_id) = view["approval_id"].as_str() else {
            continue;
        };
        let events: Vec<ApprovalEvent> =
            decode(world.history(&format!("approval-{approval_id}"))?)?;
        let replayed = Approval::replay(&events);
        let listed = approvals["approvals"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["id"] == approval_id);
        let Some(listed) = listed else {
            return fail(format!(
                "approval {approval_id} is not in the inbox: {approvals:#}"
            ));
        };
        ensure(listed["status"] == approval_label(replayed.status), || {
            format!(
                "approval {approval_id}: replayed {:?}, shown {listed}",
                replayed.status
            )
        })?;
        approvals_checked += 1;
    }
    ensure(approvals_checked > 0, || {
        "the order should have had an approval to replay".to_owned()
    })
}

#[then("the directive's history as of version 1 holds only the order as issued")]
async fn as_of_first_version(world: &mut Company) -> Outcome {
    let id = world.directive_id()?;
    let stream = format!("directive-{id}");
    let whole = world.history(&stream)?.clone();
    let first = world
        .os()?
        .history(&world.token("auditor")?, &stream, Some(1))
        .await?;
    ensure(
        first.as_of == 1 && first.version == whole.version && whole.version > 1,
        || format!("as of 1 of {} versions: {first:?}", whole.version),
    )?;
    let (then, now) = (first.recorded(), whole.recorded());
    ensure(then.len() == 1 && now.first() == then.first(), || {
        format!("as of version 1 the history should be its first event alone: {then:?}")
    })?;
    let replayed = Directive::replay(&decode::<DirectiveEvent>(&first)?);
    ensure(
        replayed.status == DirectiveStatus::Planning && replayed.tasks.is_empty(),
        || format!("as of version 1 the order was issued and unplanned: {replayed:?}"),
    )
}
