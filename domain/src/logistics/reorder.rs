//! When to order and how much: the reorder point, the economic order
//! quantity, and the supplier's and the company's limits, as pure functions.
//!
//! The rule, for one SKU in one warehouse:
//!
//! - demand per day: mean `d` and sample standard deviation `σ_d` over the
//!   daily history;
//! - safety stock: `z × σ_d × √L` when the supplier's lead time `L` never
//!   varies, else `z × √(L × σ_d² + d² × σ_L²)`;
//! - reorder point: `d × L + safety stock`;
//! - order when the inventory POSITION (on hand + on order − reserved, never
//!   what is on hand) is at or below the reorder point, and something is used
//!   or the position is negative;
//! - quantity: the larger of the economic order quantity `√(2DS/H)` (`D`
//!   yearly demand, `S` cost per order, `H` yearly cost of holding one unit)
//!   and what takes the position back above the reorder point; raised to the
//!   minimum order and to whole packs; never above the maximum (the item's,
//!   else the policy's). When no whole number of packs fits between the
//!   minimum and the maximum, nothing is ordered and the decision says why.
//!
//! Every input and intermediate figure is kept in [`ReorderReasoning`], so a
//! purchase order line can show a person exactly why it holds what it holds.
//! Figures are kept to four decimals ([`figure`]) and the decision is made on
//! the figures as kept: what a person reads is what was compared, and a
//! stored decision decodes from JSON to exactly the same numbers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::catalog::{
    Fraction, InventoryLevel, Item, Sku, Supplier, SupplierId, WarehouseId, ZScore,
};
use super::purchase_order::{DraftPurchaseOrder, PoLine};
use crate::money::{Currency, Money};

/// Days in the year the yearly demand is counted over.
pub const DAYS_PER_YEAR: f64 = 365.0;

/// The decimals a figure of the reasoning is kept to.
pub const FIGURE_DECIMALS: i32 = 4;

/// `x` rounded to [`FIGURE_DECIMALS`] decimals: short enough to read, and
/// parsed back from JSON to the very same number.
pub fn figure(x: f64) -> f64 {
    let scale = 10_f64.powi(FIGURE_DECIMALS);
    (x * scale).round() / scale
}

/// The mean and spread of daily demand over a history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DemandStats {
    /// Days in the history.
    pub days: usize,
    /// Mean units per day (0 for an empty history).
    pub mean: f64,
    /// Sample standard deviation of units per day (0 for fewer than two days).
    pub sd: f64,
}

impl DemandStats {
    /// The statistics of a history of units used per day.
    pub fn from_daily(history: &[u64]) -> Self {
        let days = history.len();
        if days == 0 {
            return DemandStats {
                days,
                mean: 0.0,
                sd: 0.0,
            };
        }
        let n = days as f64;
        let mean = history.iter().map(|&q| q as f64).sum::<f64>() / n;
        let sd = if days < 2 {
            0.0
        } else {
            let squares: f64 = history.iter().map(|&q| (q as f64 - mean).powi(2)).sum();
            (squares / (n - 1.0)).sqrt()
        };
        DemandStats { days, mean, sd }
    }
}

/// The company's settings for reordering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReorderPolicy {
    /// How much demand variation the safety stock covers (1.65 for 95 %).
    pub service_level_z: ZScore,
    /// What placing one order costs (`S`).
    pub order_cost: Money,
    /// What holding a unit for a year costs, as a share of its unit cost
    /// (`H = unit cost × rate`).
    pub holding_rate_per_year: Fraction,
    /// The most one order line may hold when the item sets no maximum.
    pub max_order_qty: u32,
}

impl ReorderPolicy {
    /// The defaults in `currency`: a 95 % service level (z = 1.65), 50.00 per
    /// order, 25 % a year to hold stock, at most 10,000 units a line.
    pub fn default_for(currency: Currency) -> Self {
        ReorderPolicy {
            service_level_z: ZScore::try_from(1.65).expect("1.65 is a valid factor"),
            order_cost: Money::new(5_000, currency),
            holding_rate_per_year: Fraction::try_from(0.25).expect("0.25 is a valid share"),
            max_order_qty: 10_000,
        }
    }
}

