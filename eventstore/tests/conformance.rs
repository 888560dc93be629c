//! One suite, both back ends: every behaviour of the `EventStore` contract.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use common::{request, stream, with_command};
use domain::{CommandId, Position};
use eventstore::{
    verify, Direction, EventFilter, EventStore, ExpectedVersion, StoreError, Subscription,
};
use uuid::Uuid;

async fn streams_read_forward_and_backward_with_a_valid_chain(store: Arc<dyn EventStore>) {
    let s = stream("order");
    let appended = store
        .append(request(&s, ExpectedVersion::NoStream, 5))
        .await
        .expect("append");
    assert_eq!(
        (
            appended.first_version,
            appended.last_version,
            appended.duplicate
        ),
        (1, 5, false)
    );
    let forward = store
        .read_stream(&s, 2, Direction::Forward, 10)
        .await
        .expect("read");
    assert_eq!(
        forward.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        [2, 3, 4, 5]
    );
    assert_eq!(forward.last().map(|e| e.position), Some(appended.position));
    let backward = store
        .read_stream(&s, 4, Direction::Backward, 2)
        .await
        .expect("read");
    assert_eq!(
        backward
            .iter()
            .map(|e| e.stream_version)
            .collect::<Vec<_>>(),
        [4, 3]
    );
    assert_eq!(
        forward[0].prev_hash,
        store
            .read_stream(&s, 1, Direction::Forward, 1)
            .await
            .expect("read")[0]
            .hash
    );
    assert_eq!(
        forward[0].payload.as_str(),
        r#"{"n":1,"note":"é ✓"}"#,
        "payload text is kept exactly"
    );
    let head = store.stream_head(&s).await.expect("head").expect("exists");
    assert_eq!((head.version, head.hash), (5, forward[3].hash));
    let report = verify::verify_stream(&*store, &s).await.expect("verify");
    assert!(report.is_intact() && report.events == 5, "{report:?}");
    let missing = stream("order");
    assert!(store
        .read_stream(&missing, 1, Direction::Forward, 10)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(store.stream_head(&missing).await.expect("head"), None);
}

async fn expected_versions_are_enforced_with_the_actual_version(store: Arc<dyn EventStore>) {
    let s = stream("order");
    store
        .append(request(&s, ExpectedVersion::Exact(0), 2))
        .await
        .expect("exact 0 on a new stream");
    for expected in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(1),
        ExpectedVersion::Exact(3),
    ] {
        match store.append(request(&s, expected, 1)).await {
            Err(StoreError::WrongExpectedVersion {
                actual: 2,
                expected: e,
                ..
            }) => assert_eq!(e, expected),
            other => panic!("expected a conflict for {expected:?}, got {other:?}"),
        }
    }
    assert_eq!(
        store
            .append(request(&s, ExpectedVersion::Exact(2), 1))
            .await
            .expect("append")
            .last_version,
        3
    );
    assert_eq!(
        store
            .append(request(&s, ExpectedVersion::Any, 2))
            .await
            .expect("append")
            .last_version,
        5
    );
    assert_eq!(
        store.counts().await.expect("counts").events,
        5,
        "conflicts appended nothing"
    );
}

async fn a_command_id_appends_once_and_returns_the_first_result(store: Arc<dyn EventStore>) {
    let s = stream("order");
    let command = CommandId::from_uuid(Uuid::now_v7());
    let first = store
        .append(with_command(
            request(&s, ExpectedVersion::NoStream, 3),
            command,
        ))
        .await
        .expect("append");
    // Again, even with an expected version that would now conflict.
    let again = store
        .append(with_command(
            request(&s, ExpectedVersion::NoStream, 3),
            command,
        ))
        .await
        .expect("duplicate");
    assert!(again.duplicate);
    assert_eq!(
        (again.first_version, again.last_version, again.position),
        (1, 3, first.position)
    );
    assert_eq!(
        store
            .command_result(command)
            .await
            .expect("lookup")
            .map(|a| a.position),
        Some(first.position)
    );
    assert_eq!(store.counts().await.expect("counts").events, 3);
    match store
        .append(with_command(
            request(&stream("order"), ExpectedVersion::Any, 1),
            command,
        ))
        .await
    {
        Err(StoreError::CommandIdReused { first_stream, .. }) => assert_eq!(first_stream, s),
        other => panic!("expected CommandIdReused, got {other:?}"),
    }
    assert_eq!(
        store
            .command_result(CommandId::from_uuid(Uuid::now_v7()))
            .await
            .expect("lookup"),
        None
    );
}

