use std::num::NonZeroU32;

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::aggregate::spec::given;
use crate::logistics::catalog::{Days, Fraction, InventoryLevel, Item, Supplier};
use crate::logistics::reorder::{decide_requested_order, ReorderPolicy};

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, hour, 0, 0)
        .single()
        .expect("valid")
}

fn agent() -> Actor {
    Actor::Agent("logistics".to_owned())
}

fn ceo() -> Actor {
    Actor::User("ceo".to_owned())
}

fn eur(minor: i64) -> Money {
    Money::new(minor, "EUR".parse().expect("valid"))
}

fn sku(code: &str) -> Sku {
    code.parse().expect("valid")
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// A line of `qty` units at `cost` minor units, with the reasoning of a
/// requested order of that many (packs of one, no minimum).
fn line(code: &str, qty: u32, cost: i64) -> PoLine {
    let item = Item {
        sku: sku(code),
        name: code.to_owned(),
        unit: "Nos".to_owned(),
        pack_size: NonZeroU32::MIN,
        min_order_qty: 0,
        max_order_qty: None,
        unit_cost: eur(cost),
        default_supplier: None,
    };
    let supplier = Supplier {
        id: "Acme Components Ltd".parse().expect("valid"),
        name: "Acme Components Ltd".to_owned(),
        lead_time_days: Days::try_from(7.0).expect("valid"),
        lead_time_sd_days: Days::try_from(0.0).expect("valid"),
        on_time_rate: Fraction::try_from(0.9).expect("valid"),
    };
    let level = InventoryLevel {
        sku: item.sku.clone(),
        warehouse: "Main Store".parse().expect("valid"),
        on_hand: 20,
        reserved: 0,
        on_order: 0,
    };
    let policy = ReorderPolicy::default();
    let decision = decide_requested_order(&item, &supplier, &level, &[4, 6, 5], &policy, qty);
    PoLine {
        sku: item.sku,
        qty,
        unit_cost: item.unit_cost,
        reasoning: decision.reasoning,
    }
}

/// 100 × 4.00 + 50 × 10.00 = 900.00 EUR.
fn order() -> DraftPurchaseOrder {
    DraftPurchaseOrder {
        supplier: "Acme Components Ltd".parse().expect("valid"),
        warehouse: "Main Store".parse().expect("valid"),
        lines: vec![line("SKU-A", 100, 400), line("SKU-B", 50, 1000)],
        amount: eur(90_000),
    }
}

fn draft_of(order: DraftPurchaseOrder) -> PurchaseOrderCommand {
    PurchaseOrderCommand::Draft {
        po_id: id(1),
        order,
        directive_id: Some(id(2)),
        task_id: Some(id(3)),
        drafted_by: agent(),
        at: at(9),
    }
}

fn draft() -> PurchaseOrderCommand {
    draft_of(order())
}

fn drafted() -> PurchaseOrderEvent {
    let order = order();
    PurchaseOrderEvent::PurchaseOrderDrafted(PurchaseOrderDrafted {
        po_id: id(1),
        supplier: order.supplier,
        warehouse: order.warehouse,
        lines: order.lines,
        amount: order.amount,
        directive_id: Some(id(2)),
        task_id: Some(id(3)),
        drafted_by: agent(),
        at: at(9),
    })
}

/// The events of `commands` run from an empty stream, each accepted.
fn history(commands: &[PurchaseOrderCommand]) -> Vec<PurchaseOrderEvent> {
    let mut po = PurchaseOrder::default();
    let mut events = Vec::new();
    for command in commands {
        for event in po.decide(command).expect("accepted") {
            po = po.evolve(&event);
            events.push(event);
        }
    }
    events
}

fn request_approval(approval: u128) -> PurchaseOrderCommand {
    PurchaseOrderCommand::RequestApproval {
        approval_id: id(approval),
        reason: "purchase orders above 1,000".to_owned(),
        at: at(9),
    }
}

fn approve(approval: u128, by: Actor) -> PurchaseOrderCommand {
    PurchaseOrderCommand::Approve {
        approval_id: id(approval),
        by,
        at: at(10),
    }
}

fn under_policy() -> PurchaseOrderCommand {
    PurchaseOrderCommand::ApproveUnderPolicy {
        reason: "900.00 EUR: no approval rule matched".to_owned(),
        at: at(9),
    }
}

fn submit(name: &str) -> PurchaseOrderCommand {
    PurchaseOrderCommand::Submit {
        erp_name: name.to_owned(),
        at: at(11),
    }
}

fn receive(receipt: u128, lines: &[(&str, u32)]) -> PurchaseOrderCommand {
    PurchaseOrderCommand::ReceiveGoods {
        receipt_id: id(receipt),
        lines: lines.iter().map(|(code, qty)| (sku(code), *qty)).collect(),
        at: at(15),
    }
}

fn cancel(reason: &str) -> PurchaseOrderCommand {
    PurchaseOrderCommand::Cancel {
        by: ceo(),
        reason: reason.to_owned(),
        at: at(12),
    }
}

fn submitted() -> Vec<PurchaseOrderEvent> {
    history(&[draft(), under_policy(), submit("PUR-ORD-2026-00017")])
}

#[test]
fn a_draft_is_recorded_once() {
    given::<PurchaseOrder>([]).when(draft()).then([drafted()]);
    given::<PurchaseOrder>([drafted()])
        .when(draft())
        .then_rejected("purchase_order.already_drafted");
}

#[test]
fn a_draft_must_add_up_line_by_line() {
    let with = |change: &dyn Fn(&mut DraftPurchaseOrder)| {
        let mut order = order();
        change(&mut order);
        given::<PurchaseOrder>([]).when(draft_of(order))
    };
    with(&|o| o.lines.clear()).then_rejected("purchase_order.lines_empty");
    with(&|o| o.amount = eur(89_999)).then_rejected("purchase_order.amount_mismatch");
    with(&|o| o.lines[1] = line("SKU-A", 50, 1000)).then_rejected("purchase_order.sku_repeated");
    with(&|o| {
        o.lines[0].qty = 0;
        o.lines[0].reasoning.order_qty = 0;
    })
    .then_rejected("purchase_order.quantity_zero");
    with(&|o| o.lines[0].qty = 99)
        .then_rejected("purchase_order.quantity_disagrees_with_reasoning");
    with(&|o| o.lines[0].reasoning.eoq = Some(f64::NAN))
        .then_rejected("purchase_order.reasoning_not_finite");
    with(&|o| o.lines[0].unit_cost = Money::new(400, "USD".parse().expect("valid")))
        .then_rejected("purchase_order.currency_mismatch");
    with(&|o| o.lines[0].unit_cost = eur(-1)).then_rejected("purchase_order.unit_cost_negative");
    with(&|o| o.lines[0].unit_cost = eur(i64::MAX))
        .then_rejected("purchase_order.amount_too_large");
}

#[test]
fn an_order_waiting_for_approval_is_approved_only_by_someone_else_through_that_approval() {
    let waiting = history(&[draft(), request_approval(7)]);
    assert_eq!(
        waiting[1],
        PurchaseOrderEvent::PurchaseOrderApprovalRequested(PurchaseOrderApprovalRequested {
            approval_id: id(7),
            reason: "purchase orders above 1,000".to_owned(),
            at: at(9),
        })
    );
    given::<PurchaseOrder>(waiting.clone())
        .when(approve(8, ceo()))
        .then_rejected("purchase_order.wrong_approval");
    given::<PurchaseOrder>(waiting.clone())
        .when(approve(7, agent()))
        .then_rejected("purchase_order.self_approval");
    given::<PurchaseOrder>(waiting)
        .when(approve(7, ceo()))
        .then([PurchaseOrderEvent::PurchaseOrderApproved(
            PurchaseOrderApproved {
                approval_id: id(7),
                by: ceo(),
                at: at(10),
            },
        )]);
    given::<PurchaseOrder>([drafted()])
        .when(approve(7, ceo()))
        .then_rejected("purchase_order.invalid_transition");
    given::<PurchaseOrder>([])
        .when(approve(7, ceo()))
        .then_rejected("purchase_order.not_found");
}

#[test]
fn a_rejection_needs_a_reason_and_ends_the_order() {
    let waiting = history(&[draft(), request_approval(7)]);
    let reject = |reason: &str| PurchaseOrderCommand::Reject {
        approval_id: id(7),
        by: ceo(),
        reason: reason.to_owned(),
        at: at(10),
    };
    given::<PurchaseOrder>(waiting.clone())
        .when(reject("  "))
        .then_rejected("purchase_order.reason_empty");
    let rejected = history(&[
        draft(),
        request_approval(7),
        reject(" too early in the month "),
    ]);
    assert_eq!(
        rejected[2],
        PurchaseOrderEvent::PurchaseOrderRejected(PurchaseOrderRejected {
            approval_id: id(7),
            by: ceo(),
            reason: "too early in the month".to_owned(),
            at: at(10),
        })
    );
    given::<PurchaseOrder>(rejected)
        .when(submit("PUR-ORD-1"))
        .then_rejected("purchase_order.ended");
}

#[test]
fn the_policy_approves_only_an_order_no_one_was_asked_about() {
    given::<PurchaseOrder>([drafted()])
        .when(under_policy())
        .then([PurchaseOrderEvent::PurchaseOrderApprovedUnderPolicy(
            PurchaseOrderApprovedUnderPolicy {
                reason: "900.00 EUR: no approval rule matched".to_owned(),
                at: at(9),
            },
        )]);
    given::<PurchaseOrder>(history(&[draft(), request_approval(7)]))
        .when(under_policy())
        .then_rejected("purchase_order.approval_pending");
    given::<PurchaseOrder>(history(&[draft(), under_policy()]))
        .when(under_policy())
        .then_rejected("purchase_order.invalid_transition");
    given::<PurchaseOrder>([drafted()])
        .when(PurchaseOrderCommand::ApproveUnderPolicy {
            reason: String::new(),
            at: at(9),
        })
        .then_rejected("purchase_order.reason_empty");
}

#[test]
fn an_order_is_submitted_once_under_one_erp_name() {
    given::<PurchaseOrder>([drafted()])
        .when(submit("PUR-ORD-2026-00017"))
        .then_rejected("purchase_order.invalid_transition");
    given::<PurchaseOrder>(history(&[draft(), under_policy()]))
        .when(submit(" PUR-ORD-2026-00017 "))
        .then([PurchaseOrderEvent::PurchaseOrderSubmitted(
            PurchaseOrderSubmitted {
                erp_name: "PUR-ORD-2026-00017".to_owned(),
                at: at(11),
            },
        )]);
    given::<PurchaseOrder>(history(&[draft(), under_policy()]))
        .when(submit(" "))
        .then_rejected("purchase_order.erp_name_invalid");
    given::<PurchaseOrder>(submitted())
        .when(submit("PUR-ORD-2026-00017"))
        .then([]);
    given::<PurchaseOrder>(submitted())
        .when(submit("PUR-ORD-2026-00018"))
        .then_rejected("purchase_order.already_submitted");
}

#[test]
fn the_suppliers_acknowledgement_is_recorded_once_after_submission() {
    let ack = PurchaseOrderCommand::Acknowledge { at: at(12) };
    given::<PurchaseOrder>(history(&[draft(), under_policy()]))
        .when(ack.clone())
        .then_rejected("purchase_order.invalid_transition");
    given::<PurchaseOrder>(submitted()).when(ack.clone()).then([
        PurchaseOrderEvent::PurchaseOrderAcknowledged(PurchaseOrderAcknowledged { at: at(12) }),
    ]);
    let mut acknowledged = submitted();
    acknowledged.push(PurchaseOrderEvent::PurchaseOrderAcknowledged(
        PurchaseOrderAcknowledged { at: at(12) },
    ));
    given::<PurchaseOrder>(acknowledged).when(ack).then([]);
}

fn received(receipt: u128, lines: Vec<ReceivedLine>, fully_received: bool) -> PurchaseOrderEvent {
    PurchaseOrderEvent::GoodsReceived(GoodsReceived {
        receipt_id: id(receipt),
        lines,
        fully_received,
        at: at(15),
    })
}

fn progress(code: &str, ordered: u32, before: u64, now: u32) -> ReceivedLine {
    let total = before + u64::from(now);
    ReceivedLine {
        sku: sku(code),
        ordered,
        received_before: before,
        received_now: now,
        received_total: total,
        outstanding: u64::from(ordered).saturating_sub(total),
        over_delivered: total.saturating_sub(u64::from(ordered)),
    }
}

#[test]
fn receipts_record_ordered_received_outstanding_and_over_delivered_per_line() {
    let first = received(20, vec![progress("SKU-A", 100, 0, 60)], false);
    given::<PurchaseOrder>(submitted())
        .when(receive(20, &[("SKU-A", 60)]))
        .then([first.clone()]);
    let mut partial = submitted();
    partial.push(first);
    assert_eq!(
        PurchaseOrder::replay(&partial).status,
        PurchaseOrderStatus::PartiallyReceived
    );
    // The rest of SKU-A with 5 too many, and all of SKU-B: received, the
    // excess in plain sight.
    let second = received(
        21,
        vec![progress("SKU-A", 100, 60, 45), progress("SKU-B", 50, 0, 50)],
        true,
    );
    let PurchaseOrderEvent::GoodsReceived(e) = &second else {
        unreachable!()
    };
    assert_eq!((e.lines[0].outstanding, e.lines[0].over_delivered), (0, 5));
    given::<PurchaseOrder>(partial.clone())
        .when(receive(21, &[("SKU-B", 50), ("SKU-A", 45)]))
        .then([second.clone()]);
    let mut complete = partial;
    complete.push(second);
    let po = PurchaseOrder::replay(&complete);
    assert_eq!(po.status, PurchaseOrderStatus::Received);
    assert_eq!(po.lines[&sku("SKU-A")].received, 105);
    // Goods arriving after that are recorded too, never hidden.
    given::<PurchaseOrder>(complete)
        .when(receive(22, &[("SKU-B", 2)]))
        .then([received(22, vec![progress("SKU-B", 50, 50, 2)], true)]);
}

#[test]
fn a_receipt_is_recorded_once_and_only_for_what_was_ordered() {
    let mut once = submitted();
    once.push(received(20, vec![progress("SKU-A", 100, 0, 60)], false));
    given::<PurchaseOrder>(once.clone())
        .when(receive(20, &[("SKU-A", 60)]))
        .then([]);
    given::<PurchaseOrder>(once)
        .when(receive(20, &[("SKU-A", 61)]))
        .then_rejected("purchase_order.receipt_conflict");
    given::<PurchaseOrder>(submitted())
        .when(receive(20, &[("SKU-Z", 1)]))
        .then_rejected("purchase_order.sku_not_ordered");
    given::<PurchaseOrder>(submitted())
        .when(receive(20, &[("SKU-A", 0)]))
        .then_rejected("purchase_order.quantity_zero");
    given::<PurchaseOrder>(submitted())
        .when(receive(20, &[("SKU-A", 1), ("SKU-A", 2)]))
        .then_rejected("purchase_order.sku_repeated");
    given::<PurchaseOrder>(submitted())
        .when(receive(20, &[]))
        .then_rejected("purchase_order.lines_empty");
    given::<PurchaseOrder>(history(&[draft(), under_policy()]))
        .when(receive(20, &[("SKU-A", 1)]))
        .then_rejected("purchase_order.invalid_transition");
}

#[test]
fn an_order_is_cancelled_with_a_reason_and_never_after_goods_arrived() {
    given::<PurchaseOrder>(submitted())
        .when(cancel("supplier cannot deliver before January"))
        .then([PurchaseOrderEvent::PurchaseOrderCancelled(
            PurchaseOrderCancelled {
                by: ceo(),
                reason: "supplier cannot deliver before January".to_owned(),
                at: at(12),
            },
        )]);
    given::<PurchaseOrder>([drafted()])
        .when(cancel(""))
        .then_rejected("purchase_order.reason_empty");
    let mut partial = submitted();
    partial.push(received(20, vec![progress("SKU-A", 100, 0, 1)], false));
    given::<PurchaseOrder>(partial)
        .when(cancel("too late"))
        .then_rejected("purchase_order.goods_received");
    given::<PurchaseOrder>(history(&[draft(), cancel("not needed")]))
        .when(cancel("not needed"))
        .then_rejected("purchase_order.ended");
}

fn any_command() -> impl Strategy<Value = PurchaseOrderCommand> {
    let codes = prop::sample::select(vec!["SKU-A", "SKU-B", "SKU-Z"]);
    prop_oneof![
        Just(draft()),
        (6_u128..8).prop_map(request_approval),
        (6_u128..8).prop_map(|a| approve(a, ceo())),
        Just(approve(7, agent())),
        (6_u128..8).prop_map(|a| PurchaseOrderCommand::Reject {
            approval_id: id(a),
            by: ceo(),
            reason: "no".to_owned(),
            at: at(10),
        }),
        Just(under_policy()),
        prop::sample::select(vec!["PUR-1", "PUR-2"]).prop_map(submit),
        Just(PurchaseOrderCommand::Acknowledge { at: at(12) }),
        (20_u128..23, codes, 0_u32..80).prop_map(|(r, code, qty)| receive(r, &[(code, qty)])),
        Just(cancel("withdrawn")),
    ]
}

proptest! {
    /// Whatever is asked in whatever order, every recorded step is one the
    /// lifecycle allows, a refused command changes nothing, and an ended
    /// order never changes again.
    #[test]
    fn every_accepted_step_follows_the_lifecycle(commands in prop::collection::vec(any_command(), 0..40)) {
        let mut po = PurchaseOrder::default();
        for command in &commands {
            let before = po.status;
            match po.decide(command) {
                Ok(events) => {
                    prop_assert!(events.is_empty() || !before.is_final());
                    for event in &events {
                        prop_assert!(po.status.may_become(event.status()),
                            "{:?} → {:?}", po.status, event.status());
                        po = po.clone().evolve(event);
                    }
                }
                Err(_) => prop_assert_eq!(po.status, before),
            }
        }
        let received: u64 = po.receipts.values().flatten().map(|(_, q)| u64::from(*q)).sum();
        let counted: u64 = po.lines.values().map(|l| l.received).sum();
        prop_assert_eq!(received, counted);
    }
}
