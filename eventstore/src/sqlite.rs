//! The SQLite back end: the embedded default, one file in WAL mode.
//!
//! One writer connection takes appends in `BEGIN IMMEDIATE` transactions,
//! so the global order is the row id and no reader can see a gap; readers
//! use a pool of their own. Appends are group-committed: a writer task, on a
//! thread of its own, takes every append waiting when it starts a
//! transaction (one refused by its checks writes nothing and leaves the
//! others; the requests of one `append_all` share a savepoint, and so stand
//! or fall together), and commits them with one sync of the write-ahead log,
//! so throughput grows with concurrency instead of being bound by one
//! `fsync` per append. The hash chain is computed here in
//! Rust, with the same formula the PostgreSQL function uses.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::DateTime;
use domain::{CommandId, Hash, Position, RecordedEvent, StreamId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use tokio::sync::{mpsc, oneshot, watch};

use crate::chain::seal;
use crate::row::{check_request, now_micros, sql_int, RawEvent};
use crate::{
    migrate, AppendRequest, Appended, Batch, Counts, Direction, EventFilter, EventStore,
    StoreError, StreamHead,
};

/// Events per INSERT statement, well under SQLite's bound-parameter limit.
const ROWS_PER_INSERT: usize = 400;

/// Appends committed together at most.
const MAX_GROUP: usize = 256;

/// Appends that stand or fall together, waiting for the writer task, and
/// where their result goes.
type Pending = (
    Vec<AppendRequest>,
    oneshot::Sender<Result<Vec<Appended>, StoreError>>,
);

/// The event store in a SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// The writer task's thread ends when the last clone of the store is dropped:
/// the queue's sender goes with it, and the task returns after its group.
struct Inner {
    writer: SqlitePool,
    reader: SqlitePool,
    changes: watch::Sender<u64>,
    appends: mpsc::Sender<Pending>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store in a file, creating or upgrading its schema.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Config(format!(
                    "cannot create the directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-32768");
        let open_error = |e: sqlx::Error| {
            StoreError::Unavailable(format!("cannot open SQLite file {}: {e}", path.display()))
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(open_error)?;
        migrate_sqlite(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(open_error)?;
        let (changes, _) = watch::channel(0);
        let (appends, queue) = mpsc::channel(4 * MAX_GROUP);
        spawn_group_writer(writer.clone(), queue)?;
        Ok(Self {
            inner: Arc::new(Inner {
                writer,
                reader,
                changes,
                appends,
            }),
        })
    }

    /// The writer pool (one connection), for callers that keep their own tables
    /// beside the log and must write in the same transaction.
    pub fn writer(&self) -> &SqlitePool {
        &self.inner.writer
    }

    /// The read-only pool, for callers that query their own tables beside the log.
    pub fn reader(&self) -> &SqlitePool {
        &self.inner.reader
    }

    /// Starts a write transaction in which appends and the caller's own
    /// writes commit or roll back together.
    pub async fn begin(&self) -> Result<SqliteUnitOfWork<'_>, StoreError> {
        Ok(SqliteUnitOfWork {
            tx: self.inner.writer.begin_with("BEGIN IMMEDIATE").await?,
            store: self,
            appended: false,
        })
    }

    fn committed(&self) {
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// A write transaction on the SQLite store.
pub struct SqliteUnitOfWork<'s> {
    tx: Transaction<'static, Sqlite>,
    store: &'s SqliteStore,
    appended: bool,
}

impl SqliteUnitOfWork<'_> {
    /// Appends inside this transaction.
    pub async fn append(&mut self, request: AppendRequest) -> Result<Appended, StoreError> {
        check_request(&request)?;
        let appended = append_in(&mut self.tx, &request).await?;
        self.appended |= !appended.duplicate;
        Ok(appended)
    }

    /// The transaction's connection, for the caller's own statements.
    pub fn connection(&mut self) -> &mut sqlx::SqliteConnection {
        &mut self.tx
    }

    /// Commits, then wakes subscribers.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        if self.appended {
            self.store.committed();
        }
        Ok(())
    }
}

