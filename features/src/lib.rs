//! What AgentOS's business scenarios stand on. The scenarios are Gherkin in
//! `features/features/`, their steps in `tests/steps/`; run them with
//! `cargo test -p features --test scenarios`.
//!
//! [`AgentOs`] starts the whole system as `agentos serve --nats-url` runs it
//! (the event store on PostgreSQL in a fresh schema, the relay to a NATS
//! JetStream server of its own, the orchestrator reading JetStream, the
//! projections) and serves the gateway on a free local port: steps talk to it
//! over HTTP only. [`AgentOs::with_demo_company`] also simulates the demo
//! company's ERPNext and carrier on free ports and runs the Logistics agent
//! and the shipment follower over the real clients pointed at them
//! ([`DemoCompany`]: the simulators' state and faults, for the steps to
//! inspect and set). [`AgentOs::stop_abruptly`] stops the system as a
//! killed process stops, and [`AgentOs::start_again`] starts it over the
//! same schema, NATS and simulators. [`Answer`] is one HTTP answer;
//! [`TrailEvent`] is an event as the audit trail shows it, which turns back
//! into the store's record so that a client can check its hash chain and
//! replay its stream.
//!
//! It is not a test helper for other crates: each crate's `tests/` has its own.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agents::adapters::carrier::{Carrier, CarrierConfig};
use agents::adapters::erpnext::{ErpNext, ErpNextConfig};
use agents::logistics::erp::ErpNextStock;
use anyhow::{bail, Context as _};
use api::gateway::{self, AppState, Role};
use api::schedule::{Schedule, StandingOrder};
use api::system::{System, SystemConfig};
use chrono::{DateTime, Utc};
use commands::processor::ProcessorConfig;
use domain::{EventId, Hash, JsonText, Metadata, Position, RecordedEvent, StreamId};
use eventstore::testing::{database_url, TestNats, TestPostgres};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use simulators::carrier::CarrierSim;
use simulators::erpnext::ErpNextSim;
use simulators::SimServer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long a step waits for the system to reach what it expects.
pub const PATIENCE: Duration = Duration::from_secs(20);
/// Each HTTP request's time limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopped gateway may take to finish the requests it holds.
const GATEWAY_CLOSE: Duration = Duration::from_secs(5);

/// The demo company's systems, simulated on local ports for one scenario
/// as `agentos demo` simulates them: its ERPNext and its carrier (an
/// EasyPost-style tracking API that posts signed webhooks to the gateway).
pub struct DemoCompany {
    /// What ERPNext holds now (its documents, shared with the server).
    pub erpnext: ErpNextSim,
    /// ERPNext's server; its [`SimServer::faults`] tell it to misbehave.
    pub erpnext_server: SimServer,
    /// The carrier's parcels: their scripts, moves and webhook deliveries.
    pub carrier: CarrierSim,
    /// The carrier's server.
    pub carrier_server: SimServer,
    erpnext_key: String,
    erpnext_secret: String,
    carrier_key: String,
    webhook_secret: String,
}

impl std::fmt::Debug for DemoCompany {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoCompany")
            .field("erpnext", &self.erpnext_server.url())
            .field("carrier", &self.carrier_server.url())
            .finish_non_exhaustive()
    }
}

impl DemoCompany {
    /// Seeds the demo company's ERPNext and serves it and the carrier on
    /// free local ports.
    async fn start() -> anyhow::Result<Self> {
        let secret = || format!("{:032x}", Uuid::new_v4().as_u128());
        let (erpnext_key, erpnext_secret) = ("agentos".to_owned(), secret());
        let erpnext = ErpNextSim::demo_company(&erpnext_key, &erpnext_secret)
            .context("cannot seed the demo company")?;
        let erpnext_server = SimServer::start_local(erpnext.router())
            .await
            .context("cannot serve the ERPNext simulator")?;
        let (carrier_key, webhook_secret) = (secret(), secret());
        let carrier = CarrierSim::new(&carrier_key);
        let carrier_server = SimServer::start_local(carrier.router())
            .await
            .context("cannot serve the carrier simulator")?;
        Ok(Self {
            erpnext,
            erpnext_server,
            carrier,
            carrier_server,
            erpnext_key,
            erpnext_secret,
            carrier_key,
            webhook_secret,
        })
    }

