use std::num::NonZeroU32;

use proptest::prelude::*;

use super::*;
use crate::logistics::catalog::Days;

fn eur(minor: i64) -> Money {
    Money::new(minor, "EUR".parse().expect("valid"))
}

fn usd(minor: i64) -> Money {
    Money::new(minor, "USD".parse().expect("valid"))
}

fn pack(size: u32) -> NonZeroU32 {
    NonZeroU32::new(size).expect("a pack holds something")
}

/// 4.00 EUR a unit, packs of 24, at least 100 a line, no maximum of its own.
fn item() -> Item {
    Item {
        sku: "SKU-1042".parse().expect("valid"),
        name: "M8 hex bolt".to_owned(),
        unit: "Nos".to_owned(),
        pack_size: pack(24),
        min_order_qty: 100,
        max_order_qty: None,
        unit_cost: eur(400),
        default_supplier: Some(acme().id),
    }
}

fn supplier(name: &str, lead_time: f64, lead_time_sd: f64) -> Supplier {
    Supplier {
        id: name.parse().expect("valid"),
        name: name.to_owned(),
        lead_time_days: Days::try_from(lead_time).expect("valid"),
        lead_time_sd_days: Days::try_from(lead_time_sd).expect("valid"),
        on_time_rate: Fraction::try_from(0.92).expect("valid"),
    }
}

/// Nine days, never late or early.
fn acme() -> Supplier {
    supplier("Acme Components Ltd", 9.0, 0.0)
}

fn level(sku: &Sku, on_hand: i64, reserved: i64, on_order: i64) -> InventoryLevel {
    InventoryLevel {
        sku: sku.clone(),
        warehouse: "Main Store".parse().expect("valid"),
        on_hand,
        reserved,
        on_order,
    }
}

/// Mean 10 a day; squared deviations 4+4+0+1+1+0+9+9+0+0 = 28, so the sample
/// variance is 28/9.
const HISTORY: [u64; 10] = [8, 12, 10, 9, 11, 10, 13, 7, 10, 10];

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-3
}

#[test]
fn demand_statistics_use_the_sample_deviation_and_are_never_nan() {
    let empty = DemandStats::from_daily(&[]);
    assert_eq!((empty.days, empty.mean, empty.sd), (0, 0.0, 0.0));
    let one = DemandStats::from_daily(&[7]);
    assert_eq!((one.days, one.mean, one.sd), (1, 7.0, 0.0));
    let steady = DemandStats::from_daily(&[5, 5, 5]);
    assert_eq!((steady.mean, steady.sd), (5.0, 0.0));
    let stats = DemandStats::from_daily(&HISTORY);
    assert_eq!(stats.days, 10);
    assert!(close(stats.mean, 10.0));
    assert!(close(stats.sd, (28.0_f64 / 9.0).sqrt()), "{stats:?}");
}

#[test]
fn a_position_at_or_below_the_reorder_point_orders_the_eoq_in_whole_packs() {
    let item = item();
    // Projected 60 + 30 − 5 = 85.
    let decision = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 60, 5, 30),
        &HISTORY,
        &ReorderPolicy::default(),
    );
    let r = &decision.reasoning;
    // Safety stock 1.65 × √(28/9) × √9 = 8.7309; reorder point 10 × 9 + 8.7309.
    assert_eq!(r.safety_stock_formula, SafetyStockFormula::FixedLeadTime);
    assert!(close(r.safety_stock, 8.7309), "{r:?}");
    assert!(close(r.reorder_point, 98.7309), "{r:?}");
    assert_eq!(r.projected, 85);
    // D = 3650, S = 5000 cents, H = 400 × 0.25 = 100 cents: √(2 × 3650 × 5000 / 100).
    assert!(close(r.annual_demand, 3650.0));
    assert!(close(r.holding_cost_per_unit_year, 100.0));
    assert!(close(r.eoq.expect("an EOQ"), 365_000_f64.sqrt()), "{r:?}");
    // Shortfall: the least q with 85 + q > 98.73 is 14; EOQ 604.15 wins → 605,
    // raised to 26 packs of 24.
    assert_eq!(
        (r.shortfall_qty, r.raw_qty, r.rounded_qty, r.order_qty),
        (14, 605, 624, 624)
    );
    assert!(!r.cap_applied);
    assert_eq!((r.max_order_qty, r.max_source), (10_000, MaxSource::Policy));
    assert_eq!(
        decision.outcome,
        ReorderOutcome::Order {
            quantity: 624,
            amount: eur(249_600)
        }
    );
}

