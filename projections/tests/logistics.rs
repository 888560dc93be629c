//! The logistics read model on PostgreSQL and SQLite (the same test bodies
//! on both back ends): real domain events (decided by the aggregates from
//! their commands, appended to the store) become purchase orders with their
//! lines and history, scans, the levels needing attention, shipments, and
//! supplier performance.

mod support;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use domain::logistics::purchase_order::PurchaseOrderCommand;
use domain::logistics::scan::{
    restock, InventoryScan, InventoryScanCommand, InventoryScanned, ScanDraft, ScanPurpose,
    ScanScope, StockPicture,
};
use domain::logistics::{
    Days, Fraction, InventoryLevel, Item, PurchaseOrder, ReorderPolicy, Shipment, ShipmentCommand,
    ShipmentStatus, Supplier,
};
use domain::work::ParcelLine;
use domain::{
    Actor, Aggregate, CorrelationId, DomainEvent, EventId, Metadata, Money, Position, Rejection,
};
use eventstore::{AppendRequest, Direction, EventStore, ExpectedVersion};
use projections::models::logistics::{
    self, InventoryLevelView, InventoryQuery, Logistics, PurchaseOrderQuery, ScanQuery,
    ShipmentQuery,
};
use projections::{Db, ProjectionRunner, RunnerConfig};
use support::wait_for;
use uuid::Uuid;

/// Decides `command` on the aggregate's stream as it stands and appends
/// what it decides, as `actor`; the position of the last event (`None`
/// when the command changed nothing).
async fn send<A: Aggregate>(
    store: &dyn EventStore,
    id: Uuid,
    command: A::Command,
    actor: &str,
) -> Option<Position> {
    let stream = A::stream(id);
    let history = store
        .read_stream(&stream, 1, Direction::Forward, 10_000)
        .await
        .expect("read the stream");
    let events: Vec<A::Event> = history
        .iter()
        .map(|e| A::Event::decode(e).expect("a known event"))
        .collect();
    let decided = A::replay(&events)
        .decide(&command)
        .unwrap_or_else(|r| panic!("refused: {} ({r})", r.code()));
    if decided.is_empty() {
        return None;
    }
    let appended = store
        .append(AppendRequest {
            stream,
            expected: ExpectedVersion::Exact(history.len() as u64),
            events: decided
                .iter()
                .map(|e| {
                    e.encode(EventId::from_uuid(Uuid::now_v7()))
                        .expect("encode")
                })
                .collect(),
            metadata: Metadata {
                correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
                causation_id: None,
                command_id: None,
                actor: actor.parse().expect("an actor"),
            },
        })
        .await
        .expect("append");
    Some(appended.position)
}

/// Runs the logistics projection until it holds `at`.
async fn project(db: &Db, store: &Arc<dyn EventStore>, at: Position) {
    let runner = ProjectionRunner::new(
        db.clone(),
        Arc::clone(store),
        Arc::new(Logistics),
        RunnerConfig {
            batch: 7,
            max_backoff: Duration::from_millis(200),
            idle_recheck: Duration::from_millis(100),
        },
    );
    let mut status = runner.status();
    let task = tokio::spawn(runner.run());
    wait_for(&mut status, Duration::from_secs(30), "caught up", |s| {
        s.checkpoint >= at && s.last_error.is_none()
    })
    .await;
    task.abort();
    let _ = task.await;
}

fn t0() -> DateTime<Utc> {
    "2026-03-02T08:00:00Z".parse().expect("a time")
}

fn hours(h: i64) -> DateTime<Utc> {
    t0() + TimeDelta::hours(h)
}

fn text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn eur(minor: i64) -> Money {
    Money::new(minor, "EUR".parse().expect("a currency"))
}

fn item(sku: &str, supplier: &str, max: Option<u32>) -> Item {
    Item {
        sku: sku.parse().expect("a sku"),
        name: sku.to_owned(),
        unit: "Nos".to_owned(),
        pack_size: NonZeroU32::new(10).expect("non-zero"),
        min_order_qty: 50,
        max_order_qty: max,
        unit_cost: eur(250),
        default_supplier: Some(supplier.parse().expect("a supplier")),
    }
}

