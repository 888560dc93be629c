//! ERPNext's documents as the client reads and writes them: plain serde
//! structs with ERPNext's field names (custom fields renamed to what they
//! mean for us), to be mapped by the agent that uses them.
//!
//! Frappe leaves empty fields out of a single document and sends numbers
//! as JSON numbers, checks as 0/1 and dates as `YYYY-MM-DD`; every field
//! here has a default so a missing one reads as empty.

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};

/// The custom field (Data, Unique) on Purchase Order carrying our purchase
/// order's id: label "AgentOS PO ID", which Customize Form names
/// `custom_agentos_po_id`.
pub const PO_ID_FIELD: &str = "custom_agentos_po_id";
/// The custom field (Data, Unique) on Purchase Receipt carrying our
/// receipt's id: label "AgentOS Receipt ID".
pub const RECEIPT_ID_FIELD: &str = "custom_agentos_receipt_id";
/// The custom field (Float) on Item holding the supplier's pack size:
/// label "Pack Size".
pub const PACK_SIZE_FIELD: &str = "custom_pack_size";
/// The custom field (Int) on Supplier holding its usual lead time in
/// days: label "Lead Time Days".
pub const SUPPLIER_LEAD_TIME_FIELD: &str = "custom_lead_time_days";

/// A document's `docstatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum DocStatus {
    /// 0: saved, editable, no effect yet.
    #[default]
    Draft,
    /// 1: submitted; its effects (ordered, received quantities) are booked.
    Submitted,
    /// 2: cancelled.
    Cancelled,
}

impl TryFrom<u8> for DocStatus {
    type Error = String;

    fn try_from(value: u8) -> Result<Self, Self::Error> {
        match value {
            0 => Ok(DocStatus::Draft),
            1 => Ok(DocStatus::Submitted),
            2 => Ok(DocStatus::Cancelled),
            other => Err(format!("docstatus {other} is not 0, 1 or 2")),
        }
    }
}

impl From<DocStatus> for u8 {
    fn from(status: DocStatus) -> u8 {
        match status {
            DocStatus::Draft => 0,
            DocStatus::Submitted => 1,
            DocStatus::Cancelled => 2,
        }
    }
}

/// A document's name and status in ERPNext.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErpDocRef {
    /// Its name, e.g. `PUR-ORD-2026-00001`.
    pub name: String,
    /// Its docstatus.
    #[serde(default)]
    pub docstatus: DocStatus,
}

/// Reads a Check (0/1, or a boolean) as a bool.
fn check<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        Some(serde_json::Value::Bool(b)) => b,
        Some(serde_json::Value::Number(n)) => n.as_f64().unwrap_or(0.0) != 0.0,
        Some(serde_json::Value::String(s)) => s.trim() == "1",
        _ => false,
    })
}

/// Reads a positive number as `Some`, and 0 or nothing as `None`.
fn positive<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    let value = Option::<f64>::deserialize(deserializer)?;
    Ok(value.filter(|v| *v > 0.0))
}

/// Reads a whole number of days, 0 or nothing as `None`.
fn days<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    let value = Option::<f64>::deserialize(deserializer)?;
    Ok(value
        .filter(|v| *v > 0.0)
        .map(|v| v.round().min(f64::from(u32::MAX)) as u32))
}

/// An Item, with its reorder levels and default supplier.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ErpItem {
    /// `item_code` (also its name).
    pub item_code: String,
    /// `item_name`.
    pub item_name: String,
    /// `stock_uom`, the unit quantities are in.
    pub stock_uom: String,
    /// `is_stock_item`: whether stock is kept of it.
    #[serde(deserialize_with = "check")]
    pub is_stock_item: bool,
    /// `disabled`.
    #[serde(deserialize_with = "check")]
    pub disabled: bool,
    /// `min_order_qty`.
    pub min_order_qty: f64,
    /// `safety_stock`.
    pub safety_stock: f64,
    /// `lead_time_days` (standard field "Lead Time in days"), if set.
    #[serde(deserialize_with = "days")]
    pub lead_time_days: Option<u32>,
    /// The supplier's pack size ([`PACK_SIZE_FIELD`]), if set.
    #[serde(rename = "custom_pack_size", deserialize_with = "positive")]
    pub pack_size: Option<f64>,
    /// `last_purchase_rate`, in the company's currency (0 when never bought).
    pub last_purchase_rate: f64,
    /// `default_supplier` of the item's defaults (for the configured
    /// company, else the first row that names one).
    #[serde(skip)]
    pub default_supplier: Option<String>,
    /// The rows of `reorder_levels` (child DocType Item Reorder).
    #[serde(skip)]
    pub reorder_levels: Vec<ErpReorderLevel>,
}

