//! A stateful simulator of ERPNext's REST API (Frappe API v1), for the
//! stock and buying documents an integration reads and writes.
//!
//! - `GET /api/resource/{doctype}`: lists, with Frappe's `fields`,
//!   `filters`, `order_by`, `limit_start`, `limit_page_length` (20 rows
//!   unless asked) and `parent` (see `query`); answers `{"data": [...]}`.
//! - `GET /api/resource/{doctype}/{name}`: one document with its child
//!   rows, empty fields left out; `{"data": {...}}`.
//! - `POST /api/resource/{doctype}`: inserts (Item, Supplier, Warehouse,
//!   Purchase Order, Purchase Receipt; other DocTypes answer 403), with
//!   `docstatus: 1` submitting at once.
//! - `PUT /api/resource/{doctype}/{name}`: saves changes; `{"docstatus": 1}`
//!   submits a draft and `{"docstatus": 2}` cancels, as Frappe's
//!   `update_doc` → `doc.save()` does.
//! - `DELETE /api/resource/{doctype}/{name}`: deletes a draft or cancelled
//!   document (202, `{"data": "ok"}`); a submitted one answers 417.
//! - `GET /api/method/frappe.auth.get_logged_user`.
//!
//! Authentication is Frappe's token: `Authorization: token
//! <api_key>:<api_secret>`. A wrong key or secret answers 401
//! (`AuthenticationError`); no credentials make the caller Guest, who may
//! read nothing (403 `PermissionError`). Refusals carry Frappe's body:
//! `exc_type`, `exception`, `exc`, and `_server_messages` encoded twice.
//!
//! Custom fields (`custom_agentos_po_id`, `custom_agentos_receipt_id`,
//! `custom_pack_size`, `custom_lead_time_days`) exist as an administrator
//! adding them through Customize Form would have them; the two ids are
//! *Unique*, so a second order with the same id is refused like a unique
//! column refuses it: 417 `UniqueValidationError` "AgentOS PO ID must be
//! unique" (a duplicate *name* is the 409 `DuplicateEntryError`).
//! Document arithmetic (bins, received quantities) is described in
//! `rules`.

mod error;
mod meta;
mod query;
mod rules;
mod seed;
mod store;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use error::FrappeError;
use query::ListQuery;
use rules::{BinSeed, Erp};

pub use seed::{DEMO_BELOW_REORDER, GENERATED_WAREHOUSES};

/// The simulated company.
pub const COMPANY: &str = "Acme Components";
/// Its abbreviation, the suffix of its warehouses' names.
pub const ABBR: &str = "AC";
/// The warehouse every new company has for raw materials.
pub const STORES: &str = "Stores - AC";

/// A seed the simulator refused, with Frappe's message.
#[derive(Debug, thiserror::Error)]
#[error("the ERPNext simulator refused the seed: {0}")]
pub struct SeedError(String);

fn refused(refusal: FrappeError) -> SeedError {
    SeedError(refusal.body().to_string())
}

/// An item to seed, with its reorder levels and purchasing defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// `item_code`, also the Item's name.
    pub item_code: String,
    /// `item_name`.
    pub item_name: String,
    /// `stock_uom`, e.g. `Nos`.
    pub stock_uom: String,
    /// `min_order_qty`.
    pub min_order_qty: f64,
    /// `custom_pack_size`: the supplier's pack, orders being multiples of it.
    pub pack_size: Option<f64>,
    /// `lead_time_days` (a standard Item field).
    pub lead_time_days: u32,
    /// `default_supplier` of the company's row of `item_defaults`.
    pub default_supplier: Option<String>,
    /// `last_purchase_rate`, in the company's currency.
    pub last_purchase_rate: f64,
    /// Rows of `reorder_levels`: warehouse, level, quantity to order.
    pub reorder_levels: Vec<(String, f64, f64)>,
}

impl Item {
    /// An item with no reorder levels, minimum or supplier.
    pub fn new(item_code: &str, item_name: &str, stock_uom: &str) -> Self {
        Item {
            item_code: item_code.to_owned(),
            item_name: item_name.to_owned(),
            stock_uom: stock_uom.to_owned(),
            min_order_qty: 0.0,
            pack_size: None,
            lead_time_days: 0,
            default_supplier: None,
            last_purchase_rate: 0.0,
            reorder_levels: Vec::new(),
        }
    }

