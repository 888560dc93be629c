//! The relay to NATS JetStream, against real PostgreSQL and a nats-server
//! (2.10 or later) each test starts on a free port so it can kill it.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use domain::RecordedEvent;
use eventstore::bus::jetstream::StreamLayout;
use eventstore::postgres::PgStore;
use eventstore::relay::{self, headers, Relay, RelayConfig, RelayState, RelayStatus};
use eventstore::testing::{TestNats, TestPostgres};
use eventstore::{EventFilter, EventStore, ExpectedVersion};
use tokio::sync::watch;
use tokio::task::JoinHandle;

fn config(name: &str) -> RelayConfig {
    RelayConfig {
        name: name.to_owned(),
        // One stream per test: tests share nothing, even on one server.
        layout: StreamLayout {
            stream: format!("T{}", fastrand::u64(..)),
            subject_prefix: format!("t{}", fastrand::u64(..)),
            ..StreamLayout::default()
        },
        max_backoff: Duration::from_millis(500),
        ack_timeout: Duration::from_secs(2),
        ..RelayConfig::default()
    }
}

async fn connect(nats: &TestNats) -> async_nats::Client {
    async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(&nats.url)
        .await
        .expect("connect to the test's nats-server")
}

fn spawn_relay(
    store: &PgStore,
    client: &async_nats::Client,
    config: &RelayConfig,
) -> (JoinHandle<()>, watch::Receiver<RelayStatus>) {
    let relay = Relay::new(store.clone(), client.clone(), config.clone());
    let status = relay.status();
    (tokio::spawn(relay.run()), status)
}

/// Every event in the store, in global order.
async fn all_events(store: &PgStore) -> Vec<RecordedEvent> {
    eventstore::read_to_end(store, &EventFilter::all())
        .await
        .expect("read")
}

