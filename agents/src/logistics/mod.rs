//! Logistics Core: the department agent that scans inventory, drafts
//! purchase orders, has them approved where policy says so and places them
//! in the ERP.
//!
//! An event processor whose workflow lives in the event log:
//!
//! | event | what the agent does |
//! | --- | --- |
//! | `TaskDispatched` (`inventory_scan`, `reorder`) | starts the task, reads the ERP (and a sheet of shelf counts), applies the reorder rules and records an `InventoryScanned` |
//! | `InventoryScanned` | drafts its purchase orders; a report, or a scan with nothing to order, completes the task |
//! | `PurchaseOrderDrafted` | asks for a person's approval where policy demands it, else approves under policy |
//! | `ApprovalGranted` / `ApprovalRejected` / `ApprovalExpired` (of an approval it asked for) | approves, rejects or cancels the purchase order |
//! | `PurchaseOrderApproved`, `PurchaseOrderApprovedUnderPolicy` | creates and submits the purchase order in the ERP (idempotent: the ERP document carries our id) and records its ERP name |
//! | `PurchaseOrderSubmitted`, `PurchaseOrderRejected`, `PurchaseOrderCancelled` | counts the order as settled in its scan's settlement |
//! | `ScanOrdersSettled` (every order of the scan settled) | completes the task |
//! | `TaskCancelled` (its directive was cancelled) | cancels the task's orders not yet placed; an order placed already is cancelled in the ERP first (the compensation), one whose goods arrived is left as it is |
//! | `DirectiveResumed` | places the approved orders of the directive's tasks that waited while it was paused |
//!
//! Nothing is placed in the ERP for a paused directive or a cancelled task:
//! an approved order waits for the directive to be resumed, or is cancelled.
//!
//! The only steps that look outside the log are the scan and the placing
//! of an order; what they found is recorded before anything follows from
//! it, and a redelivered event finds its answer on record (the scan) or in
//! the ERP (the order), so nothing is read twice into a decision or
//! ordered twice.

pub mod erp;
pub mod shipments;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use commands::processor::{derived_id, Command, HandlerError, Processor};
use domain::approval::{Approval, ApprovalCommand, ApprovalEvent, RequestApproval};
use domain::directive::{Directive, DirectiveEvent};
use domain::logistics::purchase_order::PurchaseOrderDrafted;
use domain::logistics::scan::{
    restock, InventoryScan, InventoryScanCommand, InventoryScanEvent, InventoryScanned, ScanDraft,
    ScanPurpose, ScanScope,
};
use domain::logistics::settlement::{
    ScanSettlement, ScanSettlementCommand, ScanSettlementEvent, Settled,
};
use domain::logistics::{
    PurchaseOrder, PurchaseOrderCommand, PurchaseOrderEvent, PurchaseOrderStatus, ReorderPolicy,
};
use domain::policy::{Action, Policy};
use domain::task::{Department, Task, TaskCommand, TaskEvent, TaskStatus};
use domain::work::{TaskKind, Work};
use domain::{Actor, Aggregate, DomainEvent, RecordedEvent, StreamId};
use eventstore::{Direction, EventFilter, EventStore};
use uuid::Uuid;

pub use erp::{Erp, ErpFailure};

use crate::history::load;

/// The agent's name: its consumer, and its actor `agent:logistics`.
pub const NAME: &str = "logistics";

/// How long an approval the agent asks for stays open.
const APPROVAL_TTL: chrono::Duration = chrono::Duration::days(3);

/// The Logistics agent.
pub struct LogisticsAgent {
    store: Arc<dyn EventStore>,
    erp: Arc<dyn Erp>,
    policy: Policy,
    rules: ReorderPolicy,
}

impl LogisticsAgent {
    /// An agent that reads streams from `store`, the company's stock through
    /// `erp`, and asks for approval where `policy` says so; `rules` set the
    /// service level and costs of the reorder rules.
    pub fn new(
        store: Arc<dyn EventStore>,
        erp: Arc<dyn Erp>,
        policy: Policy,
        rules: ReorderPolicy,
    ) -> Self {
        Self {
            store,
            erp,
            policy,
            rules,
        }
    }