    /// Sets the last purchase rate.
    pub fn rate(mut self, rate: f64) -> Self {
        self.last_purchase_rate = rate;
        self
    }

    /// Adds a reorder level in `warehouse`.
    pub fn reorder(mut self, warehouse: &str, level: f64, qty: f64) -> Self {
        self.reorder_levels.push((warehouse.to_owned(), level, qty));
        self
    }

    /// Sets the default supplier.
    pub fn supplier(mut self, supplier: &str) -> Self {
        self.default_supplier = Some(supplier.to_owned());
        self
    }

    /// Sets the minimum order quantity and the pack size.
    pub fn ordering(mut self, min_order_qty: f64, pack_size: f64) -> Self {
        self.min_order_qty = min_order_qty;
        self.pack_size = Some(pack_size);
        self
    }

    fn to_json(&self) -> Map<String, Value> {
        let reorder: Vec<Value> = self
            .reorder_levels
            .iter()
            .map(|(warehouse, level, qty)| {
                json!({"warehouse": warehouse, "warehouse_reorder_level": level,
                       "warehouse_reorder_qty": qty, "material_request_type": "Purchase"})
            })
            .collect();
        let defaults: Vec<Value> = self
            .default_supplier
            .iter()
            .map(|s| json!({"company": COMPANY, "default_supplier": s}))
            .collect();
        let mut doc = json!({
            "item_code": self.item_code, "item_name": self.item_name,
            "stock_uom": self.stock_uom, "min_order_qty": self.min_order_qty,
            "lead_time_days": self.lead_time_days, "reorder_levels": reorder,
            "item_defaults": defaults, "last_purchase_rate": self.last_purchase_rate,
        });
        if let Some(pack) = self.pack_size {
            doc["custom_pack_size"] = json!(pack);
        }
        match doc {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// The stock of an item in a warehouse, to seed its Bin; `ordered_qty` and
/// `projected_qty` are derived.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Stock {
    /// On hand.
    pub actual_qty: f64,
    /// Reserved by sales orders.
    pub reserved_qty: f64,
    /// Requested by material requests.
    pub indented_qty: f64,
}

impl Stock {
    /// `actual_qty` on hand, nothing reserved or requested.
    pub fn on_hand(actual_qty: f64) -> Self {
        Stock {
            actual_qty,
            ..Stock::default()
        }
    }
}

/// The ERPNext simulator: its documents in memory, shared by every clone.
#[derive(Clone)]
pub struct ErpNextSim {
    erp: Arc<Mutex<Erp>>,
    api_key: Arc<str>,
    api_secret: Arc<str>,
}

impl std::fmt::Debug for ErpNextSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErpNextSim")
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

enum Caller {
    User,
    Guest,
}

impl ErpNextSim {
    /// A site with one company ([`COMPANY`]), its default warehouses
    /// (`Stores`, `Work In Progress`, `Finished Goods`, `Goods In Transit`)
    /// and common units, accepting one API key and secret.
    pub fn new(api_key: &str, api_secret: &str) -> Self {
        Self::seeded(api_key, api_secret, 0)
    }

    fn seeded(api_key: &str, api_secret: &str, seed: u64) -> Self {
        let sim = ErpNextSim {
            erp: Arc::new(Mutex::new(Erp::new(seed))),
            api_key: api_key.into(),
            api_secret: api_secret.into(),
        };
        {
            let mut erp = sim.lock();
            let store = &mut erp.store;
            let mut company = store::Doc::blank(&meta::COMPANY);
            company.name = COMPANY.to_owned();
            company.set(&meta::COMPANY, "company_name", json!(COMPANY));
            company.set(&meta::COMPANY, "abbr", json!(ABBR));
            store.put("Company", company);
            for uom in ["Nos", "Box", "Kg", "Meter", "Litre", "Roll", "Pair", "Unit"] {
                let mut doc = store::Doc::blank(&meta::UOM);
                doc.name = uom.to_owned();
                doc.set(&meta::UOM, "uom_name", json!(uom));
                store.put("UOM", doc);
            }
        }
        for warehouse in [
            "Stores",
            "Work In Progress",
            "Finished Goods",
            "Goods In Transit",
        ] {
            // The company and its abbreviation exist: this cannot fail.
            let _ = sim.add_warehouse(warehouse);
        }
        sim
    }

    fn lock(&self) -> MutexGuard<'_, Erp> {
        self.erp
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The HTTP API; serve it with [`crate::SimServer::start_local`].
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/resource/{doctype}", get(list).post(create))
            .route(
                "/api/resource/{doctype}/{*name}",
                get(read).put(update).delete(remove),
            )
            .route("/api/method/{*method}", get(method).post(method))
            .with_state(self.clone())
    }

    /// Adds a warehouse of the company: its name, e.g. `Main Warehouse - AC`.
    pub fn add_warehouse(&self, warehouse_name: &str) -> Result<String, SeedError> {
        let doc = json!({"warehouse_name": warehouse_name, "company": COMPANY});
        self.lock()
            .insert(&meta::WAREHOUSE, as_map(&doc))
            .map_err(refused)
    }

    /// Adds a supplier (named by its name) with a lead time in days
    /// (`custom_lead_time_days`).
    pub fn add_supplier(
        &self,
        supplier_name: &str,
        lead_time_days: Option<u32>,
    ) -> Result<String, SeedError> {
        let doc = json!({"supplier_name": supplier_name, "custom_lead_time_days": lead_time_days});
        self.lock()
            .insert(&meta::SUPPLIER, as_map(&doc))
            .map_err(refused)
    }

    /// Adds a buying price of an item (its "Standard Buying" price list),
    /// from one supplier only when `supplier` is given, valid from
    /// `valid_from` when given.
    pub fn add_item_price(
        &self,
        item_code: &str,
        rate: f64,
        supplier: Option<&str>,
        valid_from: Option<chrono::NaiveDate>,
    ) -> Result<String, SeedError> {
        let doc = json!({
            "item_code": item_code,
            "price_list_rate": rate,
            "supplier": supplier,
            "valid_from": valid_from.map(|d| d.to_string()),
        });
        self.lock()
            .insert(&meta::ITEM_PRICE, as_map(&doc))
            .map_err(refused)
    }

    /// Adds an item; its warehouses, unit and supplier must exist.
    pub fn add_item(&self, item: &Item) -> Result<String, SeedError> {
        self.lock()
            .insert(&meta::ITEM, &item.to_json())
            .map_err(refused)
    }

    /// Sets the stock of an item in a warehouse (both must exist).
    pub fn set_bin(&self, item_code: &str, warehouse: &str, stock: Stock) -> Result<(), SeedError> {
        let mut erp = self.lock();
        if !erp.store.exists("Item", item_code) {
            return Err(SeedError(format!("no item {item_code}")));
        }
        if !erp.store.exists("Warehouse", warehouse) {
            return Err(SeedError(format!("no warehouse {warehouse}")));
        }
        erp.seed_bin(
            item_code,
            warehouse,
            BinSeed {
                actual_qty: stock.actual_qty,
                reserved_qty: stock.reserved_qty,
                indented_qty: stock.indented_qty,
                ..BinSeed::default()
            },
        );
        Ok(())
    }

    /// Records the daily quantities used (`daily[0]` the oldest, the last on
    /// `until`) of an item in a warehouse as Stock Ledger Entries (negative
    /// `actual_qty`, voucher type Delivery Note; days with none used get no
    /// entry): how many entries.
    pub fn record_consumption(
        &self,
        item_code: &str,
        warehouse: &str,
        daily: &[f64],
        until: chrono::NaiveDate,
    ) -> Result<usize, SeedError> {
        let mut erp = self.lock();
        let mut recorded = 0;
        for (age, used) in daily.iter().rev().enumerate() {
            if *used <= 0.0 {
                continue;
            }
            let day = until - chrono::Duration::days(i64::try_from(age).unwrap_or(i64::MAX));
            let entry = json!({
                "item_code": item_code, "warehouse": warehouse,
                "posting_date": day.to_string(), "actual_qty": -used,
                "voucher_type": "Delivery Note", "voucher_no": format!("SIM-DN-{day}"),
                "is_cancelled": 0,
            });
            erp.insert(&meta::STOCK_LEDGER_ENTRY, as_map(&entry))
                .map_err(refused)?;
            recorded += 1;
        }
        Ok(recorded)
    }

    /// Inserts a document as the API would (`docstatus: 1` submits it):
    /// its name.
    pub fn insert(&self, doctype: &str, doc: &Value) -> Result<String, SeedError> {
        let meta =
            meta::doctype(doctype).ok_or_else(|| SeedError(format!("no DocType {doctype}")))?;
        self.lock().insert(meta, as_map(doc)).map_err(refused)
    }

    /// A document as `GET /api/resource/{doctype}/{name}` answers it.
    pub fn doc(&self, doctype: &str, name: &str) -> Option<Value> {
        let meta = meta::doctype(doctype)?;
        self.lock()
            .store
            .get(doctype, name)
            .map(|d| d.to_json(meta, None))
    }

    /// Every document of a DocType, by name.
    pub fn docs(&self, doctype: &str) -> Vec<Value> {
        let Some(meta) = meta::doctype(doctype) else {
            return Vec::new();
        };
        let erp = self.lock();
        erp.store
            .all(doctype)
            .values()
            .map(|d| d.to_json(meta, None))
            .collect()
    }

    /// Takes the custom field `field` off `doctype`, as on a site where it
    /// was never added: queries naming it are refused, inserts ignore it.
    pub fn without_custom_field(&self, doctype: &str, field: &str) {
        self.lock()
            .missing_fields
            .push((doctype.to_owned(), field.to_owned()));
    }

    /// Takes `doctype` away from the API user, as on a site where its roles
    /// do not grant it: every request for it answers 403 `PermissionError`.
    pub fn forbid(&self, doctype: &str) {
        self.lock().forbidden.push(doctype.to_owned());
    }

    /// Every purchase order, by name.
    pub fn purchase_orders(&self) -> Vec<Value> {
        self.docs("Purchase Order")
    }

    /// Every purchase receipt, by name.
    pub fn purchase_receipts(&self) -> Vec<Value> {
        self.docs("Purchase Receipt")
    }

    /// How many purchase orders carry `agentos_po_id`.
    pub fn purchase_orders_with_id(&self, agentos_po_id: &str) -> usize {
        self.purchase_orders()
            .iter()
            .filter(|po| po["custom_agentos_po_id"] == agentos_po_id)
            .count()
    }

    /// The Bin of an item in a warehouse, as the API shows it.
    pub fn bin(&self, item_code: &str, warehouse: &str) -> Option<Value> {
        let erp = self.lock();
        erp.bin(item_code, warehouse)
            .map(|b| b.to_json(&meta::BIN, None))
    }

    fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, FrappeError> {
        let Some(header) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Caller::Guest);
        };
        let Some((scheme, token)) = header.to_str().ok().and_then(|h| h.trim().split_once(' '))
        else {
            return Ok(Caller::Guest);
        };
        if !scheme.eq_ignore_ascii_case("token") {
            return Ok(Caller::Guest);
        }
        let Some((key, secret)) = token.trim().split_once(':') else {
            return Ok(Caller::Guest);
        };
        if key == &*self.api_key && secret == &*self.api_secret {
            Ok(Caller::User)
        } else {
            Err(FrappeError::authentication())
        }
    }

    /// The caller must be the API user, and the DocType known.
    fn admit(
        &self,
        headers: &HeaderMap,
        doctype: &str,
    ) -> Result<&'static meta::DocType, FrappeError> {
        let caller = self.authenticate(headers)?;
        let meta = meta::doctype(doctype)
            .ok_or_else(|| FrappeError::no_such(format!("DocType {doctype} not found")))?;
        let user = match caller {
            Caller::User if !self.lock().forbidden.iter().any(|d| d == meta.name) => {
                return Ok(meta)
            }
            Caller::User => store::USER,
            Caller::Guest => "Guest",
        };
        Err(FrappeError::permission(format!(
            "User <strong>{user}</strong> does not have doctype access via role permission for document <strong>{doctype}</strong>"
        )))
    }
}

