//! The projection runner on PostgreSQL and SQLite (the same test bodies on
//! both back ends): folding, the checkpoint in the same transaction,
//! failures, crashes, competing runners, lag.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{CommandId, Position, RecordedEvent, StreamId};
use eventstore::{
    AppendRequest, Appended, Batch, Counts, Direction, EventFilter, EventStore, StoreError,
    StreamHead,
};
use projections::{Db, ProjectionState, Value};
use support::*;
use tokio::sync::watch;
use uuid::Uuid;

async fn folds_events_with_the_checkpoint(db: Db, store: Arc<dyn EventStore>) {
    let knobs = Arc::new(Knobs::default());
    let streams: Vec<StreamId> = (0..5).map(|_| counted_stream()).collect();
    let mut last = Position::START;
    for (i, stream) in streams.iter().enumerate() {
        last = append(&*store, stream, 20 + i).await;
    }
    // Events of other categories are not counted.
    let other: StreamId = format!("other-{}", Uuid::now_v7()).parse().expect("id");
    append(&*store, &other, 3).await;
    let mut runner = spawn(&db, &store, 1, &knobs);
    let s = wait_for(
        &mut runner.status,
        Duration::from_secs(30),
        "caught up",
        |s| s.state == ProjectionState::Live && s.checkpoint >= last,
    )
    .await;
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    assert_eq!(
        (s.lag_events, s.lag_seconds, s.oldest_pending),
        (0, 0.0, None)
    );
    assert_eq!(s.applied, (20..25).sum::<u64>());
    assert_eq!(
        (s.active_generation, s.rebuilding, s.failures),
        (1, None, 0)
    );
    // The stored checkpoint is (at least, as the horizon moves on) the one
    // reported, and the rows match it.
    let seen = snapshot(&db).await;
    assert!(seen.checkpoint >= s.checkpoint, "{seen:?} {s:?}");
    assert_eq!(seen.rows, expected_at(&*store, seen.checkpoint).await);
    // Live: a new event shows up.
    let more = append(&*store, &streams[0], 1).await;
    wait_for(
        &mut runner.status,
        Duration::from_secs(10),
        "the new event",
        |s| s.checkpoint >= more,
    )
    .await;
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    runner.kill().await;
}

async fn a_failing_apply_rolls_back_its_batch_and_is_retried_not_skipped(
    db: Db,
    store: Arc<dyn EventStore>,
) {
    let knobs = Arc::new(Knobs::default());
    knobs.poisoned.store(true, Ordering::SeqCst);
    let (calm, hit) = (counted_stream(), counted_stream());
    let before = append(&*store, &calm, 5).await;
    let mut runner = spawn(&db, &store, 1, &knobs);
    wait_for(
        &mut runner.status,
        Duration::from_secs(30),
        "caught up",
        |s| s.state == ProjectionState::Live && s.checkpoint >= before,
    )
    .await;
    // One transaction, so one batch: two good events, the poison, one more.
    let poisoned = append_types(&*store, &hit, &["Counted", "Counted", "Poison", "Counted"]).await;
    let s = wait_for(
        &mut runner.status,
        Duration::from_secs(10),
        "the failure reported, with its lag",
        |s| {
            s.state == ProjectionState::Retrying
                && s.failures >= 2
                && s.lag_events == 4
                && s.lag_seconds > 0.0
        },
    )
    .await;
    let error = s.last_error.clone().expect("the error is reported");
    assert!(
        error.contains("Poison") && error.contains("poisoned event"),
        "{error}"
    );
    // Nothing of the failed batch is applied, not even the events before the
    // poison, and the checkpoint stays before it: the table and the
    // checkpoint agree.
    let seen = snapshot(&db).await;
    assert_eq!(seen.checkpoint, s.checkpoint);
    assert!(
        seen.checkpoint >= before && seen.checkpoint < poisoned,
        "{seen:?}"
    );
    assert_eq!(seen.rows, expected_at(&*store, seen.checkpoint).await);
    assert!(seen
        .rows
        .iter()
        .all(|(stream, _)| *stream != hit.to_string()));
    // Stuck, it falls further behind in time, and says so.
    let stuck_for = s.lag_seconds;
    wait_for(
        &mut runner.status,
        Duration::from_secs(10),
        "the lag grows while stuck",
        |s| s.lag_seconds > stuck_for + 0.2 && s.state == ProjectionState::Retrying,
    )
    .await;
    // The bug is fixed: the very same events are applied, once.
    knobs.poisoned.store(false, Ordering::SeqCst);
    let s = wait_for(
        &mut runner.status,
        Duration::from_secs(10),
        "caught up after the fix",
        |s| s.state == ProjectionState::Live && s.checkpoint >= poisoned,
    )
    .await;
    assert_eq!(counts(&db).await, expected(&*store, &[calm, hit]).await);
    assert_eq!((s.last_error, s.lag_events, s.lag_seconds), (None, 0, 0.0));
    runner.kill().await;
}

