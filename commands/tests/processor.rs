//! Event processors on both buses: the in-process bus over SQLite and
//! PostgreSQL, and JetStream fed by the relay (a nats-server of the test's
//! own, so it can be killed).
//!
//! The processor under test copies each `Happened` event of a `source`
//! stream into a `tally` stream with the same uuid. Its aggregate records
//! every command it is given, so a command handled twice would show as a
//! doubled entry; a tally out of order would show a broken sequence.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use commands::processor::{
    dead_letter_stream, Command, HandlerError, Processor, ProcessorConfig, ProcessorRunner,
    ProcessorStatus,
};
use domain::codec::EventSchema;
use domain::dead_letter::DeadLetterEvent;
use domain::{
    Actor, Aggregate, Category, CommandId, CorrelationId, DomainEvent, EventId, JsonText, Metadata,
    NewEvent, Position, RecordedEvent, Rejection, StreamId,
};
use eventstore::bus::jetstream::{JetStreamBus, StreamLayout};
use eventstore::bus::store::StoreBus;
use eventstore::bus::Bus;
use eventstore::postgres::{PgConfig, PgStore};
use eventstore::relay::{Relay, RelayConfig};
use eventstore::testing::{TestNats, TestPgServer, TestPostgres, TestSqlite};
use eventstore::{AppendRequest, Direction, EventStore, ExpectedVersion};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

// ---- the model: a tally of the source events seen ----

#[derive(Default)]
struct Tally;

#[derive(Debug, Clone)]
struct Record {
    version: u64,
    refuse: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
enum TallyEvent {
    Recorded { version: u64 },
}

impl DomainEvent for TallyEvent {
    const SCHEMAS: &'static [EventSchema] = &[EventSchema {
        event_type: "Recorded",
        version: 1,
        upcasters: &[],
    }];
}

#[derive(Debug, thiserror::Error)]
#[error("the tally refuses version {0}")]
struct Refused(u64);

impl Rejection for Refused {
    fn code(&self) -> &'static str {
        "tally.refused"
    }
}

impl Aggregate for Tally {
    const CATEGORY: &'static str = "tally";
    type Command = Record;
    type Event = TallyEvent;
    type Rejection = Refused;

    fn decide(&self, command: &Record) -> Result<Vec<TallyEvent>, Refused> {
        if command.refuse {
            return Err(Refused(command.version));
        }
        Ok(vec![TallyEvent::Recorded {
            version: command.version,
        }])
    }

    fn evolve(self, _: &TallyEvent) -> Self {
        self
    }
}

// ---- the processor ----

/// What a source event asks of the processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Kind {
    /// Tally it, and mirror it: two streams, appended together.
    Fine,
    /// Panic on it, every time.
    Poison,
    /// Mirror it, and send a command the tally refuses: neither is
    /// appended, since an event's effects commit together or not at all.
    Refuse,
    /// Send a command the tally refuses, saying a refusal is expected, then
    /// tally it.
    Tolerated,
}

struct Tallier {
    name: String,
}

#[async_trait]
impl Processor for Tallier {
    fn name(&self) -> &str {
        &self.name
    }

    fn filter(&self) -> eventstore::EventFilter {
        eventstore::EventFilter {
            categories: vec!["source".to_owned()],
            event_types: vec!["Happened".to_owned()],
        }
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        let kind: Kind = serde_json::from_str(event.payload.as_str())?;
        if kind == Kind::Poison {
            panic!("poisoned event {}", event.event_id);
        }
        let record = |refuse| {
            Command::new::<Tally>(
                tally_of(&event.stream_id),
                Record {
                    version: event.stream_version,
                    refuse,
                },
            )
        };
        let mirror = Command::new::<Tally>(
            mirror_of(&event.stream_id),
            Record {
                version: event.stream_version,
                refuse: false,
            },
        );
        Ok(match kind {
            // One stream twice: one by one.
            Kind::Tolerated => vec![record(true).refusal_expected(), record(false)],
            _ => vec![mirror, record(kind == Kind::Refuse)],
        })
    }
}

fn tally_of(source: &StreamId) -> StreamId {
    StreamId::new(&Category::new("tally").expect("valid"), source.id())
}

