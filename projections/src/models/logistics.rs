//! The logistics read model: purchase orders with their lines and status
//! history, the inventory scans the Logistics agent recorded, every stock
//! level as the latest scan saw it, and inbound shipments. Supplier performance is not a table: [`supplier_performance`]
//! computes it from the orders and shipments. One projection, because that
//! query joins its tables, which must therefore stand at one checkpoint.
//!
//! **The inventory view** holds, per SKU and warehouse, the figures of the
//! latest scan that applied the rules to that level: a scan records every
//! level's figures and reorder point (`StockLevelsRecorded`, in events of
//! bounded size) and then a decision with its whole reasoning for each level
//! at or below its reorder point. `outcome` is `hold` for the others;
//! `?attention=true` lists only the levels to order or that cannot be
//! ordered. A level no scan has looked at since (say, a scan of one
//! warehouse) keeps its row: its `scan_id` and `scanned_at` say how old it
//! is.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::logistics::purchase_order::{GoodsReceived, PurchaseOrderEvent};
use domain::logistics::scan::{
    InventoryScan, InventoryScanEvent, InventoryScanned, LevelFigures, StockLevelsRecorded,
};
use domain::logistics::{
    PurchaseOrder, ReorderOutcome, ReorderReasoning, Shipment, ShipmentEvent, ShipmentStatus, Sku,
};
use domain::work::ParcelLine;
use domain::{Aggregate, DomainEvent, Money, RecordedEvent};
use eventstore::EventFilter;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use uuid::Uuid;

use super::columns::{id, int, label, set, time, undecodable};
use crate::{Db, Projection, ProjectionError, Tables, Tx, Value};

/// The projection's name.
pub const NAME: &str = "logistics";
const ORDERS: &str = "logistics_purchase_orders";
const SCANS: &str = "logistics_scans";
const INVENTORY: &str = "logistics_inventory";
const SHIPMENTS: &str = "logistics_shipments";

/// The most rows one page holds.
pub const MAX_PAGE: u32 = 500;

/// The logistics read model.
pub struct Logistics;

fn json(value: &impl Serialize) -> Result<Value, ProjectionError> {
    serde_json::to_string(value)
        .map(Value::Text)
        .map_err(|e| ProjectionError::Apply(format!("cannot encode a JSON column: {e}")))
}

#[async_trait]
impl Projection for Logistics {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        // 2: shipments keep what their shipping notice says they carry, and
        // the inventory holds every level a scan saw, held ones too.
        2
    }

    /// Purchase orders, scans and shipments change at human pace; 20 ms of freshness
    /// for batches several times larger under load (`bench e2e`).
    fn batch_window(&self) -> std::time::Duration {
        std::time::Duration::from_millis(20)
    }

    fn filter(&self) -> EventFilter {
        EventFilter::of(
            &[
                PurchaseOrder::CATEGORY,
                InventoryScan::CATEGORY,
                Shipment::CATEGORY,
            ],
            &[],
        )
    }

    fn tables(&self) -> Vec<&'static str> {
        vec![ORDERS, SCANS, INVENTORY, SHIPMENTS]
    }

    fn schema(&self, tables: &Tables) -> Result<Vec<String>, ProjectionError> {
        let (orders, scans, inventory, shipments) = (
            tables.get(ORDERS)?,
            tables.get(SCANS)?,
            tables.get(INVENTORY)?,
            tables.get(SHIPMENTS)?,
        );
        Ok(vec![
            format!(
                "CREATE TABLE {orders} (po_id TEXT PRIMARY KEY, seq_tx BIGINT NOT NULL, \
                 seq BIGINT NOT NULL, status TEXT NOT NULL, supplier TEXT NOT NULL, \
                 warehouse TEXT NOT NULL, amount_minor BIGINT NOT NULL, currency TEXT NOT NULL, \
                 erp_name TEXT, approval_id TEXT, directive_id TEXT, task_id TEXT, \
                 drafted_by TEXT NOT NULL, drafted_at TEXT NOT NULL, submitted_at TEXT, \
                 submitted_at_us BIGINT, updated_at TEXT NOT NULL, lines TEXT NOT NULL, \
                 history TEXT NOT NULL)"
            ),
            format!("CREATE INDEX {orders}_order ON {orders} (seq_tx, seq)"),
            format!("CREATE INDEX {orders}_status ON {orders} (status, seq_tx, seq)"),
            format!("CREATE INDEX {orders}_supplier ON {orders} (supplier, seq_tx, seq)"),
            format!("CREATE INDEX {orders}_directive ON {orders} (directive_id)"),
            format!("CREATE INDEX {orders}_task ON {orders} (task_id)"),
            format!(
                "CREATE TABLE {scans} (scan_id TEXT PRIMARY KEY, seq_tx BIGINT NOT NULL, \
                 seq BIGINT NOT NULL, purpose TEXT NOT NULL, task_id TEXT, directive_id TEXT, \
                 scanned_by TEXT NOT NULL, levels_read BIGINT NOT NULL, \
                 decision_count BIGINT NOT NULL, order_count BIGINT NOT NULL, \
                 draft_count BIGINT NOT NULL, skipped_count BIGINT NOT NULL, \
                 count_difference_count BIGINT NOT NULL, summary TEXT NOT NULL, at TEXT NOT NULL, \
                 warehouses TEXT NOT NULL, sources TEXT NOT NULL, decisions TEXT NOT NULL, \
                 drafts TEXT NOT NULL, skipped TEXT NOT NULL, count_differences TEXT NOT NULL)"
            ),
            format!("CREATE INDEX {scans}_order ON {scans} (seq_tx, seq)"),
            format!("CREATE INDEX {scans}_directive ON {scans} (directive_id)"),
            format!("CREATE INDEX {scans}_task ON {scans} (task_id)"),
            format!(
                "CREATE TABLE {inventory} (sku TEXT NOT NULL, warehouse TEXT NOT NULL, \
                 supplier TEXT NOT NULL, on_hand BIGINT NOT NULL, reserved BIGINT NOT NULL, \
                 on_order BIGINT NOT NULL, projected BIGINT NOT NULL, \
                 reorder_point DOUBLE PRECISION NOT NULL, safety_stock DOUBLE PRECISION NOT NULL, \
                 outcome TEXT NOT NULL, order_qty BIGINT NOT NULL, reason TEXT, \
                 explanation TEXT NOT NULL, scan_id TEXT NOT NULL, scanned_at TEXT NOT NULL, \
                 PRIMARY KEY (sku, warehouse))"
            ),
            format!("CREATE INDEX {inventory}_warehouse ON {inventory} (warehouse, sku)"),
            format!(
                "CREATE TABLE {shipments} (shipment_id TEXT PRIMARY KEY, seq_tx BIGINT NOT NULL, \
                 seq BIGINT NOT NULL, po_id TEXT NOT NULL, carrier TEXT NOT NULL, \
                 tracking_number TEXT NOT NULL, status TEXT NOT NULL, eta TEXT, \
                 promised_by TEXT NOT NULL, promised_by_us BIGINT NOT NULL, delivered_at TEXT, \
                 delivered_at_us BIGINT, last_message TEXT, last_update_at TEXT, \
                 alerts TEXT NOT NULL, contents TEXT NOT NULL, started_at TEXT NOT NULL, \
                 updated_at TEXT NOT NULL)"
            ),
            format!("CREATE INDEX {shipments}_order ON {shipments} (seq_tx, seq)"),
            format!("CREATE INDEX {shipments}_status ON {shipments} (status, seq_tx, seq)"),
            format!("CREATE INDEX {shipments}_po ON {shipments} (po_id)"),
        ])
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let category = event.stream_id.category();
        if category == PurchaseOrder::CATEGORY {
            purchase_order(tx, tables, event).await
        } else if category == InventoryScan::CATEGORY {
            match InventoryScanEvent::decode(event).map_err(|e| undecodable(event, e))? {
                InventoryScanEvent::StockLevelsRecorded(recorded) => {
                    stock_levels(tx, tables, &recorded).await
                }
                InventoryScanEvent::InventoryScanned(scan) => {
                    inventory_scan(tx, tables, event, &scan).await
                }
            }
        } else if category == Shipment::CATEGORY {
            shipment(tx, tables, event).await
        } else {
            Ok(())
        }
    }
}

