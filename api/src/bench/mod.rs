//! `agentos bench`: the event store's figures beside raw baselines measured
//! in the same run, against the same database.
//!
//! Everything runs in scratch space (a schema `agentos_bench_<pid>` on
//! PostgreSQL, a file beside the configured one on SQLite) that is removed
//! afterwards, so benchmarking never touches the real log.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use domain::{
    Actor, CorrelationId, EventId, Hash, JsonText, Metadata, NewEvent, Position, StreamId,
};
use eventstore::chain::{canonical_recorded, ChainCheck};
use eventstore::postgres::{PgConfig, PgStore};
use eventstore::sqlite::SqliteStore;
use eventstore::{AppendRequest, Backend, EventFilter, EventStore, ExpectedVersion};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

mod bus;
mod e2e;
mod logistics;

/// Which benchmark to run.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Which {
    /// Appends: single events with 16 writers, 100-event batches with 4.
    Append,
    /// Reading all events from the start in batches.
    Read,
    /// Hash-chain verification.
    Verify,
    /// The relay to NATS JetStream (PostgreSQL only).
    Relay,
    /// Latency from an append's commit to a processor's handler through
    /// the relay and JetStream (PostgreSQL only).
    Bus,
    /// The whole system: CEO orders accepted per second through the HTTP
    /// API, and the time from `POST` to the plan in the directives read
    /// model (PostgreSQL with NATS, or embedded on SQLite).
    E2e,
    /// An inventory scan of 10,000 items in 5 warehouses from the ERPNext
    /// simulator to drafted purchase orders, phase by phase, beside a raw
    /// HTTP fetch of the same listings.
    Logistics,
}

/// Arguments of `agentos bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    which: Which,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Seconds per timed run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Events to read, verify or relay.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Orders per second for `e2e`'s latency run.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// The NATS server the relay, bus and e2e benchmarks publish to (in
    /// scratch streams they remove); e2e on SQLite uses none.
    #[arg(
        long,
        env = "AGENTOS_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    nats_url: String,
}

/// One figure and its baseline.
#[derive(Serialize)]
struct Figure {
    name: String,
    events_per_sec: f64,
    baseline: &'static str,
    baseline_events_per_sec: f64,
    ratio: f64,
    /// The ratio to reach, if the figure has one.
    target_ratio: Option<f64>,
    /// The absolute rate to reach, if the figure has one.
    target_events_per_sec: Option<f64>,
}

impl Figure {
    fn new(name: impl Into<String>, ours: f64, baseline: &'static str, raw: f64) -> Self {
        Self {
            name: name.into(),
            events_per_sec: ours.round(),
            baseline,
            baseline_events_per_sec: raw.round(),
            ratio: if raw > 0.0 {
                (ours / raw * 100.0).round() / 100.0
            } else {
                0.0
            },
            target_ratio: None,
            target_events_per_sec: None,
        }
    }

    fn ratio_target(mut self, ratio: f64) -> Self {
        self.target_ratio = Some(ratio);
        self
    }

    fn rate_target(mut self, rate: f64) -> Self {
        self.target_events_per_sec = Some(rate);
        self
    }

    fn met(&self) -> bool {
        self.target_ratio.is_none_or(|t| self.ratio >= t)
            && self
                .target_events_per_sec
                .is_none_or(|t| self.events_per_sec >= t)
    }
}

#[derive(Serialize)]
struct Output {
    backend: &'static str,
    benchmark: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    figures: Vec<Figure>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    latencies: Vec<Latency>,
}

/// Runs a benchmark against the database a URL names.
pub async fn run(url: &str, args: BenchArgs) -> anyhow::Result<()> {
    let scratch = Scratch::create(url).await?;
    let result = measure_all(&scratch, &args).await;
    scratch.remove().await;
    let (figures, latencies) = result?;
    let output = Output {
        backend: scratch.backend_name(),
        benchmark: match args.which {
            Which::Append => "append",
            Which::Read => "read",
            Which::Verify => "verify",
            Which::Relay => "relay",
            Which::Bus => "bus",
            Which::E2e => "e2e",
            Which::Logistics => "logistics",
        },
        figures,
        latencies,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&output)?);
    } else {
        print_table(&output);
    }
    Ok(())
}

