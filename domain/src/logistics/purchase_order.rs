//! A purchase order, from the agent's draft to the goods on the shelf:
//! drafted → awaiting approval → approved → submitted to the ERP →
//! acknowledged by the supplier → partially received → received, or
//! rejected by the approver, or cancelled before any goods arrived.
//!
//! An order the policy lets through without a person's review is approved
//! under the policy, with the policy's reason recorded. The ERP document is
//! created and submitted by the shell; the order records its name, once.
//! Every receipt records, line by line, what was ordered, what had arrived,
//! what arrived now, and what is still to come or came in excess: an
//! over-delivery is kept in plain sight, never netted away.
//!
//! Which status may follow which is one table,
//! [`PurchaseOrderStatus::may_become`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::catalog::{Sku, SupplierId, WarehouseId, MAX_NAME_CHARS};
use super::reorder::ReorderReasoning;
use crate::aggregate::{Aggregate, Rejection};
use crate::codec::{DomainEvent, EventSchema};
use crate::event::Actor;
use crate::money::{Currency, Money};

/// The longest reason, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// One line of a purchase order, with the reasoning behind its quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoLine {
    /// What.
    pub sku: Sku,
    /// How many units.
    pub qty: u32,
    /// At what price per unit.
    pub unit_cost: Money,
    /// Why this many (the reorder decision's figures).
    pub reasoning: ReorderReasoning,
}

/// What a purchase order would hold: one supplier, one warehouse, one
/// currency, lines sorted by SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DraftPurchaseOrder {
    /// From whom.
    pub supplier: SupplierId,
    /// Delivered where.
    pub warehouse: WarehouseId,
    /// What, how many, at what price, and why.
    pub lines: Vec<PoLine>,
    /// `Σ qty × unit cost`, in the lines' currency.
    pub amount: Money,
}

/// Where a purchase order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseOrderStatus {
    /// Not drafted (an empty stream).
    #[default]
    Unknown,
    /// Drafted by an agent.
    Drafted,
    /// Waiting for a person's decision.
    AwaitingApproval,
    /// Approved, by a person or under the policy.
    Approved,
    /// Created and submitted in the ERP.
    Submitted,
    /// Confirmed by the supplier.
    Acknowledged,
    /// Some goods arrived, not all.
    PartiallyReceived,
    /// Every line arrived in full (or more).
    Received,
    /// Withdrawn before any goods arrived.
    Cancelled,
    /// Refused by the approver.
    Rejected,
}

impl PurchaseOrderStatus {
    /// Whether nothing can follow.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Cancelled | Self::Rejected)
    }

    /// Whether the order was sent to the supplier.
    pub fn is_submitted(self) -> bool {
        matches!(
            self,
            Self::Submitted | Self::Acknowledged | Self::PartiallyReceived | Self::Received
        )
    }

    /// The lifecycle: whether an order in this status may move to `next`.
    pub fn may_become(self, next: Self) -> bool {
        use PurchaseOrderStatus::*;
        matches!(
            (self, next),
            (Unknown, Drafted)
                | (Drafted, AwaitingApproval | Approved)
                | (AwaitingApproval, Approved | Rejected)
                | (Approved, Submitted)
                | (Submitted, Acknowledged)
                | (
                    Submitted | Acknowledged | PartiallyReceived,
                    PartiallyReceived | Received
                )
                | (Received, Received)
                | (
                    Drafted | AwaitingApproval | Approved | Submitted | Acknowledged,
                    Cancelled
                )
        )
    }
}

