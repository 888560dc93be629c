//! PostgreSQL-specific guarantees: the database itself refuses changes,
//! tampering is pinpointed, and the global order is gap-safe under
//! concurrent transactions.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{request, stream};
use domain::{EventId, Position};
use eventstore::chain::Break;
use eventstore::testing::TestPostgres;
use eventstore::{verify, EventFilter, EventStore, ExpectedVersion, StoreError, Subscription};
use sqlx::Row;

#[tokio::test]
async fn the_database_refuses_to_update_delete_or_truncate_events() {
    let db = TestPostgres::new().await;
    let s = stream("order");
    let command = domain::CommandId::from_uuid(uuid::Uuid::now_v7());
    db.store
        .append(common::with_command(
            request(&s, ExpectedVersion::Any, 2),
            command,
        ))
        .await
        .expect("append");
    for sql in [
        "UPDATE events SET actor = 'user:mallory'",
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE commands SET stream_id = 'x'",
        "DELETE FROM streams",
    ] {
        let error = sqlx::query(sql)
            .execute(db.store.pool())
            .await
            .expect_err(sql);
        assert!(error.to_string().contains("append-only"), "{sql}: {error}");
    }
    assert_eq!(
        db.store.counts().await.expect("counts").events,
        2,
        "nothing changed"
    );
}

#[tokio::test]
async fn a_row_tampered_with_behind_the_stores_back_is_pinpointed() {
    let db = TestPostgres::new().await;
    let streams: Vec<_> = (0..3).map(|_| stream("invoice")).collect();
    for s in &streams {
        db.store
            .append(request(s, ExpectedVersion::Any, 5))
            .await
            .expect("append");
    }
    let victim = &streams[1];
    // As a superuser with triggers disabled: the kind of change the log must expose.
    let mut tx = db.store.pool().begin().await.expect("begin");
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .expect("replica");
    let event_id: uuid::Uuid = sqlx::query_scalar(
        "UPDATE events SET payload = '{\"n\":2,\"amount\":1000000}' \
         WHERE stream_id = $1 AND stream_version = 3 RETURNING event_id",
    )
    .bind(victim.as_str())
    .fetch_one(&mut *tx)
    .await
    .expect("tamper");
    tx.commit().await.expect("commit");

    let report = verify::verify_all(&db.store, |_| ()).await.expect("verify");
    assert_eq!(
        (report.streams, report.events, report.broken_streams),
        (3, 15, 1),
        "{report:?}"
    );
    let (stream_id, link) = &report.broken[0];
    assert_eq!(stream_id, victim);
    assert_eq!(link.version, 3);
    assert_eq!(
        link.event.map(|(id, _)| id),
        Some(EventId::from_uuid(event_id))
    );
    assert!(
        matches!(link.problem, Break::HashMismatch { .. }),
        "{}",
        link.problem
    );
    let line = verify::describe(stream_id, link);
    assert!(
        line.contains(&event_id.to_string()) && line.contains("version 3"),
        "{line}"
    );
    assert!(verify::verify_stream(&db.store, &streams[0])
        .await
        .expect("verify")
        .is_intact());
}

/// Event positions in plain sequence order: the naive reading that skips
/// late commits. Used to show the scenario is real.
async fn naive_read(db: &TestPostgres, after: i64) -> Vec<i64> {
    sqlx::query("SELECT position FROM events WHERE position > $1 ORDER BY position")
        .bind(after)
        .fetch_all(db.store.pool())
        .await
        .expect("naive read")
        .iter()
        .map(|row| row.get::<i64, _>(0))
        .collect()
}