impl Default for ReorderPolicy {
    /// [`ReorderPolicy::default_for`] in EUR.
    fn default() -> Self {
        Self::default_for("EUR".parse().expect("EUR is a currency code"))
    }
}

/// Which safety-stock formula applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SafetyStockFormula {
    /// `z × σ_d × √L`: the supplier's lead time does not vary.
    FixedLeadTime,
    /// `z × √(L × σ_d² + d² × σ_L²)`: it does.
    VariableLeadTime,
}

/// Whose maximum order quantity applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaxSource {
    /// The item's own.
    Item,
    /// The reorder policy's.
    Policy,
}

/// Every input and figure of a reorder decision, to store with it and show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReorderReasoning {
    /// Days of demand history.
    pub history_days: usize,
    /// Mean demand per day (`d`).
    pub demand_mean_per_day: f64,
    /// Sample standard deviation of demand per day (`σ_d`).
    pub demand_sd_per_day: f64,
    /// The supplier's mean lead time in days (`L`).
    pub lead_time_days: f64,
    /// The standard deviation of the lead time in days (`σ_L`).
    pub lead_time_sd_days: f64,
    /// The service-level factor (`z`).
    pub service_level_z: f64,
    /// Which safety-stock formula applied.
    pub safety_stock_formula: SafetyStockFormula,
    /// The safety stock, in units.
    pub safety_stock: f64,
    /// `d × L + safety stock`, in units.
    pub reorder_point: f64,
    /// Physically there.
    pub on_hand: i64,
    /// Ordered, not yet received.
    pub on_order: i64,
    /// Promised, not yet shipped.
    pub reserved: i64,
    /// The inventory position compared with the reorder point.
    pub projected: i64,
    /// Yearly demand (`D = d × 365`).
    pub annual_demand: f64,
    /// The cost of one order (`S`).
    pub order_cost: Money,
    /// The yearly cost of holding one unit (`H`), in minor units of the
    /// unit cost's currency.
    pub holding_cost_per_unit_year: f64,
    /// The economic order quantity `√(2DS/H)`, when demand, `S` and `H` are
    /// above zero and in one currency.
    pub eoq: Option<f64>,
    /// The quantity asked for, when a person or a task named one (no
    /// economic order quantity is then used).
    pub requested_qty: Option<u32>,
    /// The least that takes the position above the reorder point (0 when it
    /// is above already).
    pub shortfall_qty: u64,
    /// Before rounding: the requested quantity, else the larger of the
    /// economic order quantity and the shortfall (0 when nothing is ordered).
    pub raw_qty: u64,
    /// The supplier's minimum order.
    pub min_order_qty: u32,
    /// Units per pack.
    pub pack_size: u32,
    /// The maximum order quantity in force.
    pub max_order_qty: u32,
    /// Whose maximum it is.
    pub max_source: MaxSource,
    /// The raw quantity raised to the minimum order and to whole packs.
    pub rounded_qty: u64,
    /// Whether the maximum cut the rounded quantity down.
    pub cap_applied: bool,
    /// The quantity ordered (0 when none).
    pub order_qty: u32,
}

impl ReorderReasoning {
    /// Whether every figure is a finite number (what JSON can store).
    pub fn is_finite(&self) -> bool {
        [
            self.demand_mean_per_day,
            self.demand_sd_per_day,
            self.lead_time_days,
            self.lead_time_sd_days,
            self.service_level_z,
            self.safety_stock,
            self.reorder_point,
            self.annual_demand,
            self.holding_cost_per_unit_year,
            self.eoq.unwrap_or(0.0),
        ]
        .iter()
        .all(|x| x.is_finite())
    }

