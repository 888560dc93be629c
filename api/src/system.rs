//! Assembles AgentOS in one process: the event store, the bus, the stop
//! switch, the orchestrator, the department agents and the projection
//! runners, each started only
//! when asked for, so that `serve` can run them together or as separate
//! processes and `demo` runs everything embedded.
//!
//! Embedded (a SQLite URL): the in-process bus over the store. Production (a
//! PostgreSQL URL and a NATS URL): the relay publishes the log to JetStream
//! and processors read it there; without a NATS URL, processors read the
//! store directly (the in-process bus works on PostgreSQL too).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agents::adapters::carrier::Carrier;
use agents::adapters::HealthBoard;
use agents::brain::Brain;
use agents::logistics::shipments::ShipmentFollower;
use agents::logistics::{Erp, LogisticsAgent};
use agents::planner::Planner;
use agents::planner::RulePlanner;
use anyhow::Context as _;
use commands::control::stop_switch;
use commands::processor::{Processor, ProcessorConfig, ProcessorRunner, ProcessorStatus};
use commands::CommandHandler;
use domain::logistics::ReorderPolicy;
use domain::policy::Policy;
use eventstore::bus::jetstream::{JetStreamBus, StreamLayout};
use eventstore::bus::store::StoreBus;
use eventstore::bus::Bus;
use eventstore::postgres::{PgConfig, PgStore};
use eventstore::relay::{Relay, RelayConfig};
use eventstore::sqlite::SqliteStore;
use eventstore::{Backend, EventStore};
use projections::models::directives::Directives;
use projections::models::event_log::EventLog;
use projections::models::logistics::Logistics;
use projections::{Db, Projection, ProjectionRunner, ProjectionStatus, RunnerConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::carrier_poll::CarrierPoll;
use crate::clock::ApprovalClock;
use crate::gateway::AppState;
use crate::schedule::{Schedule, StandingOrder};

/// Which parts this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Components {
    /// The relay to NATS JetStream (PostgreSQL with a NATS URL only).
    pub relay: bool,
    /// The orchestrator.
    pub orchestrator: bool,
    /// The projection runners.
    pub projections: bool,
    /// The department agents (those configured: see [`SystemConfig::erp`]).
    pub agents: bool,
}

impl Components {
    /// Everything.
    pub const ALL: Components = Components {
        relay: true,
        orchestrator: true,
        projections: true,
        agents: true,
    };
}

/// How to start.
pub struct SystemConfig {
    /// The event store.
    pub database_url: String,
    /// The PostgreSQL schema of the log and the read models (`None`: the
    /// connection's default); ignored on SQLite.
    pub schema: Option<String>,
    /// NATS with JetStream, for production mode.
    pub nats_url: Option<String>,
    /// The JetStream stream and subjects the relay publishes to and
    /// processors read from.
    pub layout: StreamLayout,
    /// What to run.
    pub components: Components,
    /// The planner the orchestrator asks.
    pub planner: Arc<dyn Planner>,
    /// The approval rules.
    pub policy: Policy,
    /// The company's ERP, for the Logistics agent (which runs only with one).
    pub erp: Option<Arc<dyn Erp>>,
    /// The reorder rules' service level and costs.
    pub reorder: ReorderPolicy,
    /// The carrier's tracking API, for the shipment follower (which runs
    /// only with it and an ERP).
    pub carrier: Option<Carrier>,
    /// The secret the carrier signs its webhooks with (`None`: the gateway
    /// has no carrier webhook); never logged.
    pub carrier_webhook_secret: Option<String>,
    /// How far behind the log a read model this process runs may be before
    /// the gateway's `/readyz` says not ready.
    pub max_projection_lag: Duration,
    /// How often to ask the carrier about shipments on their way, for what
    /// lost webhooks did not say (`None`: never).
    pub carrier_poll: Option<Duration>,
    /// The adapters' health, shown by the gateway.
    pub adapters: HealthBoard,
    /// Orders given every day (with the orchestrator).
    pub standing_orders: Vec<StandingOrder>,
}

impl SystemConfig {
    /// Everything, embedded or not as the URL says, with the rule-based
    /// planner and the default policy in euros.
    pub fn new(database_url: &str) -> Self {
        Self {
            database_url: database_url.to_owned(),
            schema: None,
            nats_url: None,
            layout: StreamLayout::default(),
            components: Components::ALL,
            planner: Arc::new(RulePlanner::new()),
            policy: Policy::default_for("EUR".parse().unwrap_or_else(|_| unreachable!())),
            erp: None,
            reorder: ReorderPolicy::default(),
            carrier: None,
            carrier_webhook_secret: None,
            max_projection_lag: crate::gateway::MAX_PROJECTION_LAG,
            carrier_poll: Some(Duration::from_secs(600)),
            adapters: HealthBoard::new(),
            standing_orders: Vec::new(),
        }
    }
}

/// A running AgentOS process.
pub struct System {
    /// The event store.
    pub store: Arc<dyn EventStore>,
    /// The read models' database (the store's).
    pub db: Db,
    /// Sends commands.
    pub handler: CommandHandler,
    /// Each processor's health, by name.
    pub processors: BTreeMap<String, watch::Receiver<ProcessorStatus>>,
    /// Each projection's health, by name.
    pub projections: BTreeMap<String, watch::Receiver<ProjectionStatus>>,
    /// Whether the stop switch is engaged.
    pub stop: watch::Receiver<bool>,
    /// Whether NATS is in use (production mode).
    pub nats: Option<async_nats::Client>,
    /// The adapters' health.
    pub adapters: HealthBoard,
    carrier_webhook_secret: Option<String>,
    max_projection_lag: Duration,
    tasks: Vec<JoinHandle<()>>,
}

