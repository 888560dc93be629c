//! The in-process bus: consumers that read the event store itself.
//!
//! The embedded default (SQLite, no NATS) runs its processors on this bus;
//! it works over any [`EventStore`]. Each consumer is a [`Subscription`]
//! from its stored checkpoint, handing out one delivery at a time: the next
//! event comes only after the last one is acknowledged (its checkpoint is then
//! saved) or, after a retry's pause, the same event comes again. A process
//! that dies with a delivery unsettled delivers it again on restart, as
//! JetStream would. The attempt count starts again at 1 after a restart.

use std::sync::Arc;

use async_trait::async_trait;
use domain::{Position, RecordedEvent};
use tokio::sync::oneshot;

use super::{Bus, BusError, Consumer, ConsumerSpec, Delivery, Outcome, Settle};
use crate::{EventStore, Subscription};

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
        Ok(Box::new(StoreConsumer {
            store: Arc::clone(&self.store),
            name: spec.name.clone(),
            events: Subscription::new(Arc::clone(&self.store), checkpoint, spec.filter.clone()),
            unsettled: None,
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
    outcome: oneshot::Receiver<Outcome>,
}

struct StoreConsumer {
    store: Arc<dyn EventStore>,
    name: String,
    events: Subscription,
    unsettled: Option<Unsettled>,
}

impl StoreConsumer {
    fn deliver(&mut self, event: RecordedEvent, attempt: u32, resume: Position) -> Delivery {
        let (sender, outcome) = oneshot::channel();
        self.unsettled = Some(Unsettled {
            event: event.clone(),
            attempt,
            resume,
            outcome,
        });
        Delivery {
            event,
            attempt,
            pending: None,
            settle: Settle::Store(sender),
        }
    }
}

#[async_trait]
impl Consumer for StoreConsumer {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        // Awaited in place, so a cancelled call loses nothing.
        let outcome = match self.unsettled.as_mut() {
            Some(unsettled) => Some((&mut unsettled.outcome).await),
            None => None,
        };
        if let (Some(outcome), Some(unsettled)) = (outcome, self.unsettled.take()) {
            let Unsettled {
                event,
                attempt,
                resume,
                ..
            } = unsettled;
            match outcome {
                Ok(Outcome::Ack) => {
                    if let Err(error) = self
                        .store
                        .save_consumer_checkpoint(&self.name, resume)
                        .await
                    {
                        // Settled but not recorded: keep it, so the save is tried again.
                        self.unsettled = Some(Unsettled {
                            event,
                            attempt,
                            resume,
                            outcome: acked(),
                        });
                        return Err(error.into());
                    }
                }
                Ok(Outcome::Retry(after)) => {
                    tokio::time::sleep(after).await;
                    return Ok(self.deliver(event, attempt.saturating_add(1), resume));
                }
                // Dropped unsettled: its handler is gone; deliver it again.
                Err(_) => return Ok(self.deliver(event, attempt.saturating_add(1), resume)),
            }
        }
        let event = self.events.next().await?;
        let resume = self.events.checkpoint();
        Ok(self.deliver(event, 1, resume))
    }
}

fn acked() -> oneshot::Receiver<Outcome> {
    let (sender, receiver) = oneshot::channel();
    let _ = sender.send(Outcome::Ack);
    receiver
}