async fn migrate_sqlite(writer: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS agentos_schema (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, checksum FROM agentos_schema ORDER BY version")
            .fetch_all(&mut *tx)
            .await?;
    for migration in migrate::pending(migrate::SQLITE, &applied)? {
        sqlx::raw_sql(sqlx::AssertSqlSafe(migration.sql))
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StoreError::Migration(format!("migration {} failed: {e}", migration.version))
            })?;
        sqlx::query("INSERT INTO agentos_schema (version, name, checksum) VALUES (?, ?, ?)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(migration.checksum())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Starts the writer task on a thread and runtime of its own.
///
/// A group commit is a chain of statements, each a trip to the connection's
/// worker thread and back, and every append of the process waits for the
/// chain. On the process's shared runtime each return trip waited its turn
/// behind the gateway's requests and the processors' handlers, and under
/// load the writer spent most of its time waiting to be polled (at 200
/// orders/s it was busy 99 % of the time for about 800 appends/s; on a
/// runtime of its own it commits the same appends with time to spare, in
/// smaller, quicker groups).
fn spawn_group_writer(
    writer: SqlitePool,
    queue: mpsc::Receiver<Pending>,
) -> Result<(), StoreError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}")))?;
    std::thread::Builder::new()
        .name("agentos-sqlite-writer".to_owned())
        .spawn(move || runtime.block_on(write_groups(writer, queue)))
        .map_err(|e| StoreError::Unavailable(format!("cannot start the SQLite writer: {e}")))?;
    Ok(())
}

/// The writer task: commits the appends waiting at each turn together.
async fn write_groups(writer: SqlitePool, mut queue: mpsc::Receiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        match commit_group(&writer, &group).await {
            Ok(results) => {
                for ((_, answer), result) in group.into_iter().zip(results) {
                    let _ = answer.send(result);
                }
            }
            // The transaction itself failed (e.g. the disk is full): each
            // append is tried alone, so that each gets its own answer.
            Err(error) => {
                tracing::warn!(%error, appends = group.len(), "a group commit failed; appending one by one");
                for (requests, answer) in group {
                    let _ = answer.send(append_alone(&writer, &requests).await);
                }
            }
        }
    }
}

/// One transaction for a group, in which a refused append (a version
/// conflict, a reused command id) leaves the others: a single one is refused
/// before it writes; the requests of an `append_all` share a savepoint.
async fn commit_group(
    writer: &SqlitePool,
    group: &[Pending],
) -> Result<Vec<Result<Vec<Appended>, StoreError>>, StoreError> {
    if let [(requests, _)] = group {
        return Ok(vec![append_alone(writer, requests).await]);
    }
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(group.len());
    for (requests, _) in group {
        if let [request] = requests.as_slice() {
            // A single append is refused by its checks, which write nothing,
            // or not at all: it needs no savepoint (two statements fewer on
            // the one writer). Should one of its writes fail, the group
            // does, and its appends are made one by one.
            results.push(match check_in(&mut tx, request).await {
                Ok(Checked::Head(head)) => Ok(vec![write_in(&mut tx, request, head).await?]),
                Ok(Checked::Duplicate(first)) => Ok(vec![first]),
                Err(refused) => Err(refused),
            });
            continue;
        }
        sqlx::query("SAVEPOINT append").execute(&mut *tx).await?;
        let result = append_each(&mut tx, requests).await;
        if result.is_err() {
            sqlx::query("ROLLBACK TO append").execute(&mut *tx).await?;
        }
        sqlx::query("RELEASE append").execute(&mut *tx).await?;
        results.push(result);
    }
    tx.commit().await?;
    Ok(results)
}

