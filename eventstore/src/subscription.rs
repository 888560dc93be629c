//! Every event after a checkpoint, in global order: first catching up, then
//! live, never skipping one.
//!
//! Built once on top of [`EventStore`]: it reads batches with
//! [`EventStore::read_all`] and, once caught up, waits on
//! [`EventStore::changes`] (woken by LISTEN/NOTIFY on PostgreSQL, by the
//! writer itself on SQLite). It only polls, briefly, while committed events
//! wait behind an older open transaction, and re-reads after a long quiet
//! spell in case a wake-up was lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use domain::{Position, RecordedEvent};
use tokio::sync::watch;

use crate::{EventFilter, EventStore, StoreError};

/// The longest a caught-up subscription waits without a wake-up before it reads again.
pub(crate) const QUIET_RECHECK: Duration = Duration::from_secs(5);
/// The first and the longest pause while events wait behind an open transaction.
pub(crate) const HORIZON_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(2), Duration::from_millis(50));

/// A catch-up-then-live reader of the global order.
pub struct Subscription {
    store: Arc<dyn EventStore>,
    filter: EventFilter,
    batch_size: usize,
    /// Where the next read starts.
    read_from: Position,
    /// Where a restarted subscription resumes: after the last event handed out,
    /// or after what the store proved empty.
    checkpoint: Position,
    buffer: VecDeque<RecordedEvent>,
    changes: watch::Receiver<u64>,
    horizon_wait: Duration,
}

impl Subscription {
    /// Subscribes to every event after `checkpoint` that passes `filter`.
    pub fn new(store: Arc<dyn EventStore>, checkpoint: Position, filter: EventFilter) -> Self {
        let changes = store.changes();
        Self {
            store,
            filter,
            batch_size: 1000,
            read_from: checkpoint,
            checkpoint,
            buffer: VecDeque::new(),
            changes,
            horizon_wait: HORIZON_BACKOFF.0,
        }
    }

    /// Reads in batches of this many events (default 1000).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }

    /// The checkpoint to store: resuming after it delivers exactly the events
    /// not yet handed out.
    pub fn checkpoint(&self) -> Position {
        self.checkpoint
    }

    /// The next event, waiting for one to be committed if need be.
    pub async fn next(&mut self) -> Result<RecordedEvent, StoreError> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.checkpoint = if self.buffer.is_empty() {
                    self.read_from
                } else {
                    event.position
                };
                return Ok(event);
            }
            // Mark the signal seen before reading, so a commit during the read wakes us.
            self.changes.borrow_and_update();
            let batch = self
                .store
                .read_all(self.read_from, self.batch_size, &self.filter)
                .await?;
            self.read_from = batch.next;
            if !batch.events.is_empty() {
                self.buffer.extend(batch.events);
                self.horizon_wait = HORIZON_BACKOFF.0;
                continue;
            }
            self.checkpoint = self.read_from;
            if batch.beyond_horizon {
                // The older transaction's commit is itself a change: wake on
                // it, or poll after the pause if it commits in another process
                // whose notification is still on its way.
                let _ = tokio::time::timeout(self.horizon_wait, self.changes.changed()).await;
                self.horizon_wait = (self.horizon_wait * 2).min(HORIZON_BACKOFF.1);
                continue;
            }
            self.horizon_wait = HORIZON_BACKOFF.0;
            // A closed channel means the store is gone; fall back to the timeout.
            let _ = tokio::time::timeout(QUIET_RECHECK, self.changes.changed()).await;
        }
    }

    /// Every event read but not yet handed out (waiting for one to be
    /// committed if there is none), with the checkpoint after the last of
    /// them. Resuming after event `i` of the batch means resuming after its
    /// position, except for the last, whose checkpoint is the one returned.
    pub async fn next_batch(&mut self) -> Result<(Vec<RecordedEvent>, Position), StoreError> {
        let first = self.next().await?;
        let mut batch = Vec::with_capacity(self.buffer.len() + 1);
        batch.push(first);
        batch.extend(self.buffer.drain(..));
        self.checkpoint = self.read_from;
        Ok((batch, self.checkpoint))
    }

    /// The next event if one is committed within `wait`.
    pub async fn next_within(
        &mut self,
        wait: Duration,
    ) -> Result<Option<RecordedEvent>, StoreError> {
        match tokio::time::timeout(wait, self.next()).await {
            Ok(result) => result.map(Some),
            Err(_) => Ok(None),
        }
    }
}
