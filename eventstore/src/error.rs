//! The event store's errors: what a caller can act on, and what it cannot.

use domain::{CommandId, StreamId};

use crate::ExpectedVersion;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream's version was not the one the append expected.
    #[error("stream {stream} was expected at {expected} but is at version {actual}")]
    WrongExpectedVersion {
        /// The stream.
        stream: StreamId,
        /// What the append expected.
        expected: ExpectedVersion,
        /// The stream's version when the append ran.
        actual: u64,
    },
    /// A command id already used for an append to another stream.
    #[error("command {command} was already used to append to stream {first_stream}")]
    CommandIdReused {
        /// The command id.
        command: CommandId,
        /// The stream its first append went to.
        first_stream: StreamId,
    },
    /// The append request itself is malformed (no events, bad payload…).
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    /// A concurrent transaction got in the way; the whole transaction can be retried.
    #[error("a concurrent append to the same stream interfered; retry the transaction")]
    Retry,
    /// The database cannot be reached or went away.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The configuration names no usable database.
    #[error("{0}")]
    Config(String),
    /// The database's schema is newer than this binary understands.
    #[error(
        "the database schema is at version {database}, newer than this binary's {binary}; \
         run a newer agentos (nothing was changed)"
    )]
    SchemaTooNew {
        /// The schema version found in the database.
        database: i64,
        /// The newest schema version this binary knows.
        binary: i64,
    },
    /// A migration already applied differs from the one in this binary.
    #[error("{0}")]
    Migration(String),
    /// A stored row cannot be read back as an event.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether retrying later may succeed (the database was unreachable or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_) | StoreError::Retry)
    }
}

/// SQLSTATE classes that mean "the server went away or refuses connections".
pub(crate) fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code == "53300"
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
            sqlx::Error::Database(db) if db.code().is_some_and(|c| is_unavailable_code(&c)) => {
                StoreError::Unavailable(error.to_string())
            }
            _ => StoreError::Database(error),
        }
    }
}