#[test]
fn a_lead_time_that_varies_adds_its_own_safety_stock() {
    let item = item();
    let decision = decide_reorder(
        &item,
        &supplier("Beta Supplies", 9.0, 2.0),
        &level(&item.sku, 60, 5, 30),
        &HISTORY,
        &ReorderPolicy::default(),
    );
    let r = &decision.reasoning;
    // 1.65 × √(9 × 28/9 + 10² × 2²) = 1.65 × √428.
    assert_eq!(r.safety_stock_formula, SafetyStockFormula::VariableLeadTime);
    assert!(close(r.safety_stock, 1.65 * 428_f64.sqrt()), "{r:?}");
    assert!(close(r.reorder_point, 90.0 + 1.65 * 428_f64.sqrt()));
    // 124.14 − 85 → 40 short.
    assert_eq!(r.shortfall_qty, 40);
}

#[test]
fn the_inventory_position_decides_not_what_is_on_hand() {
    let item = item();
    let policy = ReorderPolicy::default();
    // 60 on hand is below the reorder point, but 100 are on their way.
    let covered = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 60, 0, 100),
        &HISTORY,
        &policy,
    );
    assert_eq!(covered.outcome, ReorderOutcome::Hold);
    assert_eq!(covered.reasoning.projected, 160);
    assert_eq!(covered.reasoning.raw_qty, 0);
    // 150 on hand is above it, but 100 of them are promised to customers.
    let promised = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 150, 100, 0),
        &HISTORY,
        &policy,
    );
    assert!(promised.quantity() > 0, "{}", promised.explain());
}

#[test]
fn a_shortfall_larger_than_the_eoq_is_ordered_in_full() {
    let item = item();
    // Projected 60 + 30 − 2000 = −1910; the least q above 98.73 is 2009,
    // raised to 84 packs of 24.
    let decision = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 60, 2000, 30),
        &HISTORY,
        &ReorderPolicy::default(),
    );
    let r = &decision.reasoning;
    assert_eq!(
        (r.shortfall_qty, r.raw_qty, r.order_qty),
        (2009, 2009, 2016)
    );
    // Without an order cost there is no EOQ: the shortfall alone, raised to
    // the minimum of 100 and to packs: 120.
    let policy = ReorderPolicy {
        order_cost: eur(0),
        ..ReorderPolicy::default()
    };
    let decision = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 60, 5, 30),
        &HISTORY,
        &policy,
    );
    let r = &decision.reasoning;
    assert_eq!(r.eoq, None);
    assert_eq!((r.shortfall_qty, r.raw_qty, r.rounded_qty), (14, 14, 120));
    assert_eq!(decision.quantity(), 120);
}

#[test]
fn the_maximum_cuts_an_order_down_to_whole_packs() {
    let mut item = item();
    item.max_order_qty = Some(500);
    let decision = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 60, 5, 30),
        &HISTORY,
        &ReorderPolicy::default(),
    );
    let r = &decision.reasoning;
    assert_eq!((r.rounded_qty, r.order_qty), (624, 480));
    assert!(r.cap_applied);
    assert_eq!((r.max_order_qty, r.max_source), (500, MaxSource::Item));
    // Without the item's own maximum, the policy's applies.
    item.max_order_qty = None;
    let policy = ReorderPolicy {
        max_order_qty: 300,
        ..ReorderPolicy::default()
    };
    let decision = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 60, 5, 30),
        &HISTORY,
        &policy,
    );
    assert_eq!(decision.quantity(), 288);
    assert_eq!(decision.reasoning.max_source, MaxSource::Policy);
}

#[test]
fn a_maximum_below_the_minimum_is_a_reason_not_to_order_not_a_panic() {
    let mut item = item();
    item.min_order_qty = 500;
    item.max_order_qty = Some(490);
    let policy = ReorderPolicy::default();
    let decision = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 60, 5, 30),
        &HISTORY,
        &policy,
    );
    let ReorderOutcome::CannotOrder { reason } = &decision.outcome else {
        panic!("expected no order: {decision:?}");
    };
    assert_eq!(
        *reason,
        CannotOrder::MaximumBelowMinimum {
            max_order_qty: 490,
            max_in_packs: 480,
            min_order_qty: 500,
            pack_size: 24
        }
    );
    assert_eq!(reason.code(), "reorder.maximum_below_minimum");
    assert_eq!(decision.reasoning.order_qty, 0);
    // When nothing is needed, the limits do not matter.
    let held = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 500, 0, 0),
        &HISTORY,
        &policy,
    );
    assert_eq!(held.outcome, ReorderOutcome::Hold);
    // A maximum smaller than one pack cannot be ordered either.
    item.min_order_qty = 0;
    item.max_order_qty = Some(20);
    let decision = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 60, 5, 30),
        &HISTORY,
        &policy,
    );
    assert!(matches!(
        decision.outcome,
        ReorderOutcome::CannotOrder {
            reason: CannotOrder::MaximumBelowMinimum {
                max_in_packs: 0,
                ..
            }
        }
    ));
}

