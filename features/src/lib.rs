//! What AgentOS's business scenarios stand on. The scenarios are Gherkin in
//! `features/features/`, their steps in `tests/steps/`; run them with
//! `cargo test -p features --test scenarios`.
//!
//! [`AgentOs`] starts the whole system as `agentos serve --nats-url` runs it
//! (the event store on PostgreSQL in a fresh schema, the relay to a NATS
//! JetStream server of its own, the orchestrator reading JetStream, the
//! projections) and serves the gateway on a free local port: steps talk to it
//! over HTTP only. [`Answer`] is one HTTP answer; [`TrailEvent`] is an event
//! as the audit trail shows it, which turns back into the store's record so
//! that a client can check its hash chain and replay its stream.
//!
//! It is not a test helper for other crates: each crate's `tests/` has its own.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use api::gateway::{self, AppState, Role};
use api::system::{System, SystemConfig};
use chrono::{DateTime, Utc};
use domain::{EventId, Hash, JsonText, Metadata, Position, RecordedEvent, StreamId};
use eventstore::testing::{database_url, TestNats, TestPostgres};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a step waits for the system to reach what it expects.
pub const PATIENCE: Duration = Duration::from_secs(20);
/// Each HTTP request's time limit.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// AgentOS running for one scenario, with everything it uses of its own.
pub struct AgentOs {
    /// `http://127.0.0.1:<port>`.
    base: String,
    client: reqwest::Client,
    state: AppState,
    system: Option<System>,
    server: Option<JoinHandle<()>>,
    close: Option<oneshot::Sender<()>>,
    // Dropped after the system stops, in this order: NATS is killed, then
    // the schema is dropped.
    nats: TestNats,
    postgres: TestPostgres,
}

impl std::fmt::Debug for AgentOs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentOs")
            .field("gateway", &self.base)
            .field("schema", &self.postgres.schema)
            .field("nats", &self.nats.url)
            .finish()
    }
}

impl AgentOs {
    /// Starts AgentOS on a fresh PostgreSQL schema and a nats-server of its
    /// own, serves the gateway, and waits until `/readyz` says it can serve.
    pub async fn start() -> anyhow::Result<Self> {
        let postgres = TestPostgres::new().await;
        let nats = TestNats::start().await;
        let system = System::start(SystemConfig {
            schema: Some(postgres.schema.clone()),
            nats_url: Some(nats.url.clone()),
            ..SystemConfig::new(&database_url())
        })
        .await
        .context("AgentOS did not start")?;
        let state = system.gateway_state().await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("no free local port")?;
        let base = format!("http://{}", listener.local_addr()?);
        let (close, closed) = oneshot::channel::<()>();
        let server = tokio::spawn(gateway_until_closed(listener, state.clone(), closed));
        let agentos = Self {
            base,
            client: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .context("an HTTP client")?,
            state,
            system: Some(system),
            server: Some(server),
            close: Some(close),
            nats,
            postgres,
        };
        agentos.wait_until_ready().await?;
        Ok(agentos)
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
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answer = self.get(path, token).await?;
            if done(&answer) {
                return Ok(answer);
            }
            if Instant::now() >= deadline {
                bail!(
                    "waited {PATIENCE:?} for {what}; GET {path} last answered {} {}",
                    answer.status,
                    answer.text
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
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
