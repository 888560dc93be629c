//! Logistics Core: the catalogue, the reorder rules, purchase orders and
//! inbound shipments, as plain data and pure functions.
//!
//! - [`catalog`]: SKUs, warehouses, suppliers, items and stock levels
//!   (ERPNext's Item, Supplier, Warehouse and Bin), parsed at the edge.
//! - [`reorder`]: when to order and how much (reorder point with safety
//!   stock, economic order quantity, minimum order, pack size and cap),
//!   with the reasoning kept beside every decision, and the grouping of
//!   decisions into one draft purchase order per supplier and warehouse.
//! - [`purchase_order`]: the [`PurchaseOrder`] aggregate, from draft to
//!   receipt of the goods.
//! - [`scan`]: an inventory scan as the Logistics agent records it (what it
//!   read and decided) and [`scan::restock`], the rules applied to a whole
//!   stock picture.
//! - [`settlement`]: the tally of a scan's orders that came to rest, which
//!   completes the scan's task when the last one does.
//! - [`shipment`]: the [`Shipment`] aggregate, following a carrier's updates
//!   and raising an alert once per kind of trouble.
//!
//! Nothing here talks to the ERP or a carrier: the Logistics agent reads
//! them through its adapters, calls these functions, and sends the commands.

pub mod catalog;
pub mod purchase_order;
pub mod reorder;
pub mod scan;
pub mod settlement;
pub mod shipment;

pub use catalog::{
    Days, Fraction, InvalidValue, InventoryLevel, Item, Sku, Supplier, SupplierId, WarehouseId,
    ZScore,
};
pub use purchase_order::{
    DraftPurchaseOrder, PoLine, PurchaseOrder, PurchaseOrderCommand, PurchaseOrderEvent,
    PurchaseOrderRejection, PurchaseOrderStatus,
};
pub use reorder::{
    decide_reorder, decide_requested_order, group_by_supplier, CannotOrder, DemandStats,
    GroupingError, ReorderDecision, ReorderOutcome, ReorderPolicy, ReorderReasoning,
};
pub use shipment::{
    needs_alert, AlertKind, Shipment, ShipmentCommand, ShipmentEvent, ShipmentRejection,
    ShipmentStatus,
};