    /// The figures in one line, for a person.
    pub fn explain(&self) -> String {
        let comparison = if (self.projected as f64) <= self.reorder_point {
            "≤"
        } else {
            ">"
        };
        let mut text = format!(
            "projected {} (on hand {} + on order {} − reserved {}) {comparison} reorder point {:.1} \
             (demand {:.2}/day over {} days × lead time {:.1} days + safety stock {:.1} at z {:.2})",
            self.projected,
            self.on_hand,
            self.on_order,
            self.reserved,
            self.reorder_point,
            self.demand_mean_per_day,
            self.history_days,
            self.lead_time_days,
            self.safety_stock,
            self.service_level_z,
        );
        if self.raw_qty == 0 {
            return text;
        }
        let basis = match (self.requested_qty, self.eoq) {
            (Some(requested), _) => format!("{requested} requested"),
            (None, Some(eoq)) => format!("EOQ {eoq:.1}, shortfall {}", self.shortfall_qty),
            (None, None) => format!("shortfall {} (no EOQ)", self.shortfall_qty),
        };
        text.push_str(&format!(
            "; {basis} → {} raised to {} (MOQ {}, packs of {})",
            self.raw_qty, self.rounded_qty, self.min_order_qty, self.pack_size
        ));
        if self.cap_applied {
            let source = match self.max_source {
                MaxSource::Item => "item",
                MaxSource::Policy => "policy",
            };
            text.push_str(&format!(
                ", cut to {} by the {source} maximum of {}",
                self.order_qty, self.max_order_qty
            ));
        }
        text
    }
}

/// Why an order that is needed cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum CannotOrder {
    /// The stock level given is another SKU's.
    #[error("the stock level is for {level}, not {item}")]
    LevelOfAnotherItem {
        /// The item's SKU.
        item: Sku,
        /// The level's SKU.
        level: Sku,
    },
    /// The item's unit cost is below zero.
    #[error("the unit cost {unit_cost} is below zero")]
    UnitCostNegative {
        /// The unit cost.
        unit_cost: Money,
    },
    /// The policy's cost per order is below zero.
    #[error("the cost per order {order_cost} is below zero")]
    OrderCostNegative {
        /// The cost per order.
        order_cost: Money,
    },
    /// The cost per order and the unit cost cannot be compared.
    #[error("the cost per order is in {order_cost}, the unit cost in {unit_cost}")]
    CurrencyMismatch {
        /// The unit cost's currency.
        unit_cost: Currency,
        /// The cost per order's currency.
        order_cost: Currency,
    },
    /// No whole number of packs lies between the minimum and the maximum.
    #[error(
        "the maximum of {max_order_qty} ({max_in_packs} in packs of {pack_size}) is below \
         the minimum order of {min_order_qty}"
    )]
    MaximumBelowMinimum {
        /// The maximum in force.
        max_order_qty: u32,
        /// The maximum rounded down to whole packs.
        max_in_packs: u32,
        /// The supplier's minimum order.
        min_order_qty: u32,
        /// Units per pack.
        pack_size: u32,
    },
    /// The line's amount does not fit in an amount of money.
    #[error("{quantity} × {unit_cost} is too large an amount")]
    AmountTooLarge {
        /// The quantity.
        quantity: u32,
        /// The unit cost.
        unit_cost: Money,
    },
}

impl CannotOrder {
    /// The stable machine code, `reorder.<rule>`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::LevelOfAnotherItem { .. } => "reorder.level_of_another_item",
            Self::UnitCostNegative { .. } => "reorder.unit_cost_negative",
            Self::OrderCostNegative { .. } => "reorder.order_cost_negative",
            Self::CurrencyMismatch { .. } => "reorder.currency_mismatch",
            Self::MaximumBelowMinimum { .. } => "reorder.maximum_below_minimum",
            Self::AmountTooLarge { .. } => "reorder.amount_too_large",
        }
    }
}