    fn actor() -> Actor {
        Actor::Agent(NAME.to_owned())
    }

    /// A dispatched task of ours: start it and scan, unless its scan is on
    /// record already (a redelivery).
    async fn on_task(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        let cancelled = match TaskEvent::decode(event)? {
            TaskEvent::TaskDispatched(_) => false,
            TaskEvent::TaskCancelled(_) => true,
            _ => return Ok(Vec::new()),
        };
        let (_, history) = load::<Task>(&*self.store, &event.stream_id, Some(1)).await?;
        let Some(TaskEvent::TaskPlanned(planned)) = history.first() else {
            return Err(format!("task {} has no plan", event.stream_id).into());
        };
        if planned.department != Department::Logistics {
            return Ok(Vec::new());
        }
        if cancelled {
            return self.on_task_cancelled(event.stream_id.id()).await;
        }
        let task_id = event.stream_id.id();
        let now = Utc::now();
        let start = Command::new::<Task>(
            event.stream_id.clone(),
            TaskCommand::Start {
                agent: Self::actor(),
                at: now,
            },
        )
        .refusal_expected();
        let kind: TaskKind = planned.kind.parse()?;
        let (purpose, scope) = match Work::parse(kind, &planned.params)? {
            Work::InventoryScan(scan) => (
                ScanPurpose::Report,
                ScanScope {
                    skus: scan.skus.into_iter().map(Into::into).collect(),
                    warehouse: scan.warehouse.map(|w| w.as_str().to_owned()),
                    ..ScanScope::default()
                },
            ),
            Work::Reorder(reorder) => {
                let requested = reorder
                    .items
                    .iter()
                    .filter_map(|line| Some((line.sku.clone().into(), line.quantity?.get())))
                    .collect();
                (
                    ScanPurpose::Reorder,
                    ScanScope {
                        skus: reorder.items.into_iter().map(|l| l.sku.into()).collect(),
                        warehouse: reorder.warehouse.map(|w| w.as_str().to_owned()),
                        requested,
                        supplier: reorder.supplier.map(|s| s.as_str().to_owned()),
                    },
                )
            }
            // Shipments are followed by their own processor.
            Work::ShipmentTracking(_) => return Ok(Vec::new()),
            _ => {
                let reason = format!(
                    "{} is not something the Logistics agent does yet",
                    kind.as_str()
                );
                return Ok(vec![
                    start,
                    Command::new::<Task>(
                        event.stream_id.clone(),
                        TaskCommand::Fail { reason, at: now },
                    )
                    .refusal_expected(),
                ]);
            }
        };
        let scan_id = scan_id(task_id);
        let scan_stream = InventoryScan::stream(scan_id);
        if !self
            .store
            .read_stream(&scan_stream, 1, Direction::Forward, 1)
            .await?
            .is_empty()
        {
            return Ok(vec![start]);
        }
        let picture = match self.erp.stock_picture(&scope.skus).await {
            Ok(picture) => picture,
            // Refused for good (credentials, permissions): the task fails
            // and the Brain escalates it; an outage is retried instead.
            Err(ErpFailure::Refused(reason)) => {
                return Ok(vec![
                    start,
                    Command::new::<Task>(
                        event.stream_id.clone(),
                        TaskCommand::Fail {
                            reason: format!("the ERP refused to show the stock: {reason}"),
                            at: now,
                        },
                    )
                    .refusal_expected(),
                ]);
            }
            Err(unavailable) => return Err(unavailable.into()),
        };
        let found = restock(&picture.picture, &scope, &self.rules)?;
        let drafts = match purpose {
            ScanPurpose::Report => Vec::new(),
            ScanPurpose::Reorder => found
                .drafts
                .into_iter()
                .map(|order| ScanDraft {
                    po_id: po_id(scan_id, &order),
                    order,
                })
                .collect(),
        };
        let scanned = InventoryScanned {
            scan_id,
            purpose,
            task_id: Some(task_id),
            directive_id: Some(planned.directive_id),
            warehouses: picture.warehouses,
            sources: picture.sources,
            levels_read: found.levels_read,
            count_differences: found.count_differences,
            skipped: found.skipped,
            decisions: found.decisions,
            drafts,
            scanned_by: Self::actor(),
            at: now,
        };
        Ok(vec![
            start,
            Command::new::<InventoryScan>(
                scan_stream,
                InventoryScanCommand::Record {
                    scan: scanned,
                    levels: found.levels,
                },
            ),
        ])
    }