/// One row of an Item's `reorder_levels`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ErpReorderLevel {
    /// `warehouse` ("Request for").
    pub warehouse: String,
    /// `warehouse_reorder_level`: order when the projected quantity falls below.
    pub warehouse_reorder_level: f64,
    /// `warehouse_reorder_qty`: how much to order.
    pub warehouse_reorder_qty: f64,
    /// `material_request_type`, e.g. `Purchase`.
    pub material_request_type: String,
}

/// A row of Item Reorder or Item Default as listed: the item it belongs to.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ItemRow<T> {
    pub parent: String,
    #[serde(flatten)]
    pub row: T,
}

/// One row of an Item's `item_defaults`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ItemDefault {
    pub company: String,
    pub default_supplier: Option<String>,
}

/// A Stock Ledger Entry: one change of an item's stock in a warehouse.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ErpStockLedgerEntry {
    /// `item_code`.
    pub item_code: String,
    /// `warehouse`.
    pub warehouse: String,
    /// `posting_date`.
    pub posting_date: Option<NaiveDate>,
    /// `actual_qty`: the change, negative when stock was used or shipped.
    pub actual_qty: f64,
}

/// A Bin: an item's quantities in one warehouse.
///
/// `projected_qty` = `actual_qty` + `ordered_qty` + `indented_qty` +
/// `planned_qty` − `reserved_qty` − `reserved_qty_for_production` −
/// `reserved_qty_for_sub_contract`, as ERPNext computes it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ErpBin {
    /// `item_code`.
    pub item_code: String,
    /// `warehouse`.
    pub warehouse: String,
    /// On hand.
    pub actual_qty: f64,
    /// Expected from submitted purchase orders.
    pub ordered_qty: f64,
    /// Requested by material requests.
    pub indented_qty: f64,
    /// Planned by work orders.
    pub planned_qty: f64,
    /// Reserved by sales orders.
    pub reserved_qty: f64,
    /// Reserved for production.
    pub reserved_qty_for_production: f64,
    /// Reserved for subcontracting.
    pub reserved_qty_for_sub_contract: f64,
    /// What will be available.
    pub projected_qty: f64,
    /// `stock_uom`.
    pub stock_uom: String,
}

/// A Supplier.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ErpSupplier {
    /// Its name (the link other documents hold).
    pub name: String,
    /// `supplier_name`.
    pub supplier_name: String,
    /// `supplier_group`.
    pub supplier_group: String,
    /// `disabled`.
    #[serde(deserialize_with = "check")]
    pub disabled: bool,
    /// Its usual lead time ([`SUPPLIER_LEAD_TIME_FIELD`]), if set.
    #[serde(rename = "custom_lead_time_days", deserialize_with = "days")]
    pub lead_time_days: Option<u32>,
}

/// An Item Price: a rate of an item on a price list, perhaps of one supplier.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ErpItemPrice {
    /// Its name.
    pub name: String,
    /// `item_code`.
    pub item_code: String,
    /// `price_list`, e.g. `Standard Buying`.
    pub price_list: String,
    /// `price_list_rate`, per stock unit, in `currency`.
    pub price_list_rate: f64,
    /// `currency`.
    pub currency: String,
    /// `supplier`: the price is this supplier's only.
    pub supplier: Option<String>,
    /// `valid_from`.
    pub valid_from: Option<NaiveDate>,
    /// `valid_upto`.
    pub valid_upto: Option<NaiveDate>,
}

/// A purchase order to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurchaseOrderDoc {
    /// Our purchase order's id, stored in [`PO_ID_FIELD`]: the key that
    /// makes creation idempotent.
    #[serde(rename = "custom_agentos_po_id")]
    pub agentos_po_id: String,
    /// The Supplier's name.
    pub supplier: String,
    /// The company; ERPNext's default company when `None` (or the
    /// client's configured one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// The order's date; today when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_date: Option<NaiveDate>,
    /// When the goods are required (lines without their own date get it).
    pub schedule_date: NaiveDate,
    /// The warehouse lines without their own go to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_warehouse: Option<String>,
    /// The lines.
    pub items: Vec<PurchaseOrderLine>,
}

/// A line of a purchase order to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurchaseOrderLine {
    /// The Item.
    pub item_code: String,
    /// Quantity, in the item's stock unit.
    pub qty: f64,
    /// Price per unit, in the order's currency.
    pub rate: f64,
    /// Target warehouse; the order's `set_warehouse` when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse: Option<String>,
    /// Required by; the order's `schedule_date` when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_date: Option<NaiveDate>,
}

