//! The PostgreSQL back end: the system of record.
//!
//! Appends are one round trip to the `agentos_append` function (migrations
//! 0004 and 0006), inside a caller's [`PgUnitOfWork`] or in their own
//! transaction; single appends of a few events that wait at the same time
//! share one, written by `agentos_append_group` (see [`append_lane`]). The
//! events' canonical bytes are sent in two parts, before and after the
//! payload, which the database joins around the payload it stores; or, for
//! an append made alone to a stream whose head the store knows, the hash
//! chain itself, which the database takes if that head is still the
//! stream's (migration 0008, [`KnownHeads`]).
//!
//! Global reads are gap-safe: they order by (transaction id, sequence) and
//! stop at a horizon below which every transaction that may append to this
//! log has finished (see migration 0004: appenders hold a marker lock, so
//! unrelated open transactions of the cluster hold no reader back), each one
//! round trip to the `agentos_read_all` function (migration 0005). Once the
//! log is followed ([`EventStore::changes`]), one task, the shared tail,
//! makes those reads for every follower of the process and followers near
//! the head read from its window in memory (see [`crate::tail`]). The tail
//! is woken by LISTEN/NOTIFY; the NOTIFY is sent after commit by a
//! coalescing task, never inside the appending transaction (PostgreSQL
//! serialises the commits of notifying transactions).

use std::str::FromStr;
#[cfg(feature = "testing")]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use domain::{CommandId, Hash, Position, RecordedEvent, StreamId};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Executor, PgConnection, Postgres, Row, Transaction};
use tokio::sync::{mpsc, oneshot, watch, Mutex, Notify};
use tokio::task::JoinHandle;

use crate::chain::{canonical_head, canonical_tail, seal};
use crate::error::is_unavailable_code;
use crate::row::{check_request, now_micros, sql_int, RawEvent};
use crate::tail::{self, Tail, TAIL_BATCH};
use crate::{
    migrate, AppendRequest, Appended, Batch, Counts, Direction, EventFilter, EventStore,
    ExpectedVersion, StoreError, StreamHead,
};

/// How many times an append is retried when a concurrent writer got in its way.
const APPEND_ATTEMPTS: usize = 16;

/// Connections that commit single appends, each taking every append waiting
/// when it is free (see [`append_lane`]). Two on two cores: more lanes make
/// smaller groups, each a transaction (`bench append`, 16 writers: four
/// lanes made groups of 2.5–2.8 appends, two of about five; see the README).
const APPEND_LANES: usize = 2;

/// Appends of more events than this are not grouped: their rows cost more
/// than their transaction, and lanes would only queue them.
const GROUPED_EVENTS: usize = 16;

/// Single appends committed together at most.
const MAX_GROUP: usize = 64;

/// A group takes no further append once it holds this many events.
const MAX_GROUP_EVENTS: usize = 256;

/// Streams whose heads a store remembers at most (see [`KnownHeads`]).
const KNOWN_HEADS: usize = 4096;

/// A single append waiting for a lane, and where its answer goes (`None`:
/// a concurrent writer got in the way; try again).
type Queued = (
    Arc<AppendCall>,
    oneshot::Sender<Result<Option<Appended>, StoreError>>,
);

/// How long PostgreSQL lets one of the store's connections sit idle inside
/// an open transaction before it ends the session (and the transaction).
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "30s";

/// Connection settings for [`PgStore::connect_with`].
#[derive(Debug, Clone)]
pub struct PgConfig {
    /// The database URL.
    pub url: String,
    /// The schema holding the event log (created if missing); `None` for the
    /// connection's default search path (normally `public`).
    pub schema: Option<String>,
    /// The pool's size, including the one connection held for LISTEN.
    pub max_connections: u32,
}

impl PgConfig {
    /// Defaults for a URL: the default schema and a pool of 20.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            schema: None,
            max_connections: 20,
        }
    }
}

/// The event store on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    appends: mpsc::Sender<Queued>,
    changes: watch::Sender<u64>,
    committed: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
    horizons: Continuations,
    /// What followers of the log read from memory (see [`crate::tail`]),
    /// and its task, started when the log is first followed.
    tail: Arc<Tail>,
    tail_task: OnceLock<JoinHandle<()>>,
    peers: Arc<Peers>,
    /// Units of several appends the database refused as one statement and
    /// that were then made the slow way.
    #[cfg(feature = "testing")]
    units_made_slowly: AtomicU64,
    /// The heads of the streams this store appended to alone lately.
    known_heads: KnownHeads,
}

/// The heads (version, hash) of streams a store appended to lately, so that
/// it can chain the hashes of its next append to such a stream itself and
/// spare the database that work (migration 0008).
///
/// A head here may be out of date (another process appended since, or a
/// unit of work rolled back): the database uses a chain only when the
/// stream's head is the one it was built from, and otherwise answers
/// 'stale', on which the head is forgotten and the append sent again,
/// unchained. So nothing here is trusted; it only saves work when right.
#[derive(Default)]
struct KnownHeads {
    heads: std::sync::Mutex<std::collections::HashMap<String, (u64, Hash)>>,
    /// Appends the database refused as chained from a stale head.
    #[cfg(feature = "testing")]
    stale: AtomicU64,
}

impl KnownHeads {
    /// The chain of `call`'s events from the head its stream is believed to
    /// have: a known head, or for a new stream the empty one. `None` when no
    /// head is known that the append's expected version admits.
    fn chain(&self, call: &AppendCall) -> Option<Chain> {
        let request = &call.request;
        let known = self
            .heads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(request.stream.as_str())
            .copied();
        let head = match (known, request.expected) {
            (Some(head), _) => head,
            (None, ExpectedVersion::NoStream | ExpectedVersion::Exact(0)) => (0, Hash::ZERO),
            (None, _) => return None,
        };
        if !request.expected.admits(head.0) {
            return None;
        }
        let sealed = seal(
            &request.stream,
            head,
            &request.events,
            &request.metadata,
            call.recorded_at,
        );
        let mut hashes = Vec::with_capacity(sealed.len() + 1);
        hashes.push(head.1 .0.to_vec());
        hashes.extend(sealed.iter().map(|(_, _, hash)| hash.0.to_vec()));
        Some(Chain {
            from: head.0,
            hashes,
        })
    }