/// Waits until the relay's stored checkpoint covers every event in the store.
async fn wait_caught_up(store: &PgStore, config: &RelayConfig, within: Duration) {
    let deadline = Instant::now() + within;
    let last = all_events(store).await.last().map(|e| e.position);
    loop {
        let checkpoint = relay::checkpoint(store, &config.name)
            .await
            .expect("checkpoint");
        if last.is_none_or(|last| checkpoint >= last) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the relay did not catch up within {within:?}: checkpoint {checkpoint}, head {last:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything the JetStream stream holds, in stream order.
async fn stream_contents(client: &async_nats::Client, config: &RelayConfig) -> Vec<RecordedEvent> {
    let context = jetstream::new(client.clone());
    let mut stream = context
        .get_stream(&config.layout.stream)
        .await
        .expect("stream");
    let state = stream.info().await.expect("info").state.clone();
    let mut events = Vec::new();
    let mut partitions = std::collections::HashMap::new();
    for sequence in state.first_sequence..=state.last_sequence {
        if state.messages == 0 {
            break;
        }
        let message = stream.get_raw_message(sequence).await.expect("message");
        let event = relay::decode_message(&message.payload).expect("a relayed event");
        // Stored under the published subject plus its stream's partition.
        let published = config.layout.subject(&event);
        let partition = message
            .subject
            .strip_prefix(&format!("{published}."))
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("{} is not {published}.<partition>", message.subject));
        assert!(partition < config.layout.partitions);
        let first = *partitions
            .entry(event.stream_id.clone())
            .or_insert(partition);
        assert_eq!(
            first, partition,
            "stream {} split over partitions",
            event.stream_id
        );
        let id = message.headers.get("Nats-Msg-Id").expect("a message id");
        assert_eq!(id.as_str(), event.event_id.to_string());
        events.push(event);
    }
    events
}

/// The stream holds each stored event exactly once, each stream's events in version order.
fn assert_exactly_once_in_order(stored: &[RecordedEvent], relayed: &[RecordedEvent]) {
    let mut seen = HashSet::new();
    for event in relayed {
        assert!(
            seen.insert(event.event_id),
            "event {} relayed twice",
            event.event_id
        );
    }
    let stored_ids: HashSet<_> = stored.iter().map(|e| e.event_id).collect();
    let missing: Vec<String> = stored
        .iter()
        .filter(|e| !seen.contains(&e.event_id))
        .map(|e| {
            format!(
                "{} at {} ({} v{})",
                e.event_id, e.position, e.stream_id, e.stream_version
            )
        })
        .collect();
    let extra: Vec<String> = relayed
        .iter()
        .filter(|e| !stored_ids.contains(&e.event_id))
        .map(|e| format!("{} at {}", e.event_id, e.position))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "the stream and the store hold different events: {} stored, {} relayed; \
         missing from the stream {missing:?}; not in the store {extra:?}",
        stored.len(),
        relayed.len()
    );
    let mut versions: HashMap<&str, u64> = HashMap::new();
    for event in relayed {
        let last = versions.entry(event.stream_id.as_str()).or_insert(0);
        assert_eq!(
            event.stream_version,
            *last + 1,
            "stream {} out of order in JetStream",
            event.stream_id
        );
        *last = event.stream_version;
    }
    // And the relayed copy is the stored event, hash and all.
    let by_id: HashMap<_, _> = stored.iter().map(|e| (e.event_id, e)).collect();
    for event in relayed {
        assert_eq!(Some(&event), by_id.get(&event.event_id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_published_once_in_commit_order_with_its_headers() {
    let pg = TestPostgres::new().await;
    let nats = TestNats::start().await;
    let client = connect(&nats).await;
    let config = config("headers");
    for i in 0..20 {
        let stream = common::stream(if i % 2 == 0 { "order" } else { "invoice" });
        pg.store
            .append(common::request(
                &stream,
                ExpectedVersion::NoStream,
                1 + i % 4,
            ))
            .await
            .expect("append");
    }
    let (task, _) = spawn_relay(&pg.store, &client, &config);
    wait_caught_up(&pg.store, &config, Duration::from_secs(20)).await;
    let stored = all_events(&pg.store).await;
    let relayed = stream_contents(&client, &config).await;
    assert_exactly_once_in_order(&stored, &relayed);
    // One relay publishes in the store's global order.
    let positions: Vec<_> = relayed.iter().map(|e| e.position).collect();
    let expected: Vec<_> = stored.iter().map(|e| e.position).collect();
    assert_eq!(positions, expected);

    let context = jetstream::new(client.clone());
    let stream = context
        .get_stream(&config.layout.stream)
        .await
        .expect("stream");
    let first = stream.get_raw_message(1).await.expect("the first message");
    let event = &stored[0];
    let header = |name: &str| first.headers.get(name).map(|v| v.as_str().to_owned());
    assert_eq!(header(headers::EVENT_TYPE), Some(event.event_type.clone()));
    assert_eq!(header(headers::SCHEMA_VERSION), Some("1".to_owned()));
    assert_eq!(header(headers::POSITION), Some(event.position.to_string()));
    assert_eq!(
        header(headers::CORRELATION_ID),
        Some(event.metadata.correlation_id.to_string())
    );
    let info = context
        .get_stream(&config.layout.stream)
        .await
        .expect("stream")
        .info()
        .await
        .expect("info")
        .config
        .clone();
    assert_eq!(info.duplicate_window, config.layout.duplicate_window);
    assert_eq!(info.storage, jetstream::stream::StorageType::File);
    assert_eq!(
        info.subject_transform,
        Some(config.layout.subject_transform())
    );
    task.abort();
}

/// Ten writers append while the relay is aborted (not shut down) 20 times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_aborted_twenty_times_under_load_loses_and_duplicates_nothing() {
    let pg = TestPostgres::new().await;
    let nats = TestNats::start().await;
    let client = connect(&nats).await;
    let config = RelayConfig {
        // A small window, so aborts land with publishes in flight.
        max_in_flight: 64,
        checkpoint_interval: Duration::from_millis(30),
        ..config("aborted")
    };
    let writing = Arc::new(AtomicBool::new(true));
    let mut writers = Vec::new();
    for w in 0..10 {
        let store = pg.store.clone();
        let writing = writing.clone();
        writers.push(tokio::spawn(async move {
            let streams: Vec<_> = (0..3).map(|_| common::stream(&format!("w{w}"))).collect();
            let mut appended = 0_u64;
            while writing.load(Ordering::Relaxed) {
                let stream = &streams[fastrand::usize(..streams.len())];
                let events = 1 + fastrand::usize(..3);
                store
                    .append(common::request(stream, ExpectedVersion::Any, events))
                    .await
                    .expect("append");
                appended += events as u64;
            }
            appended
        }));
    }
    // Each relay has a connection of its own, gone with it, as in a crash.
    let (mut task, _) = spawn_relay(&pg.store, &connect(&nats).await, &config);
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50 + fastrand::u64(..150))).await;
        task.abort();
        let _ = task.await;
        (task, _) = spawn_relay(&pg.store, &connect(&nats).await, &config);
    }
    writing.store(false, Ordering::Relaxed);
    let mut appended = 0;
    for writer in writers {
        appended += writer.await.expect("writer");
    }
    wait_caught_up(&pg.store, &config, Duration::from_secs(30)).await;
    task.abort();
    let stored = all_events(&pg.store).await;
    assert_eq!(stored.len() as u64, appended);
    let relayed = stream_contents(&client, &config).await;
    assert_exactly_once_in_order(&stored, &relayed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_relay_takes_over_within_seconds_when_the_active_one_dies() {
    let pg = TestPostgres::new().await;
    let nats = TestNats::start().await;
    let client = connect(&nats).await;
    let config = config("standby");
    let (first, mut first_status) = spawn_relay(&pg.store, &client, &config);
    wait_for_state(&mut first_status, RelayState::Active).await;
    let (second, mut second_status) = spawn_relay(&pg.store, &client, &config);
    wait_for_state(&mut second_status, RelayState::Standby).await;

    let stream = common::stream("standby");
    pg.store
        .append(common::request(&stream, ExpectedVersion::NoStream, 3))
        .await
        .expect("append");
    wait_caught_up(&pg.store, &config, Duration::from_secs(10)).await;
    assert_eq!(second_status.borrow().state, RelayState::Standby);

    first.abort();
    let died = Instant::now();
    wait_for_state(&mut second_status, RelayState::Active).await;
    let took = died.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "the standby took {took:?} to take over"
    );
    pg.store
        .append(common::request(&stream, ExpectedVersion::Exact(3), 2))
        .await
        .expect("append");
    wait_caught_up(&pg.store, &config, Duration::from_secs(10)).await;
    let relayed = stream_contents(&client, &config).await;
    assert_exactly_once_in_order(&all_events(&pg.store).await, &relayed);
    second.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_down_for_seconds_under_load_is_ridden_out_and_nothing_is_lost() {
    let pg = TestPostgres::new().await;
    let mut nats = TestNats::start().await;
    let client = connect(&nats).await;
    let config = config("outage");
    let (task, mut status) = spawn_relay(&pg.store, &client, &config);
    wait_for_state(&mut status, RelayState::Active).await;

    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let store = pg.store.clone();
        let writing = writing.clone();
        tokio::spawn(async move {
            let stream = common::stream("outage");
            let mut version = 0;
            while writing.load(Ordering::Relaxed) {
                store
                    .append(common::request(&stream, ExpectedVersion::Exact(version), 1))
                    .await
                    .expect("append");
                version += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            version
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    nats.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    nats.restart().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    writing.store(false, Ordering::Relaxed);
    let appended = writer.await.expect("writer");
    wait_caught_up(&pg.store, &config, Duration::from_secs(30)).await;
    assert_eq!(status.borrow().state, RelayState::Active);
    let stored = all_events(&pg.store).await;
    assert_eq!(stored.len() as u64, appended);
    let relayed = stream_contents(&client, &config).await;
    assert_exactly_once_in_order(&stored, &relayed);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relays_of_logs_in_two_schemas_of_one_database_do_not_wait_for_each_other() {
    let (one, two) = (TestPostgres::new().await, TestPostgres::new().await);
    let nats = TestNats::start().await;
    let client = connect(&nats).await;
    let (first, mut first_status) = spawn_relay(&one.store, &client, &config("same-name"));
    wait_for_state(&mut first_status, RelayState::Active).await;
    let (second, mut second_status) = spawn_relay(&two.store, &client, &config("same-name"));
    wait_for_state(&mut second_status, RelayState::Active).await;
    first.abort();
    second.abort();
}

async fn wait_for_state(status: &mut watch::Receiver<RelayStatus>, state: RelayState) {
    let wanted = state.clone();
    tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(move |s| s.state == wanted),
    )
    .await
    .unwrap_or_else(|_| panic!("the relay did not become {state:?} within 10 s"))
    .expect("the relay's status");
}