/// What to do about one SKU in one warehouse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ReorderOutcome {
    /// Nothing to order: the position is above the reorder point, or
    /// nothing is used.
    Hold,
    /// Order this many.
    Order {
        /// Units, a positive multiple of the pack size.
        quantity: u32,
        /// `quantity × unit cost`.
        amount: Money,
    },
    /// An order is needed but cannot be placed.
    CannotOrder {
        /// Why.
        reason: CannotOrder,
    },
}

/// A reorder decision for one SKU in one warehouse, with its reasoning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReorderDecision {
    /// What.
    pub sku: Sku,
    /// Where.
    pub warehouse: WarehouseId,
    /// From whom.
    pub supplier: SupplierId,
    /// At what price per unit.
    pub unit_cost: Money,
    /// Hold, order, or why not.
    pub outcome: ReorderOutcome,
    /// Every input and figure.
    pub reasoning: ReorderReasoning,
}

impl ReorderDecision {
    /// The units to order (0 unless the outcome is an order).
    pub fn quantity(&self) -> u32 {
        match self.outcome {
            ReorderOutcome::Order { quantity, .. } => quantity,
            _ => 0,
        }
    }

    /// The decision in one line, for a person.
    pub fn explain(&self) -> String {
        let what = match &self.outcome {
            ReorderOutcome::Hold => "no order".to_owned(),
            ReorderOutcome::Order { quantity, amount } => {
                format!("order {quantity} from {} for {amount}", self.supplier)
            }
            ReorderOutcome::CannotOrder { reason } => {
                format!("cannot order from {}: {reason}", self.supplier)
            }
        };
        format!(
            "{} at {}: {what}; {}",
            self.sku,
            self.warehouse,
            self.reasoning.explain()
        )
    }
}

/// Decides whether and how much of `item` to order from `supplier` for the
/// warehouse of `level`, from the daily demand `history`.
pub fn decide_reorder(
    item: &Item,
    supplier: &Supplier,
    level: &InventoryLevel,
    history: &[u64],
    policy: &ReorderPolicy,
) -> ReorderDecision {
    decide(item, supplier, level, history, policy, None)
}

/// Decides an order of `requested` units (a person's or a task's figure),
/// rounded to the item's minimum, packs and maximum like any other; the
/// reorder figures are computed all the same, to show beside it.
pub fn decide_requested_order(
    item: &Item,
    supplier: &Supplier,
    level: &InventoryLevel,
    history: &[u64],
    policy: &ReorderPolicy,
    requested: u32,
) -> ReorderDecision {
    decide(item, supplier, level, history, policy, Some(requested))
}

/// The economic order quantity, when it means something: demand, order
/// cost and holding cost above zero, costs in one currency, a finite result.
fn economic_order_quantity(
    annual_demand: f64,
    order_cost: Money,
    unit_cost: Money,
    holding_cost: f64,
) -> Option<f64> {
    if annual_demand <= 0.0
        || order_cost.minor <= 0
        || holding_cost <= 0.0
        || order_cost.currency != unit_cost.currency
    {
        return None;
    }
    Some((2.0 * annual_demand * order_cost.minor as f64 / holding_cost).sqrt())
        .filter(|eoq| eoq.is_finite())
}

