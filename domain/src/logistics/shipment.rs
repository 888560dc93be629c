//! An inbound shipment of a purchase order, followed through its carrier's
//! updates: pre-transit → in transit → out for delivery → delivered, with
//! exceptions and returns on the way.
//!
//! Carriers repeat themselves and deliver their updates out of order, so:
//! an update already recorded (same carrier event id) changes nothing; an
//! update older than the one that set the current status is kept as history
//! but does not move the status back; delivered and returned are final for
//! the status. [`needs_alert`] says what deserves a person's attention
//! (an exception, a return, a delivery later than promised), and each kind
//! of alert is raised once per shipment, not on every update.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::catalog::{Sku, MAX_NAME_CHARS};
use crate::aggregate::{Aggregate, Rejection};
use crate::codec::{DomainEvent, EventSchema};
use crate::work::{repeated_sku, ParcelLine};

/// The longest carrier message, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// Where a shipment is, as its carrier reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentStatus {
    /// Label created, not yet picked up.
    #[default]
    PreTransit,
    /// On its way.
    InTransit,
    /// On the delivery vehicle.
    OutForDelivery,
    /// Handed over.
    Delivered,
    /// Held up: damage, wrong address, customs …
    Exception,
    /// On its way back to the sender.
    Returned,
}

impl ShipmentStatus {
    /// Whether the status can no longer change.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Returned)
    }
}

/// A kind of trouble worth a person's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The carrier reports an exception.
    Exception,
    /// The goods are going back to the sender.
    Returned,
    /// The goods will arrive, or arrived, after the promised date.
    Late,
}

/// The kinds of alert a shipment's situation calls for: an exception, a
/// return, or lateness (an ETA after `promised_by`, a delivery after it,
/// or no delivery by then). `as_of` is the delivery time once delivered,
/// else the time of the newest carrier update.
pub fn needs_alert(
    status: ShipmentStatus,
    eta: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
    promised_by: DateTime<Utc>,
) -> Vec<AlertKind> {
    let late = match status {
        ShipmentStatus::Returned => false,
        ShipmentStatus::Delivered => as_of > promised_by,
        _ => as_of > promised_by || eta.is_some_and(|eta| eta > promised_by),
    };
    let trouble = match status {
        ShipmentStatus::Exception => Some(AlertKind::Exception),
        ShipmentStatus::Returned => Some(AlertKind::Returned),
        _ => None,
    };
    trouble
        .into_iter()
        .chain(late.then_some(AlertKind::Late))
        .collect()
}

/// What can be asked of a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipmentCommand {
    /// Start following a shipment.
    StartTracking {
        /// Its id (the stream's).
        shipment_id: Uuid,
        /// The purchase order it delivers.
        po_id: Uuid,
        /// The task that follows it, if a task does.
        task_id: Option<Uuid>,
        /// The carrier, e.g. `DHL`.
        carrier: String,
        /// The carrier's tracking number.
        tracking_number: String,
        /// When the supplier promised the goods.
        promised_by: DateTime<Utc>,
        /// What it carries, as the shipping notice says (empty: unknown).
        contents: Vec<ParcelLine>,
        /// When tracking started.
        at: DateTime<Utc>,
    },
    /// Record one of the carrier's updates.
    RecordCarrierUpdate {
        /// The carrier's id for this update (the same id again changes nothing).
        carrier_event_id: String,
        /// The status it reports.
        status: ShipmentStatus,
        /// The delivery it now expects, if it says.
        eta: Option<DateTime<Utc>>,
        /// Its words.
        message: String,
        /// When it happened, by the carrier's clock.
        occurred_at: DateTime<Utc>,
    },
}

/// What can happen to a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ShipmentEvent {
    /// It is followed from now on.
    ShipmentTrackingStarted(ShipmentTrackingStarted),
    /// The carrier reported something.
    CarrierUpdateRecorded(CarrierUpdateRecorded),
    /// Something deserves a person's attention.
    ShipmentAlertRaised(ShipmentAlertRaised),
}

/// A shipment is followed from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentTrackingStarted {
    /// Its id.
    pub shipment_id: Uuid,
    /// The purchase order it delivers.
    pub po_id: Uuid,
    /// The task that follows it (absent from shipments tracked before
    /// tasks were named here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<Uuid>,
    /// The carrier.
    pub carrier: String,
    /// The tracking number.
    pub tracking_number: String,
    /// When the goods were promised.
    pub promised_by: DateTime<Utc>,
    /// What it carries, as the shipping notice says; empty when unknown
    /// (then it brings whatever its order still awaits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contents: Vec<ParcelLine>,
    /// When tracking started.
    pub at: DateTime<Utc>,
}

