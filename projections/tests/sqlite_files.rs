//! On SQLite the read models live in a file of their own beside the event
//! store's: a projection's transaction never holds the log's single writer,
//! and what is not derived from the log stays in the store's file.

mod support;

use std::path::Path;
use std::time::Duration;

use eventstore::sqlite::SqliteStore;
use projections::{views_path, Db, Value};
use support::*;

#[test]
fn the_views_file_is_named_after_the_store_file() {
    assert_eq!(
        views_path(Path::new("data/agentos.db")),
        Path::new("data/agentos-views.db")
    );
    assert_eq!(
        views_path(Path::new("/var/lib/agentos/events")),
        Path::new("/var/lib/agentos/events-views")
    );
    assert_eq!(
        views_path(Path::new("a.b.sqlite")),
        Path::new("a.b-views.sqlite")
    );
}

/// Whether `table` exists in the SQLite file at `path`.
async fn has_table(path: &Path, table: &str) -> bool {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE name = ?")
        .bind(table)
        .fetch_one(&mut conn)
        .await
        .expect("query");
    n > 0
}

/// A transaction that has created `table` and written one row to it
/// (`v` = "s"), not committed yet.
async fn begin_with_a_row(db: &Db, table: &str) -> projections::Tx {
    let mut tx = db.begin().await.expect("begin");
    tx.execute(&format!("CREATE TABLE {table} (v TEXT)"), &[])
        .await
        .expect("create");
    tx.execute(
        &format!("INSERT INTO {table} (v) VALUES ($1)"),
        &[Value::from("s")],
    )
    .await
    .expect("insert");
    tx
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_read_model_transaction_does_not_hold_appends() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).await.expect("store");
    let db = Db::sqlite(&store).await.expect("read models");
    assert!(views_path(&path).exists(), "the views file is created");

    // A read-model transaction that has written and not committed yet.
    let tx = begin_with_a_row(&db, "held").await;

    // The log takes appends meanwhile (in the store's file, the append
    // waited for the writer for up to 30 s, then failed).
    let stream = counted_stream();
    let appended = tokio::time::timeout(Duration::from_secs(5), append(&store, &stream, 3)).await;
    assert!(
        appended.is_ok(),
        "an append waited for a read model's transaction"
    );
    tx.commit().await.expect("commit");

    // Read models and the log are in different files.
    assert!(has_table(&views_path(&path), "held").await);
    assert!(!has_table(&path, "held").await);
    assert!(has_table(&path, "events").await);
    assert!(!has_table(&views_path(&path), "events").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_derived_from_the_log_stays_in_the_store_file() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("events.db");
    let store = SqliteStore::open(&path).await.expect("store");
    let db = Db::sqlite(&store).await.expect("read models");

    begin_with_a_row(&db.primary(), "kept")
        .await
        .commit()
        .await
        .expect("commit");

    assert!(has_table(&path, "kept").await);
    assert!(!has_table(&views_path(&path), "kept").await);
    // Its queries read the store's file too, and deleting the views file
    // loses nothing of it.
    drop(db);
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let mut file = views_path(&path).into_os_string();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
    let store = SqliteStore::open(&path).await.expect("store again");
    let db = Db::sqlite(&store).await.expect("read models again");
    let rows = db
        .primary()
        .query("SELECT v FROM kept", &[])
        .await
        .expect("query");
    assert_eq!(rows, vec![vec![Value::from("s")]]);
    assert!(!db.relation_exists("kept").await.expect("exists"));
    assert!(db.primary().relation_exists("kept").await.expect("exists"));
}