fn decide(
    item: &Item,
    supplier: &Supplier,
    level: &InventoryLevel,
    history: &[u64],
    policy: &ReorderPolicy,
    requested: Option<u32>,
) -> ReorderDecision {
    let demand = DemandStats::from_daily(history);
    let mean = figure(demand.mean);
    let sd = figure(demand.sd);
    let lead_time = figure(supplier.lead_time_days.get());
    let lead_time_sd = figure(supplier.lead_time_sd_days.get());
    let z = figure(policy.service_level_z.get());
    let (safety_stock_formula, safety_stock) = if lead_time_sd == 0.0 {
        (SafetyStockFormula::FixedLeadTime, z * sd * lead_time.sqrt())
    } else {
        let variance = lead_time * sd.powi(2) + mean.powi(2) * lead_time_sd.powi(2);
        (SafetyStockFormula::VariableLeadTime, z * variance.sqrt())
    };
    let safety_stock = figure(safety_stock);
    let reorder_point = figure(mean * lead_time + safety_stock);
    let projected = level.projected();
    let at_or_below = (projected as f64) <= reorder_point;
    let annual_demand = figure(mean * DAYS_PER_YEAR);
    let holding_cost = figure(item.unit_cost.minor as f64 * policy.holding_rate_per_year.get());
    let eoq = economic_order_quantity(
        annual_demand,
        policy.order_cost,
        item.unit_cost,
        holding_cost,
    )
    .map(figure);
    let shortfall_qty = if at_or_below {
        // The least whole number q with projected + q > reorder point.
        ((reorder_point - projected as f64).floor() + 1.0) as u64
    } else {
        0
    };
    let needed = match requested {
        Some(requested) => requested > 0,
        None => at_or_below && (mean > 0.0 || projected < 0),
    };
    let raw_qty = match (needed, requested) {
        (false, _) => 0,
        (true, Some(requested)) => u64::from(requested),
        (true, None) => shortfall_qty.max(eoq.map_or(0, |q| q.ceil() as u64)),
    };
    let pack = u64::from(item.pack_size.get());
    let min_order_qty = item.min_order_qty;
    let rounded_qty = if needed {
        raw_qty
            .max(u64::from(min_order_qty))
            .div_ceil(pack)
            .saturating_mul(pack)
    } else {
        0
    };
    let (max_order_qty, max_source) = match item.max_order_qty {
        Some(max) => (max, MaxSource::Item),
        None => (policy.max_order_qty, MaxSource::Policy),
    };

    let outcome = if item.sku != level.sku {
        Err(CannotOrder::LevelOfAnotherItem {
            item: item.sku.clone(),
            level: level.sku.clone(),
        })
    } else if !needed {
        Ok(None)
    } else {
        order(
            item,
            policy,
            requested.is_none(),
            rounded_qty,
            max_order_qty,
        )
        .map(Some)
    };
    let order_qty = match &outcome {
        Ok(Some((quantity, _))) => *quantity,
        _ => 0,
    };
    let reasoning = ReorderReasoning {
        history_days: demand.days,
        demand_mean_per_day: mean,
        demand_sd_per_day: sd,
        lead_time_days: lead_time,
        lead_time_sd_days: lead_time_sd,
        service_level_z: z,
        safety_stock_formula,
        safety_stock,
        reorder_point,
        on_hand: level.on_hand,
        on_order: level.on_order,
        reserved: level.reserved,
        projected,
        annual_demand,
        order_cost: policy.order_cost,
        holding_cost_per_unit_year: holding_cost,
        eoq,
        requested_qty: requested,
        shortfall_qty,
        raw_qty,
        min_order_qty,
        pack_size: item.pack_size.get(),
        max_order_qty,
        max_source,
        rounded_qty,
        cap_applied: order_qty > 0 && rounded_qty > u64::from(order_qty),
        order_qty,
    };
    ReorderDecision {
        sku: item.sku.clone(),
        warehouse: level.warehouse.clone(),
        supplier: supplier.id.clone(),
        unit_cost: item.unit_cost,
        outcome: match outcome {
            Ok(None) => ReorderOutcome::Hold,
            Ok(Some((quantity, amount))) => ReorderOutcome::Order { quantity, amount },
            Err(reason) => ReorderOutcome::CannotOrder { reason },
        },
        reasoning,
    }
}

