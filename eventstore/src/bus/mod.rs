//! The bus: durable, acknowledged delivery of recorded events to the
//! processors that react to them.
//!
//! One API, two transports:
//! - [`jetstream::JetStreamBus`] reads the stream the [relay](crate::relay)
//!   fills, through durable pull consumers, one per partition. Events are
//!   partitioned by stream id (a subject transform on the JetStream stream),
//!   and each partition's consumer lets only one delivery be unacknowledged
//!   at a time, so the events of one stream are handled in order while
//!   several processes share the partitions as competing consumers.
//! - [`store::StoreBus`] reads the event store itself with a
//!   [`Subscription`](crate::Subscription) and keeps each consumer's
//!   checkpoint in the store: the in-process bus of embedded mode (SQLite, no
//!   NATS), which runs the very same processors.
//!
//! Delivery is at least once. A [`Delivery`] is settled by [`Delivery::ack`]
//! once its effect is committed, or [`Delivery::retry`] to have it delivered
//! again after a pause; one never settled (its process died) is delivered
//! again too. Handlers make redelivery harmless with idempotent effects (the
//! command ids of `commands`).

use std::time::Duration;

use async_trait::async_trait;
use domain::RecordedEvent;
use tokio::sync::mpsc;

use crate::{EventFilter, StoreError};

pub mod jetstream;
pub mod store;

/// What a consumer reads.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// The durable name: instances with the same name share the work and the position.
    pub name: String,
    /// The events wanted.
    pub filter: EventFilter,
    /// How long a delivery may stay unsettled before it is delivered again.
    pub ack_wait: Duration,
}

impl ConsumerSpec {
    /// A consumer of the events `filter` admits, with a 30 s acknowledgement wait.
    pub fn new(name: impl Into<String>, filter: EventFilter) -> Self {
        Self {
            name: name.into(),
            filter,
            ack_wait: Duration::from_secs(30),
        }
    }
}

/// Why the bus failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The NATS server refused or could not be reached.
    #[error("NATS: {0}")]
    Nats(String),
    /// The event store failed.
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    /// The bus is configured in a way that cannot work.
    #[error("{0}")]
    Config(String),
}

pub(crate) fn nats(error: impl std::fmt::Display) -> BusError {
    BusError::Nats(error.to_string())
}

/// A source of event deliveries.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Opens (creating or updating) the durable consumer `spec` describes.
    async fn consumer(&self, spec: &ConsumerSpec) -> Result<Box<dyn Consumer>, BusError>;

    /// How many deliveries one consumer may have unsettled at once without
    /// breaking per-stream order: its number of partitions.
    fn parallelism(&self) -> usize;
}

/// One durable consumer.
#[async_trait]
pub trait Consumer: Send {
    /// The next delivery. The events of one stream come one at a time: the
    /// next one only after the one before it is acknowledged. Cancel-safe: a
    /// call dropped midway loses no delivery.
    async fn next(&mut self) -> Result<Delivery, BusError>;
}

/// An event handed to a consumer, to be settled.
pub struct Delivery {
    /// The event.
    pub event: RecordedEvent,
    /// Which delivery of this event this is, from 1.
    pub attempt: u32,
    /// Events still waiting for this consumer, when the bus knows.
    pub pending: Option<u64>,
    settle: Settle,
}

enum Settle {
    JetStream(Box<async_nats::jetstream::message::Acker>),
    Store(StoreSettle),
}

/// Settles a store-bus delivery; one dropped unsettled asks for it again
/// at once (its handler is gone).
struct StoreSettle {
    seq: u64,
    to: Option<mpsc::UnboundedSender<(u64, Outcome)>>,
}

impl StoreSettle {
    fn new(seq: u64, to: mpsc::UnboundedSender<(u64, Outcome)>) -> Self {
        Self { seq, to: Some(to) }
    }

    fn send(mut self, outcome: Outcome) {
        if let Some(to) = self.to.take() {
            // A closed receiver means the consumer is gone; it redelivers on restart.
            let _ = to.send((self.seq, outcome));
        }
    }
}

impl Drop for StoreSettle {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            let _ = to.send((self.seq, Outcome::Retry(Duration::ZERO)));
        }
    }
}

/// How a store-bus delivery was settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ack,
    Retry(Duration),
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("event", &self.event.event_id)
            .field("attempt", &self.attempt)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl Delivery {
    /// The event is done with: it will not be delivered again.
    pub async fn ack(self) -> Result<(), BusError> {
        match self.settle {
            Settle::JetStream(acker) => acker.ack().await.map_err(nats),
            Settle::Store(settle) => {
                settle.send(Outcome::Ack);
                Ok(())
            }
        }
    }

    /// Deliver the event again after `after`; later events of its stream wait.
    pub async fn retry(self, after: Duration) -> Result<(), BusError> {
        match self.settle {
            Settle::JetStream(acker) => acker
                .ack_with(async_nats::jetstream::AckKind::Nak(Some(after)))
                .await
                .map_err(nats),
            Settle::Store(settle) => {
                settle.send(Outcome::Retry(after));
                Ok(())
            }
        }
    }
}
