//! What the gateway tests share: the gateway served on a free local port
//! over a fresh PostgreSQL schema or SQLite file, the event-log projection
//! running, tokens, appends and requests.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use api::gateway::{self, AppState, Role};
use axum::Router;
use domain::{Actor, CorrelationId, EventId, JsonText, Metadata, NewEvent, Position, StreamId};
use eventstore::testing::{TestPostgres, TestSqlite};
use eventstore::{AppendRequest, EventStore, ExpectedVersion};
use projections::models::event_log::EventLog;
use projections::{Db, Projection, ProjectionRunner, RunnerConfig};
use serde_json::Value;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The database a test runs on, kept alive as long as the app.
enum Backing {
    Postgres(TestPostgres),
    Sqlite(TestSqlite),
}

/// A served gateway.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn EventStore>,
    pub db: Db,
    pub state: AppState,
    server: JoinHandle<()>,
    runner: Option<JoinHandle<()>>,
    _backing: Backing,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(runner) = self.runner.take() {
            runner.abort();
        }
    }
}

/// Which database.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Postgres,
    Sqlite,
}

impl TestApp {
    /// The gateway's own routes.
    pub async fn start(kind: Kind) -> Self {
        Self::with_routes(kind, Router::new()).await
    }

    /// The gateway's routes plus `extra`, with everything the gateway adds to routes.
    pub async fn with_routes(kind: Kind, extra: Router<AppState>) -> Self {
        Self::build(kind, extra, |_| {}).await
    }

    /// The gateway's routes over a state `configure` changed first (it may
    /// register health channels, NATS, limits).
    pub async fn with_state(kind: Kind, configure: impl FnOnce(&mut AppState)) -> Self {
        Self::build(kind, Router::new(), configure).await
    }

    async fn build(
        kind: Kind,
        extra: Router<AppState>,
        configure: impl FnOnce(&mut AppState),
    ) -> Self {
        let (backing, store, db) = match kind {
            Kind::Postgres => {
                let pg = TestPostgres::new().await;
                let db = Db::postgres(&pg.store);
                let store = pg.shared();
                (Backing::Postgres(pg), store, db)
            }
            Kind::Sqlite => {
                let lite = TestSqlite::new().await;
                let db = Db::sqlite(&lite.store).await.expect("read models");
                let store = lite.shared();
                (Backing::Sqlite(lite), store, db)
            }
        };
        let mut state = AppState::new(Arc::clone(&store), db.clone())
            .await
            .expect("the gateway's state");
        state.consistency_wait = Duration::from_millis(500);
        configure(&mut state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let app = gateway::app(gateway::routes().merge(extra), state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut app = Self {
            base,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("an HTTP client"),
            store,
            db,
            state,
            server,
            runner: None,
            _backing: backing,
        };
        app.start_event_log();
        app.wait_for_event_log().await;
        app
    }

    /// Waits until the event log's first generation serves.
    pub async fn wait_for_event_log(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let checkpoint = projections::models::event_log::active_checkpoint(
                &self.db,
                projections::models::event_log::NAME,
            )
            .await;
            if matches!(checkpoint, Ok(Some(_))) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the event log did not start within 10 s: {checkpoint:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the event-log projection's runner.
    pub fn start_event_log(&mut self) {
        self.runner = Some(self.run_projection(Arc::new(EventLog)));
    }

    /// Runs `projection` over the app's store and read models, polling
    /// briskly (aborted with the handle).
    pub fn run_projection(&self, projection: Arc<dyn Projection>) -> JoinHandle<()> {
        let runner = ProjectionRunner::new(
            self.db.clone(),
            Arc::clone(&self.store),
            projection,
            RunnerConfig {
                batch: 100,
                max_backoff: Duration::from_millis(200),
                idle_recheck: Duration::from_millis(100),
            },
        );
        tokio::spawn(runner.run())
    }

    /// Stops it (as a crash would).
    pub async fn stop_event_log(&mut self) {
        if let Some(runner) = self.runner.take() {
            runner.abort();
            let _ = runner.await;
        }
    }

    /// A new token of this role.
    pub async fn token(&self, role: Role) -> String {
        self.state
            .tokens
            .create(&format!("{role}-{}", fastrand_name()), role)
            .await
            .expect("create a token")
            .secret
    }

    /// GET `path` with an optional bearer token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("the gateway answers")
    }

    /// GET `path` as `token`, expecting `status`; the JSON body.
    pub async fn get_json(&self, path: &str, token: &str, status: u16) -> Value {
        let response = self.get(path, Some(token)).await;
        expect_json(response, status).await
    }

    /// Appends events of these types to `stream` in one transaction; the
    /// position of the last.
    pub async fn append(
        &self,
        stream: &StreamId,
        types: &[&str],
        correlation: CorrelationId,
    ) -> Position {
        self.store
            .append(AppendRequest {
                stream: stream.clone(),
                expected: ExpectedVersion::Any,
                events: types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| NewEvent {
                        event_id: EventId::from_uuid(Uuid::now_v7()),
                        event_type: (*t).to_owned(),
                        schema_version: 1,
                        payload: JsonText::from_value(&serde_json::json!({ "n": i })),
                    })
                    .collect(),
                metadata: Metadata {
                    correlation_id: correlation,
                    causation_id: None,
                    command_id: None,
                    actor: Actor::System("test".to_owned()),
                },
            })
            .await
            .expect("append")
            .position
    }
}

/// The response's status must be `status`; its JSON body.
pub async fn expect_json(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.expect("a body");
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The response must be a problem+json document of `status` and `code`; its body.
pub async fn expect_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body = expect_json(response, status).await;
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(
        body["type"],
        format!("urn:agentos:problem:{code}"),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    body
}

/// A fresh stream of `category`.
pub fn stream(category: &str) -> StreamId {
    format!("{category}-{}", Uuid::now_v7())
        .parse()
        .expect("a valid stream id")
}

/// A fresh correlation id.
pub fn correlation() -> CorrelationId {
    CorrelationId::from_uuid(Uuid::now_v7())
}

fn fastrand_name() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Runs a test on PostgreSQL and on SQLite: `both!(name)` for an
/// `async fn name(kind: Kind)`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::support::Kind::Postgres).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::support::Kind::Sqlite).await
                }
            }
        )*
    };
}