/// Reads a JSON column of the row whose `key` is `key_value` (`None`: no row).
async fn read_json<T: for<'de> Deserialize<'de>>(
    tx: &mut Tx,
    table: &str,
    column: &str,
    key: &str,
    key_value: &Value,
) -> Result<Option<T>, ProjectionError> {
    let rows = tx
        .query(
            &format!("SELECT {column} FROM {table} WHERE {key} = $1"),
            std::slice::from_ref(key_value),
        )
        .await?;
    let Some(text) = rows.first().and_then(|r| r.first()).and_then(Value::as_str) else {
        return Ok(None);
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| ProjectionError::Apply(format!("stored {table}.{column}: {e}")))
}

// ---- purchase orders ----

/// One line of a purchase order, with the reasoning behind its quantity and
/// what has arrived so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    /// What.
    pub sku: Sku,
    /// Units ordered.
    pub qty: u32,
    /// Price per unit.
    pub unit_cost: Money,
    /// Every figure of the reorder decision behind the quantity.
    pub reasoning: ReorderReasoning,
    /// The reasoning in one line, for a person.
    pub explanation: String,
    /// Units received so far (more than `qty` when over-delivered).
    pub received: u64,
}

/// One step of a purchase order's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The status it moved to.
    pub status: String,
    /// When (the business time the event states).
    pub at: String,
    /// Who moved it.
    pub by: String,
    /// Why, when the event says (the policy rule, the approver's reason,
    /// what a receipt brought).
    pub reason: Option<String>,
}

