//! Logistics, read from the logistics read model: purchase orders with
//! their lines and history, the inventory scans the Logistics agent
//! recorded, every stock level as the latest scan saw it, inbound shipments and
//! supplier performance.
//!
//! Every route is a read for every role, honours `min_checkpoint`
//! (read-your-writes) and answers 503 `projection.not_ready` until the read
//! model's first generation is built. Lists are newest first (inventory: by
//! SKU and warehouse), a page at a time: pass `next_cursor` as `cursor`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use domain::logistics::{Sku, SupplierId, WarehouseId};
use domain::Position;
use projections::models::event_log::active_checkpoint;
use projections::models::logistics::{
    self as model, InventoryLevelView, InventoryQuery, OrderLine, PurchaseOrderQuery,
    PurchaseOrderSummary, ScanQuery, ScanSummary, ShipmentQuery, ShipmentView, StatusChange,
    SupplierPerformance,
};
use projections::ProjectionError;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::openapi::{ActorShape, MoneyShape};
use super::problem::Problem;
use super::{ApiError, ApiQuery, AppState, Consistency, Principal, Role};

/// Who may read logistics: every role.
const READERS: [Role; 4] = [Role::Ceo, Role::Operator, Role::Auditor, Role::Viewer];
/// Rows per page unless `limit` says otherwise.
const DEFAULT_PAGE: u32 = 50;
/// A purchase order's statuses, as the `status` filter takes them.
const PO_STATUSES: [&str; 9] = [
    "drafted",
    "awaiting_approval",
    "approved",
    "submitted",
    "acknowledged",
    "partially_received",
    "received",
    "cancelled",
    "rejected",
];
/// A shipment's statuses, as the `status` filter takes them.
const SHIPMENT_STATUSES: [&str; 6] = [
    "pre_transit",
    "in_transit",
    "out_for_delivery",
    "delivered",
    "exception",
    "returned",
];

/// The logistics routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(purchase_orders))
        .routes(routes!(purchase_order))
        .routes(routes!(scans))
        .routes(routes!(scan))
        .routes(routes!(inventory))
        .routes(routes!(shipments))
        .routes(routes!(suppliers))
}

/// Lets any role read the logistics read model once it holds `min`.
async fn readable(
    state: &AppState,
    principal: &Principal,
    min: Option<Position>,
) -> Result<Consistency, ApiError> {
    principal.require(&READERS)?;
    state.wait_for_checkpoint(model::NAME, min).await
}

/// A query's answer, or its failure: 503 while the read model has no
/// generation yet (its runner has not started), else the error itself.
async fn answered<T>(state: &AppState, result: Result<T, ProjectionError>) -> Result<T, ApiError> {
    let error = match result {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    Err(match active_checkpoint(&state.db, model::NAME).await {
        Ok(None) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "projection.not_ready",
            "the logistics read model is still being built; retry shortly",
        ),
        _ => error.into(),
    })
}

/// The page size asked for, 1 to [`model::MAX_PAGE`].
fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=model::MAX_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("limit must be between 1 and {}", model::MAX_PAGE),
        ));
    }
    Ok(limit)
}

/// A status filter, checked against the statuses there are.
fn status(value: Option<String>, allowed: &[&str]) -> Result<Option<String>, ApiError> {
    match value {
        Some(status) if !allowed.contains(&status.as_str()) => Err(ApiError::invalid_field(
            "status",
            format!("unknown status {status:?}: one of {}", allowed.join(", ")),
        )),
        other => Ok(other),
    }
}

/// A parameter parsed into its domain type, or a problem naming it.
fn parsed<T: std::str::FromStr>(field: &str, value: Option<String>) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .map(|v| v.parse::<T>())
        .transpose()
        .map_err(|e| ApiError::invalid_field(field, e.to_string()))
}

/// The opaque cursor after a row at `(tx, seq)` of newest-first lists.
fn encode_cursor((tx, seq): (i64, i64)) -> String {
    hex::encode(format!("{tx}:{seq}"))
}

/// The place an opaque cursor of a newest-first list stands at.
fn decode_cursor(cursor: Option<String>) -> Result<Option<(i64, i64)>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let invalid = || ApiError::invalid_field("cursor", "not a cursor this API returned");
    let text = hex::decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let position: Position = text.parse().map_err(|_| invalid())?;
    let part = |n: u64| i64::try_from(n).map_err(|_| invalid());
    Ok(Some((part(position.tx)?, part(position.seq)?)))
}