/// The projections every process with projections runs.
pub fn all_projections() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(Directives),
        Arc::new(EventLog),
        Arc::new(Logistics),
    ]
}

impl System {
    /// Opens the store and starts the configured components.
    pub async fn start(config: SystemConfig) -> anyhow::Result<System> {
        let (store, db, pg): (Arc<dyn EventStore>, Db, Option<PgStore>) =
            match Backend::from_url(&config.database_url)? {
                Backend::Postgres(url) => {
                    let store = PgStore::connect_with(PgConfig {
                        schema: config.schema.clone(),
                        ..PgConfig::new(&url)
                    })
                    .await?;
                    (Arc::new(store.clone()), Db::postgres(&store), Some(store))
                }
                Backend::Sqlite(path) => {
                    let path = Path::new(&path);
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("cannot create {}", dir.display()))?;
                    }
                    let store = SqliteStore::open(path).await?;
                    let db = Db::sqlite(&store).await?;
                    (Arc::new(store.clone()), db, None)
                }
            };
        // One handler for the whole process: the gateway, the processors
        // and the schedule decide on the states each other appended.
        let handler = CommandHandler::new(Arc::clone(&store));
        let mut tasks = Vec::new();
        let (stop, follower) = stop_switch(Arc::clone(&store));
        tasks.push(follower);
        let nats = match (&config.nats_url, &pg) {
            (Some(url), Some(_)) => Some(
                async_nats::connect(url)
                    .await
                    .with_context(|| format!("cannot connect to NATS at {url}"))?,
            ),
            (Some(_), None) => {
                anyhow::bail!("NATS needs the PostgreSQL event store; SQLite runs embedded")
            }
            _ => None,
        };
        let bus: Arc<dyn Bus> = match &nats {
            Some(client) => Arc::new(JetStreamBus::new(client.clone(), config.layout.clone())),
            None => Arc::new(StoreBus::new(Arc::clone(&store))),
        };
        if let (true, Some(pg), Some(client)) = (config.components.relay, &pg, &nats) {
            let relay = Relay::new(
                pg.clone(),
                client.clone(),
                RelayConfig {
                    layout: config.layout.clone(),
                    ..RelayConfig::default()
                },
            );
            tasks.push(tokio::spawn(relay.run()));
        }
        let mut processors = BTreeMap::new();
        let mut poll: Option<CarrierPoll> = None;
        let mut run = |processor: Arc<dyn Processor>| {
            let runner = ProcessorRunner::new(
                Arc::clone(&processor),
                Arc::clone(&bus),
                Arc::clone(&store),
                ProcessorConfig::default(),
            )
            .sending_through(handler.clone())
            .stopped_by(stop.clone());
            processors.insert(processor.name().to_owned(), runner.status());
            tasks.push(tokio::spawn(runner.run()));
        };
        if config.components.orchestrator {
            // Plans get a lane of their own: a new order's plan never
            // waits behind the work that follows earlier ones.
            let (brain, planning) =
                Brain::new(Arc::clone(&store), config.planner, config.policy.clone()).split();
            run(Arc::new(planning));
            run(Arc::new(brain));
        }
        if let (true, Some(erp)) = (config.components.agents, config.erp) {
            if let Some(carrier) = config.carrier {
                poll = config.carrier_poll.map(|interval| {
                    CarrierPoll::new(Arc::clone(&store), db.clone(), carrier.clone(), interval)
                });
                run(Arc::new(ShipmentFollower::new(
                    Arc::clone(&store),
                    carrier,
                    Arc::clone(&erp),
                )));
            }
            run(Arc::new(LogisticsAgent::new(
                Arc::clone(&store),
                erp,
                config.policy,
                config.reorder,
            )));
        }
        if let Some(poll) = poll {
            tasks.push(tokio::spawn(poll.run()));
        }
        if config.components.orchestrator {
            // Lapsed approvals end the tasks that waited for them.
            let clock = ApprovalClock::new(Arc::clone(&store), db.clone());
            tasks.push(tokio::spawn(clock.run()));
            let schedule = Schedule::new(handler.clone(), config.standing_orders);
            tasks.push(tokio::spawn(schedule.run()));
        }
        let mut projections = BTreeMap::new();
        if config.components.projections {
            for projection in all_projections() {
                let name = projection.name().to_owned();
                let runner = ProjectionRunner::new(
                    db.clone(),
                    Arc::clone(&store),
                    projection,
                    RunnerConfig::default(),
                );
                projections.insert(name, runner.status());
                tasks.push(tokio::spawn(runner.run()));
            }
        }
        Ok(System {
            handler,
            store,
            db,
            processors,
            projections,
            stop,
            nats,
            adapters: config.adapters,
            carrier_webhook_secret: config.carrier_webhook_secret,
            max_projection_lag: config.max_projection_lag,
            tasks,
        })
    }

    /// The gateway's state over this process: its store, database, NATS
    /// connection, and the health of the processors, projections and stop
    /// switch it runs.
    pub async fn gateway_state(&self) -> anyhow::Result<AppState> {
        let mut state = AppState::new(Arc::clone(&self.store), self.db.clone()).await?;
        state.handler = self.handler.clone();
        state.processors = self.processors.clone();
        state.projections = self.projections.clone();
        state.stop = Some(self.stop.clone());
        state.nats = self.nats.clone();
        state.adapters = self.adapters.clone();
        state.carrier_webhook_secret = self.carrier_webhook_secret.clone();
        state.max_projection_lag = self.max_projection_lag;
        Ok(state)
    }

    /// Stops every component.
    pub fn shutdown(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}