async fn purchase_order(
    tx: &mut Tx,
    tables: &Tables,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let orders = tables.get(ORDERS)?;
    let po_id = id(event.stream_id.id());
    let decoded = PurchaseOrderEvent::decode(event).map_err(|e| undecodable(event, e))?;
    let actor = event.metadata.actor.to_string();
    let step = |at: DateTime<Utc>, by: String, reason: Option<String>| StatusChange {
        status: label(&decoded.status())
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        at: time(at).as_str().unwrap_or_default().to_owned(),
        by,
        reason,
    };
    let mut columns: Vec<(&'static str, Value)> = Vec::new();
    let change = match &decoded {
        PurchaseOrderEvent::PurchaseOrderDrafted(drafted) => {
            let lines: Vec<OrderLine> = drafted
                .lines
                .iter()
                .map(|line| OrderLine {
                    sku: line.sku.clone(),
                    qty: line.qty,
                    unit_cost: line.unit_cost,
                    reasoning: line.reasoning.clone(),
                    explanation: line.reasoning.explain(),
                    received: 0,
                })
                .collect();
            let history = [step(drafted.at, drafted.drafted_by.to_string(), None)];
            tx.execute(
                &format!(
                    "INSERT INTO {orders} (po_id, seq_tx, seq, status, supplier, warehouse, \
                     amount_minor, currency, directive_id, task_id, drafted_by, drafted_at, \
                     updated_at, lines, history) \
                     VALUES ($1, $2, $3, 'drafted', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                     $14) ON CONFLICT (po_id) DO NOTHING"
                ),
                &[
                    po_id,
                    int(event.position.tx),
                    int(event.position.seq),
                    Value::from(drafted.supplier.as_str()),
                    Value::from(drafted.warehouse.as_str()),
                    Value::Int(drafted.amount.minor),
                    Value::from(drafted.amount.currency.as_str()),
                    Value::from(drafted.directive_id.map(|d| d.to_string())),
                    Value::from(drafted.task_id.map(|t| t.to_string())),
                    Value::from(drafted.drafted_by.to_string()),
                    time(drafted.at),
                    time(event.recorded_at),
                    json(&lines)?,
                    json(&history)?,
                ],
            )
            .await?;
            return Ok(());
        }
        PurchaseOrderEvent::PurchaseOrderApprovalRequested(asked) => {
            columns.push(("approval_id", id(asked.approval_id)));
            step(asked.at, actor, Some(asked.reason.clone()))
        }
        PurchaseOrderEvent::PurchaseOrderApproved(approved) => {
            step(approved.at, approved.by.to_string(), None)
        }
        PurchaseOrderEvent::PurchaseOrderApprovedUnderPolicy(approved) => {
            step(approved.at, actor, Some(approved.reason.clone()))
        }
        PurchaseOrderEvent::PurchaseOrderRejected(rejected) => step(
            rejected.at,
            rejected.by.to_string(),
            Some(rejected.reason.clone()),
        ),
        PurchaseOrderEvent::PurchaseOrderSubmitted(submitted) => {
            columns.push(("erp_name", Value::from(submitted.erp_name.as_str())));
            columns.push(("submitted_at", time(submitted.at)));
            columns.push((
                "submitted_at_us",
                Value::Int(submitted.at.timestamp_micros()),
            ));
            step(submitted.at, actor, None)
        }
        PurchaseOrderEvent::PurchaseOrderAcknowledged(acknowledged) => {
            step(acknowledged.at, actor, None)
        }
        PurchaseOrderEvent::GoodsReceived(received) => {
            let Some(mut lines) =
                read_json::<Vec<OrderLine>>(tx, orders, "lines", "po_id", &po_id).await?
            else {
                return Ok(());
            };
            for arrived in &received.lines {
                if let Some(line) = lines.iter_mut().find(|l| l.sku == arrived.sku) {
                    line.received = arrived.received_total;
                }
            }
            columns.push(("lines", json(&lines)?));
            step(received.at, actor, Some(receipt_text(received)))
        }
        PurchaseOrderEvent::PurchaseOrderCancelled(cancelled) => step(
            cancelled.at,
            cancelled.by.to_string(),
            Some(cancelled.reason.clone()),
        ),
    };
    let Some(mut history) =
        read_json::<Vec<StatusChange>>(tx, orders, "history", "po_id", &po_id).await?
    else {
        return Ok(());
    };
    history.push(change);
    columns.push(("history", json(&history)?));
    columns.push(("status", label(&decoded.status())));
    columns.push(("updated_at", time(event.recorded_at)));
    set(tx, orders, "po_id", po_id, &columns).await
}

/// A receipt in one line: `receipt <id>: BOLT +40 (40 of 100), NUT +10 (10 of 10)`.
fn receipt_text(received: &GoodsReceived) -> String {
    let lines: Vec<String> = received
        .lines
        .iter()
        .map(|l| {
            format!(
                "{} +{} ({} of {})",
                l.sku, l.received_now, l.received_total, l.ordered
            )
        })
        .collect();
    format!("receipt {}: {}", received.receipt_id, lines.join(", "))
}

// ---- inventory scans ----

async fn inventory_scan(
    tx: &mut Tx,
    tables: &Tables,
    event: &RecordedEvent,
    scan: &InventoryScanned,
) -> Result<(), ProjectionError> {
    let (scans, inventory) = (tables.get(SCANS)?, tables.get(INVENTORY)?);
    let scan_id = id(event.stream_id.id());
    // Each decision with its one-line explanation beside its figures.
    let decisions: Vec<Json> = scan
        .decisions
        .iter()
        .map(|d| {
            let mut value = serde_json::to_value(d).unwrap_or(Json::Null);
            if let Json::Object(fields) = &mut value {
                fields.insert("explanation".to_owned(), Json::from(d.explain()));
            }
            value
        })
        .collect();
    let drafts: Vec<Json> = scan
        .drafts
        .iter()
        .map(|d| {
            serde_json::json!({
                "po_id": d.po_id,
                "supplier": d.order.supplier,
                "warehouse": d.order.warehouse,
                "amount": d.order.amount,
                "lines": d.order.lines.len(),
            })
        })
        .collect();
    let inserted = tx
        .execute(
            &format!(
                "INSERT INTO {scans} (scan_id, seq_tx, seq, purpose, task_id, directive_id, \
                 scanned_by, levels_read, decision_count, order_count, draft_count, \
                 skipped_count, count_difference_count, summary, at, warehouses, sources, \
                 decisions, drafts, skipped, count_differences) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18, $19, $20, $21) ON CONFLICT (scan_id) DO NOTHING"
            ),
            &[
                scan_id.clone(),
                int(event.position.tx),
                int(event.position.seq),
                label(&scan.purpose),
                Value::from(scan.task_id.map(|t| t.to_string())),
                Value::from(scan.directive_id.map(|d| d.to_string())),
                Value::from(scan.scanned_by.to_string()),
                int(scan.levels_read),
                int(scan.decisions.len() as u64),
                int(scan.orders().count() as u64),
                int(scan.drafts.len() as u64),
                int(scan.skipped.len() as u64),
                int(scan.count_differences.len() as u64),
                Value::from(scan.summary()),
                time(scan.at),
                json(&scan.warehouses)?,
                json(&scan.sources)?,
                json(&decisions)?,
                json(&drafts)?,
                json(&scan.skipped)?,
                json(&scan.count_differences)?,
            ],
        )
        .await?;
    if inserted == 0 {
        return Ok(());
    }
    for decision in &scan.decisions {
        let (outcome, reason) = match &decision.outcome {
            ReorderOutcome::Hold => ("hold", None),
            ReorderOutcome::Order { .. } => ("order", None),
            ReorderOutcome::CannotOrder { reason } => ("cannot_order", Some(reason.to_string())),
        };
        upsert_level(
            tx,
            inventory,
            &LevelFigures::of(decision),
            LevelVerdict {
                outcome,
                order_qty: decision.quantity(),
                reason,
                explanation: decision.explain(),
            },
            &scan_id,
            scan.at,
        )
        .await?;
    }
    Ok(())
}

/// A scan's figures for levels, held ones too: each level shows as the
/// latest scan saw it (the scan's decisions, recorded after, then say
/// which of them to order).
async fn stock_levels(
    tx: &mut Tx,
    tables: &Tables,
    recorded: &StockLevelsRecorded,
) -> Result<(), ProjectionError> {
    let inventory = tables.get(INVENTORY)?;
    let scan_id = id(recorded.scan_id);
    for level in &recorded.levels {
        let verdict = LevelVerdict {
            outcome: "hold",
            order_qty: 0,
            reason: None,
            explanation: level.explain(),
        };
        upsert_level(tx, inventory, level, verdict, &scan_id, recorded.at).await?;
    }
    Ok(())
}

/// What a scan concluded about a level.
struct LevelVerdict {
    outcome: &'static str,
    order_qty: u32,
    reason: Option<String>,
    explanation: String,
}

async fn upsert_level(
    tx: &mut Tx,
    inventory: &str,
    level: &LevelFigures,
    verdict: LevelVerdict,
    scan_id: &Value,
    at: DateTime<Utc>,
) -> Result<(), ProjectionError> {
    tx.execute(
        &format!(
            "INSERT INTO {inventory} (sku, warehouse, supplier, on_hand, reserved, on_order, \
             projected, reorder_point, safety_stock, outcome, order_qty, reason, \
             explanation, scan_id, scanned_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (sku, warehouse) DO UPDATE SET supplier = excluded.supplier, \
             on_hand = excluded.on_hand, reserved = excluded.reserved, \
             on_order = excluded.on_order, projected = excluded.projected, \
             reorder_point = excluded.reorder_point, safety_stock = excluded.safety_stock, \
             outcome = excluded.outcome, order_qty = excluded.order_qty, \
             reason = excluded.reason, explanation = excluded.explanation, \
             scan_id = excluded.scan_id, scanned_at = excluded.scanned_at"
        ),
        &[
            Value::from(level.sku.as_str()),
            Value::from(level.warehouse.as_str()),
            Value::from(level.supplier.as_str()),
            Value::Int(level.on_hand),
            Value::Int(level.reserved),
            Value::Int(level.on_order),
            Value::Int(level.projected),
            Value::Real(level.reorder_point),
            Value::Real(level.safety_stock),
            Value::from(verdict.outcome),
            Value::Int(i64::from(verdict.order_qty)),
            Value::from(verdict.reason),
            Value::from(verdict.explanation),
            scan_id.clone(),
            time(at),
        ],
    )
    .await?;
    Ok(())
}

// ---- shipments ----

/// An alert raised on a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentAlert {
    /// `exception`, `returned` or `late`.
    pub kind: String,
    /// What happened, for a person.
    pub reason: String,
    /// The carrier update that revealed it.
    pub carrier_event_id: String,
    /// When that update happened.
    pub at: String,
}

