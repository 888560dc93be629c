//! The logistics API over HTTP, on PostgreSQL and SQLite, with the
//! logistics read model running: a purchase order driven through the
//! command handler (drafted → approval requested → approved → submitted)
//! reads back with its status history; every role reads; lists page
//! through; scans, stock levels, shipments and suppliers answer in their
//! documented shapes; no token is 401, an unknown id 404, a bad filter 400.

mod support;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use api::gateway::{self, Role, STALE_HEADER};
use chrono::{DateTime, TimeDelta, Utc};
use commands::{Envelope, Handled};
use domain::logistics::purchase_order::PurchaseOrderCommand;
use domain::logistics::scan::{
    restock, InventoryScan, InventoryScanCommand, InventoryScanned, ScanDraft, ScanPurpose,
    ScanScope, StockPicture,
};
use domain::logistics::{
    Days, Fraction, InventoryLevel, Item, PurchaseOrder, ReorderPolicy, Shipment, ShipmentCommand,
    ShipmentStatus, Supplier,
};
use domain::{Actor, Aggregate, CommandId, CorrelationId, Money, Position};
use projections::models::logistics::Logistics;
use serde_json::Value;
use support::{expect_json, expect_problem, Kind, TestApp};
use tokio::task::JoinHandle;
use uuid::Uuid;

both!(
    a_purchase_order_reads_back_with_its_status_history,
    lists_page_through_and_every_route_answers_its_documented_shape,
    reads_need_a_token_and_name_what_is_wrong,
);

/// Runs the logistics projection for the app (aborted with the handle).
fn run_logistics(app: &TestApp) -> JoinHandle<()> {
    app.run_projection(Arc::new(Logistics))
}

/// Sends `command` to the aggregate `id` through the command handler, as `actor`.
async fn send<A: Aggregate>(app: &TestApp, id: Uuid, command: A::Command, actor: &str) -> Handled {
    app.state
        .handler
        .handle::<A>(Envelope {
            stream: A::stream(id),
            command,
            command_id: CommandId::from_uuid(Uuid::now_v7()),
            correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
            causation_id: None,
            actor: actor.parse().expect("an actor"),
        })
        .await
        .map_err(|e| e.to_string())
        .expect("accepted")
}

fn checkpoint(handled: &Handled) -> Position {
    handled.position.expect("events were written")
}

fn t0() -> DateTime<Utc> {
    "2026-03-02T08:00:00Z".parse().expect("a time")
}

fn hours(h: i64) -> DateTime<Utc> {
    t0() + TimeDelta::hours(h)
}

/// Bolts from Acme, low in each of these warehouses.
fn picture(warehouses: &[&str]) -> StockPicture {
    let eur = "EUR".parse().expect("a currency");
    let mut picture = StockPicture {
        items: vec![Item {
            sku: "BOLT-M8".parse().expect("a sku"),
            name: "Bolt M8".to_owned(),
            unit: "Nos".to_owned(),
            pack_size: NonZeroU32::new(10).expect("non-zero"),
            min_order_qty: 50,
            max_order_qty: None,
            unit_cost: Money::new(250, eur),
            default_supplier: Some("Acme".parse().expect("a supplier")),
        }],
        suppliers: vec![Supplier {
            id: "Acme".parse().expect("a supplier"),
            name: "Acme".to_owned(),
            lead_time_days: Days::try_from(5.0).expect("days"),
            lead_time_sd_days: Days::try_from(1.0).expect("days"),
            on_time_rate: Fraction::try_from(0.9).expect("a share"),
        }],
        levels: warehouses
            .iter()
            .map(|w| InventoryLevel {
                sku: "BOLT-M8".parse().expect("a sku"),
                warehouse: w.parse().expect("a warehouse"),
                on_hand: 12,
                reserved: 2,
                on_order: 0,
            })
            .collect(),
        ..StockPicture::default()
    };
    for l in &picture.levels {
        picture
            .demand
            .insert((l.sku.clone(), l.warehouse.clone()), vec![8, 12, 10, 10]);
    }
    picture
}

