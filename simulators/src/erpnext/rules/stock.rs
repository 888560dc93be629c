//! Submitting and cancelling purchase orders and receipts: what they do to
//! the orders' received quantities and to stock.
//!
//! Stock arithmetic (one `Bin` per item and warehouse, as ERPNext keeps):
//!
//! - `ordered_qty` is what submitted, not closed purchase orders still
//!   expect: Σ max(0, `qty` − `received_qty`) × `conversion_factor` of
//!   their rows for that item and warehouse, recomputed whenever an order
//!   or a receipt against it is submitted or cancelled;
//! - a submitted purchase receipt adds its accepted `qty` ×
//!   `conversion_factor` to `actual_qty` (cancelling takes it back);
//! - `projected_qty` = `actual_qty` + `ordered_qty` + `indented_qty` +
//!   `planned_qty` − `reserved_qty` − `reserved_qty_for_production` −
//!   `reserved_qty_for_sub_contract` (ERPNext's `Bin.set_projected_qty`;
//!   v14+ also subtracts the production plan's reservations, always 0
//!   here).
//!
//! A receipt row updates its purchase order only through
//! `purchase_order_item` (the order row's name), as ERPNext's status
//! updater does: `received_qty` of that row grows, the order's
//! `per_received` becomes Σ min(`received_qty`, `qty`) / Σ `qty` × 100 and
//! its status `To Receive and Bill`, then `To Bill` once all is received.
//! Receiving more than a row still expects is refused (an over-receipt
//! allowance of 0%).

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};

use super::super::error::{FrappeError, LINK_EXISTS, OVER_ALLOWANCE, VALIDATION};
use super::super::meta::{
    DocType, BIN, ITEM, PURCHASE_ORDER, PURCHASE_ORDER_ITEM, PURCHASE_RECEIPT,
    PURCHASE_RECEIPT_ITEM,
};
use super::super::store::Doc;
use super::{bold, Erp};

/// Quantities of a Bin that are not derived from the simulator's documents.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BinSeed {
    pub actual_qty: f64,
    pub reserved_qty: f64,
    pub indented_qty: f64,
    pub planned_qty: f64,
    pub reserved_qty_for_production: f64,
    pub reserved_qty_for_sub_contract: f64,
}

const EPSILON: f64 = 1e-9;

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

impl Erp {
    pub(super) fn submit(&mut self, meta: &'static DocType, name: &str) -> Result<(), FrappeError> {
        match meta.name {
            "Purchase Order" => self.submit_purchase_order(name),
            "Purchase Receipt" => self.submit_purchase_receipt(name),
            _ => Err(FrappeError::throw(VALIDATION, "Invalid docstatus")),
        }
    }

    fn submit_purchase_order(&mut self, name: &str) -> Result<(), FrappeError> {
        let now = self.store.stamp();
        let order = self
            .store
            .get_mut("Purchase Order", name)
            .ok_or_else(|| FrappeError::not_found("Purchase Order", name))?;
        order.docstatus = 1;
        order.modified = now;
        order.set(&PURCHASE_ORDER, "status", json!("To Receive and Bill"));
        let touched = stock_rows(order, &PURCHASE_ORDER, &PURCHASE_ORDER_ITEM);
        for (item, warehouse) in touched {
            self.recompute_ordered(&item, &warehouse);
        }
        Ok(())
    }

    fn submit_purchase_receipt(&mut self, name: &str) -> Result<(), FrappeError> {
        let receipt = self
            .store
            .get("Purchase Receipt", name)
            .cloned()
            .ok_or_else(|| FrappeError::not_found("Purchase Receipt", name))?;
        let rows = &PURCHASE_RECEIPT_ITEM;
        // The status updater's over-receipt check, over all rows at once.
        let mut receiving: HashMap<(String, String), f64> = HashMap::new();
        for row in receipt.rows(&PURCHASE_RECEIPT, "items") {
            let key = (
                row.text(rows, "purchase_order").to_owned(),
                row.text(rows, "purchase_order_item").to_owned(),
            );
            if !key.0.is_empty() && !key.1.is_empty() {
                *receiving.entry(key).or_default() += row.number(rows, "received_qty");
            }
        }
        for ((order_name, detail), qty) in &receiving {
            let Some(order) = self.store.get("Purchase Order", order_name) else {
                continue;
            };
            let Some(order_row) = order
                .rows(&PURCHASE_ORDER, "items")
                .iter()
                .find(|r| &r.name == detail)
            else {
                continue;
            };
            let ordered = order_row.number(&PURCHASE_ORDER_ITEM, "qty");
            let after = order_row.number(&PURCHASE_ORDER_ITEM, "received_qty") + qty;
            if after > ordered + EPSILON {
                return Err(FrappeError::throw_titled(
                    OVER_ALLOWANCE,
                    "Limit Crossed",
                    format!(
                        "This document is over limit by {} {} for item {}. Are you making another {} against the same {}?",
                        bold("Received Qty"),
                        bold(&format!("{}", after - ordered)),
                        bold(order_row.text(&PURCHASE_ORDER_ITEM, "item_code")),
                        bold("Purchase Receipt"),
                        bold("Purchase Order Item"),
                    ),
                ));
            }
        }
        self.apply_receipt(&receipt, 1.0);
        let now = self.store.stamp();
        if let Some(receipt) = self.store.get_mut("Purchase Receipt", name) {
            receipt.docstatus = 1;
            receipt.modified = now;
            receipt.set(&PURCHASE_RECEIPT, "status", json!("To Bill"));
        }
        Ok(())
    }