    /// Points `config` at the simulators as `agentos serve` would be
    /// pointed at the real systems: the Logistics agent's ERP over the real
    /// ERPNext client (amounts in euros), the shipment follower's carrier
    /// client, and the secret the carrier's webhooks are signed with.
    fn configure(&self, config: &mut SystemConfig) -> anyhow::Result<()> {
        let erpnext = ErpNext::new(
            ErpNextConfig::new(
                &self.erpnext_server.url(),
                &self.erpnext_key,
                &self.erpnext_secret,
            ),
            &config.adapters,
        )
        .context("cannot configure the ERPNext client")?;
        config.erp = Some(Arc::new(ErpNextStock::new(erpnext, "EUR".parse()?)));
        let carrier = Carrier::new(
            CarrierConfig::new(self.carrier_server.url(), &self.carrier_key),
            &config.adapters,
        )
        .context("cannot configure the carrier client")?;
        config.carrier = Some(carrier);
        config.carrier_webhook_secret = Some(self.webhook_secret.clone());
        Ok(())
    }

    /// Has the carrier post its webhooks to the gateway at `base`.
    fn post_webhooks_to(&self, base: &str) {
        self.carrier.set_webhook(
            format!("{base}/api/v1/webhooks/carrier"),
            self.webhook_secret.clone(),
        );
    }
}

/// AgentOS running for one scenario, with everything it uses of its own.
pub struct AgentOs {
    /// `http://127.0.0.1:<port>`.
    base: String,
    client: reqwest::Client,
    state: AppState,
    system: Option<System>,
    server: Option<JoinHandle<()>>,
    close: Option<oneshot::Sender<()>>,
    /// Whether the system was stopped abruptly and started again.
    restarted: bool,
    // Dropped after the system stops, in this order: the simulators stop, NATS
    // is killed, then the schema is dropped.
    company: Option<DemoCompany>,
    nats: TestNats,
    postgres: TestPostgres,
}

impl std::fmt::Debug for AgentOs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentOs")
            .field("gateway", &self.base)
            .field("schema", &self.postgres.schema)
            .field("nats", &self.nats.url)
            .field("company", &self.company)
            .finish()
    }
}

impl AgentOs {
    /// Starts AgentOS on a fresh PostgreSQL schema and a nats-server of its
    /// own, serves the gateway, and waits until `/readyz` says it can serve.
    pub async fn start() -> anyhow::Result<Self> {
        Self::launch(None).await
    }

    /// Starts AgentOS as [`AgentOs::start`] does, with the demo company's
    /// ERPNext and carrier simulated on free ports: the Logistics agent and
    /// the shipment follower run over the real clients pointed at them.
    pub async fn with_demo_company() -> anyhow::Result<Self> {
        Self::launch(Some(DemoCompany::start().await?)).await
    }

    async fn launch(company: Option<DemoCompany>) -> anyhow::Result<Self> {
        let postgres = TestPostgres::new().await;
        let nats = TestNats::start().await;
        let system = start_system(&postgres, &nats, company.as_ref()).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("no free local port")?;
        let mut agentos = Self {
            base: format!("http://{}", listener.local_addr()?),
            client: http_client()?,
            state: system.gateway_state().await?,
            system: Some(system),
            server: None,
            close: None,
            restarted: false,
            company,
            nats,
            postgres,
        };
        agentos.serve(listener);
        agentos.wait_until_ready().await?;
        Ok(agentos)
    }

    /// Serves the gateway over the current state on `listener`.
    fn serve(&mut self, listener: tokio::net::TcpListener) {
        if let Some(company) = &self.company {
            company.post_webhooks_to(&self.base);
        }
        let (close, closed) = oneshot::channel::<()>();
        self.server = Some(tokio::spawn(gateway_until_closed(
            listener,
            self.state.clone(),
            closed,
        )));
        self.close = Some(close);
    }

    /// Stops the system abruptly, as a killed process stops: every
    /// component is aborted where it stands (an event being handled is
    /// neither finished nor acknowledged); the gateway closes. The schema,
    /// the NATS server and the simulators stay for [`AgentOs::start_again`].
    pub async fn stop_abruptly(&mut self) {
        if let Some(system) = self.system.take() {
            system.shutdown();
        }
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
        if let Some(mut server) = self.server.take() {
            if tokio::time::timeout(GATEWAY_CLOSE, &mut server)
                .await
                .is_err()
            {
                server.abort();
                let _ = server.await;
            }
        }
    }

    /// Starts the system and the gateway again over the same schema, NATS
    /// server and simulators, and waits until `/readyz` says it can serve.
    /// Tokens given before still hold.
    pub async fn start_again(&mut self) -> anyhow::Result<()> {
        if self.system.is_some() {
            bail!("AgentOS is running: stop it first");
        }
        let system = start_system(&self.postgres, &self.nats, self.company.as_ref()).await?;
        self.state = system.gateway_state().await?;
        self.system = Some(system);
        // A port of its own again: the old one may be another scenario's by now.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("no free local port")?;
        self.base = format!("http://{}", listener.local_addr()?);
        // A new client: no connection to the old gateway is reused.
        self.client = http_client()?;
        self.restarted = true;
        self.serve(listener);
        self.wait_until_ready().await
    }