#[test]
fn without_demand_only_a_negative_position_is_ordered_back_to_zero() {
    let mut item = item();
    item.pack_size = pack(1);
    item.min_order_qty = 0;
    let policy = ReorderPolicy::default();
    let idle = [0, 0, 0, 0];
    let zero = decide_reorder(&item, &acme(), &level(&item.sku, 0, 0, 0), &idle, &policy);
    assert_eq!(zero.outcome, ReorderOutcome::Hold);
    assert_eq!(zero.reasoning.reorder_point, 0.0);
    let empty = decide_reorder(&item, &acme(), &level(&item.sku, 0, 0, 0), &[], &policy);
    assert_eq!(empty.outcome, ReorderOutcome::Hold);
    // Three promised and none there: order 4 to stand above 0.
    let backorder = decide_reorder(&item, &acme(), &level(&item.sku, 0, 3, 0), &idle, &policy);
    assert_eq!(backorder.quantity(), 4);
    assert_eq!(backorder.reasoning.eoq, None);
}

#[test]
fn costs_that_cannot_be_compared_or_are_negative_stop_an_order() {
    let item = item();
    let low = level(&item.sku, 60, 5, 30);
    let policy = ReorderPolicy::default_for("USD".parse().expect("valid"));
    let decision = decide_reorder(&item, &acme(), &low, &HISTORY, &policy);
    assert_eq!(
        decision.outcome,
        ReorderOutcome::CannotOrder {
            reason: CannotOrder::CurrencyMismatch {
                unit_cost: "EUR".parse().expect("valid"),
                order_cost: "USD".parse().expect("valid"),
            }
        }
    );
    assert_eq!(decision.reasoning.eoq, None);
    // A quantity someone named needs no EOQ, so no cost comparison.
    let requested = decide_requested_order(&item, &acme(), &low, &HISTORY, &policy, 100);
    assert_eq!(requested.quantity(), 120);
    let negative = Item {
        unit_cost: eur(-1),
        ..item.clone()
    };
    let decision = decide_reorder(
        &negative,
        &acme(),
        &low,
        &HISTORY,
        &ReorderPolicy::default(),
    );
    assert!(matches!(
        decision.outcome,
        ReorderOutcome::CannotOrder {
            reason: CannotOrder::UnitCostNegative { .. }
        }
    ));
    let policy = ReorderPolicy {
        order_cost: eur(-1),
        ..ReorderPolicy::default()
    };
    let decision = decide_reorder(&item, &acme(), &low, &HISTORY, &policy);
    assert!(matches!(
        decision.outcome,
        ReorderOutcome::CannotOrder {
            reason: CannotOrder::OrderCostNegative { .. }
        }
    ));
}

#[test]
fn a_requested_quantity_is_rounded_like_any_other_whatever_the_position() {
    let item = item();
    let plenty = level(&item.sku, 5000, 0, 0);
    let policy = ReorderPolicy::default();
    let decision = decide_requested_order(&item, &acme(), &plenty, &HISTORY, &policy, 250);
    let r = &decision.reasoning;
    assert_eq!(r.requested_qty, Some(250));
    assert_eq!((r.shortfall_qty, r.raw_qty, r.rounded_qty), (0, 250, 264));
    assert_eq!(decision.quantity(), 264);
    let nothing = decide_requested_order(&item, &acme(), &plenty, &HISTORY, &policy, 0);
    assert_eq!(nothing.outcome, ReorderOutcome::Hold);
}

#[test]
fn a_stock_level_of_another_sku_is_refused() {
    let item = item();
    let other: Sku = "SKU-9".parse().expect("valid");
    let decision = decide_reorder(
        &item,
        &acme(),
        &level(&other, 0, 0, 0),
        &HISTORY,
        &ReorderPolicy::default(),
    );
    assert!(matches!(
        decision.outcome,
        ReorderOutcome::CannotOrder {
            reason: CannotOrder::LevelOfAnotherItem { .. }
        }
    ));
}