async fn shipment(
    tx: &mut Tx,
    tables: &Tables,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let shipments = tables.get(SHIPMENTS)?;
    let shipment_id = id(event.stream_id.id());
    let now = time(event.recorded_at);
    let mut columns: Vec<(&'static str, Value)> =
        match ShipmentEvent::decode(event).map_err(|e| undecodable(event, e))? {
            ShipmentEvent::ShipmentTrackingStarted(started) => {
                tx.execute(
                    &format!(
                        "INSERT INTO {shipments} (shipment_id, seq_tx, seq, po_id, carrier, \
                         tracking_number, status, promised_by, promised_by_us, alerts, \
                         contents, started_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '[]', $10, $11, $12) \
                         ON CONFLICT (shipment_id) DO NOTHING"
                    ),
                    &[
                        shipment_id,
                        int(event.position.tx),
                        int(event.position.seq),
                        id(started.po_id),
                        Value::from(started.carrier),
                        Value::from(started.tracking_number),
                        label(&ShipmentStatus::default()),
                        time(started.promised_by),
                        Value::Int(started.promised_by.timestamp_micros()),
                        json(&started.contents)?,
                        time(started.at),
                        now,
                    ],
                )
                .await?;
                return Ok(());
            }
            ShipmentEvent::CarrierUpdateRecorded(update) => {
                let rows = tx
                    .query(
                        &format!("SELECT last_update_at FROM {shipments} WHERE shipment_id = $1"),
                        std::slice::from_ref(&shipment_id),
                    )
                    .await?;
                let Some(row) = rows.first() else {
                    return Ok(());
                };
                let occurred = time(update.occurred_at);
                let mut columns = Vec::new();
                // The newest update's words, whatever order they came in
                // (the times are fixed-width UTC text, so text order is
                // time order).
                let newest = match (row.first().and_then(Value::as_str), occurred.as_str()) {
                    (Some(last), Some(this)) => this >= last,
                    _ => true,
                };
                if newest {
                    columns.push(("last_message", Value::from(update.message.as_str())));
                    columns.push(("last_update_at", occurred.clone()));
                }
                // Only an update the shipment applied moves its status.
                if update.applied {
                    columns.push(("status", label(&update.status)));
                    if let Some(eta) = update.eta {
                        columns.push(("eta", time(eta)));
                    }
                    if update.status == ShipmentStatus::Delivered {
                        columns.push(("delivered_at", occurred));
                        columns.push((
                            "delivered_at_us",
                            Value::Int(update.occurred_at.timestamp_micros()),
                        ));
                    }
                }
                columns
            }
            ShipmentEvent::ShipmentAlertRaised(raised) => {
                let Some(mut alerts) = read_json::<Vec<ShipmentAlert>>(
                    tx,
                    shipments,
                    "alerts",
                    "shipment_id",
                    &shipment_id,
                )
                .await?
                else {
                    return Ok(());
                };
                alerts.push(ShipmentAlert {
                    kind: label(&raised.kind).as_str().unwrap_or_default().to_owned(),
                    reason: raised.reason,
                    carrier_event_id: raised.carrier_event_id,
                    at: time(raised.at).as_str().unwrap_or_default().to_owned(),
                });
                vec![("alerts", json(&alerts)?)]
            }
        };
    columns.push(("updated_at", now));
    set(tx, shipments, "shipment_id", shipment_id, &columns).await
}

// ---- queries ----

/// A page of rows and where the next one starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C> {
    /// The rows.
    pub items: Vec<T>,
    /// Pass as the next query's cursor.
    pub next: Option<C>,
}

/// Keeps `limit` rows of `rows` (fetched with one more) and the cursor after
/// the last kept, if more follow.
fn page<T, C>(mut rows: Vec<T>, limit: u32, cursor: impl Fn(&T) -> C) -> Page<T, C> {
    let limit = limit as usize;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor)
    } else {
        None
    };
    Page { items: rows, next }
}

/// A page's size, within 1..=[`MAX_PAGE`].
fn page_size(limit: u32) -> u32 {
    limit.clamp(1, MAX_PAGE)
}

/// A query's `WHERE` clause under construction, with its parameters.
#[derive(Default)]
struct Conditions {
    sql: Vec<String>,
    params: Vec<Value>,
}

impl Conditions {
    /// The placeholder of a new parameter.
    fn param(&mut self, value: Value) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// `column = value`, when a value is given.
    fn equal(&mut self, column: &str, value: Option<Value>) {
        if let Some(value) = value {
            let p = self.param(value);
            self.sql.push(format!("{column} = {p}"));
        }
    }

    /// Rows before `(seq_tx, seq)` in newest-first order.
    fn before(&mut self, order: Option<(i64, i64)>) {
        if let Some((tx, seq)) = order {
            let (tx, seq) = (self.param(Value::Int(tx)), self.param(Value::Int(seq)));
            self.sql.push(format!(
                "(seq_tx < {tx} OR (seq_tx = {tx} AND seq < {seq}))"
            ));
        }
    }

