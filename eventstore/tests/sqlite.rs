//! SQLite-specific guarantees: the file refuses changes to events, and
//! tampering with it is pinpointed.

mod common;

use common::{request, stream};
use eventstore::chain::Break;
use eventstore::testing::TestSqlite;
use std::sync::Arc;

use eventstore::{verify, EventStore, ExpectedVersion, StoreError};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_committed_together_are_refused_or_kept_one_by_one() {
    let lite = TestSqlite::new().await;
    let store = lite.shared();
    let mut appenders = tokio::task::JoinSet::new();
    // Concurrent appends land in shared groups: a new stream each (kept),
    // interleaved with appends expecting a version their stream never has
    // (refused), which must not take the others down with them.
    let mut kept = Vec::new();
    for n in 0..200 {
        let s = stream(if n % 2 == 0 { "kept" } else { "refused" });
        let expected = if n % 2 == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(7)
        };
        if n % 2 == 0 {
            kept.push(s.clone());
        }
        let store = Arc::clone(&store);
        appenders.spawn(async move { (n, store.append(request(&s, expected, 2)).await) });
    }
    while let Some(done) = appenders.join_next().await {
        let (n, result) = done.expect("appender");
        match (n % 2, result) {
            (0, Ok(appended)) => assert_eq!(appended.last_version, 2),
            (1, Err(StoreError::WrongExpectedVersion { actual: 0, .. })) => {}
            (_, other) => panic!("append {n}: {other:?}"),
        }
    }
    assert_eq!(store.counts().await.expect("counts").events, 200);
    for s in &kept {
        let events = store
            .read_stream(s, 1, eventstore::Direction::Forward, 10)
            .await
            .expect("read");
        assert_eq!(events.len(), 2, "{s}");
    }
    let report = verify::verify_all(&*store, |_| ()).await.expect("verify");
    assert!(report.is_intact());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_whose_write_fails_in_a_group_takes_none_of_the_others_down() {
    let lite = TestSqlite::new().await;
    let store = lite.shared();
    let taken = store
        .append(request(&stream("first"), ExpectedVersion::Any, 1))
        .await
        .expect("append");
    let taken_id = store
        .read_stream(&taken.stream, 1, eventstore::Direction::Forward, 1)
        .await
        .expect("read")[0]
        .event_id;
    // A single append in a group writes without a savepoint once its checks
    // pass; one whose insert then fails (its second event's id is stored
    // already) must fail alone, its first event not kept, while the
    // appends grouped with it (kept, and refused by their checks) stand.
    let mut appenders = tokio::task::JoinSet::new();
    for n in 0..300 {
        let s = stream("grouped");
        let mut append = match n % 3 {
            0 => request(&s, ExpectedVersion::NoStream, 2),
            1 => request(&s, ExpectedVersion::Exact(7), 2),
            _ => request(&s, ExpectedVersion::NoStream, 2),
        };
        if n % 3 == 2 {
            append.events[1].event_id = taken_id;
        }
        let store = Arc::clone(&store);
        appenders.spawn(async move { (n, s, store.append(append).await) });
    }
    while let Some(done) = appenders.join_next().await {
        let (n, s, result) = done.expect("appender");
        match (n % 3, result) {
            (0, Ok(appended)) => assert_eq!(appended.last_version, 2),
            (1, Err(StoreError::WrongExpectedVersion { actual: 0, .. })) => {}
            (2, Err(StoreError::InvalidAppend(_))) => {
                let kept = store
                    .read_stream(&s, 1, eventstore::Direction::Forward, 10)
                    .await
                    .expect("read");
                assert!(kept.is_empty(), "append {n} left {kept:?}");
            }
            (_, other) => panic!("append {n}: {other:?}"),
        }
    }
    assert_eq!(store.counts().await.expect("counts").events, 1 + 100 * 2);
    let report = verify::verify_all(&*store, |_| ()).await.expect("verify");
    assert!(report.is_intact());
}