fn level(sku: &str, warehouse: &str, on_hand: i64) -> InventoryLevel {
    InventoryLevel {
        sku: sku.parse().expect("a sku"),
        warehouse: warehouse.parse().expect("a warehouse"),
        on_hand,
        reserved: 3,
        on_order: 0,
    }
}

/// Acme's bolts, low in two warehouses; nuts, plenty; widgets, low but
/// capped below their minimum order (nothing can be ordered).
fn picture(bolts_in_main: i64) -> StockPicture {
    let mut picture = StockPicture {
        items: vec![
            item("BOLT", "Acme", None),
            item("NUT", "Acme", None),
            item("WIDGET", "Acme", Some(5)),
        ],
        suppliers: vec![Supplier {
            id: "Acme".parse().expect("a supplier"),
            name: "Acme".to_owned(),
            lead_time_days: Days::try_from(5.0).expect("days"),
            lead_time_sd_days: Days::try_from(0.0).expect("days"),
            on_time_rate: Fraction::try_from(0.9).expect("a share"),
        }],
        levels: vec![
            level("BOLT", "Main - AC", bolts_in_main),
            level("NUT", "Main - AC", 900),
            level("WIDGET", "Main - AC", 0),
            level("BOLT", "Stores - AC", 5),
            level("GLUE", "Main - AC", 0),
        ],
        ..StockPicture::default()
    };
    for l in &picture.levels {
        picture
            .demand
            .insert((l.sku.clone(), l.warehouse.clone()), vec![9, 11, 10, 10]);
    }
    picture
}

/// Records a reorder scan of `picture`; the scan.
async fn scan(
    store: &dyn EventStore,
    picture: &StockPicture,
    at: DateTime<Utc>,
) -> InventoryScanned {
    let found =
        restock(picture, &ScanScope::default(), &ReorderPolicy::default()).expect("restock");
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
        at,
    };
    send::<InventoryScan>(
        store,
        scanned.scan_id,
        InventoryScanCommand::Record {
            scan: scanned.clone(),
            levels: found.levels,
        },
        "agent:logistics",
    )
    .await
    .expect("recorded");
    scanned
}

/// Drafts the scan's purchase orders, as the agent does; the last position.
async fn draft_all(store: &dyn EventStore, scanned: &InventoryScanned) -> Position {
    let mut last = Position::START;
    for draft in &scanned.drafts {
        last = send::<PurchaseOrder>(
            store,
            draft.po_id,
            PurchaseOrderCommand::Draft {
                po_id: draft.po_id,
                order: draft.order.clone(),
                directive_id: scanned.directive_id,
                task_id: scanned.task_id,
                drafted_by: Actor::Agent("logistics".to_owned()),
                at: scanned.at,
            },
            "agent:logistics",
        )
        .await
        .expect("drafted");
    }
    last
}

/// Takes an order through approval, submission, acknowledgement and two
/// receipts (the second completing it); the last position.
async fn run_to_receipt(store: &dyn EventStore, po_id: Uuid) -> Position {
    let approval_id = Uuid::now_v7();
    let ceo = Actor::User("ceo".to_owned());
    let po = |command| send::<PurchaseOrder>(store, po_id, command, "agent:logistics");
    po(PurchaseOrderCommand::RequestApproval {
        approval_id,
        reason: "orders over 100.00 EUR need the CEO".to_owned(),
        at: hours(0),
    })
    .await;
    send::<PurchaseOrder>(
        store,
        po_id,
        PurchaseOrderCommand::Approve {
            approval_id,
            by: ceo,
            at: hours(1),
        },
        "user:ceo",
    )
    .await;
    po(PurchaseOrderCommand::Submit {
        erp_name: "PUR-ORD-2026-00017".to_owned(),
        at: hours(2),
    })
    .await;
    po(PurchaseOrderCommand::Acknowledge { at: hours(3) }).await;
    let view = order_lines(store, po_id).await;
    let (sku, qty) = view[0].clone();
    po(PurchaseOrderCommand::ReceiveGoods {
        receipt_id: Uuid::now_v7(),
        lines: vec![(sku.parse().expect("a sku"), qty / 2)],
        at: hours(50),
    })
    .await;
    po(PurchaseOrderCommand::ReceiveGoods {
        receipt_id: Uuid::now_v7(),
        lines: view
            .iter()
            .map(|(sku, qty)| {
                let rest = if *sku == view[0].0 {
                    qty - qty / 2
                } else {
                    *qty
                };
                (sku.parse().expect("a sku"), rest)
            })
            .collect(),
        at: hours(80),
    })
    .await
    .expect("received")
}