    /// How long a step waits for the system to reach what it expects:
    /// [`PATIENCE`], and after a restart also the time JetStream takes to
    /// give the new process what the stopped one held unacknowledged (the
    /// processors' ack wait).
    pub fn patience(&self) -> Duration {
        if self.restarted {
            PATIENCE + ProcessorConfig::default().ack_wait
        } else {
            PATIENCE
        }
    }

    /// The demo company's simulated systems, if AgentOS was started with them.
    pub fn company(&self) -> Option<&DemoCompany> {
        self.company.as_ref()
    }

    /// Gives a standing order now, as the schedule (and the demo) gives it,
    /// through the running system's command handler: the directive's id.
    pub async fn give_standing_order(&self, order: &StandingOrder) -> anyhow::Result<Uuid> {
        let Some(system) = &self.system else {
            bail!("AgentOS is not running");
        };
        let now = Utc::now();
        Schedule::new(system.handler.clone(), Vec::new())
            .give(order, now)
            .await
            .with_context(|| format!("cannot give the standing order {}", order.name))?;
        Ok(order.directive_id(now.date_naive()))
    }

    /// Waits until `/readyz` answers 200: the database answers, NATS is
    /// connected and every projection applies events.
    async fn wait_until_ready(&self) -> anyhow::Result<()> {
        let operator = self.token(Role::Operator).await?;
        self.get_until("/readyz", &operator, "AgentOS to be ready", |answer| {
            answer.status == 200
        })
        .await
        .map(|_| ())
    }

    /// Stops the gateway and every component (the schema and the NATS
    /// server go when this is dropped).
    pub fn stop(&mut self) {
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some(system) = self.system.take() {
            system.shutdown();
        }
    }

    /// A new bearer token of `role`.
    pub async fn token(&self, role: Role) -> anyhow::Result<String> {
        let name = format!(
            "{role}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        Ok(self.state.tokens.create(&name, role).await?.secret)
    }

    /// GET `path` as `token`.
    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Answer> {
        let request = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        Answer::of(request, path).await
    }

    /// POST `body` to `path` as `token`, with an `Idempotency-Key` if given.
    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        Answer::of(request, path).await
    }

