//! What the Logistics agent needs from the company's ERP, whatever speaks it.
//!
//! [`ErpNextStock`] implements it over the ERPNext client (and, where
//! configured, a Google Sheet of shelf counts); tests may implement it over
//! anything that gives the same answers.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{NaiveDate, Utc};
use domain::logistics::purchase_order::PurchaseOrderDrafted;
use domain::logistics::scan::StockPicture;
use domain::logistics::{Days, Fraction, InventoryLevel, Item, Sku, Supplier, WarehouseId};
use domain::{Currency, Money};
use uuid::Uuid;

use crate::adapters::erpnext::{
    ErpError, ErpItemPrice, ErpNext, PurchaseOrderDoc, PurchaseOrderLine, PurchaseReceiptDoc,
    PurchaseReceiptLine, PO_ID_FIELD, RECEIPT_ID_FIELD, SYSTEM,
};
use crate::adapters::sheets::{A1Range, Sheets, StockCountError};
use crate::adapters::{CallError, Retryable};

/// The stock as read, and where it was read from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StockReading {
    /// Items, suppliers, levels, demand and counts.
    pub picture: StockPicture,
    /// The warehouses read.
    pub warehouses: Vec<WarehouseId>,
    /// The systems read, e.g. `erpnext`, `sheets:<spreadsheet>`.
    pub sources: Vec<String>,
}

/// Why the ERP did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ErpFailure {
    /// It refused, and will refuse again (validation, permissions): the
    /// agent records the refusal instead of retrying.
    #[error("{0}")]
    Refused(String),
    /// It could not be reached or failed; asking again later may work.
    #[error("{0}")]
    Unavailable(String),
}

/// The company's ERP, as the Logistics agent uses it.
#[async_trait]
pub trait Erp: Send + Sync + 'static {
    /// Items, suppliers, stock levels and daily demand (of `skus` only,
    /// unless empty), with shelf counts where a sheet is configured.
    async fn stock_picture(&self, skus: &[Sku]) -> Result<StockReading, ErpFailure>;

    /// Creates and submits the purchase order, or finds the one created
    /// for it before (the document carries our id): its ERP name.
    async fn place_purchase_order(&self, po: &PurchaseOrderDrafted) -> Result<String, ErpFailure>;

    /// Cancels the submitted purchase order `erp_name` (cancelling it again
    /// changes nothing).
    async fn cancel_purchase_order(&self, erp_name: &str) -> Result<(), ErpFailure>;

    /// Our id of the purchase order the ERP names `erp_name`, if it is one of ours.
    async fn purchase_order_id(&self, erp_name: &str) -> Result<Option<Uuid>, ErpFailure>;

    /// Whether the ERP is set up for what the agent does: `Refused` names
    /// what is missing. Placing and receiving check it first.
    async fn check_setup(&self) -> Result<(), ErpFailure> {
        Ok(())
    }

    /// Creates and submits a goods receipt against the purchase order
    /// `erp_name` for `lines` (units per SKU), or finds the one created for
    /// `receipt_id` before: its ERP name.
    async fn receive_goods(
        &self,
        erp_name: &str,
        receipt_id: Uuid,
        lines: &[(Sku, u32)],
    ) -> Result<String, ErpFailure>;
}

/// Where the shelf counts are: a sheet's range with the header
/// `SKU | Warehouse | Counted | Counted at`.
#[derive(Debug, Clone)]
pub struct CountSheet {
    /// The Google Sheets client.
    pub sheets: Sheets,
    /// The spreadsheet's id.
    pub spreadsheet_id: String,
    /// The range, e.g. `'Stock Counts'!A1:D`.
    pub range: A1Range,
}

/// The [`Erp`] over ERPNext's REST API, with shelf counts from a sheet
/// where one is configured.
///
/// How ERPNext's documents become the reorder rules' inputs:
/// - an Item's `stock_uom`, `min_order_qty`, `custom_pack_size` (1 when
///   unset) and its company default supplier; its unit cost is its buying
///   Item Price in force (else its `last_purchase_rate`), in the company's
///   currency, and a supplier's own Item Price is what orders from that
///   supplier cost;
/// - a Supplier's `custom_lead_time_days` (7 when unset) as its lead time,
///   with no known variation;
/// - a Bin's `actual_qty` on hand, `ordered_qty` + `indented_qty` +
///   `planned_qty` on order, and the three reservations reserved, so the
///   position is ERPNext's own `projected_qty`;
/// - the daily demand: Stock Ledger Entries that took stock out over the
///   last [`ErpNextStock::history_days`] days, summed per day (days with
///   none count as zero).
#[derive(Debug, Clone)]
pub struct ErpNextStock {
    erp: ErpNext,
    counts: Option<CountSheet>,
    currency: Currency,
    /// Days of stock use read for the demand.
    pub history_days: u32,
    /// Whether the site was found to have the custom fields writing needs.
    set_up: Arc<AtomicBool>,
}