/// Appends that stand or fall together, in their own transaction.
async fn append_alone(
    writer: &SqlitePool,
    requests: &[AppendRequest],
) -> Result<Vec<Appended>, StoreError> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let appended = append_each(&mut tx, requests).await?;
    if appended.iter().any(|a| !a.duplicate) {
        tx.commit().await?;
    } // else nothing was written; the transaction rolls back on drop
    Ok(appended)
}

/// Each request in turn, inside a write transaction; the first refusal ends it.
async fn append_each(
    tx: &mut Transaction<'static, Sqlite>,
    requests: &[AppendRequest],
) -> Result<Vec<Appended>, StoreError> {
    let mut appended = Vec::with_capacity(requests.len());
    for request in requests {
        appended.push(append_in(tx, request).await?);
    }
    Ok(appended)
}

/// The append itself, inside a write transaction.
async fn append_in(
    tx: &mut Transaction<'static, Sqlite>,
    request: &AppendRequest,
) -> Result<Appended, StoreError> {
    match check_in(tx, request).await? {
        Checked::Duplicate(first) => Ok(first),
        Checked::Head(head) => write_in(tx, request, head).await,
    }
}

/// What an append finds before it writes.
enum Checked {
    /// Its command id appended already, with this result.
    Duplicate(Appended),
    /// The stream's head (version, hash), which admits the append.
    Head((u64, Hash)),
}

/// A command id's first result (stream, first and last version, position),
/// if any, and the stream's head (version, hash), if any.
type CheckRow = (
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<Vec<u8>>,
);

/// An append's checks, which write nothing: its command id, and the
/// stream's head against the expected version, read in one statement.
async fn check_in(
    tx: &mut Transaction<'static, Sqlite>,
    request: &AppendRequest,
) -> Result<Checked, StoreError> {
    let stream = &request.stream;
    let command = request.metadata.command_id;
    let row: CheckRow = sqlx::query_as(
        "SELECT c.stream_id, c.first_version, c.last_version, c.last_position, s.version, s.head_hash \
         FROM (SELECT 1) \
         LEFT JOIN commands c ON c.command_id = ?1 \
         LEFT JOIN streams s ON s.stream_id = ?2",
    )
    .bind(command.map(|c| c.as_uuid()))
    .bind(stream.as_str())
    .fetch_one(&mut **tx)
    .await?;
    let (first_stream, first, last, position, version, hash) = row;
    if let (Some(command), Some(first_stream)) = (command, first_stream) {
        let first = duplicate(
            &first_stream,
            first.unwrap_or(0),
            last.unwrap_or(0),
            position.unwrap_or(0),
        )?;
        if first.stream != *stream {
            return Err(StoreError::CommandIdReused {
                command,
                first_stream: first.stream,
            });
        }
        return Ok(Checked::Duplicate(first));
    }
    let (version, hash) = match (version, hash) {
        (Some(version), Some(hash)) => (
            version.max(0) as u64,
            Hash::from_slice(&hash)
                .ok_or_else(|| StoreError::Corrupt(format!("stream {stream}: bad head hash")))?,
        ),
        _ => (0, Hash::ZERO),
    };
    if !request.expected.admits(version) {
        return Err(StoreError::WrongExpectedVersion {
            stream: stream.clone(),
            expected: request.expected,
            actual: version,
        });
    }
    Ok(Checked::Head((version, hash)))
}