/// What can be asked of a purchase order.
#[derive(Debug, Clone, PartialEq)]
pub enum PurchaseOrderCommand {
    /// Draft it (an agent, from [`super::reorder::group_by_supplier`]).
    Draft {
        /// Its id (the stream's).
        po_id: Uuid,
        /// Supplier, warehouse, lines and amount.
        order: DraftPurchaseOrder,
        /// The directive it serves, if any.
        directive_id: Option<Uuid>,
        /// The task it serves, if any.
        task_id: Option<Uuid>,
        /// Who drafted it.
        drafted_by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Wait for a person's decision.
    RequestApproval {
        /// The approval asked for.
        approval_id: Uuid,
        /// Why one is needed (the policy rule).
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Record that the approver granted it.
    Approve {
        /// The approval granted.
        approval_id: Uuid,
        /// Who granted it.
        by: Actor,
        /// When.
        at: DateTime<Utc>,
    },
    /// Record that the approver refused it.
    Reject {
        /// The approval refused.
        approval_id: Uuid,
        /// Who refused it.
        by: Actor,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Approve it without a person's review, because the policy asks for none.
    ApproveUnderPolicy {
        /// Why no review is needed, e.g. "1,299.00 EUR: no approval rule matched".
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Record that the ERP created and submitted it as `erp_name`
    /// (the same name again changes nothing).
    Submit {
        /// The ERP document's name, e.g. `PUR-ORD-2026-00017`.
        erp_name: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Record the supplier's confirmation (again: nothing changes).
    Acknowledge {
        /// When.
        at: DateTime<Utc>,
    },
    /// Record a goods receipt (the same receipt again: nothing changes).
    ReceiveGoods {
        /// The receipt's id (e.g. derived from the ERP's Purchase Receipt).
        receipt_id: Uuid,
        /// What arrived, in units per SKU.
        lines: Vec<(Sku, u32)>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Withdraw it, before any goods arrived.
    Cancel {
        /// Who.
        by: Actor,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
}

/// What can happen to a purchase order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PurchaseOrderEvent {
    /// It was drafted.
    PurchaseOrderDrafted(PurchaseOrderDrafted),
    /// A person's decision was asked for.
    PurchaseOrderApprovalRequested(PurchaseOrderApprovalRequested),
    /// The approver granted it.
    PurchaseOrderApproved(PurchaseOrderApproved),
    /// It was approved under the policy, without review.
    PurchaseOrderApprovedUnderPolicy(PurchaseOrderApprovedUnderPolicy),
    /// The approver refused it.
    PurchaseOrderRejected(PurchaseOrderRejected),
    /// The ERP created and submitted it.
    PurchaseOrderSubmitted(PurchaseOrderSubmitted),
    /// The supplier confirmed it.
    PurchaseOrderAcknowledged(PurchaseOrderAcknowledged),
    /// Goods arrived against it.
    GoodsReceived(GoodsReceived),
    /// It was withdrawn.
    PurchaseOrderCancelled(PurchaseOrderCancelled),
}

/// A purchase order was drafted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseOrderDrafted {
    /// Its id.
    pub po_id: Uuid,
    /// From whom.
    pub supplier: SupplierId,
    /// Delivered where.
    pub warehouse: WarehouseId,
    /// Its lines.
    pub lines: Vec<PoLine>,
    /// Its amount.
    pub amount: Money,
    /// The directive it serves.
    pub directive_id: Option<Uuid>,
    /// The task it serves.
    pub task_id: Option<Uuid>,
    /// Who drafted it.
    pub drafted_by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// A person's decision was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderApprovalRequested {
    /// The approval.
    pub approval_id: Uuid,
    /// Why one is needed.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The approver granted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderApproved {
    /// The approval.
    pub approval_id: Uuid,
    /// Who granted it.
    pub by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

/// It was approved under the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderApprovedUnderPolicy {
    /// Why no review was needed.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The approver refused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderRejected {
    /// The approval.
    pub approval_id: Uuid,
    /// Who refused it.
    pub by: Actor,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The ERP created and submitted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderSubmitted {
    /// The ERP document's name.
    pub erp_name: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The supplier confirmed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderAcknowledged {
    /// When.
    pub at: DateTime<Utc>,
}

/// One SKU of a goods receipt, against its order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedLine {
    /// What.
    pub sku: Sku,
    /// Ordered, in units.
    pub ordered: u32,
    /// Received by earlier receipts.
    pub received_before: u64,
    /// Received by this receipt.
    pub received_now: u32,
    /// Received in all, this receipt included.
    pub received_total: u64,
    /// Still to come (under-delivery so far): ordered − total, or 0.
    pub outstanding: u64,
    /// Received beyond the order (over-delivery): total − ordered, or 0.
    pub over_delivered: u64,
}

/// Goods arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoodsReceived {
    /// The receipt.
    pub receipt_id: Uuid,
    /// Each SKU received, sorted by SKU.
    pub lines: Vec<ReceivedLine>,
    /// Whether every order line has now arrived in full.
    pub fully_received: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// It was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOrderCancelled {
    /// Who.
    pub by: Actor,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl DomainEvent for PurchaseOrderEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema {
            event_type: "PurchaseOrderDrafted",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "PurchaseOrderApprovalRequested",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "PurchaseOrderApproved",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "PurchaseOrderApprovedUnderPolicy",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "PurchaseOrderRejected",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "PurchaseOrderSubmitted",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "PurchaseOrderAcknowledged",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "GoodsReceived",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "PurchaseOrderCancelled",
            version: 1,
            upcasters: &[],
        },
    ];
}

impl PurchaseOrderEvent {
    /// The status this event leaves an order in.
    pub fn status(&self) -> PurchaseOrderStatus {
        use PurchaseOrderStatus as S;
        match self {
            Self::PurchaseOrderDrafted(_) => S::Drafted,
            Self::PurchaseOrderApprovalRequested(_) => S::AwaitingApproval,
            Self::PurchaseOrderApproved(_) | Self::PurchaseOrderApprovedUnderPolicy(_) => {
                S::Approved
            }
            Self::PurchaseOrderRejected(_) => S::Rejected,
            Self::PurchaseOrderSubmitted(_) => S::Submitted,
            Self::PurchaseOrderAcknowledged(_) => S::Acknowledged,
            Self::GoodsReceived(e) if e.fully_received => S::Received,
            Self::GoodsReceived(_) => S::PartiallyReceived,
            Self::PurchaseOrderCancelled(_) => S::Cancelled,
        }
    }
}

/// Why a purchase order command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseOrderRejection {
    /// No such purchase order.
    #[error("no such purchase order")]
    NotFound,
    /// It was drafted already.
    #[error("this purchase order has already been drafted")]
    AlreadyDrafted,
    /// It was cancelled or rejected.
    #[error("this purchase order has ended ({0:?})")]
    Ended(PurchaseOrderStatus),
    /// The lifecycle does not allow this step now.
    #[error("a {from:?} purchase order cannot become {to:?}")]
    InvalidTransition {
        /// Where it stands.
        from: PurchaseOrderStatus,
        /// Where the command would take it.
        to: PurchaseOrderStatus,
    },
    /// A draft or a receipt without lines.
    #[error("a purchase order or a receipt needs at least one line")]
    LinesEmpty,
    /// A line of zero units.
    #[error("the line for {0} has no quantity")]
    QuantityZero(Sku),
    /// Two lines for one SKU.
    #[error("{0} appears on two lines")]
    SkuRepeated(Sku),
    /// A unit cost below zero.
    #[error("the unit cost of {0} is below zero")]
    UnitCostNegative(Sku),
    /// A line in another currency than the order's amount.
    #[error("the line for {sku} is in {line}, the order in {order}")]
    CurrencyMismatch {
        /// The line's SKU.
        sku: Sku,
        /// The line's currency.
        line: Currency,
        /// The order's currency.
        order: Currency,
    },
    /// The amount is not the sum of the lines.
    #[error("the amount {stated} is not the sum of the lines, {computed}")]
    AmountMismatch {
        /// The amount stated.
        stated: Money,
        /// `Σ qty × unit cost`.
        computed: Money,
    },
    /// The lines add up to more than an amount can hold.
    #[error("the lines add up to too large an amount")]
    AmountTooLarge,
    /// A line's reasoning holds a figure that is not a finite number.
    #[error("the reasoning for {0} holds a figure that is not a number")]
    ReasoningNotFinite(Sku),
    /// A line's quantity is not the one its reasoning arrived at.
    #[error("the line for {sku} orders {qty}, its reasoning {reasoned}")]
    QuantityDisagreesWithReasoning {
        /// The line's SKU.
        sku: Sku,
        /// The line's quantity.
        qty: u32,
        /// The reasoning's quantity.
        reasoned: u32,
    },
    /// This step needs a reason.
    #[error("this step needs a reason")]
    ReasonEmpty,
    /// A text is longer than [`MAX_TEXT_CHARS`].
    #[error("texts are limited to {MAX_TEXT_CHARS} characters")]
    TextTooLong,
    /// The order waits for another approval.
    #[error("this purchase order waits for approval {awaited}, not {given}")]
    WrongApproval {
        /// The approval it waits for.
        awaited: Uuid,
        /// The one given.
        given: Uuid,
    },
    /// A person was asked: only their decision approves it now.
    #[error("this purchase order waits for approval {0}; the policy cannot approve it now")]
    ApprovalPending(Uuid),
    /// The drafter may not approve their own order.
    #[error("{0} drafted this purchase order and cannot approve it")]
    SelfApproval(Actor),
    /// Not an ERP document name.
    #[error(
        "invalid ERP document name {0:?}: expected 1 to {MAX_NAME_CHARS} printable characters"
    )]
    ErpNameInvalid(String),
    /// It was submitted under another name.
    #[error("this purchase order was submitted as {0}")]
    AlreadySubmitted(String),
    /// Goods arrived: it can no longer be cancelled.
    #[error("goods have been received against this purchase order")]
    GoodsReceived,
    /// A receipt of a SKU that is not on the order.
    #[error("{0} is not on this purchase order")]
    SkuNotOrdered(Sku),
    /// A receipt id recorded before with other lines.
    #[error("receipt {0} was recorded with other lines")]
    ReceiptConflict(Uuid),
}

impl Rejection for PurchaseOrderRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "purchase_order.not_found",
            Self::AlreadyDrafted => "purchase_order.already_drafted",
            Self::Ended(_) => "purchase_order.ended",
            Self::InvalidTransition { .. } => "purchase_order.invalid_transition",
            Self::LinesEmpty => "purchase_order.lines_empty",
            Self::QuantityZero(_) => "purchase_order.quantity_zero",
            Self::SkuRepeated(_) => "purchase_order.sku_repeated",
            Self::UnitCostNegative(_) => "purchase_order.unit_cost_negative",
            Self::CurrencyMismatch { .. } => "purchase_order.currency_mismatch",
            Self::AmountMismatch { .. } => "purchase_order.amount_mismatch",
            Self::AmountTooLarge => "purchase_order.amount_too_large",
            Self::ReasoningNotFinite(_) => "purchase_order.reasoning_not_finite",
            Self::QuantityDisagreesWithReasoning { .. } => {
                "purchase_order.quantity_disagrees_with_reasoning"
            }
            Self::ReasonEmpty => "purchase_order.reason_empty",
            Self::TextTooLong => "purchase_order.text_too_long",
            Self::WrongApproval { .. } => "purchase_order.wrong_approval",
            Self::ApprovalPending(_) => "purchase_order.approval_pending",
            Self::SelfApproval(_) => "purchase_order.self_approval",
            Self::ErpNameInvalid(_) => "purchase_order.erp_name_invalid",
            Self::AlreadySubmitted(_) => "purchase_order.already_submitted",
            Self::GoodsReceived => "purchase_order.goods_received",
            Self::SkuNotOrdered(_) => "purchase_order.sku_not_ordered",
            Self::ReceiptConflict(_) => "purchase_order.receipt_conflict",
        }
    }
}

