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

async fn appends_committed_together_are_refused_or_kept_one_by_one(store: Arc<dyn EventStore>) {
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
            .read_stream(s, 1, Direction::Forward, 10)
            .await
            .expect("read");
        assert_eq!(events.len(), 2, "{s}");
    }
    let report = verify::verify_all(&*store, |_| ()).await.expect("verify");
    assert!(report.is_intact());
}

async fn an_append_whose_write_fails_in_a_group_takes_none_of_the_others_down(
    store: Arc<dyn EventStore>,
) {
    let taken = store
        .append(request(&stream("first"), ExpectedVersion::Any, 1))
        .await
        .expect("append");
    let taken_id = store
        .read_stream(&taken.stream, 1, Direction::Forward, 1)
        .await
        .expect("read")[0]
        .event_id;
    // An append whose insert fails in a group (its second event's id is
    // stored already) must fail alone, its first event not kept, while the
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
                    .read_stream(&s, 1, Direction::Forward, 10)
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

async fn command_ids_in_groups_append_once(store: Arc<dyn EventStore>) {
    // Concurrent appends with command ids land in shared groups: each
    // command id sent three times at once to its stream appends once (the
    // others are duplicates with the same answer), and sent to a second
    // stream is refused as reused, naming the first.
    let mut appenders = tokio::task::JoinSet::new();
    let mut commands = Vec::new();
    for _ in 0..40 {
        let (s, command) = (stream("commanded"), CommandId::from_uuid(Uuid::now_v7()));
        commands.push((s.clone(), command));
        for copy in 0..3 {
            let store = Arc::clone(&store);
            let append = with_command(request(&s, ExpectedVersion::NoStream, 2), command);
            appenders.spawn(async move { (command, copy, store.append(append).await) });
        }
    }
    let mut answers: std::collections::HashMap<CommandId, Vec<eventstore::Appended>> =
        std::collections::HashMap::new();
    while let Some(done) = appenders.join_next().await {
        let (command, copy, result) = done.expect("appender");
        let appended = result.unwrap_or_else(|e| panic!("{command} copy {copy}: {e:?}"));
        answers.entry(command).or_default().push(appended);
    }
    for (s, command) in &commands {
        let answers = &answers[command];
        assert_eq!(
            answers.iter().filter(|a| !a.duplicate).count(),
            1,
            "{command}"
        );
        for a in answers {
            assert_eq!(
                (&a.stream, a.first_version, a.last_version, a.position),
                (s, 1, 2, answers[0].position)
            );
        }
    }
    assert_eq!(store.counts().await.expect("counts").events, 80);
    let mut reusers = tokio::task::JoinSet::new();
    for (s, command) in commands.clone() {
        let store = Arc::clone(&store);
        let append = with_command(request(&stream("other"), ExpectedVersion::Any, 1), command);
        reusers.spawn(async move { (s, store.append(append).await) });
    }
    while let Some(done) = reusers.join_next().await {
        match done.expect("reuser") {
            (s, Err(StoreError::CommandIdReused { first_stream, .. })) => {
                assert_eq!(first_stream, s)
            }
            (_, other) => panic!("expected CommandIdReused, got {other:?}"),
        }
    }
    assert_eq!(store.counts().await.expect("counts").events, 80);
    let report = verify::verify_all(&*store, |_| ()).await.expect("verify");
    assert!(report.is_intact());
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
            case!(appends_committed_together_are_refused_or_kept_one_by_one);
            case!(an_append_whose_write_fails_in_a_group_takes_none_of_the_others_down);
            case!(command_ids_in_groups_append_once);
        }
    };
}

conformance!(postgres, eventstore::testing::TestPostgres);
conformance!(sqlite, eventstore::testing::TestSqlite);