    fn learn(&self, stream: &StreamId, head: (u64, Hash)) {
        let mut heads = self
            .heads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if heads.len() >= KNOWN_HEADS && !heads.contains_key(stream.as_str()) {
            // Crude but bounded: the streams written to next are learnt again.
            heads.clear();
        }
        heads.insert(stream.as_str().to_owned(), head);
    }

    fn forget(&self, stream: &StreamId) {
        self.heads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(stream.as_str());
        #[cfg(feature = "testing")]
        self.stale.fetch_add(1, AtomicOrdering::Relaxed);
    }
}

/// An append's hashes, chained by the client: the head's hash, then each
/// event's, from the head at version `from`.
struct Chain {
    from: u64,
    hashes: Vec<Vec<u8>>,
}

/// The horizons of the full batches this store returned lately, by the
/// position a reader continues from.
///
/// A horizon stays safe once proven: every transaction below it that could
/// append to this log had finished when it was computed, and none can start
/// below it later. So a reader that continues after a full batch (catching
/// up, replaying, relaying a backlog) can read below that batch's horizon in
/// one statement, without asking again which appenders are open; only when
/// it reaches that horizon does it need a new one.
#[derive(Default)]
struct Continuations {
    kept: std::sync::Mutex<std::collections::VecDeque<(Position, i64)>>,
}

impl Continuations {
    /// Continuations remembered at most (one per reader catching up).
    const KEPT: usize = 64;

    /// A full batch ended at `next`, read below `horizon`.
    fn remember(&self, next: Position, horizon: i64) {
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() == Self::KEPT {
            kept.pop_front();
        }
        kept.push_back((next, horizon));
    }

    /// The horizon of the full batch that ended at `after`, if remembered
    /// (and forgotten now: a reader's next position is another one).
    fn take(&self, after: Position) -> Option<i64> {
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = kept.iter().position(|(next, _)| *next == after)?;
        kept.remove(at).map(|(_, horizon)| horizon)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
        if let Some(task) = self.tail_task.get() {
            task.abort();
        }
    }
}

/// Whether a schema name is safe to splice into DDL (it cannot be a bind parameter).
fn valid_schema_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 63
}

impl PgStore {
    /// Connects to a URL with the default schema, creating or upgrading it.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgConfig::new(url)).await
    }

    /// Connects with explicit settings, creating or upgrading the schema.
    pub async fn connect_with(config: PgConfig) -> Result<Self, StoreError> {
        let redacted = crate::redact(&config.url);
        let mut options = PgConnectOptions::from_str(&config.url)
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL {redacted}: {e}")))?
            .application_name("agentos")
            // Gap-safe readers wait for every older open transaction: one
            // a client abandoned mid-way must not hold them all up for long.
            .options([(
                "idle_in_transaction_session_timeout",
                IDLE_IN_TRANSACTION_TIMEOUT,
            )]);
        if let Some(schema) = &config.schema {
            if !valid_schema_name(schema) {
                return Err(StoreError::Config(format!(
                    "invalid schema name {schema:?}: use a-z, 0-9 and _, starting with a letter or _"
                )));
            }
            options = options.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to PostgreSQL at {redacted}: {e}"))
            })?;
        if let Some(schema) = &config.schema {
            let ddl = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
            pool.execute(sqlx::AssertSqlSafe(ddl)).await?;
        }
        migrate_postgres(&pool).await?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        Ok(Self::start(pool, format!("agentos_events.{schema}")))
    }

    fn start(pool: PgPool, channel: String) -> Self {
        let (changes, _) = watch::channel(0);
        let committed = Arc::new(Notify::new());
        let peers = Arc::new(Peers::new(channel));
        let (appends, queue) = mpsc::channel(4 * MAX_GROUP);
        let queue = Arc::new(Mutex::new(queue));
        let mut tasks = vec![
            tokio::spawn(listen(pool.clone(), changes.clone(), peers.clone())),
            tokio::spawn(notify_after_commit(
                pool.clone(),
                committed.clone(),
                peers.clone(),
            )),
        ];
        tasks.extend(
            (0..APPEND_LANES).map(|_| tokio::spawn(append_lane(pool.clone(), queue.clone()))),
        );
        Self {
            inner: Arc::new(Inner {
                pool,
                appends,
                changes,
                committed,
                tasks,
                horizons: Continuations::default(),
                tail: Arc::new(Tail::new()),
                peers,
                tail_task: OnceLock::new(),
                #[cfg(feature = "testing")]
                units_made_slowly: AtomicU64::new(0),
                known_heads: KnownHeads::default(),
            }),
        }
    }

    /// How many global reads went to the database rather than to the
    /// shared tail, for tests.
    #[cfg(feature = "testing")]
    pub fn reads_past_tail(&self) -> u64 {
        self.inner.tail.misses()
    }

    /// How many units of several appends were refused as one statement and
    /// made the slow way, for tests.
    #[cfg(feature = "testing")]
    pub fn units_made_slowly(&self) -> u64 {
        self.inner.units_made_slowly.load(AtomicOrdering::Relaxed)
    }

    /// How many appends chained here the database refused as built on a
    /// stale head (and were then sent unchained), for tests.
    #[cfg(feature = "testing")]
    pub fn stale_chains(&self) -> u64 {
        self.inner.known_heads.stale.load(AtomicOrdering::Relaxed)
    }

    /// The connection pool, for callers that keep their own tables beside the log.
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Starts a transaction in which appends and the caller's own writes
    /// commit or roll back together.
    pub async fn begin(&self) -> Result<PgUnitOfWork<'_>, StoreError> {
        let tx = begin_whole(&self.inner.pool, BEGIN_APPENDING).await?;
        Ok(PgUnitOfWork {
            tx,
            store: self,
            appended: false,
        })
    }

    /// One attempt of a single append, committed with the others waiting
    /// at the same time (see [`append_lane`]).
    async fn grouped(&self, call: &Arc<AppendCall>) -> Result<Option<Appended>, StoreError> {
        let (answer, answered) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the store's append lanes have stopped".into());
        self.inner
            .appends
            .send((call.clone(), answer))
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }

    /// Wakes local subscribers and, through NOTIFY, those of other processes.
    fn committed(&self) {
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
        self.inner.committed.notify_one();
    }
}

/// A transaction on the event store's database.
pub struct PgUnitOfWork<'s> {
    tx: Transaction<'static, Postgres>,
    store: &'s PgStore,
    appended: bool,
}