/// An order line's progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LineProgress {
    /// Ordered, in units.
    pub ordered: u32,
    /// Received so far.
    pub received: u64,
}

/// A purchase order's state, as far as its rules need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurchaseOrder {
    /// Where it stands.
    pub status: PurchaseOrderStatus,
    /// Who drafted it.
    pub drafted_by: Option<Actor>,
    /// The approval it waits for, while it waits.
    pub awaiting: Option<Uuid>,
    /// The ERP document's name, once submitted.
    pub erp_name: Option<String>,
    /// Each SKU's progress.
    pub lines: BTreeMap<Sku, LineProgress>,
    /// The receipts recorded, each with its units per SKU sorted by SKU.
    pub receipts: BTreeMap<Uuid, Vec<(Sku, u32)>>,
}

/// A required, trimmed, bounded text.
fn text(value: &str) -> Result<String, PurchaseOrderRejection> {
    let value = value.trim();
    if value.is_empty() {
        return Err(PurchaseOrderRejection::ReasonEmpty);
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(PurchaseOrderRejection::TextTooLong);
    }
    Ok(value.to_owned())
}

impl Aggregate for PurchaseOrder {
    const CATEGORY: &'static str = "purchase_order";
    type Command = PurchaseOrderCommand;
    type Event = PurchaseOrderEvent;
    type Rejection = PurchaseOrderRejection;

