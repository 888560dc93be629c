//! An inventory scan: what the Logistics agent read from the company's
//! systems and what it decided, recorded as one event.
//!
//! The agent reads stock levels, items, suppliers and demand history from
//! the ERP (and counts from a sheet), calls the [reorder rules](super::reorder)
//! and records the result here before anything follows from it. Drafting
//! the purchase orders, or closing a report-only task, then reacts to the
//! recorded scan alone: a redelivery or a replay never reads the ERP again,
//! and a crash between the scan and the drafts loses nothing.
//!
//! Besides the decisions (with their whole reasoning), a scan records the
//! figures of every level it applied the rules to, those it holds too, in
//! [`StockLevelsRecorded`] events of at most [`LEVELS_PER_EVENT`] levels,
//! appended with the scan in one batch: the inventory read model shows the
//! whole catalogue as the latest scan saw it, not only what needs attention,
//! and no event grows with the catalogue.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::catalog::{InventoryLevel, Item, Sku, Supplier, SupplierId, WarehouseId};
use super::purchase_order::DraftPurchaseOrder;
use super::reorder::{
    decide_reorder, decide_requested_order, group_by_supplier, GroupingError, ReorderDecision,
    ReorderOutcome, ReorderPolicy,
};
use crate::aggregate::{Aggregate, Rejection};
use crate::codec::{DomainEvent, EventSchema};
use crate::event::Actor;
use crate::money::Money;

/// What a scan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanPurpose {
    /// Report what is at or below its reorder point.
    Report,
    /// Also draft the purchase orders that restock it.
    Reorder,
}

/// A purchase order the scan drafts, with the id it will have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanDraft {
    /// The purchase order's id (its stream's).
    pub po_id: Uuid,
    /// Supplier, warehouse, lines and amount.
    pub order: DraftPurchaseOrder,
}

/// A stock count read from a sheet that disagrees with the ERP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountDifference {
    /// What.
    pub sku: Sku,
    /// Where.
    pub warehouse: WarehouseId,
    /// What the ERP holds on hand.
    pub erp_on_hand: i64,
    /// What was counted (the figure the decision used).
    pub counted: i64,
}

/// A stock level the rules could not be applied to, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedLevel {
    /// What.
    pub sku: Sku,
    /// Where.
    pub warehouse: WarehouseId,
    /// Why, e.g. "no supplier".
    pub reason: String,
}

/// A stock level's figures as a scan saw them, with its reorder point:
/// what the inventory view shows of a level the rules hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelFigures {
    /// What.
    pub sku: Sku,
    /// Where.
    pub warehouse: WarehouseId,
    /// From whom it is ordered.
    pub supplier: SupplierId,
    /// On hand (a shelf count where one was read).
    pub on_hand: i64,
    /// Reserved for orders.
    pub reserved: i64,
    /// Ordered, not yet received.
    pub on_order: i64,
    /// The inventory position: on hand + on order − reserved.
    pub projected: i64,
    /// The reorder point the position was compared with.
    pub reorder_point: f64,
    /// Its safety stock.
    pub safety_stock: f64,
}

impl LevelFigures {
    /// The figures of a decision.
    pub fn of(decision: &ReorderDecision) -> Self {
        let r = &decision.reasoning;
        LevelFigures {
            sku: decision.sku.clone(),
            warehouse: decision.warehouse.clone(),
            supplier: decision.supplier.clone(),
            on_hand: r.on_hand,
            reserved: r.reserved,
            on_order: r.on_order,
            projected: r.projected,
            reorder_point: r.reorder_point,
            safety_stock: r.safety_stock,
        }
    }

    /// Why the rules hold it, in one line.
    pub fn explain(&self) -> String {
        format!(
            "{} in {}: projected {} is above the reorder point {:.1} (safety stock {:.1}): hold",
            self.sku, self.warehouse, self.projected, self.reorder_point, self.safety_stock
        )
    }
}

/// Levels per [`StockLevelsRecorded`] event.
pub const LEVELS_PER_EVENT: usize = 1_000;

/// Part of the levels a scan applied the rules to, with their figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockLevelsRecorded {
    /// The scan's id.
    pub scan_id: Uuid,
    /// At most [`LEVELS_PER_EVENT`] levels, by SKU and warehouse.
    pub levels: Vec<LevelFigures>,
    /// When the scan read them.
    pub at: DateTime<Utc>,
}

