//! The AgentOS event store: an append-only, hash-chained log of every event.
//!
//! One trait, [`EventStore`], with two back ends that pass one conformance
//! suite: [`postgres::PgStore`], the system of record, and
//! [`sqlite::SqliteStore`], the embedded default. [`open`] picks one from a
//! database URL. On top of the trait, [`Subscription`] delivers every event
//! after a checkpoint, first catching up and then live, and [`verify`] walks
//! the hash chains.
//!
//! It is not the message bus (the relay to NATS JetStream builds on
//! [`Subscription`]) and it knows nothing of aggregates: it stores
//! [`NewEvent`]s whose payloads are JSON text and hands back
//! [`RecordedEvent`]s.

// A broken link carries two hashes; it is returned once per damaged stream, never on a hot path.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{CommandId, Hash, Metadata, NewEvent, Position, RecordedEvent, StreamId};
use tokio::sync::watch;

mod backoff;
pub mod bus;
pub mod chain;
mod error;
pub mod migrate;
pub mod postgres;
pub mod relay;
mod row;
pub mod sqlite;
mod subscription;
mod tail;
#[cfg(feature = "testing")]
pub mod testing;
pub mod verify;

pub use backoff::Backoff;
pub use error::StoreError;
pub use subscription::Subscription;

/// What an append expects of its stream's current version (its number of events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must hold exactly this many events (0 is the same as `NoStream`).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream at `actual` satisfies this expectation.
    pub fn admits(self, actual: u64) -> bool {
        match self {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => actual == 0,
            ExpectedVersion::Exact(n) => actual == n,
        }
    }

    /// The wire form used by the back ends: -1 for any, else the exact version.
    fn as_i64(self) -> i64 {
        match self {
            ExpectedVersion::Any => -1,
            ExpectedVersion::NoStream => 0,
            ExpectedVersion::Exact(n) => i64::try_from(n).unwrap_or(i64::MAX),
        }
    }
}

impl std::fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any version"),
            ExpectedVersion::NoStream => f.write_str("no stream"),
            ExpectedVersion::Exact(n) => write!(f, "version {n}"),
        }
    }
}

/// Events to append atomically to one stream.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    /// The stream to append to.
    pub stream: StreamId,
    /// What the stream's version must be.
    pub expected: ExpectedVersion,
    /// The events, in order; at least one.
    pub events: Vec<NewEvent>,
    /// Correlation, causation, command id and actor, shared by all the events.
    /// With a command id, the append is idempotent: the same id again appends
    /// nothing and returns the first result.
    pub metadata: Metadata,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stream appended to.
    pub stream: StreamId,
    /// The version of the first event appended.
    pub first_version: u64,
    /// The version of the last event appended: the stream's version after the append.
    pub last_version: u64,
    /// The global position of the last event appended.
    pub position: Position,
    /// True when the command id had been seen: nothing new was appended and
    /// this is the first append's result.
    pub duplicate: bool,
}

/// Which way to read a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the given version up.
    Forward,
    /// From the given version down.
    Backward,
}

/// Which events a global read returns; empty lists mean "all".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of streams of these categories.
    pub categories: Vec<String>,
    /// Only events of these types.
    pub event_types: Vec<String>,
}

impl EventFilter {
    /// Every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// Events of streams of `categories` and of `event_types` (each list
    /// empty for "all").
    pub fn of(categories: &[&str], event_types: &[&str]) -> Self {
        let owned = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
        Self {
            categories: owned(categories),
            event_types: owned(event_types),
        }
    }

    /// Whether an event passes the filter.
    pub fn admits(&self, event: &RecordedEvent) -> bool {
        (self.categories.is_empty()
            || self
                .categories
                .iter()
                .any(|c| c == event.stream_id.category()))
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
    }
}

/// A page of the global order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Events after the requested checkpoint, in global order.
    pub events: Vec<RecordedEvent>,
    /// The checkpoint to read after next time. It may lie beyond the last
    /// event returned (the reader has proven nothing can commit before it).
    pub next: Position,
    /// True when committed events exist that could not be returned yet
    /// because an older transaction is still open; read again shortly.
    pub beyond_horizon: bool,
}

/// A stream's current version and the hash of its last event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    /// The stream.
    pub stream: StreamId,
    /// Its number of events.
    pub version: u64,
    /// The hash of its last event.
    pub hash: Hash,
}