#[tokio::test]
async fn open_transactions_that_cannot_append_here_hold_no_reader_back() {
    let db = TestPostgres::new().await;
    let elsewhere = TestPostgres::new().await;
    // A transaction of the same database that has written (so it has a
    // transaction id) but never appends to this log...
    let mut unrelated = db.store.pool().begin().await.expect("begin");
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut *unrelated)
        .await
        .expect("assign an id");
    // ...and one appending to another schema's log, both left open.
    let mut other_log = elsewhere.store.begin().await.expect("begin");
    other_log
        .append(request(&stream("other"), ExpectedVersion::Any, 1))
        .await
        .expect("append elsewhere");

    let s = stream("here");
    db.store
        .append(request(&s, ExpectedVersion::Any, 2))
        .await
        .expect("append");
    let batch = db
        .store
        .read_all(Position::START, 100, &EventFilter::all())
        .await
        .expect("read");
    assert_eq!(
        batch.events.len(),
        2,
        "neither holds this log's readers back"
    );
    assert!(!batch.beyond_horizon, "nothing waits behind the horizon");

    // Once this log has an open appender, readers wait for it again.
    let mut appender = db.store.begin().await.expect("begin");
    appender
        .append(request(&stream("late"), ExpectedVersion::Any, 1))
        .await
        .expect("append in tx");
    db.store
        .append(request(&s, ExpectedVersion::Any, 1))
        .await
        .expect("append");
    let held = db
        .store
        .read_all(batch.next, 100, &EventFilter::all())
        .await
        .expect("read");
    assert!(held.events.is_empty(), "{:?}", held.events);
    assert!(held.beyond_horizon);
    appender.commit().await.expect("commit");
    let released = db
        .store
        .read_all(held.next, 100, &EventFilter::all())
        .await
        .expect("read");
    assert_eq!(released.events.len(), 2, "both, once the appender is done");
    unrelated.rollback().await.expect("rollback");
    other_log.commit().await.expect("commit");
}

#[tokio::test]
async fn a_late_commit_with_a_lower_sequence_number_is_not_skipped() {
    let db = TestPostgres::new().await;
    let (a, b) = (stream("late"), stream("early"));
    // Transaction A takes the lower sequence number and stays open.
    let mut slow = db.store.begin().await.expect("begin");
    let late = slow
        .append(request(&a, ExpectedVersion::Any, 1))
        .await
        .expect("append in tx");
    // B commits first with a higher sequence number.
    let early = db
        .store
        .append(request(&b, ExpectedVersion::Any, 1))
        .await
        .expect("append");
    assert!(
        late.position.seq < early.position.seq,
        "the scenario needs A's number below B's"
    );

    let naive_first = naive_read(&db, 0).await;
    assert_eq!(naive_first, [early.position.seq as i64]);
    let ours = db
        .store
        .read_all(Position::START, 100, &EventFilter::all())
        .await
        .expect("read");
    assert!(
        ours.events.is_empty(),
        "B must wait until A has finished: {:?}",
        ours.events
    );
    assert!(ours.beyond_horizon, "the reader knows something is waiting");

    slow.commit().await.expect("commit");
    let naive_then = naive_read(&db, naive_first[0]).await;
    assert!(
        naive_then.is_empty(),
        "the naive reader has skipped A for good"
    );
    let ours = db
        .store
        .read_all(ours.next, 100, &EventFilter::all())
        .await
        .expect("read");
    let seen: Vec<_> = ours.events.iter().map(|e| e.stream_id.clone()).collect();
    assert_eq!(seen, [a, b], "both, in commit-safe order");
}

/// Three events, then an appender left open (its id above theirs), then
/// two more committed above it, and a first full batch of two read: the
/// streams in the order a gap-safe reader must see them, the open
/// appender and that batch.
async fn three_then_an_open_appender_then_two(
    db: &TestPostgres,
) -> (
    Vec<domain::StreamId>,
    eventstore::postgres::PgUnitOfWork<'_>,
    eventstore::Batch,
) {
    let names = ["one", "two", "three", "late", "after1", "after2", "last"];
    let s: Vec<_> = names.iter().map(|n| stream(n)).collect();
    for early in &s[..3] {
        db.store
            .append(request(early, ExpectedVersion::Any, 1))
            .await
            .expect("append");
    }
    let mut late = db.store.begin().await.expect("begin");
    late.append(request(&s[3], ExpectedVersion::Any, 1))
        .await
        .expect("append in tx");
    for after in &s[4..6] {
        db.store
            .append(request(after, ExpectedVersion::Any, 1))
            .await
            .expect("append");
    }
    let first = db
        .store
        .read_all(Position::START, 2, &EventFilter::all())
        .await
        .expect("read");
    assert_eq!(
        first.events.len(),
        2,
        "a full batch below the open appender"
    );
    (s, late, first)
}

/// The streams of batches' events, in order.
fn streams_of(batches: &[&eventstore::Batch]) -> Vec<domain::StreamId> {
    batches
        .iter()
        .flat_map(|batch| batch.events.iter().map(|e| e.stream_id.clone()))
        .collect()
}