/// The scan: what was read, what was decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InventoryScanned {
    /// The scan's id (its stream's).
    pub scan_id: Uuid,
    /// Why it ran.
    pub purpose: ScanPurpose,
    /// The task it serves, if any (a scheduled scan serves none).
    pub task_id: Option<Uuid>,
    /// The directive it serves, if any.
    pub directive_id: Option<Uuid>,
    /// The warehouses looked at (every one when empty).
    pub warehouses: Vec<WarehouseId>,
    /// Where the figures came from, e.g. `erpnext`, `sheets:<spreadsheet>`.
    pub sources: Vec<String>,
    /// Stock levels (item × warehouse) read.
    pub levels_read: u64,
    /// Sheet counts that disagreed with the ERP.
    pub count_differences: Vec<CountDifference>,
    /// Levels the rules could not be applied to.
    pub skipped: Vec<SkippedLevel>,
    /// Every decision other than "hold": what to order, or why it cannot be.
    pub decisions: Vec<ReorderDecision>,
    /// The purchase orders to draft (none for a report).
    pub drafts: Vec<ScanDraft>,
    /// Who scanned.
    pub scanned_by: Actor,
    /// When.
    pub at: DateTime<Utc>,
}

impl InventoryScanned {
    /// The decisions that order something.
    pub fn orders(&self) -> impl Iterator<Item = &ReorderDecision> {
        self.decisions
            .iter()
            .filter(|d| matches!(d.outcome, ReorderOutcome::Order { .. }))
    }

    /// The scan in a few words, for the task's summary.
    pub fn summary(&self) -> String {
        let low = self.decisions.len();
        let blocked = low - self.orders().count();
        let mut text = format!(
            "{} stock levels read; {low} at or below the reorder point",
            self.levels_read
        );
        if blocked > 0 {
            text.push_str(&format!(" ({blocked} cannot be ordered)"));
        }
        match self.purpose {
            ScanPurpose::Report => {}
            ScanPurpose::Reorder => {
                text.push_str(&format!("; {} purchase orders drafted", self.drafts.len()));
            }
        }
        if !self.count_differences.is_empty() {
            text.push_str(&format!(
                "; {} counts differ from the ERP",
                self.count_differences.len()
            ));
        }
        text
    }
}

/// What the company's systems say, as the reorder rules need it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StockPicture {
    /// The catalogue.
    pub items: Vec<Item>,
    /// The suppliers.
    pub suppliers: Vec<Supplier>,
    /// Stock per item and warehouse.
    pub levels: Vec<InventoryLevel>,
    /// Units used per day, oldest day first, per item and warehouse.
    pub demand: BTreeMap<(Sku, WarehouseId), Vec<u64>>,
    /// Units counted on the shelf (a sheet), per item and warehouse: they
    /// replace the ERP's figure on hand.
    pub counts: BTreeMap<(Sku, WarehouseId), i64>,
    /// The suppliers' price lists: the price per unit of an item from one
    /// supplier, where its price list has one (else the item's unit cost).
    pub prices: BTreeMap<(Sku, SupplierId), Money>,
}

/// Which levels a scan looks at, and what a task asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanScope {
    /// Only these SKUs (all when empty).
    pub skus: Vec<Sku>,
    /// Only the warehouse a person named this way (all when absent); see
    /// [`names_warehouse`].
    pub warehouse: Option<String>,
    /// Units asked for per SKU: ordered (rounded like any order) whatever
    /// the reorder point says.
    pub requested: BTreeMap<Sku, u32>,
    /// Order from the supplier a person named this way instead of each
    /// item's usual one.
    pub supplier: Option<String>,
}

/// Whether a person's `name` for a warehouse ("main warehouse") names the
/// ERP's warehouse `erp` ("Main Warehouse - AC"): equal ignoring case and
/// the company suffix ERPNext appends.
pub fn names_warehouse(name: &str, erp: &WarehouseId) -> bool {
    let name = name.trim().to_lowercase();
    let erp = erp.as_str().to_lowercase();
    let bare = erp
        .rsplit_once(" - ")
        .map_or(erp.as_str(), |(bare, _)| bare);
    !name.is_empty() && (name == erp || name == bare)
}