/// An append's writes, after [`check_in`] admitted it. A failure here may
/// leave some of them done: the transaction (or its savepoint) must go.
async fn write_in(
    tx: &mut Transaction<'static, Sqlite>,
    request: &AppendRequest,
    (version, hash): (u64, Hash),
) -> Result<Appended, StoreError> {
    let stream = &request.stream;
    let recorded_at = now_micros();
    let metadata = &request.metadata;
    let sealed = seal(
        stream,
        (version, hash),
        &request.events,
        metadata,
        recorded_at,
    );
    let actor = metadata.actor.to_string();
    let mut last_position = 0;
    let rows: Vec<_> = request.events.iter().zip(&sealed).collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut insert = sqlx::QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (stream_id, category, stream_version, event_id, event_type, schema_version, \
             payload, correlation_id, causation_id, command_id, actor, recorded_at, prev_hash, hash) ",
        );
        insert.push_values(chunk, |mut row, (event, (version, prev, hash))| {
            row.push_bind(stream.as_str())
                .push_bind(stream.category())
                .push_bind(sql_int(*version))
                .push_bind(event.event_id.as_uuid())
                .push_bind(event.event_type.as_str())
                .push_bind(event.schema_version as i64)
                .push_bind(event.payload.as_str())
                .push_bind(metadata.correlation_id.as_uuid())
                .push_bind(metadata.causation_id)
                .push_bind(metadata.command_id.map(|c| c.as_uuid()))
                .push_bind(actor.as_str())
                .push_bind(recorded_at.timestamp_micros())
                .push_bind(prev.0.to_vec())
                .push_bind(hash.0.to_vec());
        });
        let done = insert
            .build()
            .execute(&mut **tx)
            .await
            .map_err(|e| map_insert_error(e, stream))?;
        last_position = done.last_insert_rowid();
    }
    let (last_version, _, last_hash) = *sealed
        .last()
        .expect("check_request ensures at least one event");
    sqlx::query(
        "INSERT INTO streams (stream_id, category, version, head_hash) VALUES (?, ?, ?, ?) \
         ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, head_hash = excluded.head_hash",
    )
    .bind(stream.as_str())
    .bind(stream.category())
    .bind(sql_int(last_version))
    .bind(last_hash.0.to_vec())
    .execute(&mut **tx)
    .await?;
    if let Some(command) = metadata.command_id {
        sqlx::query(
            "INSERT INTO commands (command_id, stream_id, first_version, last_version, last_position) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(command.as_uuid())
        .bind(stream.as_str())
        .bind(sql_int(version + 1))
        .bind(sql_int(last_version))
        .bind(last_position)
        .execute(&mut **tx)
        .await?;
    }
    Ok(Appended {
        stream: stream.clone(),
        first_version: version + 1,
        last_version,
        position: Position::new(0, last_position.max(0) as u64),
        duplicate: false,
    })
}

fn map_insert_error(error: sqlx::Error, stream: &StreamId) -> StoreError {
    if let sqlx::Error::Database(db) = &error {
        if db.message().contains("events.event_id") {
            return StoreError::InvalidAppend(format!(
                "an event of this append to {stream} has an id that is already stored"
            ));
        }
        if db.message().contains("json") {
            return StoreError::InvalidAppend(format!(
                "rejected by the database: {}",
                db.message()
            ));
        }
    }
    error.into()
}

async fn command_result_in(
    executor: impl sqlx::Executor<'_, Database = Sqlite>,
    command: CommandId,
) -> Result<Option<Appended>, StoreError> {
    let row: Option<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT stream_id, first_version, last_version, last_position FROM commands WHERE command_id = ?",
    )
    .bind(command.as_uuid())
    .fetch_optional(executor)
    .await?;
    row.map(|(stream, first, last, position)| duplicate(&stream, first, last, position))
        .transpose()
}

/// The first result of a command id, from its row in `commands`.
fn duplicate(stream: &str, first: i64, last: i64, position: i64) -> Result<Appended, StoreError> {
    Ok(Appended {
        stream: stream
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("commands table: {e}")))?,
        first_version: first.max(0) as u64,
        last_version: last.max(0) as u64,
        position: Position::new(0, position.max(0) as u64),
        duplicate: true,
    })
}

macro_rules! event_columns {
    () => {
        "0, position, stream_id, stream_version, event_id, event_type, schema_version, \
         payload, correlation_id, causation_id, command_id, actor, recorded_at, prev_hash, hash"
    };
}