    fn decide(
        &self,
        command: &PurchaseOrderCommand,
    ) -> Result<Vec<PurchaseOrderEvent>, PurchaseOrderRejection> {
        use PurchaseOrderCommand as C;
        match command {
            C::Draft {
                po_id,
                order,
                directive_id,
                task_id,
                drafted_by,
                at,
            } => {
                if self.status != PurchaseOrderStatus::Unknown {
                    return Err(PurchaseOrderRejection::AlreadyDrafted);
                }
                check_lines(order)?;
                Ok(vec![PurchaseOrderEvent::PurchaseOrderDrafted(
                    PurchaseOrderDrafted {
                        po_id: *po_id,
                        supplier: order.supplier.clone(),
                        warehouse: order.warehouse.clone(),
                        lines: order.lines.clone(),
                        amount: order.amount,
                        directive_id: *directive_id,
                        task_id: *task_id,
                        drafted_by: drafted_by.clone(),
                        at: *at,
                    },
                )])
            }
            C::RequestApproval {
                approval_id,
                reason,
                at,
            } => {
                self.expect(
                    PurchaseOrderStatus::Drafted,
                    PurchaseOrderStatus::AwaitingApproval,
                )?;
                Ok(vec![PurchaseOrderEvent::PurchaseOrderApprovalRequested(
                    PurchaseOrderApprovalRequested {
                        approval_id: *approval_id,
                        reason: text(reason)?,
                        at: *at,
                    },
                )])
            }
            C::Approve {
                approval_id,
                by,
                at,
            } => {
                self.check_decision(*approval_id, PurchaseOrderStatus::Approved)?;
                if self.drafted_by.as_ref() == Some(by) {
                    return Err(PurchaseOrderRejection::SelfApproval(by.clone()));
                }
                Ok(vec![PurchaseOrderEvent::PurchaseOrderApproved(
                    PurchaseOrderApproved {
                        approval_id: *approval_id,
                        by: by.clone(),
                        at: *at,
                    },
                )])
            }
            C::Reject {
                approval_id,
                by,
                reason,
                at,
            } => {
                self.check_decision(*approval_id, PurchaseOrderStatus::Rejected)?;
                Ok(vec![PurchaseOrderEvent::PurchaseOrderRejected(
                    PurchaseOrderRejected {
                        approval_id: *approval_id,
                        by: by.clone(),
                        reason: text(reason)?,
                        at: *at,
                    },
                )])
            }
            C::ApproveUnderPolicy { reason, at } => {
                self.existing()?;
                if let Some(awaited) = self.awaiting {
                    return Err(PurchaseOrderRejection::ApprovalPending(awaited));
                }
                self.expect(PurchaseOrderStatus::Drafted, PurchaseOrderStatus::Approved)?;
                Ok(vec![PurchaseOrderEvent::PurchaseOrderApprovedUnderPolicy(
                    PurchaseOrderApprovedUnderPolicy {
                        reason: text(reason)?,
                        at: *at,
                    },
                )])
            }
            C::Submit { erp_name, at } => self.submit(erp_name, *at),
            C::Acknowledge { at } => {
                self.existing()?;
                if matches!(
                    self.status,
                    PurchaseOrderStatus::Acknowledged
                        | PurchaseOrderStatus::PartiallyReceived
                        | PurchaseOrderStatus::Received
                ) {
                    return Ok(vec![]);
                }
                self.expect(
                    PurchaseOrderStatus::Submitted,
                    PurchaseOrderStatus::Acknowledged,
                )?;
                Ok(vec![PurchaseOrderEvent::PurchaseOrderAcknowledged(
                    PurchaseOrderAcknowledged { at: *at },
                )])
            }
            C::ReceiveGoods {
                receipt_id,
                lines,
                at,
            } => self.receive(*receipt_id, lines, *at),
            C::Cancel { by, reason, at } => {
                self.existing()?;
                if matches!(
                    self.status,
                    PurchaseOrderStatus::PartiallyReceived | PurchaseOrderStatus::Received
                ) {
                    return Err(PurchaseOrderRejection::GoodsReceived);
                }
                Ok(vec![PurchaseOrderEvent::PurchaseOrderCancelled(
                    PurchaseOrderCancelled {
                        by: by.clone(),
                        reason: text(reason)?,
                        at: *at,
                    },
                )])
            }
        }
    }

