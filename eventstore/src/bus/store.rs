//! The in-process bus: consumers that read the event store itself.
//!
//! The embedded default (SQLite, no NATS) runs its processors on this bus;
//! it works over any [`EventStore`]. Each consumer reads a [`Subscription`]
//! from its stored checkpoint and spreads the events over [`PARTITIONS`]
//! partitions by stream id, as the JetStream bus does: deliveries of
//! different partitions are under way at once, while a partition hands out
//! its next event only after the one before it is acknowledged (or, after a
//! retry's pause, the same event comes again), so the events of one stream
//! are handled in order. The checkpoint is the position every event before
//! it has been acknowledged at; it is saved by a task of the consumer's own,
//! at most every [`SAVE_EVERY`] (and soon after the last one), so that a
//! handler's commits are not each followed by a checkpoint commit. A process
//! that dies delivers again what was handled after the saved checkpoint (as
//! JetStream redelivers what it had not seen acknowledged): processors are
//! idempotent by their derived command ids. The attempt count starts again
//! at 1 after a restart. The events still waiting (the lag) are counted at
//! most once a second.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::{Position, RecordedEvent};
use tokio::sync::{mpsc, watch};

use super::{Bus, BusError, Consumer, ConsumerSpec, Delivery, Outcome, Settle, StoreSettle};
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
        let (settle_to, settled) = mpsc::unbounded_channel();
        Ok(Box::new(StoreConsumer {
            store: Arc::clone(&self.store),
            acked,
            events: Subscription::new(Arc::clone(&self.store), checkpoint, spec.filter.clone()),
            filter: spec.filter.clone(),
            window: BTreeMap::new(),
            next_seq: 0,
            busy: vec![None; PARTITIONS],
            held: vec![VecDeque::new(); PARTITIONS],
            ready: VecDeque::new(),
            settle_to,
            settled,
            pending: None,
        }))
    }

    fn parallelism(&self) -> usize {
        PARTITIONS
    }
}

/// How many partitions a store consumer spreads its events over.
pub const PARTITIONS: usize = 8;

/// The most events a consumer holds read but unacknowledged: beyond it, it
/// reads no further until earlier ones are acknowledged.
const WINDOW: usize = 1024;

/// An event read and not yet acknowledged.
struct Slot {
    event: RecordedEvent,
    /// Where the consumer resumes once this event and all before it are acknowledged.
    resume: Position,
    partition: usize,
    /// The delivery it is on (0 before the first).
    attempt: u32,
    state: SlotState,
}

enum SlotState {
    /// Waiting for its partition, or in the queue to be handed out.
    Held,
    /// Handed out; waiting for the handler's verdict.
    Out,
    /// To be delivered again at this instant.
    RetryAt(tokio::time::Instant),
    /// Acknowledged; waiting for the events before it.
    Acked,
}

struct StoreConsumer {
    store: Arc<dyn EventStore>,
    /// The position every acknowledged event is behind; the saver stores it.
    acked: watch::Sender<Position>,
    events: Subscription,
    filter: EventFilter,
    /// The events read and not acknowledged, by the order they were read in.
    window: BTreeMap<u64, Slot>,
    /// The sequence number of the next event read.
    next_seq: u64,
    /// Each partition's event under way (handed out or waiting to retry).
    busy: Vec<Option<u64>>,
    /// Each partition's events read and held back behind the one under way.
    held: Vec<VecDeque<u64>>,
    /// Events whose partition is free, to be handed out first time.
    ready: VecDeque<u64>,
    settle_to: mpsc::UnboundedSender<(u64, Outcome)>,
    settled: mpsc::UnboundedReceiver<(u64, Outcome)>,
    /// The events waiting after the last one read, and when that was counted.
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

/// The partition of a stream: FNV-1a of its id.
fn partition_of(stream_id: &str) -> usize {
    let hash = stream_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    (hash % PARTITIONS as u64) as usize
}

impl StoreConsumer {
    /// Takes in an event just read: handed out next if its partition is
    /// free, held back behind the partition's delivery under way if not.
    async fn admit(&mut self, event: RecordedEvent) {
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
        let seq = self.next_seq;
        self.next_seq += 1;
        let partition = partition_of(event.stream_id.as_str());
        self.window.insert(
            seq,
            Slot {
                event,
                resume,
                partition,
                attempt: 0,
                state: SlotState::Held,
            },
        );
        match self.busy[partition] {
            None => {
                self.busy[partition] = Some(seq);
                self.ready.push_back(seq);
            }
            Some(_) => self.held[partition].push_back(seq),
        }
    }

    /// Records a handler's verdict. An acknowledgement frees the partition
    /// for its next event and moves the checkpoint over every event
    /// acknowledged without a gap.
    fn settle(&mut self, seq: u64, outcome: Outcome) {
        let Some(slot) = self.window.get_mut(&seq) else {
            return;
        };
        match outcome {
            Outcome::Retry(after) => {
                slot.state = SlotState::RetryAt(tokio::time::Instant::now() + after);
            }
            Outcome::Ack => {
                slot.state = SlotState::Acked;
                let partition = slot.partition;
                self.busy[partition] = self.held[partition].pop_front();
                if let Some(next) = self.busy[partition] {
                    self.ready.push_back(next);
                }
                let mut resume = None;
                while let Some(entry) = self.window.first_entry() {
                    if !matches!(entry.get().state, SlotState::Acked) {
                        break;
                    }
                    resume = Some(entry.remove().resume);
                }
                if let Some(resume) = resume {
                    self.acked.send_replace(resume);
                }
            }
        }
    }

    /// The earliest retry due, and when.
    fn next_retry(&self) -> Option<(tokio::time::Instant, u64)> {
        self.window
            .iter()
            .filter_map(|(seq, slot)| match slot.state {
                SlotState::RetryAt(at) => Some((at, *seq)),
                _ => None,
            })
            .min()
    }

    fn deliver(&mut self, seq: u64) -> Option<Delivery> {
        let slot = self.window.get_mut(&seq)?;
        slot.state = SlotState::Out;
        slot.attempt = slot.attempt.saturating_add(1);
        Some(Delivery {
            event: slot.event.clone(),
            attempt: slot.attempt,
            pending: self.pending.map(|(n, _)| n),
            settle: Settle::Store(StoreSettle::new(seq, self.settle_to.clone())),
        })
    }
}

#[async_trait]
impl Consumer for StoreConsumer {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            while let Ok((seq, outcome)) = self.settled.try_recv() {
                self.settle(seq, outcome);
            }
            let retry = self.next_retry();
            if let Some((at, seq)) = retry {
                if at <= tokio::time::Instant::now() {
                    if let Some(delivery) = self.deliver(seq) {
                        return Ok(delivery);
                    }
                }
            }
            if let Some(seq) = self.ready.pop_front() {
                if let Some(delivery) = self.deliver(seq) {
                    return Ok(delivery);
                }
                continue;
            }
            let room = self.window.len() < WINDOW;
            // Every branch is cancel-safe: a dropped `next` loses nothing.
            tokio::select! {
                biased;
                settled = self.settled.recv() => {
                    if let Some((seq, outcome)) = settled {
                        self.settle(seq, outcome);
                    }
                }
                () = sleep_until_some(retry.map(|(at, _)| at)) => {}
                event = self.events.next(), if room => self.admit(event?).await,
            }
        }
    }
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