#[test]
fn a_decision_explains_itself_in_one_line() {
    let mut item = item();
    item.max_order_qty = Some(500);
    let decision = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 60, 5, 30),
        &HISTORY,
        &ReorderPolicy::default(),
    );
    assert_eq!(
        decision.explain(),
        "SKU-1042 at Main Store: order 480 from Acme Components Ltd for 1920.00 EUR; \
         projected 85 (on hand 60 + on order 30 − reserved 5) ≤ reorder point 98.7 \
         (demand 10.00/day over 10 days × lead time 9.0 days + safety stock 8.7 at z 1.65); \
         EOQ 604.2, shortfall 14 → 605 raised to 624 (MOQ 100, packs of 24), \
         cut to 480 by the item maximum of 500"
    );
    let held = decide_reorder(
        &item,
        &acme(),
        &level(&item.sku, 500, 0, 0),
        &HISTORY,
        &ReorderPolicy::default(),
    );
    assert_eq!(
        held.explain(),
        "SKU-1042 at Main Store: no order; projected 500 (on hand 500 + on order 0 − reserved 0) \
         > reorder point 98.7 (demand 10.00/day over 10 days × lead time 9.0 days + safety \
         stock 8.7 at z 1.65)"
    );
    assert!(!held.explain().contains('\n'));
}

fn decision_for(sku: &str, supplier: &Supplier, unit_cost: Money) -> ReorderDecision {
    let item = Item {
        sku: sku.parse().expect("valid"),
        unit_cost,
        ..item()
    };
    let policy = ReorderPolicy::default_for(unit_cost.currency);
    decide_reorder(
        &item,
        supplier,
        &level(&item.sku, 60, 5, 30),
        &HISTORY,
        &policy,
    )
}

#[test]
fn orders_are_grouped_into_one_draft_per_supplier_and_warehouse() {
    let beta = supplier("Beta Supplies", 9.0, 0.0);
    let mut held = decision_for("SKU-0001", &acme(), eur(400));
    held.outcome = ReorderOutcome::Hold;
    let decisions = [
        decision_for("SKU-3", &acme(), eur(400)),
        decision_for("SKU-1", &acme(), eur(100)),
        decision_for("SKU-2", &beta, eur(250)),
        held,
        decision_for("SKU-4", &acme(), usd(300)),
    ];
    let drafts = group_by_supplier(&decisions).expect("grouped");
    let summary: Vec<(String, Vec<String>, Money)> = drafts
        .iter()
        .map(|d| {
            let skus = d
                .lines
                .iter()
                .map(|l| format!("{}×{}", l.sku, l.qty))
                .collect();
            (d.supplier.to_string(), skus, d.amount)
        })
        .collect();
    let q = |i: usize| decisions[i].quantity();
    let line = |i: usize| format!("{}×{}", decisions[i].sku, q(i));
    let cost = |i: usize| decisions[i].unit_cost.minor * i64::from(q(i));
    assert_eq!(
        summary,
        [
            (
                "Acme Components Ltd".to_owned(),
                vec![line(1), line(0)],
                eur(cost(1) + cost(0))
            ),
            (
                "Acme Components Ltd".to_owned(),
                vec![line(4)],
                usd(cost(4))
            ),
            ("Beta Supplies".to_owned(), vec![line(2)], eur(cost(2))),
        ]
    );
    assert!(decisions
        .iter()
        .all(|d| d.quantity() > 0 || d.outcome == ReorderOutcome::Hold));
    assert_eq!(drafts[0].lines[0].reasoning, decisions[1].reasoning);
}

#[test]
fn one_sku_twice_for_one_supplier_and_warehouse_is_refused() {
    let decisions = [
        decision_for("SKU-1", &acme(), eur(400)),
        decision_for("SKU-1", &acme(), eur(400)),
    ];
    let error = group_by_supplier(&decisions).expect_err("a repeated SKU");
    assert_eq!(error.code(), "reorder.sku_repeated");
}

