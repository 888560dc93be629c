//! The in-process bus: consumers that read the event store itself.
//!
//! The embedded default (SQLite, no NATS) runs its processors on this bus;
//! it works over any [`EventStore`]. Each consumer is a [`Subscription`]
//! from its stored checkpoint, handing out one delivery at a time: the next
//! event comes only after the last one is acknowledged or, after a retry's
//! pause, the same event comes again. Acknowledged positions are saved by a
//! task of the consumer's own, at most every [`SAVE_EVERY`] (and soon after
//! the last one), so that a handler's commits are not each followed by a
//! checkpoint commit. A process that dies delivers again what it handled
//! since the last save (as JetStream redelivers what it had not seen
//! acknowledged): processors are idempotent by their derived command ids.
//! The attempt count starts again at 1 after a restart.
//! The events still waiting (the lag) are counted at most once a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::{Position, RecordedEvent};
use tokio::sync::{oneshot, watch};

use super::{Bus, BusError, Consumer, ConsumerSpec, Delivery, Outcome, Settle};
use crate::{EventFilter, EventStore, Subscription};

/// The bus over an event store.
#[derive(Clone)]
pub struct StoreBus {
    store: Arc<dyn EventStore>,
}

impl StoreBus {
    /// A bus reading `store`.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self { store }
    }
}

#[async_trait]
impl Bus for StoreBus {
    async fn consumer(&self, spec: &ConsumerSpec) -> Result<Box<dyn Consumer>, BusError> {
        if spec.name.is_empty() {
            return Err(BusError::Config("a consumer needs a name".to_owned()));
        }
        let checkpoint = self.store.consumer_checkpoint(&spec.name).await?;
        let (acked, saved) = watch::channel(checkpoint);
        tokio::spawn(save_checkpoints(
            Arc::clone(&self.store),
            spec.name.clone(),
            saved,
        ));
        Ok(Box::new(StoreConsumer {
            store: Arc::clone(&self.store),
            acked,
            events: Subscription::new(Arc::clone(&self.store), checkpoint, spec.filter.clone()),
            filter: spec.filter.clone(),
            unsettled: None,
            pending: None,
        }))
    }

    fn parallelism(&self) -> usize {
        1
    }
}

/// The delivery a store consumer waits to see settled.
struct Unsettled {
    event: RecordedEvent,
    attempt: u32,
    /// Where the consumer resumes once this event is acknowledged.
    resume: Position,
    state: Settling,
}

/// Every step leaves a state to resume from, so a cancelled `next` loses nothing.
enum Settling {
    /// Handed out; waiting for the handler's verdict.
    Waiting(oneshot::Receiver<Outcome>),
    /// To be delivered again at this instant.
    RetryAt(tokio::time::Instant),
    /// Acknowledged; the checkpoint is still to be saved.
    Acked,
}

struct StoreConsumer {
    store: Arc<dyn EventStore>,
    /// The position every acknowledged event is behind; the saver stores it.
    acked: watch::Sender<Position>,
    events: Subscription,
    filter: EventFilter,
    unsettled: Option<Unsettled>,
    /// The events waiting after the last one handed out, and when that was counted.
    pending: Option<(u64, Instant)>,
}

/// How often a consumer's checkpoint is saved at most.
pub const SAVE_EVERY: Duration = Duration::from_millis(100);

/// Saves a consumer's acknowledged position when it moves, at most every
/// [`SAVE_EVERY`]; a failed save is retried. Once the consumer is gone it
/// saves the last position and ends (giving up after a few failures).
async fn save_checkpoints(
    store: Arc<dyn EventStore>,
    name: String,
    mut acked: watch::Receiver<Position>,
) {
    let mut saved = *acked.borrow_and_update();
    let mut closed = false;
    let mut failures_after_close = 0;
    loop {
        if !closed && saved == *acked.borrow() && acked.changed().await.is_err() {
            closed = true;
        }
        let at = *acked.borrow_and_update();
        if at != saved {
            match store.save_consumer_checkpoint(&name, at).await {
                Ok(()) => saved = at,
                Err(error) => {
                    tracing::warn!(consumer = %name, %error, "cannot save the checkpoint; retrying");
                    failures_after_close += usize::from(closed);
                }
            }
        }
        if closed && (at == saved || failures_after_close > 10) {
            return;
        }
        tokio::time::sleep(SAVE_EVERY).await;
    }
}

/// How often a consumer counts the events still waiting for it.
const PENDING_EVERY: Duration = Duration::from_secs(1);
/// Counting stops here: a lag this large is reported as this.
const PENDING_CAP: u64 = 1_000_000;

impl StoreConsumer {
    fn deliver(&mut self, event: RecordedEvent, attempt: u32, resume: Position) -> Delivery {
        let (sender, outcome) = oneshot::channel();
        self.unsettled = Some(Unsettled {
            event: event.clone(),
            attempt,
            resume,
            state: Settling::Waiting(outcome),
        });
        Delivery {
            event,
            attempt,
            pending: self.pending.map(|(n, _)| n),
            settle: Settle::Store(sender),
        }
    }
}

#[async_trait]
impl Consumer for StoreConsumer {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        while let Some(unsettled) = self.unsettled.as_mut() {
            match &mut unsettled.state {
                Settling::Waiting(outcome) => {
                    unsettled.state = match outcome.await {
                        Ok(Outcome::Ack) => Settling::Acked,
                        Ok(Outcome::Retry(after)) => {
                            Settling::RetryAt(tokio::time::Instant::now() + after)
                        }
                        // Dropped unsettled: its handler is gone; deliver it again.
                        Err(_) => Settling::RetryAt(tokio::time::Instant::now()),
                    };
                }
                Settling::RetryAt(at) => {
                    tokio::time::sleep_until(*at).await;
                    let (event, attempt, resume) = (
                        unsettled.event.clone(),
                        unsettled.attempt.saturating_add(1),
                        unsettled.resume,
                    );
                    return Ok(self.deliver(event, attempt, resume));
                }
                Settling::Acked => {
                    self.acked.send_replace(unsettled.resume);
                    self.unsettled = None;
                }
            }
        }
        let event = self.events.next().await?;
        let resume = self.events.checkpoint();
        if self
            .pending
            .is_none_or(|(_, at)| at.elapsed() >= PENDING_EVERY)
        {
            // A lag report only: a failed count leaves the last one.
            if let Ok(n) = self
                .store
                .count_after(resume, &self.filter, PENDING_CAP)
                .await
            {
                self.pending = Some((n, Instant::now()));
            }
        }
        Ok(self.deliver(event, 1, resume))
    }
}
