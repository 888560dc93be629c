//! Following inbound shipments: the processor that takes a Logistics
//! `shipment_tracking` task, follows its parcels with the carrier until
//! they arrive, and books the goods into the ERP and onto the purchase
//! order.
//!
//! An event processor whose workflow lives in the event log:
//!
//! | event | what the follower does |
//! | --- | --- |
//! | `TaskDispatched` (`shipment_tracking`) | starts the task; pairs each tracking number with its purchase order, maps the order's ERP name to ours, creates the carrier's tracker and starts tracking the shipment, recording the scans the tracker has already |
//! | `CarrierUpdateRecorded` (delivered, applied) | posts a goods receipt for what the order still awaits in the ERP and records it on the order; completes the task once each of its shipments is delivered or returned (withdrawing an alert's question the delivery made moot) |
//! | `ShipmentAlertRaised` | escalates to the CEO: asks for an approval and lets the task wait for it |
//! | `ApprovalGranted` / `ApprovalExpired` / `ApprovalWithdrawn` (of an approval it asked for) | resumes the task (and completes it if every shipment has arrived or gone back) |
//! | `ApprovalRejected` | fails the task, with the CEO's reason |
//!
//! The carrier's later updates come in through its webhook (the gateway's
//! `POST /api/v1/webhooks/carrier`), which finds the shipment's stream by
//! [`shipment_id`], derived from the carrier and the tracking number, with
//! [`carrier_update`] turning the webhook's tracker into the update to record.
//!
//! Choices the task's parameters leave open:
//! - **Pairing**: one purchase order given serves every tracking number;
//!   as many orders as numbers pair up in order; anything else (or no
//!   tracking number, or no order) fails the task with the reason. The
//!   `skus`, `supplier` and `period` parameters narrow nothing: following
//!   shipments found by those alone is not supported yet.
//! - **Carrier**: the parameters name none (`supplier` is the supplier, not
//!   the carrier). A number shaped like UPS's (`1Z` and 16 letters or
//!   digits) is UPS's; any other is the follower's default carrier
//!   ([`DEFAULT_CARRIER`] unless configured), spelt as EasyPost spells it.
//! - **Promised date**: the tracker's estimated delivery when tracking
//!   starts; without one, [`DEFAULT_PROMISE`] after tracking starts.
//! - **Statuses**: EasyPost's `available_for_pickup`, `failure`,
//!   `cancelled` and `error` are exceptions (someone must act); `unknown`
//!   and statuses this client does not know are not recorded.
//! - **Receipts**: a carrier does not say what a parcel holds; the
//!   supplier's shipping notice does. With `contents` (one tracking number
//!   only, each SKU on its order), a delivered parcel is received as exactly
//!   that: less than ordered leaves the order partially received and open
//!   for the next parcel, more is recorded as over-delivered. Without, the
//!   first parcel of an order to arrive is booked as bringing everything
//!   the order still awaits; a later one finds nothing outstanding and books
//!   nothing (the shelf count settles differences).
//! - **Escalation**: an alert does not fail the task (its other parcels may
//!   still arrive). It becomes an approval asked of the CEO, "accept this
//!   and keep following?", shown in the approvals inbox, and the task waits
//!   for it: granted (or lapsed undecided), the task resumes; rejected, the
//!   task fails with the CEO's reason, which the orchestrator escalates on
//!   the directive. A late delivery is not escalated (the goods are here; the
//!   task's summary says it was late), nor anything once the task has ended.
//!
//! Nothing is doubled by a redelivered event: command ids are derived from
//! the event; EasyPost returns the same tracker for the same number;
//! tracking an already tracked shipment is refused (expected); scans carry
//! ids the shipment remembers; a receipt's id is derived from its shipment,
//! and one on record already is not posted again.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use commands::processor::{command_id, derived_id, Command, HandlerError, Processor};
use domain::approval::{Approval, ApprovalCommand, ApprovalEvent, ApprovalStatus, RequestApproval};
use domain::logistics::shipment::{
    AlertKind, CarrierUpdateRecorded, ShipmentAlertRaised, ShipmentTrackingStarted, MAX_TEXT_CHARS,
};
use domain::logistics::{
    PurchaseOrder, PurchaseOrderCommand, Shipment, ShipmentCommand, ShipmentEvent, ShipmentStatus,
    Sku,
};
use domain::task::{Department, Task, TaskCommand, TaskEvent, TaskPlanned, TaskStatus};
use domain::work::{repeated_sku, ParcelLine, ShipmentTracking, TaskKind, Work};
use domain::{Actor, Aggregate, DomainEvent, EventId, RecordedEvent, StreamId};
use eventstore::{Direction, EventFilter, EventStore};
use uuid::Uuid;

use super::erp::{Erp, ErpFailure};
use crate::adapters::carrier::{Carrier, CarrierError, Tracker, TrackerStatus, TrackingDetail};
use crate::adapters::CallError;
use crate::history::load;

/// The processor's name: its consumer, and its actor `agent:logistics_shipments`.
pub const NAME: &str = "logistics_shipments";