async fn concurrent_appenders_take_each_version_exactly_once(store: Arc<dyn EventStore>) {
    const TASKS: usize = 32;
    const EACH: usize = 3;
    let s = stream("counter");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (store, s) = (store.clone(), s.clone());
        tasks.spawn(async move {
            let mut mine = Vec::new();
            let mut conflicts = 0;
            while mine.len() < EACH {
                let version = store
                    .stream_head(&s)
                    .await
                    .expect("head")
                    .map_or(0, |h| h.version);
                let req = request(&s, ExpectedVersion::Exact(version), 1);
                let id = req.events[0].event_id;
                match store.append(req).await {
                    Ok(done) => mine.push((id, done.last_version)),
                    Err(StoreError::WrongExpectedVersion { .. }) => conflicts += 1,
                    Err(e) => panic!("append failed: {e}"),
                }
            }
            (mine, conflicts)
        });
    }
    let mut claimed = Vec::new();
    while let Some(result) = tasks.join_next().await {
        claimed.extend(result.expect("task").0);
    }
    let events = store
        .read_stream(&s, 1, Direction::Forward, 1000)
        .await
        .expect("read");
    let versions: Vec<u64> = events.iter().map(|e| e.stream_version).collect();
    assert_eq!(
        versions,
        (1..=(TASKS * EACH) as u64).collect::<Vec<_>>(),
        "no gaps, no duplicates"
    );
    for (id, version) in claimed {
        assert_eq!(
            events[version as usize - 1].event_id,
            id,
            "version {version} belongs to its appender"
        );
    }
    assert!(verify::verify_stream(&*store, &s)
        .await
        .expect("verify")
        .is_intact());
}

async fn global_reads_page_in_order_and_filter(store: Arc<dyn EventStore>) {
    let (a, b) = (stream("alpha"), stream("beta"));
    for i in 0..6 {
        let s = if i % 2 == 0 { &a } else { &b };
        store
            .append(request(s, ExpectedVersion::Any, 2))
            .await
            .expect("append");
    }
    let mut seen = Vec::new();
    let mut after = Position::START;
    loop {
        let batch = store
            .read_all(after, 5, &EventFilter::all())
            .await
            .expect("read");
        assert!(batch.next >= after, "checkpoints never go back");
        after = batch.next;
        if batch.events.is_empty() {
            break;
        }
        seen.extend(batch.events);
    }
    assert_eq!(seen.len(), 12);
    assert!(
        seen.windows(2).all(|w| w[0].position < w[1].position),
        "global order"
    );
    let only_beta = EventFilter {
        categories: vec!["beta".into()],
        event_types: vec![],
    };
    let batch = store
        .read_all(Position::START, 100, &only_beta)
        .await
        .expect("read");
    assert_eq!(batch.events.len(), 6);
    assert!(batch.events.iter().all(|e| e.stream_id == b));
    let typed = EventFilter {
        categories: vec!["alpha".into()],
        event_types: vec!["ThingHappened".into()],
    };
    let batch = store
        .read_all(Position::START, 100, &typed)
        .await
        .expect("read");
    assert_eq!(batch.events.len(), 3);
    let again = store
        .read_all(batch.next, 100, &EventFilter::all())
        .await
        .expect("read");
    assert!(again.events.is_empty(), "nothing after the end");

    // Counting what lies after a position, for lag reports.
    let count = |after, filter| {
        let store = Arc::clone(&store);
        async move {
            store
                .count_after(after, &filter, 1000)
                .await
                .expect("count")
        }
    };
    assert_eq!(count(Position::START, EventFilter::all()).await, 12);
    assert_eq!(count(seen[4].position, EventFilter::all()).await, 7);
    assert_eq!(count(Position::START, only_beta.clone()).await, 6);
    assert_eq!(count(Position::START, typed.clone()).await, 3);
    assert_eq!(count(seen[11].position, EventFilter::all()).await, 0);
    assert_eq!(
        store
            .count_after(Position::START, &EventFilter::all(), 5)
            .await
            .expect("count"),
        5,
        "the count stops at its cap"
    );
}