    fn evolve(mut self, event: &PurchaseOrderEvent) -> Self {
        self.status = event.status();
        self.awaiting = None;
        match event {
            PurchaseOrderEvent::PurchaseOrderDrafted(e) => {
                self.drafted_by = Some(e.drafted_by.clone());
                self.lines = e
                    .lines
                    .iter()
                    .map(|line| {
                        let progress = LineProgress {
                            ordered: line.qty,
                            received: 0,
                        };
                        (line.sku.clone(), progress)
                    })
                    .collect();
            }
            PurchaseOrderEvent::PurchaseOrderApprovalRequested(e) => {
                self.awaiting = Some(e.approval_id);
            }
            PurchaseOrderEvent::PurchaseOrderSubmitted(e) => {
                self.erp_name = Some(e.erp_name.clone());
            }
            PurchaseOrderEvent::GoodsReceived(e) => {
                for line in &e.lines {
                    let progress = self.lines.entry(line.sku.clone()).or_default();
                    progress.received = line.received_total;
                }
                let units = e
                    .lines
                    .iter()
                    .map(|line| (line.sku.clone(), line.received_now))
                    .collect();
                self.receipts.insert(e.receipt_id, units);
            }
            PurchaseOrderEvent::PurchaseOrderApproved(_)
            | PurchaseOrderEvent::PurchaseOrderApprovedUnderPolicy(_)
            | PurchaseOrderEvent::PurchaseOrderRejected(_)
            | PurchaseOrderEvent::PurchaseOrderAcknowledged(_)
            | PurchaseOrderEvent::PurchaseOrderCancelled(_) => {}
        }
        self
    }
}