/// A reader continuing after a full batch reads below that batch's horizon
/// without asking for a new one, then past it with a new one: an appender
/// that was open under the old horizon and committed meanwhile is read once,
/// in its place, in the same batch.
#[tokio::test]
async fn a_reader_continuing_a_full_batch_skips_no_late_commit() {
    let db = TestPostgres::new().await;
    let (s, late, first) = three_then_an_open_appender_then_two(&db).await;
    let all = EventFilter::all();
    late.commit().await.expect("commit");
    db.store
        .append(request(&s[6], ExpectedVersion::Any, 1))
        .await
        .expect("append");
    let second = db.store.read_all(first.next, 2, &all).await.expect("read");
    assert_eq!(
        streams_of(&[&second]),
        &s[2..4],
        "the third, then the late one"
    );
    let third = db
        .store
        .read_all(second.next, 10, &all)
        .await
        .expect("read");
    let fourth = db.store.read_all(third.next, 10, &all).await.expect("read");
    assert_eq!(streams_of(&[&first, &second, &third, &fourth]), s);
    assert!(fourth.events.is_empty() && !fourth.beyond_horizon);
}

/// The same reader, while the appender is still open: the continuation
/// stops below it and says that more waits.
#[tokio::test]
async fn a_reader_continuing_a_full_batch_waits_for_an_appender_still_open() {
    let db = TestPostgres::new().await;
    let (s, late, first) = three_then_an_open_appender_then_two(&db).await;
    let all = EventFilter::all();
    let second = db.store.read_all(first.next, 2, &all).await.expect("read");
    assert_eq!(streams_of(&[&second]), &s[2..3], "the third alone");
    assert!(second.beyond_horizon, "the two above the appender wait");
    late.commit().await.expect("commit");
    let third = db
        .store
        .read_all(second.next, 10, &all)
        .await
        .expect("read");
    assert_eq!(streams_of(&[&first, &second, &third]), &s[..6]);
}