/// Records a reorder scan of bolts low in `warehouses` and drafts its
/// orders, as the Logistics agent does; the scan and the last write.
async fn scan_and_draft(app: &TestApp, warehouses: &[&str]) -> (InventoryScanned, Handled) {
    let found = restock(
        &picture(warehouses),
        &ScanScope::default(),
        &ReorderPolicy::default(),
    )
    .expect("restock");
    let scanned = InventoryScanned {
        scan_id: Uuid::now_v7(),
        purpose: ScanPurpose::Reorder,
        task_id: Some(Uuid::now_v7()),
        directive_id: Some(Uuid::now_v7()),
        warehouses: Vec::new(),
        sources: vec!["erpnext".to_owned()],
        levels_read: found.levels_read,
        count_differences: found.count_differences,
        skipped: found.skipped,
        decisions: found.decisions,
        drafts: found
            .drafts
            .into_iter()
            .map(|order| ScanDraft {
                po_id: Uuid::now_v7(),
                order,
            })
            .collect(),
        scanned_by: Actor::Agent("logistics".to_owned()),
        at: t0(),
    };
    let mut last = send::<InventoryScan>(
        app,
        scanned.scan_id,
        InventoryScanCommand::Record {
            scan: scanned.clone(),
            levels: found.levels,
        },
        "agent:logistics",
    )
    .await;
    for draft in &scanned.drafts {
        last = send::<PurchaseOrder>(
            app,
            draft.po_id,
            PurchaseOrderCommand::Draft {
                po_id: draft.po_id,
                order: draft.order.clone(),
                directive_id: scanned.directive_id,
                task_id: scanned.task_id,
                drafted_by: Actor::Agent("logistics".to_owned()),
                at: t0(),
            },
            "agent:logistics",
        )
        .await;
    }
    (scanned, last)
}