    /// `WHERE …` (or nothing), then `tail` with a `LIMIT` of `limit` + 1.
    fn select(mut self, head: &str, tail: &str, limit: u32) -> (String, Vec<Value>) {
        let filter = if self.sql.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.sql.join(" AND "))
        };
        let l = self.param(Value::Int(i64::from(limit) + 1));
        (format!("{head}{filter} {tail} LIMIT {l}"), self.params)
    }
}

struct Row<'a>(&'a [Value], usize);

impl Row<'_> {
    fn next(&mut self) -> (usize, Option<&Value>) {
        let i = self.1;
        self.1 += 1;
        (i, self.0.get(i))
    }
    fn text(&mut self) -> Result<String, ProjectionError> {
        let i = self.1;
        self.opt()?
            .ok_or_else(|| ProjectionError::Query(format!("column {i} is null")))
    }
    fn opt(&mut self) -> Result<Option<String>, ProjectionError> {
        match self.next() {
            (_, Some(Value::Text(s))) => Ok(Some(s.clone())),
            (_, Some(Value::Null) | None) => Ok(None),
            (i, Some(other)) => Err(ProjectionError::Query(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }
    fn int(&mut self) -> Result<i64, ProjectionError> {
        self.opt_int()?
            .ok_or_else(|| ProjectionError::Query(format!("column {}: null", self.1 - 1)))
    }
    fn opt_int(&mut self) -> Result<Option<i64>, ProjectionError> {
        match self.next() {
            (_, Some(Value::Int(v))) => Ok(Some(*v)),
            (_, Some(Value::Null) | None) => Ok(None),
            (i, Some(other)) => Err(ProjectionError::Query(format!(
                "column {i}: expected an integer, got {other:?}"
            ))),
        }
    }
    /// A real; SQLite hands back a whole real as an integer.
    fn opt_real(&mut self) -> Result<Option<f64>, ProjectionError> {
        match self.next() {
            (_, Some(Value::Real(v))) => Ok(Some(*v)),
            (_, Some(Value::Int(v))) => Ok(Some(*v as f64)),
            (_, Some(Value::Null) | None) => Ok(None),
            (i, Some(other)) => Err(ProjectionError::Query(format!(
                "column {i}: expected a number, got {other:?}"
            ))),
        }
    }
    fn real(&mut self) -> Result<f64, ProjectionError> {
        self.opt_real()?
            .ok_or_else(|| ProjectionError::Query(format!("column {}: null", self.1 - 1)))
    }
    fn uuid(&mut self) -> Result<Uuid, ProjectionError> {
        let text = self.text()?;
        text.parse()
            .map_err(|_| ProjectionError::Query(format!("not a uuid: {text}")))
    }
    fn opt_uuid(&mut self) -> Result<Option<Uuid>, ProjectionError> {
        self.opt()?
            .map(|text| {
                text.parse()
                    .map_err(|_| ProjectionError::Query(format!("not a uuid: {text}")))
            })
            .transpose()
    }
    fn json<T: for<'de> Deserialize<'de>>(&mut self) -> Result<T, ProjectionError> {
        let text = self.text()?;
        serde_json::from_str(&text).map_err(|e| ProjectionError::Query(format!("stored JSON: {e}")))
    }
    fn money(&mut self) -> Result<Money, ProjectionError> {
        let minor = self.int()?;
        let currency = self.text()?;
        let currency = currency
            .parse()
            .map_err(|e| ProjectionError::Query(format!("stored currency: {e}")))?;
        Ok(Money::new(minor, currency))
    }
}

/// A purchase order as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurchaseOrderSummary {
    /// Its id.
    pub id: Uuid,
    /// Where it stands (`drafted`, `awaiting_approval`, `approved`,
    /// `submitted`, `acknowledged`, `partially_received`, `received`,
    /// `cancelled`, `rejected`).
    pub status: String,
    /// From whom.
    pub supplier: String,
    /// Delivered where.
    pub warehouse: String,
    /// `Σ qty × unit cost`.
    pub amount: Money,
    /// The ERP document's name, once submitted.
    pub erp_name: Option<String>,
    /// The approval it waits or waited for.
    pub approval_id: Option<Uuid>,
    /// The directive it serves.
    pub directive_id: Option<Uuid>,
    /// The task it serves.
    pub task_id: Option<Uuid>,
    /// Who drafted it.
    pub drafted_by: String,
    /// When.
    pub drafted_at: String,
    /// When the ERP submitted it to the supplier.
    pub submitted_at: Option<String>,
    /// When it last changed.
    pub updated_at: String,
    /// Its place in the list, for cursors.
    #[serde(skip)]
    pub order: (i64, i64),
}

/// A purchase order with its lines and history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurchaseOrderDetail {
    /// The order.
    #[serde(flatten)]
    pub order: PurchaseOrderSummary,
    /// Its lines, sorted by SKU.
    pub lines: Vec<OrderLine>,
    /// Every step, oldest first.
    pub history: Vec<StatusChange>,
}

const ORDER_COLUMNS: &str = "po_id, status, supplier, warehouse, amount_minor, currency, \
     erp_name, approval_id, directive_id, task_id, drafted_by, drafted_at, submitted_at, \
     updated_at, seq_tx, seq";

fn order_summary(r: &mut Row<'_>) -> Result<PurchaseOrderSummary, ProjectionError> {
    Ok(PurchaseOrderSummary {
        id: r.uuid()?,
        status: r.text()?,
        supplier: r.text()?,
        warehouse: r.text()?,
        amount: r.money()?,
        erp_name: r.opt()?,
        approval_id: r.opt_uuid()?,
        directive_id: r.opt_uuid()?,
        task_id: r.opt_uuid()?,
        drafted_by: r.text()?,
        drafted_at: r.text()?,
        submitted_at: r.opt()?,
        updated_at: r.text()?,
        order: (r.int()?, r.int()?),
    })
}

/// Which purchase orders to list: newest draft first.
#[derive(Debug, Clone, Default)]
pub struct PurchaseOrderQuery {
    /// Only in this status.
    pub status: Option<String>,
    /// Only from this supplier.
    pub supplier: Option<String>,
    /// Only serving this directive.
    pub directive_id: Option<Uuid>,
    /// Only serving this task.
    pub task_id: Option<Uuid>,
    /// Only older than this place in the list (a cursor).
    pub before: Option<(i64, i64)>,
    /// At most this many (1 to [`MAX_PAGE`]).
    pub limit: u32,
}