/// The order's (SKU, quantity) lines, from its draft.
async fn order_lines(store: &dyn EventStore, po_id: Uuid) -> Vec<(String, u32)> {
    let first = store
        .read_stream(&PurchaseOrder::stream(po_id), 1, Direction::Forward, 1)
        .await
        .expect("read");
    match domain::logistics::PurchaseOrderEvent::decode(&first[0]).expect("decode") {
        domain::logistics::PurchaseOrderEvent::PurchaseOrderDrafted(d) => {
            d.lines.iter().map(|l| (l.sku.to_string(), l.qty)).collect()
        }
        other => panic!("not a draft: {other:?}"),
    }
}

async fn purchase_orders_carry_their_lines_and_every_step(db: Db, store: Arc<dyn EventStore>) {
    let scanned = scan(&*store, &picture(20), t0()).await;
    assert_eq!(scanned.drafts.len(), 2, "one order per warehouse");
    draft_all(&*store, &scanned).await;
    let (main, stores) = (scanned.drafts[0].po_id, scanned.drafts[1].po_id);
    assert_eq!(scanned.drafts[0].order.warehouse.as_str(), "Main - AC");
    let received = run_to_receipt(&*store, main).await;
    // The other order goes through under the policy, then is withdrawn.
    let po = |command| send::<PurchaseOrder>(&*store, stores, command, "agent:logistics");
    po(PurchaseOrderCommand::ApproveUnderPolicy {
        reason: "12.50 EUR: no approval rule matched".to_owned(),
        at: hours(1),
    })
    .await;
    let last = send::<PurchaseOrder>(
        &*store,
        stores,
        PurchaseOrderCommand::Cancel {
            by: Actor::User("ceo".to_owned()),
            reason: "stock moved from Main".to_owned(),
            at: hours(4),
        },
        "user:ceo",
    )
    .await
    .expect("cancelled");
    project(&db, &store, received.max(last)).await;

    let detail = logistics::get_purchase_order(&db, main)
        .await
        .expect("query")
        .expect("the order");
    let order = &detail.order;
    assert_eq!(order.status, "received");
    assert_eq!(
        (order.supplier.as_str(), order.warehouse.as_str()),
        ("Acme", "Main - AC")
    );
    assert_eq!(order.amount, scanned.drafts[0].order.amount);
    assert_eq!(order.erp_name.as_deref(), Some("PUR-ORD-2026-00017"));
    assert_eq!(order.directive_id, scanned.directive_id);
    assert_eq!(order.task_id, scanned.task_id);
    assert_eq!(order.drafted_by, "agent:logistics");
    assert_eq!(order.drafted_at, text(t0()));
    assert_eq!(order.submitted_at.as_deref(), Some(text(hours(2)).as_str()));
    assert!(order.approval_id.is_some());
    let steps: Vec<(&str, &str, Option<&str>)> = detail
        .history
        .iter()
        .map(|s| (s.status.as_str(), s.by.as_str(), s.reason.as_deref()))
        .collect();
    assert_eq!(
        steps[..5],
        [
            ("drafted", "agent:logistics", None),
            (
                "awaiting_approval",
                "agent:logistics",
                Some("orders over 100.00 EUR need the CEO")
            ),
            ("approved", "user:ceo", None),
            ("submitted", "agent:logistics", None),
            ("acknowledged", "agent:logistics", None),
        ]
    );
    assert_eq!(steps[5].0, "partially_received");
    assert!(
        steps[5].2.is_some_and(|r| r.starts_with("receipt ")),
        "{steps:?}"
    );
    assert_eq!(steps[6].0, "received");
    let times: Vec<&str> = detail.history.iter().map(|s| s.at.as_str()).collect();
    assert_eq!(
        times[1..5],
        [
            text(hours(0)),
            text(hours(1)),
            text(hours(2)),
            text(hours(3))
        ]
    );
    // Each line with its reasoning and what arrived.
    let drafted = &scanned.drafts[0].order.lines;
    assert_eq!(detail.lines.len(), drafted.len());
    for (line, draft) in detail.lines.iter().zip(drafted) {
        assert_eq!((&line.sku, line.qty), (&draft.sku, draft.qty));
        assert_eq!(
            line.reasoning, draft.reasoning,
            "the reasoning decodes to the same figures"
        );
        assert_eq!(line.explanation, draft.reasoning.explain());
        assert_eq!(line.received, u64::from(draft.qty));
    }

    let other = logistics::get_purchase_order(&db, stores)
        .await
        .expect("query")
        .expect("the order");
    assert_eq!(other.order.status, "cancelled");
    let last = other.history.last().expect("steps");
    assert_eq!(
        (last.by.as_str(), last.reason.as_deref()),
        ("user:ceo", Some("stock moved from Main"))
    );
    assert_eq!(
        other.history[1].reason.as_deref(),
        Some("12.50 EUR: no approval rule matched")
    );
    assert_eq!(other.order.submitted_at, None);

    // Filters and pages, newest draft first.
    let list = |query: PurchaseOrderQuery| {
        let db = db.clone();
        async move {
            logistics::list_purchase_orders(&db, &query)
                .await
                .expect("query")
        }
    };
    let all = list(PurchaseOrderQuery {
        limit: 50,
        ..PurchaseOrderQuery::default()
    })
    .await;
    let ids: Vec<Uuid> = all.items.iter().map(|o| o.id).collect();
    assert_eq!(ids, [stores, main]);
    assert_eq!(all.next, None);
    let first = list(PurchaseOrderQuery {
        limit: 1,
        ..PurchaseOrderQuery::default()
    })
    .await;
    assert_eq!(first.items[0].id, stores);
    let second = list(PurchaseOrderQuery {
        limit: 1,
        before: first.next,
        ..PurchaseOrderQuery::default()
    })
    .await;
    assert_eq!(
        (second.items[0].id, second.next),
        (main, None),
        "the last page says so"
    );
    for (query, expected) in [
        (
            PurchaseOrderQuery {
                status: Some("received".to_owned()),
                ..PurchaseOrderQuery::default()
            },
            vec![main],
        ),
        (
            PurchaseOrderQuery {
                status: Some("drafted".to_owned()),
                ..PurchaseOrderQuery::default()
            },
            vec![],
        ),
        (
            PurchaseOrderQuery {
                supplier: Some("Acme".to_owned()),
                directive_id: scanned.directive_id,
                task_id: scanned.task_id,
                ..PurchaseOrderQuery::default()
            },
            vec![stores, main],
        ),
        (
            PurchaseOrderQuery {
                task_id: Some(Uuid::now_v7()),
                ..PurchaseOrderQuery::default()
            },
            vec![],
        ),
    ] {
        let found = list(PurchaseOrderQuery { limit: 10, ..query }).await;
        let ids: Vec<Uuid> = found.items.iter().map(|o| o.id).collect();
        assert_eq!(ids, expected);
    }
    assert_eq!(
        logistics::get_purchase_order(&db, Uuid::now_v7())
            .await
            .expect("query"),
        None
    );
}

