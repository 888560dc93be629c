//! What ERPNext does when a document is inserted, saved, submitted or
//! cancelled, for the DocTypes the simulator knows, in Frappe's order:
//! the controller fills in what it derives, links are checked, the
//! controller validates, mandatory fields are checked, the name is set and
//! unique columns are enforced. What submitting and cancelling do to stock
//! and to orders is in `stock`.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Utc};
use serde_json::{json, Map, Value};

use super::error::{
    FrappeError, DOCSTATUS_TRANSITION, INVALID_QTY, LINK_VALIDATION, UNIQUE_VALIDATION,
    UPDATE_AFTER_SUBMIT, VALIDATION,
};
use super::meta::{
    self, DocType, Kind, Naming, ITEM, PURCHASE_ORDER, PURCHASE_ORDER_ITEM, PURCHASE_RECEIPT,
    PURCHASE_RECEIPT_ITEM,
};
use super::store::{read_onto, Doc, Store};

pub(crate) use stock::BinSeed;

mod stock;

/// The simulator's company: its documents and the index of its bins.
#[derive(Debug)]
pub(crate) struct Erp {
    pub store: Store,
    /// Bin names by (item code, warehouse).
    pub(super) bins: HashMap<(String, String), String>,
    /// Custom fields this site lacks, as (DocType, field): a query naming
    /// one is refused and an insert ignores it, as Frappe does with a field
    /// it does not have.
    pub missing_fields: Vec<(String, String)>,
    /// DocTypes the API user's roles do not let it read or write.
    pub forbidden: Vec<String>,
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub(super) fn bold(text: &str) -> String {
    format!("<strong>{text}</strong>")
}

impl Erp {
    pub fn new(seed: u64) -> Erp {
        Erp {
            store: Store::new(seed),
            bins: HashMap::new(),
            missing_fields: Vec::new(),
            forbidden: Vec::new(),
        }
    }

    /// The custom fields this site lacks on `doctype`.
    pub fn lacks(&self, doctype: &str) -> Vec<String> {
        self.missing_fields
            .iter()
            .filter(|(d, _)| d == doctype)
            .map(|(_, f)| f.clone())
            .collect()
    }

    /// The company a document gets when it names none (the user default
    /// of a one-company site).
    fn default_company(&self) -> Option<String> {
        self.store.all("Company").keys().next().cloned()
    }

    /// Inserts a document from its JSON, as `POST /api/resource/{doctype}`;
    /// `docstatus: 1` in the JSON submits it in the same request. Answers
    /// the new document's name.
    pub fn insert(
        &mut self,
        meta: &'static DocType,
        input: &Map<String, Value>,
    ) -> Result<String, FrappeError> {
        let mut doc = Doc::blank(meta);
        let mut input = input.clone();
        for field in self.lacks(meta.name) {
            input.remove(&field);
        }
        read_onto(meta, &mut doc, &input)?;
        let wanted = input.get("docstatus").and_then(Value::as_u64).unwrap_or(0);
        if wanted == 2 {
            return Err(FrappeError::throw(
                DOCSTATUS_TRANSITION,
                "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)",
            ));
        }
        if wanted == 1 && !meta.submittable {
            return Err(FrappeError::throw(VALIDATION, "Invalid docstatus"));
        }
        self.validate(meta, &mut doc, true)?;
        self.set_name(meta, &mut doc)?;
        self.check_unique(meta, &doc)?;
        let now = self.store.stamp();
        doc.creation = now;
        doc.modified = now;
        for rows in &mut doc.tables {
            for row in rows.iter_mut() {
                if row.name.is_empty() {
                    row.name = self.store.hash();
                }
                row.creation = now;
                row.modified = now;
            }
        }
        let name = doc.name.clone();
        self.store.put(meta.name, doc);
        if wanted == 1 {
            if let Err(refusal) = self.submit(meta, &name) {
                // The request's transaction is rolled back: nothing stays.
                self.store.remove(meta.name, &name);
                return Err(refusal);
            }
        }
        Ok(name)
    }