/// What a scan found: the decisions other than "hold", the orders they
/// make, and the levels skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Restock {
    /// Levels looked at.
    pub levels_read: u64,
    /// Decisions to order, or why an order cannot be placed.
    pub decisions: Vec<ReorderDecision>,
    /// One draft per supplier, warehouse and currency.
    pub drafts: Vec<DraftPurchaseOrder>,
    /// Shelf counts that differ from the ERP.
    pub count_differences: Vec<CountDifference>,
    /// Levels the rules could not be applied to.
    pub skipped: Vec<SkippedLevel>,
    /// Every level the rules were applied to, held ones too, by SKU and
    /// warehouse.
    pub levels: Vec<LevelFigures>,
}

/// Applies the reorder rules to every level in `scope`: compares each
/// level's inventory position with its reorder point (or orders what was
/// asked for), and groups the orders into drafts per supplier and warehouse.
pub fn restock(
    picture: &StockPicture,
    scope: &ScanScope,
    policy: &ReorderPolicy,
) -> Result<Restock, GroupingError> {
    let items: BTreeMap<&Sku, &Item> = picture.items.iter().map(|i| (&i.sku, i)).collect();
    let suppliers: BTreeMap<&SupplierId, &Supplier> =
        picture.suppliers.iter().map(|s| (&s.id, s)).collect();
    let chosen_supplier = scope.supplier.as_deref().map(|name| {
        picture
            .suppliers
            .iter()
            .find(|s| s.id.as_str().eq_ignore_ascii_case(name.trim()))
    });
    let mut levels: Vec<&InventoryLevel> = picture
        .levels
        .iter()
        .filter(|l| scope.skus.is_empty() || scope.skus.contains(&l.sku))
        .filter(|l| {
            scope
                .warehouse
                .as_deref()
                .is_none_or(|name| names_warehouse(name, &l.warehouse))
        })
        .collect();
    levels.sort_by(|a, b| (&a.sku, &a.warehouse).cmp(&(&b.sku, &b.warehouse)));

    let mut found = Restock {
        levels_read: 0,
        decisions: Vec::new(),
        drafts: Vec::new(),
        count_differences: Vec::new(),
        skipped: Vec::new(),
        levels: Vec::new(),
    };
    for level in levels {
        found.levels_read += 1;
        let key = (level.sku.clone(), level.warehouse.clone());
        let mut level = level.clone();
        if let Some(&counted) = picture.counts.get(&key) {
            if counted != level.on_hand {
                found.count_differences.push(CountDifference {
                    sku: key.0.clone(),
                    warehouse: key.1.clone(),
                    erp_on_hand: level.on_hand,
                    counted,
                });
            }
            level.on_hand = counted;
        }
        let skip = |reason: &str| SkippedLevel {
            sku: key.0.clone(),
            warehouse: key.1.clone(),
            reason: reason.to_owned(),
        };
        let Some(item) = items.get(&level.sku) else {
            found.skipped.push(skip("not in the catalogue"));
            continue;
        };
        let supplier = match chosen_supplier {
            Some(Some(chosen)) => Some(chosen),
            Some(None) => {
                found
                    .skipped
                    .push(skip("the supplier asked for is unknown"));
                continue;
            }
            None => item
                .default_supplier
                .as_ref()
                .and_then(|id| suppliers.get(id).copied()),
        };
        let Some(supplier) = supplier else {
            found.skipped.push(skip("no known supplier"));
            continue;
        };
        let history = picture.demand.get(&key).map_or(&[][..], Vec::as_slice);
        // The chosen supplier's own price, where its price list has one.
        let priced;
        let item = match picture
            .prices
            .get(&(level.sku.clone(), supplier.id.clone()))
        {
            Some(&price) => {
                priced = Item {
                    unit_cost: price,
                    ..(*item).clone()
                };
                &priced
            }
            None => *item,
        };
        let decision = match scope.requested.get(&level.sku) {
            Some(&units) => decide_requested_order(item, supplier, &level, history, policy, units),
            None => decide_reorder(item, supplier, &level, history, policy),
        };
        found.levels.push(LevelFigures::of(&decision));
        if decision.outcome != ReorderOutcome::Hold {
            found.decisions.push(decision);
        }
    }
    found.drafts = group_by_supplier(&found.decisions)?;
    Ok(found)
}

/// What can be asked of a scan.
#[derive(Debug, Clone, PartialEq)]
pub enum InventoryScanCommand {
    /// Record it, with the figures of every level it applied the rules to.
    Record {
        /// What was read and decided.
        scan: InventoryScanned,
        /// Every level's figures ([`Restock::levels`]).
        levels: Vec<LevelFigures>,
    },
}

