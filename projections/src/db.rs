//! The read-model database: the event store's own PostgreSQL or SQLite
//! database, behind one small interface so a projection is written once.
//!
//! Statements use `$1, $2, …` placeholders, which both databases accept, and
//! bind [`Value`]s. Table names are substituted by the caller from validated
//! identifiers ([`crate::Tables`]); values are always bound, never spliced.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPool;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Postgres, Row, Sqlite, Transaction};

use crate::ProjectionError;

/// A value bound to, or read from, a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (BIGINT).
    Int(i64),
    /// A double (DOUBLE PRECISION / REAL).
    Real(f64),
    /// Text.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl Value {
    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(v) => Some(v),
            _ => None,
        }
    }
}

/// The database read models live in.
#[derive(Clone, Debug)]
pub enum Db {
    /// PostgreSQL (the event store's pool, so its schema too).
    Postgres(PgPool),
    /// A SQLite file: transactions on its single writer connection; queries
    /// on read-only connections of their own, which read the last commit
    /// while a batch is being written (WAL), instead of waiting for it.
    Sqlite {
        /// The file's writer.
        writer: SqlitePool,
        /// Read-only connections to the same file.
        reader: SqlitePool,
        /// The event store's own file, for what is not derived from the log
        /// (see [`Db::primary`]); `None` when this is that file.
        primary: Option<Arc<Db>>,
    },
}

/// Read-only connections for queries on SQLite.
const SQLITE_READERS: u32 = 4;

/// A transaction on the read-model database.
pub enum Tx {
    /// On PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
    /// On SQLite.
    Sqlite(Transaction<'static, Sqlite>),
}

/// Binds the values in order, whatever the database.
fn bind<'q, DB>(
    mut query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>,
    params: &'q [Value],
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    f64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    Option<String>: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    &'q str: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    for p in params {
        query = match p {
            Value::Null => query.bind(None::<String>),
            Value::Int(v) => query.bind(*v),
            Value::Real(v) => query.bind(*v),
            Value::Text(v) => query.bind(v.as_str()),
        };
    }
    query
}

/// A row's columns as [`Value`]s, whatever their SQL types.
fn row_values<R: Row>(row: &R) -> Result<Vec<Value>, ProjectionError>
where
    usize: sqlx::ColumnIndex<R>,
    Option<i64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<f64>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<i32>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let mut out = Vec::with_capacity(row.len());
    for i in 0..row.len() {
        let value = if let Ok(v) = row.try_get::<Option<i64>, _>(i) {
            v.map_or(Value::Null, Value::Int)
        } else if let Ok(v) = row.try_get::<Option<f64>, _>(i) {
            v.map_or(Value::Null, Value::Real)
        } else if let Ok(v) = row.try_get::<Option<String>, _>(i) {
            v.map_or(Value::Null, Value::Text)
        } else if let Ok(v) = row.try_get::<Option<i32>, _>(i) {
            v.map_or(Value::Null, |v| Value::Int(i64::from(v)))
        } else {
            return Err(ProjectionError::Query(format!(
                "column {i} is neither an integer, a real nor text"
            )));
        };
        out.push(value);
    }
    Ok(out)
}

impl Db {
    /// The read-model database of a PostgreSQL event store.
    pub fn postgres(store: &eventstore::postgres::PgStore) -> Self {
        Db::Postgres(store.pool().clone())
    }

    /// The read-model database of a SQLite event store: a file of its own
    /// beside the store's ([`views_path`]), created if missing.
    ///
    /// SQLite takes one writer at a time per file. In the store's file, every
    /// projection batch held the log's only writer for its whole transaction,
    /// statement after statement, and appends queued behind it. In a file of
    /// their own, read models and appends are written at once. Everything in
    /// it is derived from the log (each projection's rows and checkpoint
    /// commit together), so its commits are not synced one by one
    /// (`synchronous = NORMAL`: a crash can lose the last few, never leave
    /// them half done) and deleting it only makes the projections rebuild.
    /// What is not derived from the log, such as API tokens, stays in the
    /// store's own file ([`Db::primary`]).
    pub async fn sqlite(store: &eventstore::sqlite::SqliteStore) -> Result<Self, ProjectionError> {
        let primary = Db::Sqlite {
            writer: store.writer().clone(),
            reader: store.reader().clone(),
            primary: None,
        };
        let path = views_path(store.writer().connect_options().get_filename());
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-32768");
        // Connected now, so that the file exists (in WAL mode) before the
        // first read-only connection opens it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options.clone())
            .await
            .map_err(|e| {
                ProjectionError::Config(format!(
                    "cannot open the read-model file {}: {e}",
                    path.display()
                ))
            })?;
        let reader = SqlitePoolOptions::new()
            .max_connections(SQLITE_READERS)
            .connect_lazy_with(options.read_only(true));
        Ok(Db::Sqlite {
            writer,
            reader,
            primary: Some(Arc::new(primary)),
        })
    }

