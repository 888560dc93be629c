//! SQLite-specific guarantees: the file refuses changes to events, and
//! tampering with it is pinpointed.

mod common;

use common::{request, stream};
use eventstore::chain::Break;
use eventstore::testing::TestSqlite;

use eventstore::{verify, EventStore, ExpectedVersion};

#[tokio::test]
async fn the_database_refuses_to_update_or_delete_events() {
    let db = TestSqlite::new().await;
    db.store
        .append(common::with_command(
            request(&stream("order"), ExpectedVersion::Any, 2),
            domain::CommandId::from_uuid(uuid::Uuid::now_v7()),
        ))
        .await
        .expect("append");
    for sql in [
        "UPDATE events SET actor = 'user:mallory'",
        "DELETE FROM events",
        "DELETE FROM commands",
        "DELETE FROM streams",
    ] {
        let error = sqlx::query(sql)
            .execute(db.store.writer())
            .await
            .expect_err(sql);
        assert!(error.to_string().contains("append-only"), "{sql}: {error}");
    }
    assert_eq!(db.store.counts().await.expect("counts").events, 2);
}

#[tokio::test]
async fn a_row_tampered_with_behind_the_stores_back_is_pinpointed() {
    let db = TestSqlite::new().await;
    let (a, b) = (stream("invoice"), stream("invoice"));
    db.store
        .append(request(&a, ExpectedVersion::Any, 4))
        .await
        .expect("append");
    db.store
        .append(request(&b, ExpectedVersion::Any, 4))
        .await
        .expect("append");
    sqlx::raw_sql(
        "DROP TRIGGER events_no_update; DROP TRIGGER events_no_delete; \
         DELETE FROM events WHERE stream_version = 2 AND stream_id = (SELECT min(stream_id) FROM events);",
    )
    .execute(db.store.writer())
    .await
    .expect("tamper");
    let victim = if a.as_str() < b.as_str() { &a } else { &b };
    let report = verify::verify_all(&db.store, |_| ()).await.expect("verify");
    assert_eq!(report.broken_streams, 1, "{report:?}");
    let (stream_id, link) = &report.broken[0];
    assert_eq!((stream_id, link.version), (victim, 2));
    assert!(
        matches!(
            link.problem,
            Break::VersionGap {
                expected: 2,
                found: 3
            }
        ),
        "{}",
        link.problem
    );
}