/// A path's segment as given, or a problem naming it.
fn path_id(path: Result<Path<String>, PathRejection>, what: &str) -> Result<Uuid, ApiError> {
    let Path(id) = path.map_err(|e| ApiError::invalid_field("path", e.body_text()))?;
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no {what} {id:?}: ids are UUIDs")))
}

// ---- purchase orders ----

/// The filters and page of the purchase orders list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PurchaseOrderParams {
    /// Only orders in this status.
    #[param(value_type = Option<PurchaseOrderStatusShape>)]
    status: Option<String>,
    /// Only orders from this supplier (its name in the ERP).
    supplier: Option<String>,
    /// Only orders serving this directive.
    directive_id: Option<Uuid>,
    /// Only orders serving this task.
    task_id: Option<Uuid>,
    /// Where the previous page's `next_cursor` said to go on.
    cursor: Option<String>,
    /// Orders per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Wait (up to 2 s) until the read model holds this position.
    #[param(value_type = Option<String>, example = "1042:0")]
    min_checkpoint: Option<Position>,
}

/// A page of purchase orders, newest draft first.
#[derive(Debug, Serialize, ToSchema)]
struct PurchaseOrdersPage {
    #[schema(value_type = Vec<PurchaseOrderShape>)]
    purchase_orders: Vec<PurchaseOrderSummary>,
    /// Pass as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// Lists purchase orders.
///
/// Newest draft first, filtered by status, supplier, directive or task.
/// Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/logistics/purchase-orders",
    tag = "logistics",
    params(PurchaseOrderParams),
    responses(
        (status = 200, description = "A page of purchase orders", body = PurchaseOrdersPage),
        (status = 400, description = "A malformed filter, cursor or limit (`request.invalid_field`)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn purchase_orders(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<PurchaseOrderParams>,
) -> Result<(Consistency, Json<PurchaseOrdersPage>), ApiError> {
    principal.require(&READERS)?;
    let query = PurchaseOrderQuery {
        status: status(params.status, &PO_STATUSES)?,
        supplier: parsed::<SupplierId>("supplier", params.supplier)?.map(String::from),
        directive_id: params.directive_id,
        task_id: params.task_id,
        before: decode_cursor(params.cursor)?,
        limit: page_size(params.limit)?,
    };
    let consistency = readable(&state, &principal, params.min_checkpoint).await?;
    let page = answered(&state, model::list_purchase_orders(&state.db, &query).await).await?;
    Ok((
        consistency,
        Json(PurchaseOrdersPage {
            purchase_orders: page.items,
            next_cursor: page.next.map(encode_cursor),
        }),
    ))
}

/// Read-your-writes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReadParams {
    /// Wait (up to 2 s) until the read model holds this position.
    #[param(value_type = Option<String>, example = "1042:0")]
    min_checkpoint: Option<Position>,
}

/// A purchase order with its lines and history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PurchaseOrderDetail)]
struct PurchaseOrderDetailView {
    #[serde(flatten)]
    #[schema(value_type = PurchaseOrderShape)]
    order: PurchaseOrderSummary,
    /// Its lines, sorted by SKU.
    #[schema(value_type = Vec<OrderLineShape>)]
    lines: Vec<OrderLine>,
    /// Every step of its life, oldest first.
    #[schema(value_type = Vec<StatusChangeShape>)]
    history: Vec<StatusChange>,
}

/// Shows a purchase order.
///
/// One order with its lines (each with the reasoning behind its quantity
/// and what has arrived) and its status history. Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/logistics/purchase-orders/{id}",
    tag = "logistics",
    params(("id" = Uuid, Path, description = "The purchase order"), ReadParams),
    responses(
        (status = 200, description = "The purchase order", body = PurchaseOrderDetailView),
        (status = 404, description = "No such purchase order (`not_found`)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn purchase_order(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<String>, PathRejection>,
    ApiQuery(params): ApiQuery<ReadParams>,
) -> Result<(Consistency, Json<PurchaseOrderDetailView>), ApiError> {
    let consistency = readable(&state, &principal, params.min_checkpoint).await?;
    let id = path_id(id, "purchase order")?;
    let detail = answered(&state, model::get_purchase_order(&state.db, id).await)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no purchase order {id}")))?;
    Ok((
        consistency,
        Json(PurchaseOrderDetailView {
            order: detail.order,
            lines: detail.lines,
            history: detail.history,
        }),
    ))
}

// ---- scans ----

/// The filters and page of the scans list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ScanParams {
    /// Only scans serving this directive.
    directive_id: Option<Uuid>,
    /// Only scans serving this task.
    task_id: Option<Uuid>,
    /// Where the previous page's `next_cursor` said to go on.
    cursor: Option<String>,
    /// Scans per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Wait (up to 2 s) until the read model holds this position.
    #[param(value_type = Option<String>, example = "1042:0")]
    min_checkpoint: Option<Position>,
}

/// A page of inventory scans, newest first.
#[derive(Debug, Serialize, ToSchema)]
struct ScansPage {
    #[schema(value_type = Vec<InventoryScanShape>)]
    scans: Vec<ScanSummary>,
    /// Pass as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// Lists inventory scans.
///
/// What the Logistics agent read and decided, newest first. Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/logistics/scans",
    tag = "logistics",
    params(ScanParams),
    responses(
        (status = 200, description = "A page of scans", body = ScansPage),
        (status = 400, description = "A malformed filter, cursor or limit (`request.invalid_field`)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn scans(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ScanParams>,
) -> Result<(Consistency, Json<ScansPage>), ApiError> {
    principal.require(&READERS)?;
    let query = ScanQuery {
        directive_id: params.directive_id,
        task_id: params.task_id,
        before: decode_cursor(params.cursor)?,
        limit: page_size(params.limit)?,
    };
    let consistency = readable(&state, &principal, params.min_checkpoint).await?;
    let page = answered(&state, model::list_scans(&state.db, &query).await).await?;
    Ok((
        consistency,
        Json(ScansPage {
            scans: page.items,
            next_cursor: page.next.map(encode_cursor),
        }),
    ))
}

/// A scan with what it read and decided.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = InventoryScanDetail)]
struct ScanDetailView {
    #[serde(flatten)]
    #[schema(value_type = InventoryScanShape)]
    scan: ScanSummary,
    /// The warehouses looked at (every one when empty).
    #[schema(value_type = Vec<String>)]
    warehouses: serde_json::Value,
    /// Where the figures came from, e.g. `erpnext`, `sheets:<spreadsheet>`.
    #[schema(value_type = Vec<String>)]
    sources: serde_json::Value,
    /// Each level at or below its reorder point: `sku`, `warehouse`,
    /// `supplier`, `unit_cost`, `outcome` (`order` with `quantity` and
    /// `amount`, or `cannot_order` with `reason`), every figure of the
    /// `reasoning`, and the decision in one line (`explanation`).
    #[schema(value_type = Vec<Object>)]
    decisions: serde_json::Value,
    /// The purchase orders drafted: `po_id`, `supplier`, `warehouse`,
    /// `amount`, `lines` (how many).
    #[schema(value_type = Vec<Object>)]
    drafts: serde_json::Value,
    /// The levels the rules could not be applied to: `sku`, `warehouse`, `reason`.
    #[schema(value_type = Vec<Object>)]
    skipped: serde_json::Value,
    /// The shelf counts that differed from the ERP: `sku`, `warehouse`,
    /// `erp_on_hand`, `counted`.
    #[schema(value_type = Vec<Object>)]
    count_differences: serde_json::Value,
}

/// Shows an inventory scan.
///
/// One scan with every decision and its reasoning, the orders drafted, the
/// levels skipped and the counts that differed. Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/logistics/scans/{id}",
    tag = "logistics",
    params(("id" = Uuid, Path, description = "The scan"), ReadParams),
    responses(
        (status = 200, description = "The scan", body = ScanDetailView),
        (status = 404, description = "No such scan (`not_found`)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn scan(
    State(state): State<AppState>,
    principal: Principal,
    id: Result<Path<String>, PathRejection>,
    ApiQuery(params): ApiQuery<ReadParams>,
) -> Result<(Consistency, Json<ScanDetailView>), ApiError> {
    let consistency = readable(&state, &principal, params.min_checkpoint).await?;
    let id = path_id(id, "scan")?;
    let detail = answered(&state, model::get_scan(&state.db, id).await)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no scan {id}")))?;
    Ok((
        consistency,
        Json(ScanDetailView {
            scan: detail.scan,
            warehouses: detail.warehouses,
            sources: detail.sources,
            decisions: detail.decisions,
            drafts: detail.drafts,
            skipped: detail.skipped,
            count_differences: detail.count_differences,
        }),
    ))
}

// ---- inventory ----

/// The filters and page of the inventory view.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct InventoryParams {
    /// Only this SKU.
    sku: Option<String>,
    /// Only this warehouse (its name in the ERP).
    warehouse: Option<String>,
    /// `true`: only the levels needing attention, at or below their reorder
    /// point (to order, or that cannot be ordered).
    attention: Option<bool>,
    /// Where the previous page's `next_cursor` said to go on.
    cursor: Option<String>,
    /// Levels per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Wait (up to 2 s) until the read model holds this position.
    #[param(value_type = Option<String>, example = "1042:0")]
    min_checkpoint: Option<Position>,
}

/// A page of stock levels, by SKU then warehouse.
#[derive(Debug, Serialize, ToSchema)]
struct InventoryPage {
    #[schema(value_type = Vec<InventoryLevelShape>)]
    levels: Vec<InventoryLevelView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// Separates the SKU from the warehouse in an inventory cursor (neither
/// holds control characters).
const KEY_SEPARATOR: char = '\n';

fn encode_key((sku, warehouse): (String, String)) -> String {
    hex::encode(format!("{sku}{KEY_SEPARATOR}{warehouse}"))
}

fn decode_key(cursor: Option<String>) -> Result<Option<(String, String)>, ApiError> {
    let Some(cursor) = cursor else {
        return Ok(None);
    };
    let invalid = || ApiError::invalid_field("cursor", "not a cursor this API returned");
    let text = hex::decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid)?;
    let (sku, warehouse) = text.split_once(KEY_SEPARATOR).ok_or_else(invalid)?;
    Ok(Some((sku.to_owned(), warehouse.to_owned())))
}

/// Lists stock levels.
///
/// Per SKU and warehouse, the figures of the latest scan that looked at the
/// level: on hand, reserved, on order, the projected position, the reorder
/// point and safety stock, and what was decided (`hold` above the reorder
/// point; `order` or `cannot_order`, with the reasoning, at or below it).
/// `attention=true` lists only the latter. A level no scan has looked at
/// since keeps its row (see `scanned_at`). Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/logistics/inventory",
    tag = "logistics",
    params(InventoryParams),
    responses(
        (status = 200, description = "A page of stock levels", body = InventoryPage),
        (status = 400, description = "A malformed filter, cursor or limit (`request.invalid_field`)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn inventory(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<InventoryParams>,
) -> Result<(Consistency, Json<InventoryPage>), ApiError> {
    principal.require(&READERS)?;
    let query = InventoryQuery {
        sku: parsed::<Sku>("sku", params.sku)?.map(String::from),
        warehouse: parsed::<WarehouseId>("warehouse", params.warehouse)?.map(String::from),
        attention: params.attention.unwrap_or(false),
        after: decode_key(params.cursor)?,
        limit: page_size(params.limit)?,
    };
    let consistency = readable(&state, &principal, params.min_checkpoint).await?;
    let page = answered(&state, model::list_inventory(&state.db, &query).await).await?;
    Ok((
        consistency,
        Json(InventoryPage {
            levels: page.items,
            next_cursor: page.next.map(encode_key),
        }),
    ))
}

// ---- shipments ----

/// The filters and page of the shipments list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ShipmentParams {
    /// Only shipments in this status.
    #[param(value_type = Option<ShipmentStatusShape>)]
    status: Option<String>,
    /// Only shipments delivering this purchase order.
    po_id: Option<Uuid>,
    /// Where the previous page's `next_cursor` said to go on.
    cursor: Option<String>,
    /// Shipments per page, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Wait (up to 2 s) until the read model holds this position.
    #[param(value_type = Option<String>, example = "1042:0")]
    min_checkpoint: Option<Position>,
}

/// A page of shipments, newest first.
#[derive(Debug, Serialize, ToSchema)]
struct ShipmentsPage {
    #[schema(value_type = Vec<ShipmentShape>)]
    shipments: Vec<ShipmentView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// Lists inbound shipments.
///
/// Newest first, with the carrier's latest status and the alerts raised.
/// Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/logistics/shipments",
    tag = "logistics",
    params(ShipmentParams),
    responses(
        (status = 200, description = "A page of shipments", body = ShipmentsPage),
        (status = 400, description = "A malformed filter, cursor or limit (`request.invalid_field`)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn shipments(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ShipmentParams>,
) -> Result<(Consistency, Json<ShipmentsPage>), ApiError> {
    principal.require(&READERS)?;
    let query = ShipmentQuery {
        status: status(params.status, &SHIPMENT_STATUSES)?,
        po_id: params.po_id,
        before: decode_cursor(params.cursor)?,
        limit: page_size(params.limit)?,
    };
    let consistency = readable(&state, &principal, params.min_checkpoint).await?;
    let page = answered(&state, model::list_shipments(&state.db, &query).await).await?;
    Ok((
        consistency,
        Json(ShipmentsPage {
            shipments: page.items,
            next_cursor: page.next.map(encode_cursor),
        }),
    ))
}

// ---- suppliers ----

/// Suppliers' performance.
#[derive(Debug, Serialize, ToSchema)]
struct SupplierList {
    #[schema(value_type = Vec<SupplierPerformanceShape>)]
    suppliers: Vec<SupplierPerformance>,
}

/// Lists suppliers' performance.
///
/// Every supplier with purchase orders, by name: orders per status, the
/// amount placed, deliveries on time (delivered by the date promised) and
/// lead times (from the order's submission to each shipment's delivery).
/// Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/logistics/suppliers",
    tag = "logistics",
    params(ReadParams),
    responses((status = 200, description = "The suppliers", body = SupplierList)),
)]
async fn suppliers(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<ReadParams>,
) -> Result<(Consistency, Json<SupplierList>), ApiError> {
    let consistency = readable(&state, &principal, params.min_checkpoint).await?;
    let suppliers = answered(&state, model::supplier_performance(&state.db).await).await?;
    Ok((consistency, Json(SupplierList { suppliers })))
}

// ---- shapes of the read model's rows, for the document ----

/// Where a purchase order stands.
#[derive(ToSchema)]
#[schema(as = PurchaseOrderStatus)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum PurchaseOrderStatusShape {
    /// Drafted by an agent.
    Drafted,
    /// Waiting for a person's decision.
    AwaitingApproval,
    /// Approved, by a person or under the policy.
    Approved,
    /// Created and submitted in the ERP.
    Submitted,
    /// Confirmed by the supplier.
    Acknowledged,
    /// Some goods arrived, not all.
    PartiallyReceived,
    /// Every line arrived in full (or more).
    Received,
    /// Withdrawn before any goods arrived.
    Cancelled,
    /// Refused by the approver.
    Rejected,
}

/// Where a shipment is, as its carrier reports it.
#[derive(ToSchema)]
#[schema(as = ShipmentStatus)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum ShipmentStatusShape {
    /// Label created, not yet picked up.
    PreTransit,
    /// On its way.
    InTransit,
    /// On the delivery vehicle.
    OutForDelivery,
    /// Handed over.
    Delivered,
    /// Held up.
    Exception,
    /// On its way back to the sender.
    Returned,
}

/// A purchase order as listed.
#[derive(ToSchema)]
#[schema(as = PurchaseOrder)]
#[allow(dead_code)]
struct PurchaseOrderShape {
    /// Its id.
    id: Uuid,
    /// Where it stands.
    #[schema(value_type = PurchaseOrderStatusShape)]
    status: String,
    /// From whom (the supplier's name in the ERP).
    supplier: String,
    /// Delivered where (the warehouse's name in the ERP).
    warehouse: String,
    /// `Σ qty × unit cost`.
    #[schema(value_type = MoneyShape)]
    amount: String,
    /// The ERP document's name, once submitted.
    erp_name: Option<String>,
    /// The approval it waits or waited for.
    approval_id: Option<Uuid>,
    /// The directive it serves.
    directive_id: Option<Uuid>,
    /// The task it serves.
    task_id: Option<Uuid>,
    /// Who drafted it.
    #[schema(value_type = ActorShape)]
    drafted_by: String,
    /// When (RFC 3339).
    drafted_at: String,
    /// When the ERP submitted it to the supplier (RFC 3339).
    submitted_at: Option<String>,
    /// When it last changed (RFC 3339).
    updated_at: String,
}

/// A purchase order's line.
#[derive(ToSchema)]
#[schema(as = OrderLine)]
#[allow(dead_code)]
struct OrderLineShape {
    /// What.
    #[schema(example = "SKU-1042")]
    sku: String,
    /// Units ordered.
    qty: u32,
    /// Price per unit.
    #[schema(value_type = MoneyShape)]
    unit_cost: String,
    /// Every figure of the reorder decision behind the quantity: demand,
    /// lead time, safety stock, reorder point, stock position, economic
    /// order quantity, rounding and caps.
    #[schema(value_type = Object)]
    reasoning: String,
    /// The reasoning in one line.
    explanation: String,
    /// Units received so far (more than `qty` when over-delivered).
    received: u64,
}

/// One step of a purchase order's life.
#[derive(ToSchema)]
#[schema(as = StatusChange)]
#[allow(dead_code)]
struct StatusChangeShape {
    /// The status it moved to.
    #[schema(value_type = PurchaseOrderStatusShape)]
    status: String,
    /// When (RFC 3339).
    at: String,
    /// Who moved it.
    #[schema(value_type = ActorShape)]
    by: String,
    /// Why, when the step says: the policy rule, the approver's reason,
    /// what a receipt brought.
    reason: Option<String>,
}

/// An inventory scan as listed.
#[derive(ToSchema)]
#[schema(as = InventoryScan)]
#[allow(dead_code)]
struct InventoryScanShape {
    /// Its id.
    id: Uuid,
    /// `report` or `reorder`.
    purpose: String,
    /// The task it served.
    task_id: Option<Uuid>,
    /// The directive it served.
    directive_id: Option<Uuid>,
    /// Who scanned.
    #[schema(value_type = ActorShape)]
    scanned_by: String,
    /// Stock levels read.
    levels_read: i64,
    /// Levels at or below their reorder point (each a decision).
    decision_count: i64,
    /// Decisions that order something.
    order_count: i64,
    /// Purchase orders drafted.
    draft_count: i64,
    /// Levels the rules could not be applied to.
    skipped_count: i64,
    /// Shelf counts that differed from the ERP.
    count_difference_count: i64,
    /// The scan in a few words.
    summary: String,
    /// When (RFC 3339).
    at: String,
}

/// A stock level that needs attention, as the latest scan that found it
/// at or below its reorder point saw it.
#[derive(ToSchema)]
#[schema(as = InventoryLevel)]
#[allow(dead_code)]
struct InventoryLevelShape {
    /// What.
    sku: String,
    /// Where.
    warehouse: String,
    /// From whom it would be ordered.
    supplier: String,
    /// Physically there.
    on_hand: i64,
    /// Promised, not yet shipped.
    reserved: i64,
    /// Ordered, not yet received.
    on_order: i64,
    /// On hand + on order − reserved: what was compared with the reorder point.
    projected: i64,
    /// The reorder point, in units.
    reorder_point: f64,
    /// The safety stock, in units.
    safety_stock: f64,
    /// `hold` (above the reorder point), `order` or `cannot_order`.
    outcome: String,
    /// Units ordered (0 unless `order`).
    order_qty: i64,
    /// Why no order could be placed (`cannot_order` only).
    reason: Option<String>,
    /// The decision in one line.
    explanation: String,
    /// The scan that saw it.
    scan_id: Uuid,
    /// When (RFC 3339).
    scanned_at: String,
}

/// An alert raised on a shipment.
#[derive(ToSchema)]
#[schema(as = ShipmentAlert)]
#[allow(dead_code)]
struct ShipmentAlertShape {
    /// `exception`, `returned` or `late`.
    kind: String,
    /// What happened, for a person.
    reason: String,
    /// The carrier update that revealed it.
    carrier_event_id: String,
    /// When that update happened (RFC 3339).
    at: String,
}

/// What a parcel carries of one SKU.
#[derive(ToSchema)]
#[schema(as = ParcelLine)]
#[allow(dead_code)]
struct ParcelLineShape {
    /// The SKU.
    sku: String,
    /// How many units (at least 1).
    #[schema(minimum = 1)]
    quantity: u32,
}

/// An inbound shipment.
#[derive(ToSchema)]
#[schema(as = Shipment)]
#[allow(dead_code)]
struct ShipmentShape {
    /// Its id.
    id: Uuid,
    /// The purchase order it delivers.
    po_id: Uuid,
    /// The carrier.
    carrier: String,
    /// The carrier's tracking number.
    tracking_number: String,
    /// Where it is.
    #[schema(value_type = ShipmentStatusShape)]
    status: String,
    /// The delivery the carrier expects (RFC 3339).
    eta: Option<String>,
    /// When the supplier promised the goods (RFC 3339).
    promised_by: String,
    /// When the carrier delivered them (RFC 3339).
    delivered_at: Option<String>,
    /// The newest carrier update's words.
    last_message: Option<String>,
    /// When that update happened (RFC 3339).
    last_update_at: Option<String>,
    /// The alerts raised, oldest first.
    alerts: Vec<ShipmentAlertShape>,
    /// What it carries, as the supplier's shipping notice says; empty when
    /// no notice was given (it is then received as all its order awaits).
    contents: Vec<ParcelLineShape>,
    /// When tracking started (RFC 3339).
    started_at: String,
    /// When it last changed (RFC 3339).
    updated_at: String,
}

/// How a supplier has performed.
#[derive(ToSchema)]
#[schema(as = SupplierPerformance)]
#[allow(dead_code)]
struct SupplierPerformanceShape {
    /// The supplier's name in the ERP.
    supplier: String,
    /// Purchase orders drafted for it.
    orders_drafted: i64,
    /// Placed (submitted to it through the ERP).
    orders_placed: i64,
    /// Placed, not yet received in full nor cancelled.
    orders_open: i64,
    /// Received in full.
    orders_received: i64,
    /// Cancelled.
    orders_cancelled: i64,
    /// Refused by the approver.
    orders_rejected: i64,
    /// What the placed, not cancelled, orders amount to, per currency.
    #[schema(value_type = Vec<MoneyShape>)]
    placed_amounts: Vec<String>,
    /// Shipments delivered.
    deliveries: i64,
    /// Shipments delivered by the date promised.
    on_time_deliveries: i64,
    /// `on_time_deliveries / deliveries` (`null` before any delivery).
    on_time_rate: Option<f64>,
    /// Mean days from an order's submission to a shipment's delivery.
    lead_time_days: Option<f64>,
    /// The shortest, in days.
    lead_time_days_min: Option<f64>,
    /// The longest, in days.
    lead_time_days_max: Option<f64>,
}

#[cfg(test)]
mod tests {
    use domain::logistics::{PurchaseOrderStatus, ShipmentStatus};