impl PgUnitOfWork<'_> {
    /// Appends inside this transaction. A concurrent writer that got in the
    /// way yields [`StoreError::Retry`]: roll back and run the transaction again.
    pub async fn append(&mut self, request: AppendRequest) -> Result<Appended, StoreError> {
        check_request(&request)?;
        self.run(&AppendCall::new(request)).await
    }

    async fn run(&mut self, call: &AppendCall) -> Result<Appended, StoreError> {
        match call.run(&mut *self.tx, None).await? {
            Some(appended) => {
                self.appended |= !appended.duplicate;
                Ok(appended)
            }
            None => Err(StoreError::Retry),
        }
    }

    /// The transaction's connection, for the caller's own statements.
    pub fn connection(&mut self) -> &mut PgConnection {
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

/// Begins a transaction with `begin` (`BEGIN`, or `BEGIN` and statements
/// without parameters to run first, sent as one simple query: one round
/// trip) on a task of its own, so that a caller cancelled meanwhile cannot
/// leave a connection in the pool inside a transaction.
///
/// sqlx counts a transaction only once PostgreSQL has answered its `BEGIN`;
/// a `begin` future dropped while waiting for that answer rolls nothing back
/// (it has nothing counted to roll back) and hands the connection back with
/// the `BEGIN` done. Every statement later sent on it without a transaction
/// of its own (an append, say) then joins that transaction and is lost when
/// the session ends: an append answered but never committed. On a task of
/// its own the begin always finishes; a transaction nobody takes is dropped
/// there, and sqlx rolls it back before the connection is used again.
pub async fn begin_whole(
    pool: &PgPool,
    begin: &'static str,
) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin_with(begin).await })
        .await
        .unwrap_or_else(|joined| {
            Err(sqlx::Error::Protocol(format!(
                "beginning a transaction: {joined}"
            )))
        })
}

async fn migrate_postgres(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    // One migrator per schema at a time; other schemas are not held up.
    sqlx::query("SELECT pg_advisory_xact_lock(1095189333, hashtext(current_schema()))")
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS agentos_schema (
            version bigint PRIMARY KEY,
            name text NOT NULL,
            checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, checksum FROM agentos_schema ORDER BY version")
            .fetch_all(&mut *tx)
            .await?;
    for migration in migrate::pending(migrate::POSTGRES, &applied)? {
        sqlx::raw_sql(sqlx::AssertSqlSafe(migration.sql))
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                StoreError::Migration(format!("migration {} failed: {e}", migration.version))
            })?;
        sqlx::query("INSERT INTO agentos_schema (version, name, checksum) VALUES ($1, $2, $3)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(migration.checksum())
            .execute(&mut *tx)
            .await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    tx.commit().await?;
    Ok(())
}

/// Who else follows this log, as far as this store knows.
///
/// A NOTIFY is a transaction of its own, and every listener of the channel
/// is woken to read it, its own process's included; a store whose log is
/// followed only by its own process (`serve` with every component) wakes
/// its followers without one. So a store notifies its commits only once it
/// knows that another store follows the log (has called
/// [`EventStore::changes`]). Every store listens and asks `who:<token>`
/// when it starts listening; a store that follows answers `here:<token>`,
/// and says so unasked when it starts following. Commit notifications carry
/// the committing store's token, so a store's own are ignored. A store that
/// hears another's `here` notifies from then on.
struct Peers {
    token: String,
    channel: String,
    /// This store's log is followed ([`EventStore::changes`] was called).
    following: AtomicBool,
    /// Another store follows the log.
    followed: AtomicBool,
}

/// What a notification calls for.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    /// Another store committed: wake the followers.
    Commit,
    /// Another store asks who follows, and this one does.
    Asked,
    /// Nothing to do.
    Nothing,
}

impl Peers {
    fn new(channel: String) -> Self {
        Self {
            token: format!("{:016x}", fastrand::u64(..)),
            channel,
            following: AtomicBool::new(false),
            followed: AtomicBool::new(false),
        }
    }

    fn say(&self, word: &str) -> String {
        format!("{word}:{}", self.token)
    }

    fn heard(&self, payload: &str) -> Heard {
        let (kind, token) = match payload.split_once(':') {
            Some((kind @ ("who" | "here"), token)) => (kind, token),
            _ => ("commit", payload),
        };
        if token == self.token {
            return Heard::Nothing;
        }
        match kind {
            "here" => {
                self.followed.store(true, AtomicOrdering::Relaxed);
                Heard::Nothing
            }
            "who" if self.following.load(AtomicOrdering::Relaxed) => Heard::Asked,
            "who" => Heard::Nothing,
            _ => Heard::Commit,
        }
    }

    /// Asks who follows, and says that this store does if it does: on a
    /// connection that has just begun listening.
    async fn greet_on_listening(&self, listener: &mut PgListener) {
        self.greet(&mut *listener, "who").await;
        if self.following.load(AtomicOrdering::Relaxed) {
            self.greet(&mut *listener, "here").await;
        }
    }

    /// Says `word` (`who` or `here`) with this store's token.
    async fn greet(&self, executor: impl Executor<'_, Database = Postgres>, word: &str) {
        if let Err(error) = notify(executor, &self.channel, &self.say(word)).await {
            tracing::debug!(%error, word, "cannot greet the log's other stores");
        }
    }
}

