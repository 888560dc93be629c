//! What the Logistics agent needs from the company's ERP, whatever speaks it.
//!
//! [`ErpNextStock`] implements it over the ERPNext client (and, where
//! configured, a Google Sheet of shelf counts); tests may implement it over
//! anything that gives the same answers.

use async_trait::async_trait;
use domain::logistics::purchase_order::PurchaseOrderDrafted;
use domain::logistics::scan::StockPicture;
use domain::logistics::{Sku, WarehouseId};
use uuid::Uuid;

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
