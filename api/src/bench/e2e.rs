//! `agentos bench e2e`: the whole system, as the CEO sees it.
//!
//! AgentOS runs in this process exactly as `serve` (PostgreSQL with NATS:
//! relay, JetStream, the Brain, the projections) or `demo` (SQLite, the
//! in-process bus) runs it, in scratch space, with the gateway on a local
//! port. Two measurements, each beside a raw baseline taken in the same run:
//!
//! - **Latency** at a steady rate of orders (`--rate`, 200/s by default):
//!   the time from sending `POST /api/v1/directives` to the plan being in the
//!   directives read model, after a second of the same orders at the same
//!   rate that is not measured (the warm-up: a fresh system's first orders
//!   open its connections and prepare its statements). The plan's position in the log is read back
//!   afterwards; the moment it became visible is when the projection's
//!   committed checkpoint first passed it (followed live). Baseline: the
//!   same HTTP client posting the same body to a bare axum route that only
//!   inserts it into a raw table of the same database.
//! - **Throughput**: orders accepted (`202`) per second with 16 clients in
//!   closed loops, beside the same clients against the bare route.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use domain::Position;
use eventstore::bus::jetstream::StreamLayout;
use eventstore::{EventFilter, EventStore};
use projections::ProjectionStatus;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{
    measure as closed_loops, paced, percentiles, BenchArgs, Figure, Latency, Measured, Op, Scratch,
    Stage,
};
use api::gateway::{self, Role};
use api::system::{Components, System, SystemConfig};

/// Concurrent clients of the throughput run.
const CLIENTS: usize = 16;

/// The p99 from `POST` to the visible plan to stay under at 200 orders/s.
const TARGET_P99_MS: f64 = 100.0;

/// How long orders are sent before the latency runs (ours and the
/// baseline's) start measuring; see [`warm_up`].
const WARM_UP: Duration = Duration::from_secs(1);

/// How long the plans of the latency run may take to appear at most.
const DRAIN: Duration = Duration::from_secs(60);

/// Orders the rule-based planner turns into plans (one, two and three
/// tasks), varied by `n` so that no two are alike.
fn order(n: u64) -> serde_json::Value {
    let text = match n % 3 {
        0 => format!("Restock SKU-{} x{} from Acme Corp", 1000 + n, 10 + n % 90),
        1 => "Audit this month's invoices and pay the approved ones, then forecast cash for Q3"
            .to_owned(),
        _ => format!(
            "Check our stock levels and reorder anything below the reorder point, budget €{}",
            1000 + n
        ),
    };
    serde_json::json!({ "text": text })
}

pub async fn measure(scratch: &Scratch, args: &BenchArgs) -> anyhow::Result<Measured> {
    let mut config = match scratch {
        Scratch::Postgres { url, schema, .. } => {
            let tag = std::process::id();
            let mut config = SystemConfig::new(url);
            config.schema = Some(schema.clone());
            config.nats_url = Some(args.nats_url.clone());
            config.layout = StreamLayout {
                stream: format!("AGENTOS_BENCH_{tag}"),
                subject_prefix: format!("agentos_bench_{tag}"),
                ..StreamLayout::default()
            };
            config
        }
        Scratch::Sqlite { path, .. } => SystemConfig::new(&format!("sqlite://{}", path.display())),
    };
    config.components = Components::ALL;
    let layout = config.layout.clone();
    let nats = config.nats_url.clone();
    let system = System::start(config)
        .await
        .context("starting AgentOS in scratch space")?;
    let result = measure_system(&system, scratch, args).await;
    system.shutdown();
    if let Some(url) = nats {
        // The scratch JetStream stream goes with the scratch schema.
        if let Ok(client) = async_nats::connect(&url).await {
            let _ = async_nats::jetstream::new(client)
                .delete_stream(&layout.stream)
                .await;
        }
    }
    result
}