/// How many rounds of the randomized gap test to run (`AGENTOS_GAP_ROUNDS`).
fn rounds() -> usize {
    std::env::var("AGENTOS_GAP_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_with_random_commit_delays_never_make_a_tailer_skip() {
    const WRITERS: usize = 8;
    const TRANSACTIONS: usize = 12;
    let db = TestPostgres::new().await;
    let store: Arc<dyn EventStore> = db.shared();
    let mut subscription =
        Subscription::new(store.clone(), Position::START, EventFilter::all()).with_batch_size(7);
    let mut seen: HashSet<EventId> = HashSet::new();
    let mut stream_versions: HashMap<String, u64> = HashMap::new();
    let mut written_total = 0;
    let mut naive_skips = 0;
    for round in 0..rounds() {
        let streams: Vec<_> = (0..4).map(|_| stream("gap")).collect();
        let done = Arc::new(AtomicBool::new(false));
        let naive = tokio::spawn(naive_tail(db.store.pool().clone(), done.clone()));
        let mut writers = tokio::task::JoinSet::new();
        for writer in 0..WRITERS {
            let (pg, streams) = (db.store.clone(), streams.clone());
            writers.spawn(async move {
                let mut written = Vec::new();
                for _ in 0..TRANSACTIONS {
                    let s = &streams[fastrand::usize(..streams.len())];
                    let req = request(s, ExpectedVersion::Any, 1 + fastrand::usize(..3));
                    if writer % 4 == 0 {
                        // Plain appends, committed in groups with the
                        // others waiting, beside the slow units of work.
                        pg.append(req.clone()).await.expect("append");
                        written.extend(req.events.iter().map(|e| e.event_id));
                        continue;
                    }
                    loop {
                        let mut tx = pg.begin().await.expect("begin");
                        match tx.append(req.clone()).await {
                            Ok(_) => {}
                            Err(StoreError::Retry) => continue,
                            Err(e) => panic!("append: {e}"),
                        }
                        tokio::time::sleep(Duration::from_millis(fastrand::u64(..15))).await;
                        tx.commit().await.expect("commit");
                        break;
                    }
                    written.extend(req.events.iter().map(|e| e.event_id));
                }
                written
            });
        }
        let mut written = HashSet::new();
        let mut writers_done = false;
        loop {
            tokio::select! {
                result = writers.join_next(), if !writers_done => match result {
                    Some(ids) => written.extend(ids.expect("writer")),
                    None => writers_done = true,
                },
                event = subscription.next() => {
                    let event = event.expect("subscription");
                    assert!(seen.insert(event.event_id), "round {round}: {} delivered twice", event.event_id);
                    let last = stream_versions.entry(event.stream_id.to_string()).or_default();
                    assert_eq!(event.stream_version, *last + 1, "round {round}: stream order broken");
                    *last = event.stream_version;
                }
                _ = tokio::time::sleep(Duration::from_secs(10)) => {
                    panic!("round {round}: the tailer stalled with {} of {} events", seen.len(), written_total + written.len());
                }
            }
            if writers_done && seen.len() == written_total + written.len() {
                break;
            }
        }
        written_total += written.len();
        assert!(
            written.iter().all(|id| seen.contains(id)),
            "round {round}: an event was skipped"
        );
        done.store(true, Ordering::Relaxed);
        naive_skips += naive.await.expect("naive tailer");
    }
    assert_eq!(seen.len(), written_total);
    eprintln!("{} rounds, {written_total} events, each seen once; a naive sequence-order tailer skipped {naive_skips}", rounds());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_appends_share_transactions() {
    let db = TestPostgres::new().await;
    let store = db.shared();
    let mut appenders = tokio::task::JoinSet::new();
    for n in 0..200 {
        let store = Arc::clone(&store);
        let s = stream("grouped");
        appenders.spawn(async move {
            store
                .append(request(&s, ExpectedVersion::NoStream, 1 + n % 3))
                .await
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = appenders.join_next().await {
        answers.push(done.expect("appender").expect("append"));
    }
    // Each answer names where its last event is stored.
    for a in &answers {
        let last = store
            .read_stream(&a.stream, a.last_version, eventstore::Direction::Forward, 1)
            .await
            .expect("read");
        assert_eq!(last[0].position, a.position, "{}", a.stream);
    }
    // 200 appends waiting at once do not take 200 transactions.
    let transactions: i64 = sqlx::query_scalar("SELECT count(DISTINCT tx_id) FROM events")
        .fetch_one(db.store.pool())
        .await
        .expect("count");
    let shared = answers
        .iter()
        .map(|a| a.position.tx)
        .collect::<HashSet<_>>()
        .len();
    assert_eq!(transactions as usize, shared);
    assert!(
        transactions < 150,
        "{transactions} transactions for 200 appends"
    );
    assert!(verify::verify_all(&*store, |_| ())
        .await
        .expect("verify")
        .is_intact());
}

/// Several followers with different filters, live while writers commit
/// slowly and out of order, each get exactly what a read of the whole log
/// gives them afterwards, and read it from the shared tail rather than
/// each from the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_share_one_tail_and_each_sees_exactly_its_events() {
    let db = TestPostgres::new().await;
    let store: Arc<dyn EventStore> = db.shared();
    let filters = [
        EventFilter::all(),
        EventFilter::of(&["alpha"], &[]),
        EventFilter::of(&["beta"], &[]),
        EventFilter::of(&[], &["OtherThingHappened"]),
    ];
    let mut followers: Vec<Subscription> = filters
        .iter()
        .map(|f| Subscription::new(store.clone(), Position::START, f.clone()).with_batch_size(5))
        .collect();
    // Each follower reads once, finding the log empty: the tail begins there.
    for follower in &mut followers {
        assert!(follower
            .next_within(Duration::from_millis(20))
            .await
            .expect("read")
            .is_none());
    }
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..6 {
        let pg = db.store.clone();
        writers.spawn(async move {
            for n in 0..10 {
                let s = stream(if (writer + n) % 2 == 0 {
                    "alpha"
                } else {
                    "beta"
                });
                let req = request(&s, ExpectedVersion::NoStream, 1 + n % 3);
                if writer % 2 == 0 {
                    pg.append(req).await.expect("append");
                    continue;
                }
                let mut tx = pg.begin().await.expect("begin");
                tx.append(req).await.expect("append");
                tokio::time::sleep(Duration::from_millis(fastrand::u64(..10))).await;
                tx.commit().await.expect("commit");
            }
        });
    }
    // Each follower follows on a task of its own while the writers write.
    let gatherers: Vec<_> = followers
        .into_iter()
        .map(|mut follower| {
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while let Some(event) = follower
                    .next_within(Duration::from_millis(500))
                    .await
                    .expect("follow")
                {
                    seen.push(event);
                }
                seen
            })
        })
        .collect();
    while let Some(done) = writers.join_next().await {
        done.expect("writer");
    }
    let mut seen = Vec::new();
    for gatherer in gatherers {
        seen.push(gatherer.await.expect("follower"));
    }
    for (filter, seen) in filters.iter().zip(&seen) {
        let expected = eventstore::read_to_end(&*store, filter)
            .await
            .expect("read");
        assert!(!expected.is_empty());
        assert_eq!(seen, &expected, "a follower of {filter:?}");
    }
    // 60 appends, each followed by four followers: without the tail every
    // follower reads the database after every commit it is woken by.
    let past = db.store.reads_past_tail();
    eprintln!("{past} reads went past the tail");
    assert!(past < 40, "{past} reads went past the tail");
}

/// A unit of appends to several streams is one statement: only a unit the
/// database refuses is made again the slow way (and then answers which
/// append was refused, and appends nothing).
#[tokio::test]
async fn units_of_several_appends_are_one_statement_unless_refused() {
    let db = TestPostgres::new().await;
    let (a, b) = (stream("order"), stream("task"));
    let answers = db
        .store
        .append_all(vec![
            request(&b, ExpectedVersion::NoStream, 2),
            request(&a, ExpectedVersion::NoStream, 1),
        ])
        .await
        .expect("appended");
    assert_eq!(answers.len(), 2);
    assert_eq!(
        answers[0].position.tx, answers[1].position.tx,
        "one transaction"
    );
    assert_eq!(db.store.units_made_slowly(), 0);
    match db
        .store
        .append_all(vec![
            request(&stream("audit"), ExpectedVersion::NoStream, 1),
            request(&b, ExpectedVersion::Exact(1), 1),
        ])
        .await
    {
        Err(StoreError::WrongExpectedVersion { stream, actual, .. }) => {
            assert_eq!((stream, actual), (b.clone(), 2));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(db.store.units_made_slowly(), 1);
    assert_eq!(db.store.counts().await.expect("counts").events, 3);
}

/// A store whose log no other store follows sends no NOTIFY for its commits
/// (its own followers learn of them without one); once a second store (of
/// another process, say) follows the log, it says so, and the first one's
/// commits wake its followers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_notified_once_another_store_follows_the_log() {
    use sqlx::postgres::PgListener;
    let db = TestPostgres::new().await;
    let channel = format!("agentos_events.{}", db.schema);
    let mut overheard = PgListener::connect(&eventstore::testing::database_url())
        .await
        .expect("listen");
    overheard.listen(&channel).await.expect("listen");
    // The first store follows its own log.
    let mut own = Subscription::new(db.shared(), Position::START, EventFilter::all());
    let s = stream("alone");
    db.store
        .append(request(&s, ExpectedVersion::Any, 1))
        .await
        .expect("append");
    assert!(own
        .next_within(Duration::from_secs(1))
        .await
        .expect("read")
        .is_some());
    let alone = heard(&mut overheard, 300).await;
    assert!(
        alone.iter().all(|p| p.contains(':')),
        "a store followed by no other notified its commit: {alone:?}"
    );

    let second = db.another_store().await;
    let mut follower = Subscription::new(
        Arc::new(second.clone()),
        Position::START,
        EventFilter::of(&["alone"], &[]),
    );
    assert!(follower
        .next_within(Duration::from_secs(1))
        .await
        .expect("read")
        .is_some());
    let greetings = heard(&mut overheard, 500).await;
    assert!(
        greetings.iter().any(|p| p.starts_with("here:")),
        "the second store did not say it follows: {greetings:?}"
    );

    db.store
        .append(request(&s, ExpectedVersion::Any, 1))
        .await
        .expect("append");
    // Far sooner than the followers' five-second recheck.
    let woken = follower
        .next_within(Duration::from_secs(1))
        .await
        .expect("read");
    assert!(woken.is_some(), "the second store's follower was not woken");
    let commits = heard(&mut overheard, 300).await;
    assert!(
        commits.iter().any(|p| !p.contains(':')),
        "no commit was notified: {commits:?}"
    );
}

/// The payloads a listener hears until it hears nothing for `quiet_ms`.
async fn heard(listener: &mut sqlx::postgres::PgListener, quiet_ms: u64) -> Vec<String> {
    let mut payloads = Vec::new();
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(quiet_ms), listener.recv()).await
    {
        payloads.push(n.payload().to_owned());
    }
    payloads
}

/// Tails by sequence number alone and counts the events it would have skipped.
async fn naive_tail(pool: sqlx::PgPool, done: Arc<AtomicBool>) -> usize {
    let mut checkpoint = naive_max(&pool).await;
    let mut seen = HashSet::new();
    while !done.load(Ordering::Relaxed) {
        let rows = sqlx::query("SELECT position FROM events WHERE position > $1 ORDER BY position")
            .bind(checkpoint)
            .fetch_all(&pool)
            .await
            .expect("naive read");
        for row in rows {
            let position: i64 = row.get(0);
            seen.insert(position);
            checkpoint = position;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let all: Vec<i64> = sqlx::query_scalar("SELECT position FROM events")
        .fetch_all(&pool)
        .await
        .expect("all");
    let start = all
        .iter()
        .copied()
        .filter(|p| seen.contains(p))
        .min()
        .unwrap_or(i64::MAX);
    let last = seen.iter().copied().max().unwrap_or(0);
    all.iter()
        .filter(|p| **p > start && **p < last && !seen.contains(p))
        .count()
}

async fn naive_max(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(pool)
        .await
        .expect("max")
}

#[tokio::test]
async fn a_database_that_is_down_is_reported_as_unavailable() {
    let error =
        eventstore::postgres::PgStore::connect("postgres://postgres:secret@127.0.0.1:1/none")
            .await
            .err()
            .expect("nothing listens on port 1");
    assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    assert!(!error.to_string().contains("secret"), "{error}");
}

#[tokio::test]
async fn an_abandoned_transaction_cannot_hold_readers_up_for_long() {
    // Gap-safe readers wait for every older open transaction; the server
    // ends one of the store's sessions left idle inside a transaction.
    let db = TestPostgres::new().await;
    let mut tx = db.store.pool().begin().await.expect("begin");
    let timeout: String = sqlx::query_scalar("SHOW idle_in_transaction_session_timeout")
        .fetch_one(&mut *tx)
        .await
        .expect("show");
    assert_eq!(timeout, "30s");
}

/// Every subscriber reads the log after each commit, mostly to find nothing
/// new. No plan of those reads may scan the table: not the one PostgreSQL
/// makes for the actual arguments, nor the generic one it switches a
/// prepared statement (or a PL/pgSQL function's statement) to after a few
/// executions, which knows no argument. (Asked with `EXISTS`, "anything
/// beyond the horizon?" was planned as a sequential scan that read the whole
/// log on every read.)
#[tokio::test]
async fn reads_that_find_nothing_new_never_scan_the_log() {
    let db = TestPostgres::new().await;
    for category in ["directive", "task", "approval", "shipment"] {
        for _ in 0..10 {
            db.store
                .append(request(&stream(category), ExpectedVersion::NoStream, 100))
                .await
                .expect("append");
        }
    }
    let mut connection = db.store.pool().acquire().await.expect("connection");
    sqlx::raw_sql("ANALYZE events")
        .execute(&mut *connection)
        .await
        .expect("analyze");
    let head: i64 = sqlx::query_scalar("SELECT max(tx_id) FROM events")
        .fetch_one(&mut *connection)
        .await
        .expect("head");
    for mode in ["force_custom_plan", "force_generic_plan"] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET plan_cache_mode = {mode}")))
            .execute(&mut *connection)
            .await
            .expect("plan mode");
        for (i, (sql, types, arguments)) in eventstore::postgres::read_statements(head)
            .into_iter()
            .enumerate()
        {
            let name = format!("read_{mode}_{i}");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "PREPARE {name} ({types}) AS {sql}"
            )))
            .execute(&mut *connection)
            .await
            .expect("prepare");
            let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) EXECUTE {name} ({arguments})"
            )))
            .fetch_all(&mut *connection)
            .await
            .expect("explain");
            let plan = plan.join("\n");
            assert!(
                !plan.contains("Seq Scan on events"),
                "{mode}: {sql}\nscans the log:\n{plan}"
            );
        }
        // The read function's statements, counted by the table's statistics
        // over more calls than PL/pgSQL makes before it goes generic.
        let before = sequential_scans(&mut connection).await;
        for categories in [None, Some(vec!["none".to_owned()])] {
            for _ in 0..8 {
                let rows = sqlx::query("SELECT * FROM agentos_read_all($1, 0, 500, $2, NULL)")
                    .bind(head + 1)
                    .bind(&categories)
                    .fetch_all(&mut *connection)
                    .await
                    .expect("read");
                assert_eq!(rows.len(), 1, "nothing to read: the horizon alone");
            }
        }
        assert_eq!(
            sequential_scans(&mut connection).await,
            before,
            "{mode}: agentos_read_all scans the log"
        );
    }
}