/// Reads an event row selected with `event_columns!()` starting at column `at`.
fn event_from(row: &SqliteRow, at: usize) -> Result<RecordedEvent, StoreError> {
    let micros: i64 = row.try_get(at + 12)?;
    let position: i64 = row.try_get(at + 1)?;
    RawEvent {
        tx_id: row.try_get(at)?,
        position,
        stream_id: row.try_get(at + 2)?,
        stream_version: row.try_get(at + 3)?,
        event_id: row.try_get(at + 4)?,
        event_type: row.try_get(at + 5)?,
        schema_version: row.try_get(at + 6)?,
        payload: row.try_get(at + 7)?,
        correlation_id: row.try_get(at + 8)?,
        causation_id: row.try_get(at + 9)?,
        command_id: row.try_get(at + 10)?,
        actor: row.try_get(at + 11)?,
        recorded_at: DateTime::from_timestamp_micros(micros).ok_or_else(|| {
            StoreError::Corrupt(format!("event at position {position}: bad time {micros}"))
        })?,
        prev_hash: row.try_get(at + 13)?,
        hash: row.try_get(at + 14)?,
    }
    .into_recorded()
}

fn events_from(rows: &[SqliteRow]) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.iter().map(|row| event_from(row, 0)).collect()
}

fn head_from(row: (String, i64, Vec<u8>)) -> Result<StreamHead, StoreError> {
    let (stream, version, hash) = row;
    Ok(StreamHead {
        hash: Hash::from_slice(&hash)
            .ok_or_else(|| StoreError::Corrupt(format!("stream {stream}: bad head hash")))?,
        stream: stream
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("streams table: {e}")))?,
        version: version.max(0) as u64,
    })
}

