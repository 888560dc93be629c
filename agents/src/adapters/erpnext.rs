//! The ERPNext adapter: a client of Frappe's REST API (v1) for the stock
//! and buying documents the Logistics agent reads and writes — Items with
//! their reorder levels, Bins, Suppliers, Purchase Orders and Purchase
//! Receipts.
//!
//! Every request goes through the [`Adapter`] named [`SYSTEM`] (timeout,
//! bounded retries of 429/5xx/transport failures, circuit breaker); a list
//! is read page by page, each page one guarded call, ordered by name so
//! that pages do not shift, and rows are kept once each by name.
//!
//! Authentication is Frappe's API token, `Authorization: token
//! <api_key>:<api_secret>`; the secret is never logged, printed or put in
//! an error.
//!
//! Writes are idempotent on our ids, kept in custom fields that must exist
//! (Customize Form; Frappe names them with a `custom_` prefix, see
//! [`PO_ID_FIELD`] and [`RECEIPT_ID_FIELD`]) and be *Unique*:
//! - creating a purchase order first looks it up by our id, and creates it
//!   only if absent; if the create is refused as a duplicate (another
//!   attempt got there first) or its answer was lost and the call retried,
//!   the lookup finds the one document;
//! - submitting is `PUT /api/resource/Purchase Order/{name}` with
//!   `{"docstatus": 1}`: Frappe's `update_doc` updates and saves the
//!   document, and `save` turns a 0 → 1 docstatus into a submit
//!   (`check_docstatus_transition`), running ERPNext's `on_submit`;
//!   `POST /api/method/frappe.client.submit` would need the whole
//!   document sent back. The document is read first: already submitted is
//!   done, cancelled is [`ErpError::Cancelled`]. Cancelling is the same
//!   `PUT` with `{"docstatus": 2}`;
//! - purchase receipts the same way, each line pointing at its order's row
//!   (`purchase_order_item`), without which ERPNext would not count the
//!   goods as received on the order.

mod buying;
mod docs;
mod error;

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::NaiveDate;

use reqwest::header::{HeaderValue, AUTHORIZATION};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

pub use docs::{
    DocStatus, ErpBin, ErpDocRef, ErpItem, ErpItemPrice, ErpPurchaseOrder, ErpPurchaseOrderItem,
    ErpPurchaseReceipt, ErpPurchaseReceiptItem, ErpReorderLevel, ErpStockLedgerEntry, ErpSupplier,
    PurchaseOrderDoc, PurchaseOrderLine, PurchaseReceiptDoc, PurchaseReceiptLine, PACK_SIZE_FIELD,
    PO_ID_FIELD, RECEIPT_ID_FIELD, SUPPLIER_LEAD_TIME_FIELD,
};
pub use error::{server_messages, ErpError};

use super::{Adapter, AdapterHealth, CallError, CallPolicy, HealthBoard};
use docs::{ItemDefault, ItemRow};
use error::excerpt;

/// The adapter's name on the health board.
pub const SYSTEM: &str = "erpnext";

/// What the client's calls answer: the value, or why not (after the
/// policy's retries).
pub type ErpResult<T> = Result<T, CallError<ErpError>>;

/// How to reach ERPNext.
#[derive(Clone)]
pub struct ErpNextConfig {
    /// The site's URL, e.g. `https://erp.example.com`.
    pub base_url: String,
    /// The API user's key.
    pub api_key: String,
    /// The API user's secret; never logged.
    pub api_secret: String,
    /// The company documents are created for, and whose item defaults are
    /// read; ERPNext's default company when `None`.
    pub company: Option<String>,
    /// Rows asked per page (Frappe answers 20 when not asked).
    pub page_size: usize,
    /// Timeouts, retries and circuit breaker.
    pub policy: CallPolicy,
}

impl ErpNextConfig {
    /// A configuration with 500 rows a page and the default policy.
    pub fn new(base_url: &str, api_key: &str, api_secret: &str) -> Self {
        ErpNextConfig {
            base_url: base_url.to_owned(),
            api_key: api_key.to_owned(),
            api_secret: api_secret.to_owned(),
            company: None,
            page_size: 500,
            policy: CallPolicy::default(),
        }
    }
}

impl fmt::Debug for ErpNextConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErpNextConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("company", &self.company)
            .field("page_size", &self.page_size)
            .field("policy", &self.policy)
            .finish()
    }
}

/// The ERPNext client.
#[derive(Clone)]
pub struct ErpNext {
    base: Url,
    auth: HeaderValue,
    company: Option<String>,
    page_size: usize,
    http: reqwest::Client,
    adapter: Adapter,
}

impl fmt::Debug for ErpNext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErpNext")
            .field("base", &self.base.as_str())
            .field("company", &self.company)
            .field("page_size", &self.page_size)
            .finish_non_exhaustive()
    }
}