    /// GETs `path` until `done` holds for the answer (at most [`PATIENCE`]);
    /// that answer, or an error naming `what` with the last answer.
    pub async fn get_until(
        &self,
        path: &str,
        token: &str,
        what: &str,
        done: impl Fn(&Answer) -> bool,
    ) -> anyhow::Result<Answer> {
        let patience = self.patience();
        let deadline = Instant::now() + patience;
        loop {
            let answer = self.get(path, token).await?;
            if done(&answer) {
                return Ok(answer);
            }
            if Instant::now() >= deadline {
                bail!(
                    "waited {patience:?} for {what}; GET {path} last answered {} {}",
                    answer.status,
                    answer.text
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Calls `look` until it finds what it looks for (at most
    /// [`AgentOs::patience`]): `Ok(Ok(found))` ends the wait,
    /// `Ok(Err(seen))` waits on (`seen` says what it saw, for the message
    /// if the wait fails), `Err` fails at once.
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut look: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Result<T, String>>>,
    {
        let patience = self.patience();
        let deadline = Instant::now() + patience;
        loop {
            let seen = match look().await? {
                Ok(found) => return Ok(found),
                Err(seen) => seen,
            };
            if Instant::now() >= deadline {
                bail!("waited {patience:?} for {what}; last saw {seen}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A stream's whole history as the audit trail shows it, up to `as_of`
    /// (default: its current version), following the pages.
    pub async fn history(
        &self,
        token: &str,
        stream: &str,
        as_of: Option<u64>,
    ) -> anyhow::Result<History> {
        let as_of = as_of.map(|v| format!("&as_of={v}")).unwrap_or_default();
        let mut from = 1;
        let mut whole: Option<History> = None;
        loop {
            let page: History = self
                .get(
                    &format!("/api/v1/streams/{stream}?from={from}{as_of}"),
                    token,
                )
                .await?
                .expect(200)?
                .parse()?;
            let next = page.next_from;
            match whole.as_mut() {
                None => whole = Some(page),
                Some(whole) => whole.events.extend(page.events),
            }
            match next {
                Some(next) => from = next,
                None => break,
            }
        }
        whole.context("a history has at least one page")
    }
}

/// Starts the system over the scenario's schema, NATS server and simulators.
async fn start_system(
    postgres: &TestPostgres,
    nats: &TestNats,
    company: Option<&DemoCompany>,
) -> anyhow::Result<System> {
    let mut config = SystemConfig {
        schema: Some(postgres.schema.clone()),
        nats_url: Some(nats.url.clone()),
        ..SystemConfig::new(&database_url())
    };
    if let Some(company) = company {
        company.configure(&mut config)?;
    }
    System::start(config).await.context("AgentOS did not start")
}

/// The steps' HTTP client.
fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("an HTTP client")
}

impl Drop for AgentOs {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn gateway_until_closed(
    listener: tokio::net::TcpListener,
    state: AppState,
    closed: oneshot::Receiver<()>,
) {
    let shutdown = async move {
        let _ = closed.await;
    };
    if let Err(error) = gateway::serve(listener, state, shutdown).await {
        eprintln!("the gateway stopped: {error}");
    }
}

/// One HTTP answer, its body as text.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The request, for messages (`POST /api/v1/directives`).
    pub request: String,
    /// The status code.
    pub status: u16,
    /// The `Content-Type`, if any.
    pub content_type: Option<String>,
    /// Whether the read model answered behind the `min_checkpoint` asked for
    /// (`agentos-stale-checkpoint` was set).
    pub stale: bool,
    /// The body.
    pub text: String,
}

impl Answer {
    async fn of(request: reqwest::RequestBuilder, path: &str) -> anyhow::Result<Self> {
        let (client, request) = request.build_split();
        let request = request.context("a valid request")?;
        let described = format!("{} {path}", request.method());
        let response = client
            .execute(request)
            .await
            .with_context(|| format!("{described}: the gateway did not answer"))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let stale = header(gateway::STALE_HEADER).is_some();
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .with_context(|| format!("{described}: the body did not arrive"))?;
        Ok(Self {
            request: described,
            status,
            content_type,
            stale,
            text,
        })
    }

    /// This answer if its status is `status`, else an error with the body.
    pub fn expect(self, status: u16) -> anyhow::Result<Self> {
        if self.status != status {
            bail!(
                "{} answered {} where {status} was expected: {}",
                self.request,
                self.status,
                self.text
            );
        }
        Ok(self)
    }

    /// The body as JSON.
    pub fn json(&self) -> anyhow::Result<Value> {
        self.parse()
    }

    /// The body as a `T` (payloads stay byte for byte as sent).
    pub fn parse<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_str(&self.text)
            .with_context(|| format!("{}: unexpected body {}", self.request, self.text))
    }
}

/// One stream's history (`GET /api/v1/streams/{id}`).
#[derive(Debug, Clone, Deserialize)]
pub struct History {
    /// The stream.
    pub stream_id: StreamId,
    /// Its current version.
    pub version: u64,
    /// The version the history stops at.
    pub as_of: u64,
    /// Its events, oldest first.
    pub events: Vec<TrailEvent>,
    /// Where the next page starts, if any.
    pub next_from: Option<u64>,
}

impl History {
    /// The events as the store recorded them.
    pub fn recorded(&self) -> Vec<RecordedEvent> {
        self.events
            .iter()
            .cloned()
            .map(RecordedEvent::from)
            .collect()
    }
}

/// An event as the audit trail shows it.
#[derive(Debug, Clone, Deserialize)]
pub struct TrailEvent {
    /// Its place in the global order.
    pub position: Position,
    /// Its stream.
    pub stream_id: StreamId,
    /// Its version in the stream.
    pub version: u64,
    /// Its identity.
    pub event_id: EventId,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u32,
    /// The payload, exactly as sent.
    pub payload: JsonText,
    /// Correlation, causation, command and actor.
    pub metadata: Metadata,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The previous event's hash in its stream.
    pub prev_hash: Hash,
    /// Its hash.
    pub hash: Hash,
}

impl From<TrailEvent> for RecordedEvent {
    fn from(e: TrailEvent) -> Self {
        RecordedEvent {
            position: e.position,
            stream_id: e.stream_id,
            stream_version: e.version,
            event_id: e.event_id,
            event_type: e.event_type,
            schema_version: e.schema_version,
            payload: e.payload,
            metadata: e.metadata,
            recorded_at: e.recorded_at,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// A page of `GET /api/v1/events`.
#[derive(Debug, Clone, Deserialize)]
pub struct EventsPage {
    /// The events.
    pub events: Vec<TrailEvent>,
    /// The cursor of the next page, if any.
    pub next_cursor: Option<String>,
}
