//! Operators' and auditors' commands: `agentos replay <projection>` and
//! `agentos audit --correlation-id …`.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;

use api::gateway;
use api::system::all_projections;
use domain::{CorrelationId, Position, RecordedEvent, StreamId};
use eventstore::{verify, EventFilter, EventStore};
use projections::{ProjectionRunner, ProjectionState, RunnerConfig};

/// The exit code of a broken chain (as `agentos verify`).
pub const BROKEN_CHAIN: u8 = 3;

/// Rebuilds a projection from the first event into a new generation while
/// the current one keeps serving, then switches over; shows progress.
pub async fn replay(database_url: &str, name: &str) -> anyhow::Result<ExitCode> {
    let projections = all_projections();
    let Some(projection) = projections.iter().find(|p| p.name() == name).cloned() else {
        let known: Vec<&str> = projections.iter().map(|p| p.name()).collect();
        anyhow::bail!("no projection named {name:?}; known: {}", known.join(", "));
    };
    let (store, db) = gateway::connect(database_url).await?;
    let total = store
        .count_after(Position::START, &projection.filter(), u64::MAX)
        .await?;
    let runner = ProjectionRunner::new(db, Arc::clone(&store), projection, RunnerConfig::default());
    let mut status = runner.status();
    runner.rebuild_handle().request();
    let task = tokio::spawn(runner.run());

    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {pos}/{len} events ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(format!("replaying {name}"));
    // The generation being built: the one the runner starts for the request,
    // or the first one when the projection never ran here.
    let mut target = None;
    let outcome = loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break Err(anyhow::anyhow!(
                "interrupted; the old generation still serves, and the next runner resumes the rebuild"
            )),
            changed = status.changed() => {
                if changed.is_err() {
                    break Err(anyhow::anyhow!("the projection runner stopped"));
                }
            }
        }
        let now = status.borrow_and_update().clone();
        // New events may arrive while it replays: the bar grows with them.
        bar.set_length(total.max(now.applied));
        bar.set_position(now.applied);
        match now.state {
            ProjectionState::Outdated => {
                break Err(anyhow::anyhow!(
                    "{}",
                    now.last_error
                        .unwrap_or_else(|| "a newer version owns it".to_owned())
                ))
            }
            ProjectionState::Retrying => {
                bar.set_message(format!(
                    "replaying {name} (retrying: {})",
                    now.last_error.as_deref().unwrap_or("a failure")
                ));
            }
            _ => {}
        }
        if now.active_generation == 0 {
            continue;
        }
        let building = *target.get_or_insert(now.rebuilding.unwrap_or(now.active_generation));
        if now.rebuilding.is_none()
            && now.active_generation == building
            && now.state == ProjectionState::Live
        {
            break Ok(now);
        }
    };
    task.abort();
    bar.finish_and_clear();
    let now = outcome?;
    println!(
        "replayed {name}: generation {} (version {}) is active at checkpoint {} after {} events",
        now.active_generation, now.active_version, now.checkpoint, now.applied
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints one order's whole story from the log, in order, and verifies the
/// hash chain of every stream it touched.
pub async fn audit(database_url: &str, correlation: CorrelationId) -> anyhow::Result<ExitCode> {
    let store = eventstore::open(database_url).await?;
    let story = events_of(&*store, correlation).await?;
    if story.is_empty() {
        anyhow::bail!("no event carries correlation id {correlation}");
    }
    println!("the story of {correlation}: {} events", story.len());
    for event in &story {
        println!("{}", step(event));
    }
    let streams: BTreeSet<&StreamId> = story.iter().map(|e| &e.stream_id).collect();
    let mut broken = 0;
    let mut checked = 0;
    for stream in &streams {
        let report = verify::verify_stream(&*store, stream).await?;
        checked += report.events;
        for (stream, link) in &report.broken {
            broken += 1;
            println!("BROKEN {}", verify::describe(stream, link));
        }
    }
    if broken > 0 {
        println!(
            "{broken} of {} streams of this order have a broken hash chain",
            streams.len()
        );
        return Ok(ExitCode::from(BROKEN_CHAIN));
    }
    println!(
        "intact: the {} streams of this order verify ({checked} events checked)",
        streams.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Every event of the log with this correlation id, in the global order.
/// The log itself is read, not a read model, so nothing can be missing.
async fn events_of(
    store: &dyn EventStore,
    correlation: CorrelationId,
) -> anyhow::Result<Vec<RecordedEvent>> {
    let mut story = Vec::new();
    let mut after = Position::START;
    loop {
        let batch = store.read_all(after, 1000, &EventFilter::all()).await?;
        story.extend(
            batch
                .events
                .into_iter()
                .filter(|e| e.metadata.correlation_id == correlation),
        );
        if batch.next == after && !batch.beyond_horizon {
            return Ok(story);
        }
        if batch.next == after {
            // Events still being committed: wait for them.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        after = batch.next;
    }
}

/// One line of the story: when, where, what, who, because of what.
fn step(event: &RecordedEvent) -> String {
    let cause = event
        .metadata
        .causation_id
        .map_or_else(|| "-".to_owned(), |c| c.to_string());
    format!(
        "{}  {} v{}  {}  by {}  caused by {cause}\n    {}",
        event.recorded_at.format("%Y-%m-%d %H:%M:%S%.3f"),
        event.stream_id,
        event.stream_version,
        event.event_type,
        event.metadata.actor,
        event.payload.as_str(),
    )
}