/// The carrier of a tracking number whose shape names none, unless configured.
pub const DEFAULT_CARRIER: &str = "USPS";

/// When goods are expected, after tracking starts, if the carrier gives no estimate.
pub const DEFAULT_PROMISE: chrono::Duration = chrono::Duration::days(7);

/// How long an approval the follower asks for stays open.
const APPROVAL_TTL: chrono::Duration = chrono::Duration::days(3);

/// The longest approval text, in characters.
const MAX_APPROVAL_CHARS: usize = domain::approval::MAX_TEXT_CHARS;

/// The longest task summary or reason, in characters.
const MAX_TASK_CHARS: usize = domain::task::MAX_TEXT_CHARS;

/// Follows shipment tracking tasks' shipments until their goods are received.
pub struct ShipmentFollower {
    store: Arc<dyn EventStore>,
    carrier: Carrier,
    erp: Arc<dyn Erp>,
    default_carrier: String,
}

/// One shipment a task follows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parcel {
    tracking_number: String,
    /// The ERP name of the purchase order it delivers.
    po_name: String,
    carrier: String,
    shipment_id: Uuid,
    /// What it carries, as the shipping notice says (empty: unknown).
    contents: Vec<ParcelLine>,
}

impl ShipmentFollower {
    /// A follower that reads streams from `store`, tracks parcels with
    /// `carrier` and books goods into `erp`.
    pub fn new(store: Arc<dyn EventStore>, carrier: Carrier, erp: Arc<dyn Erp>) -> Self {
        Self {
            store,
            carrier,
            erp,
            default_carrier: DEFAULT_CARRIER.to_owned(),
        }
    }

    /// The carrier of tracking numbers not shaped like UPS's, as EasyPost
    /// spells it (`USPS`, `FedEx`, `DHLExpress` …).
    pub fn with_default_carrier(mut self, carrier: impl Into<String>) -> Self {
        self.default_carrier = carrier.into();
        self
    }

    fn actor() -> Actor {
        Actor::Agent(NAME.to_owned())
    }

    /// The parcels of a task, each paired with its purchase order.
    fn parcels(&self, work: &ShipmentTracking) -> Result<Vec<Parcel>, String> {
        let numbers: Vec<&str> = work.tracking_numbers.iter().map(|l| l.as_str()).collect();
        let orders: Vec<&str> = work.purchase_orders.iter().map(|l| l.as_str()).collect();
        if numbers.is_empty() {
            return Err(
                "no tracking number to follow: shipments are followed by their \
                 tracking numbers (finding them by purchase order, SKU, supplier or period \
                 alone is not supported yet)"
                    .to_owned(),
            );
        }
        let po_names: Vec<&str> = match orders.len() {
            0 => {
                return Err(
                    "no purchase order named: each tracking number needs the purchase order \
                     whose goods it carries"
                        .to_owned(),
                )
            }
            1 => vec![orders[0]; numbers.len()],
            n if n == numbers.len() => orders,
            n => {
                return Err(format!(
                    "{} tracking numbers and {n} purchase orders: name one purchase order for \
                     all of them, or one per tracking number in the same order",
                    numbers.len()
                ))
            }
        };
        if !work.contents.is_empty() && numbers.len() > 1 {
            return Err(format!(
                "the contents of a shipping notice belong to one parcel, and {} tracking \
                 numbers are named: follow the parcels one task each",
                numbers.len()
            ));
        }
        let mut parcels: Vec<Parcel> = Vec::with_capacity(numbers.len());
        for (number, po_name) in numbers.into_iter().zip(po_names) {
            let carrier = carrier_for(number, &self.default_carrier);
            let shipment_id = shipment_id(&carrier, number);
            if parcels.iter().any(|p| p.shipment_id == shipment_id) {
                return Err(format!("tracking number {number} is named twice"));
            }
            parcels.push(Parcel {
                tracking_number: number.to_owned(),
                po_name: po_name.to_owned(),
                carrier,
                shipment_id,
                contents: work.contents.clone(),
            });
        }
        Ok(parcels)
    }

