//! A circuit breaker: after repeated failures, stop calling a system for a
//! while, then let one trial call through to see whether it recovered.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

/// Where the breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are refused for `retry_after_ms` more milliseconds.
    Open {
        /// Milliseconds until a trial call is let through.
        retry_after_ms: u64,
    },
    /// One trial call is out; its outcome closes or re-opens the circuit.
    HalfOpen,
}

/// Counts consecutive failures; opens after `failures_to_open`, for `open_for`.
///
/// Time comes in as a parameter, so the rules are tested without sleeping.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    failures_to_open: u32,
    open_for: Duration,
    consecutive_failures: u32,
    open_until: Option<Instant>,
    trial_out: bool,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(failures_to_open: u32, open_for: Duration) -> Self {
        CircuitBreaker {
            failures_to_open: failures_to_open.max(1),
            open_for,
            consecutive_failures: 0,
            open_until: None,
            trial_out: false,
        }
    }

    /// Whether a call may go out at `now`; if not, how long until one may.
    /// Once the open period is over, exactly one trial call is admitted until
    /// its outcome is recorded.
    pub fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        match self.open_until {
            None => Ok(()),
            Some(until) if now < until => Err(until - now),
            Some(_) if self.trial_out => Err(self.open_for),
            Some(_) => {
                self.trial_out = true;
                Ok(())
            }
        }
    }

    /// A call succeeded: the circuit closes.
    pub fn record_success(&mut self) {
        self.consecutive_failures = 0;
        self.open_until = None;
        self.trial_out = false;
    }

    /// A call failed at `now`: a failed trial re-opens the circuit, and so
    /// does the `failures_to_open`-th failure in a row.
    pub fn record_failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        if self.trial_out || self.consecutive_failures >= self.failures_to_open {
            self.open_until = Some(now + self.open_for);
            self.trial_out = false;
        }
    }

    /// The state at `now`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(until) if now < until => BreakerState::Open {
                retry_after_ms: u64::try_from((until - now).as_millis()).unwrap_or(u64::MAX),
            },
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_FOR: Duration = Duration::from_secs(30);

    #[test]
    fn the_circuit_opens_after_consecutive_failures_only() {
        let now = Instant::now();
        let mut breaker = CircuitBreaker::new(3, OPEN_FOR);
        breaker.record_failure(now);
        breaker.record_failure(now);
        breaker.record_success();
        breaker.record_failure(now);
        breaker.record_failure(now);
        assert_eq!(breaker.admit(now), Ok(()), "the success reset the count");
        breaker.record_failure(now);
        assert_eq!(breaker.admit(now), Err(OPEN_FOR));
        assert!(matches!(breaker.state(now), BreakerState::Open { .. }));
    }

    #[test]
    fn after_the_open_period_one_trial_goes_through_and_decides() {
        let start = Instant::now();
        let mut breaker = CircuitBreaker::new(1, OPEN_FOR);
        breaker.record_failure(start);
        let later = start + OPEN_FOR;
        assert_eq!(breaker.state(later), BreakerState::HalfOpen);
        assert_eq!(breaker.admit(later), Ok(()), "the trial call");
        assert!(breaker.admit(later).is_err(), "only one trial at a time");

        breaker.record_failure(later);
        assert_eq!(
            breaker.admit(later),
            Err(OPEN_FOR),
            "a failed trial re-opens"
        );

        let much_later = later + OPEN_FOR;
        assert_eq!(breaker.admit(much_later), Ok(()));
        breaker.record_success();
        assert_eq!(breaker.state(much_later), BreakerState::Closed);
        assert_eq!(breaker.admit(much_later), Ok(()));
    }
}