    /// A recorded scan: draft its orders, or close a task with nothing to order.
    fn on_scan(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        let InventoryScanEvent::InventoryScanned(scan) = InventoryScanEvent::decode(event)? else {
            // The levels' figures are for the read model.
            return Ok(Vec::new());
        };
        let now = Utc::now();
        let mut commands: Vec<Command> = scan
            .drafts
            .iter()
            .map(|draft| {
                Command::new::<PurchaseOrder>(
                    PurchaseOrder::stream(draft.po_id),
                    PurchaseOrderCommand::Draft {
                        po_id: draft.po_id,
                        order: draft.order.clone(),
                        directive_id: scan.directive_id,
                        task_id: scan.task_id,
                        drafted_by: Self::actor(),
                        at: now,
                    },
                )
            })
            .collect();
        if scan.drafts.is_empty() {
            if let Some(task_id) = scan.task_id {
                commands.push(
                    Command::new::<Task>(
                        Task::stream(task_id),
                        TaskCommand::Complete {
                            summary: scan.summary(),
                            at: now,
                        },
                    )
                    .refusal_expected(),
                );
            }
        }
        Ok(commands)
    }

    /// A purchase order moved on: gate it, place it, or settle its task.
    async fn on_purchase_order(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        let po_stream = event.stream_id.clone();
        let now = Utc::now();
        match PurchaseOrderEvent::decode(event)? {
            PurchaseOrderEvent::PurchaseOrderDrafted(drafted) => Ok(self.gate(&drafted, now)),
            PurchaseOrderEvent::PurchaseOrderApproved(_)
            | PurchaseOrderEvent::PurchaseOrderApprovedUnderPolicy(_) => {
                let drafted = self.draft_of(&po_stream).await?;
                self.place(&drafted).await
            }
            PurchaseOrderEvent::PurchaseOrderSubmitted(submitted) => {
                let placed = Settled::Placed {
                    erp_name: submitted.erp_name,
                };
                self.settle(&po_stream, placed, now).await
            }
            PurchaseOrderEvent::PurchaseOrderRejected(_)
            | PurchaseOrderEvent::PurchaseOrderCancelled(_) => {
                self.settle(&po_stream, Settled::Dropped, now).await
            }
            _ => Ok(Vec::new()),
        }
    }

    /// A purchase order's draft: its first event.
    async fn draft_of(&self, po_stream: &StreamId) -> Result<PurchaseOrderDrafted, HandlerError> {
        let (_, mut history) = load::<PurchaseOrder>(&*self.store, po_stream, Some(1)).await?;
        match history.pop() {
            Some(PurchaseOrderEvent::PurchaseOrderDrafted(drafted)) => Ok(drafted),
            _ => Err(format!("purchase order {po_stream} has no draft").into()),
        }
    }

    /// Places an approved order in the ERP and records its ERP name, unless
    /// its task was cancelled meanwhile (the order is cancelled) or its
    /// directive is paused (it waits for `DirectiveResumed`).
    async fn place(&self, drafted: &PurchaseOrderDrafted) -> Result<Vec<Command>, HandlerError> {
        let po_stream = PurchaseOrder::stream(drafted.po_id);
        let now = Utc::now();
        let cancel = |reason: String| {
            vec![Command::new::<PurchaseOrder>(
                po_stream.clone(),
                PurchaseOrderCommand::Cancel {
                    by: Self::actor(),
                    reason,
                    at: now,
                },
            )
            .refusal_expected()]
        };
        if let Some(task_id) = drafted.task_id {
            let (task, _) = load::<Task>(&*self.store, &Task::stream(task_id), None).await?;
            if task.status == TaskStatus::Cancelled {
                return Ok(cancel(
                    "its task was cancelled before it was placed".to_owned(),
                ));
            }
        }
        if let Some(directive_id) = drafted.directive_id {
            let (directive, _) =
                load::<Directive>(&*self.store, &Directive::stream(directive_id), None).await?;
            if directive.paused {
                tracing::info!(po = %drafted.po_id, "approved; waits while its directive is paused");
                return Ok(Vec::new());
            }
        }
        match self.erp.place_purchase_order(drafted).await {
            Ok(erp_name) => Ok(vec![Command::new::<PurchaseOrder>(
                po_stream.clone(),
                PurchaseOrderCommand::Submit { erp_name, at: now },
            )
            .refusal_expected()]),
            Err(ErpFailure::Refused(reason)) => Ok(cancel(format!("the ERP refused it: {reason}"))),
            Err(failure) => Err(failure.into()),
        }
    }