impl PurchaseOrder {
    /// Refuses a command to an order that was never drafted or has ended.
    fn existing(&self) -> Result<(), PurchaseOrderRejection> {
        match self.status {
            PurchaseOrderStatus::Unknown => Err(PurchaseOrderRejection::NotFound),
            status if status.is_final() => Err(PurchaseOrderRejection::Ended(status)),
            _ => Ok(()),
        }
    }

    /// Refuses a step to `to` unless the order stands at `from`.
    fn expect(
        &self,
        from: PurchaseOrderStatus,
        to: PurchaseOrderStatus,
    ) -> Result<(), PurchaseOrderRejection> {
        self.existing()?;
        if self.status != from {
            return Err(PurchaseOrderRejection::InvalidTransition {
                from: self.status,
                to,
            });
        }
        Ok(())
    }

    /// Refuses a person's decision unless the order waits for this approval.
    fn check_decision(
        &self,
        approval_id: Uuid,
        to: PurchaseOrderStatus,
    ) -> Result<(), PurchaseOrderRejection> {
        self.expect(PurchaseOrderStatus::AwaitingApproval, to)?;
        match self.awaiting {
            Some(awaited) if awaited != approval_id => Err(PurchaseOrderRejection::WrongApproval {
                awaited,
                given: approval_id,
            }),
            _ => Ok(()),
        }
    }

    fn submit(
        &self,
        erp_name: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<PurchaseOrderEvent>, PurchaseOrderRejection> {
        self.existing()?;
        let name = erp_name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(PurchaseOrderRejection::ErpNameInvalid(erp_name.to_owned()));
        }
        if let Some(submitted) = &self.erp_name {
            if submitted == name {
                return Ok(vec![]);
            }
            return Err(PurchaseOrderRejection::AlreadySubmitted(submitted.clone()));
        }
        self.expect(
            PurchaseOrderStatus::Approved,
            PurchaseOrderStatus::Submitted,
        )?;
        Ok(vec![PurchaseOrderEvent::PurchaseOrderSubmitted(
            PurchaseOrderSubmitted {
                erp_name: name.to_owned(),
                at,
            },
        )])
    }