    /// A dispatched shipment tracking task: start it and start tracking its
    /// parcels, or fail it with the reason it cannot be done.
    ///
    /// The task's start is the first command sent for the dispatch:
    /// [`ShipmentFollower::task_of`] relies on it.
    async fn on_task(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        if !matches!(TaskEvent::decode(event)?, TaskEvent::TaskDispatched(_)) {
            return Ok(Vec::new());
        }
        let (task, history) = load::<Task>(&*self.store, &event.stream_id, None).await?;
        let Some(TaskEvent::TaskPlanned(planned)) = history.first() else {
            return Err(format!("task {} has no plan", event.stream_id).into());
        };
        if planned.department != Department::Logistics
            || planned.kind != TaskKind::ShipmentTracking.as_str()
            || task.status.is_final()
        {
            return Ok(Vec::new());
        }
        let stream = event.stream_id.clone();
        let now = Utc::now();
        let start = Command::new::<Task>(
            stream.clone(),
            TaskCommand::Start {
                agent: Self::actor(),
                at: now,
            },
        )
        .refusal_expected();
        let fail = |start: Command, reason: String| {
            let fail = TaskCommand::Fail {
                reason: clip(&reason, MAX_TASK_CHARS),
                at: now,
            };
            vec![
                start,
                Command::new::<Task>(stream.clone(), fail).refusal_expected(),
            ]
        };
        let parcels = match Work::parse(TaskKind::ShipmentTracking, &planned.params) {
            Ok(Work::ShipmentTracking(work)) => self.parcels(&work),
            Ok(other) => Err(format!("{} is not shipment tracking", other.kind())),
            Err(e) => Err(e.to_string()),
        };
        let parcels = match parcels {
            Ok(parcels) => parcels,
            Err(reason) => return Ok(fail(start, reason)),
        };
        let mut po_ids: BTreeMap<&str, Uuid> = BTreeMap::new();
        for parcel in &parcels {
            if po_ids.contains_key(parcel.po_name.as_str()) {
                continue;
            }
            match self.erp.purchase_order_id(&parcel.po_name).await {
                Ok(Some(po_id)) => {
                    po_ids.insert(&parcel.po_name, po_id);
                }
                Ok(None) => {
                    let reason = format!(
                        "{} is not a purchase order AgentOS placed: its goods cannot be received against one of ours",
                        parcel.po_name
                    );
                    return Ok(fail(start, reason));
                }
                Err(ErpFailure::Refused(why)) => {
                    let reason = format!("the ERP refused to look up {}: {why}", parcel.po_name);
                    return Ok(fail(start, reason));
                }
                Err(failure) => return Err(failure.into()),
            }
        }
        for parcel in &parcels {
            let po_id = po_ids[parcel.po_name.as_str()];
            if let Some(reason) = self.unreceivable_contents(parcel, po_id).await? {
                return Ok(fail(start, reason));
            }
        }
        let mut trackers = Vec::with_capacity(parcels.len());
        for parcel in &parcels {
            match self
                .carrier
                .create_tracker(&parcel.tracking_number, &parcel.carrier)
                .await
            {
                Ok(tracker) => trackers.push(tracker),
                Err(error @ CallError::Failed(CarrierError::Rejected { .. })) => {
                    let reason = format!(
                        "the carrier will not track {} ({}): {error}",
                        parcel.tracking_number, parcel.carrier
                    );
                    return Ok(fail(start, reason));
                }
                // Unavailable for now (retried), or misconfigured (dead-lettered).
                Err(error) => return Err(error.into()),
            }
        }
        let mut commands = vec![start];
        for (parcel, tracker) in parcels.iter().zip(&trackers) {
            if shipment_id(&tracker.carrier, &tracker.tracking_code) != parcel.shipment_id {
                tracing::warn!(tracking_number = %parcel.tracking_number, asked = %parcel.carrier,
                    answered = %tracker.carrier, "the carrier names the tracker differently; its webhooks will not find the shipment");
            }
            let start_tracking = ShipmentCommand::StartTracking {
                shipment_id: parcel.shipment_id,
                po_id: po_ids[parcel.po_name.as_str()],
                task_id: Some(stream.id()),
                carrier: parcel.carrier.clone(),
                tracking_number: parcel.tracking_number.clone(),
                promised_by: tracker.est_delivery_date.unwrap_or(now + DEFAULT_PROMISE),
                contents: parcel.contents.clone(),
                at: now,
            };
            commands.push(
                Command::new::<Shipment>(Shipment::stream(parcel.shipment_id), start_tracking)
                    .refusal_expected(),
            );
        }
        for (parcel, tracker) in parcels.iter().zip(&trackers) {
            commands.extend(scans(tracker).into_iter().map(|update| {
                Command::new::<Shipment>(Shipment::stream(parcel.shipment_id), update)
            }));
        }
        Ok(commands)
    }

    /// Why a parcel's contents cannot be received against its order: a SKU
    /// named twice (the shipment would refuse them), or one the order does
    /// not have.
    async fn unreceivable_contents(
        &self,
        parcel: &Parcel,
        po_id: Uuid,
    ) -> Result<Option<String>, HandlerError> {
        if parcel.contents.is_empty() {
            return Ok(None);
        }
        if let Some(sku) = repeated_sku(&parcel.contents) {
            return Ok(Some(format!(
                "the shipping notice of {} names {sku} twice: say each SKU once, with its quantity",
                parcel.tracking_number
            )));
        }
        let (po, _) =
            load::<PurchaseOrder>(&*self.store, &PurchaseOrder::stream(po_id), None).await?;
        Ok(parcel
            .contents
            .iter()
            .find(|line| !po.lines.contains_key(&Sku::from(line.sku.clone())))
            .map(|line| {
                format!(
                    "the shipping notice of {} names {} × {}, which {} does not order",
                    parcel.tracking_number, line.quantity, line.sku, parcel.po_name
                )
            }))
    }

