//! Rebuilds on PostgreSQL and SQLite (the same test bodies on both back
//! ends): a new generation fills from the first event while the old one
//! serves, then one transaction switches the views and drops the old one.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::{Position, StreamId};
use eventstore::EventStore;
use projections::{Db, ProjectionState};
use support::*;

/// Four streams of 60 events, projected at `version` by a runner that is
/// then stopped; what queries see afterwards.
async fn projected(
    db: &Db,
    store: &Arc<dyn EventStore>,
    version: u32,
    knobs: &Arc<Knobs>,
) -> (Vec<StreamId>, Snapshot) {
    let streams: Vec<StreamId> = (0..4).map(|_| counted_stream()).collect();
    let mut last = Position::START;
    for stream in &streams {
        last = append(&**store, stream, 60).await;
    }
    let mut runner = spawn(db, store, version, knobs);
    wait_for(
        &mut runner.status,
        Duration::from_secs(30),
        "the first generation caught up",
        |s| s.checkpoint >= last && s.state == ProjectionState::Live,
    )
    .await;
    runner.kill().await;
    // An idle runner still moves its checkpoint past the log's horizon now
    // and then; a commit of that already sent when it was killed lands a
    // moment later. Serving starts from what stays.
    let mut seen = snapshot(db).await;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let again = snapshot(db).await;
        if again == seen {
            break;
        }
        seen = again;
    }
    assert_eq!(seen.generation, 1);
    (streams, seen)
}

/// The registry's (generation, version, state) rows.
async fn registry(db: &Db) -> Vec<(i64, i64, String)> {
    db.query(
        "SELECT generation, version, state FROM projection_generations \
         WHERE name = 'stream_counts' ORDER BY generation",
        &[],
    )
    .await
    .expect("registry")
    .into_iter()
    .map(|r| {
        (
            r[0].as_i64().expect("generation"),
            r[1].as_i64().expect("version"),
            r[2].as_str().expect("state").to_owned(),
        )
    })
    .collect()
}

async fn a_changed_version_is_rebuilt_while_the_old_generation_serves(
    db: Db,
    store: Arc<dyn EventStore>,
) {
    let knobs = Arc::new(Knobs::default());
    let (streams, before) = projected(&db, &store, 1, &knobs).await;

    // Version 2 starts and rebuilds slowly (about 5 ms an event). It cannot
    // write version 1's tables, so generation 1 serves as it stands.
    knobs.slow(Duration::from_millis(5));
    let mut v2 = spawn(&db, &store, 2, &knobs);
    wait_for(
        &mut v2.status,
        Duration::from_secs(10),
        "the rebuild progresses",
        |s| s.rebuilding == Some(2) && s.rebuild_checkpoint > Some(Position::START),
    )
    .await;
    let extra = append(&*store, &streams[1], 2).await;
    let mut served_old = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = snapshot(&db).await;
        if seen.generation != 1 {
            break;
        }
        assert_eq!(seen, before, "generation 1 serves, whole and unchanged");
        served_old += 1;
        if served_old == 2 {
            // A crash mid-rebuild: the next runner resumes where it stopped.
            v2.kill().await;
            assert!(
                registry(&db).await.contains(&(2, 2, "building".to_owned())),
                "{:?}",
                registry(&db).await
            );
            v2 = spawn(&db, &store, 2, &knobs);
        }
        assert!(Instant::now() < deadline, "the rebuild never switched in");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        served_old > 2,
        "the old generation served during the rebuild"
    );
    let s = wait_for(
        &mut v2.status,
        Duration::from_secs(60),
        "switched to generation 2",
        |s| {
            s.active_generation == 2
                && s.rebuilding.is_none()
                && s.checkpoint >= extra
                && s.state == ProjectionState::Live
        },
    )
    .await;
    assert_eq!((s.failures, s.last_error.clone()), (0, None), "{s:?}");
    assert_eq!(s.active_version, 2);
    assert!(s.applied < 242, "the restarted runner resumed: {s:?}");
    let seen = snapshot(&db).await;
    assert_eq!(seen.generation, 2);
    assert_eq!(seen.rows, expected(&*store, &streams).await);
    assert_eq!(seen.rows, expected_at(&*store, seen.checkpoint).await);
    // The new shape is served: version 2's column.
    let weights = db
        .query("SELECT CAST(sum(weight) AS BIGINT) FROM stream_counts", &[])
        .await
        .expect("version 2's column");
    let want: i64 = (1..=60).sum::<i64>() * 4 + 61 + 62;
    assert_eq!(weights[0][0].as_i64(), Some(want));
    assert!(
        !db.relation_exists("stream_counts__g1")
            .await
            .expect("catalog"),
        "the old generation's table is dropped"
    );
    assert_eq!(registry(&db).await, [(2, 2, "active".to_owned())]);
    v2.kill().await;
}