async fn a_purchase_order_reads_back_with_its_status_history(kind: Kind) {
    let app = TestApp::start(kind).await;
    let (scanned, drafted) = scan_and_draft(&app, &["Main - AC"]).await;
    let po_id = scanned.drafts[0].po_id;
    let viewer = app.token(Role::Viewer).await;
    let path = format!("/api/v1/logistics/purchase-orders/{po_id}");

    // Before the read model's first generation, reads say it is not ready.
    expect_problem(
        app.get(
            &format!("{path}?min_checkpoint={}", checkpoint(&drafted)),
            Some(&viewer),
        )
        .await,
        503,
        "projection.not_ready",
    )
    .await;
    let projection = run_logistics(&app);

    let approval_id = Uuid::now_v7();
    send::<PurchaseOrder>(
        &app,
        po_id,
        PurchaseOrderCommand::RequestApproval {
            approval_id,
            reason: "orders over 100.00 EUR need the CEO's approval".to_owned(),
            at: hours(1),
        },
        "agent:logistics",
    )
    .await;
    send::<PurchaseOrder>(
        &app,
        po_id,
        PurchaseOrderCommand::Approve {
            approval_id,
            by: Actor::User("ceo".to_owned()),
            at: hours(2),
        },
        "user:ceo",
    )
    .await;
    let submitted = send::<PurchaseOrder>(
        &app,
        po_id,
        PurchaseOrderCommand::Submit {
            erp_name: "PUR-ORD-2026-00042".to_owned(),
            at: hours(3),
        },
        "agent:logistics",
    )
    .await;

    // Read-your-writes: the submission is there at once.
    let response = app
        .get(
            &format!("{path}?min_checkpoint={}", checkpoint(&submitted)),
            Some(&viewer),
        )
        .await;
    assert!(!response.headers().contains_key(STALE_HEADER));
    let order = expect_json(response, 200).await;
    assert_eq!(order["id"], po_id.to_string());
    assert_eq!(order["status"], "submitted");
    assert_eq!(order["supplier"], "Acme");
    assert_eq!(order["warehouse"], "Main - AC");
    assert_eq!(order["erp_name"], "PUR-ORD-2026-00042");
    assert_eq!(order["approval_id"], approval_id.to_string());
    assert_eq!(
        order["directive_id"],
        scanned.directive_id.expect("one").to_string()
    );
    assert_eq!(order["task_id"], scanned.task_id.expect("one").to_string());
    assert_eq!(order["drafted_by"], "agent:logistics");
    let amount = scanned.drafts[0].order.amount;
    assert_eq!(order["amount"]["minor"], amount.minor);
    assert_eq!(order["amount"]["currency"], "EUR");
    let steps: Vec<(String, String, Value, String)> = order["history"]
        .as_array()
        .expect("a history")
        .iter()
        .map(|s| {
            (
                s["status"].as_str().unwrap_or_default().to_owned(),
                s["by"].as_str().unwrap_or_default().to_owned(),
                s["reason"].clone(),
                s["at"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let at = |h| hours(h).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert_eq!(
        steps,
        [
            (
                "drafted".to_owned(),
                "agent:logistics".to_owned(),
                Value::Null,
                at(0)
            ),
            (
                "awaiting_approval".to_owned(),
                "agent:logistics".to_owned(),
                Value::from("orders over 100.00 EUR need the CEO's approval"),
                at(1),
            ),
            (
                "approved".to_owned(),
                "user:ceo".to_owned(),
                Value::Null,
                at(2)
            ),
            (
                "submitted".to_owned(),
                "agent:logistics".to_owned(),
                Value::Null,
                at(3)
            ),
        ]
    );
    let line = &order["lines"][0];
    let drafted_line = &scanned.drafts[0].order.lines[0];
    assert_eq!(line["sku"], "BOLT-M8");
    assert_eq!(line["qty"], drafted_line.qty);
    assert_eq!(line["received"], 0);
    assert_eq!(line["explanation"], drafted_line.reasoning.explain());
    assert_eq!(
        line["reasoning"]["order_qty"], drafted_line.qty,
        "the reasoning behind the quantity"
    );

    // Every role reads it; the list finds it by its status.
    for role in Role::ALL {
        let token = app.token(role).await;
        app.get_json(&path, &token, 200).await;
    }
    let listed = app
        .get_json(
            "/api/v1/logistics/purchase-orders?status=submitted&supplier=Acme",
            &viewer,
            200,
        )
        .await;
    assert_eq!(listed["purchase_orders"][0]["id"], po_id.to_string());
    assert!(listed["purchase_orders"][0].get("history").is_none());
    let none = app
        .get_json(
            "/api/v1/logistics/purchase-orders?status=approved",
            &viewer,
            200,
        )
        .await;
    assert_eq!(none["purchase_orders"], serde_json::json!([]));
    assert_eq!(none["next_cursor"], Value::Null);
    projection.abort();
}

/// The names of the properties `schema` documents (through `$ref`s and `allOf`).
fn documented(document: &Value, schema: &Value) -> Vec<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return documented(document, &document["components"]["schemas"][name]);
    }
    let mut names: Vec<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        names.extend(documented(document, part));
    }
    names.sort();
    names
}

/// The keys of a JSON object, sorted.
fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// The documented success schema of `GET path`.
fn answer_schema(document: &Value, path: &str) -> Value {
    let schema = &document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"];
    assert!(schema.is_object(), "GET {path} documents no JSON answer");
    schema.clone()
}

/// `body` has exactly the documented fields, and so does the first of its
/// `list` (whose items' schema is that of the property `list`).
fn assert_shape(document: &Value, path: &str, body: &Value, list: Option<&str>) {
    let schema = answer_schema(document, path);
    assert_eq!(keys(body), documented(document, &schema), "GET {path}");
    if let Some(list) = list {
        let mut page = schema.clone();
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/schemas/");
            page = document["components"]["schemas"][name].clone();
        }
        let items = &page["properties"][list]["items"];
        let first = &body[list][0];
        assert_eq!(
            keys(first),
            documented(document, items),
            "GET {path}: {list}"
        );
    }
}