/// A filter list as the JSON array `json_each` reads, or NULL for "all".
fn filter_arg(values: &[String]) -> Option<String> {
    (!values.is_empty()).then(|| serde_json::Value::from(values.to_vec()).to_string())
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        let appended = self.append_all(vec![request]).await?;
        appended
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt("the writer answered no append".to_owned()))
    }

    /// One savepoint of the writer's group transaction (SQLite has a single
    /// writer, so no lock order is needed).
    async fn append_all(&self, requests: Vec<AppendRequest>) -> Result<Vec<Appended>, StoreError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        for request in &requests {
            check_request(request)?;
        }
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".to_owned());
        let (answer, result) = oneshot::channel();
        self.inner
            .appends
            .send((requests, answer))
            .await
            .map_err(|_| stopped())?;
        let appended = result.await.map_err(|_| stopped())??;
        if appended.iter().any(|a| !a.duplicate) {
            self.committed();
        }
        Ok(appended)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = match direction {
            Direction::Forward => concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE stream_id = ? AND stream_version >= ? ",
                "ORDER BY stream_version LIMIT ?"
            ),
            Direction::Backward => concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE stream_id = ? AND stream_version <= ? ",
                "ORDER BY stream_version DESC LIMIT ?"
            ),
        };
        let rows = sqlx::query(sql)
            .bind(stream.as_str())
            .bind(sql_int(from))
            .bind(sql_int(limit as u64))
            .fetch_all(&self.inner.reader)
            .await?;
        events_from(&rows)
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Batch, StoreError> {
        if after.tx != 0 {
            return Err(StoreError::Config(format!(
                "checkpoint {after} does not come from a SQLite store (its positions read 0:<n>)"
            )));
        }
        let categories = filter_arg(&filter.categories);
        let types = filter_arg(&filter.event_types);
        // The head comes from the same statement, hence the same snapshot, as the events.
        let rows =
            sqlx::query(concat!(
            "SELECT h.head, e.* FROM (SELECT coalesce(max(position), 0) AS head FROM events) h ",
            "LEFT JOIN (SELECT ", event_columns!(), " FROM events WHERE position > ?1 ",
            "AND (?2 IS NULL OR category IN (SELECT value FROM json_each(?2))) ",
            "AND (?3 IS NULL OR event_type IN (SELECT value FROM json_each(?3))) ",
            "ORDER BY position LIMIT ?4) e ON 1 ORDER BY e.position"
        ))
            .bind(sql_int(after.seq))
            .bind(categories)
            .bind(types)
            .bind(sql_int(limit as u64))
            .fetch_all(&self.inner.reader)
            .await?;
        let head: i64 = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => {
                return Err(StoreError::Corrupt(
                    "the head query returned no row".to_owned(),
                ))
            }
        };
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            if row.try_get::<Option<i64>, _>(2)?.is_some() {
                events.push(event_from(row, 1)?);
            }
        }
        let next = match events.last() {
            Some(last) if events.len() >= limit => last.position,
            // A short batch has scanned up to the head.
            _ => after.max(Position::new(0, head.max(0) as u64)),
        };
        Ok(Batch {
            events,
            next,
            beyond_horizon: false,
        })
    }

    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        let row: Option<(String, i64, Vec<u8>)> =
            sqlx::query_as("SELECT stream_id, version, head_hash FROM streams WHERE stream_id = ?")
                .bind(stream.as_str())
                .fetch_optional(&self.inner.reader)
                .await?;
        row.map(head_from).transpose()
    }

    async fn stream_heads(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<StreamHead>, StoreError> {
        let rows: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
            "SELECT stream_id, version, head_hash FROM streams WHERE stream_id > ? ORDER BY stream_id LIMIT ?",
        )
        .bind(after.map_or("", StreamId::as_str))
        .bind(sql_int(limit as u64))
        .fetch_all(&self.inner.reader)
        .await?;
        rows.into_iter().map(head_from).collect()
    }

    async fn read_chains(
        &self,
        after: Option<(&StreamId, u64)>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let (stream, version) = after.map_or(("", 0), |(s, v)| (s.as_str(), v));
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_columns!(),
            " FROM events WHERE (stream_id, stream_version) > (?, ?) ",
            "ORDER BY stream_id, stream_version LIMIT ?"
        ))
        .bind(stream)
        .bind(sql_int(version))
        .bind(sql_int(limit as u64))
        .fetch_all(&self.inner.reader)
        .await?;
        events_from(&rows)
    }

    async fn command_result(&self, command: CommandId) -> Result<Option<Appended>, StoreError> {
        command_result_in(&self.inner.reader, command).await
    }

    async fn counts(&self) -> Result<Counts, StoreError> {
        let (events, streams): (i64, i64) =
            sqlx::query_as("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM streams)")
                .fetch_one(&self.inner.reader)
                .await?;
        Ok(Counts {
            events: events.max(0) as u64,
            streams: streams.max(0) as u64,
        })
    }

    async fn count_after(
        &self,
        after: Position,
        filter: &EventFilter,
        cap: u64,
    ) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(concat!(
            "SELECT count(*) FROM (SELECT 1 FROM events WHERE position > ?1 ",
            "AND (?2 IS NULL OR category IN (SELECT value FROM json_each(?2))) ",
            "AND (?3 IS NULL OR event_type IN (SELECT value FROM json_each(?3))) LIMIT ?4)"
        ))
        .bind(sql_int(after.seq))
        .bind(filter_arg(&filter.categories))
        .bind(filter_arg(&filter.event_types))
        .bind(sql_int(cap))
        .fetch_one(&self.inner.reader)
        .await?;
        Ok(count.max(0) as u64)
    }

    async fn consumer_checkpoint(&self, name: &str) -> Result<Position, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT tx_id, seq FROM consumer_checkpoints WHERE name = ?1")
                .bind(name)
                .fetch_optional(&self.inner.reader)
                .await?;
        Ok(row.map_or(Position::START, |(tx, seq)| {
            Position::new(tx.max(0) as u64, seq.max(0) as u64)
        }))
    }

    async fn save_consumer_checkpoint(&self, name: &str, at: Position) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consumer_checkpoints (name, tx_id, seq, updated_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, seq = excluded.seq, \
             updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(sql_int(at.tx))
        .bind(sql_int(at.seq))
        .bind(now_micros().timestamp_micros())
        .execute(&self.inner.writer)
        .await?;
        Ok(())
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }
}