/// Keeps a LISTEN connection open and turns notifications into change signals.
async fn listen(pool: PgPool, changes: watch::Sender<u64>, peers: Arc<Peers>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(&peers.channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(100);
                peers.greet_on_listening(&mut listener).await;
                // Anything committed while we were not listening must be read.
                changes.send_modify(|n| *n = n.wrapping_add(1));
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => match peers.heard(notification.payload()) {
                            Heard::Commit => changes.send_modify(|n| *n = n.wrapping_add(1)),
                            Heard::Asked => peers.greet(&mut listener, "here").await,
                            Heard::Nothing => {}
                        },
                        Ok(None) => {
                            // The connection dropped and was re-established
                            // (listening again): notifications may be lost,
                            // and stores begun meanwhile have not heard us.
                            changes.send_modify(|n| *n = n.wrapping_add(1));
                            peers.greet_on_listening(&mut listener).await;
                        }
                        Err(error) => {
                            tracing::warn!(%error, "event notifications interrupted");
                            break;
                        }
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot listen for event notifications"),
        }
        changes.send_modify(|n| *n = n.wrapping_add(1));
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn notify(
    executor: impl Executor<'_, Database = Postgres>,
    channel: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(executor)
        .await
        .map(drop)
}

/// Sends one NOTIFY per burst of local commits, once another store follows
/// the log (see [`Peers`]).
async fn notify_after_commit(pool: PgPool, committed: Arc<Notify>, peers: Arc<Peers>) {
    loop {
        committed.notified().await;
        if !peers.followed.load(AtomicOrdering::Relaxed) {
            continue;
        }
        if let Err(error) = notify(&pool, &peers.channel, &peers.token).await {
            tracing::debug!(%error, "cannot send an event notification; tailers fall back to their timeout");
        }
    }
}

/// The arguments of one `agentos_append` call.
struct AppendCall {
    request: AppendRequest,
    event_ids: Vec<uuid::Uuid>,
    schema_versions: Vec<i32>,
    /// The canonical bytes of each event before its payload (made when
    /// first needed: a chained append sends none), and those after every
    /// event's payload: PostgreSQL joins them around the payload.
    heads: OnceLock<Vec<Vec<u8>>>,
    tail: Vec<u8>,
    actor: String,
    recorded_at: chrono::DateTime<chrono::Utc>,
}

impl AppendCall {
    fn new(request: AppendRequest) -> Self {
        let recorded_at = now_micros();
        let events = &request.events;
        Self {
            event_ids: events.iter().map(|e| e.event_id.as_uuid()).collect(),
            schema_versions: events.iter().map(|e| e.schema_version as i32).collect(),
            heads: OnceLock::new(),
            tail: canonical_tail(&request.metadata, recorded_at),
            actor: request.metadata.actor.to_string(),
            recorded_at,
            request,
        }
    }

    fn heads(&self) -> &Vec<Vec<u8>> {
        self.heads.get_or_init(|| {
            let stream = &self.request.stream;
            self.request
                .events
                .iter()
                .map(|e| canonical_head(stream, e))
                .collect()
        })
    }

    fn event_types(&self) -> impl Iterator<Item = &str> {
        self.request.events.iter().map(|e| e.event_type.as_str())
    }

    fn payloads(&self) -> impl Iterator<Item = &str> {
        self.request.events.iter().map(|e| e.payload.as_str())
    }

    /// Runs the call once; `None` means a concurrent writer got in the way.
    /// With `known`, its hashes are chained here when the stream's head is
    /// known, and the head it leaves is learnt (see [`KnownHeads`]).
    async fn run(
        &self,
        executor: impl Executor<'_, Database = Postgres>,
        known: Option<&KnownHeads>,
    ) -> Result<Option<Appended>, StoreError> {
        let metadata = &self.request.metadata;
        let chain = known.and_then(|known| known.chain(self));
        let result = sqlx::query(
            "SELECT out_status, out_stream, out_first_version, out_last_version, out_tx_id, out_last_position,
                    out_head
               FROM agentos_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(self.request.stream.as_str())
        .bind(self.request.stream.category())
        .bind(self.request.expected.as_i64())
        .bind(metadata.command_id.map(|c| c.as_uuid()))
        .bind(&self.event_ids)
        .bind(self.event_types().collect::<Vec<_>>())
        .bind(&self.schema_versions)
        .bind(self.payloads().collect::<Vec<_>>())
        // A chained append needs no canonical heads: on a stale head the
        // database answers 'stale' rather than chaining it.
        .bind(chain.is_none().then(|| self.heads()))
        .bind(&self.tail)
        .bind(metadata.correlation_id.as_uuid())
        .bind(metadata.causation_id)
        .bind(&self.actor)
        .bind(self.recorded_at)
        .bind(chain.as_ref().map(|c| sql_int(c.from)))
        .bind(chain.as_ref().map(|c| &c.hashes))
        .fetch_one(executor)
        .await;
        let row = match result {
            Ok(row) => row,
            Err(error) => return map_append_error(error, &self.request),
        };
        let outcome = self.outcome(&row, 0)?;
        if let Some(known) = known {
            let stream = &self.request.stream;
            match &outcome {
                Some(appended) if !appended.duplicate => {
                    let head: Option<Vec<u8>> = row.try_get("out_head")?;
                    if let Some(hash) = head.as_deref().and_then(Hash::from_slice) {
                        known.learn(stream, (appended.last_version, hash));
                    }
                }
                None if row.try_get::<&str, _>(0)? == "stale" => known.forget(stream),
                _ => {}
            }
        }
        Ok(outcome)
    }

    /// The answer in `agentos_append`'s columns, from column `at` on.
    fn outcome(&self, row: &PgRow, at: usize) -> Result<Option<Appended>, StoreError> {
        let status: String = row.try_get(at)?;
        let version = |i: usize| -> Result<u64, StoreError> {
            let v: Option<i64> = row.try_get(at + i)?;
            Ok(v.map_or(0, |v| v.max(0) as u64))
        };
        let appended = |duplicate: bool| -> Result<Option<Appended>, StoreError> {
            Ok(Some(Appended {
                stream: self.request.stream.clone(),
                first_version: version(2)?,
                last_version: version(3)?,
                position: Position::new(version(4)?, version(5)?),
                duplicate,
            }))
        };
        match status.as_str() {
            "appended" => appended(false),
            "duplicate" => appended(true),
            // Its chain was built on a stale head (see `KnownHeads`), or a
            // transaction with a later id appended to its stream first.
            "retry" | "stale" => Ok(None),
            // In a group, its stream's lock was held elsewhere (see append_lane).
            "busy" => Err(StoreError::Retry),
            "conflict" => Err(StoreError::WrongExpectedVersion {
                stream: self.request.stream.clone(),
                expected: self.request.expected,
                actual: version(3)?,
            }),
            "command_reused" => {
                let first: String = row.try_get(at + 1)?;
                Err(StoreError::CommandIdReused {
                    command: self
                        .request
                        .metadata
                        .command_id
                        .unwrap_or_else(|| CommandId::from_uuid(uuid::Uuid::nil())),
                    first_stream: first
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("commands table: {e}")))?,
                })
            }
            other => Err(StoreError::Corrupt(format!(
                "agentos_append answered {other:?}"
            ))),
        }
    }
}