    /// A cancelled task of ours: its orders not yet placed are cancelled;
    /// one placed already is cancelled in the ERP first; one whose goods
    /// arrived stays (goods are not sent back by cancelling a record).
    async fn on_task_cancelled(&self, task_id: Uuid) -> Result<Vec<Command>, HandlerError> {
        let Some(scan) = self.scan_of(task_id).await? else {
            return Ok(Vec::new());
        };
        let now = Utc::now();
        let mut commands = Vec::new();
        for draft in &scan.drafts {
            let stream = PurchaseOrder::stream(draft.po_id);
            let (po, _) = load::<PurchaseOrder>(&*self.store, &stream, None).await?;
            let reason = match (po.status, po.erp_name.as_deref()) {
                (status, _) if status.is_final() => continue,
                (PurchaseOrderStatus::PartiallyReceived | PurchaseOrderStatus::Received, _) => {
                    tracing::warn!(po = %draft.po_id, "its task was cancelled after goods arrived; the order stays");
                    continue;
                }
                (status, Some(erp_name)) if status.is_submitted() => {
                    match self.erp.cancel_purchase_order(erp_name).await {
                        Ok(()) => {
                            format!("its task was cancelled; {erp_name} cancelled in the ERP")
                        }
                        Err(ErpFailure::Refused(reason)) => {
                            tracing::warn!(po = %draft.po_id, %reason, "the ERP refused to cancel it");
                            continue;
                        }
                        Err(failure) => return Err(failure.into()),
                    }
                }
                _ => "its task was cancelled before it was placed".to_owned(),
            };
            commands.push(
                Command::new::<PurchaseOrder>(
                    stream,
                    PurchaseOrderCommand::Cancel {
                        by: Self::actor(),
                        reason,
                        at: now,
                    },
                )
                .refusal_expected(),
            );
        }
        Ok(commands)
    }

    /// A resumed directive: place the approved orders that waited.
    async fn on_directive(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        if !matches!(
            DirectiveEvent::decode(event)?,
            DirectiveEvent::DirectiveResumed(_)
        ) {
            return Ok(Vec::new());
        }
        let (directive, _) = load::<Directive>(&*self.store, &event.stream_id, None).await?;
        let mut commands = Vec::new();
        for slot in &directive.tasks {
            if slot.task.department != Department::Logistics {
                continue;
            }
            let Some(scan) = self.scan_of(slot.task.task_id).await? else {
                continue;
            };
            for draft in &scan.drafts {
                let stream = PurchaseOrder::stream(draft.po_id);
                let (po, history) = load::<PurchaseOrder>(&*self.store, &stream, None).await?;
                if po.status != PurchaseOrderStatus::Approved {
                    continue;
                }
                if let Some(PurchaseOrderEvent::PurchaseOrderDrafted(drafted)) = history.first() {
                    commands.extend(self.place(drafted).await?);
                }
            }
        }
        Ok(commands)
    }

