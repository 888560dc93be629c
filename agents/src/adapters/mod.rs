//! Adapters to the company's external systems (ERPNext, Google Sheets, a
//! carrier's tracking API …), each a real HTTP client.
//!
//! Every call goes through one [`Adapter`]: a timeout per attempt, a bounded
//! number of retries with jittered backoff for failures worth retrying, and a
//! [`CircuitBreaker`] that stops calling a system that keeps failing until it
//! has had time to recover. Each adapter reports its [`AdapterHealth`] on a
//! shared [`HealthBoard`], which the gateway shows under `/api/v1/agents`.
//!
//! Switching from a local simulator to the real service is configuration: a
//! base URL and credentials.

pub mod breaker;
pub mod carrier;
pub mod erpnext;
pub mod sheets;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use eventstore::Backoff;
use serde::Serialize;
use tokio::time::Instant;

pub use breaker::{BreakerState, CircuitBreaker};

/// Whether a failed call may succeed if asked again.
pub trait Retryable {
    /// True for timeouts, lost connections, 429 and 5xx; false for refusals
    /// the other side will repeat (validation, permissions, not found).
    fn is_retryable(&self) -> bool;
}

/// Why a guarded call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    /// The system failed every attempt, or refused in a way not worth retrying.
    #[error("{0}")]
    Failed(E),
    /// An attempt took longer than the adapter's timeout.
    #[error("{system} did not answer within {timeout:?}")]
    TimedOut {
        /// The adapter's name.
        system: &'static str,
        /// The timeout per attempt.
        timeout: Duration,
    },
    /// The circuit breaker is open: the system failed repeatedly and is not
    /// called again until `retry_after` has passed.
    #[error("{system} is failing; not called again for {retry_after:?}")]
    CircuitOpen {
        /// The adapter's name.
        system: &'static str,
        /// How long until the breaker lets a trial call through.
        retry_after: Duration,
    },
}

impl<E: Retryable> Retryable for CallError<E> {
    fn is_retryable(&self) -> bool {
        match self {
            CallError::Failed(e) => e.is_retryable(),
            CallError::TimedOut { .. } | CallError::CircuitOpen { .. } => true,
        }
    }
}

/// How an adapter calls its system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// The longest one attempt may take.
    pub timeout: Duration,
    /// How many times a retryable failure is tried again (so at most
    /// `retries + 1` attempts per call).
    pub retries: u32,
    /// The first pause before a retry; it doubles, with jitter, up to `backoff_ceiling`.
    pub backoff: Duration,
    /// The longest pause between two attempts.
    pub backoff_ceiling: Duration,
    /// Consecutive failed calls that open the circuit.
    pub failures_to_open: u32,
    /// How long an open circuit waits before letting one trial call through.
    pub open_for: Duration,
}

impl Default for CallPolicy {
    /// 10 s per attempt, 3 retries from 200 ms up to 5 s apart, the circuit
    /// opening after 5 failed calls for 30 s.
    fn default() -> Self {
        CallPolicy {
            timeout: Duration::from_secs(10),
            retries: 3,
            backoff: Duration::from_millis(200),
            backoff_ceiling: Duration::from_secs(5),
            failures_to_open: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// One external system's calls: timeouts, retries, circuit breaker and health.
#[derive(Clone)]
pub struct Adapter {
    system: &'static str,
    policy: CallPolicy,
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    breaker: CircuitBreaker,
    health: AdapterHealth,
}

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adapter")
            .field("system", &self.system)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Adapter {
    /// An adapter named `system` (e.g. `erpnext`), registered on `board`.
    pub fn new(system: &'static str, policy: CallPolicy, board: &HealthBoard) -> Self {
        let adapter = Adapter {
            system,
            policy,
            inner: Arc::new(Mutex::new(Inner {
                breaker: CircuitBreaker::new(policy.failures_to_open, policy.open_for),
                health: AdapterHealth::new(system),
            })),
        };
        board.register(&adapter);
        adapter
    }

    /// The system's name.
    pub fn system(&self) -> &'static str {
        self.system
    }

    /// The policy the adapter calls with.
    pub fn policy(&self) -> CallPolicy {
        self.policy
    }

    /// Runs `attempt` under the policy: each attempt bounded by the timeout,
    /// retryable failures tried again after a jittered pause, and nothing
    /// sent while the circuit is open.
    ///
    /// A call that only reads may always be retried. A call that creates
    /// something must be idempotent on the other side (carry our id, look it
    /// up before creating again) before it is handed to this method.
    pub async fn call<T, E, F, Fut>(&self, mut attempt: F) -> Result<T, CallError<E>>
    where
        E: Retryable + std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut backoff = Backoff::new(self.policy.backoff, self.policy.backoff_ceiling);
        let mut tries = 0;
        loop {
            if let Err(retry_after) = self.lock().breaker.admit(Instant::now()) {
                return Err(CallError::CircuitOpen {
                    system: self.system,
                    retry_after,
                });
            }
            tries += 1;
            let outcome = match tokio::time::timeout(self.policy.timeout, attempt()).await {
                Ok(Ok(value)) => {
                    self.succeeded();
                    return Ok(value);
                }
                Ok(Err(e)) => CallError::Failed(e),
                Err(_) => CallError::TimedOut {
                    system: self.system,
                    timeout: self.policy.timeout,
                },
            };
            let retryable = outcome.is_retryable();
            self.failed(&outcome.to_string(), retryable);
            if !retryable || tries > self.policy.retries {
                return Err(outcome);
            }
            tracing::debug!(system = self.system, tries, error = %outcome, "retrying");
            backoff.wait().await;
        }
    }

    /// The adapter's health now.
    pub fn health(&self) -> AdapterHealth {
        let inner = self.lock();
        let mut health = inner.health.clone();
        health.circuit = inner.breaker.state(Instant::now());
        health
    }

    fn succeeded(&self) {
        let mut inner = self.lock();
        inner.breaker.record_success();
        inner.health.calls += 1;
        inner.health.last_success_at = Some(Utc::now());
    }

    fn failed(&self, error: &str, counts_against_circuit: bool) {
        let mut inner = self.lock();
        if counts_against_circuit {
            inner.breaker.record_failure(Instant::now());
        } else {
            // The system answered, if only to refuse: it is up.
            inner.breaker.record_success();
        }
        inner.health.calls += 1;
        inner.health.failures += 1;
        inner.health.last_error = Some(error.to_owned());
        inner.health.last_failure_at = Some(Utc::now());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves counters only; keep going.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What an adapter has seen of its system.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdapterHealth {
    /// The system's name.
    pub system: &'static str,
    /// The circuit breaker's state.
    pub circuit: BreakerState,
    /// Attempts made (each retry counts).
    pub calls: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// The last failure's message (never a credential).
    pub last_error: Option<String>,
    /// When an attempt last succeeded.
    pub last_success_at: Option<DateTime<Utc>>,
    /// When an attempt last failed.
    pub last_failure_at: Option<DateTime<Utc>>,
}

impl AdapterHealth {
    fn new(system: &'static str) -> Self {
        AdapterHealth {
            system,
            circuit: BreakerState::Closed,
            calls: 0,
            failures: 0,
            last_error: None,
            last_success_at: None,
            last_failure_at: None,
        }
    }
}

/// Every adapter of the process, for health reports.
#[derive(Clone, Default)]
pub struct HealthBoard {
    adapters: Arc<Mutex<BTreeMap<&'static str, Adapter>>>,
}

impl std::fmt::Debug for HealthBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthBoard").finish_non_exhaustive()
    }
}

impl HealthBoard {
    /// An empty board.
    pub fn new() -> Self {
        Self::default()
    }