    /// Saves changes to a document, as `PUT /api/resource/{doctype}/{name}`
    /// (`doc.update(data); doc.save()`): `docstatus` 0→1 submits, 1→2
    /// cancels, 1→1 is an update after submit (refused if it changes a
    /// field), and a cancelled document cannot be edited.
    pub fn update(
        &mut self,
        meta: &'static DocType,
        name: &str,
        input: &Map<String, Value>,
    ) -> Result<(), FrappeError> {
        let current = self
            .store
            .get(meta.name, name)
            .cloned()
            .ok_or_else(|| FrappeError::not_found(meta.name, name))?;
        let wanted = input
            .get("docstatus")
            .and_then(Value::as_u64)
            .map_or(current.docstatus, |d| u8::try_from(d).unwrap_or(u8::MAX));
        match (current.docstatus, wanted) {
            (2, _) => Err(FrappeError::throw(
                VALIDATION,
                "Cannot edit cancelled document",
            )),
            (1, 0) => Err(FrappeError::throw(
                DOCSTATUS_TRANSITION,
                "Cannot change docstatus from 1 (Submitted) to 0 (Draft)",
            )),
            (0, 2) => Err(FrappeError::throw(
                DOCSTATUS_TRANSITION,
                "Cannot change docstatus from 0 (Draft) to 2 (Cancelled)",
            )),
            (1, 1) => {
                self.refuse_changes_after_submit(meta, &current, input)?;
                let now = self.store.stamp();
                if let Some(doc) = self.store.get_mut(meta.name, name) {
                    doc.modified = now;
                }
                Ok(())
            }
            (1, 2) => self.cancel(meta, name),
            (0, 0 | 1) => {
                let mut doc = current;
                let mut fields = input.clone();
                fields.remove("docstatus");
                read_onto(meta, &mut doc, &fields)?;
                self.validate(meta, &mut doc, false)?;
                self.check_unique(meta, &doc)?;
                doc.modified = self.store.stamp();
                for rows in &mut doc.tables {
                    for row in rows.iter_mut() {
                        if row.name.is_empty() {
                            row.name = self.store.hash();
                            row.creation = doc.modified;
                        }
                        row.modified = doc.modified;
                    }
                }
                let before = self.store.get(meta.name, name).cloned();
                self.store.put(meta.name, doc);
                if wanted == 1 {
                    if let Err(refusal) = self.submit(meta, name) {
                        if let Some(before) = before {
                            self.store.put(meta.name, before);
                        }
                        return Err(refusal);
                    }
                }
                Ok(())
            }
            _ => Err(FrappeError::throw(VALIDATION, "Invalid docstatus")),
        }
    }

    /// Deletes a draft or cancelled document, as `DELETE
    /// /api/resource/{doctype}/{name}` (`frappe.delete_doc`); a submitted
    /// one must be cancelled first.
    pub fn delete(&mut self, meta: &'static DocType, name: &str) -> Result<(), FrappeError> {
        let doc = self
            .store
            .get(meta.name, name)
            .ok_or_else(|| FrappeError::not_found(meta.name, name))?;
        if doc.docstatus == 1 {
            return Err(FrappeError::throw(
                VALIDATION,
                "Submitted Record cannot be deleted. You must Cancel it first.",
            ));
        }
        self.store.remove(meta.name, name);
        Ok(())
    }