/// A lane: takes the single appends waiting when it is free and commits
/// them in one call of `agentos_append_group` (migration 0006).
///
/// A transaction per append costs PostgreSQL an id, a commit record and a
/// wait for the write-ahead log's flush, and the client a round trip; with
/// many writers that, not the append, is most of the work. A lane that finds
/// one append waiting sends it at once (a group of one costs PostgreSQL no
/// more than `agentos_append`), so a lone writer waits for nothing;
/// under load the appends that arrive while the lanes are busy share the
/// next commits. The lanes share one queue, and the next free lane takes
/// what waits in it.
///
/// A lane never waits for a stream's lock, even for a lone append: an
/// append to a stream another transaction holds (a unit of work still open,
/// say) is answered [`StoreError::Retry`] at once, and its caller makes it
/// alone, as it does every append of a statement the database refused as a
/// whole. Otherwise
/// one slow transaction would hold up every append queued behind the
/// lanes, and a task that holds a stream in a unit of work while it waits
/// for a group holding that stream would wait forever.
async fn append_lane(pool: PgPool, queue: Arc<Mutex<mpsc::Receiver<Queued>>>) {
    loop {
        let group = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut events = first.0.event_ids.len();
            let mut group = vec![first];
            while group.len() < MAX_GROUP && events < MAX_GROUP_EVENTS {
                match queue.try_recv() {
                    Ok(next) => {
                        events += next.0.event_ids.len();
                        group.push(next);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        let answers = match append_group(&pool, &group).await {
            Ok(answers) => answers,
            // The database refused the statement, and so every append of it
            // (an event id already stored, say): each is made alone by its
            // caller, so that each gets its own answer.
            Err(sqlx::Error::Database(db))
                if !db.code().is_some_and(|c| is_unavailable_code(&c)) =>
            {
                tracing::debug!(error = %db, appends = group.len(), "a lane's appends were refused together; each is made alone");
                group.iter().map(|_| Err(StoreError::Retry)).collect()
            }
            // Whether the appends committed is not known (the connection
            // broke, say): they must not be made again.
            Err(error) => {
                let error = StoreError::from(error).to_string();
                group
                    .iter()
                    .map(|_| Err(StoreError::Unavailable(error.clone())))
                    .collect()
            }
        };
        for ((_, answer), result) in group.into_iter().zip(answers) {
            let _ = answer.send(result);
        }
    }
}

/// Appends a group in one statement, its own transaction; each append's
/// answer in the group's order. An error is the statement's: an answer
/// that cannot be read is that append's error (the group committed).
async fn append_group(
    pool: &PgPool,
    group: &[Queued],
) -> Result<Vec<Result<Option<Appended>, StoreError>>, sqlx::Error> {
    let calls: Vec<&AppendCall> = group.iter().map(|(call, _)| &**call).collect();
    let rows = bind_appends(
        "SELECT out_at, out_status, out_stream, out_first_version, out_last_version, out_tx_id, out_last_position
           FROM agentos_append_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        &calls,
    )
    .fetch_all(pool)
    .await?;
    Ok(answers_by_place(&rows, &calls, "agentos_append_group"))
}

/// The arguments of `agentos_append_group` and `agentos_append_all`
/// (migrations 0006 and 0007): one element per append, and its events'
/// elements concatenated.
fn bind_appends<'q>(
    sql: &'static str,
    calls: &[&'q AppendCall],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    let calls = || calls.iter().copied();
    sqlx::query(sql)
        .bind(
            calls()
                .map(|c| c.request.stream.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            calls()
                .map(|c| c.request.stream.category())
                .collect::<Vec<_>>(),
        )
        .bind(
            calls()
                .map(|c| c.request.expected.as_i64())
                .collect::<Vec<_>>(),
        )
        .bind(
            calls()
                .map(|c| c.request.metadata.command_id.map(|c| c.as_uuid()))
                .collect::<Vec<_>>(),
        )
        .bind(
            calls()
                .map(|c| c.event_ids.len() as i32)
                .collect::<Vec<_>>(),
        )
        .bind(
            calls()
                .flat_map(|c| c.event_ids.iter().copied())
                .collect::<Vec<_>>(),
        )
        .bind(
            calls()
                .flat_map(AppendCall::event_types)
                .collect::<Vec<_>>(),
        )
        .bind(
            calls()
                .flat_map(|c| c.schema_versions.iter().copied())
                .collect::<Vec<_>>(),
        )
        .bind(calls().flat_map(AppendCall::payloads).collect::<Vec<_>>())
        .bind(
            calls()
                .flat_map(|c| c.heads().iter().map(Vec::as_slice))
                .collect::<Vec<_>>(),
        )
        .bind(calls().map(|c| c.tail.as_slice()).collect::<Vec<_>>())
        .bind(
            calls()
                .map(|c| c.request.metadata.correlation_id.as_uuid())
                .collect::<Vec<_>>(),
        )
        .bind(
            calls()
                .map(|c| c.request.metadata.causation_id)
                .collect::<Vec<_>>(),
        )
        .bind(calls().map(|c| c.actor.as_str()).collect::<Vec<_>>())
        .bind(calls().map(|c| c.recorded_at).collect::<Vec<_>>())
}

/// Each call's answer from rows that name their call's place (from 1) in
/// column 0, in the calls' order; a call no row answers is `function`'s fault.
fn answers_by_place(
    rows: &[PgRow],
    calls: &[&AppendCall],
    function: &str,
) -> Vec<Result<Option<Appended>, StoreError>> {
    let mut answers: Vec<Option<Result<Option<Appended>, StoreError>>> =
        (0..calls.len()).map(|_| None).collect();
    for row in rows {
        let at = row.try_get::<i32, _>(0).ok();
        let index = at.and_then(|at| usize::try_from(at).ok()?.checked_sub(1));
        if let Some(i) = index.filter(|&i| i < calls.len()) {
            answers[i] = Some(calls[i].outcome(row, 1));
        }
    }
    answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                Err(StoreError::Corrupt(format!(
                    "{function} left an append unanswered"
                )))
            })
        })
        .collect()
}

