//! The projection runner on PostgreSQL and SQLite: the same test bodies on
//! both back ends.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{
    Actor, CorrelationId, EventId, JsonText, Metadata, NewEvent, Position, RecordedEvent, StreamId,
};
use eventstore::testing::{TestPostgres, TestSqlite};
use eventstore::{AppendRequest, EventFilter, EventStore, ExpectedVersion};
use projections::{
    Db, Projection, ProjectionError, ProjectionRunner, ProjectionState, ProjectionStatus,
    RunnerConfig, Tables, Tx, Value,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Events per stream and the type of the last one, by stream. Version 2
/// also sums the stream versions seen, in a column version 1 lacks.
struct StreamCounts {
    version: u32,
    /// A pause per event, to make a rebuild take a while.
    slow: Duration,
}

#[async_trait]
impl Projection for StreamCounts {
    fn name(&self) -> &str {
        "stream_counts"
    }

    fn version(&self) -> u32 {
        self.version
    }

    fn filter(&self) -> EventFilter {
        EventFilter {
            categories: vec!["counted".to_owned()],
            event_types: Vec::new(),
        }
    }

    fn tables(&self) -> Vec<&'static str> {
        vec!["stream_counts"]
    }

    fn schema(&self, tables: &Tables) -> Vec<String> {
        let t = tables.get("stream_counts");
        let extra = if self.version >= 2 {
            ", weight BIGINT NOT NULL"
        } else {
            ""
        };
        vec![format!(
            "CREATE TABLE {t} (stream_id TEXT PRIMARY KEY, events BIGINT NOT NULL, \
             last_type TEXT NOT NULL{extra})"
        )]
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        if !self.slow.is_zero() {
            tokio::time::sleep(self.slow).await;
        }
        let t = tables.get("stream_counts");
        let stream = Value::from(event.stream_id.as_str());
        let kind = Value::from(event.event_type.as_str());
        if self.version >= 2 {
            let version = Value::Int(event.stream_version as i64);
            tx.execute(
                &format!(
                    "INSERT INTO {t} (stream_id, events, last_type, weight) VALUES ($1, 1, $2, $3) \
                     ON CONFLICT (stream_id) DO UPDATE SET events = {t}.events + 1, \
                     last_type = excluded.last_type, weight = {t}.weight + excluded.weight"
                ),
                &[stream, kind, version],
            )
            .await?;
        } else {
            tx.execute(
                &format!(
                    "INSERT INTO {t} (stream_id, events, last_type) VALUES ($1, 1, $2) \
                     ON CONFLICT (stream_id) DO UPDATE SET events = {t}.events + 1, \
                     last_type = excluded.last_type"
                ),
                &[stream, kind],
            )
            .await?;
        }
        Ok(())
    }
}

fn counted_stream() -> StreamId {
    format!("counted-{}", Uuid::now_v7())
        .parse()
        .expect("a valid stream id")
}

async fn append(store: &dyn EventStore, stream: &StreamId, events: usize) -> Position {
    let events = (0..events)
        .map(|i| NewEvent {
            event_id: EventId::from_uuid(Uuid::now_v7()),
            event_type: if i % 2 == 0 { "Counted" } else { "Recounted" }.to_owned(),
            schema_version: 1,
            payload: JsonText::parse("{}".to_owned()).expect("json"),
        })
        .collect();
    store
        .append(AppendRequest {
            stream: stream.clone(),
            expected: ExpectedVersion::Any,
            events,
            metadata: Metadata {
                correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
                causation_id: None,
                command_id: None,
                actor: Actor::System("test".to_owned()),
            },
        })
        .await
        .expect("append")
        .position
}

fn spawn(
    db: &Db,
    store: &Arc<dyn EventStore>,
    version: u32,
    slow: Duration,
) -> (
    JoinHandle<()>,
    watch::Receiver<ProjectionStatus>,
    projections::RebuildHandle,
) {
    let runner = ProjectionRunner::new(
        db.clone(),
        Arc::clone(store),
        Arc::new(StreamCounts { version, slow }),
        RunnerConfig {
            batch: 50,
            max_backoff: Duration::from_millis(200),
            ..RunnerConfig::default()
        },
    );
    let (status, rebuild) = (runner.status(), runner.rebuild_handle());
    (tokio::spawn(runner.run()), status, rebuild)
}

/// Waits until `check` holds for the status (or fails after `within`).
async fn wait_for(
    status: &mut watch::Receiver<ProjectionStatus>,
    within: Duration,
    what: &str,
    check: impl Fn(&ProjectionStatus) -> bool,
) {
    let waited = tokio::time::timeout(within, status.wait_for(|s| check(s)))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(waited, "{what} within {within:?}: {:?}", *status.borrow());
}

