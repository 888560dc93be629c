//! The clock: records that approvals lapsed.
//!
//! The domain has no clock; an approval's deadline passes only when someone
//! records it. This component looks for pending approvals past their
//! deadline in the directives read model and sends each an `Expire`, with a
//! command id derived from the approval, the order's correlation id and the
//! request as its cause, so two clocks (or a restarted one) expire an
//! approval once. The orchestrator then cancels the task that waited for it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use commands::processor::derived_id;
use commands::{CommandHandler, Envelope, HandleError};
use domain::approval::{Approval, ApprovalCommand};
use domain::{Actor, Aggregate, CommandId};
use eventstore::{Direction, EventStore};
use projections::models::directives::lapsed_approvals;
use projections::Db;

/// The actor the clock's commands carry.
pub const ACTOR: &str = "clock";

/// Approvals expired per sweep at most (the next sweep takes the rest).
const SWEEP_LIMIT: u32 = 100;

/// Expires lapsed approvals.
#[derive(Clone)]
pub struct ApprovalClock {
    store: Arc<dyn EventStore>,
    db: Db,
    handler: CommandHandler,
    /// The pause between sweeps.
    pub interval: Duration,
}

impl ApprovalClock {
    /// A clock over a store and its read models, sweeping every 5 seconds.
    pub fn new(store: Arc<dyn EventStore>, db: Db) -> Self {
        Self {
            handler: CommandHandler::new(Arc::clone(&store)),
            store,
            db,
            interval: Duration::from_secs(5),
        }
    }

    /// Sweeps until the task is dropped; failures are logged and retried
    /// at the next sweep.
    pub async fn run(self) {
        loop {
            if let Err(error) = self.sweep(Utc::now()).await {
                tracing::warn!(%error, "the approval clock could not sweep");
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Expires every approval pending past its deadline at `now` (as the
    /// read model shows them); how many it expired.
    pub async fn sweep(&self, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let model = projections::models::directives::NAME;
        if projections::models::event_log::active_checkpoint(&self.db, model)
            .await?
            .is_none()
        {
            // The read model is not built yet: nothing is known to lapse.
            return Ok(0);
        }
        let mut expired = 0;
        for approval in lapsed_approvals(&self.db, now, SWEEP_LIMIT).await? {
            let stream = Approval::stream(approval.id);
            // The request carries the order's correlation: so does its end.
            let Some(request) = self
                .store
                .read_stream(&stream, 1, Direction::Forward, 1)
                .await?
                .pop()
            else {
                continue;
            };
            let id = approval.id.to_string();
            let envelope = Envelope {
                stream,
                command: ApprovalCommand::Expire { at: now },
                command_id: CommandId::from_uuid(derived_id(&[b"expire", id.as_bytes()])),
                correlation_id: request.metadata.correlation_id,
                causation_id: Some(request.event_id.as_uuid()),
                actor: Actor::System(ACTOR.to_owned()),
            };
            match self.handler.handle::<Approval>(envelope).await {
                Ok(handled) if !handled.duplicate => expired += 1,
                Ok(_) => {}
                // Decided meanwhile (the read model lags a moment): nothing to do.
                Err(HandleError::Rejected(rejection)) => {
                    tracing::debug!(approval = %approval.id, %rejection, "not expired");
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(expired)
    }
}