/// The carrier reported something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierUpdateRecorded {
    /// The carrier's id for the update.
    pub carrier_event_id: String,
    /// The status it reports.
    pub status: ShipmentStatus,
    /// The delivery it expects.
    pub eta: Option<DateTime<Utc>>,
    /// Its words.
    pub message: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Whether it set the shipment's status and ETA (false for an update
    /// older than the current status, or after delivery or return).
    pub applied: bool,
}

/// Something deserves a person's attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentAlertRaised {
    /// What kind of trouble.
    pub kind: AlertKind,
    /// What happened, for a person.
    pub reason: String,
    /// The carrier update that revealed it.
    pub carrier_event_id: String,
    /// When that update happened.
    pub at: DateTime<Utc>,
}

impl DomainEvent for ShipmentEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema {
            event_type: "ShipmentTrackingStarted",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "CarrierUpdateRecorded",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "ShipmentAlertRaised",
            version: 1,
            upcasters: &[],
        },
    ];
}

/// Why a shipment command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipmentRejection {
    /// No such shipment.
    #[error("no such shipment")]
    NotFound,
    /// It is tracked already.
    #[error("this shipment is already tracked")]
    AlreadyTracked,
    /// Not a carrier name.
    #[error("invalid carrier {0:?}: expected 1 to {MAX_NAME_CHARS} printable characters")]
    CarrierInvalid(String),
    /// Not a tracking number.
    #[error("invalid tracking number {0:?}: expected 1 to {MAX_NAME_CHARS} printable characters")]
    TrackingNumberInvalid(String),
    /// Not a carrier event id.
    #[error("invalid carrier event id {0:?}: expected 1 to {MAX_NAME_CHARS} printable characters")]
    CarrierEventIdInvalid(String),
    /// A message longer than [`MAX_TEXT_CHARS`].
    #[error("carrier messages are limited to {MAX_TEXT_CHARS} characters")]
    TextTooLong,
    /// The contents name a SKU twice.
    #[error("the parcel's contents name {0} twice")]
    ContentsRepeatSku(Sku),
}

impl Rejection for ShipmentRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "shipment.not_found",
            Self::AlreadyTracked => "shipment.already_tracked",
            Self::CarrierInvalid(_) => "shipment.carrier_invalid",
            Self::TrackingNumberInvalid(_) => "shipment.tracking_number_invalid",
            Self::CarrierEventIdInvalid(_) => "shipment.carrier_event_id_invalid",
            Self::TextTooLong => "shipment.text_too_long",
            Self::ContentsRepeatSku(_) => "shipment.contents_repeat_sku",
        }
    }
}

/// What a tracked shipment is expected to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tracking {
    /// The purchase order it delivers.
    pub po_id: Uuid,
    /// When the goods were promised.
    pub promised_by: DateTime<Utc>,
}

/// A shipment's state, as far as its rules need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Shipment {
    /// What it is expected to do, once tracked.
    pub tracking: Option<Tracking>,
    /// Its status.
    pub status: ShipmentStatus,
    /// When the update that set the status happened.
    pub status_at: Option<DateTime<Utc>>,
    /// The delivery expected, as last reported.
    pub eta: Option<DateTime<Utc>>,
    /// When the newest update happened, applied or not.
    pub latest_update_at: Option<DateTime<Utc>>,
    /// The carrier event ids recorded.
    pub seen: BTreeSet<String>,
    /// The kinds of alert raised.
    pub alerts: BTreeSet<AlertKind>,
}

/// A reference of up to [`MAX_NAME_CHARS`] printable characters, trimmed.
fn reference(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let ok = (1..=MAX_NAME_CHARS).contains(&trimmed.chars().count())
        && !trimmed.chars().any(char::is_control);
    ok.then(|| trimmed.to_owned())
}

impl Aggregate for Shipment {
    const CATEGORY: &'static str = "shipment";
    type Command = ShipmentCommand;
    type Event = ShipmentEvent;
    type Rejection = ShipmentRejection;