    /// Adds (`sign` 1) or takes back (−1) a receipt's quantities: the
    /// orders' received quantities and the bins' actual quantities.
    fn apply_receipt(&mut self, receipt: &Doc, sign: f64) {
        let rows = &PURCHASE_RECEIPT_ITEM;
        let mut orders = BTreeSet::new();
        let mut touched = BTreeSet::new();
        let now = self.store.stamp();
        for row in receipt.rows(&PURCHASE_RECEIPT, "items") {
            let item = row.text(rows, "item_code").to_owned();
            let warehouse = row.text(rows, "warehouse").to_owned();
            let stock_qty = row.number(rows, "qty") * row.number(rows, "conversion_factor");
            if !warehouse.is_empty() && self.is_stock_item(&item) {
                let bin = self.bin_mut(&item, &warehouse);
                let actual = bin.number(&BIN, "actual_qty") + sign * stock_qty;
                bin.set(&BIN, "actual_qty", json!(actual));
                touched.insert((item.clone(), warehouse));
            }
            let order_name = row.text(rows, "purchase_order");
            let detail = row.text(rows, "purchase_order_item");
            let received = row.number(rows, "received_qty");
            if let Some(order) = self.store.get_mut("Purchase Order", order_name) {
                for order_row in order.rows_mut(&PURCHASE_ORDER, "items") {
                    if order_row.name == detail {
                        let now_received = order_row.number(&PURCHASE_ORDER_ITEM, "received_qty")
                            + sign * received;
                        order_row.set(
                            &PURCHASE_ORDER_ITEM,
                            "received_qty",
                            json!(now_received.max(0.0)),
                        );
                    }
                }
                order.modified = now;
                orders.insert(order_name.to_owned());
            }
        }
        for order_name in orders {
            if let Some(order) = self.store.get_mut("Purchase Order", &order_name) {
                let (mut ordered, mut received) = (0.0, 0.0);
                for r in order.rows(&PURCHASE_ORDER, "items") {
                    let qty = r.number(&PURCHASE_ORDER_ITEM, "qty");
                    ordered += qty;
                    received += r.number(&PURCHASE_ORDER_ITEM, "received_qty").min(qty);
                }
                let per_received = if ordered > 0.0 {
                    round6(received / ordered * 100.0)
                } else {
                    0.0
                };
                order.set(&PURCHASE_ORDER, "per_received", json!(per_received));
                if order.docstatus == 1 {
                    let status = if per_received >= 100.0 {
                        "To Bill"
                    } else {
                        "To Receive and Bill"
                    };
                    order.set(&PURCHASE_ORDER, "status", json!(status));
                }
                touched.extend(stock_rows(order, &PURCHASE_ORDER, &PURCHASE_ORDER_ITEM));
            }
        }
        for (item, warehouse) in touched {
            self.recompute_ordered(&item, &warehouse);
        }
    }

    pub(super) fn cancel(&mut self, meta: &'static DocType, name: &str) -> Result<(), FrappeError> {
        match meta.name {
            "Purchase Order" => {
                let receipt = self.store.all("Purchase Receipt").values().find(|r| {
                    r.docstatus == 1
                        && r.rows(&PURCHASE_RECEIPT, "items")
                            .iter()
                            .any(|row| row.text(&PURCHASE_RECEIPT_ITEM, "purchase_order") == name)
                });
                if let Some(receipt) = receipt {
                    return Err(FrappeError::throw(
                        LINK_EXISTS,
                        format!(
                            "Cannot delete or cancel because Purchase Order {} is linked with Purchase Receipt {}",
                            bold(name),
                            bold(&receipt.name)
                        ),
                    ));
                }
                let now = self.store.stamp();
                let order = self
                    .store
                    .get_mut(meta.name, name)
                    .ok_or_else(|| FrappeError::not_found(meta.name, name))?;
                order.docstatus = 2;
                order.modified = now;
                order.set(&PURCHASE_ORDER, "status", json!("Cancelled"));
                let touched = stock_rows(order, &PURCHASE_ORDER, &PURCHASE_ORDER_ITEM);
                for (item, warehouse) in touched {
                    self.recompute_ordered(&item, &warehouse);
                }
                Ok(())
            }
            "Purchase Receipt" => {
                let receipt = self
                    .store
                    .get(meta.name, name)
                    .cloned()
                    .ok_or_else(|| FrappeError::not_found(meta.name, name))?;
                self.apply_receipt(&receipt, -1.0);
                let now = self.store.stamp();
                if let Some(receipt) = self.store.get_mut(meta.name, name) {
                    receipt.docstatus = 2;
                    receipt.modified = now;
                    receipt.set(&PURCHASE_RECEIPT, "status", json!("Cancelled"));
                }
                Ok(())
            }
            _ => Err(FrappeError::throw(VALIDATION, "Invalid docstatus")),
        }
    }