fn print_table(output: &Output) {
    println!("agentos bench {} on {}", output.benchmark, output.backend);
    if !output.latencies.is_empty() {
        print_latencies(&output.latencies);
    }
    if output.figures.is_empty() {
        return;
    }
    println!(
        "{:<58} {:>12} {:>12}  {:<34} {:>6} {:>8}",
        "figure", "events/s", "baseline/s", "baseline", "ratio", "target"
    );
    for f in &output.figures {
        let target = match (f.target_ratio, f.target_events_per_sec) {
            (Some(r), _) => format!("≥{r:.1}×"),
            (None, Some(rate)) => format!("≥{}k/s", rate / 1000.0),
            (None, None) => "-".to_owned(),
        };
        let mark = if f.met() { "" } else { "  MISSED" };
        println!(
            "{:<58} {:>12.0} {:>12.0}  {:<34} {:>5.2}× {:>8}{mark}",
            f.name, f.events_per_sec, f.baseline_events_per_sec, f.baseline, f.ratio, target
        );
    }
}

fn print_latencies(latencies: &[Latency]) {
    println!(
        "{:<48} {:>8} {:>8} {:>10} {:>10}  {:<44} {:>8}",
        "figure", "p50 ms", "p99 ms", "base p50", "base p99", "baseline", "target"
    );
    for l in latencies {
        let target = l
            .target_p99_ms
            .map_or_else(|| "-".to_owned(), |t| format!("p99≤{t}"));
        let mark = if l.met() { "" } else { "  MISSED" };
        println!(
            "{:<48} {:>8.2} {:>8.2} {:>10.2} {:>10.2}  {:<44} {:>8}{mark}",
            l.name, l.p50_ms, l.p99_ms, l.baseline_p50_ms, l.baseline_p99_ms, l.baseline, target
        );
        for s in &l.stages {
            println!("  {:<46} {:>8.2} {:>8.2}", s.name, s.p50_ms, s.p99_ms);
        }
    }
}

type Measured = (Vec<Figure>, Vec<Latency>);

async fn measure_all(scratch: &Scratch, args: &BenchArgs) -> anyhow::Result<Measured> {
    match (args.which, scratch) {
        (Which::Bus, Scratch::Postgres { store, .. }) => {
            return Ok((
                Vec::new(),
                bus::measure(store, &args.nats_url, args.seconds).await?,
            ));
        }
        (Which::Bus, Scratch::Sqlite { .. }) => anyhow::bail!(
            "the bus path runs through the relay, which publishes PostgreSQL's log: \
             give a postgres:// database URL"
        ),
        (Which::E2e, _) => return e2e::measure(scratch, args).await,
        (Which::Logistics, _) => return logistics::measure(scratch, args).await,
        _ => {}
    }
    let seconds = args.seconds;
    let store = scratch.store();
    let mut figures = Vec::new();
    match (args.which, scratch) {
        (Which::Append, Scratch::Postgres { .. }) => {
            let (raw, ours) = alternating(
                16,
                seconds,
                raw_single(scratch),
                appends(store.clone(), 1, false),
            )
            .await?;
            figures.push(
                Figure::new(
                    "append 1 event, 16 writers, 16 categories",
                    ours,
                    "raw single-row INSERT, 16 clients",
                    raw,
                )
                .ratio_target(0.8),
            );
            let (raw, ours) = alternating(
                16,
                seconds,
                raw_single(scratch),
                appends(store.clone(), 1, true),
            )
            .await?;
            figures.push(
                Figure::new(
                    "append 1 event, 16 writers, one category",
                    ours,
                    "raw single-row INSERT, 16 clients",
                    raw,
                )
                .ratio_target(0.8),
            );
            let (raw, ours) = alternating(
                4,
                seconds,
                raw_batch(scratch, 100),
                appends(store, 100, false),
            )
            .await?;
            figures.push(
                Figure::new(
                    "append 100-event batches, 4 writers",
                    ours,
                    "raw multi-row INSERT, 4 clients",
                    raw,
                )
                .ratio_target(0.8),
            );
        }
        (Which::Append, Scratch::Sqlite { .. }) => {
            let (raw, ours) = alternating(
                1,
                seconds,
                raw_batch(scratch, 100),
                appends(store.clone(), 100, false),
            )
            .await?;
            figures.push(
                Figure::new(
                    "append 100-event batches",
                    ours,
                    "raw multi-row INSERT",
                    raw,
                )
                .rate_target(50_000.0),
            );
            let (raw, ours) =
                alternating(1, seconds, raw_single(scratch), appends(store, 1, false)).await?;
            figures.push(Figure::new(
                "append 1 event",
                ours,
                "raw single-row INSERT",
                raw,
            ));
        }
        (Which::Read, _) => {
            fill(scratch, args.events).await?;
            // One pass untimed first: the first read of rows just written
            // sets their hint bits, a cost neither timed pass should carry.
            raw_scan(scratch).await?;
            // Two passes each, in the order raw, ours, ours, raw (see `alternating`).
            let (mut raw, mut ours) = ((0, 0.0), (0, 0.0));
            for raw_turn in [true, false, false, true] {
                let started = Instant::now();
                if raw_turn {
                    raw.0 += raw_scan(scratch).await?;
                    raw.1 += started.elapsed().as_secs_f64();
                } else {
                    ours.0 += read_everything(store.clone()).await?;
                    ours.1 += started.elapsed().as_secs_f64();
                }
            }
            let (raw, ours) = (raw.0 as f64 / raw.1, ours.0 as f64 / ours.1);
            figures.push(
                Figure::new(
                    "read all events, batches of 1000",
                    ours,
                    "raw ordered keyset scan",
                    raw,
                )
                .ratio_target(0.8),
            );
        }
        (Which::Verify, _) => {
            fill(scratch, args.events).await?;
            let events = load_chains(&*store).await?;
            let (ours, raw) =
                tokio::task::spawn_blocking(move || hash_rates(&events, seconds)).await?;
            figures.push(
                Figure::new(
                    "hash-chain check, one core",
                    ours,
                    "raw SHA-256 of the same bytes",
                    raw,
                )
                .rate_target(1_000_000.0),
            );
            let raw = timed(|| raw_scan(scratch)).await?;
            let ours = timed(|| async {
                let report = eventstore::verify::verify_all(&*store, |_| ()).await?;
                anyhow::ensure!(report.is_intact(), "the scratch log does not verify");
                Ok(report.events)
            })
            .await?;
            figures.push(Figure::new(
                "verify from the database, end to end",
                ours,
                "raw ordered keyset scan",
                raw,
            ));
        }
        (Which::Relay, Scratch::Postgres { store, .. }) => {
            fill(scratch, args.events).await?;
            figures.push(relay::measure(store, &args.nats_url).await?);
        }
        (Which::Relay, Scratch::Sqlite { .. }) => {
            anyhow::bail!(
                "the relay publishes PostgreSQL's log to NATS: give a postgres:// database URL"
            )
        }
        (Which::Bus | Which::E2e | Which::Logistics, _) => unreachable!("measured above"),
    }
    Ok((figures, Vec::new()))
}

