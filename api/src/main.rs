//! `agentos`: the AgentOS command line.
//!
//! Configuration comes from flags or `AGENTOS_*` environment variables; with
//! no database URL the event log lives in a SQLite file under `./data`.
//! Exit codes: 0 success, 1 error, 2 bad usage, 3 a broken hash chain.

use std::process::ExitCode;
use std::sync::Arc;

use api::gateway::{self, Role, Tokens};
use api::schedule::{Schedule, StandingOrder};
use api::system::{Components, System, SystemConfig};
use clap::{Parser, Subcommand};
use domain::StreamId;
use eventstore::{verify, EventStore};

mod adapter_args;
mod bench;
mod ops;
mod planner_args;

/// mimalloc instead of the system allocator: the relay, the gateway and the
/// processors allocate and free on many threads at once, where glibc's
/// arenas spent a third of the relay's time (`perf`; see the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// This process's recent log lines, served at `GET /api/v1/logs`.
static ACTIVITY: std::sync::LazyLock<api::activity::Activity> =
    std::sync::LazyLock::new(api::activity::Activity::new);

/// The default event log when no database is configured.
const DEFAULT_DATABASE_URL: &str = "sqlite://data/agentos.db";

#[derive(Parser)]
#[command(
    name = "agentos",
    version,
    about = "An operating system for AI agents that run a company's operations"
)]
struct Cli {
    /// Where events are stored: postgres://user@host:port/db or sqlite://path
    #[arg(long, env = "AGENTOS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true, hide_env_values = true)]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the database schema.
    Migrate,
    /// Check the hash chains of every stream (or one), naming the first broken link.
    Verify {
        /// Only this stream, e.g. directive-0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a
        #[arg(long)]
        stream: Option<StreamId>,
    },
    /// Measure the event store against raw baselines taken in the same run.
    Bench(bench::BenchArgs),
    /// Publish the event log to NATS JetStream until stopped (PostgreSQL only):
    /// one relay per name is active, others stand by and take over.
    Relay {
        /// The NATS server with JetStream (2.10 or later).
        #[arg(
            long,
            env = "AGENTOS_NATS_URL",
            default_value = "nats://127.0.0.1:4222",
            hide_env_values = true
        )]
        nats_url: String,
        /// The lease and checkpoint name.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Run AgentOS: the gateway and, unless --only says otherwise, the
    /// relay, the orchestrator and the projections, in this process.
    Serve {
        /// Where the gateway listens.
        #[arg(long, env = "AGENTOS_LISTEN", default_value = "0.0.0.0:8000")]
        listen: String,
        /// NATS with JetStream (PostgreSQL only); without it processors read the store.
        #[arg(long, env = "AGENTOS_NATS_URL", hide_env_values = true)]
        nats_url: Option<String>,
        /// Only these parts: any of gateway, relay, orchestrator, projections, agents.
        #[arg(long, value_delimiter = ',')]
        only: Vec<Part>,
        /// How many seconds a read model this process runs may be behind the
        /// log before `/readyz` answers 503.
        #[arg(
            long,
            env = "AGENTOS_MAX_PROJECTION_LAG_SECONDS",
            default_value_t = 30,
            value_parser = clap::value_parser!(u64).range(1..)
        )]
        max_projection_lag_seconds: u64,
        #[command(flatten)]
        planner: planner_args::PlannerArgs,
        #[command(flatten)]
        adapters: Box<adapter_args::AdapterArgs>,
    },
    /// Run everything embedded (SQLite, in-process bus) with a demo order,
    /// print the URL and a CEO token, and serve until Ctrl-C.
    Demo {
        /// Where the gateway listens.
        #[arg(long, env = "AGENTOS_LISTEN", default_value = "127.0.0.1:8000")]
        listen: String,
        #[command(flatten)]
        planner: planner_args::PlannerArgs,
    },
    /// Rebuild a read model from the first event into a new generation
    /// while the current one serves, then switch over (with a progress bar).
    Replay {
        /// The projection: directives or event_log.
        projection: String,
    },
    /// Print one order's whole story from the log, step by step, and verify
    /// the hash chains of the streams it touched (exit 3 if one is broken).
    Audit {
        /// The order's correlation id (the directive's, shown by the API).
        #[arg(long)]
        correlation_id: domain::CorrelationId,
    },
    /// Create, list and revoke the gateway's bearer tokens.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
}

