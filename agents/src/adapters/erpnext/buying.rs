//! Writing purchase orders and receipts, idempotently on our ids, and
//! reading them back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::Method;
use serde_json::{json, Value};

use super::{
    invalid, CallError, DocStatus, ErpDocRef, ErpError, ErpNext, ErpPurchaseOrder,
    ErpPurchaseOrderItem, ErpPurchaseReceipt, ErpResult, PurchaseOrderDoc, PurchaseReceiptDoc,
    PO_ID_FIELD, RECEIPT_ID_FIELD,
};

impl ErpNext {
    /// The fields of `fields` that `doctype` lacks on this site: each is
    /// asked for in a one-row listing, which Frappe refuses, naming the
    /// field, when the DocType has no such field (a custom field never
    /// added through Customize Form).
    pub async fn missing_fields(&self, doctype: &str, fields: &[&str]) -> ErpResult<Vec<String>> {
        let mut missing = Vec::new();
        for field in fields {
            let listing = Self::listing(doctype, &["name", field], json!([]), "creation asc");
            match self.adapter.call(|| self.page(&listing, 0, 1)).await {
                Ok(_) => {}
                Err(CallError::Failed(error)) if error.to_string().contains(field) => {
                    missing.push((*field).to_owned());
                }
                Err(error) => return Err(error),
            }
        }
        Ok(missing)
    }

    /// A Purchase Order, with its lines.
    pub async fn purchase_order(&self, name: &str) -> ErpResult<ErpPurchaseOrder> {
        self.adapter
            .call(|| self.read_doc("Purchase Order", name))
            .await
    }

    /// A Purchase Receipt, with its lines.
    pub async fn purchase_receipt(&self, name: &str) -> ErpResult<ErpPurchaseReceipt> {
        self.adapter
            .call(|| self.read_doc("Purchase Receipt", name))
            .await
    }