    /// A shipment's update: book a delivery, escalate an alert.
    async fn on_shipment(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        match ShipmentEvent::decode(event)? {
            ShipmentEvent::CarrierUpdateRecorded(update)
                if update.applied && update.status == ShipmentStatus::Delivered =>
            {
                self.on_delivered(&event.stream_id, &update).await
            }
            ShipmentEvent::ShipmentAlertRaised(alert) => {
                self.on_alert(&event.stream_id, &alert).await
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The tracking a shipment's stream started with.
    async fn started(&self, stream: &StreamId) -> Result<ShipmentTrackingStarted, HandlerError> {
        let (_, history) = load::<Shipment>(&*self.store, stream, Some(1)).await?;
        match history.into_iter().next() {
            Some(ShipmentEvent::ShipmentTrackingStarted(started)) => Ok(started),
            _ => Err(format!("shipment {stream} was never tracked").into()),
        }
    }

    /// A delivered shipment: receive what its order awaits, then settle its task.
    async fn on_delivered(
        &self,
        stream: &StreamId,
        update: &CarrierUpdateRecorded,
    ) -> Result<Vec<Command>, HandlerError> {
        let started = self.started(stream).await?;
        let mut commands = self.receive(&started, update.occurred_at).await?;
        if let Some(task_id) = self.task_of(stream).await? {
            commands.extend(self.settle(task_id).await?);
        }
        Ok(commands)
    }

    /// Posts the goods receipt of a delivered shipment in the ERP and
    /// records it on the purchase order, under a receipt id derived from
    /// the shipment: what its shipping notice says it carries, or else
    /// what the order still awaits.
    async fn receive(
        &self,
        started: &ShipmentTrackingStarted,
        at: DateTime<Utc>,
    ) -> Result<Vec<Command>, HandlerError> {
        let receipt_id = derived_id(&[b"goods_receipt", started.shipment_id.as_bytes()]);
        let po_stream = PurchaseOrder::stream(started.po_id);
        let (po, _) = load::<PurchaseOrder>(&*self.store, &po_stream, None).await?;
        if po.receipts.contains_key(&receipt_id) {
            return Ok(Vec::new());
        }
        let Some(erp_name) = po.erp_name.as_deref().filter(|_| po.status.is_submitted()) else {
            tracing::warn!(po = %started.po_id, status = ?po.status, tracking_number = %started.tracking_number,
                "delivered, but the purchase order was not placed: no goods receipt");
            return Ok(Vec::new());
        };
        let lines: Vec<(Sku, u32)> = if started.contents.is_empty() {
            po.lines
                .iter()
                .filter_map(|(sku, progress)| {
                    let outstanding = u64::from(progress.ordered).saturating_sub(progress.received);
                    (outstanding > 0)
                        .then(|| (sku.clone(), u32::try_from(outstanding).unwrap_or(u32::MAX)))
                })
                .collect()
        } else {
            started
                .contents
                .iter()
                .map(|line| (line.sku.clone().into(), line.quantity.get()))
                .collect()
        };
        if lines.is_empty() {
            tracing::info!(po = %erp_name, tracking_number = %started.tracking_number,
                "delivered; nothing outstanding on the purchase order to receive");
            return Ok(Vec::new());
        }
        match self.erp.receive_goods(erp_name, receipt_id, &lines).await {
            Ok(receipt) => {
                tracing::info!(po = %erp_name, %receipt, tracking_number = %started.tracking_number,
                    "goods receipt posted");
                Ok(vec![Command::new::<PurchaseOrder>(
                    po_stream,
                    PurchaseOrderCommand::ReceiveGoods {
                        receipt_id,
                        lines,
                        at,
                    },
                )])
            }
            Err(ErpFailure::Refused(reason)) => {
                tracing::warn!(po = %erp_name, %reason, "the ERP refused the goods receipt");
                Ok(Vec::new())
            }
            Err(failure) => Err(failure.into()),
        }
    }

    /// The task whose dispatch started tracking this shipment, if the
    /// follower started it: named by the shipment's first event.
    ///
    /// A shipment tracked before that event named its task is found through
    /// its cause: the first event was caused by the task's dispatch, and the
    /// first command the follower sent for that dispatch started the task,
    /// so the store's record of that command id names the task's stream.
    async fn task_of(&self, shipment: &StreamId) -> Result<Option<Uuid>, HandlerError> {
        let first = self
            .store
            .read_stream(shipment, 1, Direction::Forward, 1)
            .await?;
        let Some(first) = first.first() else {
            return Ok(None);
        };
        if let ShipmentEvent::ShipmentTrackingStarted(ShipmentTrackingStarted {
            task_id: Some(task_id),
            ..
        }) = ShipmentEvent::decode(first)?
        {
            return Ok(Some(task_id));
        }
        // Tracked before the event named its task:
        let (Some(dispatch), Actor::Agent(name)) =
            (first.metadata.causation_id, &first.metadata.actor)
        else {
            return Ok(None);
        };
        if name != NAME {
            return Ok(None);
        }
        let start = command_id(NAME, EventId::from_uuid(dispatch), 0);
        Ok(self
            .store
            .command_result(start)
            .await?
            .filter(|appended| appended.stream.category() == Task::CATEGORY)
            .map(|appended| appended.stream.id()))
    }

    /// A task's plan.
    async fn plan_of(&self, task_id: Uuid) -> Result<(Task, TaskPlanned), HandlerError> {
        let (task, history) = load::<Task>(&*self.store, &Task::stream(task_id), None).await?;
        match history.into_iter().next() {
            Some(TaskEvent::TaskPlanned(planned)) => Ok((task, planned)),
            _ => Err(format!("task {task_id} has no plan").into()),
        }
    }

    /// Completes a task once each of its shipments is delivered or returned,
    /// with what became of each.
    ///
    /// Shipments settle concurrently: the handler of the last one to commit
    /// sees every other settled, so at least one sends the completion, and
    /// a second is refused harmlessly.
    ///
    /// A task still waiting for the CEO's answer to an alert of ours when
    /// every parcel has been delivered needs that answer no more: the
    /// question is withdrawn, and its `ApprovalWithdrawn` resumes and
    /// completes the task (a decision the CEO made meanwhile wins instead,
    /// the withdrawal being refused). A returned parcel keeps the question
    /// open: the goods did not come.
    async fn settle(&self, task_id: Uuid) -> Result<Vec<Command>, HandlerError> {
        let (task, planned) = self.plan_of(task_id).await?;
        if task.status.is_final() {
            return Ok(Vec::new());
        }
        let Ok(Work::ShipmentTracking(work)) =
            Work::parse(TaskKind::ShipmentTracking, &planned.params)
        else {
            return Ok(Vec::new());
        };
        let Ok(parcels) = self.parcels(&work) else {
            return Ok(Vec::new());
        };
        let mut lines = Vec::with_capacity(parcels.len());
        let mut all_delivered = true;
        for parcel in &parcels {
            let (shipment, _) =
                load::<Shipment>(&*self.store, &Shipment::stream(parcel.shipment_id), None).await?;
            if !shipment.status.is_final() {
                return Ok(Vec::new());
            }
            all_delivered &= shipment.status == ShipmentStatus::Delivered;
            lines.push(describe(parcel, &shipment));
        }
        let summary = format!(
            "{} shipment{} followed: {}",
            parcels.len(),
            if parcels.len() == 1 { "" } else { "s" },
            lines.join("; ")
        );
        let now = Utc::now();
        if let (TaskStatus::AwaitingApproval, Some(approval_id)) = (task.status, task.awaiting) {
            let (approval, _) =
                load::<Approval>(&*self.store, &Approval::stream(approval_id), None).await?;
            if approval.status == ApprovalStatus::Pending {
                if !all_delivered || approval.requested_by != Some(Self::actor()) {
                    return Ok(Vec::new());
                }
                let reason = format!("the goods arrived before a decision: {summary}");
                return Ok(vec![Command::new::<Approval>(
                    Approval::stream(approval_id),
                    ApprovalCommand::Withdraw {
                        by: Self::actor(),
                        reason: clip(&reason, MAX_APPROVAL_CHARS),
                        at: now,
                    },
                )
                .refusal_expected()]);
            }
        }
        Ok(vec![Command::new::<Task>(
            Task::stream(task_id),
            TaskCommand::Complete {
                summary: clip(&summary, MAX_TASK_CHARS),
                at: now,
            },
        )
        .refusal_expected()])
    }

    /// An alert: ask the CEO to accept it, and let the task wait for the answer.
    async fn on_alert(
        &self,
        stream: &StreamId,
        alert: &ShipmentAlertRaised,
    ) -> Result<Vec<Command>, HandlerError> {
        let (shipment, _) = load::<Shipment>(&*self.store, stream, None).await?;
        if shipment.status == ShipmentStatus::Delivered {
            // The goods are here: a late delivery is told in the task's summary.
            return Ok(Vec::new());
        }
        let started = self.started(stream).await?;
        let Some(task_id) = self.task_of(stream).await? else {
            tracing::warn!(shipment = %stream, kind = ?alert.kind, reason = %alert.reason,
                "an alert on a shipment no task of ours follows: not escalated");
            return Ok(Vec::new());
        };
        let (task, planned) = self.plan_of(task_id).await?;
        if task.status.is_final() {
            return Ok(Vec::new());
        }
        let (po, _) =
            load::<PurchaseOrder>(&*self.store, &PurchaseOrder::stream(started.po_id), None)
                .await?;
        let order = po.erp_name.unwrap_or_else(|| started.po_id.to_string());
        let trouble = match alert.kind {
            AlertKind::Exception => "an exception",
            AlertKind::Late => "a late delivery",
            AlertKind::Returned => "a return to the sender",
        };
        let approval_id = approval_id(started.shipment_id, alert.kind);
        let now = Utc::now();
        let what = format!(
            "Accept {trouble} of {} shipment {} (purchase order {order}) and keep following the task's shipments",
            started.carrier, started.tracking_number
        );
        let why = format!(
            "{}. Approve to accept it and go on; reject to end the shipment tracking task as failed.",
            alert.reason
        );
        Ok(vec![
            Command::new::<Approval>(
                Approval::stream(approval_id),
                ApprovalCommand::Request(RequestApproval {
                    task_id,
                    directive_id: planned.directive_id,
                    what: clip(&what, MAX_APPROVAL_CHARS),
                    why: clip(&why, MAX_APPROVAL_CHARS),
                    amount: None,
                    requested_by: Self::actor(),
                    expires_at: now + APPROVAL_TTL,
                    at: now,
                }),
            )
            .refusal_expected(),
            Command::new::<Task>(
                Task::stream(task_id),
                TaskCommand::AwaitApproval {
                    approval_id,
                    reason: clip(&format!("{trouble}: {}", alert.reason), MAX_TASK_CHARS),
                    at: now,
                },
            )
            .refusal_expected(),
        ])
    }

    /// The CEO's answer to an escalation moves its task on.
    async fn on_approval(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        let decision = ApprovalEvent::decode(event)?;
        if matches!(decision, ApprovalEvent::ApprovalRequested(_)) {
            return Ok(Vec::new());
        }
        let (_, history) = load::<Approval>(&*self.store, &event.stream_id, Some(1)).await?;
        let Some(ApprovalEvent::ApprovalRequested(requested)) = history.first() else {
            return Err(format!("approval {} has no request", event.stream_id).into());
        };
        if requested.requested_by != Self::actor() {
            return Ok(Vec::new());
        }
        let task = Task::stream(requested.task_id);
        let approval_id = event.stream_id.id();
        let now = Utc::now();
        let mut commands = Vec::new();
        match decision {
            ApprovalEvent::ApprovalGranted(_)
            | ApprovalEvent::ApprovalExpired(_)
            | ApprovalEvent::ApprovalWithdrawn(_) => {
                commands.push(
                    Command::new::<Task>(
                        task,
                        TaskCommand::Resume {
                            approval_id,
                            at: now,
                        },
                    )
                    .refusal_expected(),
                );
                commands.extend(self.settle(requested.task_id).await?);
            }
            ApprovalEvent::ApprovalRejected(decided) => {
                let reason = format!(
                    "{} did not accept it ({}): {}",
                    decided.by, requested.what, decided.reason
                );
                commands.push(
                    Command::new::<Task>(
                        task,
                        TaskCommand::Fail {
                            reason: clip(&reason, MAX_TASK_CHARS),
                            at: now,
                        },
                    )
                    .refusal_expected(),
                );
            }
            ApprovalEvent::ApprovalRequested(_) => {}
        }
        Ok(commands)
    }
}

#[async_trait]
impl Processor for ShipmentFollower {
    fn name(&self) -> &str {
        NAME
    }

    fn filter(&self) -> EventFilter {
        let types = [
            "TaskDispatched",
            "CarrierUpdateRecorded",
            "ShipmentAlertRaised",
            "ApprovalGranted",
            "ApprovalRejected",
            "ApprovalExpired",
            "ApprovalWithdrawn",
        ];
        EventFilter::of(
            &[Task::CATEGORY, Shipment::CATEGORY, Approval::CATEGORY],
            &types,
        )
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        match event.stream_id.category() {
            c if c == Task::CATEGORY => self.on_task(event).await,
            c if c == Shipment::CATEGORY => self.on_shipment(event).await,
            c if c == Approval::CATEGORY => self.on_approval(event).await,
            _ => Ok(Vec::new()),
        }
    }
}

/// A shipment's id, from its carrier and tracking number (case and spaces
/// aside): the webhook finds a tracker's shipment by it.
pub fn shipment_id(carrier: &str, tracking_number: &str) -> Uuid {
    let carrier = carrier.trim().to_ascii_lowercase();
    let code: String = tracking_number
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    derived_id(&[b"shipment", carrier.as_bytes(), code.as_bytes()])
}

/// The carrier of a tracking number: UPS for its `1Z…` numbers, else `default`.
fn carrier_for(tracking_number: &str, default: &str) -> String {
    let code = tracking_number.trim();
    let ups = code.len() == 18
        && code.chars().all(|c| c.is_ascii_alphanumeric())
        && code[..2].eq_ignore_ascii_case("1Z");
    if ups {
        "UPS".to_owned()
    } else {
        default.to_owned()
    }
}

/// A shipment's status for EasyPost's, or `None` for one not to record
/// (`unknown`, or a status this client does not know).
pub fn shipment_status(status: &TrackerStatus) -> Option<ShipmentStatus> {
    Some(match status {
        TrackerStatus::PreTransit => ShipmentStatus::PreTransit,
        TrackerStatus::InTransit => ShipmentStatus::InTransit,
        TrackerStatus::OutForDelivery => ShipmentStatus::OutForDelivery,
        TrackerStatus::Delivered => ShipmentStatus::Delivered,
        TrackerStatus::ReturnToSender => ShipmentStatus::Returned,
        TrackerStatus::AvailableForPickup
        | TrackerStatus::Failure
        | TrackerStatus::Cancelled
        | TrackerStatus::Error => ShipmentStatus::Exception,
        TrackerStatus::Unknown | TrackerStatus::Other(_) => return None,
    })
}

/// The update a carrier's webhook event `event_id` reports: the tracker's
/// status and estimate as of its latest scan; `None` for a status not to
/// record. The event's id is the update's, so a webhook delivered twice is
/// recorded once.
pub fn carrier_update(event_id: &str, tracker: &Tracker) -> Option<ShipmentCommand> {
    let status = shipment_status(&tracker.status)?;
    let latest = tracker.latest_detail();
    Some(ShipmentCommand::RecordCarrierUpdate {
        carrier_event_id: event_id.to_owned(),
        status,
        eta: tracker.est_delivery_date,
        message: message(latest, &tracker.status, tracker.status_detail.as_deref()),
        occurred_at: latest
            .and_then(|d| d.datetime)
            .unwrap_or(tracker.updated_at),
    })
}

/// What a tracker holds that its shipment has not heard, as updates: the
/// scans after the newest update recorded, each under its scan id (the
/// tracker's id and the scan's place), so polling twice records a scan once.
/// A lost webhook is made good this way; a scan older than what is known is
/// left out (it could only be history, never move the status).
pub fn missed_updates(shipment: &Shipment, tracker: &Tracker) -> Vec<ShipmentCommand> {
    scans(tracker)
        .into_iter()
        .filter(|update| match update {
            ShipmentCommand::RecordCarrierUpdate {
                carrier_event_id,
                occurred_at,
                ..
            } => {
                !shipment.seen.contains(carrier_event_id)
                    && shipment
                        .latest_update_at
                        .is_none_or(|known| *occurred_at > known)
            }
            ShipmentCommand::StartTracking { .. } => false,
        })
        .collect()
}

/// The scans a tracker holds, as updates: each identified by the tracker
/// and its place in the history (oldest first, never rewritten), the
/// latest carrying the tracker's estimate.
fn scans(tracker: &Tracker) -> Vec<ShipmentCommand> {
    let last = tracker.tracking_details.len().saturating_sub(1);
    tracker
        .tracking_details
        .iter()
        .enumerate()
        .filter_map(|(i, detail)| {
            Some(ShipmentCommand::RecordCarrierUpdate {
                carrier_event_id: format!("{}#{i}", tracker.id),
                status: shipment_status(&detail.status)?,
                eta: (i == last).then_some(tracker.est_delivery_date).flatten(),
                message: message(
                    Some(detail),
                    &detail.status,
                    detail.status_detail.as_deref(),
                ),
                occurred_at: detail.datetime.unwrap_or(tracker.created_at),
            })
        })
        .collect()
}

/// A scan's words and place, e.g. `Arrived at Facility (DALLAS, TX, US)`.
fn message(detail: Option<&TrackingDetail>, status: &TrackerStatus, fine: Option<&str>) -> String {
    let words = detail
        .and_then(|d| d.message.clone())
        .filter(|m| !m.trim().is_empty())
        .or_else(|| fine.map(str::to_owned))
        .unwrap_or_else(|| status.to_string());
    let place: Vec<&str> = detail
        .and_then(|d| d.tracking_location.as_ref())
        .map(|l| {
            [&l.city, &l.state, &l.country]
                .into_iter()
                .filter_map(|part| part.as_deref().filter(|p| !p.trim().is_empty()))
                .collect()
        })
        .unwrap_or_default();
    let text = if place.is_empty() {
        words
    } else {
        format!("{words} ({})", place.join(", "))
    };
    clip(&text, MAX_TEXT_CHARS)
}

/// What became of a settled parcel, for the task's summary.
fn describe(parcel: &Parcel, shipment: &Shipment) -> String {
    let outcome = match (shipment.status, shipment.status_at) {
        (ShipmentStatus::Delivered, Some(at)) => {
            format!("delivered {}", at.format("%Y-%m-%d %H:%M UTC"))
        }
        (ShipmentStatus::Returned, _) => "returned to the sender".to_owned(),
        (status, _) => format!("{status:?}").to_lowercase(),
    };
    let alerts: Vec<&str> = shipment
        .alerts
        .iter()
        .filter_map(|kind| match kind {
            AlertKind::Exception => Some("an exception on the way"),
            AlertKind::Late => Some("late"),
            // The outcome says it already.
            AlertKind::Returned => None,
        })
        .collect();
    let alerts = if alerts.is_empty() {
        String::new()
    } else {
        format!(" ({})", alerts.join(", "))
    };
    let carrying = if parcel.contents.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = parcel
            .contents
            .iter()
            .map(|line| format!("{} × {}", line.quantity, line.sku))
            .collect();
        format!(", carrying {}", lines.join(", "))
    };
    format!(
        "{} {} for {}{carrying}: {outcome}{alerts}",
        parcel.carrier, parcel.tracking_number, parcel.po_name
    )
}

/// The approval asked for one kind of alert on one shipment.
fn approval_id(shipment_id: Uuid, kind: AlertKind) -> Uuid {
    let kind = match kind {
        AlertKind::Exception => "exception",
        AlertKind::Late => "late",
        AlertKind::Returned => "returned",
    };
    derived_id(&[b"approval", shipment_id.as_bytes(), kind.as_bytes()])
}

/// `text`, cut to `max` characters.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipment_ids_ignore_case_and_spaces_and_tell_carriers_apart() {
        assert_eq!(
            shipment_id("UPS", "1Z999AA10123456784"),
            shipment_id(" ups", "1z999 aa1 0123456784")
        );
        assert_ne!(
            shipment_id("UPS", "1Z999AA10123456784"),
            shipment_id("USPS", "1Z999AA10123456784")
        );
    }