async fn measure_system(
    system: &System,
    scratch: &Scratch,
    args: &BenchArgs,
) -> anyhow::Result<Measured> {
    let state = system.gateway_state().await?;
    let token = state
        .tokens
        .create(&format!("bench-{}", std::process::id()), Role::Ceo)
        .await?
        .secret;
    let gateway = serve(gateway::router(state)).await?;
    let raw = serve(raw_router(scratch)).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let target = Target {
        client,
        token,
        ours: format!("http://{}/api/v1/directives", gateway.0),
        raw: format!("http://{}/raw", raw.0),
    };
    let result = async {
        let projection = system
            .projections
            .get(projections::models::directives::NAME)
            .context("the directives projection is not running")?
            .clone();
        let latency = latency(system, &target, projection, args).await?;
        // The bare route first: after our run the system works off the
        // orders it accepted for a while, and on SQLite that work holds the
        // one writer connection the bare route inserts through.
        let baseline = throughput(&target, &target.raw, args.seconds).await?;
        let ours = throughput(&target, &target.ours, args.seconds).await?;
        let figure = Figure::new(
            format!("orders accepted (202) through the API, {CLIENTS} clients"),
            ours,
            "raw POST → INSERT of the same body",
            baseline,
        );
        Ok((vec![figure], vec![latency]))
    }
    .await;
    gateway.1.abort();
    raw.1.abort();
    result
}

/// Where the orders go.
#[derive(Clone)]
struct Target {
    client: reqwest::Client,
    token: String,
    ours: String,
    raw: String,
}

impl Target {
    /// Posts order `n` to `url`; the answer's `directive_id`, if any.
    async fn post(&self, url: &str, n: u64) -> anyhow::Result<Option<String>> {
        let response = self
            .client
            .post(url)
            .bearer_auth(&self.token)
            .json(&order(n))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == StatusCode::ACCEPTED,
            "{url} answered {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
        let body: serde_json::Value = response.json().await?;
        Ok(body["directive_id"].as_str().map(str::to_owned))
    }
}

/// Serves a router on a free local port.
async fn serve(router: Router) -> anyhow::Result<(std::net::SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            eprintln!("bench server stopped: {error}");
        }
    });
    Ok((address, task))
}

/// The baseline: a bare route that inserts the body into the scratch
/// space's raw table and answers `202`.
fn raw_router(scratch: &Scratch) -> Router {
    let scratch = Arc::new(match scratch {
        Scratch::Postgres { store, .. } => RawDb::Postgres(store.pool().clone()),
        Scratch::Sqlite { store, .. } => RawDb::Sqlite(store.writer().clone()),
    });
    Router::new()
        .route("/raw", post(raw_insert))
        .with_state(scratch)
}

enum RawDb {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

async fn raw_insert(
    State(db): State<Arc<RawDb>>,
    Json(body): Json<serde_json::Value>,
) -> Result<(StatusCode, Json<serde_json::Value>), (StatusCode, String)> {
    let id = uuid::Uuid::now_v7();
    let payload = body.to_string();
    let done = match &*db {
        RawDb::Postgres(pool) => sqlx::query(
            "INSERT INTO raw_events (stream_id, event_id, payload) VALUES ($1, $2, $3::json)",
        )
        .bind(format!("directive-{id}"))
        .bind(id)
        .bind(payload)
        .execute(pool)
        .await
        .map(drop),
        RawDb::Sqlite(pool) => {
            sqlx::query("INSERT INTO raw_events (stream_id, event_id, payload) VALUES (?, ?, ?)")
                .bind(format!("directive-{id}"))
                .bind(id)
                .bind(payload)
                .execute(pool)
                .await
                .map(drop)
        }
    };
    done.map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "directive_id": id })),
    ))
}

/// Orders sent at the measured rate for [`WARM_UP`], not measured, then a
/// pause for what they set off to settle: a freshly started system opens
/// its connections, prepares its statements and creates its consumers
/// during its first orders, and the figure is the steady state's.
async fn warm_up(target: &Arc<Target>, url: &str, every: Duration) -> anyhow::Result<()> {
    paced(WARM_UP.as_secs_f64(), every, |n| {
        let (target, url) = (Arc::clone(target), url.to_owned());
        // Numbered apart from the measured orders, so that none repeats one.
        async move { target.post(&url, 10_000_000 + n).await.map(drop) }
    })
    .await?;
    tokio::time::sleep(WARM_UP / 2).await;
    Ok(())
}

