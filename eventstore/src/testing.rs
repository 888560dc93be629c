//! Test fixtures: a fresh PostgreSQL schema or SQLite file per test, so tests
//! never see each other's data.
//!
//! PostgreSQL is found at `AGENTOS_TEST_DATABASE_URL` (the test command
//! creates a fresh database per run and sets it), else at
//! `postgres://postgres@127.0.0.1:5432/postgres`.

use std::sync::Arc;

use crate::postgres::{PgConfig, PgStore};
use crate::sqlite::SqliteStore;
use crate::EventStore;

/// The database tests run in.
pub fn database_url() -> String {
    std::env::var("AGENTOS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A store in a schema of its own, dropped with it.
pub struct TestPostgres {
    /// The store.
    pub store: PgStore,
    /// The schema's name.
    pub schema: String,
}

impl TestPostgres {
    /// A store in a fresh schema of the test database.
    ///
    /// Panics with a clear message when PostgreSQL cannot be reached: a test
    /// that needs it must fail, not skip.
    pub async fn new() -> Self {
        let schema = format!("t_{}_{:016x}", std::process::id(), fastrand::u64(..));
        let mut config = PgConfig::new(&database_url());
        config.schema = Some(schema.clone());
        config.max_connections = 40;
        match PgStore::connect_with(config).await {
            Ok(store) => Self { store, schema },
            Err(e) => panic!(
                "PostgreSQL is needed for this test ({e}); run scripts/test, which starts it, \
                 or set AGENTOS_TEST_DATABASE_URL"
            ),
        }
    }

    /// The store as a trait object.
    pub fn shared(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let schema = std::mem::take(&mut self.schema);
        // Drop runs inside the test's runtime; clean up from a thread of our own.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&database_url()).await {
                    let ddl = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    let _ = sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(ddl)).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A store in a temporary SQLite file, deleted with it.
pub struct TestSqlite {
    /// The store.
    pub store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl TestSqlite {
    /// A store in a fresh file.
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(&dir.path().join("events.db"))
            .await
            .expect("open SQLite");
        Self { store, _dir: dir }
    }

    /// The store as a trait object.
    pub fn shared(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }
}
