//! `agentos bench bus`: latency from an append's commit to a processor's
//! handler (store → relay → JetStream → partitioned pull consumer → handler),
//! beside the same path without the store and the relay: a raw JetStream
//! publish, acknowledged, to the same processor runner.
//!
//! Events are written at a steady rate (one append per millisecond, carrying
//! `rate / 1000` events) to 64 streams; each event's latency is the time
//! from its append returning (its commit) to its arrival in the handler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream;
use async_trait::async_trait;
use commands::processor::{
    Command, HandlerError, Processor, ProcessorConfig, ProcessorRunner, ProcessorStatus,
};
use domain::{EventId, RecordedEvent, StreamId};
use eventstore::bus::jetstream::{JetStreamBus, StreamLayout};
use eventstore::bus::Bus;
use eventstore::postgres::PgStore;
use eventstore::relay::{Relay, RelayConfig};
use eventstore::{AppendRequest, EventFilter, EventStore, ExpectedVersion};
use uuid::Uuid;

use super::{bench_metadata, bench_stream, new_events, paced, percentiles, Latency};

/// Streams written round robin.
const STREAMS: usize = 64;

/// When each event committed and when it reached the handler.
#[derive(Default)]
struct Clock {
    sent: Mutex<HashMap<EventId, Instant>>,
    arrived: Mutex<HashMap<EventId, Instant>>,
}