/// One list request, page after page.
struct Listing<'a> {
    doctype: &'a str,
    fields: String,
    filters: String,
    order_by: &'a str,
    parent: Option<&'a str>,
}

fn transport(error: reqwest::Error) -> ErpError {
    let error = error.without_url();
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ErpError::Transport(message)
}

fn invalid(message: impl Into<String>) -> CallError<ErpError> {
    CallError::Failed(ErpError::InvalidRequest(message.into()))
}

impl ErpNext {
    /// A client for `config`, registered as [`SYSTEM`] on `board`.
    pub fn new(config: ErpNextConfig, board: &HealthBoard) -> Result<Self, ErpError> {
        let base = Url::parse(config.base_url.trim_end_matches('/'))
            .ok()
            .filter(|url| !url.cannot_be_a_base())
            .ok_or_else(|| ErpError::InvalidRequest(format!("base URL {:?}", config.base_url)))?;
        let mut auth =
            HeaderValue::from_str(&format!("token {}:{}", config.api_key, config.api_secret))
                .map_err(|_| {
                    ErpError::InvalidRequest(
                        "the API key or secret is not a valid header value".into(),
                    )
                })?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(config.policy.timeout)
            .connect_timeout(
                config
                    .policy
                    .timeout
                    .min(std::time::Duration::from_secs(10)),
            )
            .build()
            .map_err(transport)?;
        Ok(ErpNext {
            base,
            auth,
            company: config.company,
            page_size: config.page_size.max(1),
            http,
            adapter: Adapter::new(SYSTEM, config.policy, board),
        })
    }