async fn a_subscription_catches_up_then_follows_live(store: Arc<dyn EventStore>) {
    let s = stream("live");
    store
        .append(request(&s, ExpectedVersion::Any, 7))
        .await
        .expect("append");
    let mut subscription =
        Subscription::new(store.clone(), Position::START, EventFilter::all()).with_batch_size(3);
    for version in 1..=7 {
        let event = subscription
            .next_within(Duration::from_secs(5))
            .await
            .expect("read")
            .expect("caught up");
        assert_eq!(event.stream_version, version);
    }
    assert_eq!(
        subscription
            .next_within(Duration::from_millis(100))
            .await
            .expect("read"),
        None
    );
    let writer = {
        let (store, s) = (store.clone(), s.clone());
        tokio::spawn(async move {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                store
                    .append(request(&s, ExpectedVersion::Any, 1))
                    .await
                    .expect("append");
            }
        })
    };
    for version in 8..=12 {
        // Live events arrive on the change signal, well within the quiet re-check.
        let event = subscription
            .next_within(Duration::from_secs(3))
            .await
            .expect("read")
            .expect("live event");
        assert_eq!(event.stream_version, version);
    }
    writer.await.expect("writer");
    // A new subscription from the stored checkpoint sees nothing twice.
    let mut resumed =
        Subscription::new(store.clone(), subscription.checkpoint(), EventFilter::all());
    assert_eq!(
        resumed
            .next_within(Duration::from_millis(100))
            .await
            .expect("read"),
        None
    );

    // Batches: everything read so far at once, with the checkpoint after it.
    let mut batched =
        Subscription::new(store.clone(), Position::START, EventFilter::all()).with_batch_size(5);
    let mut versions = Vec::new();
    while versions.len() < 12 {
        let (batch, after) = batched.next_batch().await.expect("batch");
        assert!(!batch.is_empty() && batch.len() <= 5, "{}", batch.len());
        assert_eq!(after, batched.checkpoint());
        assert!(batch.iter().all(|e| e.position <= after));
        versions.extend(batch.iter().map(|e| e.stream_version));
    }
    assert_eq!(versions, (1..=12).collect::<Vec<_>>());
    let mut after_batches =
        Subscription::new(store.clone(), batched.checkpoint(), EventFilter::all());
    assert_eq!(
        after_batches
            .next_within(Duration::from_millis(100))
            .await
            .expect("read"),
        None,
        "the batch checkpoint is after the last event"
    );
}

async fn bad_appends_are_refused_and_store_nothing(store: Arc<dyn EventStore>) {
    let s = stream("order");
    assert!(matches!(
        store.append(request(&s, ExpectedVersion::Any, 0)).await,
        Err(StoreError::InvalidAppend(_))
    ));
    let first = request(&s, ExpectedVersion::Any, 2);
    store.append(first.clone()).await.expect("append");
    let mut reused = request(&stream("order"), ExpectedVersion::Any, 2);
    reused.events[1].event_id = first.events[0].event_id;
    assert!(matches!(
        store.append(reused).await,
        Err(StoreError::InvalidAppend(_))
    ));
    let mut zero = request(&s, ExpectedVersion::Any, 1);
    zero.events[0].schema_version = 0;
    assert!(matches!(
        store.append(zero).await,
        Err(StoreError::InvalidAppend(_))
    ));
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.events, counts.streams), (2, 1));
}