/// A second tally of the fine events, kept by the same commits as the first
/// (a category of its own would need an aggregate of its own; the stream's
/// id tells it apart).
fn mirror_of(source: &StreamId) -> StreamId {
    let id = source.id().as_u128() ^ 1;
    StreamId::new(&Category::new("tally").expect("valid"), Uuid::from_u128(id))
}

fn config() -> ProcessorConfig {
    ProcessorConfig {
        max_deliveries: 3,
        retry_base: Duration::from_millis(20),
        retry_max: Duration::from_millis(100),
        ack_wait: Duration::from_secs(5),
        reconnect_max: Duration::from_millis(500),
    }
}

fn spawn_processor(name: &str, bus: Arc<dyn Bus>, store: Arc<dyn EventStore>) -> JoinHandle<()> {
    spawn_watched(name, bus, store).0
}

/// A processor and its status.
fn spawn_watched(
    name: &str,
    bus: Arc<dyn Bus>,
    store: Arc<dyn EventStore>,
) -> (JoinHandle<()>, watch::Receiver<ProcessorStatus>) {
    let processor = Arc::new(Tallier {
        name: name.to_owned(),
    });
    let runner = ProcessorRunner::new(processor, bus, store, config());
    let status = runner.status();
    (tokio::spawn(runner.run()), status)
}

// ---- writing and checking ----

/// The events `write` appends: per stream, which versions get which kind.
#[derive(Clone)]
struct Script {
    streams: Vec<StreamId>,
    events_per_stream: u64,
    kinds: HashMap<(usize, u64), Kind>,
}

impl Script {
    fn new(streams: usize, events_per_stream: u64) -> Self {
        Self {
            streams: (0..streams)
                .map(|_| StreamId::new(&Category::new("source").expect("valid"), Uuid::now_v7()))
                .collect(),
            events_per_stream,
            kinds: HashMap::new(),
        }
    }

    fn with(mut self, stream: usize, version: u64, kind: Kind) -> Self {
        self.kinds.insert((stream, version), kind);
        self
    }

    fn kind(&self, stream: usize, version: u64) -> Kind {
        self.kinds
            .get(&(stream, version))
            .copied()
            .unwrap_or(Kind::Fine)
    }