    /// The database for state that is not derived from the log (API tokens):
    /// this one on PostgreSQL; on SQLite, the event store's own file, whose
    /// commits are synced, and which a rebuild never discards.
    pub fn primary(&self) -> Db {
        match self {
            Db::Sqlite {
                primary: Some(primary),
                ..
            } => Db::clone(primary),
            other => other.clone(),
        }
    }

    /// Starts a transaction.
    pub async fn begin(&self) -> Result<Tx, ProjectionError> {
        self.begin_with("BEGIN").await
    }

    /// Starts a transaction that writes only what can be derived again from
    /// the event log (a read model's rows and the checkpoint they reach): on
    /// PostgreSQL its commit does not wait for the write-ahead log's flush.
    /// It is visible, and atomic, at once; a crash of the server may lose the
    /// last moment's such commits, rows and checkpoint together, and the
    /// runner applies those events again from the durable checkpoint. The
    /// event log's own commits always wait for the flush.
    pub async fn begin_derived(&self) -> Result<Tx, ProjectionError> {
        self.begin_with("BEGIN; SET LOCAL synchronous_commit = off")
            .await
    }

    /// `begin` is PostgreSQL's; SQLite's writer always takes its lock at
    /// once, and the views file is not synced commit by commit anyway.
    async fn begin_with(&self, begin: &'static str) -> Result<Tx, ProjectionError> {
        Ok(match self {
            Db::Postgres(pool) => {
                Tx::Postgres(eventstore::postgres::begin_whole(pool, begin).await?)
            }
            Db::Sqlite { writer, .. } => Tx::Sqlite(writer.begin_with("BEGIN IMMEDIATE").await?),
        })
    }

    /// Runs a query outside any transaction (on SQLite, on a read-only
    /// connection) and returns its rows.
    pub async fn query(
        &self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, ProjectionError> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Db::Postgres(pool) => bind(sqlx::query(sql), params)
                .fetch_all(pool)
                .await?
                .iter()
                .map(row_values)
                .collect(),
            Db::Sqlite { reader, .. } => bind(sqlx::query(sql), params)
                .fetch_all(reader)
                .await?
                .iter()
                .map(row_values)
                .collect(),
        }
    }

    /// Whether a table or view of this name exists in the current schema.
    pub async fn relation_exists(&self, name: &str) -> Result<bool, ProjectionError> {
        let sql = match self {
            Db::Postgres(_) => {
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relname = $1 AND n.nspname = current_schema()"
            }
            Db::Sqlite { .. } => "SELECT count(*) FROM sqlite_master WHERE name = $1",
        };
        let rows = self.query(sql, &[Value::from(name)]).await?;
        Ok(rows
            .first()
            .and_then(|r| r.first())
            .and_then(Value::as_i64)
            .unwrap_or(0)
            > 0)
    }
}

/// Where the read models of the SQLite store in `store` live: beside it,
/// `-views` added to its name before the extension (`data/agentos.db` →
/// `data/agentos-views.db`).
pub fn views_path(store: &Path) -> PathBuf {
    let stem = store
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match store.extension() {
        Some(ext) => format!("{stem}-views.{}", ext.to_string_lossy()),
        None => format!("{stem}-views"),
    };
    store.with_file_name(name)
}

impl Tx {
    /// Runs a statement; returns the rows it affected.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, ProjectionError> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(match self {
            Tx::Postgres(tx) => bind(sqlx::query(sql), params)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Sqlite(tx) => bind(sqlx::query(sql), params)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Runs a query and returns its rows.
    pub async fn query(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, ProjectionError> {
        let sql = AssertSqlSafe(sql.to_owned());
        match self {
            Tx::Postgres(tx) => bind(sqlx::query(sql), params)
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(row_values)
                .collect(),
            Tx::Sqlite(tx) => bind(sqlx::query(sql), params)
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(row_values)
                .collect(),
        }
    }

    /// Bounds how long the transaction's statements wait for locks held by
    /// others (PostgreSQL's `lock_timeout`; on SQLite the single writer
    /// already waits at most its busy timeout).
    pub(crate) async fn limit_lock_wait(&mut self, wait: Duration) -> Result<(), ProjectionError> {
        if let Tx::Postgres(_) = self {
            let wait = Value::Text(format!("{}ms", wait.as_millis()));
            self.query("SELECT set_config('lock_timeout', $1, true)", &[wait])
                .await?;
        }
        Ok(())
    }

    /// Makes this transaction's `CREATE … IF NOT EXISTS` statements wait for
    /// those of other transactions doing the same (PostgreSQL lets two of them
    /// race and fails one on its catalog's unique index; SQLite's single
    /// writer already serialises them). Call it first.
    pub async fn serialise_ddl(&mut self) -> Result<(), ProjectionError> {
        if let Tx::Postgres(_) = self {
            self.execute(
                "SELECT pg_advisory_xact_lock(1095189335, hashtext(current_schema()))",
                &[],
            )
            .await?;
        }
        Ok(())
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), ProjectionError> {
        match self {
            Tx::Postgres(tx) => tx.commit().await?,
            Tx::Sqlite(tx) => tx.commit().await?,
        }
        Ok(())
    }
}
