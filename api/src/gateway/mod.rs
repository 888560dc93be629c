//! The HTTP gateway: authenticated JSON over axum, errors as problem+json.
//!
//! [`router`] composes one sub-router per resource (each module's
//! `routes()`, whose handlers carry their OpenAPI description, gathered by
//! [`openapi`]), then [`app`] adds what every route shares: the body limit,
//! the 404/405 problems, panic containment, request logs and the request
//! figures of `/metrics` ([`Metrics`]). Handlers take
//! [`State<AppState>`](axum::extract::State), a [`Principal`] (authentication)
//! and the [`ApiJson`]/[`ApiQuery`] extractors, and return
//! `Result<_, ApiError>`.

use std::collections::BTreeMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use axum::Router;
use commands::processor::ProcessorStatus;
use commands::CommandHandler;
use domain::Position;
use eventstore::EventStore;
use futures_util::FutureExt;
use projections::{Db, ProjectionStatus};
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;

use crate::activity::Activity;

mod agents;
mod audit;
pub mod auth;
mod dashboard;
mod directives;
pub mod events;
pub mod extract;
mod health;
mod logistics;
mod logs;
pub mod metrics;
mod openapi;
pub mod problem;
mod session;
mod webhooks;

pub use auth::{Principal, Role, Tokens};
pub use extract::{ApiJson, ApiQuery};
pub use health::MAX_PROJECTION_LAG;
pub use metrics::Metrics;
pub use openapi::openapi;
pub use problem::ApiError;

/// The largest request body accepted (64 KiB); larger ones get 413.
pub const BODY_LIMIT: usize = 64 * 1024;
/// How long a query waits for its read model to reach `min_checkpoint`.
pub const CONSISTENCY_WAIT: Duration = Duration::from_secs(2);
/// The header saying a read model had not reached `min_checkpoint` in time:
/// its value is the checkpoint the answer reflects.
pub const STALE_HEADER: &str = "agentos-stale-checkpoint";

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The event log.
    pub store: Arc<dyn EventStore>,
    /// The read-model database (the store's own), where tokens live too.
    pub db: Db,
    /// Bearer tokens.
    pub tokens: Tokens,
    /// How long queries wait for `min_checkpoint` (default [`CONSISTENCY_WAIT`]).
    pub consistency_wait: Duration,
    /// Sends commands on behalf of the caller.
    pub handler: CommandHandler,
    /// The health of the processors this process runs, by name.
    pub processors: BTreeMap<String, watch::Receiver<ProcessorStatus>>,
    /// The health of the projections this process runs, by name.
    pub projections: BTreeMap<String, watch::Receiver<ProjectionStatus>>,
    /// Whether the stop switch is engaged, as this process follows it.
    pub stop: Option<watch::Receiver<bool>>,
    /// The NATS connection, when this process uses NATS (readiness and
    /// metrics report its state).
    pub nats: Option<async_nats::Client>,
    /// How far behind the log a projection this process runs may be before
    /// `/readyz` answers 503 (default [`MAX_PROJECTION_LAG`]).
    pub max_projection_lag: Duration,
    /// What the gateway counts for `/metrics`.
    pub metrics: Metrics,
    /// This process's recent log lines (empty unless its subscriber feeds it).
    pub activity: Activity,
    /// The health of the adapters to external systems this process uses.
    pub adapters: ::agents::adapters::HealthBoard,
    /// The secret the carrier signs its webhooks with (`None`: carrier
    /// webhooks are not configured); never logged.
    pub carrier_webhook_secret: Option<String>,
    /// Set when the server shuts down: long-lived responses (the feed) end.
    closing: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// The state over a store and its database, creating the token table if needed.
    pub async fn new(store: Arc<dyn EventStore>, db: Db) -> Result<Self, auth::TokenError> {
        let tokens = Tokens::open(db.clone()).await?;
        Ok(Self {
            handler: CommandHandler::new(Arc::clone(&store)),
            store,
            db,
            tokens,
            consistency_wait: CONSISTENCY_WAIT,
            processors: BTreeMap::new(),
            projections: BTreeMap::new(),
            stop: None,
            nats: None,
            max_projection_lag: MAX_PROJECTION_LAG,
            metrics: Metrics::default(),
            activity: Activity::new(),
            adapters: ::agents::adapters::HealthBoard::new(),
            carrier_webhook_secret: None,
            closing: Arc::new(watch::channel(false).0),
        })
    }

    /// Tells long-lived responses (the feed) that the server is shutting down.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Follows whether the server is shutting down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Waits (at most [`AppState::consistency_wait`]) until the read model
    /// `projection` holds every event up to `min` (read-your-writes), polling
    /// its checkpoint. Return the outcome with the response: when the model
    /// is behind, it adds [`STALE_HEADER`].
    pub async fn wait_for_checkpoint(
        &self,
        projection: &str,
        min: Option<Position>,
    ) -> Result<Consistency, ApiError> {
        let Some(min) = min else {
            return Ok(Consistency::Current);
        };
        let deadline = Instant::now() + self.consistency_wait;
        let mut pause = Duration::from_millis(5);
        loop {
            let reached =
                projections::models::event_log::active_checkpoint(&self.db, projection).await?;
            if reached.is_some_and(|at| at >= min) {
                return Ok(Consistency::Current);
            }
            if Instant::now() >= deadline {
                return Ok(Consistency::Behind(reached.unwrap_or(Position::START)));
            }
            // The runner may run in another process: its checkpoint is polled.
            tokio::time::sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// Whether an answer reflects the `min_checkpoint` asked for; as a response
/// part, it adds [`STALE_HEADER`] when it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// The read model had reached the checkpoint (or none was asked for).
    Current,
    /// It had only reached this checkpoint when the wait ran out.
    Behind(Position),
}

impl IntoResponseParts for Consistency {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        if let Consistency::Behind(at) = self {
            if let Ok(value) = HeaderValue::from_str(&at.to_string()) {
                res.headers_mut()
                    .insert(HeaderName::from_static(STALE_HEADER), value);
            }
        }
        Ok(res)
    }
}