fn as_map(value: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match value {
        Value::Object(map) => map,
        _ => EMPTY.get_or_init(Map::new),
    }
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, FrappeError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(FrappeError::throw(
            error::VALIDATION,
            "The request body must be a JSON object",
        )),
    }
}

fn answer(result: Result<Value, FrappeError>) -> Response {
    match result {
        Ok(data) => Json(json!({ "data": data })).into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn list(
    State(sim): State<ErpNextSim>,
    Path(doctype): Path<String>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    answer((|| -> Result<Value, FrappeError> {
        let meta = sim.admit(&headers, &doctype)?;
        let erp = sim.lock();
        for field in erp.lacks(meta.name) {
            let named = params.iter().any(|(key, value)| {
                matches!(key.as_str(), "fields" | "filters" | "or_filters")
                    && value.contains(&field)
            });
            if named {
                return Err(query::not_permitted(&field));
            }
        }
        let query = ListQuery::parse(meta, &params)?;
        Ok(Value::Array(query.run(&erp.store, meta)))
    })())
}

async fn create(
    State(sim): State<ErpNextSim>,
    Path(doctype): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| -> Result<Value, FrappeError> {
        let meta = sim.admit(&headers, &doctype)?;
        if !meta.creatable {
            return Err(FrappeError::insufficient_permission(meta.name));
        }
        let input = body_object(&body)?;
        let mut erp = sim.lock();
        let name = erp.insert(meta, &input)?;
        erp.store
            .get(meta.name, &name)
            .map(|d| d.to_json(meta, None))
            .ok_or_else(|| FrappeError::not_found(meta.name, &name))
    })())
}