    /// Appends every event, one append each, the streams written concurrently.
    async fn write(&self, store: Arc<dyn EventStore>, pause: Duration) {
        let mut writers = Vec::new();
        for (index, stream) in self.streams.iter().enumerate() {
            let (store, stream, script) = (Arc::clone(&store), stream.clone(), self.clone());
            writers.push(tokio::spawn(async move {
                for version in 1..=script.events_per_stream {
                    let kind = script.kind(index, version);
                    // Retried with the same command id through a database
                    // outage: an append that committed unseen is not doubled.
                    let command = CommandId::from_uuid(Uuid::now_v7());
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while let Err(error) = append(&*store, &stream, version, kind, command).await {
                        assert!(Instant::now() < deadline, "append kept failing: {error}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    tokio::time::sleep(pause).await;
                }
            }));
        }
        for writer in writers {
            writer.await.expect("writer");
        }
    }

    /// Waits until every tally holds exactly its stream's tallied versions, in
    /// order, each caused by its source event; and every poisoned or refused
    /// event is dead-lettered once.
    async fn expect_processed(&self, store: &dyn EventStore, processor: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let (done, report) = self.check(store, processor).await;
            if done {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not processed within {within:?}: {report}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn check(&self, store: &dyn EventStore, processor: &str) -> (bool, String) {
        for (index, stream) in self.streams.iter().enumerate() {
            let source = read(store, stream).await;
            // The mirror first: whatever it holds, the tally read after holds too.
            let mirror = read(store, &mirror_of(stream)).await;
            let tally = read(store, &tally_of(stream)).await;
            let expected: Vec<&RecordedEvent> = source
                .iter()
                .filter(|e| {
                    matches!(
                        self.kind(index, e.stream_version),
                        Kind::Fine | Kind::Tolerated
                    )
                })
                .collect();
            // Each recorded version and the event that caused it.
            let recorded = |events: &[RecordedEvent]| -> Vec<(u64, Option<Uuid>)> {
                events
                    .iter()
                    .map(|e| {
                        let TallyEvent::Recorded { version } =
                            TallyEvent::decode(e).expect("decode");
                        (version, e.metadata.causation_id)
                    })
                    .collect()
            };
            let got = recorded(&tally);
            let want: Vec<(u64, Option<Uuid>)> = expected
                .iter()
                .map(|e| (e.stream_version, Some(e.event_id.as_uuid())))
                .collect();
            // Never more, never out of order: a prefix while work is under way.
            assert!(
                want.starts_with(&got),
                "stream {index}: tally {got:?} is not a prefix of {want:?}"
            );
            let mirrored = recorded(&mirror);
            let fine_tallied: Vec<(u64, Option<Uuid>)> = got
                .iter()
                .filter(|(version, _)| self.kind(index, *version) == Kind::Fine)
                .copied()
                .collect();
            // Committed with the tally, never without it; the refused
            // event's mirror command never.
            assert!(
                fine_tallied.starts_with(&mirrored),
                "stream {index}: mirror {mirrored:?} is not within the tally {fine_tallied:?}"
            );
            if got.len() < want.len() || mirrored.len() < fine_tallied.len() {
                return (
                    false,
                    format!("stream {index}: {} of {}", got.len(), want.len()),
                );
            }
        }
        let letters = read(store, &dead_letter_stream(processor)).await;
        let wanted = self
            .kinds
            .values()
            .filter(|k| matches!(k, Kind::Poison | Kind::Refuse))
            .count();
        assert!(
            letters.len() <= wanted,
            "{} dead letters, {wanted} expected",
            letters.len()
        );
        if letters.len() < wanted {
            return (false, format!("{} of {wanted} dead letters", letters.len()));
        }
        for letter in &letters {
            let DeadLetterEvent::DeadLettered(letter) =
                DeadLetterEvent::decode(letter).expect("decode");
            let index = self
                .streams
                .iter()
                .position(|s| *s == letter.stream_id)
                .expect("a dead letter of a source stream");
            match self.kind(index, letter.stream_version) {
                Kind::Poison => {
                    assert_eq!(letter.deliveries, config().max_deliveries, "{letter:?}");
                    assert!(
                        letter.error.contains("panicked: poisoned event"),
                        "{letter:?}"
                    );
                }
                Kind::Refuse => {
                    assert_eq!(
                        letter.deliveries, 1,
                        "a rejection is not retried: {letter:?}"
                    );
                    assert!(letter.error.starts_with("tally.refused"), "{letter:?}");
                }
                Kind::Fine | Kind::Tolerated => {
                    panic!("a fine event was dead-lettered: {letter:?}")
                }
            }
        }
        (true, String::new())
    }
}

async fn append(
    store: &dyn EventStore,
    stream: &StreamId,
    version: u64,
    kind: Kind,
    command: CommandId,
) -> Result<(), eventstore::StoreError> {
    let payload = serde_json::to_string(&kind).expect("json");
    store
        .append(AppendRequest {
            stream: stream.clone(),
            expected: ExpectedVersion::Exact(version - 1),
            events: vec![NewEvent {
                event_id: EventId::from_uuid(Uuid::now_v7()),
                event_type: "Happened".to_owned(),
                schema_version: 1,
                payload: JsonText::parse(payload).expect("json"),
            }],
            metadata: Metadata {
                correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
                causation_id: None,
                command_id: Some(command),
                actor: Actor::System("test".to_owned()),
            },
        })
        .await
        .map(drop)
}

async fn read(store: &dyn EventStore, stream: &StreamId) -> Vec<RecordedEvent> {
    store
        .read_stream(stream, 1, Direction::Forward, 100_000)
        .await
        .expect("read")
}

fn poisoned_script() -> Script {
    Script::new(6, 25)
        .with(0, 5, Kind::Poison)
        .with(3, 1, Kind::Poison)
        .with(4, 10, Kind::Refuse)
        .with(5, 7, Kind::Tolerated)
}

// ---- the in-process bus ----

async fn embedded(store: Arc<dyn EventStore>) {
    let bus: Arc<dyn Bus> = Arc::new(StoreBus::new(Arc::clone(&store)));
    let script = poisoned_script();
    let first = spawn_processor("tallier", Arc::clone(&bus), Arc::clone(&store));
    // Stop the processor abruptly while events still arrive (25 per stream,
    // 10 ms apart) and start it again: it resumes.
    let writing = {
        let (script, store) = (script.clone(), Arc::clone(&store));
        tokio::spawn(async move { script.write(store, Duration::from_millis(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    first.abort();
    let _ = first.await;
    let (second, status) = spawn_watched("tallier", Arc::clone(&bus), Arc::clone(&store));
    writing.await.expect("writer");
    script
        .expect_processed(&*store, "tallier", Duration::from_secs(30))
        .await;
    second.abort();
    let status = status.borrow().clone();
    assert!(
        status.handled > 0 && status.lag_events.is_some(),
        "{status:?}"
    );
    let _ = second.await;
    // The consumer's saver stores its last position once the consumer is gone.
    tokio::time::sleep(eventstore::bus::store::SAVE_EVERY * 3).await;

    // Everything delivered a second time (as after a lost checkpoint): the
    // inbox of command ids makes the second handling change nothing.
    let end = store
        .consumer_checkpoint("tallier")
        .await
        .expect("checkpoint");
    store
        .save_consumer_checkpoint("tallier", Position::START)
        .await
        .expect("rewind");
    let third = spawn_processor("tallier", bus, Arc::clone(&store));
    let deadline = Instant::now() + Duration::from_secs(30);
    while store
        .consumer_checkpoint("tallier")
        .await
        .expect("checkpoint")
        < end
    {
        assert!(Instant::now() < deadline, "the replay did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    third.abort();
    let (done, report) = script.check(&*store, "tallier").await;
    assert!(done, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_bus_runs_processors_on_sqlite() {
    let db = TestSqlite::new().await;
    embedded(db.shared()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_bus_runs_processors_on_postgres() {
    let db = TestPostgres::new().await;
    embedded(db.shared()).await;
}

// ---- JetStream ----

struct Cluster {
    store: PgStore,
    nats: TestNats,
    client: async_nats::Client,
    layout: StreamLayout,
    relay: JoinHandle<()>,
}

impl Cluster {
    /// A relay on a fresh schema of the test database.
    async fn start() -> (Self, TestPostgres) {
        let db = TestPostgres::new().await;
        (Self::on(db.store.clone()).await, db)
    }

    /// A relay over `store`, publishing to a nats-server of its own.
    async fn on(store: PgStore) -> Self {
        let nats = TestNats::start().await;
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(&nats.url)
            .await
            .expect("connect to the test's nats-server");
        let layout = StreamLayout {
            stream: format!("P{}", fastrand::u64(..)),
            subject_prefix: format!("p{}", fastrand::u64(..)),
            partitions: 4,
            ..StreamLayout::default()
        };
        let relay = Relay::new(
            store.clone(),
            client.clone(),
            RelayConfig {
                layout: layout.clone(),
                max_backoff: Duration::from_millis(500),
                ack_timeout: Duration::from_secs(2),
                ..RelayConfig::default()
            },
        );
        let relay = tokio::spawn(relay.run());
        Self {
            store,
            nats,
            client,
            layout,
            relay,
        }
    }

    fn shared(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }

    fn bus(&self) -> Arc<dyn Bus> {
        Arc::new(JetStreamBus::new(self.client.clone(), self.layout.clone()))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

/// Two instances of one processor share the partitions; one is aborted
/// midway and its unsettled deliveries go to the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_processors_on_jetstream_keep_per_stream_order_and_dead_letter_poison() {
    let (cluster, _db) = Cluster::start().await;
    let store = cluster.shared();
    let script = poisoned_script();
    let (one, one_status) = spawn_watched("tallier", cluster.bus(), Arc::clone(&store));
    let (two, two_status) = spawn_watched("tallier", cluster.bus(), Arc::clone(&store));
    script
        .write(Arc::clone(&store), Duration::from_millis(2))
        .await;
    one.abort();
    script
        .expect_processed(&*store, "tallier", Duration::from_secs(60))
        .await;
    two.abort();
    // Both took part: the work was shared, not merely failed over.
    let handled = |s: &watch::Receiver<ProcessorStatus>| s.borrow().handled;
    let (by_one, by_two) = (handled(&one_status), handled(&two_status));
    assert!(
        by_one > 0 && by_two > 0,
        "one handled {by_one}, two {by_two}"
    );
}

/// NATS is killed for seconds while events are written and handled; the
/// relay and the processor resume by themselves and nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processors_ride_out_a_nats_outage() {
    let (mut cluster, _db) = Cluster::start().await;
    let store = cluster.shared();
    let script = Script::new(8, 40);
    let processor = spawn_processor("tallier", cluster.bus(), Arc::clone(&store));
    let writing = {
        let (script, store) = (script.clone(), Arc::clone(&store));
        tokio::spawn(async move { script.write(store, Duration::from_millis(100)).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.nats.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !writing.is_finished(),
        "the outage must fall while events are written"
    );
    cluster.nats.restart().await;
    writing.await.expect("writers");
    script
        .expect_processed(&*store, "tallier", Duration::from_secs(60))
        .await;
    processor.abort();
}

/// PostgreSQL stops abruptly (immediate shutdown, every connection cut) for
/// two seconds while events are written, relayed and handled; writers retry
/// with their command ids, and the relay and the processor reconnect by
/// themselves. Nothing is lost or doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processors_and_the_relay_ride_out_a_postgres_restart() {
    let server = TestPgServer::start().await;
    let mut config = PgConfig::new(&server.url);
    config.max_connections = 30;
    let store = PgStore::connect_with(config)
        .await
        .expect("connect to the test's PostgreSQL");
    let cluster = Cluster::on(store).await;
    let store = cluster.shared();
    let script = Script::new(8, 40);
    let processor = spawn_processor("tallier", cluster.bus(), Arc::clone(&store));
    let writing = {
        let (script, store) = (script.clone(), Arc::clone(&store));
        tokio::spawn(async move { script.write(store, Duration::from_millis(50)).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.crash();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !writing.is_finished(),
        "the restart must fall while events are written"
    );
    server.resume().await;
    writing.await.expect("writers");
    script
        .expect_processed(&*store, "tallier", Duration::from_secs(60))
        .await;
    processor.abort();
}

// ---- the stop switch ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stop_switch_halts_processors_until_lifted() {
    use commands::control::stop_switch;
    use commands::{CommandHandler, Envelope};
    use domain::control::{self, Control, ControlCommand, Switch};

    let db = TestSqlite::new().await;
    let store = db.shared();
    let handler = CommandHandler::new(Arc::clone(&store));
    let flip = |command: ControlCommand| {
        let handler = handler.clone();
        async move {
            handler
                .handle::<Control>(Envelope {
                    stream: control::stream_id(),
                    command,
                    command_id: CommandId::from_uuid(Uuid::now_v7()),
                    correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
                    causation_id: None,
                    actor: Actor::User("ceo".to_owned()),
                })
                .await
                .map_err(|e| e.to_string())
                .expect("flipped");
        }
    };
    let switch = |reason: &str| Switch {
        by: Actor::User("ceo".to_owned()),
        reason: reason.to_owned(),
        at: chrono::Utc::now(),
    };
    flip(ControlCommand::Engage(switch("incident"))).await;

    let (stop, follower) = stop_switch(Arc::clone(&store));
    let bus: Arc<dyn Bus> = Arc::new(StoreBus::new(Arc::clone(&store)));
    let processor = Arc::new(Tallier {
        name: "halted".to_owned(),
    });
    let runner =
        ProcessorRunner::new(processor, bus, Arc::clone(&store), config()).stopped_by(stop);
    let status = runner.status();
    let running = tokio::spawn(runner.run());
    let script = Script::new(2, 3);
    script.write(Arc::clone(&store), Duration::ZERO).await;

    // Held: nothing is tallied while the switch is engaged.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for stream in &script.streams {
        assert!(
            read(&*store, &tally_of(stream)).await.is_empty(),
            "tallied while stopped"
        );
    }
    assert!(status.borrow().halted, "{:?}", status.borrow());

    flip(ControlCommand::Lift(switch("resolved"))).await;
    script
        .expect_processed(&*store, "halted", Duration::from_secs(20))
        .await;
    assert!(!status.borrow().halted);
    running.abort();
    follower.abort();
}