/// Orders sent at a steady rate; when each was sent, and the plan's time.
async fn latency(
    system: &System,
    target: &Target,
    projection: watch::Receiver<ProjectionStatus>,
    args: &BenchArgs,
) -> anyhow::Result<Latency> {
    let rate = args.rate.max(1);
    let every = Duration::from_secs_f64(1.0 / rate as f64);
    let visible = follow_checkpoints(projection);

    let target = Arc::new(target.clone());
    let url = target.ours.clone();
    warm_up(&target, &url, every).await?;
    let sent: Arc<Mutex<HashMap<String, Sent>>> = Arc::default();
    paced(args.seconds, every, |n| {
        let (target, sent, url) = (Arc::clone(&target), Arc::clone(&sent), url.clone());
        async move {
            let at = Instant::now();
            let wall = chrono::Utc::now();
            let id = target.post(&url, n).await?.context("no directive_id")?;
            let answered = at.elapsed();
            sent.lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .insert(id, Sent { at, wall, answered });
            Ok(())
        }
    })
    .await?;
    let sent = std::mem::take(&mut *sent.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);

    // Where each order's plan is in the log, once they are all there.
    let deadline = Instant::now() + DRAIN;
    let planned = loop {
        let planned = plan_positions(&*system.store).await?;
        let missing = sent.keys().filter(|id| !planned.contains_key(*id)).count();
        if missing == 0 {
            break planned;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{missing} of {} orders were not planned within {DRAIN:?}",
            sent.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let last = sent
        .keys()
        .filter_map(|id| planned.get(id))
        .map(|p| p.position)
        .max()
        .unwrap_or(Position::START);
    while visible.time_at(last)?.is_none() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the directives projection did not reach the last plan within {DRAIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut ours = Vec::with_capacity(sent.len());
    let mut stages: [Vec<f64>; 3] = Default::default();
    let ms = |d: chrono::TimeDelta| d.num_microseconds().unwrap_or(0) as f64 / 1000.0;
    for (id, sent) in &sent {
        let plan = &planned[id];
        let seen = visible
            .time_at(plan.position)?
            .context("a plan the projection has passed")?;
        let total = seen.saturating_duration_since(sent.at);
        ours.push(total.as_secs_f64() * 1000.0);
        // The log's times are this machine's clock, as is `wall`.
        let seen_wall = sent.wall + total;
        stages[0].push(sent.answered.as_secs_f64() * 1000.0);
        stages[1].push(ms(plan.planned_at - plan.issued_at));
        stages[2].push(ms(seen_wall - plan.planned_at));
    }
    let (p50, p99) = percentiles(&mut ours);
    let stage_names = [
        "POST → 202 (the order appended)",
        "order recorded → plan recorded (bus, planner)",
        "plan recorded → in the read model",
    ];
    let stages = stage_names
        .into_iter()
        .zip(stages.iter_mut())
        .map(|(name, values)| {
            let (p50_ms, p99_ms) = percentiles(values);
            Stage {
                name,
                p50_ms,
                p99_ms,
            }
        })
        .collect();

    // The baseline at the same rate: the time to a committed raw insert.
    let times: Arc<Mutex<Vec<f64>>> = Arc::default();
    let raw = target.raw.clone();
    warm_up(&target, &raw, every).await?;
    paced(args.seconds, every, |n| {
        let (target, times, raw) = (Arc::clone(&target), Arc::clone(&times), raw.clone());
        async move {
            let at = Instant::now();
            target.post(&raw, n).await?;
            let ms = at.elapsed().as_secs_f64() * 1000.0;
            times
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .push(ms);
            Ok(())
        }
    })
    .await?;
    let mut raw_times =
        std::mem::take(&mut *times.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    let (raw_p50, raw_p99) = percentiles(&mut raw_times);
    Ok(Latency {
        name: format!("POST order → plan in the read model at {rate}/s"),
        events_per_sec: rate,
        events: ours.len(),
        p50_ms: p50,
        p99_ms: p99,
        baseline: "raw POST → INSERT answered, same rate",
        baseline_p50_ms: raw_p50,
        baseline_p99_ms: raw_p99,
        target_p99_ms: (rate >= 200).then_some(TARGET_P99_MS),
        stages,
    })
}

/// One measured order: when it was sent (by the monotonic clock and by the
/// wall clock, which the log's times are on), and how long its `202` took.
struct Sent {
    at: Instant,
    wall: chrono::DateTime<chrono::Utc>,
    answered: Duration,
}

/// An order's plan in the log: its position, and when the store recorded
/// the order and the plan (the time an append is given, as it starts).
struct Planned {
    position: Position,
    issued_at: chrono::DateTime<chrono::Utc>,
    planned_at: chrono::DateTime<chrono::Utc>,
}

/// Every planned directive's plan: its position and times (see [`Planned`]).
async fn plan_positions(store: &dyn EventStore) -> anyhow::Result<HashMap<String, Planned>> {
    let filter = EventFilter {
        categories: vec!["directive".to_owned()],
        event_types: vec!["DirectiveIssued".to_owned(), "DirectivePlanned".to_owned()],
    };
    let mut issued = HashMap::new();
    let mut planned = HashMap::new();
    let mut after = Position::START;
    loop {
        let batch = store.read_all(after, 1000, &filter).await?;
        for event in &batch.events {
            let id = event.stream_id.id().to_string();
            if event.event_type == "DirectiveIssued" {
                issued.insert(id, event.recorded_at);
            } else if let Some(issued_at) = issued.get(&id) {
                planned.insert(
                    id,
                    Planned {
                        position: event.position,
                        issued_at: *issued_at,
                        planned_at: event.recorded_at,
                    },
                );
            }
        }
        if batch.next == after || batch.events.is_empty() {
            return Ok(planned);
        }
        after = batch.next;
    }
}

/// The projection's committed checkpoints as they happened.
struct Checkpoints {
    seen: Arc<Mutex<Vec<(Position, Instant)>>>,
    task: JoinHandle<()>,
}

impl Checkpoints {
    /// When the projection first committed past `position`, if it has.
    fn time_at(&self, position: Position) -> anyhow::Result<Option<Instant>> {
        let seen = self.seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        // Checkpoints only move forward, and a checkpoint is the position of
        // the last event applied: the first one at or past the position.
        let index = seen.partition_point(|(at, _)| *at < position);
        Ok(seen.get(index).map(|(_, when)| *when))
    }
}

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn follow_checkpoints(mut status: watch::Receiver<ProjectionStatus>) -> Checkpoints {
    let seen: Arc<Mutex<Vec<(Position, Instant)>>> = Arc::default();
    let record = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        let mut last = status.borrow_and_update().checkpoint;
        while status.changed().await.is_ok() {
            let now = Instant::now();
            let checkpoint = status.borrow_and_update().checkpoint;
            if checkpoint > last {
                last = checkpoint;
                if let Ok(mut seen) = record.lock() {
                    seen.push((checkpoint, now));
                }
            }
        }
    });
    Checkpoints { seen, task }
}

/// Orders accepted per second by `url` with [`CLIENTS`] closed loops.
async fn throughput(target: &Target, url: &str, seconds: f64) -> anyhow::Result<f64> {
    let (target, url) = (Arc::new(target.clone()), Arc::new(url.to_owned()));
    let op: Op = Arc::new(move |client, round| {
        let (target, url) = (Arc::clone(&target), Arc::clone(&url));
        Box::pin(async move {
            target
                .post(&url, 1_000_000 * (client as u64 + 1) + round)
                .await?;
            Ok(1)
        })
    });
    closed_loops(CLIENTS, seconds, op).await
}