    fn is_stock_item(&self, item: &str) -> bool {
        self.store
            .get("Item", item)
            .is_some_and(|i| i.number(&ITEM, "is_stock_item") != 0.0)
    }

    /// The Bin of an item in a warehouse, created empty if there is none.
    pub fn bin_mut(&mut self, item: &str, warehouse: &str) -> &mut Doc {
        let key = (item.to_owned(), warehouse.to_owned());
        let name = match self.bins.get(&key) {
            Some(name) => name.clone(),
            None => {
                let mut bin = Doc::blank(&BIN);
                bin.name = self.store.hash();
                bin.set(&BIN, "item_code", json!(item));
                bin.set(&BIN, "warehouse", json!(warehouse));
                let uom = self
                    .store
                    .get("Item", item)
                    .map(|i| i.get(&ITEM, "stock_uom"));
                bin.set(&BIN, "stock_uom", uom.unwrap_or(Value::Null));
                let now = self.store.stamp();
                bin.creation = now;
                bin.modified = now;
                let name = bin.name.clone();
                self.store.put(BIN.name, bin);
                self.bins.insert(key, name.clone());
                name
            }
        };
        let now = self.store.stamp();
        let bin = self
            .store
            .get_mut(BIN.name, &name)
            .expect("the bin index names stored bins only");
        bin.modified = now;
        bin
    }

    /// The Bin of an item in a warehouse, if there is one.
    pub fn bin(&self, item: &str, warehouse: &str) -> Option<&Doc> {
        let name = self.bins.get(&(item.to_owned(), warehouse.to_owned()))?;
        self.store.get(BIN.name, name)
    }

    /// Sets the quantities of a Bin that come from outside the simulator's
    /// documents (stock on hand, reservations).
    pub fn seed_bin(&mut self, item: &str, warehouse: &str, seed: BinSeed) {
        let bin = self.bin_mut(item, warehouse);
        for (field, value) in [
            ("actual_qty", seed.actual_qty),
            ("reserved_qty", seed.reserved_qty),
            ("indented_qty", seed.indented_qty),
            ("planned_qty", seed.planned_qty),
            (
                "reserved_qty_for_production",
                seed.reserved_qty_for_production,
            ),
            (
                "reserved_qty_for_sub_contract",
                seed.reserved_qty_for_sub_contract,
            ),
        ] {
            bin.set(&BIN, field, json!(value));
        }
        self.recompute_ordered(item, warehouse);
    }

    /// `ordered_qty` from the open purchase orders, then `projected_qty`.
    fn recompute_ordered(&mut self, item: &str, warehouse: &str) {
        let rows = &PURCHASE_ORDER_ITEM;
        let ordered: f64 = self
            .store
            .all("Purchase Order")
            .values()
            .filter(|o| {
                o.docstatus == 1
                    && !matches!(o.text(&PURCHASE_ORDER, "status"), "Closed" | "Completed")
            })
            .flat_map(|o| o.rows(&PURCHASE_ORDER, "items"))
            .filter(|r| r.text(rows, "item_code") == item && r.text(rows, "warehouse") == warehouse)
            .map(|r| {
                let open = r.number(rows, "qty") - r.number(rows, "received_qty");
                open.max(0.0) * r.number(rows, "conversion_factor")
            })
            .sum();
        let bin = self.bin_mut(item, warehouse);
        bin.set(&BIN, "ordered_qty", json!(ordered));
        let n = |field: &str| bin.number(&BIN, field);
        let projected = n("actual_qty") + n("ordered_qty") + n("indented_qty") + n("planned_qty")
            - n("reserved_qty")
            - n("reserved_qty_for_production")
            - n("reserved_qty_for_sub_contract");
        bin.set(&BIN, "projected_qty", json!(projected));
    }
}

/// The (item, warehouse) pairs of a document's rows.
fn stock_rows(doc: &Doc, meta: &DocType, rows: &DocType) -> Vec<(String, String)> {
    doc.rows(meta, "items")
        .iter()
        .map(|r| {
            (
                r.text(rows, "item_code").to_owned(),
                r.text(rows, "warehouse").to_owned(),
            )
        })
        .filter(|(_, w)| !w.is_empty())
        .collect()
}