    fn refuse_changes_after_submit(
        &self,
        meta: &DocType,
        current: &Doc,
        input: &Map<String, Value>,
    ) -> Result<(), FrappeError> {
        for field in meta.fields {
            let Some(given) = input.get(field.name) else {
                continue;
            };
            let changed = match field.kind {
                Kind::Table(_) => true,
                kind => {
                    let cast = super::store::cast(kind, given).unwrap_or(Value::Null);
                    current.get(meta, field.name) != cast
                }
            };
            if changed {
                return Err(FrappeError::throw(
                    UPDATE_AFTER_SUBMIT,
                    format!(
                        "Not allowed to change {} after submission",
                        bold(field.label)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Fills in what the controller derives, then validates.
    fn validate(
        &self,
        meta: &'static DocType,
        doc: &mut Doc,
        new: bool,
    ) -> Result<(), FrappeError> {
        self.fill(meta, doc, new);
        self.check_links(meta, doc)?;
        match meta.name {
            "Purchase Order" => self.validate_purchase_order(doc)?,
            "Purchase Receipt" => self.validate_purchase_receipt(doc)?,
            _ => {}
        }
        check_mandatory(meta, doc)
    }

    fn fill(&self, meta: &'static DocType, doc: &mut Doc, new: bool) {
        let company = self.default_company();
        let has_company = meta.field("company").is_some();
        if has_company && doc.text(meta, "company").is_empty() {
            if let Some(company) = &company {
                doc.set(meta, "company", json!(company));
            }
        }
        match meta.name {
            "Item" => {
                if doc.text(meta, "item_name").is_empty() {
                    let code = doc.get(meta, "item_code");
                    doc.set(meta, "item_name", code);
                }
                for row in doc.rows_mut(meta, "item_defaults") {
                    if row.text(&meta::ITEM_DEFAULT, "company").is_empty() {
                        if let Some(company) = &company {
                            row.set(&meta::ITEM_DEFAULT, "company", json!(company));
                        }
                    }
                }
            }
            "Purchase Order" | "Purchase Receipt" => self.fill_buying(meta, doc, new),
            _ => {}
        }
    }

    fn fill_buying(&self, meta: &'static DocType, doc: &mut Doc, new: bool) {
        let receipt = meta.name == "Purchase Receipt";
        let row_meta = if receipt {
            &PURCHASE_RECEIPT_ITEM
        } else {
            &PURCHASE_ORDER_ITEM
        };
        if receipt {
            // ERPNext posts at the current date and time unless told to
            // keep the date given (`set_posting_time`).
            if doc.number(meta, "set_posting_time") == 0.0
                || doc.text(meta, "posting_date").is_empty()
            {
                doc.set(meta, "posting_date", json!(today().to_string()));
            }
        } else if doc.text(meta, "transaction_date").is_empty() {
            doc.set(meta, "transaction_date", json!(today().to_string()));
        }
        let supplier_name = self
            .store
            .get("Supplier", doc.text(meta, "supplier"))
            .map(|s| s.get(&meta::SUPPLIER, "supplier_name"));
        if let Some(name) = supplier_name {
            doc.set(meta, "supplier_name", name);
        }
        let currency = self
            .store
            .get("Company", doc.text(meta, "company"))
            .map(|c| c.get(&meta::COMPANY, "default_currency"));
        if let (Some(currency), true) = (currency, meta.field("currency").is_some()) {
            if doc.text(meta, "currency").is_empty() {
                doc.set(meta, "currency", currency);
            }
        }
        let set_warehouse = doc.get(meta, "set_warehouse");
        let (mut total_qty, mut total) = (0.0, 0.0);
        for row in doc.rows_mut(meta, "items") {
            let item = self.store.get("Item", row.text(row_meta, "item_code"));
            if let Some(item) = item {
                row.set(row_meta, "item_name", item.get(&ITEM, "item_name"));
                row.set(row_meta, "stock_uom", item.get(&ITEM, "stock_uom"));
                if row.text(row_meta, "uom").is_empty() {
                    row.set(row_meta, "uom", item.get(&ITEM, "stock_uom"));
                }
            }
            if row.number(row_meta, "conversion_factor") == 0.0 {
                row.set(row_meta, "conversion_factor", json!(1.0));
            }
            if row.text(row_meta, "warehouse").is_empty() && !set_warehouse.is_null() {
                row.set(row_meta, "warehouse", set_warehouse.clone());
            }
            let qty = row.number(row_meta, "qty");
            let rate = row.number(row_meta, "rate");
            row.set(row_meta, "amount", json!(qty * rate));
            if receipt {
                let received = qty + row.number(row_meta, "rejected_qty");
                row.set(row_meta, "received_qty", json!(received));
            } else {
                let factor = row.number(row_meta, "conversion_factor");
                row.set(row_meta, "stock_qty", json!(qty * factor));
                if new {
                    row.set(row_meta, "received_qty", json!(0.0));
                }
            }
            total_qty += qty;
            total += qty * rate;
        }
        doc.set(meta, "total_qty", json!(total_qty));
        doc.set(meta, "grand_total", json!(total));
        if !receipt {
            doc.set(meta, "total", json!(total));
            doc.set(meta, "per_received", json!(0.0));
        }
        doc.set(meta, "per_billed", json!(0.0));
        doc.set(meta, "status", json!("Draft"));
    }

    /// Frappe's `_validate_links`: every link names an existing document,
    /// and none a cancelled one.
    fn check_links(&self, meta: &DocType, doc: &Doc) -> Result<(), FrappeError> {
        let mut missing = Vec::new();
        let mut cancelled = Vec::new();
        let mut check = |meta: &DocType, doc: &Doc, row: Option<u32>| {
            for field in meta.fields {
                let Kind::Link(target) = field.kind else {
                    continue;
                };
                let value = doc.text(meta, field.name);
                if value.is_empty() {
                    continue;
                }
                let what = match row {
                    Some(idx) => format!("Row #{idx}: {}: {value}", field.label),
                    None => format!("{}: {value}", field.label),
                };
                match self.store.get(target, value) {
                    None => missing.push(what),
                    Some(linked) if linked.docstatus == 2 => cancelled.push(what),
                    Some(_) => {}
                }
            }
        };
        check(meta, doc, None);
        for (field, rows) in meta.tables().zip(&doc.tables) {
            let Kind::Table(child) = field.kind else {
                continue;
            };
            let Some(child_meta) = meta::doctype(child) else {
                continue;
            };
            for row in rows {
                check(child_meta, row, Some(row.idx));
            }
        }
        if !missing.is_empty() {
            return Err(FrappeError::throw(
                LINK_VALIDATION,
                format!("Could not find {}", missing.join(", ")),
            ));
        }
        if !cancelled.is_empty() {
            return Err(FrappeError::throw(
                "frappe.exceptions.CancelledLinkError",
                format!("Cannot link cancelled document: {}", cancelled.join(", ")),
            ));
        }
        Ok(())
    }

    /// The buying controller's checks of an order: quantities, and the
    /// required-by dates (`validate_schedule_date`).
    fn validate_purchase_order(&self, doc: &mut Doc) -> Result<(), FrappeError> {
        let meta = &PURCHASE_ORDER;
        let rows = &PURCHASE_ORDER_ITEM;
        check_quantities(doc.rows(meta, "items"), rows, false)?;
        let earliest = doc
            .rows(meta, "items")
            .iter()
            .map(|r| r.text(rows, "schedule_date").to_owned())
            .filter(|d| !d.is_empty())
            .min();
        if let Some(earliest) = earliest {
            doc.set(meta, "schedule_date", json!(earliest));
        }
        let schedule = doc.get(meta, "schedule_date");
        if schedule.is_null() {
            if doc.rows(meta, "items").is_empty() {
                return Ok(());
            }
            return Err(FrappeError::throw(VALIDATION, "Please enter Reqd by Date"));
        }
        let transaction_date = doc.text(meta, "transaction_date").to_owned();
        for row in doc.rows_mut(meta, "items") {
            if row.text(rows, "schedule_date").is_empty() {
                row.set(rows, "schedule_date", schedule.clone());
            }
            if !transaction_date.is_empty()
                && row.text(rows, "schedule_date") < transaction_date.as_str()
            {
                return Err(FrappeError::throw(
                    VALIDATION,
                    format!(
                        "Row #{}: Reqd by Date cannot be before Transaction Date",
                        row.idx
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A receipt's checks: quantities, an accepted warehouse for accepted
    /// quantities, and each order it receives against submitted and of the
    /// same supplier.
    fn validate_purchase_receipt(&self, doc: &mut Doc) -> Result<(), FrappeError> {
        let meta = &PURCHASE_RECEIPT;
        let rows = &PURCHASE_RECEIPT_ITEM;
        check_quantities(doc.rows(meta, "items"), rows, true)?;
        let supplier = doc.text(meta, "supplier");
        for row in doc.rows(meta, "items") {
            if row.number(rows, "qty") > 0.0 && row.text(rows, "warehouse").is_empty() {
                return Err(FrappeError::throw(
                    VALIDATION,
                    format!(
                        "Row #{}: Accepted Warehouse is mandatory for the accepted Item {}",
                        row.idx,
                        bold(row.text(rows, "item_code"))
                    ),
                ));
            }
            let order_name = row.text(rows, "purchase_order");
            let Some(order) = self.store.get("Purchase Order", order_name) else {
                continue;
            };
            if order.docstatus != 1 {
                return Err(FrappeError::throw(
                    VALIDATION,
                    format!(
                        "Row #{}: Purchase Order {order_name} is not submitted",
                        row.idx
                    ),
                ));
            }
            let order_supplier = order.text(&PURCHASE_ORDER, "supplier");
            if !supplier.is_empty() && order_supplier != supplier {
                return Err(FrappeError::throw(
                    VALIDATION,
                    format!("Incorrect value: Supplier must be = {order_supplier}"),
                ));
            }
        }
        Ok(())
    }

    fn set_name(&mut self, meta: &DocType, doc: &mut Doc) -> Result<(), FrappeError> {
        doc.name = match meta.naming {
            Naming::Field(field) => doc.text(meta, field).to_owned(),
            Naming::Hash => self.store.hash(),
            Naming::Warehouse => {
                let abbr = self
                    .store
                    .get("Company", doc.text(meta, "company"))
                    .map(|c| c.text(&meta::COMPANY, "abbr").to_owned())
                    .unwrap_or_default();
                format!("{} - {abbr}", doc.text(meta, "warehouse_name"))
            }
            Naming::Series { prefix, date_field } => {
                let year = NaiveDate::parse_from_str(doc.text(meta, date_field), "%Y-%m-%d")
                    .map_or_else(|_| today().year(), |d| d.year());
                self.store.next_in_series(format!("{prefix}{year}-"))
            }
        };
        if doc.name.is_empty() {
            return Err(FrappeError::throw(
                "frappe.exceptions.InvalidNameError",
                format!("{} name not set", meta.name),
            ));
        }
        if self.store.exists(meta.name, &doc.name) {
            return Err(FrappeError::duplicate_name(meta.name, &doc.name));
        }
        Ok(())
    }

    /// Unique columns, as the database's unique index refuses a second
    /// value (Frappe's `show_unique_validation_message`).
    fn check_unique(&self, meta: &DocType, doc: &Doc) -> Result<(), FrappeError> {
        for field in meta.fields.iter().filter(|f| f.unique) {
            if meta.naming == Naming::Field(field.name) {
                continue; // the name itself: a DuplicateEntryError already
            }
            let value = doc.text(meta, field.name);
            if value.is_empty() {
                continue;
            }
            let taken = self
                .store
                .all(meta.name)
                .values()
                .any(|other| other.name != doc.name && other.text(meta, field.name) == value);
            if taken {
                return Err(FrappeError::throw(
                    UNIQUE_VALIDATION,
                    format!("{} must be unique", field.label),
                ));
            }
        }
        Ok(())
    }
}

/// `validate_qty_is_not_zero` and the buying controller's negative check.
fn check_quantities(rows: &[Doc], meta: &DocType, receipt: bool) -> Result<(), FrappeError> {
    for row in rows {
        let qty = row.number(meta, "qty");
        let item = row.text(meta, "item_code");
        let rejected = if receipt {
            row.number(meta, "rejected_qty")
        } else {
            0.0
        };
        if qty == 0.0 && rejected == 0.0 {
            return Err(FrappeError::throw_titled(
                INVALID_QTY,
                "Invalid Quantity",
                format!(
                    "Row #{}: Quantity for Item {} cannot be zero.",
                    row.idx,
                    bold(item)
                ),
            ));
        }
        if qty < 0.0 || rejected < 0.0 {
            return Err(FrappeError::throw(
                VALIDATION,
                format!(
                    "Row #{}: {} can not be negative for item {item}",
                    row.idx,
                    meta.label("qty")
                ),
            ));
        }
    }
    Ok(())
}

/// Frappe's `_validate_mandatory`, parent and child rows.
fn check_mandatory(meta: &DocType, doc: &Doc) -> Result<(), FrappeError> {
    let mut missing = Vec::new();
    let empty = |doc: &Doc, meta: &DocType, field: &meta::Field| match field.kind {
        Kind::Table(_) => doc.rows(meta, field.name).is_empty(),
        _ => match doc.get(meta, field.name) {
            Value::Null => true,
            Value::String(s) => s.trim().is_empty(),
            _ => false,
        },
    };
    for field in meta.fields.iter().filter(|f| f.reqd) {
        if empty(doc, meta, field) {
            missing.push(format!(
                "Error: Value missing for {}: {}",
                meta.name, field.label
            ));
        }
    }
    for (table, rows) in meta.tables().zip(&doc.tables) {
        let Kind::Table(child) = table.kind else {
            continue;
        };
        let Some(child_meta) = meta::doctype(child) else {
            continue;
        };
        for row in rows {
            for field in child_meta.fields.iter().filter(|f| f.reqd) {
                if empty(row, child_meta, field) {
                    missing.push(format!(
                        "Error: {} Row #{}: Value missing for: {}",
                        bold(child_meta.name),
                        row.idx,
                        field.label
                    ));
                }
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(FrappeError::mandatory(missing))
    }
}