    #[test]
    fn ups_numbers_are_recognised_and_others_take_the_default() {
        assert_eq!(carrier_for("1Z999AA10123456784", "USPS"), "UPS");
        assert_eq!(carrier_for("9400100000000000000000", "USPS"), "USPS");
        assert_eq!(carrier_for("1Z99", "FedEx"), "FedEx");
        assert_eq!(carrier_for("1Zé99AA1012345678", "FedEx"), "FedEx");
    }

    #[test]
    fn easypost_statuses_map_and_unknown_ones_are_not_recorded() {
        use ShipmentStatus as S;
        let cases = [
            ("pre_transit", Some(S::PreTransit)),
            ("in_transit", Some(S::InTransit)),
            ("out_for_delivery", Some(S::OutForDelivery)),
            ("delivered", Some(S::Delivered)),
            ("return_to_sender", Some(S::Returned)),
            ("available_for_pickup", Some(S::Exception)),
            ("failure", Some(S::Exception)),
            ("cancelled", Some(S::Exception)),
            ("error", Some(S::Exception)),
            ("unknown", None),
            ("held_at_customs", None),
        ];
        for (name, expected) in cases {
            assert_eq!(
                shipment_status(&TrackerStatus::from(name.to_owned())),
                expected,
                "{name}"
            );
        }
    }