async fn a_requested_rebuild_keeps_the_old_generation_current_until_the_switch(
    db: Db,
    store: Arc<dyn EventStore>,
) {
    let knobs = Arc::new(Knobs::default());
    let (streams, before) = projected(&db, &store, 1, &knobs).await;
    let mut runner = spawn(&db, &store, 1, &knobs);
    wait_for(&mut runner.status, Duration::from_secs(10), "live", |s| {
        s.state == ProjectionState::Live
    })
    .await;
    knobs.slow(Duration::from_millis(5));
    runner.rebuild.request();
    wait_for(
        &mut runner.status,
        Duration::from_secs(10),
        "the rebuild starts",
        |s| s.rebuilding == Some(2),
    )
    .await;
    append(&*store, &streams[0], 2).await;
    let now = expected(&*store, &streams).await;
    assert_ne!(now, before.rows);
    // Generation 1 still serves, and follows the new events.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = snapshot(&db).await;
        assert_eq!(seen.generation, 1, "switched before generation 1 followed");
        assert_eq!(seen.rows, expected_at(&*store, seen.checkpoint).await);
        if seen.rows == now {
            break;
        }
        assert!(Instant::now() < deadline, "generation 1 never followed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = wait_for(
        &mut runner.status,
        Duration::from_secs(60),
        "switched to generation 2",
        |s| s.active_generation == 2 && s.rebuilding.is_none() && s.state == ProjectionState::Live,
    )
    .await;
    assert_eq!((s.failures, s.active_version), (0, 1), "{s:?}");
    let seen = snapshot(&db).await;
    assert_eq!((seen.generation, seen.rows), (2, now));
    assert!(!db
        .relation_exists("stream_counts__g1")
        .await
        .expect("catalog"));
    assert_eq!(registry(&db).await, [(2, 1, "active".to_owned())]);
    runner.kill().await;
}

async fn an_older_runner_stands_by_until_asked_to_roll_back(db: Db, store: Arc<dyn EventStore>) {
    let knobs = Arc::new(Knobs::default());
    let (streams, before) = projected(&db, &store, 2, &knobs).await;
    // An older deployment starts: it neither rebuilds backwards nor writes
    // version 2's tables.
    let mut v1 = spawn(&db, &store, 1, &knobs);
    let s = wait_for(
        &mut v1.status,
        Duration::from_secs(10),
        "standing by",
        |s| s.state == ProjectionState::Outdated,
    )
    .await;
    assert_eq!((s.active_generation, s.active_version), (1, 2), "{s:?}");
    let message = s.last_error.expect("why it stands by");
    assert!(message.contains("newer"), "{message}");
    let more = append(&*store, &streams[0], 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(snapshot(&db).await, before);
    assert_eq!(registry(&db).await, [(1, 2, "active".to_owned())]);
    wait_for(
        &mut v1.status,
        Duration::from_secs(10),
        "the unapplied event reported as lag",
        |s| s.lag_events == 1 && s.state == ProjectionState::Outdated,
    )
    .await;
    // Asked, it rolls the projection back to its own version.
    v1.rebuild.request();
    let s = wait_for(
        &mut v1.status,
        Duration::from_secs(30),
        "rolled back",
        |s| {
            s.active_generation == 2
                && s.active_version == 1
                && s.state == ProjectionState::Live
                && s.checkpoint >= more
        },
    )
    .await;
    assert_eq!(s.last_error, None);
    assert_eq!(counts(&db).await, expected(&*store, &streams).await);
    assert!(
        db.query("SELECT weight FROM stream_counts", &[])
            .await
            .is_err(),
        "version 1's shape is served"
    );
    assert_eq!(registry(&db).await, [(2, 1, "active".to_owned())]);
    v1.kill().await;
}

both_back_ends!(
    a_changed_version_is_rebuilt_while_the_old_generation_serves,
    a_requested_rebuild_keeps_the_old_generation_current_until_the_switch,
    an_older_runner_stands_by_until_asked_to_roll_back,
);