/// What can happen to a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum InventoryScanEvent {
    /// Levels' figures were recorded (before the scan itself, in the same
    /// append).
    StockLevelsRecorded(StockLevelsRecorded),
    /// It was recorded.
    InventoryScanned(InventoryScanned),
}

impl DomainEvent for InventoryScanEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema {
            event_type: "StockLevelsRecorded",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "InventoryScanned",
            version: 1,
            upcasters: &[],
        },
    ];
}

/// Why a scan cannot be recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryScanRejection {
    /// The scan is on record already.
    #[error("this scan is recorded already")]
    AlreadyRecorded,
    /// A report drafts nothing.
    #[error("a report-only scan drafts no purchase order")]
    ReportDrafts,
    /// Two drafts share a purchase order id.
    #[error("purchase order {0} is drafted twice")]
    DraftRepeated(Uuid),
}

impl Rejection for InventoryScanRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::AlreadyRecorded => "scan.already_recorded",
            Self::ReportDrafts => "scan.report_drafts",
            Self::DraftRepeated(_) => "scan.draft_repeated",
        }
    }
}

/// A scan's state: whether it is on record.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InventoryScan {
    /// The recorded scan.
    pub recorded: Option<InventoryScanned>,
}

impl Aggregate for InventoryScan {
    const CATEGORY: &'static str = "inventory_scan";
    type Command = InventoryScanCommand;
    type Event = InventoryScanEvent;
    type Rejection = InventoryScanRejection;