async fn read(
    State(sim): State<ErpNextSim>,
    Path((doctype, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    answer((|| -> Result<Value, FrappeError> {
        let meta = sim.admit(&headers, &doctype)?;
        let name = name.trim_end_matches('/');
        let erp = sim.lock();
        erp.store
            .get(meta.name, name)
            .map(|d| d.to_json(meta, None))
            .ok_or_else(|| FrappeError::not_found(meta.name, name))
    })())
}

async fn update(
    State(sim): State<ErpNextSim>,
    Path((doctype, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    answer((|| -> Result<Value, FrappeError> {
        let meta = sim.admit(&headers, &doctype)?;
        if !meta.creatable {
            return Err(FrappeError::insufficient_permission(meta.name));
        }
        let name = name.trim_end_matches('/');
        let input = body_object(&body)?;
        let mut erp = sim.lock();
        erp.update(meta, name, &input)?;
        erp.store
            .get(meta.name, name)
            .map(|d| d.to_json(meta, None))
            .ok_or_else(|| FrappeError::not_found(meta.name, name))
    })())
}

async fn remove(
    State(sim): State<ErpNextSim>,
    Path((doctype, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let result = (|| -> Result<(), FrappeError> {
        let meta = sim.admit(&headers, &doctype)?;
        if !meta.creatable {
            return Err(FrappeError::insufficient_permission(meta.name));
        }
        sim.lock().delete(meta, name.trim_end_matches('/'))
    })();
    match result {
        Ok(()) => (
            axum::http::StatusCode::ACCEPTED,
            Json(json!({ "data": "ok" })),
        )
            .into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

async fn method(
    State(sim): State<ErpNextSim>,
    Path(method): Path<String>,
    headers: HeaderMap,
) -> Response {
    let caller = match sim.authenticate(&headers) {
        Ok(caller) => caller,
        Err(refusal) => return refusal.into_response(),
    };
    match (method.as_str(), caller) {
        ("frappe.auth.get_logged_user", Caller::User) => {
            Json(json!({ "message": store::USER })).into_response()
        }
        ("frappe.auth.get_logged_user", Caller::Guest) => {
            FrappeError::permission("Not permitted").into_response()
        }
        (other, _) => FrappeError::no_such(format!("Failed to get method for command {other}"))
            .into_response(),
    }
}