/// Purchase orders, newest first.
pub async fn list_purchase_orders(
    db: &Db,
    query: &PurchaseOrderQuery,
) -> Result<Page<PurchaseOrderSummary, (i64, i64)>, ProjectionError> {
    let mut c = Conditions::default();
    c.equal("status", query.status.clone().map(Value::from));
    c.equal("supplier", query.supplier.clone().map(Value::from));
    c.equal("directive_id", query.directive_id.map(id));
    c.equal("task_id", query.task_id.map(id));
    c.before(query.before);
    let limit = page_size(query.limit);
    let (sql, params) = c.select(
        &format!("SELECT {ORDER_COLUMNS} FROM {ORDERS}"),
        "ORDER BY seq_tx DESC, seq DESC",
        limit,
    );
    let rows = db.query(&sql, &params).await?;
    let orders = rows
        .iter()
        .map(|r| order_summary(&mut Row(r, 0)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page(orders, limit, |o| o.order))
}

/// One purchase order with its lines and history, if known.
pub async fn get_purchase_order(
    db: &Db,
    po_id: Uuid,
) -> Result<Option<PurchaseOrderDetail>, ProjectionError> {
    let rows = db
        .query(
            &format!("SELECT {ORDER_COLUMNS}, lines, history FROM {ORDERS} WHERE po_id = $1"),
            &[id(po_id)],
        )
        .await?;
    rows.first()
        .map(|row| {
            let mut r = Row(row, 0);
            Ok(PurchaseOrderDetail {
                order: order_summary(&mut r)?,
                lines: r.json()?,
                history: r.json()?,
            })
        })
        .transpose()
}

/// An inventory scan as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanSummary {
    /// Its id.
    pub id: Uuid,
    /// `report` or `reorder`.
    pub purpose: String,
    /// The task it served.
    pub task_id: Option<Uuid>,
    /// The directive it served.
    pub directive_id: Option<Uuid>,
    /// Who scanned.
    pub scanned_by: String,
    /// Stock levels read.
    pub levels_read: i64,
    /// Levels at or below their reorder point (each a decision).
    pub decision_count: i64,
    /// Decisions that order something.
    pub order_count: i64,
    /// Purchase orders drafted.
    pub draft_count: i64,
    /// Levels the rules could not be applied to.
    pub skipped_count: i64,
    /// Shelf counts that differed from the ERP.
    pub count_difference_count: i64,
    /// The scan in a few words.
    pub summary: String,
    /// When.
    pub at: String,
    /// Its place in the list, for cursors.
    #[serde(skip)]
    pub order: (i64, i64),
}

/// A scan with what it read and decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanDetail {
    /// The scan.
    #[serde(flatten)]
    pub scan: ScanSummary,
    /// The warehouses looked at (every one when empty).
    pub warehouses: Json,
    /// Where the figures came from.
    pub sources: Json,
    /// Each decision (SKU, warehouse, supplier, unit cost, outcome,
    /// reasoning) with its one-line `explanation`.
    pub decisions: Json,
    /// The purchase orders drafted: id, supplier, warehouse, amount, lines.
    pub drafts: Json,
    /// The levels skipped, with the reason.
    pub skipped: Json,
    /// The shelf counts that differed from the ERP.
    pub count_differences: Json,
}

const SCAN_COLUMNS: &str = "scan_id, purpose, task_id, directive_id, scanned_by, levels_read, \
     decision_count, order_count, draft_count, skipped_count, count_difference_count, summary, \
     at, seq_tx, seq";

fn scan_summary(r: &mut Row<'_>) -> Result<ScanSummary, ProjectionError> {
    Ok(ScanSummary {
        id: r.uuid()?,
        purpose: r.text()?,
        task_id: r.opt_uuid()?,
        directive_id: r.opt_uuid()?,
        scanned_by: r.text()?,
        levels_read: r.int()?,
        decision_count: r.int()?,
        order_count: r.int()?,
        draft_count: r.int()?,
        skipped_count: r.int()?,
        count_difference_count: r.int()?,
        summary: r.text()?,
        at: r.text()?,
        order: (r.int()?, r.int()?),
    })
}

/// Which scans to list: newest first.
#[derive(Debug, Clone, Default)]
pub struct ScanQuery {
    /// Only serving this directive.
    pub directive_id: Option<Uuid>,
    /// Only serving this task.
    pub task_id: Option<Uuid>,
    /// Only older than this place in the list (a cursor).
    pub before: Option<(i64, i64)>,
    /// At most this many (1 to [`MAX_PAGE`]).
    pub limit: u32,
}