    /// Asks for the approval policy demands, or approves under policy.
    fn gate(&self, drafted: &PurchaseOrderDrafted, now: chrono::DateTime<Utc>) -> Vec<Command> {
        let stream = PurchaseOrder::stream(drafted.po_id);
        let action = Action {
            department: Department::Logistics,
            kind: "purchase_order",
            amount: Some(drafted.amount),
            changes_something: true,
        };
        let (Some(rule), Some(task_id), Some(directive_id)) = (
            self.policy.approval_needed(&action),
            drafted.task_id,
            drafted.directive_id,
        ) else {
            let reason = match self.policy.approval_needed(&action) {
                None => format!("{}: no approval rule matched", drafted.amount),
                // An order outside any directive has no one to ask: it waits
                // for no approval only if the policy asks for none.
                Some(rule) => {
                    return vec![Command::new::<PurchaseOrder>(
                        stream,
                        PurchaseOrderCommand::Cancel {
                            by: Self::actor(),
                            reason: format!(
                                "policy \"{}\" demands an approval, and the order serves no directive to ask for one",
                                rule.name
                            ),
                            at: now,
                        },
                    )];
                }
            };
            return vec![Command::new::<PurchaseOrder>(
                stream,
                PurchaseOrderCommand::ApproveUnderPolicy { reason, at: now },
            )];
        };
        let approval_id = approval_id(drafted.po_id);
        let lines: Vec<String> = drafted
            .lines
            .iter()
            .map(|l| format!("{} × {}", l.qty, l.sku))
            .collect();
        vec![
            Command::new::<Approval>(
                Approval::stream(approval_id),
                ApprovalCommand::Request(RequestApproval {
                    task_id,
                    directive_id,
                    what: format!(
                        "purchase order to {} for {} ({}), {}",
                        drafted.supplier,
                        drafted.warehouse,
                        lines.join(", "),
                        drafted.amount
                    ),
                    why: format!(
                        "policy: {}; quantities from the reorder rules: {}",
                        rule.name,
                        drafted
                            .lines
                            .iter()
                            .map(|l| format!("{}: {}", l.sku, l.reasoning.explain()))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    amount: Some(drafted.amount),
                    requested_by: Self::actor(),
                    expires_at: now + APPROVAL_TTL,
                    at: now,
                }),
            ),
            Command::new::<PurchaseOrder>(
                stream,
                PurchaseOrderCommand::RequestApproval {
                    approval_id,
                    reason: format!("policy: {}", rule.name),
                    at: now,
                },
            ),
        ]
    }

    /// A decision on an approval the agent asked for moves its purchase order on.
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
        let approval = event.stream_id.id();
        let Some(scan) = self.scan_of(requested.task_id).await? else {
            return Err(format!("approval {approval}: its task has no scan").into());
        };
        let Some(draft) = scan
            .drafts
            .iter()
            .find(|d| approval_id(d.po_id) == approval)
        else {
            return Err(
                format!("approval {approval}: no purchase order of its task asked for it").into(),
            );
        };
        let now = Utc::now();
        let command = match decision {
            ApprovalEvent::ApprovalGranted(d) => PurchaseOrderCommand::Approve {
                approval_id: approval,
                by: d.by,
                at: now,
            },
            ApprovalEvent::ApprovalRejected(d) => PurchaseOrderCommand::Reject {
                approval_id: approval,
                by: d.by,
                reason: d.reason,
                at: now,
            },
            ApprovalEvent::ApprovalExpired(_) => PurchaseOrderCommand::Cancel {
                by: Self::actor(),
                reason: "the approval expired undecided".to_owned(),
                at: now,
            },
            ApprovalEvent::ApprovalRequested(_) | ApprovalEvent::ApprovalWithdrawn(_) => {
                return Ok(Vec::new())
            }
        };
        Ok(vec![Command::new::<PurchaseOrder>(
            PurchaseOrder::stream(draft.po_id),
            command,
        )
        .refusal_expected()])
    }

    /// The scan recorded for a task, if any.
    ///
    /// Only the stream's last event is read: the scan is recorded last, after
    /// its levels' figures (which can run to megabytes for a large catalogue).
    async fn scan_of(&self, task_id: Uuid) -> Result<Option<InventoryScanned>, HandlerError> {
        let stream = InventoryScan::stream(scan_id(task_id));
        let last = self
            .store
            .read_stream(&stream, i64::MAX as u64, Direction::Backward, 1)
            .await?;
        match last.first().map(InventoryScanEvent::decode).transpose()? {
            Some(InventoryScanEvent::InventoryScanned(scan)) => Ok(Some(scan)),
            _ => Ok(None),
        }
    }

