//! The ERPNext client against the ERPNext simulator, over real HTTP on
//! local ports: paging, filters, Frappe's refusals, idempotent creation
//! under failures and lost answers, the circuit breaker, and receipts
//! moving stock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agents::adapters::erpnext::{
    DocStatus, ErpError, ErpNext, ErpNextConfig, PurchaseOrderDoc, PurchaseOrderLine,
    PurchaseReceiptDoc, PurchaseReceiptLine, PO_ID_FIELD,
};
use agents::adapters::{BreakerState, CallError, CallPolicy, HealthBoard};
use agents::logistics::erp::{Erp, ErpFailure, ErpNextStock};
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::Response;
use chrono::{Duration as Days, NaiveDate, Utc};
use domain::Money;
use simulators::erpnext::{ErpNextSim, Item, Stock, DEMO_BELOW_REORDER, STORES};
use simulators::{FaultPlan, Faults, SimServer};

const KEY: &str = "a1b2c3d4e5f6a7b";
const SECRET: &str = "9f8e7d6c5b4a3f2";

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn quick() -> CallPolicy {
    CallPolicy {
        timeout: Duration::from_secs(10),
        retries: 3,
        backoff: Duration::from_millis(5),
        backoff_ceiling: Duration::from_millis(20),
        failures_to_open: 10,
        open_for: Duration::from_secs(30),
    }
}

fn config(server: &SimServer, secret: &str, page_size: usize, policy: CallPolicy) -> ErpNextConfig {
    ErpNextConfig {
        page_size,
        policy,
        ..ErpNextConfig::new(&server.url(), KEY, secret)
    }
}

async fn start(sim: &ErpNextSim) -> Result<(SimServer, ErpNext), Box<dyn std::error::Error>> {
    let server = SimServer::start_local(sim.router()).await?;
    let erp = ErpNext::new(config(&server, SECRET, 20, quick()), &HealthBoard::new())?;
    Ok((server, erp))
}

/// A simulator whose next answer is lost (its own `lose_next_answers`
/// fault) right after the first request matching `method` and `path`
/// was served: so the request that follows it, not the first of a call,
/// is the one whose answer goes missing.
async fn lose_the_answer_after(
    sim: &ErpNextSim,
    method: Method,
    path: &str,
) -> Result<SimServer, Box<dyn std::error::Error>> {
    let armed: Arc<Mutex<Option<Faults>>> = Arc::default();
    let trigger = armed.clone();
    let path = path.to_owned();
    let app = sim
        .router()
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let trigger = trigger.clone();
            let method = method.clone();
            let path = path.clone();
            async move {
                let hit = request.method() == method && request.uri().path() == path;
                let response: Response = next.run(request).await;
                if hit {
                    let faults = trigger.lock().map(|mut f| f.take()).unwrap_or(None);
                    if let Some(faults) = faults {
                        faults.set(FaultPlan {
                            lose_next_answers: 1,
                            ..FaultPlan::default()
                        });
                    }
                }
                response
            }
        }));
    let server = SimServer::start_local(app).await?;
    if let Ok(mut slot) = armed.lock() {
        *slot = Some(server.faults().clone());
    }
    Ok(server)
}

fn small_company() -> Result<ErpNextSim, Box<dyn std::error::Error>> {
    let sim = ErpNextSim::new(KEY, SECRET);
    sim.add_supplier("Nordic Fasteners AB", Some(5))?;
    sim.add_item(
        &Item::new("BOLT-M8", "Hex bolt M8", "Nos")
            .ordering(100.0, 50.0)
            .supplier("Nordic Fasteners AB")
            .reorder(STORES, 200.0, 500.0),
    )?;
    sim.set_bin("BOLT-M8", STORES, Stock::on_hand(150.0))?;
    Ok(sim)
}

fn in_days(days: i64) -> NaiveDate {
    Utc::now().date_naive() + Days::days(days)
}