    fn receive(
        &self,
        receipt_id: Uuid,
        lines: &[(Sku, u32)],
        at: DateTime<Utc>,
    ) -> Result<Vec<PurchaseOrderEvent>, PurchaseOrderRejection> {
        self.existing()?;
        if !self.status.is_submitted() {
            return Err(PurchaseOrderRejection::InvalidTransition {
                from: self.status,
                to: PurchaseOrderStatus::PartiallyReceived,
            });
        }
        if lines.is_empty() {
            return Err(PurchaseOrderRejection::LinesEmpty);
        }
        let mut units: Vec<(Sku, u32)> = lines.to_vec();
        units.sort();
        if let Some(recorded) = self.receipts.get(&receipt_id) {
            if *recorded == units {
                return Ok(vec![]);
            }
            return Err(PurchaseOrderRejection::ReceiptConflict(receipt_id));
        }
        let mut received = Vec::with_capacity(units.len());
        for (i, (sku, qty)) in units.iter().enumerate() {
            if *qty == 0 {
                return Err(PurchaseOrderRejection::QuantityZero(sku.clone()));
            }
            if i > 0 && units[i - 1].0 == *sku {
                return Err(PurchaseOrderRejection::SkuRepeated(sku.clone()));
            }
            let Some(progress) = self.lines.get(sku) else {
                return Err(PurchaseOrderRejection::SkuNotOrdered(sku.clone()));
            };
            let ordered = u64::from(progress.ordered);
            let received_total = progress.received.saturating_add(u64::from(*qty));
            received.push(ReceivedLine {
                sku: sku.clone(),
                ordered: progress.ordered,
                received_before: progress.received,
                received_now: *qty,
                received_total,
                outstanding: ordered.saturating_sub(received_total),
                over_delivered: received_total.saturating_sub(ordered),
            });
        }
        let fully_received = self.lines.iter().all(|(sku, progress)| {
            let total = received
                .iter()
                .find(|line| line.sku == *sku)
                .map_or(progress.received, |line| line.received_total);
            total >= u64::from(progress.ordered)
        });
        Ok(vec![PurchaseOrderEvent::GoodsReceived(GoodsReceived {
            receipt_id,
            lines: received,
            fully_received,
            at,
        })])
    }
}

/// Refuses a draft whose lines are empty, repeated, inconsistent with their
/// reasoning, or do not add up to its amount.
fn check_lines(order: &DraftPurchaseOrder) -> Result<(), PurchaseOrderRejection> {
    let DraftPurchaseOrder { lines, amount, .. } = order;
    if lines.is_empty() {
        return Err(PurchaseOrderRejection::LinesEmpty);
    }
    let mut total = 0_i64;
    for (i, line) in lines.iter().enumerate() {
        let sku = || line.sku.clone();
        if line.qty == 0 {
            return Err(PurchaseOrderRejection::QuantityZero(sku()));
        }
        if lines[..i].iter().any(|earlier| earlier.sku == line.sku) {
            return Err(PurchaseOrderRejection::SkuRepeated(sku()));
        }
        if line.unit_cost.minor < 0 {
            return Err(PurchaseOrderRejection::UnitCostNegative(sku()));
        }
        if line.unit_cost.currency != amount.currency {
            return Err(PurchaseOrderRejection::CurrencyMismatch {
                sku: sku(),
                line: line.unit_cost.currency,
                order: amount.currency,
            });
        }
        if !line.reasoning.is_finite() {
            return Err(PurchaseOrderRejection::ReasoningNotFinite(sku()));
        }
        if line.reasoning.order_qty != line.qty {
            return Err(PurchaseOrderRejection::QuantityDisagreesWithReasoning {
                sku: sku(),
                qty: line.qty,
                reasoned: line.reasoning.order_qty,
            });
        }
        total = line
            .unit_cost
            .minor
            .checked_mul(i64::from(line.qty))
            .and_then(|minor| total.checked_add(minor))
            .ok_or(PurchaseOrderRejection::AmountTooLarge)?;
    }
    if total != amount.minor {
        return Err(PurchaseOrderRejection::AmountMismatch {
            stated: *amount,
            computed: Money::new(total, amount.currency),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
