//! `agentos`: the AgentOS command line.
//!
//! Configuration comes from flags or `AGENTOS_*` environment variables; with
//! no database URL the event log lives in a SQLite file under `./data`.
//! Exit codes: 0 success, 1 error, 2 bad usage, 3 a broken hash chain.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use domain::StreamId;
use eventstore::{verify, EventStore};

mod bench;

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
}

/// The exit code of a broken chain.
const BROKEN_CHAIN: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AGENTOS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
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
    }
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
    Ok(ExitCode::from(BROKEN_CHAIN))
}