async fn lists_page_through_and_every_route_answers_its_documented_shape(kind: Kind) {
    let app = TestApp::start(kind).await;
    let projection = run_logistics(&app);
    let (scanned, _) = scan_and_draft(&app, &["East - AC", "Main - AC", "Stores - AC"]).await;
    assert_eq!(scanned.drafts.len(), 3);
    let po_id = scanned.drafts[0].po_id;
    send::<PurchaseOrder>(
        &app,
        po_id,
        PurchaseOrderCommand::ApproveUnderPolicy {
            reason: "no approval rule matched".to_owned(),
            at: hours(1),
        },
        "agent:logistics",
    )
    .await;
    send::<PurchaseOrder>(
        &app,
        po_id,
        PurchaseOrderCommand::Submit {
            erp_name: "PUR-ORD-2026-00043".to_owned(),
            at: hours(2),
        },
        "agent:logistics",
    )
    .await;
    let shipment = Uuid::now_v7();
    send::<Shipment>(
        &app,
        shipment,
        ShipmentCommand::StartTracking {
            shipment_id: shipment,
            po_id,
            task_id: None,
            carrier: "DHL".to_owned(),
            tracking_number: "JD014600006101".to_owned(),
            promised_by: hours(2 + 96),
            contents: Vec::new(),
            at: hours(3),
        },
        "agent:logistics",
    )
    .await;
    let delivered = send::<Shipment>(
        &app,
        shipment,
        ShipmentCommand::RecordCarrierUpdate {
            carrier_event_id: "trk-1".to_owned(),
            status: ShipmentStatus::Delivered,
            eta: None,
            message: "delivered to the dock".to_owned(),
            occurred_at: hours(2 + 72),
        },
        "agent:logistics",
    )
    .await;
    let viewer = app.token(Role::Viewer).await;
    let at = format!("min_checkpoint={}", checkpoint(&delivered));

    // Three orders, two a page, newest draft first.
    let first = app
        .get_json(
            &format!("/api/v1/logistics/purchase-orders?limit=2&{at}"),
            &viewer,
            200,
        )
        .await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .get_json(
            &format!("/api/v1/logistics/purchase-orders?limit=2&cursor={cursor}"),
            &viewer,
            200,
        )
        .await;
    assert_eq!(second["next_cursor"], Value::Null, "{second}");
    let ids: Vec<&str> = first["purchase_orders"]
        .as_array()
        .into_iter()
        .chain(second["purchase_orders"].as_array())
        .flatten()
        .filter_map(|o| o["id"].as_str())
        .collect();
    let drafted: Vec<String> = scanned
        .drafts
        .iter()
        .rev()
        .map(|d| d.po_id.to_string())
        .collect();
    assert_eq!(ids, drafted);
    let by_task = app
        .get_json(
            &format!(
                "/api/v1/logistics/purchase-orders?task_id={}&directive_id={}",
                scanned.task_id.expect("one"),
                scanned.directive_id.expect("one")
            ),
            &viewer,
            200,
        )
        .await;
    assert_eq!(by_task["purchase_orders"].as_array().map(Vec::len), Some(3));

    let document = serde_json::to_value(gateway::openapi()).expect("the document");
    assert_shape(
        &document,
        "/api/v1/logistics/purchase-orders",
        &first,
        Some("purchase_orders"),
    );
    let order = app
        .get_json(
            &format!("/api/v1/logistics/purchase-orders/{po_id}"),
            &viewer,
            200,
        )
        .await;
    assert_shape(
        &document,
        "/api/v1/logistics/purchase-orders/{id}",
        &order,
        None,
    );
    assert_eq!(order["history"][1]["reason"], "no approval rule matched");

    let scans = app
        .get_json(&format!("/api/v1/logistics/scans?{at}"), &viewer, 200)
        .await;
    assert_shape(&document, "/api/v1/logistics/scans", &scans, Some("scans"));
    assert_eq!(scans["scans"][0]["id"], scanned.scan_id.to_string());
    assert_eq!(scans["scans"][0]["draft_count"], 3);
    let scan = app
        .get_json(
            &format!("/api/v1/logistics/scans/{}", scanned.scan_id),
            &viewer,
            200,
        )
        .await;
    assert_shape(&document, "/api/v1/logistics/scans/{id}", &scan, None);
    assert_eq!(scan["decisions"].as_array().map(Vec::len), Some(3));

    let levels = app
        .get_json("/api/v1/logistics/inventory?limit=2", &viewer, 200)
        .await;
    assert_shape(
        &document,
        "/api/v1/logistics/inventory",
        &levels,
        Some("levels"),
    );
    let cursor = levels["next_cursor"].as_str().expect("a next page");
    let rest = app
        .get_json(
            &format!("/api/v1/logistics/inventory?limit=2&cursor={cursor}"),
            &viewer,
            200,
        )
        .await;
    assert_eq!(rest["levels"][0]["warehouse"], "Stores - AC");
    assert_eq!(rest["next_cursor"], Value::Null);
    let main = app
        .get_json(
            "/api/v1/logistics/inventory?sku=BOLT-M8&warehouse=Main%20-%20AC",
            &viewer,
            200,
        )
        .await;
    assert_eq!(main["levels"].as_array().map(Vec::len), Some(1));
    assert_eq!(main["levels"][0]["on_hand"], 12);
    assert_eq!(main["levels"][0]["projected"], 10);
    assert_eq!(main["levels"][0]["outcome"], "order");
    // Every level is low here, so those needing attention are all of them.
    let attention = app
        .get_json("/api/v1/logistics/inventory?attention=true", &viewer, 200)
        .await;
    assert_eq!(attention["levels"].as_array().map(Vec::len), Some(3));

    let shipments = app
        .get_json(
            &format!("/api/v1/logistics/shipments?status=delivered&po_id={po_id}"),
            &viewer,
            200,
        )
        .await;
    assert_shape(
        &document,
        "/api/v1/logistics/shipments",
        &shipments,
        Some("shipments"),
    );
    assert_eq!(shipments["shipments"][0]["id"], shipment.to_string());
    assert_eq!(
        shipments["shipments"][0]["last_message"],
        "delivered to the dock"
    );

    let suppliers = app
        .get_json("/api/v1/logistics/suppliers", &viewer, 200)
        .await;
    assert_shape(
        &document,
        "/api/v1/logistics/suppliers",
        &suppliers,
        Some("suppliers"),
    );
    let acme = &suppliers["suppliers"][0];
    assert_eq!(acme["supplier"], "Acme");
    assert_eq!(acme["orders_drafted"], 3);
    assert_eq!(acme["orders_placed"], 1);
    assert_eq!(acme["deliveries"], 1);
    assert_eq!(acme["on_time_rate"], 1.0);
    assert_eq!(acme["lead_time_days"], 3.0);
    projection.abort();
}