async fn verification_walks_every_stream(store: Arc<dyn EventStore>) {
    let mut expected = 0;
    let mut streams = HashSet::new();
    for i in 0..40 {
        let s = stream(if i % 3 == 0 { "alpha" } else { "beta" });
        store
            .append(request(&s, ExpectedVersion::Any, 1 + i % 4))
            .await
            .expect("append");
        expected += 1 + i % 4;
        streams.insert(s);
    }
    let mut calls = 0;
    let report = verify::verify_all(&*store, |_| calls += 1)
        .await
        .expect("verify");
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.streams, report.events), (40, expected as u64));
    assert!(calls > 0);
}

/// Several streams in one transaction: all of it or none of it.
async fn appends_to_several_streams_commit_together_or_not_at_all(store: Arc<dyn EventStore>) {
    assert_eq!(store.append_all(Vec::new()).await.expect("nothing"), []);
    let (a, b) = (stream("order"), stream("task"));
    let answers = store
        .append_all(vec![
            request(&a, ExpectedVersion::NoStream, 2),
            request(&b, ExpectedVersion::NoStream, 1),
            // The same stream again: after the first request.
            request(&a, ExpectedVersion::Exact(2), 1),
        ])
        .await
        .expect("appended");
    let versions: Vec<_> = answers
        .iter()
        .map(|x| {
            (
                x.stream.clone(),
                x.first_version,
                x.last_version,
                x.duplicate,
            )
        })
        .collect();
    assert_eq!(
        versions,
        [
            (a.clone(), 1, 2, false),
            (b.clone(), 1, 1, false),
            (a.clone(), 3, 3, false)
        ],
        "answers in request order"
    );
    assert_eq!(store.counts().await.expect("counts").events, 4);

    // A conflict on one stream: the other stream is not created either
    // (its category sorts first, so it is appended before the conflict).
    let c = stream("audit");
    match store
        .append_all(vec![
            request(&c, ExpectedVersion::NoStream, 1),
            request(&a, ExpectedVersion::Exact(0), 1),
        ])
        .await
    {
        Err(StoreError::WrongExpectedVersion { stream, actual, .. }) => {
            assert_eq!((stream, actual), (a.clone(), 3));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        store.stream_head(&c).await.expect("head"),
        None,
        "none of it"
    );
    // A malformed request: nothing of the others either.
    match store
        .append_all(vec![
            request(&c, ExpectedVersion::NoStream, 1),
            request(&b, ExpectedVersion::Any, 0),
        ])
        .await
    {
        Err(StoreError::InvalidAppend(_)) => {}
        other => panic!("expected an invalid append, got {other:?}"),
    }
    assert_eq!(store.counts().await.expect("counts").events, 4);

    // Command ids: a second time, each answers its first result; a seen
    // one beside a new one appends only the new one.
    let (x, y) = (
        CommandId::from_uuid(Uuid::now_v7()),
        CommandId::from_uuid(Uuid::now_v7()),
    );
    let commands = |c: &domain::StreamId| {
        vec![
            with_command(request(&b, ExpectedVersion::Exact(1), 1), x),
            with_command(request(c, ExpectedVersion::NoStream, 2), y),
        ]
    };
    let first = store.append_all(commands(&c)).await.expect("appended");
    let again = store.append_all(commands(&c)).await.expect("duplicates");
    assert!(again.iter().all(|x| x.duplicate), "{again:?}");
    assert_eq!(
        again.iter().map(|x| x.position).collect::<Vec<_>>(),
        first.iter().map(|x| x.position).collect::<Vec<_>>()
    );
    let d = stream("task");
    let mixed = store
        .append_all(vec![
            with_command(request(&b, ExpectedVersion::Exact(1), 1), x),
            request(&d, ExpectedVersion::NoStream, 1),
        ])
        .await
        .expect("appended");
    assert_eq!(
        mixed.iter().map(|x| x.duplicate).collect::<Vec<_>>(),
        [true, false]
    );
    assert_eq!(store.counts().await.expect("counts").events, 8);
    assert!(verify::verify_all(&*store, |_| {})
        .await
        .expect("verify")
        .is_intact());
}

/// Writers that each append to two of a few shared streams at once, taking
/// them in either order: none waits forever, and each writer's pair is in
/// the log whole, its two events side by side in the global order.
async fn concurrent_multi_stream_appends_finish_whole(store: Arc<dyn EventStore>) {
    const WRITERS: usize = 8;
    const EACH: usize = 12;
    let streams: Vec<_> = (0..4).map(|_| stream("shared")).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        let (store, streams) = (store.clone(), streams.clone());
        tasks.spawn(async move {
            let mut pairs = Vec::new();
            for n in 0..EACH {
                let (i, j) = (fastrand::usize(0..4), fastrand::usize(0..4));
                let j = if i == j { (j + 1) % 4 } else { j };
                let mut first = request(&streams[i], ExpectedVersion::Any, 1);
                let mut second = request(&streams[j], ExpectedVersion::Any, 1);
                first.events[0].payload =
                    domain::JsonText::trusted(format!(r#"{{"w":{writer},"n":{n}}}"#));
                second.events[0].payload = first.events[0].payload.clone();
                let ids = (first.events[0].event_id, second.events[0].event_id);
                store
                    .append_all(vec![first, second])
                    .await
                    .expect("appended");
                pairs.push(ids);
            }
            pairs
        });
    }
    let pairs = tokio::time::timeout(Duration::from_secs(60), async {
        let mut pairs = Vec::new();
        while let Some(done) = tasks.join_next().await {
            pairs.extend(done.expect("writer"));
        }
        pairs
    })
    .await
    .expect("no writer waits forever");
    let log = eventstore::read_to_end(&*store, &EventFilter::all())
        .await
        .expect("read");
    assert_eq!(log.len(), WRITERS * EACH * 2);
    let at: std::collections::HashMap<_, _> = log
        .iter()
        .enumerate()
        .map(|(i, e)| (e.event_id, i))
        .collect();
    for (first, second) in pairs {
        assert_eq!(
            at[&first].abs_diff(at[&second]),
            1,
            "one transaction's events are side by side"
        );
    }
    for s in &streams {
        let versions: Vec<u64> = store
            .read_stream(s, 1, Direction::Forward, 1000)
            .await
            .expect("read")
            .iter()
            .map(|e| e.stream_version)
            .collect();
        assert_eq!(versions, (1..=versions.len() as u64).collect::<Vec<_>>());
    }
    assert!(verify::verify_all(&*store, |_| {})
        .await
        .expect("verify")
        .is_intact());
}

macro_rules! conformance {
    ($backend:ident, $fixture:path) => {
        mod $backend {
            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let fixture = <$fixture>::new().await;
                        super::$name(fixture.shared()).await;
                    }
                };
            }

            case!(streams_read_forward_and_backward_with_a_valid_chain);
            case!(expected_versions_are_enforced_with_the_actual_version);
            case!(a_command_id_appends_once_and_returns_the_first_result);
            case!(concurrent_appenders_take_each_version_exactly_once);
            case!(global_reads_page_in_order_and_filter);
            case!(a_subscription_catches_up_then_follows_live);
            case!(bad_appends_are_refused_and_store_nothing);
            case!(verification_walks_every_stream);
            case!(appends_to_several_streams_commit_together_or_not_at_all);
            case!(concurrent_multi_stream_appends_finish_whole);
        }
    };
}

conformance!(postgres, eventstore::testing::TestPostgres);
conformance!(sqlite, eventstore::testing::TestSqlite);