/// Inventory scans, newest first.
pub async fn list_scans(
    db: &Db,
    query: &ScanQuery,
) -> Result<Page<ScanSummary, (i64, i64)>, ProjectionError> {
    let mut c = Conditions::default();
    c.equal("directive_id", query.directive_id.map(id));
    c.equal("task_id", query.task_id.map(id));
    c.before(query.before);
    let limit = page_size(query.limit);
    let (sql, params) = c.select(
        &format!("SELECT {SCAN_COLUMNS} FROM {SCANS}"),
        "ORDER BY seq_tx DESC, seq DESC",
        limit,
    );
    let rows = db.query(&sql, &params).await?;
    let scans = rows
        .iter()
        .map(|r| scan_summary(&mut Row(r, 0)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(page(scans, limit, |s| s.order))
}

/// One scan with what it read and decided, if known.
pub async fn get_scan(db: &Db, scan_id: Uuid) -> Result<Option<ScanDetail>, ProjectionError> {
    let rows = db
        .query(
            &format!(
                "SELECT {SCAN_COLUMNS}, warehouses, sources, decisions, drafts, skipped, \
                 count_differences FROM {SCANS} WHERE scan_id = $1"
            ),
            &[id(scan_id)],
        )
        .await?;
    rows.first()
        .map(|row| {
            let mut r = Row(row, 0);
            Ok(ScanDetail {
                scan: scan_summary(&mut r)?,
                warehouses: r.json()?,
                sources: r.json()?,
                decisions: r.json()?,
                drafts: r.json()?,
                skipped: r.json()?,
                count_differences: r.json()?,
            })
        })
        .transpose()
}

/// A stock level as the latest scan that found it at or below its reorder
/// point saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryLevelView {
    /// What.
    pub sku: String,
    /// Where.
    pub warehouse: String,
    /// From whom it would be ordered.
    pub supplier: String,
    /// Physically there.
    pub on_hand: i64,
    /// Promised, not yet shipped.
    pub reserved: i64,
    /// Ordered, not yet received.
    pub on_order: i64,
    /// On hand + on order − reserved: what was compared with the reorder point.
    pub projected: i64,
    /// The reorder point, in units.
    pub reorder_point: f64,
    /// The safety stock, in units.
    pub safety_stock: f64,
    /// `order` or `cannot_order`.
    pub outcome: String,
    /// Units ordered (0 unless `order`).
    pub order_qty: i64,
    /// Why no order could be placed (`cannot_order` only).
    pub reason: Option<String>,
    /// The decision in one line, for a person.
    pub explanation: String,
    /// The scan that saw it.
    pub scan_id: Uuid,
    /// When.
    pub scanned_at: String,
}

/// Which levels to list: by SKU, then warehouse.
#[derive(Debug, Clone, Default)]
pub struct InventoryQuery {
    /// Only this SKU.
    pub sku: Option<String>,
    /// Only this warehouse.
    pub warehouse: Option<String>,
    /// Only the levels needing attention (to order, or that cannot be).
    pub attention: bool,
    /// Only after this (SKU, warehouse) (a cursor).
    pub after: Option<(String, String)>,
    /// At most this many (1 to [`MAX_PAGE`]).
    pub limit: u32,
}

/// Stock levels as the latest scan of each saw them, by SKU and warehouse.
pub async fn list_inventory(
    db: &Db,
    query: &InventoryQuery,
) -> Result<Page<InventoryLevelView, (String, String)>, ProjectionError> {
    let mut c = Conditions::default();
    c.equal("sku", query.sku.clone().map(Value::from));
    c.equal("warehouse", query.warehouse.clone().map(Value::from));
    if query.attention {
        c.sql.push("outcome <> 'hold'".to_owned());
    }
    if let Some((sku, warehouse)) = &query.after {
        let (s, w) = (
            c.param(Value::from(sku.as_str())),
            c.param(Value::from(warehouse.as_str())),
        );
        c.sql
            .push(format!("(sku > {s} OR (sku = {s} AND warehouse > {w}))"));
    }
    let limit = page_size(query.limit);
    let (sql, params) = c.select(
        &format!(
            "SELECT sku, warehouse, supplier, on_hand, reserved, on_order, projected, \
             reorder_point, safety_stock, outcome, order_qty, reason, explanation, scan_id, \
             scanned_at FROM {INVENTORY}"
        ),
        "ORDER BY sku, warehouse",
        limit,
    );
    let rows = db.query(&sql, &params).await?;
    let levels = rows
        .iter()
        .map(|row| {
            let mut r = Row(row, 0);
            Ok(InventoryLevelView {
                sku: r.text()?,
                warehouse: r.text()?,
                supplier: r.text()?,
                on_hand: r.int()?,
                reserved: r.int()?,
                on_order: r.int()?,
                projected: r.int()?,
                reorder_point: r.real()?,
                safety_stock: r.real()?,
                outcome: r.text()?,
                order_qty: r.int()?,
                reason: r.opt()?,
                explanation: r.text()?,
                scan_id: r.uuid()?,
                scanned_at: r.text()?,
            })
        })
        .collect::<Result<Vec<_>, ProjectionError>>()?;
    Ok(page(levels, limit, |l| {
        (l.sku.clone(), l.warehouse.clone())
    }))
}

/// A shipment as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShipmentView {
    /// Its id.
    pub id: Uuid,
    /// The purchase order it delivers.
    pub po_id: Uuid,
    /// The carrier.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// `pre_transit`, `in_transit`, `out_for_delivery`, `delivered`,
    /// `exception` or `returned`.
    pub status: String,
    /// The delivery the carrier expects.
    pub eta: Option<String>,
    /// When the supplier promised the goods.
    pub promised_by: String,
    /// When the carrier delivered them.
    pub delivered_at: Option<String>,
    /// The newest carrier update's words.
    pub last_message: Option<String>,
    /// When that update happened.
    pub last_update_at: Option<String>,
    /// The alerts raised, oldest first.
    pub alerts: Vec<ShipmentAlert>,
    /// What it carries, as its shipping notice says (empty: no notice).
    pub contents: Vec<ParcelLine>,
    /// When tracking started.
    pub started_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Its place in the list, for cursors.
    #[serde(skip)]
    pub order: (i64, i64),
}

/// Which shipments to list: newest first.
#[derive(Debug, Clone, Default)]
pub struct ShipmentQuery {
    /// Only in this status.
    pub status: Option<String>,
    /// Only delivering this purchase order.
    pub po_id: Option<Uuid>,
    /// Only older than this place in the list (a cursor).
    pub before: Option<(i64, i64)>,
    /// At most this many (1 to [`MAX_PAGE`]).
    pub limit: u32,
}

/// A shipment still on its way: what the carrier poll asks the carrier about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenShipment {
    /// Its id.
    pub id: Uuid,
    /// The carrier.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
}

