//! The event log read model copies every event, many to a statement, on
//! PostgreSQL and SQLite.

mod support;

use std::sync::Arc;
use std::time::Duration;

use domain::{Position, StreamId};
use eventstore::{EventFilter, EventStore};
use projections::models::event_log::{self, EventLog, EventLogQuery};
use projections::{Db, ProjectionRunner, ProjectionState, RunnerConfig};
use support::*;

/// 450 events in one batch (more than one INSERT's worth of rows), then one
/// more: each copied once, in order, with its payload and metadata.
async fn a_batch_of_hundreds_is_copied_whole_and_in_order(db: Db, store: Arc<dyn EventStore>) {
    let streams: Vec<StreamId> = (0..3).map(|_| counted_stream()).collect();
    for stream in &streams {
        append(&*store, stream, 150).await;
    }
    let runner = ProjectionRunner::new(
        db.clone(),
        Arc::clone(&store),
        Arc::new(EventLog),
        RunnerConfig {
            batch: 500,
            max_backoff: Duration::from_millis(200),
            idle_recheck: Duration::from_millis(500),
        },
    );
    let mut status = runner.status();
    let task = tokio::spawn(runner.run());
    let last = append(&*store, &streams[0], 1).await;
    wait_for(&mut status, Duration::from_secs(30), "caught up", |s| {
        s.state == ProjectionState::Live && s.checkpoint >= last
    })
    .await;
    task.abort();

    let mut copied = Vec::new();
    let mut after: Option<Position> = None;
    loop {
        let page = event_log::query(
            &db,
            &EventLogQuery {
                after,
                limit: event_log::MAX_LIMIT,
                ..EventLogQuery::default()
            },
        )
        .await
        .expect("query");
        let Some(end) = page.last() else { break };
        after = Some(end.position);
        copied.extend(page);
    }
    let stored = store
        .read_all(Position::START, 1000, &EventFilter::all())
        .await
        .expect("read")
        .events;
    assert_eq!(stored.len(), 451);
    assert_eq!(copied, stored, "every event once, in order, as stored");
}

both_back_ends!(a_batch_of_hundreds_is_copied_whole_and_in_order);