/// Latency percentiles at one rate, ours beside a raw path.
#[derive(Serialize)]
pub struct Latency {
    pub name: String,
    pub events_per_sec: u64,
    pub events: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub baseline: &'static str,
    pub baseline_p50_ms: f64,
    pub baseline_p99_ms: f64,
    /// The p99 to stay under, if the rate has one.
    pub target_p99_ms: Option<f64>,
    /// Where the time went, part by part, if measured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Stage>,
}

/// One part of a measured path (each part's percentiles on their own: they
/// need not add up to the whole's).
#[derive(Serialize)]
pub struct Stage {
    pub name: &'static str,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Latency {
    pub fn met(&self) -> bool {
        self.target_p99_ms.is_none_or(|t| self.p99_ms <= t)
    }
}

/// (p50, p99) of milliseconds, rounded to hundredths; sorts `values`.
fn percentiles(values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (
        (at(0.50) * 100.0).round() / 100.0,
        (at(0.99) * 100.0).round() / 100.0,
    )
}

/// Paces `write(tick)` once per `every` for `seconds`, each call on its own task.
async fn paced<F, Fut>(seconds: f64, every: Duration, write: F) -> anyhow::Result<()>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let ticks = (seconds / every.as_secs_f64()) as u64;
    let mut writes = tokio::task::JoinSet::new();
    for tick in 0..ticks {
        ticker.tick().await;
        writes.spawn(write(tick));
        while let Some(done) = writes.try_join_next() {
            done??;
        }
    }
    while let Some(done) = writes.join_next().await {
        done??;
    }
    Ok(())
}

type Op = Arc<
    dyn Fn(usize, u64) -> Pin<Box<dyn Future<Output = anyhow::Result<u64>> + Send>> + Send + Sync,
>;

/// Rounds in which [`alternating`] runs the raw baseline and ours in turn.
const ROUNDS: usize = 4;

/// Events per second of the raw baseline and of ours, each run by
/// `workers` concurrent loops for `seconds` in all, in [`ROUNDS`] turns
/// that alternate which goes first (raw, ours, ours, raw, …).
///
/// Run one after the other, the second ran on a machine the first had
/// changed: a buffer pool full of the first's dirty pages, a checkpoint
/// the first's write-ahead log had brought on, and the drift of a shared
/// machine over the seconds between them; the ratio moved with the order.
/// Alternating spreads all of that over both.
async fn alternating(
    workers: usize,
    seconds: f64,
    raw: Op,
    ours: Op,
) -> anyhow::Result<(f64, f64)> {
    let turn = seconds / ROUNDS as f64;
    let (mut raw_done, mut ours_done) = ((0, 0.0), (0, 0.0));
    let mut rounds = (0_u64, 0_u64);
    for round in 0..ROUNDS {
        for raw_turn in [round % 2 == 0, round % 2 == 1] {
            if raw_turn {
                let (events, took) = run_for(workers, turn, &raw, &mut rounds.0).await?;
                raw_done = (raw_done.0 + events, raw_done.1 + took);
            } else {
                let (events, took) = run_for(workers, turn, &ours, &mut rounds.1).await?;
                ours_done = (ours_done.0 + events, ours_done.1 + took);
            }
        }
    }
    let rate = |(events, took): (u64, f64)| events as f64 / took;
    Ok((rate(raw_done), rate(ours_done)))
}