    /// The document whose `field` holds `id`, if any (the oldest, should
    /// the field not be unique).
    async fn find(
        &self,
        doctype: &str,
        field: &str,
        id: &str,
    ) -> Result<Option<ErpDocRef>, ErpError> {
        let listing = Self::listing(
            doctype,
            &["name", "docstatus"],
            json!([[field, "=", id]]),
            "creation asc",
        );
        let rows = self.page(&listing, 0, 1).await?;
        rows.into_iter()
            .next()
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| ErpError::Unexpected {
                status: 200,
                excerpt: format!("a {doctype} row: {e}"),
            })
    }

    /// The Purchase Order created for our purchase order `agentos_po_id`.
    pub async fn find_purchase_order(&self, agentos_po_id: &str) -> ErpResult<Option<ErpDocRef>> {
        self.adapter
            .call(|| self.find("Purchase Order", PO_ID_FIELD, agentos_po_id))
            .await
    }

    /// The Purchase Receipt created for our receipt `agentos_receipt_id`.
    pub async fn find_purchase_receipt(
        &self,
        agentos_receipt_id: &str,
    ) -> ErpResult<Option<ErpDocRef>> {
        self.adapter
            .call(|| self.find("Purchase Receipt", RECEIPT_ID_FIELD, agentos_receipt_id))
            .await
    }

    /// Inserts `body`, which carries `id` in `field`; a duplicate refusal
    /// means another attempt created it: that one.
    async fn insert_or_find(
        &self,
        doctype: &str,
        field: &str,
        id: &str,
        body: &Value,
    ) -> Result<ErpDocRef, ErpError> {
        let url = self.url(&["api", "resource", doctype]);
        match self.send(Method::POST, url, Some(body)).await {
            Ok(answer) => Self::data(answer),
            Err(ErpError::Duplicate { message }) => match self.find(doctype, field, id).await? {
                Some(existing) => Ok(existing),
                None => Err(ErpError::Duplicate { message }),
            },
            Err(other) => Err(other),
        }
    }

    /// Creates the Purchase Order for our purchase order (a draft), or
    /// finds the one created for it before: never two for one id.
    pub async fn create_purchase_order(&self, order: &PurchaseOrderDoc) -> ErpResult<ErpDocRef> {
        let id = order.agentos_po_id.trim();
        if id.is_empty() {
            return Err(invalid("a purchase order needs our id"));
        }
        let mut body = serde_json::to_value(order)
            .map_err(|e| invalid(format!("the purchase order cannot be written: {e}")))?;
        if order.company.is_none() {
            if let Some(company) = &self.company {
                body["company"] = json!(company);
            }
        }
        let body = &body;
        self.adapter
            .call(|| async move {
                match self.find("Purchase Order", PO_ID_FIELD, id).await? {
                    Some(existing) => Ok(existing),
                    None => {
                        self.insert_or_find("Purchase Order", PO_ID_FIELD, id, body)
                            .await
                    }
                }
            })
            .await
    }

    /// Submits a draft; a submitted one is left as it is.
    async fn submit_once(&self, doctype: &str, name: &str) -> Result<ErpDocRef, ErpError> {
        let current: ErpDocRef = self.read_doc(doctype, name).await?;
        match current.docstatus {
            DocStatus::Submitted => return Ok(current),
            DocStatus::Cancelled => {
                return Err(ErpError::Cancelled {
                    doctype: doctype.to_owned(),
                    name: name.to_owned(),
                })
            }
            DocStatus::Draft => {}
        }
        let url = self.url(&["api", "resource", doctype, name]);
        match self
            .send(Method::PUT, url, Some(&json!({"docstatus": 1})))
            .await
        {
            Ok(answer) => Self::data(answer),
            Err(refusal @ ErpError::Validation { .. }) => {
                // Submitted meanwhile by another attempt or a person?
                let now: ErpDocRef = self.read_doc(doctype, name).await?;
                if now.docstatus == DocStatus::Submitted {
                    Ok(now)
                } else {
                    Err(refusal)
                }
            }
            Err(other) => Err(other),
        }
    }

    /// Submits a Purchase Order (ordered quantities are booked); one
    /// already submitted is done.
    pub async fn submit_purchase_order(&self, name: &str) -> ErpResult<ErpDocRef> {
        self.adapter
            .call(|| self.submit_once("Purchase Order", name))
            .await
    }

    /// Submits a Purchase Receipt (stock and the orders' received
    /// quantities are booked); one already submitted is done.
    pub async fn submit_purchase_receipt(&self, name: &str) -> ErpResult<ErpDocRef> {
        self.adapter
            .call(|| self.submit_once("Purchase Receipt", name))
            .await
    }

    /// Cancels a submitted Purchase Order (`PUT` with `{"docstatus": 2}`,
    /// which Frappe's save turns into a cancel: its ordered quantities are
    /// taken back) and deletes a draft one (a draft cannot be cancelled).
    /// Cancelling a cancelled order, or one deleted by an earlier attempt
    /// of this call, changes nothing. ERPNext refuses to cancel an order
    /// that submitted receipts refer to ([`ErpError::Validation`],
    /// `LinkExistsError`).
    pub async fn cancel_purchase_order(&self, name: &str) -> ErpResult<()> {
        let doctype = "Purchase Order";
        let deleting = AtomicBool::new(false);
        self.adapter
            .call(|| async {
                let current: ErpDocRef = match self.read_doc(doctype, name).await {
                    Err(ErpError::NotFound { .. }) if deleting.load(Ordering::SeqCst) => {
                        return Ok(());
                    }
                    other => other?,
                };
                let url = self.url(&["api", "resource", doctype, name]);
                match current.docstatus {
                    DocStatus::Cancelled => Ok(()),
                    DocStatus::Submitted => {
                        let body = json!({"docstatus": 2});
                        self.send(Method::PUT, url, Some(&body)).await.map(drop)
                    }
                    DocStatus::Draft => {
                        deleting.store(true, Ordering::SeqCst);
                        self.send(Method::DELETE, url, None).await.map(drop)
                    }
                }
            })
            .await
    }

    /// The receipt's JSON, each line tied to its order's row.
    async fn receipt_body(&self, receipt: &PurchaseReceiptDoc) -> Result<Value, ErpError> {
        let mut orders: HashMap<&str, ErpPurchaseOrder> = HashMap::new();
        let mut lines = Vec::with_capacity(receipt.items.len());
        for line in &receipt.items {
            if !orders.contains_key(line.purchase_order.as_str()) {
                let order = self
                    .read_doc("Purchase Order", &line.purchase_order)
                    .await?;
                orders.insert(&line.purchase_order, order);
            }
            let order = &orders[line.purchase_order.as_str()];
            let candidates: Vec<&ErpPurchaseOrderItem> = order
                .items
                .iter()
                .filter(|row| row.item_code == line.item_code)
                .filter(|row| line.warehouse.is_none() || row.warehouse == line.warehouse)
                .collect();
            let row = candidates
                .iter()
                .find(|row| row.qty > row.received_qty)
                .or_else(|| candidates.first())
                .ok_or_else(|| {
                    ErpError::InvalidRequest(format!(
                        "Purchase Order {} has no line for item {}",
                        order.name, line.item_code
                    ))
                })?;
            let mut body = json!({
                "item_code": line.item_code,
                "qty": line.qty,
                "received_qty": line.qty,
                "rate": line.rate.unwrap_or(row.rate),
                "warehouse": line.warehouse.clone().or_else(|| row.warehouse.clone()),
                "purchase_order": order.name,
                "purchase_order_item": row.name,
            });
            if !row.uom.is_empty() {
                body["uom"] = json!(row.uom);
            }
            if row.conversion_factor > 0.0 {
                body["conversion_factor"] = json!(row.conversion_factor);
            }
            lines.push(body);
        }
        let supplier = receipt.supplier.clone().or_else(|| {
            let first = receipt.items.first()?;
            orders
                .get(first.purchase_order.as_str())
                .map(|o| o.supplier.clone())
        });
        let mut body = json!({
            RECEIPT_ID_FIELD: receipt.agentos_receipt_id.trim(),
            "supplier": supplier,
            "items": lines,
        });
        if let Some(company) = receipt.company.as_ref().or(self.company.as_ref()) {
            body["company"] = json!(company);
        }
        if let Some(date) = receipt.posting_date {
            body["posting_date"] = json!(date);
            body["set_posting_time"] = json!(1);
        }
        Ok(body)
    }

    /// Creates the Purchase Receipt for our receipt (a draft), or finds the
    /// one created for it before: never two for one id.
    pub async fn create_purchase_receipt(
        &self,
        receipt: &PurchaseReceiptDoc,
    ) -> ErpResult<ErpDocRef> {
        let id = receipt.agentos_receipt_id.trim();
        if id.is_empty() {
            return Err(invalid("a purchase receipt needs our id"));
        }
        if receipt.items.is_empty() {
            return Err(invalid("a purchase receipt needs a line"));
        }
        self.adapter
            .call(|| async {
                if let Some(existing) = self.find("Purchase Receipt", RECEIPT_ID_FIELD, id).await? {
                    return Ok(existing);
                }
                let body = self.receipt_body(receipt).await?;
                self.insert_or_find("Purchase Receipt", RECEIPT_ID_FIELD, id, &body)
                    .await
            })
            .await
    }
}