async fn scans_show_every_level_and_what_needs_attention(db: Db, store: Arc<dyn EventStore>) {
    let first = scan(&*store, &picture(20), t0()).await;
    // A later scan finds fewer bolts in Main; the other levels keep the
    // figures of the first.
    let second = scan(&*store, &picture(8), hours(24)).await;
    let last = draft_all(&*store, &second).await;
    project(&db, &store, last).await;

    let scans = logistics::list_scans(
        &db,
        &ScanQuery {
            limit: 10,
            ..ScanQuery::default()
        },
    )
    .await
    .expect("query");
    let ids: Vec<Uuid> = scans.items.iter().map(|s| s.id).collect();
    assert_eq!(ids, [second.scan_id, first.scan_id], "newest first");
    let listed = &scans.items[1];
    assert_eq!(listed.purpose, "reorder");
    assert_eq!(listed.scanned_by, "agent:logistics");
    assert_eq!(
        (
            listed.levels_read,
            listed.decision_count,
            listed.order_count,
            listed.draft_count,
            listed.skipped_count,
            listed.count_difference_count,
        ),
        (5, 3, 2, 2, 1, 0)
    );
    assert_eq!(listed.summary, first.summary());
    assert_eq!(listed.at, text(t0()));
    let by_task = logistics::list_scans(
        &db,
        &ScanQuery {
            task_id: first.task_id,
            limit: 10,
            ..ScanQuery::default()
        },
    )
    .await
    .expect("query");
    assert_eq!(by_task.items.len(), 1);
    let paged = logistics::list_scans(
        &db,
        &ScanQuery {
            limit: 1,
            ..ScanQuery::default()
        },
    )
    .await
    .expect("query");
    assert_eq!(paged.next, Some(scans.items[0].order));

    let detail = logistics::get_scan(&db, first.scan_id)
        .await
        .expect("query")
        .expect("the scan");
    let decisions = detail.decisions.as_array().expect("decisions");
    assert_eq!(decisions.len(), 3);
    assert_eq!(
        decisions[0]["explanation"].as_str(),
        Some(first.decisions[0].explain().as_str())
    );
    assert_eq!(decisions[0]["reasoning"]["on_hand"], 20);
    assert_eq!(detail.skipped[0]["sku"], "GLUE");
    assert_eq!(detail.sources, serde_json::json!(["erpnext"]));
    let drafted: Vec<&str> = detail
        .drafts
        .as_array()
        .expect("drafts")
        .iter()
        .filter_map(|d| d["po_id"].as_str())
        .collect();
    assert_eq!(
        drafted,
        [
            first.drafts[0].po_id.to_string(),
            first.drafts[1].po_id.to_string()
        ]
    );
    assert_eq!(
        logistics::get_scan(&db, Uuid::now_v7())
            .await
            .expect("query"),
        None
    );

    let inventory = |query: InventoryQuery| {
        let db = db.clone();
        async move { logistics::list_inventory(&db, &query).await.expect("query") }
    };
    let keys = |levels: &[InventoryLevelView]| -> Vec<(String, String)> {
        levels
            .iter()
            .map(|l| (l.sku.to_string(), l.warehouse.to_string()))
            .collect()
    };
    let pairs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(s, w)| ((*s).to_owned(), (*w).to_owned()))
            .collect()
    };
    let every = inventory(InventoryQuery {
        limit: 50,
        ..InventoryQuery::default()
    })
    .await;
    assert_eq!(
        keys(&every.items),
        pairs(&[
            ("BOLT", "Main - AC"),
            ("BOLT", "Stores - AC"),
            ("NUT", "Main - AC"),
            ("WIDGET", "Main - AC")
        ]),
        "every level the rules were applied to (GLUE is not in the catalogue)"
    );
    let nuts = &every.items[2];
    assert_eq!(
        (
            nuts.outcome.as_str(),
            nuts.order_qty,
            nuts.projected,
            nuts.scan_id
        ),
        ("hold", 0, 897, second.scan_id),
        "900 on hand, 3 reserved"
    );
    assert!(
        nuts.reorder_point > 0.0 && nuts.explanation.contains("hold"),
        "{nuts:?}"
    );
    let all = inventory(InventoryQuery {
        attention: true,
        limit: 50,
        ..InventoryQuery::default()
    })
    .await;
    assert_eq!(
        keys(&all.items),
        pairs(&[
            ("BOLT", "Main - AC"),
            ("BOLT", "Stores - AC"),
            ("WIDGET", "Main - AC")
        ]),
        "the levels at or below their reorder point"
    );
    let bolts = &all.items[0];
    let decided = &second.decisions[0];
    assert_eq!(
        (
            bolts.on_hand,
            bolts.reserved,
            bolts.on_order,
            bolts.projected
        ),
        (8, 3, 0, 5),
        "the latest scan's figures"
    );
    assert_eq!(bolts.reorder_point, decided.reasoning.reorder_point);
    assert_eq!(bolts.safety_stock, decided.reasoning.safety_stock);
    assert_eq!(
        (
            bolts.outcome.as_str(),
            bolts.order_qty,
            bolts.reason.as_deref()
        ),
        ("order", i64::from(decided.quantity()), None)
    );
    assert_eq!(bolts.explanation, decided.explain());
    assert_eq!(
        (bolts.scan_id, bolts.scanned_at.as_str()),
        (second.scan_id, text(hours(24)).as_str())
    );
    let widgets = &all.items[2];
    assert_eq!(widgets.outcome, "cannot_order");
    assert_eq!(widgets.order_qty, 0);
    assert!(
        widgets
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("minimum order")),
        "{widgets:?}"
    );

    let main = inventory(InventoryQuery {
        warehouse: Some("Main - AC".to_owned()),
        limit: 50,
        ..InventoryQuery::default()
    })
    .await;
    assert_eq!(main.items.len(), 3);
    let bolts_only = inventory(InventoryQuery {
        sku: Some("BOLT".to_owned()),
        limit: 50,
        ..InventoryQuery::default()
    })
    .await;
    assert_eq!(bolts_only.items.len(), 2);
    // A page at a time.
    let page = inventory(InventoryQuery {
        attention: true,
        limit: 2,
        ..InventoryQuery::default()
    })
    .await;
    assert_eq!(page.items.len(), 2);
    let rest = inventory(InventoryQuery {
        attention: true,
        limit: 2,
        after: page.next.clone(),
        ..InventoryQuery::default()
    })
    .await;
    assert_eq!(
        (rest.items.len(), rest.items[0].sku.as_str(), rest.next),
        (1, "WIDGET", None)
    );

    // Bolts arrive in Main: the next scan holds that level, and it no
    // longer shows as needing attention.
    let third = scan(&*store, &picture(900), hours(48)).await;
    let last = draft_all(&*store, &third).await;
    project(&db, &store, last).await;
    let restocked = inventory(InventoryQuery {
        sku: Some("BOLT".to_owned()),
        warehouse: Some("Main - AC".to_owned()),
        limit: 50,
        ..InventoryQuery::default()
    })
    .await;
    assert_eq!(
        (
            restocked.items[0].outcome.as_str(),
            restocked.items[0].projected,
            restocked.items[0].scan_id
        ),
        ("hold", 897, third.scan_id)
    );
    let attention = inventory(InventoryQuery {
        attention: true,
        limit: 50,
        ..InventoryQuery::default()
    })
    .await;
    assert_eq!(
        keys(&attention.items),
        pairs(&[("BOLT", "Stores - AC"), ("WIDGET", "Main - AC")])
    );
}