    fn register(&self, adapter: &Adapter) {
        self.adapters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(adapter.system, adapter.clone());
    }

    /// Each adapter's health, by system name.
    pub fn snapshot(&self) -> Vec<AdapterHealth> {
        let adapters: Vec<Adapter> = self
            .adapters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .cloned()
            .collect();
        adapters.iter().map(Adapter::health).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[derive(Debug)]
    struct Refusal(bool);

    impl std::fmt::Display for Refusal {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(if self.0 { "unavailable" } else { "invalid" })
        }
    }

    impl Retryable for Refusal {
        fn is_retryable(&self) -> bool {
            self.0
        }
    }

    fn quick(retries: u32, failures_to_open: u32) -> CallPolicy {
        CallPolicy {
            timeout: Duration::from_millis(200),
            retries,
            backoff: Duration::from_millis(1),
            backoff_ceiling: Duration::from_millis(2),
            failures_to_open,
            open_for: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn retryable_failures_are_tried_again_until_one_succeeds() {
        let board = HealthBoard::new();
        let adapter = Adapter::new("erp", quick(3, 10), &board);
        let tries = AtomicU32::new(0);
        let answer = adapter
            .call(|| async {
                match tries.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(Refusal(true)),
                    _ => Ok(7),
                }
            })
            .await;
        assert_eq!(answer.ok(), Some(7));
        assert_eq!(tries.load(Ordering::SeqCst), 3);
        let health = &board.snapshot()[0];
        assert_eq!((health.calls, health.failures), (3, 2));
        assert_eq!(health.circuit, BreakerState::Closed);
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried_and_retries_are_bounded() {
        let board = HealthBoard::new();
        let adapter = Adapter::new("erp", quick(2, 10), &board);
        let tries = AtomicU32::new(0);
        let refused: Result<(), _> = adapter
            .call(|| async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(Refusal(false))
            })
            .await;
        assert!(matches!(refused, Err(CallError::Failed(Refusal(false)))));
        assert_eq!(tries.swap(0, Ordering::SeqCst), 1);

        let down: Result<(), _> = adapter
            .call(|| async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(Refusal(true))
            })
            .await;
        assert!(matches!(down, Err(CallError::Failed(Refusal(true)))));
        assert_eq!(
            tries.load(Ordering::SeqCst),
            3,
            "one attempt and two retries"
        );
    }

    #[tokio::test]
    async fn a_slow_answer_times_out() {
        let board = HealthBoard::new();
        let adapter = Adapter::new("carrier", quick(0, 10), &board);
        let slow: Result<(), CallError<Refusal>> = adapter
            .call(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .await;
        assert!(matches!(slow, Err(CallError::TimedOut { .. })));
    }

    #[tokio::test]
    async fn repeated_failures_open_the_circuit_and_stop_calling() {
        let board = HealthBoard::new();
        let adapter = Adapter::new("sheets", quick(0, 2), &board);
        let tries = AtomicU32::new(0);
        for _ in 0..3 {
            let _ = adapter
                .call(|| async {
                    tries.fetch_add(1, Ordering::SeqCst);
                    Err::<(), _>(Refusal(true))
                })
                .await;
        }
        assert_eq!(
            tries.load(Ordering::SeqCst),
            2,
            "the third call was not sent"
        );
        let open = adapter.call(|| async { Ok::<_, Refusal>(()) }).await;
        assert!(matches!(open, Err(CallError::CircuitOpen { .. })));
        assert!(matches!(
            board.snapshot()[0].circuit,
            BreakerState::Open { .. }
        ));
    }
}