/// Shipments neither delivered nor returned, by id, at most `limit` (1 to
/// [`MAX_PAGE`]) after the shipment `after`.
pub async fn open_shipments(
    db: &Db,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Page<OpenShipment, Uuid>, ProjectionError> {
    let mut c = Conditions::default();
    c.sql
        .push("status NOT IN ('delivered', 'returned')".to_owned());
    if let Some(after) = after {
        let p = c.param(id(after));
        c.sql.push(format!("shipment_id > {p}"));
    }
    let limit = page_size(limit);
    let (sql, params) = c.select(
        &format!("SELECT shipment_id, carrier, tracking_number FROM {SHIPMENTS}"),
        "ORDER BY shipment_id",
        limit,
    );
    let open = db
        .query(&sql, &params)
        .await?
        .iter()
        .map(|row| {
            let mut r = Row(row, 0);
            Ok(OpenShipment {
                id: r.uuid()?,
                carrier: r.text()?,
                tracking_number: r.text()?,
            })
        })
        .collect::<Result<Vec<_>, ProjectionError>>()?;
    Ok(page(open, limit, |s| s.id))
}

/// Shipments, newest first.
pub async fn list_shipments(
    db: &Db,
    query: &ShipmentQuery,
) -> Result<Page<ShipmentView, (i64, i64)>, ProjectionError> {
    let mut c = Conditions::default();
    c.equal("status", query.status.clone().map(Value::from));
    c.equal("po_id", query.po_id.map(id));
    c.before(query.before);
    let limit = page_size(query.limit);
    let (sql, params) = c.select(
        &format!(
            "SELECT shipment_id, po_id, carrier, tracking_number, status, eta, promised_by, \
             delivered_at, last_message, last_update_at, alerts, contents, started_at, \
             updated_at, seq_tx, seq FROM {SHIPMENTS}"
        ),
        "ORDER BY seq_tx DESC, seq DESC",
        limit,
    );
    let rows = db.query(&sql, &params).await?;
    let shipments = rows
        .iter()
        .map(|row| {
            let mut r = Row(row, 0);
            Ok(ShipmentView {
                id: r.uuid()?,
                po_id: r.uuid()?,
                carrier: r.text()?,
                tracking_number: r.text()?,
                status: r.text()?,
                eta: r.opt()?,
                promised_by: r.text()?,
                delivered_at: r.opt()?,
                last_message: r.opt()?,
                last_update_at: r.opt()?,
                alerts: r.json()?,
                contents: r.json()?,
                started_at: r.text()?,
                updated_at: r.text()?,
                order: (r.int()?, r.int()?),
            })
        })
        .collect::<Result<Vec<_>, ProjectionError>>()?;
    Ok(page(shipments, limit, |s| s.order))
}

/// How a supplier has performed, from its purchase orders and the
/// shipments that delivered them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupplierPerformance {
    /// The supplier.
    pub supplier: String,
    /// Purchase orders drafted for it.
    pub orders_drafted: i64,
    /// Purchase orders placed (submitted to it through the ERP).
    pub orders_placed: i64,
    /// Placed and not yet received in full nor cancelled.
    pub orders_open: i64,
    /// Received in full.
    pub orders_received: i64,
    /// Cancelled (before or after being placed).
    pub orders_cancelled: i64,
    /// Refused by the approver.
    pub orders_rejected: i64,
    /// What the placed, not cancelled, orders amount to, per currency.
    pub placed_amounts: Vec<Money>,
    /// Shipments delivered.
    pub deliveries: i64,
    /// Shipments delivered by the date promised.
    pub on_time_deliveries: i64,
    /// `on_time_deliveries / deliveries` (`null` before any delivery).
    pub on_time_rate: Option<f64>,
    /// Mean days from an order's submission to a shipment's delivery
    /// (`null` before any delivery of a submitted order).
    pub lead_time_days: Option<f64>,
    /// The shortest such lead time, in days.
    pub lead_time_days_min: Option<f64>,
    /// The longest, in days.
    pub lead_time_days_max: Option<f64>,
}

/// Microseconds in a day.
const MICROS_PER_DAY: f64 = 86_400_000_000.0;

/// Every supplier with purchase orders, by name: orders per status, the
/// amount placed, deliveries on time and lead times (each delivered
/// shipment counts once, its lead time measured from its order's submission).
pub async fn supplier_performance(db: &Db) -> Result<Vec<SupplierPerformance>, ProjectionError> {
    // Counts are cast to BIGINT and means to DOUBLE PRECISION: PostgreSQL's
    // SUM and AVG of BIGINT are NUMERIC, which `Value` does not hold.
    let counted =
        |condition: &str| format!("CAST(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END) AS BIGINT)");
    let orders = db
        .query(
            &format!(
                "SELECT supplier, COUNT(*), {}, {}, {}, {}, {} FROM {ORDERS} \
                 GROUP BY supplier ORDER BY supplier",
                counted("submitted_at IS NOT NULL"),
                counted("status IN ('submitted', 'acknowledged', 'partially_received')"),
                counted("status = 'received'"),
                counted("status = 'cancelled'"),
                counted("status = 'rejected'"),
            ),
            &[],
        )
        .await?;
    let mut suppliers = orders
        .iter()
        .map(|row| {
            let mut r = Row(row, 0);
            Ok(SupplierPerformance {
                supplier: r.text()?,
                orders_drafted: r.int()?,
                orders_placed: r.int()?,
                orders_open: r.int()?,
                orders_received: r.int()?,
                orders_cancelled: r.int()?,
                orders_rejected: r.int()?,
                placed_amounts: Vec::new(),
                deliveries: 0,
                on_time_deliveries: 0,
                on_time_rate: None,
                lead_time_days: None,
                lead_time_days_min: None,
                lead_time_days_max: None,
            })
        })
        .collect::<Result<Vec<_>, ProjectionError>>()?;
    let amounts = db
        .query(
            &format!(
                "SELECT supplier, CAST(SUM(amount_minor) AS BIGINT), currency FROM {ORDERS} \
                 WHERE submitted_at IS NOT NULL AND status <> 'cancelled' \
                 GROUP BY supplier, currency ORDER BY supplier, currency"
            ),
            &[],
        )
        .await?;
    for row in &amounts {
        let mut r = Row(row, 0);
        let supplier = r.text()?;
        let amount = r.money()?;
        if let Some(s) = suppliers.iter_mut().find(|s| s.supplier == supplier) {
            s.placed_amounts.push(amount);
        }
    }
    let lead = "s.delivered_at_us - o.submitted_at_us";
    let deliveries = db
        .query(
            &format!(
                "SELECT o.supplier, COUNT(*), {}, \
                 CAST(AVG(CAST({lead} AS DOUBLE PRECISION)) AS DOUBLE PRECISION), \
                 MIN({lead}), MAX({lead}) \
                 FROM {SHIPMENTS} s JOIN {ORDERS} o ON o.po_id = s.po_id \
                 WHERE s.delivered_at_us IS NOT NULL GROUP BY o.supplier",
                counted("s.delivered_at_us <= s.promised_by_us"),
            ),
            &[],
        )
        .await?;
    for row in &deliveries {
        let mut r = Row(row, 0);
        let supplier = r.text()?;
        let Some(s) = suppliers.iter_mut().find(|s| s.supplier == supplier) else {
            continue;
        };
        s.deliveries = r.int()?;
        s.on_time_deliveries = r.int()?;
        s.on_time_rate =
            (s.deliveries > 0).then(|| s.on_time_deliveries as f64 / s.deliveries as f64);
        let days = |us: Option<f64>| us.map(|us| us / MICROS_PER_DAY);
        s.lead_time_days = days(r.opt_real()?);
        s.lead_time_days_min = days(r.opt_real()?);
        s.lead_time_days_max = days(r.opt_real()?);
    }
    Ok(suppliers)
}