/// Every route of the gateway with its OpenAPI description. To add a
/// resource, write a module with `pub(crate) fn routes() ->
/// OpenApiRouter<AppState>` whose handlers carry `#[utoipa::path]` and are
/// registered with `routes!`, and merge it here.
pub(crate) fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(health::routes())
        .merge(metrics::routes())
        .merge(openapi::routes())
        .merge(events::routes())
        .merge(audit::routes())
        .merge(directives::routes())
        .merge(logistics::routes())
        .merge(agents::routes())
        .merge(logs::routes())
        .merge(session::routes())
        .merge(webhooks::routes())
}

/// Every route of the gateway.
pub fn routes() -> Router<AppState> {
    documented_routes().into()
}

/// The gateway over `state`.
pub fn router(state: AppState) -> Router {
    app(routes(), state)
}

/// `routes` with what every route shares: the dashboard for what no route
/// matches, 404 and 405 problems, the body limit, panics answered as 500
/// problems, request logs and metrics.
pub fn app(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(dashboard::fallback)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(contain_panics))
        .layer(middleware::from_fn(log_requests))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track_requests,
        ))
        .with_state(state)
}

/// Serves the gateway on `listener` until `shutdown` completes, then ends
/// the feeds and lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = state.clone();
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            closing.close();
        })
        .await
}

/// Opens the store a database URL names and its read-model database.
pub async fn connect(url: &str) -> Result<(Arc<dyn EventStore>, Db), eventstore::StoreError> {
    Ok(match eventstore::Backend::from_url(url)? {
        eventstore::Backend::Postgres(url) => {
            let store = eventstore::postgres::PgStore::connect(&url).await?;
            let db = Db::postgres(&store);
            (Arc::new(store), db)
        }
        eventstore::Backend::Sqlite(path) => {
            let store = eventstore::sqlite::SqliteStore::open(std::path::Path::new(&path)).await?;
            let db = Db::sqlite(&store)
                .await
                .map_err(|e| eventstore::StoreError::Unavailable(e.to_string()))?;
            (Arc::new(store), db)
        }
    })
}

/// A panicking handler answers 500 `internal`; the server and the other
/// requests carry on. The panic's message goes to the log, not the client.
async fn contain_panics(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            ApiError::internal(&format!("handler panicked on {method} {path}: {message}"))
                .into_response()
        }
    }
}

/// One log line per request: method, path (never the query or headers,
/// which may carry secrets), status and duration.
async fn log_requests(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        millis = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}