/// (stream id, events) rows of the view, sorted.
async fn counts(db: &Db) -> Vec<(String, i64)> {
    let mut rows: Vec<(String, i64)> = db
        .query("SELECT stream_id, events FROM stream_counts", &[])
        .await
        .expect("query the view")
        .into_iter()
        .map(|r| {
            (
                r[0].as_str().expect("text").to_owned(),
                r[1].as_i64().expect("int"),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// What the view must hold: each stream's number of events.
async fn expected(store: &dyn EventStore, streams: &[StreamId]) -> Vec<(String, i64)> {
    let mut rows = Vec::new();
    for stream in streams {
        if let Some(head) = store.stream_head(stream).await.expect("head") {
            rows.push((stream.to_string(), head.version as i64));
        }
    }
    rows.sort();
    rows
}

async fn folds_events_with_the_checkpoint(db: Db, store: Arc<dyn EventStore>) {
    let streams: Vec<StreamId> = (0..5).map(|_| counted_stream()).collect();
    let mut last = Position::START;
    for (i, stream) in streams.iter().enumerate() {
        last = append(&*store, stream, 20 + i).await;
    }
    // Events of other categories are not counted.
    append(
        &*store,
        &"other-0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a"
            .parse()
            .expect("id"),
        3,
    )
    .await;
    let (task, mut status, _) = spawn(&db, &store, 1, Duration::ZERO);
    wait_for(&mut status, Duration::from_secs(30), "caught up", |s| {
        s.state == ProjectionState::Live && s.checkpoint >= last
    })
    .await;
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    let s = status.borrow().clone();
    assert_eq!((s.lag_events, s.lag_seconds), (0, 0.0), "{s:?}");
    assert_eq!(s.applied, (20..25).sum::<u64>());
    // The stored checkpoint is the one reported.
    let stored = db
        .query(
            "SELECT checkpoint_tx, checkpoint_seq FROM projection_generations \
             WHERE name = 'stream_counts' AND state = 'active'",
            &[],
        )
        .await
        .expect("registry");
    let stored = Position::new(
        stored[0][0].as_i64().expect("tx") as u64,
        stored[0][1].as_i64().expect("seq") as u64,
    );
    assert_eq!(stored, s.checkpoint);
    // Live: a new event shows up.
    let more = append(&*store, &streams[0], 1).await;
    wait_for(&mut status, Duration::from_secs(10), "the new event", |s| {
        s.checkpoint >= more
    })
    .await;
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    task.abort();
}

async fn aborted_runners_never_double_count(db: Db, store: Arc<dyn EventStore>) {
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
    // Killed (aborted, not shut down) and restarted over and over while events flow.
    for _ in 0..15 {
        let (task, _, _) = spawn(&db, &store, 1, Duration::from_micros(300));
        tokio::time::sleep(Duration::from_millis(fastrand_ms())).await;
        task.abort();
        let _ = task.await;
    }
    writer.await.expect("writer");
    let head = eventstore::read_to_end(&*store, &EventFilter::all())
        .await
        .expect("read")
        .last()
        .map(|e| e.position)
        .expect("events");
    let (task, mut status, _) = spawn(&db, &store, 1, Duration::ZERO);
    wait_for(&mut status, Duration::from_secs(30), "caught up", |s| {
        s.state == ProjectionState::Live && s.checkpoint >= head
    })
    .await;
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    task.abort();
}

async fn two_runners_of_one_projection_never_double_count(db: Db, store: Arc<dyn EventStore>) {
    let streams: Vec<StreamId> = (0..4).map(|_| counted_stream()).collect();
    let (one, _, _) = spawn(&db, &store, 1, Duration::from_micros(200));
    let (two, _, _) = spawn(&db, &store, 1, Duration::from_micros(200));
    let mut last = Position::START;
    for round in 0..40 {
        last = append(&*store, &streams[round % streams.len()], 3).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (three, mut fresh, _) = spawn(&db, &store, 1, Duration::ZERO);
    wait_for(&mut fresh, Duration::from_secs(30), "caught up", |s| {
        s.checkpoint >= last
    })
    .await;
    // Whichever runner applied a batch, each event counts once.
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    for task in [one, two, three] {
        task.abort();
    }
}

/// A pause between 20 and 120 ms.
fn fastrand_ms() -> u64 {
    20 + u64::from(Uuid::now_v7().as_bytes()[15]) % 100
}

async fn a_rebuild_serves_the_old_generation_until_it_switches(db: Db, store: Arc<dyn EventStore>) {
    let streams: Vec<StreamId> = (0..4).map(|_| counted_stream()).collect();
    let mut last = Position::START;
    for stream in &streams {
        last = append(&*store, stream, 60).await;
    }
    let (v1, mut status, _) = spawn(&db, &store, 1, Duration::ZERO);
    wait_for(&mut status, Duration::from_secs(30), "v1 caught up", |s| {
        s.checkpoint >= last && s.state == ProjectionState::Live
    })
    .await;
    v1.abort();
    let _ = v1.await;
    let before = counts(&db).await;

    // Version 2 starts: it rebuilds slowly (240 events × 5 ms) while
    // generation 1 keeps serving, and follows new events too.
    let (v2, mut status, _) = spawn(&db, &store, 2, Duration::from_millis(5));
    wait_for(
        &mut status,
        Duration::from_secs(10),
        "the rebuild starts",
        |s| s.rebuilding == Some(2),
    )
    .await;
    let extra = append(&*store, &streams[1], 2).await;
    let mut served_old = 0;
    while status.borrow().active_generation != 2 {
        let rows = counts(&db).await;
        // Generation 1 serves, whole; it also follows the new events.
        assert!(
            rows == before || rows == expected(&*store, &streams).await,
            "the old generation served {rows:?}"
        );
        served_old += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        served_old > 3,
        "the old generation served during the rebuild"
    );
    wait_for(
        &mut status,
        Duration::from_secs(60),
        "switched to generation 2",
        |s| s.active_generation == 2 && s.rebuilding.is_none() && s.checkpoint >= extra,
    )
    .await;
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    // The new shape is served: version 2's column.
    let weights = db
        .query("SELECT CAST(sum(weight) AS BIGINT) FROM stream_counts", &[])
        .await
        .expect("version 2's column");
    let want: i64 = (1..=60).sum::<i64>() * 4 + 61 + 62;
    assert_eq!(weights[0][0].as_i64(), Some(want));
    assert!(
        !db.relation_exists("stream_counts__g1")
            .await
            .expect("catalog"),
        "the old generation's table is dropped"
    );
    v2.abort();
}

async fn a_rebuild_on_request_gives_the_same_answer(db: Db, store: Arc<dyn EventStore>) {
    let streams: Vec<StreamId> = (0..3).map(|_| counted_stream()).collect();
    let mut last = Position::START;
    for stream in &streams {
        last = append(&*store, stream, 30).await;
    }
    let (task, mut status, rebuild) = spawn(&db, &store, 1, Duration::ZERO);
    wait_for(&mut status, Duration::from_secs(30), "caught up", |s| {
        s.checkpoint >= last && s.state == ProjectionState::Live
    })
    .await;
    let before = counts(&db).await;
    rebuild.request();
    wait_for(&mut status, Duration::from_secs(30), "rebuilt", |s| {
        s.active_generation == 2 && s.rebuilding.is_none()
    })
    .await;
    assert_eq!(counts(&db).await, before);
    assert!(!db
        .relation_exists("stream_counts__g1")
        .await
        .expect("catalog"));
    task.abort();
}

async fn lag_is_reported_while_catching_up(db: Db, store: Arc<dyn EventStore>) {
    let stream = counted_stream();
    let last = append(&*store, &stream, 400).await;
    let (task, mut status, _) = spawn(&db, &store, 1, Duration::from_millis(2));
    wait_for(&mut status, Duration::from_secs(10), "lag reported", |s| {
        s.state == ProjectionState::CatchingUp && s.lag_events > 0
    })
    .await;
    wait_for(&mut status, Duration::from_secs(60), "caught up", |s| {
        s.checkpoint >= last && s.state == ProjectionState::Live
    })
    .await;
    assert_eq!(status.borrow().lag_events, 0);
    task.abort();
}

macro_rules! both_back_ends {
    ($($name:ident),*) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = super::TestPostgres::new().await;
                    let db = super::Db::postgres(&fixture.store);
                    super::$name(db, fixture.shared()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = super::TestSqlite::new().await;
                    let db = super::Db::sqlite(&fixture.store);
                    super::$name(db, fixture.shared()).await;
                }
            )*
        }
    };
}

both_back_ends!(
    folds_events_with_the_checkpoint,
    aborted_runners_never_double_count,
    two_runners_of_one_projection_never_double_count,
    a_rebuild_serves_the_old_generation_until_it_switches,
    a_rebuild_on_request_gives_the_same_answer,
    lag_is_reported_while_catching_up
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
    let streams: Arc<Vec<StreamId>> = Arc::new((0..4).map(|_| counted_stream()).collect());
    let (task, mut status, _) = spawn(&db, &store, 1, Duration::ZERO);
    let writer = {
        let (store, streams) = (Arc::clone(&store), Arc::clone(&streams));
        tokio::spawn(async move {
            let mut last = Position::START;
            for round in 0..60 {
                let stream = &streams[round % streams.len()];
                // The same command id on every attempt: an append that
                // committed unseen is not doubled.
                let command = domain::CommandId::from_uuid(Uuid::now_v7());
                loop {
                    let request = AppendRequest {
                        stream: stream.clone(),
                        expected: ExpectedVersion::Any,
                        events: vec![NewEvent {
                            event_id: EventId::from_uuid(Uuid::now_v7()),
                            event_type: "Counted".to_owned(),
                            schema_version: 1,
                            payload: JsonText::parse("{}".to_owned()).expect("json"),
                        }],
                        metadata: Metadata {
                            correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
                            causation_id: None,
                            command_id: Some(command),
                            actor: Actor::System("test".to_owned()),
                        },
                    };
                    match store.append(request).await {
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
    wait_for(
        &mut status,
        Duration::from_secs(60),
        "caught up after the restart",
        |s| s.checkpoint >= last && s.state == ProjectionState::Live,
    )
    .await;
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    task.abort();
}