/// A part of AgentOS that `serve --only` can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// The HTTP API.
    Gateway,
    /// The relay to NATS JetStream.
    Relay,
    /// The Brain.
    Orchestrator,
    /// The read models.
    Projections,
    /// The department agents (Logistics, with an ERP configured).
    Agents,
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// What it may do: ceo, operator, auditor or viewer.
        #[arg(long)]
        role: Role,
        /// A name for it (1-64 characters of A-Z a-z 0-9 . _ @ -), unique among live tokens.
        #[arg(long)]
        name: String,
    },
    /// List tokens (names, roles, dates; never the secrets).
    List,
    /// Revoke the live token of this name; it stops working within seconds.
    Revoke {
        /// The token's name.
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        use tracing_subscriber::Layer as _;
        let stderr = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(
                tracing_subscriber::EnvFilter::try_from_env("AGENTOS_LOG")
                    .unwrap_or_else(|_| "warn".into()),
            );
        // The activity log keeps INFO and above whatever stderr shows.
        tracing_subscriber::registry()
            .with(stderr)
            .with(
                ACTIVITY
                    .layer()
                    .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
            )
            .init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate => {
            let store = eventstore::open(&cli.database_url).await?;
            let counts = store.counts().await?;
            println!(
                "schema up to date at {} ({} events in {} streams)",
                eventstore::redact(&cli.database_url),
                counts.events,
                counts.streams
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { stream } => {
            let store = eventstore::open(&cli.database_url).await?;
            run_verify(store, stream).await
        }
        Command::Bench(args) => {
            bench::run(&cli.database_url, args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Relay { nats_url, name } => run_relay(&cli.database_url, &nats_url, name).await,
        Command::Token { action } => run_token(&cli.database_url, action).await,
        Command::Serve {
            listen,
            nats_url,
            only,
            max_projection_lag_seconds,
            planner,
            adapters,
        } => {
            run_serve(
                &cli.database_url,
                &listen,
                std::time::Duration::from_secs(max_projection_lag_seconds),
                nats_url,
                &only,
                &planner,
                &adapters,
            )
            .await
        }
        Command::Demo { listen, planner } => run_demo(&cli.database_url, &listen, &planner).await,
        Command::Replay { projection } => ops::replay(&cli.database_url, &projection).await,
        Command::Audit { correlation_id } => ops::audit(&cli.database_url, correlation_id).await,
    }
}

/// Creates, lists or revokes tokens; the secret goes to stdout once, alone.
async fn run_token(database_url: &str, action: TokenAction) -> anyhow::Result<ExitCode> {
    let (_store, db) = gateway::connect(database_url).await?;
    let tokens = Tokens::open(db).await?;
    match action {
        TokenAction::Create { role, name } => {
            let token = tokens.create(&name, role).await?;
            eprintln!(
                "created token {:?} with role {}; it is shown only this once:",
                token.info.name, token.info.role
            );
            println!("{}", token.secret);
        }
        TokenAction::List => {
            let list = tokens.list().await?;
            if list.is_empty() {
                println!(
                    "no tokens; create one with: agentos token create --role ceo --name <name>"
                );
            }
            for token in list {
                let state = match &token.revoked_at {
                    Some(at) => format!("revoked {at}"),
                    None => "live".to_owned(),
                };
                println!(
                    "{:<24} {:<9} created {}  {state}",
                    token.name, token.role, token.created_at
                );
            }
        }
        TokenAction::Revoke { name } => {
            tokens.revoke(&name).await?;
            println!("revoked token {name:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts the parts asked for and serves the gateway (if asked for) until Ctrl-C.
async fn run_serve(
    database_url: &str,
    listen: &str,
    max_projection_lag: std::time::Duration,
    nats_url: Option<String>,
    only: &[Part],
    planner: &planner_args::PlannerArgs,
    adapters: &adapter_args::AdapterArgs,
) -> anyhow::Result<ExitCode> {
    let wants = |part| only.is_empty() || only.contains(&part);
    let mut config = SystemConfig::new(database_url);
    config.nats_url = nats_url;
    config.max_projection_lag = max_projection_lag;
    config.planner = planner.planner()?;
    config.erp = adapters.erp(&config.adapters)?;
    if let Some(erp) = config.erp.clone() {
        // Said at start, not only when the first purchase order is refused.
        tokio::spawn(async move {
            match erp.check_setup().await {
                Ok(()) => tracing::info!("ERPNext has the custom fields the Logistics agent needs"),
                Err(agents::logistics::ErpFailure::Refused(why)) => tracing::error!(
                    %why,
                    "ERPNext is not set up: purchase orders and receipts will be refused"
                ),
                Err(agents::logistics::ErpFailure::Unavailable(why)) => tracing::warn!(
                    %why,
                    "cannot check ERPNext's set-up now; it is checked before the first write"
                ),
            }
        });
    }
    config.carrier = adapters.carrier(&config.adapters)?;
    config.carrier_webhook_secret = adapters.carrier_webhook_secret();
    config.carrier_poll = adapters.carrier_poll();
    config.standing_orders = adapters.standing_orders();
    if config.erp.is_none() && wants(Part::Agents) && !only.is_empty() {
        anyhow::bail!("the agents need ERPNext: set AGENTOS_ERPNEXT_URL, _API_KEY and _API_SECRET");
    }
    config.components = Components {
        relay: wants(Part::Relay),
        orchestrator: wants(Part::Orchestrator),
        projections: wants(Part::Projections),
        agents: wants(Part::Agents),
    };
    let system = System::start(config).await?;
    let result = serve_until_interrupted(&system, listen, wants(Part::Gateway), None).await;
    system.shutdown();
    result
}

/// Runs everything embedded, with the demo company's systems simulated, a
/// CEO token, and the morning inventory scan given at once.
async fn run_demo(
    database_url: &str,
    listen: &str,
    planner: &planner_args::PlannerArgs,
) -> anyhow::Result<ExitCode> {
    if !database_url.starts_with("sqlite:") {
        anyhow::bail!(
            "the demo runs embedded on SQLite; use `agentos serve` for {}",
            eventstore::redact(database_url)
        );
    }
    let mut config = SystemConfig::new(database_url);
    config.planner = planner.planner()?;
    let simulated = adapter_args::Simulated::start(&config.adapters, listen).await?;
    config.erp = Some(Arc::clone(&simulated.erp));
    config.carrier = Some(simulated.carrier_client.clone());
    config.carrier_webhook_secret = Some(simulated.webhook_secret.clone());
    config.carrier_poll = Some(std::time::Duration::from_secs(60));
    // Parcels move on by one step every 20 seconds.
    let parcels = simulated.parcels.clone();
    let moving = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(20)).await;
            parcels.advance_all().await;
        }
    });
    let morning = StandingOrder::morning_scan(
        chrono::NaiveTime::from_hms_opt(6, 0, 0).unwrap_or(chrono::NaiveTime::MIN),
    );
    config.standing_orders = vec![morning.clone()];
    let system = System::start(config).await?;
    let tokens = Tokens::open(system.db.clone()).await?;
    let name = format!("demo-ceo-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let token = tokens.create(&name, Role::Ceo).await?;
    // Today's morning scan, now (once a day, however often the demo starts).
    Schedule::new(system.handler.clone(), Vec::new())
        .give(&morning, chrono::Utc::now())
        .await
        .map_err(|e| anyhow::anyhow!("cannot give the morning scan: {e}"))?;
    let banner = format!(
        "AgentOS demo: events in {}\n\
         API:        http://{listen}/api/v1/directives\n\
         CEO token:  {}\n\
         ERPNext:    {} (simulated demo company)\n\
         Sheets:     {} (simulated shelf counts)\n\
         Carrier:    {} (simulated parcels, one step every 20 s)\n\
         try:        curl -H 'Authorization: Bearer {}' http://{listen}/api/v1/approvals",
        eventstore::redact(database_url),
        token.secret,
        simulated.erpnext.url(),
        simulated.sheets.url(),
        simulated.carrier.url(),
        token.secret
    );
    let result = serve_until_interrupted(&system, listen, true, Some(banner)).await;
    moving.abort();
    system.shutdown();
    result
}

/// Serves the gateway over a running system until Ctrl-C (or just waits
/// for Ctrl-C when this process runs no gateway).
async fn serve_until_interrupted(
    system: &System,
    listen: &str,
    gateway_wanted: bool,
    banner: Option<String>,
) -> anyhow::Result<ExitCode> {
    if !gateway_wanted {
        eprintln!("running without the gateway; Ctrl-C stops");
        tokio::signal::ctrl_c().await?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut state = system.gateway_state().await?;
    state.activity = ACTIVITY.clone();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    match banner {
        Some(banner) => println!("{banner}"),
        None => eprintln!("AgentOS gateway on http://{listen}; Ctrl-C stops"),
    }
    gateway::serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the relay until Ctrl-C, printing each change of state.
async fn run_relay(database_url: &str, nats_url: &str, name: String) -> anyhow::Result<ExitCode> {
    let eventstore::Backend::Postgres(url) = eventstore::Backend::from_url(database_url)? else {
        anyhow::bail!(
            "the relay publishes a PostgreSQL log: give a postgres:// database URL \
             (in embedded mode, SQLite, processors read the store itself and need no relay)"
        );
    };
    let store = eventstore::postgres::PgStore::connect(&url).await?;
    // Connects in the background and keeps reconnecting: the relay reports
    // an unreachable NATS in its status and retries.
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(nats_url)
        .await?;
    let config = eventstore::relay::RelayConfig {
        name,
        ..Default::default()
    };
    let relay = eventstore::relay::Relay::new(store, client, config.clone());
    let mut status = relay.status();
    let task = tokio::spawn(relay.run());
    let mut last = None;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = status.borrow_and_update().clone();
                if last.as_ref() != Some(&now.state) {
                    match &now.last_error {
                        Some(error) => println!("relay {}: {:?} ({error})", config.name, now.state),
                        None => println!(
                            "relay {}: {:?} at checkpoint {}",
                            config.name, now.state, now.checkpoint
                        ),
                    }
                    last = Some(now.state);
                }
            }
        }
    }
    task.abort();
    let now = status.borrow().clone();
    println!(
        "relay {}: stopped at checkpoint {} after publishing {} events",
        config.name, now.checkpoint, now.published
    );
    Ok(ExitCode::SUCCESS)
}

async fn run_verify(
    store: Arc<dyn EventStore>,
    stream: Option<StreamId>,
) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let report = match &stream {
        Some(stream) => verify::verify_stream(&*store, stream).await?,
        None => {
            let total = store.counts().await?.events;
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} events ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let report = verify::verify_all(&*store, |done| bar.set_position(done)).await;
            bar.finish_and_clear();
            report?
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    if report.is_intact() {
        println!(
            "intact: {} events in {} streams verified in {seconds:.2}s",
            report.events, report.streams
        );
        return Ok(ExitCode::SUCCESS);
    }
    for (stream, link) in &report.broken {
        println!("BROKEN {}", verify::describe(stream, link));
    }
    if report.broken_streams > report.broken.len() as u64 {
        println!(
            "… and {} more broken streams",
            report.broken_streams - report.broken.len() as u64
        );
    }
    println!(
        "{} of {} streams have a broken hash chain ({} events checked)",
        report.broken_streams, report.streams, report.events
    );
    Ok(ExitCode::from(ops::BROKEN_CHAIN))
}