    fn tracker(scans: &[(&str, &str)]) -> Tracker {
        let details: Vec<serde_json::Value> = scans
            .iter()
            .map(|(status, at)| {
                serde_json::json!({"status": status, "message": status, "datetime": at})
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "id": "trk_1",
            "tracking_code": "EZ1000000001",
            "carrier": "USPS",
            "status": scans.last().map_or("unknown", |(s, _)| *s),
            "tracking_details": details,
            "created_at": "2026-07-01T08:00:00Z",
            "updated_at": "2026-07-03T08:00:00Z",
        }))
        .expect("a tracker")
    }

    fn recorded(commands: &[ShipmentCommand]) -> Vec<(String, ShipmentStatus)> {
        commands
            .iter()
            .filter_map(|c| match c {
                ShipmentCommand::RecordCarrierUpdate {
                    carrier_event_id,
                    status,
                    ..
                } => Some((carrier_event_id.clone(), *status)),
                ShipmentCommand::StartTracking { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_poll_records_the_scans_newer_than_what_the_shipment_heard() {
        use ShipmentStatus as S;
        let at = |text: &str| text.parse::<DateTime<Utc>>().expect("time");
        let journey = tracker(&[
            ("pre_transit", "2026-07-01T08:00:00Z"),
            ("in_transit", "2026-07-02T08:00:00Z"),
            ("out_for_delivery", "2026-07-03T07:00:00Z"),
            ("delivered", "2026-07-03T08:00:00Z"),
        ]);
        // Heard nothing: every scan.
        let silent = Shipment::default();
        assert_eq!(
            recorded(&missed_updates(&silent, &journey)),
            [
                ("trk_1#0".to_owned(), S::PreTransit),
                ("trk_1#1".to_owned(), S::InTransit),
                ("trk_1#2".to_owned(), S::OutForDelivery),
                ("trk_1#3".to_owned(), S::Delivered),
            ]
        );
        // Heard "in transit" by webhook (another id, same time): only what
        // came after it.
        let heard = Shipment {
            status: S::InTransit,
            status_at: Some(at("2026-07-02T08:00:00Z")),
            latest_update_at: Some(at("2026-07-02T08:00:00Z")),
            seen: ["evt_1".to_owned()].into_iter().collect(),
            ..Shipment::default()
        };
        assert_eq!(
            recorded(&missed_updates(&heard, &journey)),
            [
                ("trk_1#2".to_owned(), S::OutForDelivery),
                ("trk_1#3".to_owned(), S::Delivered),
            ]
        );
        // Heard it all: nothing.
        let up_to_date = Shipment {
            latest_update_at: Some(at("2026-07-03T08:00:00Z")),
            ..heard
        };
        assert!(missed_updates(&up_to_date, &journey).is_empty());
    }

    #[test]
    fn long_texts_are_clipped_to_their_limit() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip(&"é".repeat(5000), 4000).chars().count(), 4000);
    }
}