/// The custom fields that make writing idempotent: without one, ERPNext
/// ignores our id, a retry after a lost answer cannot find the document it
/// created, and places it again.
const REQUIRED_FIELDS: [(&str, &str); 2] = [
    ("Purchase Order", PO_ID_FIELD),
    ("Purchase Receipt", RECEIPT_ID_FIELD),
];

/// A supplier's lead time when ERPNext has none.
const DEFAULT_LEAD_TIME_DAYS: f64 = 7.0;

impl ErpNextStock {
    /// Over `erp`, amounts in `currency` (the company's), 28 days of history.
    pub fn new(erp: ErpNext, currency: Currency) -> Self {
        Self {
            erp,
            counts: None,
            currency,
            history_days: 28,
            set_up: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Also reads shelf counts from `sheet`.
    pub fn with_counts(mut self, sheet: CountSheet) -> Self {
        self.counts = Some(sheet);
        self
    }

    fn money(&self, amount: f64) -> Money {
        // Rates are in major units with at most the currency's cents.
        Money::new((amount * 100.0).round() as i64, self.currency)
    }
}

fn failure<E: Retryable + std::fmt::Display>(error: E) -> ErpFailure {
    if error.is_retryable() {
        ErpFailure::Unavailable(error.to_string())
    } else {
        ErpFailure::Refused(error.to_string())
    }
}

/// The buying rates in force, from ERPNext's Item Prices: an item's rate
/// for any supplier, and the rates of one supplier only. Of several rows
/// for the same, the one valid from the latest date wins; rows in another
/// currency than the company's, or not valid today, are left out.
#[derive(Debug, Default, PartialEq)]
struct BuyingPrices {
    /// By item code.
    general: BTreeMap<String, f64>,
    /// By (item code, supplier).
    by_supplier: BTreeMap<(String, String), f64>,
}

impl BuyingPrices {
    fn read(rows: &[ErpItemPrice], today: NaiveDate, currency: &str) -> Self {
        let mut latest: BTreeMap<(String, Option<String>), (Option<NaiveDate>, f64)> =
            BTreeMap::new();
        for row in rows {
            let in_force = row.valid_from.is_none_or(|from| from <= today)
                && row.valid_upto.is_none_or(|upto| today <= upto);
            let priced = row.price_list_rate > 0.0
                && (row.currency.is_empty() || row.currency.eq_ignore_ascii_case(currency));
            if !in_force || !priced {
                continue;
            }
            let key = (
                row.item_code.clone(),
                row.supplier.clone().filter(|s| !s.is_empty()),
            );
            let newer = latest
                .get(&key)
                .is_none_or(|(from, _)| row.valid_from >= *from);
            if newer {
                latest.insert(key, (row.valid_from, row.price_list_rate));
            }
        }
        let mut prices = BuyingPrices::default();
        for ((item, supplier), (_, rate)) in latest {
            match supplier {
                Some(supplier) => {
                    prices.by_supplier.insert((item, supplier), rate);
                }
                None => {
                    prices.general.insert(item, rate);
                }
            }
        }
        prices
    }
}

fn whole(quantity: f64) -> i64 {
    quantity.round() as i64
}

#[async_trait]
impl Erp for ErpNextStock {
    async fn stock_picture(&self, skus: &[Sku]) -> Result<StockReading, ErpFailure> {
        let today = Utc::now().date_naive();
        let since = today - chrono::Duration::days(i64::from(self.history_days.max(1)) - 1);
        // Prices are worth having, not a reason to stop: an API user that
        // may not read Item Prices scans with the items' last purchase rates.
        let buying_prices = async {
            match self.erp.buying_prices().await {
                Err(CallError::Failed(ErpError::Permission { message })) => {
                    tracing::warn!(%message,
                        "ERPNext does not let this user read Item Prices; items cost their last purchase rate");
                    Ok(Vec::new())
                }
                read => read,
            }
        };
        let (items, bins, suppliers, used, prices) = tokio::try_join!(
            self.erp.items(),
            self.erp.bins(None),
            self.erp.suppliers(),
            self.erp.consumption(since),
            buying_prices,
        )
        .map_err(failure)?;
        let prices = BuyingPrices::read(&prices, today, self.currency.as_str());
        let wanted = |code: &str| {
            skus.is_empty() || skus.iter().any(|s| s.as_str().eq_ignore_ascii_case(code))
        };
        let mut picture = StockPicture::default();
        for item in items.iter().filter(|i| !i.disabled && i.is_stock_item) {
            if !wanted(&item.item_code) {
                continue;
            }
            let (Ok(sku), Some(pack)) = (
                item.item_code.parse::<Sku>(),
                NonZeroU32::new(item.pack_size.unwrap_or(1.0).round().max(1.0) as u32),
            ) else {
                tracing::warn!(item = %item.item_code, "an ERP item code that is not a SKU; skipped");
                continue;
            };
            picture.items.push(Item {
                sku,
                name: item.item_name.clone(),
                unit: item.stock_uom.clone(),
                pack_size: pack,
                min_order_qty: item.min_order_qty.max(0.0).round() as u32,
                max_order_qty: None,
                unit_cost: self.money(
                    prices
                        .general
                        .get(&item.item_code)
                        .copied()
                        .unwrap_or(item.last_purchase_rate),
                ),
                default_supplier: item
                    .default_supplier
                    .as_deref()
                    .and_then(|s| s.parse().ok()),
            });
        }
        for supplier in suppliers.iter().filter(|s| !s.disabled) {
            let lead = supplier
                .lead_time_days
                .map_or(DEFAULT_LEAD_TIME_DAYS, f64::from);
            let (Ok(id), Ok(lead), Ok(none), Ok(unknown)) = (
                supplier.name.parse(),
                Days::try_from(lead),
                Days::try_from(0.0),
                Fraction::try_from(1.0),
            ) else {
                continue;
            };
            picture.suppliers.push(Supplier {
                id,
                name: supplier.supplier_name.clone(),
                lead_time_days: lead,
                lead_time_sd_days: none,
                on_time_rate: unknown,
            });
        }
        for ((item_code, supplier), rate) in &prices.by_supplier {
            if !wanted(item_code) {
                continue;
            }
            if let (Ok(sku), Ok(supplier)) = (item_code.parse(), supplier.parse()) {
                picture.prices.insert((sku, supplier), self.money(*rate));
            }
        }
        let mut warehouses = BTreeSet::new();
        for bin in bins.iter().filter(|b| wanted(&b.item_code)) {
            let (Ok(sku), Ok(warehouse)) = (bin.item_code.parse(), bin.warehouse.parse()) else {
                continue;
            };
            warehouses.insert(bin.warehouse.clone());
            picture.levels.push(InventoryLevel {
                sku,
                warehouse,
                on_hand: whole(bin.actual_qty),
                reserved: whole(
                    bin.reserved_qty
                        + bin.reserved_qty_for_production
                        + bin.reserved_qty_for_sub_contract,
                ),
                on_order: whole(bin.ordered_qty + bin.indented_qty + bin.planned_qty),
            });
        }
        let days = usize::try_from(self.history_days.max(1)).unwrap_or(1);
        for entry in used.iter().filter(|e| wanted(&e.item_code)) {
            let (Ok(sku), Ok(warehouse), Some(date)) = (
                entry.item_code.parse::<Sku>(),
                entry.warehouse.parse::<WarehouseId>(),
                entry.posting_date,
            ) else {
                continue;
            };
            let Ok(day) = usize::try_from((date - since).num_days()) else {
                continue;
            };
            if day >= days {
                continue;
            }
            let history = picture
                .demand
                .entry((sku, warehouse))
                .or_insert_with(|| vec![0; days]);
            history[day] += (-entry.actual_qty).round().max(0.0) as u64;
        }
        let mut sources = vec![SYSTEM.to_owned()];
        if let Some(sheet) = &self.counts {
            let counts = sheet
                .sheets
                .stock_counts(&sheet.spreadsheet_id, &sheet.range)
                .await
                .map_err(|e| match e {
                    StockCountError::Sheets(call) => failure(call),
                    other => ErpFailure::Refused(format!("the stock count sheet: {other}")),
                })?;
            for count in counts.iter().filter(|c| wanted(&c.sku)) {
                if let (Ok(sku), Ok(warehouse)) = (count.sku.parse(), count.warehouse.parse()) {
                    picture.counts.insert((sku, warehouse), count.counted_qty);
                }
            }
            sources.push(format!("sheets:{}", sheet.spreadsheet_id));
        }
        Ok(StockReading {
            picture,
            warehouses: warehouses
                .into_iter()
                .filter_map(|w| w.parse().ok())
                .collect(),
            sources,
        })
    }

    async fn place_purchase_order(&self, po: &PurchaseOrderDrafted) -> Result<String, ErpFailure> {
        self.check_setup().await?;
        let today = Utc::now().date_naive();
        let lead = po
            .lines
            .iter()
            .map(|l| l.reasoning.lead_time_days)
            .fold(1.0_f64, f64::max)
            .ceil();
        let schedule = today + chrono::Duration::days(lead as i64);
        let doc = PurchaseOrderDoc {
            agentos_po_id: po.po_id.to_string(),
            supplier: po.supplier.as_str().to_owned(),
            company: None,
            transaction_date: Some(today),
            schedule_date: schedule,
            set_warehouse: Some(po.warehouse.as_str().to_owned()),
            items: po
                .lines
                .iter()
                .map(|line| PurchaseOrderLine {
                    item_code: line.sku.as_str().to_owned(),
                    qty: f64::from(line.qty),
                    rate: line.unit_cost.minor as f64 / 100.0,
                    warehouse: Some(po.warehouse.as_str().to_owned()),
                    schedule_date: Some(schedule),
                })
                .collect(),
        };
        let created = self
            .erp
            .create_purchase_order(&doc)
            .await
            .map_err(failure)?;
        let submitted = self
            .erp
            .submit_purchase_order(&created.name)
            .await
            .map_err(failure)?;
        Ok(submitted.name)
    }

    async fn check_setup(&self) -> Result<(), ErpFailure> {
        if self.set_up.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut missing = Vec::new();
        for (doctype, field) in REQUIRED_FIELDS {
            for lacking in self
                .erp
                .missing_fields(doctype, &[field])
                .await
                .map_err(failure)?
            {
                missing.push(format!("{lacking} on {doctype}"));
            }
        }
        if !missing.is_empty() {
            // Not remembered: once the fields are added, the next check passes.
            return Err(ErpFailure::Refused(format!(
                "ERPNext lacks the custom field {}: without it a retry could place a \
                 document twice, so none is placed. Add it (type Data, Unique) through \
                 Customize Form",
                missing.join(" and ")
            )));
        }
        self.set_up.store(true, Ordering::Release);
        Ok(())
    }

    async fn cancel_purchase_order(&self, erp_name: &str) -> Result<(), ErpFailure> {
        self.erp
            .cancel_purchase_order(erp_name)
            .await
            .map_err(failure)
    }

    async fn purchase_order_id(&self, erp_name: &str) -> Result<Option<Uuid>, ErpFailure> {
        match self.erp.purchase_order(erp_name).await {
            Ok(order) => Ok(order.agentos_po_id.and_then(|id| id.parse().ok())),
            Err(CallError::Failed(ErpError::NotFound { .. })) => Ok(None),
            Err(error) => Err(failure(error)),
        }
    }

    async fn receive_goods(
        &self,
        erp_name: &str,
        receipt_id: Uuid,
        lines: &[(Sku, u32)],
    ) -> Result<String, ErpFailure> {
        self.check_setup().await?;
        let receipt = PurchaseReceiptDoc {
            agentos_receipt_id: receipt_id.to_string(),
            supplier: None,
            company: None,
            posting_date: Some(Utc::now().date_naive()),
            items: lines
                .iter()
                .map(|(sku, qty)| PurchaseReceiptLine {
                    item_code: sku.as_str().to_owned(),
                    qty: f64::from(*qty),
                    purchase_order: erp_name.to_owned(),
                    warehouse: None,
                    rate: None,
                })
                .collect(),
        };
        let created = self
            .erp
            .create_purchase_receipt(&receipt)
            .await
            .map_err(failure)?;
        let submitted = self
            .erp
            .submit_purchase_receipt(&created.name)
            .await
            .map_err(failure)?;
        Ok(submitted.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(item: &str, rate: f64, supplier: Option<&str>, from: Option<&str>) -> ErpItemPrice {
        ErpItemPrice {
            name: format!("{item}-{rate}"),
            item_code: item.to_owned(),
            price_list: "Standard Buying".to_owned(),
            price_list_rate: rate,
            currency: "EUR".to_owned(),
            supplier: supplier.map(str::to_owned),
            valid_from: from.map(|d| d.parse().expect("a date")),
            valid_upto: None,
        }
    }

    #[test]
    fn the_rate_in_force_wins_per_item_and_per_supplier() {
        let today: NaiveDate = "2026-07-15".parse().expect("a date");
        let mut dollars = row("BOLT", 0.05, None, None);
        dollars.currency = "USD".to_owned();
        let mut lapsed = row("NUT", 0.01, None, None);
        lapsed.valid_upto = Some("2026-06-30".parse().expect("a date"));
        let rows = [
            row("BOLT", 0.12, None, Some("2026-01-01")),
            row("BOLT", 0.11, None, Some("2026-07-01")),
            row("BOLT", 0.10, None, Some("2026-08-01")),
            row("BOLT", 0.09, Some("Acme"), None),
            row("BOLT", 0.0, Some("Nordic"), None),
            dollars,
            lapsed,
        ];
        let prices = BuyingPrices::read(&rows, today, "EUR");
        assert_eq!(
            prices.general,
            [("BOLT".to_owned(), 0.11)].into_iter().collect(),
            "the latest in force; not next month's, nor dollars, nor a lapsed one"
        );
        assert_eq!(
            prices.by_supplier,
            [(("BOLT".to_owned(), "Acme".to_owned()), 0.09)]
                .into_iter()
                .collect(),
            "a supplier's own rate; a zero rate is no price"
        );
    }
}
