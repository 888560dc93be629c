//! What the projection tests share: a sample projection, appends, waits,
//! and the contents the views must hold, computed from the store itself.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{
    Actor, CorrelationId, EventId, JsonText, Metadata, NewEvent, Position, RecordedEvent, StreamId,
};
use eventstore::{AppendRequest, EventFilter, EventStore, ExpectedVersion};
use projections::{
    Db, Projection, ProjectionError, ProjectionRunner, ProjectionStatus, RebuildHandle,
    RunnerConfig, Tables, Tx, Value,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// What a test can change in a running [`StreamCounts`].
#[derive(Default)]
pub struct Knobs {
    /// A pause per event, in microseconds, to make catching up take a while.
    pub slow_micros: AtomicU64,
    /// While set, events of type `Poison` fail to apply.
    pub poisoned: AtomicBool,
    /// The projection's batch window, in milliseconds.
    pub window_millis: AtomicU64,
}

impl Knobs {
    /// Sets the pause per event.
    pub fn slow(&self, pause: Duration) {
        self.slow_micros
            .store(pause.as_micros() as u64, Ordering::SeqCst);
    }
}

/// Events per stream and the type of the last one, by stream, for streams
/// of the category `counted`. Version 2 also sums the stream versions seen,
/// in a column version 1 lacks.
pub struct StreamCounts {
    pub version: u32,
    pub knobs: Arc<Knobs>,
}

#[async_trait]
impl Projection for StreamCounts {
    fn name(&self) -> &str {
        "stream_counts"
    }

    fn version(&self) -> u32 {
        self.version
    }

    fn batch_window(&self) -> Duration {
        Duration::from_millis(self.knobs.window_millis.load(Ordering::SeqCst))
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

    fn schema(&self, tables: &Tables) -> Result<Vec<String>, ProjectionError> {
        let t = tables.get("stream_counts")?;
        let extra = if self.version >= 2 {
            ", weight BIGINT NOT NULL"
        } else {
            ""
        };
        Ok(vec![format!(
            "CREATE TABLE {t} (stream_id TEXT PRIMARY KEY, events BIGINT NOT NULL, \
             last_type TEXT NOT NULL{extra})"
        )])
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let slow = self.knobs.slow_micros.load(Ordering::SeqCst);
        if slow > 0 {
            tokio::time::sleep(Duration::from_micros(slow)).await;
        }
        if event.event_type == "Poison" && self.knobs.poisoned.load(Ordering::SeqCst) {
            return Err(ProjectionError::Apply("poisoned event".to_owned()));
        }
        let t = tables.get("stream_counts")?;
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

/// A fresh stream of the counted category.
pub fn counted_stream() -> StreamId {
    format!("counted-{}", Uuid::now_v7())
        .parse()
        .expect("a valid stream id")
}

/// Appends `events` events (alternately `Counted` and `Recounted`) in one
/// transaction; the position of the last one.
pub async fn append(store: &dyn EventStore, stream: &StreamId, events: usize) -> Position {
    let types: Vec<&str> = (0..events)
        .map(|i| if i % 2 == 0 { "Counted" } else { "Recounted" })
        .collect();
    append_types(store, stream, &types).await
}

/// Appends events of these types in one transaction; the position of the last one.
pub async fn append_types(store: &dyn EventStore, stream: &StreamId, types: &[&str]) -> Position {
    store
        .append(request(stream, types))
        .await
        .expect("append")
        .position
}

/// An append of events of these types to `stream`.
pub fn request(stream: &StreamId, types: &[&str]) -> AppendRequest {
    AppendRequest {
        stream: stream.clone(),
        expected: ExpectedVersion::Any,
        events: types
            .iter()
            .map(|t| NewEvent {
                event_id: EventId::from_uuid(Uuid::now_v7()),
                event_type: (*t).to_owned(),
                schema_version: 1,
                payload: JsonText::parse("{}".to_owned()).expect("json"),
            })
            .collect(),
        metadata: Metadata {
            correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
            causation_id: None,
            command_id: None,
            actor: Actor::System("test".to_owned()),
        },
    }
}

/// A running runner: its task, its status and its rebuild handle.
pub struct Running {
    pub task: JoinHandle<()>,
    pub status: watch::Receiver<ProjectionStatus>,
    pub rebuild: RebuildHandle,
}

impl Running {
    /// Stops the runner (aborted, as a crash would) and waits until it has stopped.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// Starts a runner of [`StreamCounts`] at `version`, in batches of 50.
pub fn spawn(db: &Db, store: &Arc<dyn EventStore>, version: u32, knobs: &Arc<Knobs>) -> Running {
    let runner = ProjectionRunner::new(
        db.clone(),
        Arc::clone(store),
        Arc::new(StreamCounts {
            version,
            knobs: Arc::clone(knobs),
        }),
        RunnerConfig {
            batch: 50,
            max_backoff: Duration::from_millis(200),
            idle_recheck: Duration::from_millis(500),
        },
    );
    let (status, rebuild) = (runner.status(), runner.rebuild_handle());
    Running {
        task: tokio::spawn(runner.run()),
        status,
        rebuild,
    }
}

/// Waits until `check` holds for the status, or fails after `within`.
pub async fn wait_for(
    status: &mut watch::Receiver<ProjectionStatus>,
    within: Duration,
    what: &str,
    check: impl Fn(&ProjectionStatus) -> bool,
) -> ProjectionStatus {
    let waited = tokio::time::timeout(within, status.wait_for(|s| check(s)))
        .await
        .is_ok_and(|r| r.is_ok());
    assert!(waited, "{what} within {within:?}: {:?}", *status.borrow());
    status.borrow().clone()
}

/// (stream id, events) rows, sorted.
pub type Rows = Vec<(String, i64)>;

/// The rows queries see: the view's.
pub async fn counts(db: &Db) -> Rows {
    let mut rows: Rows = db
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

/// What queries see and the registry says, read by ONE statement (one
/// snapshot): the active generation, its checkpoint and the view's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub generation: i64,
    pub checkpoint: Position,
    pub rows: Rows,
}

/// Reads a [`Snapshot`].
pub async fn snapshot(db: &Db) -> Snapshot {
    try_snapshot(db).await.expect("an active generation")
}

/// Reads a [`Snapshot`], if a generation has been switched in yet.
pub async fn try_snapshot(db: &Db) -> Option<Snapshot> {
    if !db.relation_exists("stream_counts").await.expect("catalog") {
        return None;
    }
    let result = db
        .query(
            "SELECT g.generation, g.checkpoint_tx, g.checkpoint_seq, c.stream_id, c.events \
             FROM projection_generations g LEFT JOIN stream_counts c ON 1 = 1 \
             WHERE g.name = 'stream_counts' AND g.state = 'active'",
            &[],
        )
        .await
        .expect("read the registry and the view");
    let first = result.first()?;
    let int = |v: &Value| v.as_i64().expect("an integer");
    let mut rows: Rows = result
        .iter()
        .filter_map(|r| Some((r[3].as_str()?.to_owned(), int(&r[4]))))
        .collect();
    rows.sort();
    Some(Snapshot {
        generation: int(&first[0]),
        checkpoint: Position::new(int(&first[1]) as u64, int(&first[2]) as u64),
        rows,
    })
}

/// The rows the view must hold once every event of these streams is applied.
pub async fn expected(store: &dyn EventStore, streams: &[StreamId]) -> Rows {
    let mut rows = Vec::new();
    for stream in streams {
        if let Some(head) = store.stream_head(stream).await.expect("head") {
            rows.push((stream.to_string(), head.version as i64));
        }
    }
    rows.sort();
    rows
}

/// The rows the view must hold when exactly the counted events up to
/// `checkpoint` are applied.
pub async fn expected_at(store: &dyn EventStore, checkpoint: Position) -> Rows {
    let filter = EventFilter {
        categories: vec!["counted".to_owned()],
        event_types: Vec::new(),
    };
    let mut by_stream: BTreeMap<String, i64> = BTreeMap::new();
    for event in eventstore::read_to_end(store, &filter)
        .await
        .expect("read the log")
    {
        if event.position <= checkpoint {
            *by_stream.entry(event.stream_id.to_string()).or_default() += 1;
        }
    }
    by_stream.into_iter().collect()
}

/// The position of the last event in the store.
pub async fn head(store: &dyn EventStore) -> Position {
    eventstore::read_to_end(store, &EventFilter::all())
        .await
        .expect("read")
        .last()
        .map(|e| e.position)
        .expect("events")
}

/// Runs each named test body on PostgreSQL (a fresh schema) and on SQLite
/// (a fresh file).
#[macro_export]
macro_rules! both_back_ends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = eventstore::testing::TestPostgres::new().await;
                    let db = projections::Db::postgres(&fixture.store);
                    super::$name(db, fixture.shared()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let fixture = eventstore::testing::TestSqlite::new().await;
                    let db = projections::Db::sqlite(&fixture.store).await.expect("read models");
                    super::$name(db, fixture.shared()).await;
                }
            )*
        }
    };
}