/// Appends `calls`, in the order given, all or none, in one statement: its
/// own transaction (migration 0007). `Ok(None)`: one was refused, and
/// nothing was appended; make them the slow way, where each refusal gets
/// its answer.
async fn append_all_at_once(
    pool: &PgPool,
    calls: &[&AppendCall],
) -> Result<Option<Vec<Appended>>, StoreError> {
    let rows = match bind_appends(
        "SELECT out_at, out_status, out_stream, out_first_version, out_last_version, out_tx_id, out_last_position
           FROM agentos_append_all($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        calls,
    )
    .fetch_all(pool)
    .await
    {
        Ok(rows) => rows,
        // Refused as a whole (a conflict, a command id reused, an event id
        // already stored …): nothing was appended.
        Err(sqlx::Error::Database(db)) if !db.code().is_some_and(|c| is_unavailable_code(&c)) => {
            return Ok(None)
        }
        Err(error) => return Err(error.into()),
    };
    // The unit committed: every answer is an append or a duplicate.
    answers_by_place(&rows, calls, "agentos_append_all")
        .into_iter()
        .map(|answer| {
            answer?.ok_or_else(|| {
                StoreError::Corrupt("agentos_append_all committed an append it refused".into())
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Maps constraint violations of an append to what the caller can act on.
fn map_append_error(
    error: sqlx::Error,
    request: &AppendRequest,
) -> Result<Option<Appended>, StoreError> {
    if let sqlx::Error::Database(db) = &error {
        match (db.constraint(), db.code().as_deref()) {
            // The same command id raced on another stream: the next attempt sees it.
            (Some("commands_pkey"), _) => return Ok(None),
            (Some("events_event_id"), _) => {
                return Err(StoreError::InvalidAppend(format!(
                    "an event of this append to {} has an id that is already stored",
                    request.stream
                )))
            }
            (_, Some(code)) if code.starts_with("22") => {
                return Err(StoreError::InvalidAppend(format!(
                    "rejected by the database: {}",
                    db.message()
                )))
            }
            _ => {}
        }
    }
    Err(error.into())
}

macro_rules! event_columns {
    () => {
        "tx_id, position, stream_id, stream_version, event_id, event_type, schema_version, \
         payload::text, correlation_id, causation_id, command_id, actor, recorded_at, prev_hash, hash"
    };
}

/// Reads an event row selected with `event_columns!()` starting at column `at`.
fn raw_event(row: &PgRow, at: usize) -> Result<RawEvent, sqlx::Error> {
    Ok(RawEvent {
        tx_id: row.try_get(at)?,
        position: row.try_get(at + 1)?,
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
        recorded_at: row.try_get(at + 12)?,
        prev_hash: row.try_get(at + 13)?,
        hash: row.try_get(at + 14)?,
    })
}

fn events_from(rows: &[PgRow]) -> Result<Vec<RecordedEvent>, StoreError> {
    rows.iter()
        .map(|row| raw_event(row, 0)?.into_recorded())
        .collect()
}

fn head_from(row: &PgRow) -> Result<StreamHead, StoreError> {
    let stream: String = row.try_get(0)?;
    let version: i64 = row.try_get(1)?;
    let hash: Vec<u8> = row.try_get(2)?;
    Ok(StreamHead {
        stream: stream
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("streams table: {e}")))?,
        version: version.max(0) as u64,
        hash: Hash::from_slice(&hash)
            .ok_or_else(|| StoreError::Corrupt(format!("stream {stream}: bad head hash")))?,
    })
}

fn filter_arg(values: &[String]) -> Option<&[String]> {
    (!values.is_empty()).then_some(values)
}

/// A global read's first five parameters: after (`$1`, `$2`), the limit
/// (`$3`) and the filter (`$4`, `$5`).
fn read_query<'q>(
    sql: &'static str,
    after: Position,
    limit: usize,
    filter: &'q EventFilter,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(sql)
        .bind(sql_int(after.tx))
        .bind(sql_int(after.seq))
        .bind(sql_int(limit as u64))
        .bind(filter_arg(&filter.categories))
        .bind(filter_arg(&filter.event_types))
}

/// Begins a transaction that may append to the schema's log: with the
/// appender marker, the advisory lock every such transaction holds before
/// it is assigned a transaction id (migration 0004), in the same round trip.
const BEGIN_APPENDING: &str =
    "BEGIN; SELECT pg_advisory_xact_lock_shared(1095189334, hashtext(current_schema()))";

/// A gap-safe read of the events after a position (`$1`, `$2`), at most `$3`,
/// that pass the filter (`$4`, `$5`): both of its snapshots, the appenders
/// read between them and the events below the horizon, in one call
/// (migration 0005). Each row holds the horizon (column 0), whether events
/// wait beyond it (1), and an event from column 2 on; with nothing to read,
/// one row with the horizon and no event.
const READ_ALL: &str = "SELECT * FROM agentos_read_all($1, $2, $3, $4, $5)";

/// Events after a position below a horizon proven earlier (`$6`), for a
/// reader that continues a full batch (see [`Continuations`]); parameters
/// and columns as in [`READ_ALL`] (what waits beyond is not asked: a short
/// answer is followed by a read with a new horizon).
const READ_BELOW: &str = concat!(
    "SELECT $6::bigint, false, ",
    event_columns!(),
    " FROM events ",
    "WHERE (tx_id, position) > ($1, $2) AND tx_id < $6 ",
    "AND ($4::text[] IS NULL OR category = ANY($4)) ",
    "AND ($5::text[] IS NULL OR event_type = ANY($5)) ",
    "ORDER BY tx_id, position LIMIT $3"
);

/// Events after a position (`$1`, `$2`) that pass the filter (`$3`, `$4`),
/// counted up to `$5`: in log order, so that the count walks the primary key
/// from the position (unordered, the planner may scan the whole table).
const COUNT_AFTER: &str = concat!(
    "SELECT count(*) FROM (SELECT 1 FROM events WHERE (tx_id, position) > ($1, $2) ",
    "AND ($3::text[] IS NULL OR category = ANY($3)) ",
    "AND ($4::text[] IS NULL OR event_type = ANY($4)) ORDER BY tx_id, position LIMIT $5) s"
);

/// The plain statements of reads that usually find nothing new (a
/// continued read, the lag count), each with the types of its parameters
/// and arguments that find nothing after the head of a log (given its
/// greatest transaction id): for tests that check that no plan of theirs,
/// however generic, reads the whole log. (The rest of a read runs in
/// `agentos_read_all`, whose plans are PL/pgSQL's own.)
#[cfg(feature = "testing")]
pub fn read_statements(head_tx: i64) -> Vec<(&'static str, &'static str, String)> {
    let after = format!("{head_tx}, 0");
    let nothing = "'{none}', NULL";
    vec![
        (
            READ_BELOW,
            "bigint, bigint, bigint, text[], text[], bigint",
            format!("{after}, 500, {nothing}, {}", i64::MAX),
        ),
        (
            COUNT_AFTER,
            "bigint, bigint, text[], text[], bigint",
            format!("{after}, {nothing}, 1000000"),
        ),
    ]
}

/// A gap-safe read of the log itself (see [`EventStore::read_all`]), going
/// on below a horizon `horizons` remembers where it can.
async fn read_log(
    pool: &PgPool,
    horizons: &Continuations,
    after: Position,
    limit: usize,
    filter: &EventFilter,
) -> Result<Batch, StoreError> {
    let mut events = Vec::new();
    let mut from = after;
    if let Some(horizon) = horizons.take(after) {
        let rows = read_query(READ_BELOW, after, limit, filter)
            .bind(horizon)
            .fetch_all(pool)
            .await?;
        for row in &rows {
            events.push(raw_event(row, 2)?.into_recorded()?);
        }
        if let Some(last) = events.last().filter(|_| events.len() >= limit) {
            let next = last.position;
            horizons.remember(next, horizon);
            return Ok(Batch {
                events,
                next,
                beyond_horizon: false,
            });
        }
        // Everything below that horizon is read: the rest lies above it.
        from = after.max(Position::new(horizon.max(0) as u64, 0));
    }
    let limit = limit - events.len();
    if limit == 0 {
        // Asked for nothing: nothing is proven either.
        return Ok(Batch {
            next: from,
            events,
            beyond_horizon: false,
        });
    }
    let rows = read_query(READ_ALL, from, limit, filter)
        .fetch_all(pool)
        .await?;
    let first = rows
        .first()
        .ok_or_else(|| StoreError::Corrupt("agentos_read_all answered no row".into()))?;
    let (horizon, beyond_horizon): (i64, bool) = (first.try_get(0)?, first.try_get(1)?);
    // The one row of a read that found nothing holds no event.
    let rows = if first.try_get::<Option<i64>, _>(2)?.is_some() {
        &rows[..]
    } else {
        &rows[..0]
    };
    let continued = events.len();
    for row in rows {
        events.push(raw_event(row, 2)?.into_recorded()?);
    }
    if events.len() - continued >= limit {
        let next = events.last().map_or(from, |e| e.position);
        horizons.remember(next, horizon);
        return Ok(Batch {
            events,
            next,
            beyond_horizon: false,
        });
    }
    // Short batch: everything below the horizon has been read; what
    // waits beyond it was seen in the same snapshot.
    Ok(Batch {
        events,
        next: from.max(Position::new(horizon.max(0) as u64, 0)),
        beyond_horizon,
    })
}

/// A random pause before attempt `attempt + 1` of an append a concurrent
/// writer got in the way of.
async fn retry_pause(attempt: usize) {
    tokio::time::sleep(Duration::from_micros(fastrand::u64(
        0..200 << attempt.min(6),
    )))
    .await;
}

#[async_trait]
impl EventStore for PgStore {
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        check_request(&request)?;
        let call = Arc::new(AppendCall::new(request));
        let known = Some(&self.inner.known_heads);
        for attempt in 0..APPEND_ATTEMPTS {
            let attempt_once = if call.event_ids.len() > GROUPED_EVENTS {
                call.run(&self.inner.pool, known).await
            } else {
                match self.grouped(&call).await {
                    // Its stream was busy, or the lane's statement was
                    // refused as a whole: it is made alone, waiting.
                    Err(StoreError::Retry) => call.run(&self.inner.pool, known).await,
                    other => other,
                }
            };
            if let Some(appended) = attempt_once? {
                if !appended.duplicate {
                    self.committed();
                }
                return Ok(appended);
            }
            retry_pause(attempt).await;
        }
        Err(StoreError::Retry)
    }

    /// One unit of work, the streams taken in stream-id order, so that two
    /// such transactions never wait for each other in a circle (requests to
    /// one stream keep their order).
    async fn append_all(&self, requests: Vec<AppendRequest>) -> Result<Vec<Appended>, StoreError> {
        if requests.len() < 2 {
            // No transaction of its own for nothing, nor for one append.
            let mut answers = Vec::new();
            for request in requests {
                answers.push(self.append(request).await?);
            }
            return Ok(answers);
        }
        for request in &requests {
            check_request(request)?;
        }
        let calls: Vec<AppendCall> = requests.into_iter().map(AppendCall::new).collect();
        let mut order: Vec<usize> = (0..calls.len()).collect();
        order.sort_by_key(|&i| calls[i].request.stream.as_str());
        // One statement first: a unit refused is then made the slow way.
        let sorted: Vec<&AppendCall> = order.iter().map(|&i| &calls[i]).collect();
        if let Some(appended) = append_all_at_once(&self.inner.pool, &sorted).await? {
            let mut answers: Vec<Option<Appended>> = vec![None; calls.len()];
            for (&i, answer) in order.iter().zip(appended) {
                answers[i] = Some(answer);
            }
            if answers.iter().flatten().any(|a| !a.duplicate) {
                self.committed();
            }
            return Ok(answers.into_iter().flatten().collect());
        }
        #[cfg(feature = "testing")]
        self.inner
            .units_made_slowly
            .fetch_add(1, AtomicOrdering::Relaxed);
        for attempt in 0..APPEND_ATTEMPTS {
            let mut work = self.begin().await?;
            let mut answers: Vec<Option<Appended>> = vec![None; calls.len()];
            let mut outcome = Ok(());
            for &i in &order {
                match work.run(&calls[i]).await {
                    Ok(appended) => answers[i] = Some(appended),
                    Err(error) => {
                        outcome = Err(error);
                        break;
                    }
                }
            }
            match outcome {
                Ok(()) => {
                    work.commit().await?;
                    return Ok(answers.into_iter().flatten().collect());
                }
                Err(StoreError::Retry) => retry_pause(attempt).await,
                Err(error) => return Err(error),
            }
        }
        Err(StoreError::Retry)
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
                " FROM events WHERE stream_id = $1 AND stream_version >= $2 ",
                "ORDER BY stream_version LIMIT $3"
            ),
            Direction::Backward => concat!(
                "SELECT ",
                event_columns!(),
                " FROM events WHERE stream_id = $1 AND stream_version <= $2 ",
                "ORDER BY stream_version DESC LIMIT $3"
            ),
        };
        let rows = sqlx::query(sql)
            .bind(stream.as_str())
            .bind(sql_int(from))
            .bind(sql_int(limit as u64))
            .fetch_all(&self.inner.pool)
            .await?;
        events_from(&rows)
    }

    async fn read_all(
        &self,
        after: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Batch, StoreError> {
        if let Some(batch) = self.inner.tail.answer(after, limit, filter) {
            return Ok(batch);
        }
        let batch = read_log(&self.inner.pool, &self.inner.horizons, after, limit, filter).await?;
        if batch.events.len() < limit {
            // Caught up: the shared tail, if the log is followed, may begin here.
            self.inner.tail.offer_start(&batch);
        }
        Ok(batch)
    }

    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        let row =
            sqlx::query("SELECT stream_id, version, head_hash FROM streams WHERE stream_id = $1")
                .bind(stream.as_str())
                .fetch_optional(&self.inner.pool)
                .await?;
        row.as_ref().map(head_from).transpose()
    }

    async fn stream_heads(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<StreamHead>, StoreError> {
        let rows = sqlx::query(
            "SELECT stream_id, version, head_hash FROM streams WHERE stream_id > $1 ORDER BY stream_id LIMIT $2",
        )
        .bind(after.map_or("", StreamId::as_str))
        .bind(sql_int(limit as u64))
        .fetch_all(&self.inner.pool)
        .await?;
        rows.iter().map(head_from).collect()
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
            " FROM events WHERE (stream_id, stream_version) > ($1, $2) ",
            "ORDER BY stream_id, stream_version LIMIT $3"
        ))
        .bind(stream)
        .bind(sql_int(version))
        .bind(sql_int(limit as u64))
        .fetch_all(&self.inner.pool)
        .await?;
        events_from(&rows)
    }

    async fn command_result(&self, command: CommandId) -> Result<Option<Appended>, StoreError> {
        let row = sqlx::query(
            "SELECT stream_id, first_version, last_version, tx_id, last_position FROM commands WHERE command_id = $1",
        )
        .bind(command.as_uuid())
        .fetch_optional(&self.inner.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stream: String = row.try_get(0)?;
        let int =
            |i: usize| -> Result<u64, StoreError> { Ok(row.try_get::<i64, _>(i)?.max(0) as u64) };
        Ok(Some(Appended {
            stream: stream
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("commands table: {e}")))?,
            first_version: int(1)?,
            last_version: int(2)?,
            position: Position::new(int(3)?, int(4)?),
            duplicate: true,
        }))
    }

    async fn counts(&self) -> Result<Counts, StoreError> {
        let (events, streams): (i64, i64) =
            sqlx::query_as("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM streams)")
                .fetch_one(&self.inner.pool)
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
        let count: i64 = sqlx::query_scalar(COUNT_AFTER)
            .bind(sql_int(after.tx))
            .bind(sql_int(after.seq))
            .bind(filter_arg(&filter.categories))
            .bind(filter_arg(&filter.event_types))
            .bind(sql_int(cap))
            .fetch_one(&self.inner.pool)
            .await?;
        Ok(count.max(0) as u64)
    }

    async fn consumer_checkpoint(&self, name: &str) -> Result<Position, StoreError> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT tx_id, seq FROM consumer_checkpoints WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.inner.pool)
                .await?;
        Ok(row.map_or(Position::START, |(tx, seq)| {
            Position::new(tx.max(0) as u64, seq.max(0) as u64)
        }))
    }

    async fn save_consumer_checkpoint(&self, name: &str, at: Position) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO consumer_checkpoints (name, tx_id, seq) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, seq = excluded.seq, \
             updated_at = now()",
        )
        .bind(name)
        .bind(sql_int(at.tx))
        .bind(sql_int(at.seq))
        .execute(&self.inner.pool)
        .await?;
        Ok(())
    }

    /// Followers of the log are woken when the shared tail has read what
    /// was committed, and read it from there.
    fn changes(&self) -> watch::Receiver<u64> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to run the tail on: followers read the log themselves.
            return self.inner.changes.subscribe();
        };
        self.inner.tail_task.get_or_init(|| {
            // Other stores' commits must now wake this one: say so.
            let peers = Arc::clone(&self.inner.peers);
            peers.following.store(true, AtomicOrdering::Relaxed);
            let pool = self.inner.pool.clone();
            runtime.spawn(async move { peers.greet(&pool, "here").await });
            let (pool, horizons) = (self.inner.pool.clone(), Arc::new(Continuations::default()));
            let read = move |after| {
                let (pool, horizons) = (pool.clone(), Arc::clone(&horizons));
                async move { read_log(&pool, &horizons, after, TAIL_BATCH, &EventFilter::all()).await }
            };
            runtime.spawn(tail::follow(
                Arc::clone(&self.inner.tail),
                self.inner.changes.subscribe(),
                read,
            ))
        });
        self.inner.tail.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::{valid_schema_name, Heard, Peers};
    use std::sync::atomic::Ordering;

    #[test]
    fn a_store_learns_who_follows_and_ignores_its_own_notifications() {
        let peers = Peers::new("agentos_events.public".to_owned());
        let own = peers.token.clone();
        assert_eq!(peers.heard(&own), Heard::Nothing, "its own commit");
        assert_eq!(peers.heard(&format!("here:{own}")), Heard::Nothing);
        assert_eq!(
            peers.heard("who:other"),
            Heard::Nothing,
            "not following yet"
        );
        assert!(!peers.followed.load(Ordering::Relaxed));
        assert_eq!(peers.heard("other"), Heard::Commit);
        assert_eq!(peers.heard(""), Heard::Commit, "a bare NOTIFY wakes too");
        assert!(
            !peers.followed.load(Ordering::Relaxed),
            "a commit says nothing of following"
        );
        assert_eq!(peers.heard("here:other"), Heard::Nothing);
        assert!(peers.followed.load(Ordering::Relaxed));
        peers.following.store(true, Ordering::Relaxed);
        assert_eq!(peers.heard("who:other"), Heard::Asked);
        assert_eq!(peers.heard(&format!("who:{own}")), Heard::Nothing);
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(valid_schema_name("agentos_test_1"));
        assert!(valid_schema_name("_x"));
        for bad in [
            "",
            "1a",
            "A",
            "a-b",
            "a\"; DROP TABLE events; --",
            &"a".repeat(64),
        ] {
            assert!(!valid_schema_name(bad), "{bad:?}");
        }
    }
}