    /// Counts a purchase order that came to rest (placed, rejected or
    /// cancelled) in its scan's settlement; the last of the scan's orders
    /// records that the scan is settled, which completes the task.
    async fn settle(
        &self,
        po_stream: &StreamId,
        settled: Settled,
        at: chrono::DateTime<Utc>,
    ) -> Result<Vec<Command>, HandlerError> {
        let drafted = self.draft_of(po_stream).await?;
        let Some(task_id) = drafted.task_id else {
            return Ok(Vec::new());
        };
        let Some(scan) = self.scan_of(task_id).await? else {
            return Ok(Vec::new());
        };
        Ok(vec![Command::new::<ScanSettlement>(
            ScanSettlement::stream(scan.scan_id),
            ScanSettlementCommand::Settle {
                scan_id: scan.scan_id,
                task_id: Some(task_id),
                orders: scan.drafts.iter().map(|d| d.po_id).collect(),
                po_id: drafted.po_id,
                settled,
                at,
            },
        )])
    }

    /// Every order of a scan came to rest: its task is complete.
    async fn on_settlement(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        let ScanSettlementEvent::ScanOrdersSettled(all) = ScanSettlementEvent::decode(event)?
        else {
            return Ok(Vec::new());
        };
        let Some(task_id) = all.task_id else {
            return Ok(Vec::new());
        };
        let Some(scan) = self.scan_of(task_id).await? else {
            return Err(format!("the settled scan {} is not on record", all.scan_id).into());
        };
        Ok(vec![Command::new::<Task>(
            Task::stream(task_id),
            TaskCommand::Complete {
                summary: format!("{}; {}", scan.summary(), all.summary()),
                at: Utc::now(),
            },
        )
        .refusal_expected()])
    }
}

#[async_trait]
impl Processor for LogisticsAgent {
    fn name(&self) -> &str {
        NAME
    }

    fn filter(&self) -> EventFilter {
        let types = [
            "TaskDispatched",
            "TaskCancelled",
            "DirectiveResumed",
            "InventoryScanned",
            "PurchaseOrderDrafted",
            "PurchaseOrderApproved",
            "PurchaseOrderApprovedUnderPolicy",
            "PurchaseOrderSubmitted",
            "PurchaseOrderRejected",
            "PurchaseOrderCancelled",
            "ScanOrdersSettled",
            "ApprovalGranted",
            "ApprovalRejected",
            "ApprovalExpired",
        ];
        EventFilter::of(
            &[
                Directive::CATEGORY,
                Task::CATEGORY,
                InventoryScan::CATEGORY,
                PurchaseOrder::CATEGORY,
                ScanSettlement::CATEGORY,
                Approval::CATEGORY,
            ],
            &types,
        )
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError> {
        match event.stream_id.category() {
            c if c == Directive::CATEGORY => self.on_directive(event).await,
            c if c == Task::CATEGORY => self.on_task(event).await,
            c if c == InventoryScan::CATEGORY => self.on_scan(event),
            c if c == PurchaseOrder::CATEGORY => self.on_purchase_order(event).await,
            c if c == ScanSettlement::CATEGORY => self.on_settlement(event).await,
            c if c == Approval::CATEGORY => self.on_approval(event).await,
            _ => Ok(Vec::new()),
        }
    }
}

/// A task's scan: one per task, so a redelivered dispatch finds it.
fn scan_id(task_id: Uuid) -> Uuid {
    derived_id(&[b"inventory_scan", task_id.as_bytes()])
}

/// A drafted order's id: one per scan, supplier, warehouse and currency.
fn po_id(scan_id: Uuid, order: &domain::logistics::DraftPurchaseOrder) -> Uuid {
    derived_id(&[
        b"purchase_order",
        scan_id.as_bytes(),
        order.supplier.as_str().as_bytes(),
        order.warehouse.as_str().as_bytes(),
        order.amount.currency.to_string().as_bytes(),
    ])
}

/// The approval the agent asks for a purchase order.
fn approval_id(po_id: Uuid) -> Uuid {
    derived_id(&[b"approval", po_id.as_bytes()])
}