#[test]
fn decisions_round_trip_through_json() {
    let decision = decision_for("SKU-1", &acme(), eur(400));
    let json = serde_json::to_string(&decision).expect("json");
    let back: ReorderDecision = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, decision);
    assert!(json.contains(r#""outcome":"order""#), "{json}");
}

/// Everything a decision depends on.
#[derive(Debug, Clone)]
struct Scenario {
    item: Item,
    supplier: Supplier,
    level: InventoryLevel,
    history: Vec<u64>,
    policy: ReorderPolicy,
}

impl Scenario {
    fn decide(&self) -> ReorderDecision {
        decide_reorder(
            &self.item,
            &self.supplier,
            &self.level,
            &self.history,
            &self.policy,
        )
    }
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let items = (
        1_u32..50,
        0_u32..500,
        prop::option::of(0_u32..5000),
        0_i64..100_000,
    );
    let suppliers = (0.0..30.0, prop_oneof![Just(0.0), 0.0..5.0]);
    let levels = (-200_i64..3000, 0_i64..500, 0_i64..1000);
    let histories = prop::collection::vec(0_u64..200, 0..40);
    let policies = (0.0..3.0, 0_i64..20_000, 0.0..0.5, 0_u32..20_000);
    (items, suppliers, levels, histories, policies).prop_map(
        |(
            (pack_size, min_order_qty, max_order_qty, unit_cost),
            (lead_time, lead_time_sd),
            (on_hand, reserved, on_order),
            history,
            (z, order_cost, rate, policy_max),
        )| {
            let item = Item {
                pack_size: pack(pack_size),
                min_order_qty,
                max_order_qty,
                unit_cost: eur(unit_cost),
                ..item()
            };
            Scenario {
                level: level(&item.sku, on_hand, reserved, on_order),
                item,
                supplier: supplier("Acme Components Ltd", lead_time, lead_time_sd),
                history,
                policy: ReorderPolicy {
                    service_level_z: ZScore::try_from(z).expect("valid"),
                    order_cost: eur(order_cost),
                    holding_rate_per_year: Fraction::try_from(rate).expect("valid"),
                    max_order_qty: policy_max,
                },
            }
        },
    )
}

proptest! {
    /// Stock already there or on its way is never ordered again.
    #[test]
    fn never_orders_when_the_position_is_above_the_reorder_point(s in scenario()) {
        let decision = s.decide();
        let r = &decision.reasoning;
        if r.projected as f64 > r.reorder_point {
            prop_assert_eq!(decision.outcome, ReorderOutcome::Hold);
        }
        prop_assert!(r.is_finite());
    }

    /// An order is whole packs, at least the minimum, at most the maximum.
    #[test]
    fn an_order_is_whole_packs_between_the_minimum_and_the_maximum(s in scenario()) {
        let decision = s.decide();
        if let ReorderOutcome::Order { quantity, amount } = decision.outcome {
            let max = s.item.max_order_qty.unwrap_or(s.policy.max_order_qty);
            prop_assert!(quantity > 0);
            prop_assert_eq!(quantity % s.item.pack_size.get(), 0);
            prop_assert!(quantity >= s.item.min_order_qty);
            prop_assert!(quantity <= max);
            prop_assert_eq!(amount.minor, s.item.unit_cost.minor * i64::from(quantity));
            prop_assert_eq!(decision.reasoning.order_qty, quantity);
        }
    }

    /// An order takes the position back above the reorder point whenever
    /// the maximum leaves room for it.
    #[test]
    fn an_order_restores_the_position_when_the_maximum_allows(s in scenario()) {
        let decision = s.decide();
        let r = &decision.reasoning;
        let pack = s.item.pack_size.get();
        let max_in_packs = u64::from(r.max_order_qty / pack * pack);
        if let ReorderOutcome::Order { quantity, .. } = decision.outcome {
            if max_in_packs >= r.shortfall_qty {
                prop_assert!((r.projected + i64::from(quantity)) as f64 > r.reorder_point,
                    "{}", decision.explain());
            }
        }
    }

    /// A stored decision decodes to exactly the decision made.
    #[test]
    fn a_decision_survives_json_exactly(s in scenario()) {
        let decision = s.decide();
        let json = serde_json::to_string(&decision).expect("json");
        let back: ReorderDecision = serde_json::from_str(&json).expect("parse");
        prop_assert_eq!(back, decision);
    }

    /// Less stock never means a smaller order.
    #[test]
    fn a_lower_position_never_orders_less(s in scenario(), less in 0_i64..2000) {
        let mut lower = s.clone();
        lower.level.on_hand -= less;
        prop_assert!(lower.decide().quantity() >= s.decide().quantity(),
            "{} / {}", lower.decide().explain(), s.decide().explain());
    }
}
