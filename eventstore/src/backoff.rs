//! Pauses between attempts after failures: doubling from a floor to a
//! ceiling, with jitter so that many retrying tasks do not wake together.
//! The relay, the processors and the projection runner all retry with it.

use std::time::Duration;

/// Doubling, jittered pauses.
#[derive(Debug, Clone)]
pub struct Backoff {
    floor: Duration,
    ceiling: Duration,
    current: Duration,
}

impl Backoff {
    /// Pauses from `floor`, doubling up to `ceiling`.
    pub fn new(floor: Duration, ceiling: Duration) -> Self {
        let floor = floor.max(Duration::from_millis(1));
        Self {
            floor,
            ceiling: ceiling.max(floor),
            current: floor,
        }
    }

    /// The next pause: between half and all of the current step, which then doubles.
    pub fn next_pause(&mut self) -> Duration {
        let step = self.current;
        self.current = (self.current * 2).min(self.ceiling);
        step / 2 + Duration::from_micros(fastrand::u64(0..=step.as_micros() as u64 / 2))
    }

    /// Back to the floor, after a success.
    pub fn reset(&mut self) {
        self.current = self.floor;
    }

    /// Sleeps for the next pause.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_pause()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_within_jitter_up_to_the_ceiling_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(300));
        let steps = [50, 100, 200, 300, 300];
        for step in steps {
            let pause = backoff.next_pause();
            let step = Duration::from_millis(step);
            assert!(pause >= step / 2 && pause <= step, "{pause:?} for {step:?}");
        }
        backoff.reset();
        assert!(backoff.next_pause() <= Duration::from_millis(50));
    }
}