fn order(id: &str, item_code: &str, qty: f64) -> PurchaseOrderDoc {
    PurchaseOrderDoc {
        agentos_po_id: id.to_owned(),
        supplier: "Nordic Fasteners AB".to_owned(),
        company: None,
        transaction_date: None,
        schedule_date: in_days(7),
        set_warehouse: Some(STORES.to_owned()),
        items: vec![PurchaseOrderLine {
            item_code: item_code.to_owned(),
            qty,
            rate: 0.12,
            warehouse: None,
            schedule_date: None,
        }],
    }
}

fn receipt(id: &str, order: &str, qty: f64) -> PurchaseReceiptDoc {
    PurchaseReceiptDoc {
        agentos_receipt_id: id.to_owned(),
        supplier: None,
        company: None,
        posting_date: None,
        items: vec![PurchaseReceiptLine {
            item_code: "BOLT-M8".to_owned(),
            qty,
            purchase_order: order.to_owned(),
            warehouse: None,
            rate: None,
        }],
    }
}

fn number(value: &serde_json::Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

#[tokio::test]
async fn paging_through_45_items_by_20_reads_each_once() -> TestResult {
    let sim = ErpNextSim::new(KEY, SECRET);
    for n in 1..=45 {
        let item = Item::new(&format!("SKU-{n:03}"), &format!("Part {n}"), "Nos").reorder(
            STORES,
            f64::from(n),
            10.0,
        );
        sim.add_item(&item)?;
    }
    let (_server, erp) = start(&sim).await?;
    let items = erp.items().await?;
    let mut codes: Vec<&str> = items.iter().map(|i| i.item_code.as_str()).collect();
    codes.dedup();
    assert_eq!(codes.len(), 45);
    assert_eq!(codes[0], "SKU-001");
    assert_eq!(codes[44], "SKU-045");
    let last = &items[44];
    assert_eq!(last.reorder_levels.len(), 1);
    assert_eq!(last.reorder_levels[0].warehouse, STORES);
    assert_eq!(last.reorder_levels[0].warehouse_reorder_level, 45.0);
    // Items 20 + 20 + 5, reorder rows 20 + 20 + 5, item defaults 0.
    assert_eq!(erp.health().calls, 7);
    Ok(())
}

#[tokio::test]
async fn the_demo_company_reads_as_seeded_and_filters_select_bins() -> TestResult {
    let sim = ErpNextSim::demo_company(KEY, SECRET)?;
    let (_server, erp) = start(&sim).await?;
    let items = erp.items().await?;
    assert_eq!(items.len(), 12);
    let bolt = items
        .iter()
        .find(|i| i.item_code == "FAST-M4-20")
        .ok_or("no FAST-M4-20")?;
    assert_eq!(bolt.pack_size, Some(100.0));
    assert_eq!(bolt.min_order_qty, 500.0);
    assert_eq!(
        bolt.default_supplier.as_deref(),
        Some("Nordic Fasteners AB")
    );
    assert!(bolt.is_stock_item && !bolt.disabled);

    let suppliers = erp.suppliers().await?;
    assert_eq!(suppliers.len(), 3);
    assert!(suppliers
        .iter()
        .any(|s| s.name == "Rhein Elektronik GmbH" && s.lead_time_days == Some(14)));

    let stores = erp.bins(Some(STORES)).await?;
    assert!(!stores.is_empty());
    assert!(stores.iter().all(|b| b.warehouse == STORES));
    let all = erp.bins(None).await?;
    assert!(all.len() > stores.len());

    // ERPNext's reorder rule, projected quantity under the level, finds
    // what the demo says it has.
    let mut below = Vec::new();
    for item in &items {
        for level in &item.reorder_levels {
            let bin = all
                .iter()
                .find(|b| b.item_code == item.item_code && b.warehouse == level.warehouse);
            let projected = bin.map_or(0.0, |b| b.projected_qty);
            if projected < level.warehouse_reorder_level {
                below.push((
                    item.item_code.clone(),
                    level.warehouse.clone(),
                    level.warehouse_reorder_level - projected,
                ));
            }
        }
    }
    below.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<(String, String, f64)> = DEMO_BELOW_REORDER
        .iter()
        .map(|(i, w, q)| ((*i).to_owned(), (*w).to_owned(), *q))
        .collect();
    assert_eq!(below, expected);
    Ok(())
}

#[tokio::test]
async fn a_wrong_secret_is_an_authentication_error_not_retried_nor_shown() -> TestResult {
    let sim = small_company()?;
    let server = SimServer::start_local(sim.router()).await?;
    let config = config(&server, "not-the-secret", 20, quick());
    assert!(!format!("{config:?}").contains("not-the-secret"));
    let erp = ErpNext::new(config, &HealthBoard::new())?;
    assert!(!format!("{erp:?}").contains("not-the-secret"));
    let refused = erp.items().await;
    assert!(
        matches!(
            refused,
            Err(CallError::Failed(ErpError::Authentication { .. }))
        ),
        "{refused:?}"
    );
    let health = erp.health();
    assert_eq!((health.calls, health.failures), (1, 1), "not retried");
    assert!(!health
        .last_error
        .unwrap_or_default()
        .contains("not-the-secret"));
    assert_eq!(
        health.circuit,
        BreakerState::Closed,
        "a refusal is an answer"
    );

    let good = ErpNext::new(config_for(&server), &HealthBoard::new())?;
    assert_eq!(good.logged_user().await?, "Administrator");
    Ok(())
}

fn config_for(server: &SimServer) -> ErpNextConfig {
    config(server, SECRET, 20, quick())
}

#[tokio::test]
async fn without_a_token_the_caller_is_guest_and_frappe_says_so() -> TestResult {
    let sim = small_company()?;
    let server = SimServer::start_local(sim.router()).await?;
    let answer = reqwest::get(format!("{}/api/resource/Item", server.url())).await?;
    assert_eq!(answer.status(), 403);
    let body: serde_json::Value = answer.json().await?;
    assert_eq!(body["exc_type"], "PermissionError");
    let messages = agents::adapters::erpnext::server_messages(
        body["_server_messages"].as_str().unwrap_or_default(),
    );
    assert_eq!(
        messages,
        vec!["User Guest does not have doctype access via role permission for document Item"]
    );
    Ok(())
}

#[tokio::test]
async fn validation_errors_arrive_typed_with_frappes_message() -> TestResult {
    let sim = small_company()?;
    let (_server, erp) = start(&sim).await?;
    let unknown = erp
        .create_purchase_order(&order("po-unknown", "NOPE", 5.0))
        .await;
    match unknown {
        Err(CallError::Failed(ErpError::Validation { exc_type, message })) => {
            assert_eq!(exc_type, "LinkValidationError");
            assert_eq!(message, "Could not find Row #1: Item Code: NOPE");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let zero = erp
        .create_purchase_order(&order("po-zero", "BOLT-M8", 0.0))
        .await;
    match zero {
        Err(CallError::Failed(ErpError::Validation { exc_type, message })) => {
            assert_eq!(exc_type, "InvalidQtyError");
            assert_eq!(message, "Row #1: Quantity for Item BOLT-M8 cannot be zero.");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let mut late = order("po-late", "BOLT-M8", 5.0);
    late.transaction_date = Some(in_days(3));
    late.schedule_date = in_days(1);
    let late = erp.create_purchase_order(&late).await;
    assert!(matches!(
        late,
        Err(CallError::Failed(ErpError::Validation { ref message, .. }))
            if message == "Row #1: Reqd by Date cannot be before Transaction Date"
    ));
    assert!(sim.purchase_orders().is_empty());
    let missing = erp.purchase_order("PUR-ORD-2026-99999").await;
    assert!(matches!(
        missing,
        Err(CallError::Failed(ErpError::NotFound { .. }))
    ));
    Ok(())
}

#[tokio::test]
async fn failures_then_success_create_exactly_one_purchase_order() -> TestResult {
    let sim = small_company()?;
    let (server, erp) = start(&sim).await?;
    server.faults().set(FaultPlan {
        fail_next: 2,
        ..FaultPlan::default()
    });
    let created = erp
        .create_purchase_order(&order("po-1", "BOLT-M8", 500.0))
        .await?;
    assert_eq!(created.docstatus, DocStatus::Draft);
    assert!(created.name.starts_with("PUR-ORD-"));
    assert_eq!(sim.purchase_orders_with_id("po-1"), 1);
    let again = erp
        .create_purchase_order(&order("po-1", "BOLT-M8", 500.0))
        .await?;
    assert_eq!(again, created, "a redelivered order finds the first");
    assert_eq!(sim.purchase_orders().len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_lost_answer_to_the_create_is_found_on_retry_not_created_twice() -> TestResult {
    let sim = small_company()?;
    let server = lose_the_answer_after(&sim, Method::GET, "/api/resource/Purchase%20Order").await?;
    let erp = ErpNext::new(config_for(&server), &HealthBoard::new())?;
    let created = erp
        .create_purchase_order(&order("po-lost", "BOLT-M8", 500.0))
        .await?;
    assert_eq!(sim.purchase_orders_with_id("po-lost"), 1);
    assert_eq!(sim.purchase_orders().len(), 1);
    let health = erp.health();
    assert_eq!(
        health.failures, 1,
        "the lost answer: {:?}",
        health.last_error
    );
    assert_eq!(
        erp.find_purchase_order("po-lost").await?,
        Some(created.clone())
    );
    Ok(())
}

#[tokio::test]
async fn the_simulator_refuses_a_second_order_with_our_id_as_a_unique_field_does() -> TestResult {
    let sim = small_company()?;
    let server = SimServer::start_local(sim.router()).await?;
    let http = reqwest::Client::new();
    let body = serde_json::json!({
        "supplier": "Nordic Fasteners AB", "custom_agentos_po_id": "po-dup",
        "items": [{"item_code": "BOLT-M8", "qty": 1, "rate": 1,
                   "schedule_date": in_days(3), "warehouse": STORES}],
    });
    let post = || {
        http.post(format!("{}/api/resource/Purchase%20Order", server.url()))
            .header("Authorization", format!("token {KEY}:{SECRET}"))
            .json(&body)
            .send()
    };
    let first = post().await?;
    assert_eq!(first.status(), 200);
    let created: serde_json::Value = first.json().await?;
    assert_eq!(created["data"]["docstatus"], 0);
    assert_eq!(created["data"]["status"], "Draft");
    let second = post().await?;
    assert_eq!(second.status(), 417);
    let refusal: serde_json::Value = second.json().await?;
    assert_eq!(refusal["exc_type"], "UniqueValidationError");
    let messages = agents::adapters::erpnext::server_messages(
        refusal["_server_messages"].as_str().unwrap_or_default(),
    );
    assert_eq!(messages, vec!["AgentOS PO ID must be unique"]);
    assert_eq!(sim.purchase_orders_with_id("po-dup"), 1);
    Ok(())
}

#[tokio::test]
async fn submitting_twice_or_after_a_lost_answer_books_the_order_once() -> TestResult {
    let sim = small_company()?;
    let created_on = SimServer::start_local(sim.router()).await?;
    let erp = ErpNext::new(config_for(&created_on), &HealthBoard::new())?;
    let po = erp
        .create_purchase_order(&order("po-s", "BOLT-M8", 500.0))
        .await?;
    let path = format!("/api/resource/Purchase%20Order/{}", po.name);
    let server = lose_the_answer_after(&sim, Method::GET, &path).await?;
    let erp = ErpNext::new(config_for(&server), &HealthBoard::new())?;
    let submitted = erp.submit_purchase_order(&po.name).await?;
    assert_eq!(submitted.docstatus, DocStatus::Submitted);
    assert_eq!(erp.health().failures, 1, "the submit's answer was lost");
    let again = erp.submit_purchase_order(&po.name).await?;
    assert_eq!(again.docstatus, DocStatus::Submitted);
    let read = erp.purchase_order(&po.name).await?;
    assert_eq!(read.status, "To Receive and Bill");
    assert_eq!(read.agentos_po_id.as_deref(), Some("po-s"));
    assert_eq!(read.items[0].warehouse.as_deref(), Some(STORES));
    let bin = sim.bin("BOLT-M8", STORES).ok_or("no bin")?;
    assert_eq!(number(&bin["ordered_qty"]), 500.0);
    assert_eq!(number(&bin["projected_qty"]), 650.0);
    Ok(())
}

#[tokio::test]
async fn repeated_503s_open_the_circuit() -> TestResult {
    let sim = small_company()?;
    let server = SimServer::start_local(sim.router()).await?;
    let policy = CallPolicy {
        retries: 0,
        failures_to_open: 3,
        ..quick()
    };
    let erp = ErpNext::new(config(&server, SECRET, 20, policy), &HealthBoard::new())?;
    server.faults().set(FaultPlan {
        fail_next: 10,
        ..FaultPlan::default()
    });
    for _ in 0..3 {
        let down = erp.suppliers().await;
        assert!(
            matches!(
                down,
                Err(CallError::Failed(ErpError::Unavailable { status: 503, .. }))
            ),
            "{down:?}"
        );
    }
    let open = erp.suppliers().await;
    assert!(
        matches!(open, Err(CallError::CircuitOpen { .. })),
        "{open:?}"
    );
    assert!(matches!(erp.health().circuit, BreakerState::Open { .. }));
    assert_eq!(
        server.faults().get().fail_next,
        7,
        "the fourth call was not sent"
    );
    Ok(())
}

#[tokio::test]
async fn receipts_move_stock_and_the_orders_received_share_once_each() -> TestResult {
    let sim = small_company()?;
    let (_server, erp) = start(&sim).await?;
    let po = erp
        .create_purchase_order(&order("po-r", "BOLT-M8", 100.0))
        .await?;
    erp.submit_purchase_order(&po.name).await?;

    let first = erp
        .create_purchase_receipt(&receipt("gr-1", &po.name, 60.0))
        .await?;
    assert!(first.name.starts_with("MAT-PRE-"));
    let same = erp
        .create_purchase_receipt(&receipt("gr-1", &po.name, 60.0))
        .await?;
    assert_eq!(same, first, "one receipt per id");
    let draft = sim.bin("BOLT-M8", STORES).ok_or("no bin")?;
    assert_eq!(number(&draft["actual_qty"]), 150.0, "a draft moves nothing");
    erp.submit_purchase_receipt(&first.name).await?;

    let read = erp.purchase_order(&po.name).await?;
    assert_eq!(read.per_received, 60.0);
    assert_eq!(read.status, "To Receive and Bill");
    assert_eq!(read.items[0].received_qty, 60.0);
    let bin = sim.bin("BOLT-M8", STORES).ok_or("no bin")?;
    assert_eq!(number(&bin["actual_qty"]), 210.0);
    assert_eq!(number(&bin["ordered_qty"]), 40.0);
    assert_eq!(number(&bin["projected_qty"]), 250.0);

    let rest = erp
        .create_purchase_receipt(&receipt("gr-2", &po.name, 40.0))
        .await?;
    erp.submit_purchase_receipt(&rest.name).await?;
    let read = erp.purchase_order(&po.name).await?;
    assert_eq!(
        (read.per_received, read.status.as_str()),
        (100.0, "To Bill")
    );
    let bin = sim.bin("BOLT-M8", STORES).ok_or("no bin")?;
    assert_eq!(number(&bin["actual_qty"]), 250.0);
    assert_eq!(number(&bin["ordered_qty"]), 0.0);

    let over = erp
        .create_purchase_receipt(&receipt("gr-3", &po.name, 5.0))
        .await?;
    let refused = erp.submit_purchase_receipt(&over.name).await;
    assert!(
        matches!(refused, Err(CallError::Failed(ErpError::Validation { ref exc_type, .. })) if exc_type == "OverAllowanceError"),
        "{refused:?}"
    );
    let receipt = erp.purchase_receipt(&first.name).await?;
    assert_eq!(receipt.docstatus, DocStatus::Submitted);
    assert_eq!(receipt.agentos_receipt_id.as_deref(), Some("gr-1"));
    assert_eq!(sim.purchase_receipts().len(), 3);
    Ok(())
}

#[tokio::test]
async fn cancelling_takes_the_order_back_once_and_deletes_a_draft() -> TestResult {
    let sim = small_company()?;
    let (_server, erp) = start(&sim).await?;
    let po = erp
        .create_purchase_order(&order("po-c", "BOLT-M8", 100.0))
        .await?;
    erp.submit_purchase_order(&po.name).await?;
    let ordered = |sim: &ErpNextSim| {
        sim.bin("BOLT-M8", STORES)
            .map(|b| number(&b["ordered_qty"]))
    };
    assert_eq!(ordered(&sim), Some(100.0));
    erp.cancel_purchase_order(&po.name).await?;
    erp.cancel_purchase_order(&po.name).await?;
    let read = erp.purchase_order(&po.name).await?;
    assert_eq!(
        (read.docstatus, read.status.as_str()),
        (DocStatus::Cancelled, "Cancelled")
    );
    assert_eq!(ordered(&sim), Some(0.0));
    let refused = erp.submit_purchase_order(&po.name).await;
    assert!(matches!(
        refused,
        Err(CallError::Failed(ErpError::Cancelled { .. }))
    ));

    let draft = erp
        .create_purchase_order(&order("po-c2", "BOLT-M8", 10.0))
        .await?;
    erp.cancel_purchase_order(&draft.name).await?;
    assert_eq!(sim.purchase_orders_with_id("po-c2"), 0);
    let gone = erp.cancel_purchase_order(&draft.name).await;
    assert!(matches!(
        gone,
        Err(CallError::Failed(ErpError::NotFound { .. }))
    ));

    let received = erp
        .create_purchase_order(&order("po-c3", "BOLT-M8", 10.0))
        .await?;
    erp.submit_purchase_order(&received.name).await?;
    let goods = erp
        .create_purchase_receipt(&receipt("gr-c3", &received.name, 10.0))
        .await?;
    erp.submit_purchase_receipt(&goods.name).await?;
    let linked = erp.cancel_purchase_order(&received.name).await;
    assert!(
        matches!(linked, Err(CallError::Failed(ErpError::Validation { ref exc_type, .. })) if exc_type == "LinkExistsError"),
        "{linked:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_receipt_against_a_draft_order_is_refused() -> TestResult {
    let sim = small_company()?;
    let (_server, erp) = start(&sim).await?;
    let po = erp
        .create_purchase_order(&order("po-d", "BOLT-M8", 10.0))
        .await?;
    let refused = erp
        .create_purchase_receipt(&receipt("gr-d", &po.name, 10.0))
        .await;
    assert!(
        matches!(refused, Err(CallError::Failed(ErpError::Validation { ref message, .. }))
            if message.contains("is not submitted")),
        "{refused:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_generated_company_of_thousands_of_bins_reads_in_pages() -> TestResult {
    let sim = ErpNextSim::generated(KEY, SECRET, 1_000, 5, 42)?;
    let server = SimServer::start_local(sim.router()).await?;
    let erp = ErpNext::new(config(&server, SECRET, 500, quick()), &HealthBoard::new())?;
    let bins = erp.bins(None).await?;
    assert_eq!(bins.len(), 5_000);
    let items = erp.items().await?;
    assert_eq!(items.len(), 1_000);
    assert!(items.iter().all(|i| i.reorder_levels.len() == 5));
    Ok(())
}

#[tokio::test]
async fn a_site_without_our_custom_fields_is_named_and_nothing_is_placed() -> TestResult {
    let sim = small_company()?;
    let (_server, erp) = start(&sim).await?;
    let fields = [PO_ID_FIELD, "supplier"];
    assert!(erp
        .missing_fields("Purchase Order", &fields)
        .await?
        .is_empty());
    let stock = ErpNextStock::new(erp.clone(), "EUR".parse()?);
    stock.check_setup().await?;

    // A site where nobody added our id to Purchase Order.
    sim.without_custom_field("Purchase Order", PO_ID_FIELD);
    assert_eq!(
        erp.missing_fields("Purchase Order", &fields).await?,
        [PO_ID_FIELD]
    );
    let fresh = ErpNextStock::new(erp.clone(), "EUR".parse()?);
    match fresh.check_setup().await {
        Err(ErpFailure::Refused(why)) => {
            assert!(
                why.contains("custom_agentos_po_id on Purchase Order")
                    && why.contains("Customize Form")
                    && !why.contains("Purchase Receipt"),
                "{why}"
            );
        }
        other => panic!("the missing field should be named: {other:?}"),
    }
    // The client's own lookup by our id names the field, which the site
    // refuses: nothing is created either way.
    let created = erp
        .create_purchase_order(&order("po-9", "BOLT-M8", 500.0))
        .await;
    assert!(created.is_err(), "{created:?}");
    assert!(sim.purchase_orders().is_empty());
    Ok(())
}

#[tokio::test]
async fn buying_prices_set_what_an_item_costs_and_what_a_supplier_asks() -> TestResult {
    let sim = small_company()?;
    sim.add_supplier("Acme Tools", Some(3))?;
    sim.add_item_price("BOLT-M8", 0.11, None, None)?;
    sim.add_item_price("BOLT-M8", 0.09, Some("Acme Tools"), None)?;
    // Not yet in force.
    sim.add_item_price("BOLT-M8", 0.50, None, Some(in_days(30)))?;
    let (_server, erp) = start(&sim).await?;
    assert_eq!(erp.buying_prices().await?.len(), 3);

    let stock = ErpNextStock::new(erp, "EUR".parse()?);
    let reading = stock.stock_picture(&[]).await?;
    let eur = "EUR".parse()?;
    let bolt = reading
        .picture
        .items
        .iter()
        .find(|i| i.sku.as_str() == "BOLT-M8")
        .ok_or("no bolt")?;
    assert_eq!(bolt.unit_cost, Money::new(11, eur), "the price list's rate");
    assert_eq!(
        reading
            .picture
            .prices
            .get(&("BOLT-M8".parse()?, "Acme Tools".parse()?)),
        Some(&Money::new(9, eur)),
        "Acme's own rate"
    );
    Ok(())
}

#[tokio::test]
async fn a_user_that_may_not_read_item_prices_scans_with_last_purchase_rates() -> TestResult {
    let sim = small_company()?;
    sim.add_item(
        &Item::new("NUT-M8", "Hex nut M8", "Nos")
            .rate(0.07)
            .supplier("Nordic Fasteners AB"),
    )?;
    sim.add_item_price("NUT-M8", 0.05, None, None)?;
    sim.forbid("Item Price");
    let (_server, erp) = start(&sim).await?;
    match erp.buying_prices().await {
        Err(CallError::Failed(ErpError::Permission { message })) => assert!(
            message.contains("Administrator") && message.contains("Item Price"),
            "{message}"
        ),
        other => panic!("Frappe refuses the DocType: {other:?}"),
    }

    let stock = ErpNextStock::new(erp, "EUR".parse()?);
    let reading = stock.stock_picture(&[]).await?;
    let nut = reading
        .picture
        .items
        .iter()
        .find(|i| i.sku.as_str() == "NUT-M8")
        .ok_or("no nut")?;
    assert_eq!(
        nut.unit_cost,
        Money::new(7, "EUR".parse()?),
        "the last purchase rate, not the price list's"
    );
    assert!(reading.picture.prices.is_empty());
    Ok(())
}