    use super::*;

    fn label<T: Serialize>(value: &T) -> String {
        serde_json::to_value(value)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    #[test]
    fn status_filters_are_the_domains_statuses() {
        use PurchaseOrderStatus as P;
        let po = [
            P::Drafted,
            P::AwaitingApproval,
            P::Approved,
            P::Submitted,
            P::Acknowledged,
            P::PartiallyReceived,
            P::Received,
            P::Cancelled,
            P::Rejected,
        ];
        assert_eq!(po.map(|s| label(&s)), PO_STATUSES.map(str::to_owned));
        use ShipmentStatus as S;
        let shipment = [
            S::PreTransit,
            S::InTransit,
            S::OutForDelivery,
            S::Delivered,
            S::Exception,
            S::Returned,
        ];
        assert_eq!(
            shipment.map(|s| label(&s)),
            SHIPMENT_STATUSES.map(str::to_owned)
        );
    }

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let at = (1042, 7);
        assert_eq!(decode_cursor(Some(encode_cursor(at))), Ok(Some(at)));
        let key = ("SKU-1".to_owned(), "Main - AC".to_owned());
        assert_eq!(decode_key(Some(encode_key(key.clone()))), Ok(Some(key)));
        for stranger in ["zz", "1042.7", &hex::encode("1042")] {
            assert!(
                decode_cursor(Some(stranger.to_owned())).is_err(),
                "{stranger}"
            );
            assert!(decode_key(Some(stranger.to_owned())).is_err(), "{stranger}");
        }
    }
}