/// Runs `op` in `workers` concurrent loops for `seconds`; events per second.
async fn measure(workers: usize, seconds: f64, op: Op) -> anyhow::Result<f64> {
    let (events, took) = run_for(workers, seconds, &op, &mut 0).await?;
    Ok(events as f64 / took)
}

/// Runs `op` in `workers` concurrent loops for `seconds`, numbering each
/// worker's calls on from `*rounds` (so that turns go on where the last
/// one stopped); the events done and the seconds taken.
async fn run_for(
    workers: usize,
    seconds: f64,
    op: &Op,
    rounds: &mut u64,
) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let first = *rounds;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let op = op.clone();
        tasks.spawn(async move {
            let (mut events, mut round) = (0, first);
            while Instant::now() < deadline {
                events += op(worker, round).await?;
                round += 1;
            }
            Ok::<_, anyhow::Error>((events, round))
        });
    }
    let mut total = 0;
    while let Some(done) = tasks.join_next().await {
        let (events, round) = done??;
        total += events;
        *rounds = (*rounds).max(round);
    }
    Ok((total, started.elapsed().as_secs_f64()))
}

/// Times one run of `work`, which returns how many events it handled.
async fn timed<F, Fut>(work: F) -> anyhow::Result<f64>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<u64>>,
{
    let started = Instant::now();
    let events = work().await?;
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

/// A payload of a realistic size (about 200 bytes).
fn payload(n: u64) -> JsonText {
    JsonText::trusted(format!(
        r#"{{"sku":"SKU-{n:06}","warehouse":"Main Stores - AC","quantity":{q},"unit":"Nos","supplier":"Acme Components Ltd","reason":"projected stock below reorder point","unit_price":{{"minor":1299,"currency":"EUR"}}}}"#,
        q = n % 500
    ))
}

fn bench_metadata() -> Metadata {
    Metadata {
        correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
        causation_id: None,
        command_id: None,
        actor: Actor::System("bench".to_owned()),
    }
}

fn new_events(count: usize, seed: u64) -> Vec<NewEvent> {
    (0..count as u64)
        .map(|i| NewEvent {
            event_id: EventId::from_uuid(Uuid::now_v7()),
            event_type: "PurchaseOrderLineDrafted".to_owned(),
            schema_version: 1,
            payload: payload(seed + i),
        })
        .collect()
}

fn bench_stream(category: &str) -> StreamId {
    format!("{category}-{}", Uuid::now_v7())
        .parse()
        .expect("a generated stream id is valid")
}

/// Appends of `batch` events, each worker on streams of its own category
/// (or all on one category), a new stream every 50 appends.
fn appends(store: Arc<dyn EventStore>, batch: usize, one_category: bool) -> Op {
    let base = Uuid::now_v7().as_u128();
    Arc::new(move |worker, round| {
        let store = store.clone();
        Box::pin(async move {
            let category = if one_category {
                "bench".to_owned()
            } else {
                format!("bench_{worker}")
            };
            let id = Uuid::from_u128(base ^ ((worker as u128) << 64) ^ u128::from(round / 50));
            let stream = StreamId::new(&domain::Category::new(&category)?, id);
            store
                .append(AppendRequest {
                    stream,
                    expected: ExpectedVersion::Any,
                    events: new_events(batch, round),
                    metadata: bench_metadata(),
                })
                .await?;
            Ok(batch as u64)
        })
    })
}

/// Raw single-row INSERTs into a plain table of the same shape.
fn raw_single(scratch: &Scratch) -> Op {
    raw_batch(scratch, 1)
}

/// Raw multi-row INSERTs of `rows` rows per statement (one row: single-row INSERT).
fn raw_batch(scratch: &Scratch, rows: usize) -> Op {
    match scratch {
        Scratch::Postgres { store, .. } => {
            let pool = store.pool().clone();
            Arc::new(move |_, round| {
                let pool = pool.clone();
                Box::pin(async move {
                    let columns = RawColumns::new(rows, round);
                    if rows == 1 {
                        sqlx::query(
                            "INSERT INTO raw_events (stream_id, category, stream_version, event_id, event_type, \
                             schema_version, payload, correlation_id, causation_id, command_id, actor, recorded_at, \
                             prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, NULL, NULL, $9, now(), $10, $11)",
                        )
                        .bind(&columns.stream)
                        .bind("bench")
                        .bind(1_i64)
                        .bind(columns.event_ids[0])
                        .bind("PurchaseOrderLineDrafted")
                        .bind(1_i32)
                        .bind(&columns.payloads[0])
                        .bind(Uuid::now_v7())
                        .bind("system:bench")
                        .bind(&columns.hashes[0])
                        .bind(&columns.hashes[0])
                        .execute(&pool)
                        .await?;
                    } else {
                        sqlx::query(
                            "INSERT INTO raw_events (stream_id, category, stream_version, event_id, event_type, \
                             schema_version, payload, correlation_id, causation_id, command_id, actor, recorded_at, \
                             prev_hash, hash) \
                             SELECT $1, 'bench', v, e, 'PurchaseOrderLineDrafted', 1, p::json, $2, NULL, NULL, \
                                    'system:bench', now(), h, h \
                               FROM unnest($3::bigint[], $4::uuid[], $5::text[], $6::bytea[]) AS r(v, e, p, h)",
                        )
                        .bind(&columns.stream)
                        .bind(Uuid::now_v7())
                        .bind(&columns.versions)
                        .bind(&columns.event_ids)
                        .bind(&columns.payloads)
                        .bind(&columns.hashes)
                        .execute(&pool)
                        .await?;
                    }
                    Ok(rows as u64)
                })
            })
        }
        Scratch::Sqlite { store, .. } => {
            let pool = store.writer().clone();
            Arc::new(move |_, round| {
                let pool = pool.clone();
                Box::pin(async move {
                    let columns = RawColumns::new(rows, round);
                    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                    for chunk in (0..rows).collect::<Vec<_>>().chunks(400) {
                        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                            "INSERT INTO raw_events (stream_id, category, stream_version, event_id, event_type, \
                             schema_version, payload, correlation_id, causation_id, command_id, actor, recorded_at, \
                             prev_hash, hash) ",
                        );
                        insert.push_values(chunk, |mut row, &i| {
                            row.push_bind(&columns.stream)
                                .push_bind("bench")
                                .push_bind(columns.versions[i])
                                .push_bind(columns.event_ids[i])
                                .push_bind("PurchaseOrderLineDrafted")
                                .push_bind(1_i64)
                                .push_bind(&columns.payloads[i])
                                .push_bind(Uuid::nil())
                                .push_bind(None::<Uuid>)
                                .push_bind(None::<Uuid>)
                                .push_bind("system:bench")
                                .push_bind(0_i64)
                                .push_bind(&columns.hashes[i])
                                .push_bind(&columns.hashes[i]);
                        });
                        insert.build().execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(rows as u64)
                })
            })
        }
    }
}

/// Column values for raw inserts, the same sizes as the store writes.
struct RawColumns {
    stream: String,
    versions: Vec<i64>,
    event_ids: Vec<Uuid>,
    payloads: Vec<String>,
    hashes: Vec<Vec<u8>>,
}

impl RawColumns {
    fn new(rows: usize, round: u64) -> Self {
        Self {
            stream: bench_stream("bench").to_string(),
            versions: (1..=rows as i64).collect(),
            event_ids: (0..rows).map(|_| Uuid::now_v7()).collect(),
            payloads: (0..rows as u64)
                .map(|i| payload(round + i).as_str().to_owned())
                .collect(),
            hashes: (0..rows)
                .map(|i| Sha256::digest(i.to_be_bytes()).to_vec())
                .collect(),
        }
    }
}

/// Makes sure the scratch log holds at least `events` events.
async fn fill(scratch: &Scratch, events: u64) -> anyhow::Result<()> {
    let store = scratch.store();
    let have = store.counts().await?.events;
    let batches = events.saturating_sub(have).div_ceil(100);
    let workers = if matches!(scratch, Scratch::Postgres { .. }) {
        4
    } else {
        1
    };
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let store = store.clone();
        tasks.spawn(async move {
            let mut stream = bench_stream("fill");
            for round in (worker..batches).step_by(workers as usize) {
                if round % 4 == 0 {
                    stream = bench_stream("fill");
                }
                store
                    .append(AppendRequest {
                        stream: stream.clone(),
                        expected: ExpectedVersion::Any,
                        events: new_events(100, round),
                        metadata: bench_metadata(),
                    })
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Reads the whole log through the store, in global order.
async fn read_everything(store: Arc<dyn EventStore>) -> anyhow::Result<u64> {
    let mut after = Position::START;
    let mut events = 0;
    loop {
        let batch = store.read_all(after, 1000, &EventFilter::all()).await?;
        if batch.events.is_empty() && !batch.beyond_horizon {
            return Ok(events);
        }
        events += batch.events.len() as u64;
        after = batch.next;
    }
}

/// The columns of an event row decoded into plain values, as the least a
/// reader must do with what it fetched; no checks, no domain types.
type PgRawRow = (
    i64,
    i64,
    String,
    i64,
    Uuid,
    String,
    i32,
    String,
    Uuid,
    Option<Uuid>,
    Option<Uuid>,
    String,
    sqlx::types::chrono::DateTime<sqlx::types::chrono::Utc>,
    Vec<u8>,
    Vec<u8>,
);

/// The same for SQLite, where uuids and times are stored as blobs and integers.
type SqliteRawRow = (
    i64,
    String,
    i64,
    Vec<u8>,
    String,
    i64,
    String,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    String,
    i64,
    Vec<u8>,
    Vec<u8>,
);

trait DecodeRow<R>: Sized {
    fn decode(row: &R) -> Result<Self, sqlx::Error>;
}

macro_rules! decode_tuple {
    ($row:ty, $tuple:ty, $($i:tt)*) => {
        impl DecodeRow<$row> for $tuple {
            fn decode(row: &$row) -> Result<Self, sqlx::Error> {
                Ok(($(row.try_get($i)?,)*))
            }
        }
    };
}
decode_tuple!(sqlx::postgres::PgRow, PgRawRow, 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14);
decode_tuple!(sqlx::sqlite::SqliteRow, SqliteRawRow, 0 1 2 3 4 5 6 7 8 9 10 11 12 13);

/// The raw baseline: an ordered keyset scan of the events table, same batch
/// size, same columns, each row decoded into plain values.
async fn raw_scan(scratch: &Scratch) -> anyhow::Result<u64> {
    let mut events = 0;
    match scratch {
        Scratch::Postgres { store, .. } => {
            let (mut tx_id, mut position) = (0_i64, 0_i64);
            loop {
                let rows = sqlx::query(
                    "SELECT tx_id, position, stream_id, stream_version, event_id, event_type, schema_version, \
                     payload::text, correlation_id, causation_id, command_id, actor, recorded_at, prev_hash, hash \
                     FROM events WHERE (tx_id, position) > ($1, $2) ORDER BY tx_id, position LIMIT 1000",
                )
                .bind(tx_id)
                .bind(position)
                .fetch_all(store.pool())
                .await?;
                let Some(last) = rows.last() else {
                    return Ok(events);
                };
                (tx_id, position) = (last.try_get(0)?, last.try_get(1)?);
                for row in &rows {
                    std::hint::black_box(PgRawRow::decode(row)?);
                }
                events += rows.len() as u64;
            }
        }
        Scratch::Sqlite { store, .. } => {
            let mut position = 0_i64;
            loop {
                let rows = sqlx::query(
                    "SELECT position, stream_id, stream_version, event_id, event_type, schema_version, payload, \
                     correlation_id, causation_id, command_id, actor, recorded_at, prev_hash, hash \
                     FROM events WHERE position > ? ORDER BY position LIMIT 1000",
                )
                .bind(position)
                .fetch_all(store.writer())
                .await?;
                let Some(last) = rows.last() else {
                    return Ok(events);
                };
                position = last.try_get(0)?;
                for row in &rows {
                    std::hint::black_box(SqliteRawRow::decode(row)?);
                }
                events += rows.len() as u64;
            }
        }
    }
}

async fn load_chains(store: &dyn EventStore) -> anyhow::Result<Vec<domain::RecordedEvent>> {
    let mut all = Vec::new();
    loop {
        let after = all
            .last()
            .map(|e: &domain::RecordedEvent| (e.stream_id.clone(), e.stream_version));
        let page = store
            .read_chains(after.as_ref().map(|(s, v)| (s, *v)), 5000)
            .await?;
        if page.is_empty() {
            return Ok(all);
        }
        all.extend(page);
    }
}

/// Chain checks per second on this thread, and raw SHA-256 of the same bytes per second.
fn hash_rates(events: &[domain::RecordedEvent], seconds: f64) -> (f64, f64) {
    let budget = Duration::from_secs_f64(seconds.max(0.2));
    // Ours: the verifier, stream by stream.
    let started = Instant::now();
    let mut checked = 0_u64;
    while started.elapsed() < budget || checked == 0 {
        let mut check = ChainCheck::new();
        let mut current: Option<&StreamId> = None;
        for event in events {
            if current != Some(&event.stream_id) {
                check = ChainCheck::new();
                current = Some(&event.stream_id);
            }
            check.push(event);
        }
        assert!(!check.is_broken(), "the scratch log must verify");
        checked += events.len() as u64;
    }
    let ours = checked as f64 / started.elapsed().as_secs_f64();
    // Raw: SHA-256 over prev hash, version and canonical bytes prepared in advance.
    let mut buffer = Vec::new();
    let inputs: Vec<Vec<u8>> = events
        .iter()
        .map(|e| {
            canonical_recorded(e, &mut buffer);
            let mut input = Vec::with_capacity(40 + buffer.len());
            input.extend_from_slice(&Hash::ZERO.0);
            input.extend_from_slice(&e.stream_version.to_be_bytes());
            input.extend_from_slice(&buffer);
            input
        })
        .collect();
    let started = Instant::now();
    let mut hashed = 0_u64;
    let mut sink = 0_u8;
    while started.elapsed() < budget || hashed == 0 {
        for input in &inputs {
            sink ^= Sha256::digest(input)[0];
        }
        hashed += inputs.len() as u64;
    }
    std::hint::black_box(sink);
    (ours, hashed as f64 / started.elapsed().as_secs_f64())
}

/// Scratch space for a benchmark.
enum Scratch {
    Postgres {
        store: PgStore,
        url: String,
        schema: String,
    },
    Sqlite {
        store: SqliteStore,
        path: PathBuf,
    },
}

impl Scratch {
    async fn create(url: &str) -> anyhow::Result<Self> {
        Ok(match Backend::from_url(url)? {
            Backend::Postgres(url) => {
                let schema = format!("agentos_bench_{}", std::process::id());
                let mut config = PgConfig::new(&url);
                config.schema = Some(schema.clone());
                config.max_connections = 24;
                let store = PgStore::connect_with(config).await?;
                sqlx::raw_sql(
                    "CREATE TABLE raw_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream_id text, \
                     category text, stream_version bigint, event_id uuid, event_type text, schema_version int, \
                     payload json, correlation_id uuid, causation_id uuid, command_id uuid, actor text, \
                     recorded_at timestamptz, prev_hash bytea, hash bytea, \
                     UNIQUE (stream_id, stream_version), UNIQUE (event_id))",
                )
                .execute(store.pool())
                .await?;
                Scratch::Postgres { store, url, schema }
            }
            Backend::Sqlite(path) => {
                let path = PathBuf::from(path);
                let dir = path.parent().map(PathBuf::from).unwrap_or_default();
                let scratch = dir.join(format!("agentos-bench-{}.db", std::process::id()));
                let store = SqliteStore::open(&scratch).await?;
                sqlx::raw_sql(
                    "CREATE TABLE raw_events (id INTEGER PRIMARY KEY, stream_id TEXT, category TEXT, \
                     stream_version INTEGER, event_id BLOB, event_type TEXT, schema_version INTEGER, payload TEXT, \
                     correlation_id BLOB, causation_id BLOB, command_id BLOB, actor TEXT, recorded_at INTEGER, \
                     prev_hash BLOB, hash BLOB, UNIQUE (stream_id, stream_version), UNIQUE (event_id))",
                )
                .execute(store.writer())
                .await
                .context("creating the raw baseline table")?;
                Scratch::Sqlite {
                    store,
                    path: scratch,
                }
            }
        })
    }

    fn store(&self) -> Arc<dyn EventStore> {
        match self {
            Scratch::Postgres { store, .. } => Arc::new(store.clone()),
            Scratch::Sqlite { store, .. } => Arc::new(store.clone()),
        }
    }

    fn backend_name(&self) -> &'static str {
        match self {
            Scratch::Postgres { .. } => "postgresql",
            Scratch::Sqlite { .. } => "sqlite",
        }
    }

    async fn remove(&self) {
        match self {
            Scratch::Postgres { url, schema, .. } => {
                use sqlx::Connection;
                match sqlx::PgConnection::connect(url).await {
                    Ok(mut conn) => {
                        let ddl = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                        if let Err(e) =
                            sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(ddl)).await
                        {
                            eprintln!("warning: could not drop the scratch schema {schema}: {e}");
                        }
                    }
                    Err(e) => eprintln!("warning: could not drop the scratch schema {schema}: {e}"),
                }
            }
            Scratch::Sqlite { path, .. } => {
                // The store's file and, if e2e made one, its read models'.
                for base in [path.clone(), projections::views_path(path)] {
                    for suffix in ["", "-wal", "-shm"] {
                        let mut file = base.clone().into_os_string();
                        file.push(suffix);
                        let _ = std::fs::remove_file(file);
                    }
                }
            }
        }
    }
}

/// The relay against raw pipelined JetStream publishing.
mod relay {
    use super::*;
    use async_nats::jetstream;
    use eventstore::bus::jetstream::StreamLayout;
    use eventstore::relay::{Relay, RelayConfig};

    /// Publishes in flight at once, for the relay and the raw baseline alike.
    const WINDOW: usize = 512;

    /// Rounds of each measurement; the medians are reported, because this
    /// machine's figures move by ±20% from one run to the next.
    const ROUNDS: usize = 3;

    pub async fn measure(store: &PgStore, nats_url: &str) -> anyhow::Result<Figure> {
        let client = async_nats::connect(nats_url)
            .await
            .with_context(|| format!("cannot connect to NATS at {nats_url}"))?;
        let context = jetstream::new(client.clone());
        let tag = std::process::id();
        let events = eventstore::read_to_end(store, &EventFilter::all()).await?;
        let (mut raw, mut ours) = (Vec::new(), Vec::new());
        // Alternating rounds, each on fresh streams and (for the relay) a fresh checkpoint.
        for round in 0..ROUNDS {
            let config = RelayConfig {
                name: format!("bench_{tag}_{round}"),
                layout: StreamLayout {
                    stream: format!("AGENTOS_BENCH_{tag}_{round}"),
                    subject_prefix: format!("agentos_bench_{tag}_{round}"),
                    ..StreamLayout::default()
                },
                max_in_flight: WINDOW,
                ..RelayConfig::default()
            };
            let raw_stream = format!("AGENTOS_BENCH_RAW_{tag}_{round}");
            let result = async {
                raw.push(raw_publish(&context, &raw_stream, &config, &events).await?);
                ours.push(relay_all(store, &client, &config, &events).await?);
                Ok::<_, anyhow::Error>(())
            }
            .await;
            for stream in [&config.layout.stream, &raw_stream] {
                let _ = context.delete_stream(stream).await;
            }
            result?;
        }
        Ok(Figure::new(
            format!("relay to JetStream, 512 in flight (median of {ROUNDS})"),
            median(&mut ours),
            "raw pipelined JetStream publish with Nats-Msg-Id",
            median(&mut raw),
        )
        .ratio_target(0.7))
    }

    fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(0.0)
    }

    /// The same messages (same subjects, bodies, ids and headers, so the same
    /// size), published with the same window straight from memory: no reads,
    /// no checkpoint, no ordering checks.
    async fn raw_publish(
        context: &jetstream::Context,
        stream: &str,
        config: &RelayConfig,
        events: &[domain::RecordedEvent],
    ) -> anyhow::Result<f64> {
        // The same layout (duplicate window, partitioning transform) under other names.
        let raw_layout = StreamLayout {
            stream: stream.to_owned(),
            subject_prefix: format!("{}_raw", config.layout.subject_prefix),
            ..config.layout.clone()
        };
        raw_layout.ensure_stream(context).await?;
        let messages: Vec<(String, jetstream::message::PublishMessage)> = events
            .iter()
            .map(|e| Ok((raw_layout.subject(e), Relay::message(e)?)))
            .collect::<anyhow::Result<_>>()?;
        let started = Instant::now();
        let mut in_flight = std::collections::VecDeque::with_capacity(WINDOW);
        for (subject, publish) in messages {
            if in_flight.len() >= WINDOW {
                let ack: jetstream::context::PublishAckFuture =
                    in_flight.pop_front().context("a publish in flight")?;
                ack.await?;
            }
            in_flight.push_back(context.send_publish(subject, publish).await?);
        }
        for ack in in_flight {
            ack.await?;
        }
        Ok(events.len() as f64 / started.elapsed().as_secs_f64())
    }

    /// Runs a relay from the start of the log until its checkpoint passes the last event.
    async fn relay_all(
        store: &PgStore,
        client: &async_nats::Client,
        config: &RelayConfig,
        events: &[domain::RecordedEvent],
    ) -> anyhow::Result<f64> {
        let last = events.last().context("the scratch log is empty")?.position;
        let relay = Relay::new(store.clone(), client.clone(), config.clone());
        let mut status = relay.status();
        let started = Instant::now();
        let task = tokio::spawn(relay.run());
        let waited = tokio::time::timeout(
            Duration::from_secs(600),
            status.wait_for(|s| s.checkpoint >= last),
        )
        .await
        .map(|r| r.is_ok());
        let seconds = started.elapsed().as_secs_f64();
        task.abort();
        let error = status.borrow().last_error.clone();
        match waited {
            Ok(true) => Ok(events.len() as f64 / seconds),
            _ => anyhow::bail!(
                "the relay did not finish within 10 minutes{}",
                error.map(|e| format!(": {e}")).unwrap_or_default()
            ),
        }
    }
}