    fn decide(&self, command: &ShipmentCommand) -> Result<Vec<ShipmentEvent>, ShipmentRejection> {
        match command {
            ShipmentCommand::StartTracking {
                shipment_id,
                po_id,
                task_id,
                carrier,
                tracking_number,
                promised_by,
                contents,
                at,
            } => {
                if self.tracking.is_some() {
                    return Err(ShipmentRejection::AlreadyTracked);
                }
                if let Some(sku) = repeated_sku(contents) {
                    return Err(ShipmentRejection::ContentsRepeatSku(sku.clone().into()));
                }
                let carrier = reference(carrier)
                    .ok_or_else(|| ShipmentRejection::CarrierInvalid(carrier.clone()))?;
                let tracking_number = reference(tracking_number).ok_or_else(|| {
                    ShipmentRejection::TrackingNumberInvalid(tracking_number.clone())
                })?;
                Ok(vec![ShipmentEvent::ShipmentTrackingStarted(
                    ShipmentTrackingStarted {
                        shipment_id: *shipment_id,
                        po_id: *po_id,
                        task_id: *task_id,
                        carrier,
                        tracking_number,
                        promised_by: *promised_by,
                        contents: contents.clone(),
                        at: *at,
                    },
                )])
            }
            ShipmentCommand::RecordCarrierUpdate {
                carrier_event_id,
                status,
                eta,
                message,
                occurred_at,
            } => {
                let Some(tracking) = &self.tracking else {
                    return Err(ShipmentRejection::NotFound);
                };
                let carrier_event_id = reference(carrier_event_id).ok_or_else(|| {
                    ShipmentRejection::CarrierEventIdInvalid(carrier_event_id.clone())
                })?;
                if self.seen.contains(&carrier_event_id) {
                    return Ok(vec![]);
                }
                let message = message.trim();
                if message.chars().count() > MAX_TEXT_CHARS {
                    return Err(ShipmentRejection::TextTooLong);
                }
                let applied =
                    !self.status.is_final() && self.status_at.is_none_or(|at| *occurred_at >= at);
                let update = CarrierUpdateRecorded {
                    carrier_event_id,
                    status: *status,
                    eta: *eta,
                    message: message.to_owned(),
                    occurred_at: *occurred_at,
                    applied,
                };
                let after = self
                    .clone()
                    .evolve(&ShipmentEvent::CarrierUpdateRecorded(update.clone()));
                let alerts = after.alerts_due(tracking.promised_by, &update);
                Ok(
                    std::iter::once(ShipmentEvent::CarrierUpdateRecorded(update))
                        .chain(alerts)
                        .collect(),
                )
            }
        }
    }

    fn evolve(mut self, event: &ShipmentEvent) -> Self {
        match event {
            ShipmentEvent::ShipmentTrackingStarted(e) => {
                self.tracking = Some(Tracking {
                    po_id: e.po_id,
                    promised_by: e.promised_by,
                });
            }
            ShipmentEvent::CarrierUpdateRecorded(e) => {
                self.seen.insert(e.carrier_event_id.clone());
                self.latest_update_at = self.latest_update_at.max(Some(e.occurred_at));
                if e.applied {
                    self.status = e.status;
                    self.status_at = Some(e.occurred_at);
                    self.eta = e.eta.or(self.eta);
                }
            }
            ShipmentEvent::ShipmentAlertRaised(e) => {
                self.alerts.insert(e.kind);
            }
        }
        self
    }
}

impl Shipment {
    /// The alerts this state calls for that were not raised before, as
    /// revealed by `update`.
    fn alerts_due(
        &self,
        promised_by: DateTime<Utc>,
        update: &CarrierUpdateRecorded,
    ) -> Vec<ShipmentEvent> {
        let as_of = match (self.status, self.status_at) {
            (ShipmentStatus::Delivered, Some(delivered_at)) => delivered_at,
            _ => self.latest_update_at.unwrap_or(update.occurred_at),
        };
        needs_alert(self.status, self.eta, as_of, promised_by)
            .into_iter()
            .filter(|kind| !self.alerts.contains(kind))
            .map(|kind| {
                let reason = match kind {
                    AlertKind::Exception => {
                        format!("the carrier reports an exception: {}", update.message)
                    }
                    AlertKind::Returned => {
                        format!("the goods are going back to the sender: {}", update.message)
                    }
                    AlertKind::Late => match (self.status, self.eta) {
                        (ShipmentStatus::Delivered, _) => {
                            format!("delivered {as_of}, after the promised {promised_by}")
                        }
                        (_, Some(eta)) if eta > promised_by => {
                            format!("expected {eta}, after the promised {promised_by}")
                        }
                        _ => format!("not delivered by the promised {promised_by}"),
                    },
                };
                ShipmentEvent::ShipmentAlertRaised(ShipmentAlertRaised {
                    kind,
                    reason,
                    carrier_event_id: update.carrier_event_id.clone(),
                    at: update.occurred_at,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