/// A Purchase Order as ERPNext holds it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ErpPurchaseOrder {
    /// Its name, e.g. `PUR-ORD-2026-00001`.
    pub name: String,
    /// Our id ([`PO_ID_FIELD`]), if it was created by us.
    #[serde(rename = "custom_agentos_po_id")]
    pub agentos_po_id: Option<String>,
    /// The Supplier.
    pub supplier: String,
    /// The company.
    pub company: String,
    /// The order's date.
    pub transaction_date: Option<NaiveDate>,
    /// The earliest required-by date of its lines.
    pub schedule_date: Option<NaiveDate>,
    /// The default target warehouse.
    pub set_warehouse: Option<String>,
    /// Its currency.
    pub currency: Option<String>,
    /// Draft, submitted or cancelled.
    pub docstatus: DocStatus,
    /// ERPNext's status: `Draft`, `To Receive and Bill`, `To Bill`,
    /// `Completed`, `Closed`, `Cancelled` …
    pub status: String,
    /// How much of the ordered quantity was received, in percent.
    pub per_received: f64,
    /// The total with taxes.
    pub grand_total: f64,
    /// The lines.
    pub items: Vec<ErpPurchaseOrderItem>,
}

/// A line of a Purchase Order.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ErpPurchaseOrderItem {
    /// The row's name, which receipts refer to (`purchase_order_item`).
    pub name: String,
    /// The Item.
    pub item_code: String,
    /// Quantity ordered, in `uom`.
    pub qty: f64,
    /// Quantity received so far.
    pub received_qty: f64,
    /// Price per unit.
    pub rate: f64,
    /// `qty` × `rate`.
    pub amount: f64,
    /// Target warehouse.
    pub warehouse: Option<String>,
    /// Required by.
    pub schedule_date: Option<NaiveDate>,
    /// The unit of `qty`.
    pub uom: String,
    /// Stock units per `uom`.
    pub conversion_factor: f64,
}

/// A purchase receipt to create: goods received against purchase orders.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseReceiptDoc {
    /// Our receipt's id, stored in [`RECEIPT_ID_FIELD`].
    pub agentos_receipt_id: String,
    /// The Supplier; the (first) order's supplier when `None`.
    pub supplier: Option<String>,
    /// The company; as for purchase orders.
    pub company: Option<String>,
    /// The posting date; now when `None` (ERPNext keeps a given date only
    /// with `set_posting_time`, which the client then sets).
    pub posting_date: Option<NaiveDate>,
    /// The lines.
    pub items: Vec<PurchaseReceiptLine>,
}

/// A line of a purchase receipt to create.
#[derive(Debug, Clone, PartialEq)]
pub struct PurchaseReceiptLine {
    /// The Item.
    pub item_code: String,
    /// Quantity accepted.
    pub qty: f64,
    /// The Purchase Order received against; the client finds its line
    /// for the item (`purchase_order_item`), which is what makes ERPNext
    /// update the order's received quantities.
    pub purchase_order: String,
    /// Accepted warehouse; the order line's warehouse when `None`.
    pub warehouse: Option<String>,
    /// Price per unit; the order line's rate when `None`.
    pub rate: Option<f64>,
}

/// A Purchase Receipt as ERPNext holds it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ErpPurchaseReceipt {
    /// Its name, e.g. `MAT-PRE-2026-00001`.
    pub name: String,
    /// Our id ([`RECEIPT_ID_FIELD`]), if it was created by us.
    #[serde(rename = "custom_agentos_receipt_id")]
    pub agentos_receipt_id: Option<String>,
    /// The Supplier.
    pub supplier: String,
    /// The posting date.
    pub posting_date: Option<NaiveDate>,
    /// Draft, submitted or cancelled.
    pub docstatus: DocStatus,
    /// ERPNext's status.
    pub status: String,
    /// The lines.
    pub items: Vec<ErpPurchaseReceiptItem>,
}

/// A line of a Purchase Receipt.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct ErpPurchaseReceiptItem {
    /// The Item.
    pub item_code: String,
    /// Quantity accepted.
    pub qty: f64,
    /// Quantity received (accepted and rejected).
    pub received_qty: f64,
    /// Accepted warehouse.
    pub warehouse: Option<String>,
    /// The Purchase Order.
    pub purchase_order: Option<String>,
    /// The Purchase Order's row.
    pub purchase_order_item: Option<String>,
}
