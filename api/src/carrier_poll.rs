//! The carrier poll: what a lost webhook did not say.
//!
//! Shipments learn of their parcels' progress from the carrier's webhooks.
//! A webhook can be lost (the gateway was down, the network dropped it, the
//! carrier gave up retrying); then a parcel delivered days ago would still
//! show in transit and its goods would never be received. This component
//! asks the carrier, every so often, about the shipments the logistics read
//! model shows still on their way, and records the scans a shipment has not
//! heard ([`missed_updates`]) through the same command as the webhook. Each
//! scan is recorded under its own id with a command id derived from it, so
//! two polls (or two pollers) record it once; a webhook that turns up after
//! the poll is kept as history and never moves the shipment back. The
//! shipment follower reacts to a polled scan as to any update: a delivery
//! is received, trouble is put to the CEO.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use agents::adapters::carrier::{Carrier, Tracker};
use agents::logistics::shipments::{missed_updates, shipment_id};
use commands::processor::derived_id;
use commands::{CommandHandler, Envelope, HandleError};
use domain::logistics::{Shipment, ShipmentCommand, ShipmentEvent};
use domain::{Actor, Aggregate, CommandId, DomainEvent};
use eventstore::{Direction, EventStore};
use projections::models::logistics::{open_shipments, OpenShipment};
use projections::Db;
use uuid::Uuid;

/// The actor the poll's commands carry.
pub const ACTOR: &str = "carrier_poll";

/// Tracking codes asked about in one request (EasyPost's page size).
const CODES_PER_REQUEST: usize = 100;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Shipments on their way, asked about.
    pub shipments: usize,
    /// Scans recorded that no webhook had brought.
    pub recorded: usize,
}

/// Asks the carrier about the shipments still on their way.
#[derive(Clone)]
pub struct CarrierPoll {
    store: Arc<dyn EventStore>,
    db: Db,
    handler: CommandHandler,
    carrier: Carrier,
    /// The pause between sweeps.
    pub interval: Duration,
}

impl CarrierPoll {
    /// A poll over a store, its read models and the carrier's API, sweeping
    /// every `interval`.
    pub fn new(store: Arc<dyn EventStore>, db: Db, carrier: Carrier, interval: Duration) -> Self {
        Self {
            handler: CommandHandler::new(Arc::clone(&store)),
            store,
            db,
            carrier,
            interval,
        }
    }

    /// Sweeps until the task is dropped; failures are logged and retried at
    /// the next sweep.
    pub async fn run(self) {
        loop {
            tokio::time::sleep(self.interval).await;
            match self.sweep().await {
                Ok(sweep) if sweep.recorded > 0 => {
                    tracing::info!(
                        shipments = sweep.shipments,
                        recorded = sweep.recorded,
                        "the carrier poll recorded scans no webhook had brought"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the carrier poll could not sweep"),
            }
        }
    }

    /// Asks the carrier about every shipment on its way (as the logistics
    /// read model shows them) and records what each has not heard.
    pub async fn sweep(&self) -> anyhow::Result<Sweep> {
        let model = projections::models::logistics::NAME;
        if projections::models::event_log::active_checkpoint(&self.db, model)
            .await?
            .is_none()
        {
            // The read model is not built yet: no shipment is known.
            return Ok(Sweep::default());
        }
        let mut by_carrier: BTreeMap<String, Vec<OpenShipment>> = BTreeMap::new();
        let mut after = None;
        loop {
            let page = open_shipments(&self.db, after, 500).await?;
            for shipment in page.items {
                by_carrier
                    .entry(shipment.carrier.clone())
                    .or_default()
                    .push(shipment);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let mut sweep = Sweep::default();
        for (carrier, shipments) in &by_carrier {
            sweep.shipments += shipments.len();
            for chunk in shipments.chunks(CODES_PER_REQUEST) {
                let codes: Vec<&str> = chunk.iter().map(|s| s.tracking_number.as_str()).collect();
                let ours: Vec<Uuid> = chunk.iter().map(|s| s.id).collect();
                let list = self
                    .carrier
                    .trackers(&codes, Some(carrier))
                    .await
                    .map_err(|e| anyhow::anyhow!("asking {carrier} about {codes:?}: {e}"))?;
                for tracker in &list.trackers {
                    let id = shipment_id(&tracker.carrier, &tracker.tracking_code);
                    if ours.contains(&id) {
                        sweep.recorded += self.record(id, tracker).await?;
                    }
                }
            }
        }
        Ok(sweep)
    }

    /// Records on shipment `id` what `tracker` holds that it has not heard;
    /// how many updates were new.
    async fn record(&self, id: Uuid, tracker: &Tracker) -> anyhow::Result<usize> {
        let stream = Shipment::stream(id);
        let recorded = self
            .store
            .read_stream(&stream, 1, Direction::Forward, usize::MAX)
            .await?;
        let Some(first) = recorded.first() else {
            return Ok(0);
        };
        let events = recorded
            .iter()
            .map(ShipmentEvent::decode)
            .collect::<Result<Vec<_>, _>>()?;
        let shipment = Shipment::replay(&events);
        let mut new = 0;
        for update in missed_updates(&shipment, tracker) {
            let key = match &update {
                ShipmentCommand::RecordCarrierUpdate {
                    carrier_event_id, ..
                } => carrier_event_id.clone(),
                ShipmentCommand::StartTracking { .. } => continue,
            };
            let envelope = Envelope {
                stream: stream.clone(),
                command: update,
                command_id: CommandId::from_uuid(derived_id(&[
                    b"carrier_poll",
                    id.as_bytes(),
                    key.as_bytes(),
                ])),
                // The shipment's story: its updates join the order's audit trail.
                correlation_id: first.metadata.correlation_id,
                causation_id: None,
                actor: Actor::System(ACTOR.to_owned()),
            };
            match self.handler.handle::<Shipment>(envelope).await {
                Ok(handled) if !handled.duplicate && handled.events > 0 => new += 1,
                Ok(_) => {}
                Err(HandleError::Rejected(rejection)) => {
                    tracing::debug!(shipment = %id, %rejection, "a polled scan was refused");
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(new)
    }
}