/// Sequential scans of the events table so far, this session's included.
async fn sequential_scans(connection: &mut sqlx::PgConnection) -> i64 {
    sqlx::raw_sql("SELECT pg_stat_force_next_flush()")
        .execute(&mut *connection)
        .await
        .expect("flush");
    sqlx::query_scalar("SELECT seq_scan FROM pg_stat_user_tables WHERE relid = 'events'::regclass")
        .fetch_one(&mut *connection)
        .await
        .expect("scans")
}

/// A store chains the hashes of a lone append itself when it knows the
/// stream's head (it wrote it last, or the stream is new); when another
/// store moved the head meanwhile, that chain is refused as stale and the
/// append is made unchained. Every chain verifies.
#[tokio::test]
async fn appends_chained_by_the_store_verify_and_a_stale_chain_is_sent_again_unchained() {
    let db = TestPostgres::new().await;
    let other = db.another_store().await;
    // More than 16 events: appends made alone, not in a lane's group.
    let s = stream("ledger");
    db.store
        .append(request(&s, ExpectedVersion::NoStream, 20))
        .await
        .expect("chained from the empty head");
    db.store
        .append(request(&s, ExpectedVersion::Any, 20))
        .await
        .expect("chained from the head it wrote");
    assert_eq!(db.store.stale_chains(), 0);
    other
        .append(request(&s, ExpectedVersion::Any, 20))
        .await
        .expect("the head moves behind the first store's back");
    let appended = db
        .store
        .append(request(&s, ExpectedVersion::Any, 20))
        .await
        .expect("sent again unchained");
    assert_eq!(
        db.store.stale_chains(),
        1,
        "the stale chain was refused once"
    );
    assert_eq!((appended.first_version, appended.last_version), (61, 80));
    db.store
        .append(request(&s, ExpectedVersion::Exact(80), 20))
        .await
        .expect("chained again");
    assert_eq!(db.store.stale_chains(), 1);
    let report = verify::verify_stream(&db.store, &s).await.expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 100);
}