impl Clock {
    fn sent(&self, ids: impl IntoIterator<Item = EventId>, at: Instant) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.extend(ids.into_iter().map(|id| (id, at)));
        }
    }

    /// How many of the events sent have arrived, of how many.
    fn progress(&self) -> (usize, usize) {
        let (Ok(sent), Ok(arrived)) = (self.sent.lock(), self.arrived.lock()) else {
            return (0, 0);
        };
        let got = sent.keys().filter(|id| arrived.contains_key(id)).count();
        (got, sent.len())
    }

    /// (p50, p99) in milliseconds over the events both sent and arrived.
    fn percentiles(&self) -> anyhow::Result<(f64, f64, usize)> {
        let sent = self.sent.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let arrived = self
            .arrived
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        let mut latencies: Vec<f64> = sent
            .iter()
            .filter_map(|(id, at)| {
                arrived
                    .get(id)
                    .map(|got| got.saturating_duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect();
        anyhow::ensure!(
            !latencies.is_empty() && latencies.len() == sent.len(),
            "only {} of {} events reached the processor within a minute",
            latencies.len(),
            sent.len()
        );
        let (p50, p99) = percentiles(&mut latencies);
        Ok((p50, p99, latencies.len()))
    }
}

/// A processor that only notes when each event arrives.
struct Probe {
    clock: Arc<Clock>,
    category: String,
}

#[async_trait]
impl Processor for Probe {
    fn name(&self) -> &str {
        "e2e_probe"
    }

    fn filter(&self) -> EventFilter {
        EventFilter {
            categories: vec![self.category.clone()],
            event_types: Vec::new(),
        }
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        let now = Instant::now();
        if let Ok(mut arrived) = self.clock.arrived.lock() {
            arrived.insert(event.event_id, now);
        }
        Ok(Vec::new())
    }
}

pub async fn measure(
    store: &PgStore,
    nats_url: &str,
    seconds: f64,
) -> anyhow::Result<Vec<Latency>> {
    let client = async_nats::connect(nats_url)
        .await
        .with_context(|| format!("cannot connect to NATS at {nats_url}"))?;
    let tag = std::process::id();
    let mut figures = Vec::new();
    for (rate, target) in [(1_000_u64, Some(50.0)), (5_000, None)] {
        let layout = |kind: &str| StreamLayout {
            stream: format!("AGENTOS_E2E_{kind}_{tag}_{rate}"),
            subject_prefix: format!("agentos_e2e_{kind}_{tag}_{rate}"),
            ..StreamLayout::default()
        };
        let (ours, raw) = (layout("OURS"), layout("RAW"));
        let result = async {
            let (p50, p99, events) =
                through_the_store(store, &client, &ours, rate, seconds).await?;
            let (raw_p50, raw_p99, _) = raw_publish(store, &client, &raw, rate, seconds).await?;
            Ok::<_, anyhow::Error>(Latency {
                name: format!("append commit → processor handler at {rate}/s"),
                events_per_sec: rate,
                events,
                p50_ms: p50,
                p99_ms: p99,
                baseline: "raw JetStream publish ack → the same handler",
                baseline_p50_ms: raw_p50,
                baseline_p99_ms: raw_p99,
                target_p99_ms: target,
                stages: Vec::new(),
            })
        }
        .await;
        let context = jetstream::new(client.clone());
        for layout in [&ours, &raw] {
            let _ = context.delete_stream(&layout.stream).await;
        }
        figures.push(result?);
    }
    Ok(figures)
}

type Probing = (
    tokio::task::JoinHandle<()>,
    tokio::sync::watch::Receiver<ProcessorStatus>,
);

/// Starts the probe on `layout`'s stream and waits until it reads.
async fn start_probe(
    store: &PgStore,
    client: &async_nats::Client,
    layout: &StreamLayout,
    category: &str,
    clock: &Arc<Clock>,
) -> anyhow::Result<Probing> {
    let bus: Arc<dyn Bus> = Arc::new(JetStreamBus::new(client.clone(), layout.clone()));
    let store: Arc<dyn EventStore> = Arc::new(store.clone());
    let runner = ProcessorRunner::new(
        Arc::new(Probe {
            clock: Arc::clone(clock),
            category: category.to_owned(),
        }),
        bus,
        store,
        ProcessorConfig::default(),
    );
    let mut status = runner.status();
    let task = tokio::spawn(runner.run());
    tokio::time::timeout(
        Duration::from_secs(30),
        status.wait_for(|s| s.state == commands::processor::ProcessorState::Running),
    )
    .await
    .context("the processor did not start within 30 s")??;
    Ok((task, status))
}

/// After the writing: waits until every event sent arrived (or 60 s
/// passed), stops the tasks, and gives the latencies.
async fn finish(
    clock: &Clock,
    written: anyhow::Result<()>,
    tasks: &[tokio::task::JoinHandle<()>],
) -> anyhow::Result<(f64, f64, usize)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while written.is_ok() && Instant::now() < deadline {
        let (got, sent) = clock.progress();
        if got >= sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in tasks {
        task.abort();
    }
    written?;
    clock.percentiles()
}

async fn through_the_store(
    store: &PgStore,
    client: &async_nats::Client,
    layout: &StreamLayout,
    rate: u64,
    seconds: f64,
) -> anyhow::Result<(f64, f64, usize)> {
    // A category of its own: the consumer sees none of the other runs' events.
    let category = format!("e2e_ours_{rate}");
    let clock = Arc::new(Clock::default());
    let relay = Relay::new(
        store.clone(),
        client.clone(),
        RelayConfig {
            name: format!("e2e_{}", layout.stream),
            layout: layout.clone(),
            ..RelayConfig::default()
        },
    );
    let relay = tokio::spawn(relay.run());
    let (probe, status) = start_probe(store, client, layout, &category, &clock).await?;
    let streams: Arc<Vec<StreamId>> =
        Arc::new((0..STREAMS).map(|_| bench_stream(&category)).collect());
    let per_tick = (rate / 1000).max(1) as usize;
    let shared: Arc<dyn EventStore> = Arc::new(store.clone());
    let written = paced(seconds, Duration::from_millis(1), |tick| {
        let (store, streams, clock) = (
            Arc::clone(&shared),
            Arc::clone(&streams),
            Arc::clone(&clock),
        );
        async move {
            let events = new_events(per_tick, tick);
            let ids: Vec<EventId> = events.iter().map(|e| e.event_id).collect();
            store
                .append(AppendRequest {
                    stream: streams[tick as usize % STREAMS].clone(),
                    expected: ExpectedVersion::Any,
                    events,
                    metadata: bench_metadata(),
                })
                .await?;
            clock.sent(ids, Instant::now());
            Ok(())
        }
    })
    .await;
    let figures = finish(&clock, written, &[relay, probe]).await;
    figures.with_context(|| format!("processor status: {:?}", *status.borrow()))
}

async fn raw_publish(
    store: &PgStore,
    client: &async_nats::Client,
    layout: &StreamLayout,
    rate: u64,
    seconds: f64,
) -> anyhow::Result<(f64, f64, usize)> {
    let category = format!("e2e_raw_{rate}");
    let context = jetstream::new(client.clone());
    layout.ensure_stream(&context).await?;
    // A real recorded event as the template of every message.
    let template = {
        let stream = bench_stream(&category);
        let shared: &dyn EventStore = store;
        shared
            .append(AppendRequest {
                stream: stream.clone(),
                expected: ExpectedVersion::NoStream,
                events: new_events(1, 0),
                metadata: bench_metadata(),
            })
            .await?;
        shared
            .read_stream(&stream, 1, eventstore::Direction::Forward, 1)
            .await?
            .pop()
            .context("the template event")?
    };
    let clock = Arc::new(Clock::default());
    let (probe, _) = start_probe(store, client, layout, &category, &clock).await?;
    let streams: Arc<Vec<StreamId>> =
        Arc::new((0..STREAMS).map(|_| bench_stream(&category)).collect());
    let per_tick = (rate / 1000).max(1);
    let template = Arc::new(template);
    let written = paced(seconds, Duration::from_millis(1), |tick| {
        let (context, streams, clock, template, layout) = (
            context.clone(),
            Arc::clone(&streams),
            Arc::clone(&clock),
            Arc::clone(&template),
            layout.clone(),
        );
        async move {
            let mut acks = Vec::new();
            let mut ids = Vec::new();
            for _ in 0..per_tick {
                let mut event = (*template).clone();
                event.event_id = EventId::from_uuid(Uuid::now_v7());
                event.stream_id = streams[tick as usize % STREAMS].clone();
                ids.push(event.event_id);
                let message = Relay::message(&event)?;
                acks.push(
                    context
                        .send_publish(layout.subject(&event), message)
                        .await?,
                );
            }
            for ack in acks {
                ack.await?;
            }
            clock.sent(ids, Instant::now());
            Ok(())
        }
    })
    .await;
    finish(&clock, written, &[probe]).await
}
