//! Stateful local simulators of the external systems AgentOS talks to, each
//! speaking the same HTTP API as the real service, so the demo and the tests
//! exercise the real HTTP clients of `agents::adapters`.
//!
//! A simulator keeps its state in memory for as long as it runs. Any of them
//! can be told to misbehave through [`Faults`]: fail the next requests, lose
//! the answers of requests it did carry out, slow down, or answer concurrent
//! requests out of order. Tests hold the [`Faults`] handle; other processes
//! use `POST /__sim/faults` on the simulator itself.
//!
//! It is not a mock of our own code: nothing here knows AgentOS's types.

pub mod carrier;
pub mod erpnext;
pub mod sheets;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How a simulator should misbehave from now on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// The next this many requests are refused with `fail_status`, untouched.
    pub fail_next: u32,
    /// The status those refusals carry (503 when unset).
    pub fail_status: Option<u16>,
    /// The next this many requests are carried out, but their answers are
    /// replaced by a 504: the caller cannot know that they took effect.
    pub lose_next_answers: u32,
    /// Every request waits this long before it is handled.
    pub delay_ms: u64,
    /// Every request also waits a random time up to this, so answers to
    /// concurrent requests come back out of order.
    pub jitter_ms: u64,
}

/// The shared, changeable fault plan of one simulator.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultPlan>>);

enum Verdict {
    Fail(StatusCode),
    Lose,
    Serve,
}

impl Faults {
    /// Replaces the plan.
    pub fn set(&self, plan: FaultPlan) {
        *self.lock() = plan;
    }

    /// The plan as it stands (counters already used up are not restored).
    pub fn get(&self) -> FaultPlan {
        self.lock().clone()
    }

    /// Back to behaving.
    pub fn clear(&self) {
        self.set(FaultPlan::default());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultPlan> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn next(&self) -> (Duration, Verdict) {
        let mut plan = self.lock();
        let wait = Duration::from_millis(plan.delay_ms + fastrand::u64(0..=plan.jitter_ms));
        let verdict = if plan.fail_next > 0 {
            plan.fail_next -= 1;
            let status = plan
                .fail_status
                .and_then(|code| StatusCode::from_u16(code).ok())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Verdict::Fail(status)
        } else if plan.lose_next_answers > 0 {
            plan.lose_next_answers -= 1;
            Verdict::Lose
        } else {
            Verdict::Serve
        };
        (wait, verdict)
    }
}

async fn misbehave(State(faults): State<Faults>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/__sim/") {
        return next.run(request).await;
    }
    let (wait, verdict) = faults.next();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    match verdict {
        Verdict::Fail(status) => (status, "simulated failure").into_response(),
        Verdict::Lose => {
            let _carried_out = next.run(request).await;
            (StatusCode::GATEWAY_TIMEOUT, "simulated lost answer").into_response()
        }
        Verdict::Serve => next.run(request).await,
    }
}

async fn put_faults(State(faults): State<Faults>, Json(plan): Json<FaultPlan>) -> StatusCode {
    faults.set(plan);
    StatusCode::NO_CONTENT
}

async fn get_faults(State(faults): State<Faults>) -> Json<FaultPlan> {
    Json(faults.get())
}

/// `app` with the fault middleware around it and the `/__sim/faults`
/// control endpoint (GET the plan, POST a new one).
pub fn with_faults(app: Router, faults: Faults) -> Router {
    let control = Router::new()
        .route("/__sim/faults", post(put_faults).get(get_faults))
        .with_state(faults.clone());
    app.merge(control)
        .layer(middleware::from_fn_with_state(faults, misbehave))
}

/// A simulator serving on a local port until dropped or shut down.
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    faults: Faults,
    task: JoinHandle<()>,
}

impl SimServer {
    /// Serves `app` (with [`with_faults`] applied) on `addr`; port 0 picks a
    /// free one.
    pub async fn start(app: Router, addr: SocketAddr) -> std::io::Result<SimServer> {
        let faults = Faults::default();
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let app = with_faults(app, faults.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "simulator stopped");
            }
        });
        Ok(SimServer { addr, faults, task })
    }

    /// Serves `app` on a free port of 127.0.0.1.
    pub async fn start_local(app: Router) -> std::io::Result<SimServer> {
        Self::start(app, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The handle that tells it to misbehave.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    fn counter() -> (Router, Arc<Mutex<u32>>) {
        let hits = Arc::new(Mutex::new(0));
        let app = Router::new()
            .route(
                "/hit",
                get(|State(hits): State<Arc<Mutex<u32>>>| async move {
                    let mut n = hits.lock().unwrap_or_else(|p| p.into_inner());
                    *n += 1;
                    n.to_string()
                }),
            )
            .with_state(hits.clone());
        (app, hits)
    }

    #[tokio::test]
    async fn failures_refuse_untouched_and_lost_answers_take_effect(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let (app, hits) = counter();
        let sim = SimServer::start_local(app).await?;
        let http = reqwest::Client::new();
        sim.faults().set(FaultPlan {
            fail_next: 1,
            fail_status: Some(500),
            lose_next_answers: 1,
            ..FaultPlan::default()
        });
        let hit = format!("{}/hit", sim.url());
        assert_eq!(http.get(&hit).send().await?.status(), 500);
        assert_eq!(*hits.lock().unwrap_or_else(|p| p.into_inner()), 0);
        assert_eq!(http.get(&hit).send().await?.status(), 504);
        assert_eq!(*hits.lock().unwrap_or_else(|p| p.into_inner()), 1);
        assert_eq!(http.get(&hit).send().await?.text().await?, "2");
        Ok(())
    }

    #[tokio::test]
    async fn the_plan_can_be_set_over_http() -> Result<(), Box<dyn std::error::Error>> {
        let (app, _) = counter();
        let sim = SimServer::start_local(app).await?;
        let http = reqwest::Client::new();
        let set = http
            .post(format!("{}/__sim/faults", sim.url()))
            .json(&serde_json::json!({"fail_next": 2}))
            .send()
            .await?;
        assert_eq!(set.status(), 204);
        assert_eq!(sim.faults().get().fail_next, 2);
        let unknown = http
            .post(format!("{}/__sim/faults", sim.url()))
            .json(&serde_json::json!({"fail_nxt": 2}))
            .send()
            .await?;
        assert!(unknown.status().is_client_error());
        Ok(())
    }
}