    fn decide(
        &self,
        command: &InventoryScanCommand,
    ) -> Result<Vec<InventoryScanEvent>, InventoryScanRejection> {
        let InventoryScanCommand::Record { scan, levels } = command;
        if self.recorded.is_some() {
            return Err(InventoryScanRejection::AlreadyRecorded);
        }
        if scan.purpose == ScanPurpose::Report && !scan.drafts.is_empty() {
            return Err(InventoryScanRejection::ReportDrafts);
        }
        let mut ids: Vec<Uuid> = scan.drafts.iter().map(|d| d.po_id).collect();
        ids.sort_unstable();
        if let Some(pair) = ids.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(InventoryScanRejection::DraftRepeated(pair[0]));
        }
        let mut events: Vec<InventoryScanEvent> = levels
            .chunks(LEVELS_PER_EVENT)
            .map(|chunk| {
                InventoryScanEvent::StockLevelsRecorded(StockLevelsRecorded {
                    scan_id: scan.scan_id,
                    levels: chunk.to_vec(),
                    at: scan.at,
                })
            })
            .collect();
        events.push(InventoryScanEvent::InventoryScanned(scan.clone()));
        Ok(events)
    }

    fn evolve(self, event: &InventoryScanEvent) -> Self {
        match event {
            InventoryScanEvent::StockLevelsRecorded(_) => self,
            InventoryScanEvent::InventoryScanned(scan) => InventoryScan {
                recorded: Some(scan.clone()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::spec;

    fn scan(purpose: ScanPurpose, drafts: Vec<ScanDraft>) -> InventoryScanned {
        InventoryScanned {
            scan_id: Uuid::nil(),
            purpose,
            task_id: None,
            directive_id: None,
            warehouses: Vec::new(),
            sources: vec!["erpnext".to_owned()],
            levels_read: 3,
            count_differences: Vec::new(),
            skipped: Vec::new(),
            decisions: Vec::new(),
            drafts,
            scanned_by: Actor::Agent("logistics".to_owned()),
            at: DateTime::UNIX_EPOCH,
        }
    }

    fn draft(po_id: u128) -> ScanDraft {
        ScanDraft {
            po_id: Uuid::from_u128(po_id),
            order: DraftPurchaseOrder {
                supplier: "Acme".parse().expect("supplier"),
                warehouse: "Stores".parse().expect("warehouse"),
                lines: Vec::new(),
                amount: crate::money::Money::new(0, "EUR".parse().expect("currency")),
            },
        }
    }

    fn record(scan: InventoryScanned) -> InventoryScanCommand {
        InventoryScanCommand::Record {
            scan,
            levels: Vec::new(),
        }
    }

    fn figures(n: usize) -> LevelFigures {
        LevelFigures {
            sku: format!("SKU-{n}").parse().expect("sku"),
            warehouse: "Stores".parse().expect("warehouse"),
            supplier: "Acme".parse().expect("supplier"),
            on_hand: 100,
            reserved: 0,
            on_order: 0,
            projected: 100,
            reorder_point: 40.5,
            safety_stock: 10.5,
        }
    }

    #[test]
    fn a_scan_is_recorded_once() {
        let first = scan(ScanPurpose::Reorder, vec![draft(1), draft(2)]);
        spec::given::<InventoryScan>([])
            .when(record(first.clone()))
            .then([InventoryScanEvent::InventoryScanned(first.clone())]);
        spec::given::<InventoryScan>([InventoryScanEvent::InventoryScanned(first.clone())])
            .when(record(first))
            .then_rejected("scan.already_recorded");
    }

    #[test]
    fn the_levels_figures_come_first_in_events_of_bounded_size() {
        let first = scan(ScanPurpose::Report, Vec::new());
        let levels: Vec<LevelFigures> = (0..LEVELS_PER_EVENT * 2 + 1).map(figures).collect();
        let chunk = |range: std::ops::Range<usize>| {
            InventoryScanEvent::StockLevelsRecorded(StockLevelsRecorded {
                scan_id: first.scan_id,
                levels: levels[range].to_vec(),
                at: first.at,
            })
        };
        let n = LEVELS_PER_EVENT;
        spec::given::<InventoryScan>([])
            .when(InventoryScanCommand::Record {
                scan: first.clone(),
                levels: levels.clone(),
            })
            .then([
                chunk(0..n),
                chunk(n..2 * n),
                chunk(2 * n..2 * n + 1),
                InventoryScanEvent::InventoryScanned(first.clone()),
            ]);
        // Figures alone do not put the scan on record.
        let state = InventoryScan::default().evolve(&chunk(0..1));
        assert_eq!(state.recorded, None);
        assert_eq!(
            figures(7).explain(),
            "SKU-7 in Stores: projected 100 is above the reorder point 40.5 (safety stock 10.5): hold"
        );
    }

    #[test]
    fn a_report_drafts_nothing_and_drafts_do_not_repeat() {
        spec::given::<InventoryScan>([])
            .when(record(scan(ScanPurpose::Report, vec![draft(1)])))
            .then_rejected("scan.report_drafts");
        spec::given::<InventoryScan>([])
            .when(record(scan(ScanPurpose::Reorder, vec![draft(1), draft(1)])))
            .then_rejected("scan.draft_repeated");
    }

    #[test]
    fn the_summary_counts_what_was_found() {
        let text = scan(ScanPurpose::Reorder, vec![draft(1)]).summary();
        assert_eq!(
            text,
            "3 stock levels read; 0 at or below the reorder point; 1 purchase orders drafted"
        );
    }

    // ---- restock ----

    use std::num::NonZeroU32;

    use crate::logistics::catalog::{Days, Fraction};
    use crate::money::Money;

    fn eur(minor: i64) -> Money {
        Money::new(minor, "EUR".parse().expect("currency"))
    }

    fn item(sku: &str, supplier: Option<&str>) -> Item {
        Item {
            sku: sku.parse().expect("sku"),
            name: sku.to_owned(),
            unit: "Nos".to_owned(),
            pack_size: NonZeroU32::new(10).expect("non-zero"),
            min_order_qty: 50,
            max_order_qty: None,
            unit_cost: eur(250),
            default_supplier: supplier.map(|s| s.parse().expect("supplier")),
        }
    }

    fn supplier(name: &str) -> Supplier {
        Supplier {
            id: name.parse().expect("supplier"),
            name: name.to_owned(),
            lead_time_days: Days::try_from(5.0).expect("days"),
            lead_time_sd_days: Days::try_from(0.0).expect("days"),
            on_time_rate: Fraction::try_from(0.9).expect("fraction"),
        }
    }

    fn level(sku: &str, warehouse: &str, on_hand: i64) -> InventoryLevel {
        InventoryLevel {
            sku: sku.parse().expect("sku"),
            warehouse: warehouse.parse().expect("warehouse"),
            on_hand,
            reserved: 0,
            on_order: 0,
        }
    }

    /// Two warehouses; 10 a day used of everything, so the reorder point is
    /// about 50 + safety stock.
    fn picture() -> StockPicture {
        let mut picture = StockPicture {
            items: vec![
                item("BOLT", Some("Acme")),
                item("NUT", Some("Acme")),
                item("GLUE", None),
            ],
            suppliers: vec![supplier("Acme"), supplier("Bolt & Co")],
            levels: vec![
                level("BOLT", "Main Warehouse - AC", 20),
                level("NUT", "Main Warehouse - AC", 500),
                level("GLUE", "Main Warehouse - AC", 0),
                level("BOLT", "Stores - AC", 5),
                level("WIDGET", "Stores - AC", 0),
            ],
            ..StockPicture::default()
        };
        for l in &picture.levels {
            picture.demand.insert(
                (l.sku.clone(), l.warehouse.clone()),
                vec![9, 11, 10, 10, 9, 11],
            );
        }
        picture
    }

    #[test]
    fn low_levels_become_orders_grouped_by_supplier_and_warehouse() {
        let policy = ReorderPolicy::default_for("EUR".parse().expect("currency"));
        let found = restock(&picture(), &ScanScope::default(), &policy).expect("restock");
        assert_eq!(found.levels_read, 5);
        let ordered: Vec<(&str, &str)> = found
            .decisions
            .iter()
            .map(|d| (d.sku.as_str(), d.warehouse.as_str()))
            .collect();
        assert_eq!(
            ordered,
            [("BOLT", "Main Warehouse - AC"), ("BOLT", "Stores - AC")]
        );
        assert_eq!(found.drafts.len(), 2, "one per warehouse");
        let figures: Vec<(&str, &str, i64)> = found
            .levels
            .iter()
            .map(|l| (l.sku.as_str(), l.warehouse.as_str(), l.projected))
            .collect();
        assert_eq!(
            figures,
            [
                ("BOLT", "Main Warehouse - AC", 20),
                ("BOLT", "Stores - AC", 5),
                ("NUT", "Main Warehouse - AC", 500),
            ],
            "every level the rules were applied to, the held NUT too"
        );
        let skipped: Vec<(&str, &str)> = found
            .skipped
            .iter()
            .map(|s| (s.sku.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                ("GLUE", "no known supplier"),
                ("WIDGET", "not in the catalogue")
            ]
        );
    }

    #[test]
    fn the_scope_narrows_by_warehouse_and_a_shelf_count_replaces_the_erp_figure() {
        let policy = ReorderPolicy::default_for("EUR".parse().expect("currency"));
        let mut picture = picture();
        // The ERP says 500 nuts; the shelf holds 3.
        picture.counts.insert(
            (
                "NUT".parse().expect("sku"),
                "Main Warehouse - AC".parse().expect("wh"),
            ),
            3,
        );
        let scope = ScanScope {
            warehouse: Some("main warehouse".to_owned()),
            ..ScanScope::default()
        };
        let found = restock(&picture, &scope, &policy).expect("restock");
        assert_eq!(found.levels_read, 3);
        assert_eq!(found.count_differences.len(), 1);
        assert_eq!(found.count_differences[0].counted, 3);
        let skus: Vec<&str> = found.decisions.iter().map(|d| d.sku.as_str()).collect();
        assert_eq!(skus, ["BOLT", "NUT"]);
        assert_eq!(found.drafts.len(), 1);
        assert_eq!(found.drafts[0].lines.len(), 2);
    }

    #[test]
    fn an_order_asked_for_is_placed_with_the_supplier_asked_for() {
        let policy = ReorderPolicy::default_for("EUR".parse().expect("currency"));
        let scope = ScanScope {
            skus: vec!["NUT".parse().expect("sku")],
            requested: [("NUT".parse().expect("sku"), 120)].into_iter().collect(),
            supplier: Some("bolt & co".to_owned()),
            ..ScanScope::default()
        };
        let found = restock(&picture(), &scope, &policy).expect("restock");
        assert_eq!(found.decisions.len(), 1);
        assert_eq!(found.decisions[0].quantity(), 120);
        assert_eq!(found.drafts[0].supplier.as_str(), "Bolt & Co");
        assert_eq!(
            found.decisions[0].unit_cost,
            eur(250),
            "no price list: the item's cost"
        );
        // Bolt & Co's price list has its own price for nuts.
        let mut listed = picture();
        listed.prices.insert(
            (
                "NUT".parse().expect("sku"),
                "Bolt & Co".parse().expect("supplier"),
            ),
            eur(199),
        );
        let found = restock(&listed, &scope, &policy).expect("restock");
        assert_eq!(found.decisions[0].unit_cost, eur(199));
        assert_eq!(found.drafts[0].amount, eur(199 * 120));
        assert!(names_warehouse(
            "Stores",
            &"Stores - AC".parse().expect("wh")
        ));
        assert!(!names_warehouse(
            "Store",
            &"Stores - AC".parse().expect("wh")
        ));
    }
}