/// An event log: append to streams, read streams and the global order.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Appends events to one stream atomically, checking the expected version.
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError>;

    /// Appends to several streams in one transaction: every request is
    /// appended (or, its command id seen, answers its first result), or
    /// none is. Each request is checked as [`EventStore::append`] checks
    /// it; the first refusal is the answer. A stream may appear more than
    /// once: its requests apply in order. Answers are in request order.
    async fn append_all(&self, requests: Vec<AppendRequest>) -> Result<Vec<Appended>, StoreError>;

    /// Reads up to `limit` events of a stream, starting at version `from`
    /// (inclusive) and going in `direction`. A missing stream reads as empty.
    async fn read_stream(
        &self,
        stream: &StreamId,
        from: u64,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Reads up to `limit` events after `after` in the global order, never
    /// skipping one that commits later with a lower sequence number.
    async fn read_all(
        &self,
        after: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Result<Batch, StoreError>;

    /// A stream's head, if it exists.
    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError>;

    /// Up to `limit` stream heads ordered by stream id, after `after`.
    async fn stream_heads(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<Vec<StreamHead>, StoreError>;

    /// Up to `limit` events ordered by stream id then version, after the
    /// given (stream, version): the order in which hash chains are verified.
    async fn read_chains(
        &self,
        after: Option<(&StreamId, u64)>,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The result of the append that carried this command id, if any.
    async fn command_result(&self, command: CommandId) -> Result<Option<Appended>, StoreError>;

    /// The number of events and streams in the store.
    async fn counts(&self) -> Result<Counts, StoreError>;

    /// How many events after `after` pass `filter`, counting no further than
    /// `cap`: a consumer's lag, cheap however far behind it is.
    async fn count_after(
        &self,
        after: Position,
        filter: &EventFilter,
        cap: u64,
    ) -> Result<u64, StoreError>;

    /// Where the named consumer of the [in-process bus](bus::store) has got to
    /// ([`Position::START`] for a new one).
    async fn consumer_checkpoint(&self, name: &str) -> Result<Position, StoreError>;

    /// Records where the named consumer has got to.
    async fn save_consumer_checkpoint(&self, name: &str, at: Position) -> Result<(), StoreError>;

    /// A signal that changes after events were committed; subscribers wait on it.
    fn changes(&self) -> watch::Receiver<u64>;
}

/// How much the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Events in all streams.
    pub events: u64,
    /// Streams.
    pub streams: u64,
}

/// Where events are stored, parsed from a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `postgres://…` or `postgresql://…`.
    Postgres(String),
    /// `sqlite://path` or `sqlite:path`.
    Sqlite(String),
}

impl Backend {
    /// Parses a database URL; the message says what is accepted.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            Ok(Backend::Postgres(url.to_owned()))
        } else if let Some(path) = lower
            .strip_prefix("sqlite:")
            .map(|_| &url["sqlite:".len()..])
        {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(StoreError::Config(format!("{url:?} names no SQLite file")));
            }
            Ok(Backend::Sqlite(path.to_owned()))
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL {:?}: use postgres://user@host:port/database or sqlite://path/to/file.db",
                redact(url)
            )))
        }
    }
}

/// Every event committed so far that passes `filter`, in global order: for
/// exports, benchmarks and tests. A reader that follows the log live uses a
/// [`Subscription`].
pub async fn read_to_end(
    store: &dyn EventStore,
    filter: &EventFilter,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events = Vec::new();
    let mut after = Position::START;
    // Events behind an older open transaction: pause (growing) rather than
    // ask again at once, which would only load the server that must finish it.
    let mut horizon_wait = Backoff::new(Duration::from_millis(2), Duration::from_millis(50));
    loop {
        let batch = store.read_all(after, 1000, filter).await?;
        if batch.events.is_empty() {
            if !batch.beyond_horizon {
                return Ok(events);
            }
            horizon_wait.wait().await;
        } else {
            horizon_wait.reset();
        }
        after = batch.next;
        events.extend(batch.events);
    }
}

/// A URL with any password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_once('/').map_or((rest, ""), |(a, t)| (a, t));
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let slash = if rest.contains('/') { "/" } else { "" };
    let masked = if userinfo.contains(':') {
        format!("{user}:***")
    } else {
        user.to_owned()
    };
    format!("{scheme}://{masked}@{host}{slash}{tail}")
}

/// Opens the store a URL names, creating or upgrading its schema.
pub async fn open(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    Ok(match Backend::from_url(url)? {
        Backend::Postgres(url) => Arc::new(postgres::PgStore::connect(&url).await?),
        Backend::Sqlite(path) => {
            Arc::new(sqlite::SqliteStore::open(std::path::Path::new(&path)).await?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_choose_a_backend_or_say_what_is_accepted() {
        assert_eq!(
            Backend::from_url("postgres://postgres@127.0.0.1:5432/agentos").ok(),
            Some(Backend::Postgres(
                "postgres://postgres@127.0.0.1:5432/agentos".to_owned()
            ))
        );
        assert_eq!(
            Backend::from_url("sqlite://data/a.db").ok(),
            Some(Backend::Sqlite("data/a.db".to_owned()))
        );
        assert_eq!(
            Backend::from_url("sqlite:a.db").ok(),
            Some(Backend::Sqlite("a.db".to_owned()))
        );
        assert!(Backend::from_url("sqlite://").is_err());
        let err = Backend::from_url("mysql://root:hunter2@db/x").expect_err("unsupported");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("postgres://u:p@w@h"), "postgres://u:***@h");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }

    #[test]
    fn expected_versions_admit_what_they_say() {
        assert!(ExpectedVersion::Any.admits(7));
        assert!(ExpectedVersion::NoStream.admits(0) && !ExpectedVersion::NoStream.admits(1));
        assert!(ExpectedVersion::Exact(3).admits(3) && !ExpectedVersion::Exact(3).admits(2));
        assert!(ExpectedVersion::Exact(0).admits(0));
    }
}