async fn shipments_follow_their_carrier_and_measure_suppliers(db: Db, store: Arc<dyn EventStore>) {
    let scanned = scan(&*store, &picture(20), t0()).await;
    draft_all(&*store, &scanned).await;
    let (main, stores) = (scanned.drafts[0].po_id, scanned.drafts[1].po_id);
    run_to_receipt(&*store, main).await; // submitted at hour 2
    let promised_by = hours(2 + 5 * 24);
    // Two shipments deliver the order: one on time (3 days after
    // submission), one late (6 days after).
    let (on_time, late) = (Uuid::now_v7(), Uuid::now_v7());
    // The late one came with a shipping notice of what it carries.
    let notice = vec![ParcelLine {
        sku: "BOLT-1".parse().expect("sku"),
        quantity: NonZeroU32::new(40).expect("non-zero"),
    }];
    for (shipment, number) in [(on_time, "JD0001"), (late, "JD0002")] {
        send::<Shipment>(
            &*store,
            shipment,
            ShipmentCommand::StartTracking {
                shipment_id: shipment,
                po_id: main,
                task_id: None,
                carrier: "DHL".to_owned(),
                tracking_number: number.to_owned(),
                promised_by,
                contents: if shipment == late {
                    notice.clone()
                } else {
                    Vec::new()
                },
                at: hours(3),
            },
            "agent:logistics",
        )
        .await;
    }
    let update = |shipment: Uuid, event: &str, status, eta, message: &str, at| {
        let store = Arc::clone(&store);
        let command = ShipmentCommand::RecordCarrierUpdate {
            carrier_event_id: event.to_owned(),
            status,
            eta,
            message: message.to_owned(),
            occurred_at: at,
        };
        async move { send::<Shipment>(&*store, shipment, command, "agent:logistics").await }
    };
    update(
        on_time,
        "e1",
        ShipmentStatus::InTransit,
        Some(hours(60)),
        "departed hub",
        hours(10),
    )
    .await;
    // A late-arriving older update is history: it moves neither the status
    // nor the last message.
    update(
        on_time,
        "e0",
        ShipmentStatus::PreTransit,
        None,
        "label created",
        hours(5),
    )
    .await;
    let delivered_on_time = hours(2 + 3 * 24);
    update(
        on_time,
        "e2",
        ShipmentStatus::Delivered,
        None,
        "delivered",
        delivered_on_time,
    )
    .await;
    update(
        late,
        "f1",
        ShipmentStatus::InTransit,
        None,
        "departed hub",
        hours(20),
    )
    .await;
    let delivered_late = hours(2 + 6 * 24);
    let last = update(
        late,
        "f2",
        ShipmentStatus::Delivered,
        None,
        "left at dock",
        delivered_late,
    )
    .await
    .expect("delivered");
    project(&db, &store, last).await;

    let shipments = logistics::list_shipments(
        &db,
        &ShipmentQuery {
            limit: 10,
            ..ShipmentQuery::default()
        },
    )
    .await
    .expect("query");
    let ids: Vec<Uuid> = shipments.items.iter().map(|s| s.id).collect();
    assert_eq!(ids, [late, on_time], "newest first");
    let first = &shipments.items[1];
    assert_eq!(
        (
            first.po_id,
            first.carrier.as_str(),
            first.tracking_number.as_str()
        ),
        (main, "DHL", "JD0001")
    );
    assert_eq!(first.status, "delivered");
    assert_eq!(first.eta.as_deref(), Some(text(hours(60)).as_str()));
    assert_eq!(first.promised_by, text(promised_by));
    assert_eq!(
        first.delivered_at.as_deref(),
        Some(text(delivered_on_time).as_str())
    );
    assert_eq!(first.last_message.as_deref(), Some("delivered"));
    assert_eq!(first.started_at, text(hours(3)));
    assert!(first.alerts.is_empty(), "{:?}", first.alerts);
    assert!(first.contents.is_empty(), "{:?}", first.contents);
    let second = &shipments.items[0];
    assert_eq!(second.contents, notice);
    assert_eq!(second.alerts.len(), 1, "{:?}", second.alerts);
    assert_eq!(
        (
            second.alerts[0].kind.as_str(),
            second.alerts[0].carrier_event_id.as_str()
        ),
        ("late", "f2")
    );
    assert_eq!(second.alerts[0].at, text(delivered_late));

    let delivered = logistics::list_shipments(
        &db,
        &ShipmentQuery {
            status: Some("delivered".to_owned()),
            po_id: Some(main),
            limit: 1,
            ..ShipmentQuery::default()
        },
    )
    .await
    .expect("query");
    assert_eq!(delivered.items[0].id, late);
    assert_eq!(delivered.next, Some(delivered.items[0].order));
    let none = logistics::list_shipments(
        &db,
        &ShipmentQuery {
            po_id: Some(stores),
            limit: 10,
            ..ShipmentQuery::default()
        },
    )
    .await
    .expect("query");
    assert!(none.items.is_empty());

    let suppliers = logistics::supplier_performance(&db).await.expect("query");
    assert_eq!(suppliers.len(), 1);
    let acme = &suppliers[0];
    assert_eq!(acme.supplier, "Acme");
    assert_eq!(
        (
            acme.orders_drafted,
            acme.orders_placed,
            acme.orders_open,
            acme.orders_received,
            acme.orders_cancelled,
            acme.orders_rejected,
        ),
        (2, 1, 0, 1, 0, 0)
    );
    assert_eq!(acme.placed_amounts, [scanned.drafts[0].order.amount]);
    assert_eq!((acme.deliveries, acme.on_time_deliveries), (2, 1));
    assert_eq!(acme.on_time_rate, Some(0.5));
    let close = |got: Option<f64>, want: f64| {
        assert!(
            got.is_some_and(|g| (g - want).abs() < 1e-9),
            "{got:?} ≠ {want}"
        );
    };
    close(acme.lead_time_days, 4.5);
    close(acme.lead_time_days_min, 3.0);
    close(acme.lead_time_days_max, 6.0);
}

both_back_ends!(
    purchase_orders_carry_their_lines_and_every_step,
    scans_show_every_level_and_what_needs_attention,
    shipments_follow_their_carrier_and_measure_suppliers,
);