async fn aborted_runners_never_double_count(db: Db, store: Arc<dyn EventStore>) {
    let knobs = Arc::new(Knobs::default());
    knobs.slow(Duration::from_micros(300));
    let streams: Arc<Vec<StreamId>> = Arc::new((0..6).map(|_| counted_stream()).collect());
    let writer = {
        let (store, streams) = (Arc::clone(&store), Arc::clone(&streams));
        tokio::spawn(async move {
            for round in 0..60 {
                append(&*store, &streams[round % streams.len()], 1 + round % 4).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    // Meanwhile, whatever queries see agrees with the checkpoint beside it
    // (sampled until the end, and at least 20 times however slow the machine).
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (db, store, done) = (db.clone(), Arc::clone(&store), Arc::clone(&done));
        tokio::spawn(async move {
            let mut samples = 0;
            while samples < 20 || !done.load(Ordering::SeqCst) {
                let Some(seen) = try_snapshot(&db).await else {
                    assert_eq!(samples, 0, "the active generation vanished");
                    tokio::time::sleep(Duration::from_millis(3)).await;
                    continue;
                };
                assert_eq!(
                    seen.rows,
                    expected_at(&*store, seen.checkpoint).await,
                    "the view disagrees with its checkpoint {}",
                    seen.checkpoint
                );
                samples += 1;
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            samples
        })
    };
    // Killed (aborted mid-batch, not shut down) and restarted over and over
    // while events flow.
    for _ in 0..15 {
        let runner = spawn(&db, &store, 1, &knobs);
        tokio::time::sleep(Duration::from_millis(random_pause_ms())).await;
        runner.kill().await;
    }
    writer.await.expect("writer");
    let head = head(&*store).await;
    knobs.slow(Duration::ZERO);
    let mut runner = spawn(&db, &store, 1, &knobs);
    wait_for(
        &mut runner.status,
        Duration::from_secs(30),
        "caught up",
        |s| s.state == ProjectionState::Live && s.checkpoint >= head,
    )
    .await;
    done.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(30), sampler)
        .await
        .expect("20 samples within 30 s")
        .expect("the view always agreed with its checkpoint");
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    runner.kill().await;
}

/// A pause between 20 and 119 ms (a version 7 UUID ends in random bits).
fn random_pause_ms() -> u64 {
    20 + u64::from(Uuid::now_v7().as_bytes()[15]) % 100
}

async fn two_runners_of_one_projection_never_double_count(db: Db, store: Arc<dyn EventStore>) {
    let knobs = Arc::new(Knobs::default());
    knobs.slow(Duration::from_micros(200));
    let streams: Vec<StreamId> = (0..4).map(|_| counted_stream()).collect();
    let one = spawn(&db, &store, 1, &knobs);
    let two = spawn(&db, &store, 1, &knobs);
    let mut last = Position::START;
    for round in 0..40 {
        last = append(&*store, &streams[round % streams.len()], 3).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut three = spawn(&db, &store, 1, &knobs);
    wait_for(
        &mut three.status,
        Duration::from_secs(30),
        "caught up",
        |s| s.checkpoint >= last,
    )
    .await;
    // Whichever runner applied a batch, each event counts once.
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    for runner in [one, two, three] {
        runner.kill().await;
    }
}

async fn lag_is_reported_while_catching_up_and_drops_to_zero(db: Db, store: Arc<dyn EventStore>) {
    let knobs = Arc::new(Knobs::default());
    knobs.slow(Duration::from_millis(2));
    let stream = counted_stream();
    let last = append(&*store, &stream, 400).await;
    let mut runner = spawn(&db, &store, 1, &knobs);
    let s = wait_for(
        &mut runner.status,
        Duration::from_secs(10),
        "lag reported",
        |s| s.state == ProjectionState::CatchingUp && s.lag_events > 0 && s.lag_seconds > 0.0,
    )
    .await;
    assert!(s.lag_events <= 400, "{s:?}");
    let oldest = s.oldest_pending.expect("the oldest pending event's time");
    assert!(oldest <= chrono::Utc::now(), "{s:?}");
    let s = wait_for(
        &mut runner.status,
        Duration::from_secs(60),
        "caught up",
        |s| s.checkpoint >= last && s.state == ProjectionState::Live,
    )
    .await;
    assert_eq!(
        (s.lag_events, s.lag_seconds, s.oldest_pending),
        (0, 0.0, None)
    );
    runner.kill().await;
}

both_back_ends!(
    folds_events_with_the_checkpoint,
    a_failing_apply_rolls_back_its_batch_and_is_retried_not_skipped,
    aborted_runners_never_double_count,
    two_runners_of_one_projection_never_double_count,
    lag_is_reported_while_catching_up_and_drops_to_zero,
);

/// PostgreSQL stops abruptly (immediate shutdown, every connection cut) for
/// two seconds while events are written and projected: the runner reconnects
/// by itself and every event counts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runner_rides_out_a_postgres_restart() {
    let server = eventstore::testing::TestPgServer::start().await;
    let pg = eventstore::postgres::PgStore::connect(&server.url)
        .await
        .expect("connect to the test's PostgreSQL");
    let db = Db::postgres(&pg);
    let store: Arc<dyn EventStore> = Arc::new(pg);
    let knobs = Arc::new(Knobs::default());
    let streams: Arc<Vec<StreamId>> = Arc::new((0..4).map(|_| counted_stream()).collect());
    let mut runner = spawn(&db, &store, 1, &knobs);
    let writer = {
        let (store, streams) = (Arc::clone(&store), Arc::clone(&streams));
        tokio::spawn(async move {
            let mut last = Position::START;
            for round in 0..60 {
                let stream = &streams[round % streams.len()];
                // The same command id on every attempt: an append that
                // committed unseen is not doubled.
                let mut request = request(stream, &["Counted"]);
                request.metadata.command_id = Some(CommandId::from_uuid(Uuid::now_v7()));
                loop {
                    match store.append(request.clone()).await {
                        Ok(appended) => {
                            last = last.max(appended.position);
                            break;
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    }
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            last
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.crash();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !writer.is_finished(),
        "the restart must fall while events are written"
    );
    server.resume().await;
    let last = writer.await.expect("writer");
    let s = wait_for(
        &mut runner.status,
        Duration::from_secs(60),
        "caught up after the restart",
        |s| s.checkpoint >= last && s.state == ProjectionState::Live,
    )
    .await;
    assert_eq!(s.last_error, None);
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    runner.kill().await;
}

/// While an older append transaction stays open, newer committed events
/// wait behind the horizon: the runner reports them as lag and waits for
/// the commit (with short pauses) instead of re-reading in a tight loop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_waits_without_spinning_behind_an_open_transaction() {
    let (fixture, db, reads, store) = counting_postgres().await;
    let knobs = Arc::new(Knobs::default());
    let (late, early) = (counted_stream(), counted_stream());
    let ready = append(&*store, &early, 1).await;
    let mut runner = spawn(&db, &store, 1, &knobs);
    wait_for(
        &mut runner.status,
        Duration::from_secs(30),
        "caught up",
        |s| s.state == ProjectionState::Live && s.checkpoint >= ready,
    )
    .await;
    let mut open = fixture.store.begin().await.expect("begin");
    open.append(request(&late, &["Counted"]))
        .await
        .expect("append in the open transaction");
    let behind = append(&*store, &early, 3).await;
    wait_for(
        &mut runner.status,
        Duration::from_secs(10),
        "the waiting events reported as lag",
        |s| s.lag_events >= 3,
    )
    .await;
    reads.store(0, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = reads.load(Ordering::SeqCst);
    let s = runner.status.borrow().clone();
    assert!(
        s.checkpoint < behind,
        "the events wait behind the open one: {s:?}"
    );
    assert_eq!(s.state, ProjectionState::CatchingUp);
    assert!(
        during < 100,
        "{during} reads in one second behind an open transaction"
    );
    open.commit().await.expect("commit");
    wait_for(
        &mut runner.status,
        Duration::from_secs(30),
        "caught up after the commit",
        |s| s.state == ProjectionState::Live && s.checkpoint >= behind,
    )
    .await;
    assert_eq!(counts(&db).await, expected(&*store, &[late, early]).await);
    // Queries read the view; the registry is an ordinary table beside it.
    let registry = db
        .query(
            "SELECT count(*) FROM projection_generations WHERE name = $1",
            &[Value::from("stream_counts")],
        )
        .await
        .expect("registry");
    assert_eq!(registry[0][0].as_i64(), Some(1));
    runner.kill().await;
}

/// A projection with a batch window gathers what arrives meanwhile into
/// one batch: events appended one by one, faster than the window, are read
/// and applied in a few batches, not one each, and all of them count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_window_gathers_events_into_fewer_batches() {
    let (_fixture, db, reads, store) = counting_postgres().await;
    let knobs = Arc::new(Knobs::default());
    knobs.window_millis.store(200, Ordering::SeqCst);
    let streams: Vec<StreamId> = (0..3).map(|_| counted_stream()).collect();
    let first = append(&*store, &streams[0], 1).await;
    let mut runner = spawn(&db, &store, 1, &knobs);
    wait_for(
        &mut runner.status,
        Duration::from_secs(30),
        "caught up",
        |s| s.state == ProjectionState::Live && s.checkpoint >= first,
    )
    .await;
    let before = reads.load(Ordering::SeqCst);
    let mut last = first;
    for n in 0..30 {
        last = append(&*store, &streams[n % streams.len()], 1).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_for(
        &mut runner.status,
        Duration::from_secs(30),
        "all applied",
        |s| s.checkpoint >= last,
    )
    .await;
    let read = reads.load(Ordering::SeqCst) - before;
    // 30 events over about 300 ms: a read after each without the window,
    // a few reads with it.
    assert!(read <= 10, "{read} reads for 30 events 10 ms apart");
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    runner.kill().await;
}

/// A fresh PostgreSQL schema, its database, and its store wrapped to count
/// global reads (with the count).
async fn counting_postgres() -> (
    eventstore::testing::TestPostgres,
    Db,
    Arc<AtomicU64>,
    Arc<dyn EventStore>,
) {
    let fixture = eventstore::testing::TestPostgres::new().await;
    let db = Db::postgres(&fixture.store);
    let reads = Arc::new(AtomicU64::new(0));
    let store: Arc<dyn EventStore> = Arc::new(CountingReads {
        inner: fixture.shared(),
        reads: Arc::clone(&reads),
    });
    (fixture, db, reads, store)
}

/// A store that counts global reads.
struct CountingReads {
    inner: Arc<dyn EventStore>,
    reads: Arc<AtomicU64>,
}

#[async_trait]
impl EventStore for CountingReads {
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        self.inner.append(request).await
    }
    async fn append_all(&self, requests: Vec<AppendRequest>) -> Result<Vec<Appended>, StoreError> {
        self.inner.append_all(requests).await
    }
    async fn read_stream(
        &self,
        stream: &StreamId,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(stream, from, direction, limit).await
    }
    async fn read_all(
        &self,
        after: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Batch, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_all(after, limit, filter).await
    }
    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        self.inner.stream_head(stream).await
    }
    async fn stream_heads(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<StreamHead>, StoreError> {
        self.inner.stream_heads(after, limit).await
    }
    async fn read_chains(
        &self,
        after: Option<(&StreamId, u64)>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_chains(after, limit).await
    }
    async fn command_result(&self, command: CommandId) -> Result<Option<Appended>, StoreError> {
        self.inner.command_result(command).await
    }
    async fn counts(&self) -> Result<Counts, StoreError> {
        self.inner.counts().await
    }
    async fn count_after(
        &self,
        after: Position,
        filter: &EventFilter,
        cap: u64,
    ) -> Result<u64, StoreError> {
        self.inner.count_after(after, filter, cap).await
    }
    async fn consumer_checkpoint(&self, name: &str) -> Result<Position, StoreError> {
        self.inner.consumer_checkpoint(name).await
    }
    async fn save_consumer_checkpoint(&self, name: &str, at: Position) -> Result<(), StoreError> {
        self.inner.save_consumer_checkpoint(name, at).await
    }
    fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes()
    }
}