/// What the database does with a chain a client sends: it stores that
/// chain when it was built on the stream's head (so a wrong one is there
/// for `verify` to find), refuses one built on another head as 'stale'
/// and writes nothing, and refuses one that does not fit its events.
#[tokio::test]
async fn the_database_takes_a_clients_chain_only_from_the_streams_head() {
    let db = TestPostgres::new().await;
    let call = |s: String, chained_from: i64, hashes: Vec<Vec<u8>>| {
        let pool = db.store.pool().clone();
        async move {
            sqlx::query(
                "SELECT out_status, out_head FROM agentos_append($1, 'ledger', -1, NULL, \
                 ARRAY[gen_random_uuid()], ARRAY['Posted'], ARRAY[1], ARRAY['{}'], NULL, '\\x00', \
                 gen_random_uuid(), NULL, 'system:test', now(), $2, $3)",
            )
            .bind(s)
            .bind(chained_from)
            .bind(hashes)
            .fetch_one(&pool)
            .await
            .map(|row| (row.get::<String, _>(0), row.get::<Option<Vec<u8>>, _>(1)))
        }
    };
    let zero = vec![0_u8; 32];
    let forged = vec![7_u8; 32];
    let s = stream("ledger");
    assert_eq!(
        call(s.to_string(), 3, vec![zero.clone(), forged.clone()])
            .await
            .expect("answered"),
        ("stale".to_owned(), None),
        "built on version 3 of a new stream"
    );
    assert_eq!(db.store.counts().await.expect("counts").events, 0);
    let error = call(s.to_string(), 0, vec![zero.clone()])
        .await
        .expect_err("one hash for one event is no chain");
    assert!(
        error
            .to_string()
            .contains("a chain of 1 hashes for 1 events"),
        "{error}"
    );
    assert_eq!(
        call(s.to_string(), 0, vec![zero, forged.clone()])
            .await
            .expect("answered"),
        ("appended".to_owned(), Some(forged))
    );
    let report = verify::verify_stream(&db.store, &s).await.expect("verify");
    assert!(!report.is_intact(), "a forged hash must not verify");
}