async fn reads_need_a_token_and_name_what_is_wrong(kind: Kind) {
    let app = TestApp::start(kind).await;
    let projection = run_logistics(&app);
    let viewer = app.token(Role::Viewer).await;
    let unknown = Uuid::now_v7();
    for path in [
        "/api/v1/logistics/purchase-orders".to_owned(),
        format!("/api/v1/logistics/purchase-orders/{unknown}"),
        "/api/v1/logistics/scans".to_owned(),
        format!("/api/v1/logistics/scans/{unknown}"),
        "/api/v1/logistics/inventory".to_owned(),
        "/api/v1/logistics/shipments".to_owned(),
        "/api/v1/logistics/suppliers".to_owned(),
    ] {
        expect_problem(app.get(&path, None).await, 401, "auth.missing_token").await;
    }
    // Wait until the read model serves (its first generation is built).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while app
        .get("/api/v1/logistics/suppliers", Some(&viewer))
        .await
        .status()
        != 200
    {
        assert!(std::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for path in [
        format!("/api/v1/logistics/purchase-orders/{unknown}"),
        "/api/v1/logistics/purchase-orders/PO-17".to_owned(),
        format!("/api/v1/logistics/scans/{unknown}"),
        "/api/v1/logistics/scans/not-a-scan".to_owned(),
    ] {
        expect_problem(app.get(&path, Some(&viewer)).await, 404, "not_found").await;
    }
    for (path, field) in [
        ("purchase-orders?status=shipped", "status"),
        ("purchase-orders?directive_id=42", "directive_id"),
        ("purchase-orders?task_id=x", "task_id"),
        ("purchase-orders?supplier=", "supplier"),
        ("purchase-orders?limit=0", "limit"),
        ("purchase-orders?limit=501", "limit"),
        ("purchase-orders?limit=ten", "limit"),
        ("purchase-orders?cursor=zzz", "cursor"),
        ("purchase-orders?colour=red", "colour"),
        ("purchase-orders?min_checkpoint=12", "min_checkpoint"),
        ("scans?cursor=31", "cursor"),
        ("scans?task_id=1", "task_id"),
        ("inventory?sku=BOLT%20M8", "sku"),
        ("inventory?cursor=00", "cursor"),
        ("inventory?attention=maybe", "attention"),
        ("shipments?status=lost", "status"),
        ("shipments?po_id=PO-17", "po_id"),
        ("suppliers?limit=5", "limit"),
    ] {
        let response = app
            .get(&format!("/api/v1/logistics/{path}"), Some(&viewer))
            .await;
        let body = expect_problem(response, 400, "request.invalid_field").await;
        assert_eq!(body["field"], field, "{path}: {body}");
    }
    projection.abort();
}