    /// What the adapter has seen of ERPNext.
    pub fn health(&self) -> AdapterHealth {
        self.adapter.health()
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// One request: its JSON body, or the error its answer means.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Value, ErpError> {
        let path = url.path().to_owned();
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(transport)?;
        tracing::debug!(system = SYSTEM, %method, path, status, "ERPNext answered");
        if !(200..300).contains(&status) {
            return Err(ErpError::from_answer(status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|_| ErpError::Unexpected {
            status,
            excerpt: excerpt(&bytes),
        })
    }

    /// The `data` of an answer, read as `T`.
    fn data<T: DeserializeOwned>(answer: Value) -> Result<T, ErpError> {
        let excerpt_of = |v: &Value| excerpt(v.to_string().as_bytes());
        match answer {
            Value::Object(mut map) => match map.remove("data") {
                Some(data) => {
                    let shown = excerpt_of(&data);
                    serde_json::from_value(data).map_err(|e| ErpError::Unexpected {
                        status: 200,
                        excerpt: format!("{e}: {shown}"),
                    })
                }
                None => Err(ErpError::Unexpected {
                    status: 200,
                    excerpt: excerpt_of(&Value::Object(map)),
                }),
            },
            other => Err(ErpError::Unexpected {
                status: 200,
                excerpt: excerpt_of(&other),
            }),
        }
    }

    async fn read_doc<T: DeserializeOwned>(
        &self,
        doctype: &str,
        name: &str,
    ) -> Result<T, ErpError> {
        let url = self.url(&["api", "resource", doctype, name]);
        Self::data(self.send(Method::GET, url, None).await?)
    }

    async fn page(
        &self,
        listing: &Listing<'_>,
        start: usize,
        length: usize,
    ) -> Result<Vec<Value>, ErpError> {
        let mut url = self.url(&["api", "resource", listing.doctype]);
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("fields", &listing.fields)
                .append_pair("filters", &listing.filters)
                .append_pair("order_by", listing.order_by)
                .append_pair("limit_start", &start.to_string())
                .append_pair("limit_page_length", &length.to_string());
            if let Some(parent) = listing.parent {
                query.append_pair("parent", parent);
            }
        }
        Self::data(self.send(Method::GET, url, None).await?)
    }

    /// Every row of a listing, page after page (each page a guarded call),
    /// each row once by name.
    async fn list<T: DeserializeOwned>(&self, listing: Listing<'_>) -> ErpResult<Vec<T>> {
        let mut seen = HashSet::new();
        let mut rows = Vec::new();
        let mut start = 0;
        loop {
            let page = self
                .adapter
                .call(|| self.page(&listing, start, self.page_size))
                .await?;
            let fetched = page.len();
            let mut fresh = 0;
            for row in page {
                let name = row.get("name").and_then(Value::as_str).map(str::to_owned);
                if let Some(name) = name {
                    if !seen.insert(name) {
                        continue;
                    }
                }
                fresh += 1;
                rows.push(serde_json::from_value(row).map_err(|e| {
                    CallError::Failed(ErpError::Unexpected {
                        status: 200,
                        excerpt: format!("a {} row: {e}", listing.doctype),
                    })
                })?);
            }
            // A short page is the last; a page of rows already seen means
            // the server ignores `limit_start`: stop rather than loop.
            if fetched < self.page_size || fresh == 0 {
                return Ok(rows);
            }
            start += fetched;
        }
    }

    fn listing<'a>(
        doctype: &'a str,
        fields: &[&str],
        filters: Value,
        order_by: &'a str,
    ) -> Listing<'a> {
        Listing {
            doctype,
            fields: json!(fields).to_string(),
            filters: filters.to_string(),
            order_by,
            parent: None,
        }
    }

    /// The logged-in user of the API key (`frappe.auth.get_logged_user`):
    /// a check of the credentials.
    pub async fn logged_user(&self) -> ErpResult<String> {
        let url = self.url(&["api", "method", "frappe.auth.get_logged_user"]);
        let answer = self
            .adapter
            .call(|| self.send(Method::GET, url.clone(), None))
            .await?;
        answer
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                CallError::Failed(ErpError::Unexpected {
                    status: 200,
                    excerpt: excerpt(answer.to_string().as_bytes()),
                })
            })
    }

    /// Every Item, with its reorder levels and default supplier (three
    /// listings: Item, then its child tables Item Reorder and Item Default).
    pub async fn items(&self) -> ErpResult<Vec<ErpItem>> {
        let mut items: Vec<ErpItem> = self
            .list(Self::listing("Item", &["*"], json!([]), "name asc"))
            .await?;
        let reorder_fields = [
            "name",
            "parent",
            "warehouse",
            "warehouse_reorder_level",
            "warehouse_reorder_qty",
            "material_request_type",
        ];
        let mut levels = Self::listing(
            "Item Reorder",
            &reorder_fields,
            json!([]),
            "parent asc, idx asc",
        );
        levels.parent = Some("Item");
        let levels: Vec<ItemRow<ErpReorderLevel>> = self.list(levels).await?;
        let default_fields = ["name", "parent", "company", "default_supplier"];
        let mut defaults = Self::listing(
            "Item Default",
            &default_fields,
            json!([]),
            "parent asc, idx asc",
        );
        defaults.parent = Some("Item");
        let defaults: Vec<ItemRow<ItemDefault>> = self.list(defaults).await?;

        let mut levels_of: HashMap<String, Vec<ErpReorderLevel>> = HashMap::new();
        for level in levels {
            levels_of.entry(level.parent).or_default().push(level.row);
        }
        let mut supplier_of: HashMap<String, String> = HashMap::new();
        for default in defaults {
            let Some(supplier) = default.row.default_supplier.filter(|s| !s.is_empty()) else {
                continue;
            };
            let ours = self.company.as_deref() == Some(default.row.company.as_str());
            if ours || !supplier_of.contains_key(&default.parent) {
                supplier_of.insert(default.parent, supplier);
            }
        }
        for item in &mut items {
            item.reorder_levels = levels_of.remove(&item.item_code).unwrap_or_default();
            item.default_supplier = supplier_of.remove(&item.item_code);
        }
        Ok(items)
    }

    /// Every Bin, or those of one warehouse.
    pub async fn bins(&self, warehouse: Option<&str>) -> ErpResult<Vec<ErpBin>> {
        let filters = match warehouse {
            Some(warehouse) => json!([["warehouse", "=", warehouse]]),
            None => json!([]),
        };
        self.list(Self::listing("Bin", &["*"], filters, "name asc"))
            .await
    }

    /// Stock used or shipped since `since` (inclusive): every Stock Ledger
    /// Entry with a negative quantity that is not cancelled, oldest first.
    pub async fn consumption(&self, since: NaiveDate) -> ErpResult<Vec<ErpStockLedgerEntry>> {
        let filters = json!([
            ["posting_date", ">=", since.to_string()],
            ["actual_qty", "<", 0],
            ["is_cancelled", "=", 0],
        ]);
        let fields = [
            "name",
            "item_code",
            "warehouse",
            "posting_date",
            "actual_qty",
        ];
        self.list(Self::listing(
            "Stock Ledger Entry",
            &fields,
            filters,
            "name asc",
        ))
        .await
    }

    /// Every Supplier.
    pub async fn suppliers(&self) -> ErpResult<Vec<ErpSupplier>> {
        self.list(Self::listing("Supplier", &["*"], json!([]), "name asc"))
            .await
    }

    /// Every buying Item Price (every price list, every supplier).
    pub async fn buying_prices(&self) -> ErpResult<Vec<ErpItemPrice>> {
        let fields = [
            "name",
            "item_code",
            "price_list",
            "price_list_rate",
            "currency",
            "supplier",
            "valid_from",
            "valid_upto",
        ];
        self.list(Self::listing(
            "Item Price",
            &fields,
            json!([["buying", "=", 1]]),
            "name asc",
        ))
        .await
    }
}