/// The quantity and amount of a needed order of `rounded_qty`, within the
/// item's limits and at most `max_order_qty` (`uses_eoq`: the costs must be
/// comparable).
fn order(
    item: &Item,
    policy: &ReorderPolicy,
    uses_eoq: bool,
    rounded_qty: u64,
    max_order_qty: u32,
) -> Result<(u32, Money), CannotOrder> {
    if item.unit_cost.minor < 0 {
        return Err(CannotOrder::UnitCostNegative {
            unit_cost: item.unit_cost,
        });
    }
    if uses_eoq && policy.order_cost.minor < 0 {
        return Err(CannotOrder::OrderCostNegative {
            order_cost: policy.order_cost,
        });
    }
    if uses_eoq && policy.order_cost.currency != item.unit_cost.currency {
        return Err(CannotOrder::CurrencyMismatch {
            unit_cost: item.unit_cost.currency,
            order_cost: policy.order_cost.currency,
        });
    }
    let pack = item.pack_size.get();
    let max_in_packs = max_order_qty / pack * pack;
    if max_in_packs == 0 || max_in_packs < item.min_order_qty {
        return Err(CannotOrder::MaximumBelowMinimum {
            max_order_qty,
            max_in_packs,
            min_order_qty: item.min_order_qty,
            pack_size: pack,
        });
    }
    let quantity = u32::try_from(rounded_qty.min(u64::from(max_in_packs))).unwrap_or(max_in_packs);
    let amount = item
        .unit_cost
        .minor
        .checked_mul(i64::from(quantity))
        .map(|minor| Money::new(minor, item.unit_cost.currency))
        .ok_or(CannotOrder::AmountTooLarge {
            quantity,
            unit_cost: item.unit_cost,
        })?;
    Ok((quantity, amount))
}

/// Why decisions could not be grouped into drafts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupingError {
    /// Two decisions order the same SKU from one supplier into one warehouse.
    #[error("{sku} is ordered twice from {supplier} for {warehouse}")]
    SkuRepeated {
        /// The supplier.
        supplier: SupplierId,
        /// The warehouse.
        warehouse: WarehouseId,
        /// The SKU.
        sku: Sku,
    },
    /// The lines' amounts do not add up within an amount of money.
    #[error("the order from {supplier} for {warehouse} adds up to too large an amount")]
    AmountTooLarge {
        /// The supplier.
        supplier: SupplierId,
        /// The warehouse.
        warehouse: WarehouseId,
    },
}

impl GroupingError {
    /// The stable machine code, `reorder.<rule>`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SkuRepeated { .. } => "reorder.sku_repeated",
            Self::AmountTooLarge { .. } => "reorder.amount_too_large",
        }
    }
}

/// The orders among `decisions`, one draft per supplier, warehouse and
/// currency (a purchase order has one currency), sorted by supplier and
/// warehouse, each with its lines sorted by SKU. Holds and orders that
/// cannot be placed are left out.
pub fn group_by_supplier(
    decisions: &[ReorderDecision],
) -> Result<Vec<DraftPurchaseOrder>, GroupingError> {
    let mut groups: BTreeMap<(SupplierId, WarehouseId, Currency), Vec<PoLine>> = BTreeMap::new();
    for decision in decisions {
        let quantity = decision.quantity();
        if quantity == 0 {
            continue;
        }
        let key = (
            decision.supplier.clone(),
            decision.warehouse.clone(),
            decision.unit_cost.currency,
        );
        groups.entry(key).or_default().push(PoLine {
            sku: decision.sku.clone(),
            qty: quantity,
            unit_cost: decision.unit_cost,
            reasoning: decision.reasoning.clone(),
        });
    }
    groups
        .into_iter()
        .map(|((supplier, warehouse, currency), mut lines)| {
            lines.sort_by(|a, b| a.sku.cmp(&b.sku));
            if let Some(pair) = lines.windows(2).find(|pair| pair[0].sku == pair[1].sku) {
                return Err(GroupingError::SkuRepeated {
                    supplier,
                    warehouse,
                    sku: pair[0].sku.clone(),
                });
            }
            let minor = lines.iter().try_fold(0_i64, |sum, line| {
                line.unit_cost
                    .minor
                    .checked_mul(i64::from(line.qty))
                    .and_then(|amount| sum.checked_add(amount))
            });
            let Some(minor) = minor else {
                return Err(GroupingError::AmountTooLarge {
                    supplier,
                    warehouse,
                });
            };
            Ok(DraftPurchaseOrder {
                supplier,
                warehouse,
                lines,
                amount: Money::new(minor, currency),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
