//! `agentos bench logistics`: an inventory scan of a generated company of
//! 10,000 items in 5 warehouses, from the ERPNext simulator (over HTTP,
//! through the real client) to drafted purchase orders, phase by phase:
//!
//! 1. reading ERPNext: items (with their reorder levels and defaults),
//!    bins, suppliers and a week of stock ledger, beside a raw baseline
//!    that GETs the same listings page by page and only counts the bytes;
//! 2. the reorder rules over every stock level (pure computation);
//! 3. recording the scan and drafting its purchase orders through the
//!    command handler into the event store.
//!
//! The scan should be bound by the simulator's HTTP, not by our code: the
//! first figure's ratio says how close reading comes to the raw fetch.

use std::time::Instant;

use agents::adapters::erpnext::{ErpNext, ErpNextConfig};
use agents::adapters::HealthBoard;
use agents::logistics::erp::ErpNextStock;
use agents::logistics::Erp;
use commands::processor::derived_id;
use commands::{CommandHandler, Envelope};
use domain::logistics::scan::{
    restock, InventoryScan, InventoryScanCommand, InventoryScanned, ScanDraft, ScanPurpose,
    ScanScope,
};
use domain::logistics::{PurchaseOrder, PurchaseOrderCommand, ReorderPolicy};
use domain::{Actor, Aggregate, CommandId, CorrelationId};
use serde_json::json;
use simulators::erpnext::ErpNextSim;
use simulators::SimServer;
use uuid::Uuid;

use super::{BenchArgs, Figure, Measured, Scratch};

/// Items of the generated company.
const ITEMS: usize = 10_000;
/// Its warehouses.
const WAREHOUSES: usize = 5;
/// Days of stock ledger read for the demand.
const HISTORY_DAYS: u32 = 7;
/// Rows per page, for our client and the raw baseline alike.
const PAGE: usize = 5_000;

/// Runs the scan once, phase by phase, and the raw fetch beside it.
pub async fn measure(scratch: &Scratch, _args: &BenchArgs) -> anyhow::Result<Measured> {
    let (key, secret) = ("bench", "bench-secret");
    let seeding = Instant::now();
    let sim = ErpNextSim::generated(key, secret, ITEMS, WAREHOUSES, 42)
        .map_err(|e| anyhow::anyhow!("cannot generate the company: {e}"))?;
    let today = chrono::Utc::now().date_naive();
    let ledger = sim
        .record_typical_use(HISTORY_DAYS, today, 42)
        .map_err(|e| anyhow::anyhow!("cannot record the stock ledger: {e}"))?;
    eprintln!(
        "generated {ITEMS} items × {WAREHOUSES} warehouses and {ledger} ledger entries in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    let server = SimServer::start_local(sim.router()).await?;

    // The raw baseline: the same listings, page by page, bytes only.
    let raw_started = Instant::now();
    let raw_bytes = raw_fetch(&server.url(), key, secret, today).await?;
    let raw_seconds = raw_started.elapsed().as_secs_f64();

    let board = HealthBoard::new();
    let client = ErpNext::new(
        ErpNextConfig {
            page_size: PAGE,
            ..ErpNextConfig::new(&server.url(), key, secret)
        },
        &board,
    )?;
    let mut erp = ErpNextStock::new(client, "EUR".parse()?);
    erp.history_days = HISTORY_DAYS;
    let read_started = Instant::now();
    let reading = erp
        .stock_picture(&[])
        .await
        .map_err(|e| anyhow::anyhow!("reading ERPNext: {e}"))?;
    let read_seconds = read_started.elapsed().as_secs_f64();
    let levels = reading.picture.levels.len() as f64;

    let rules_started = Instant::now();
    let found = restock(
        &reading.picture,
        &ScanScope::default(),
        &ReorderPolicy::default_for("EUR".parse()?),
    )?;
    let rules_seconds = rules_started.elapsed().as_secs_f64();

    let record_started = Instant::now();
    let drafts = record(scratch, found, reading.warehouses, reading.sources).await?;
    let record_seconds = record_started.elapsed().as_secs_f64();
    eprintln!(
        "raw fetch {raw_seconds:.2} s ({:.1} MB); read {read_seconds:.2} s; rules {rules_seconds:.3} s; \
         record {record_seconds:.2} s ({drafts} purchase orders)",
        raw_bytes as f64 / 1e6
    );
    let total = read_seconds + rules_seconds + record_seconds;
    let per_second = |seconds: f64| levels / seconds.max(1e-9);
    let figures = vec![
        Figure::new(
            "read ERPNext: stock levels/s (items, bins, suppliers, ledger)",
            per_second(read_seconds),
            "raw GET of the same listings, bytes only",
            per_second(raw_seconds),
        ),
        Figure::new(
            "reorder rules over every level: levels/s",
            per_second(rules_seconds),
            "raw GET of the same listings, bytes only",
            per_second(raw_seconds),
        ),
        Figure::new(
            "record the scan and draft its orders: levels/s",
            per_second(record_seconds),
            "raw GET of the same listings, bytes only",
            per_second(raw_seconds),
        ),
        Figure::new(
            "whole scan, ERPNext to drafted orders: levels/s",
            per_second(total),
            "raw GET of the same listings, bytes only",
            per_second(raw_seconds),
        ),
    ];
    Ok((figures, Vec::new()))
}

/// GETs every page of the listings the client reads, counting bytes.
async fn raw_fetch(
    base: &str,
    key: &str,
    secret: &str,
    today: chrono::NaiveDate,
) -> anyhow::Result<usize> {
    let http = reqwest::Client::new();
    let since = today - chrono::Duration::days(i64::from(HISTORY_DAYS) - 1);
    let listings = [
        ("Item", None, json!([])),
        ("Item Reorder", Some("Item"), json!([])),
        ("Item Default", Some("Item"), json!([])),
        ("Bin", None, json!([])),
        ("Supplier", None, json!([])),
        (
            "Stock Ledger Entry",
            None,
            json!([
                ["posting_date", ">=", since.to_string()],
                ["actual_qty", "<", 0],
                ["is_cancelled", "=", 0]
            ]),
        ),
    ];
    let mut bytes = 0;
    for (doctype, parent, filters) in listings {
        let mut start = 0;
        loop {
            let mut query = vec![
                ("fields", "[\"*\"]".to_owned()),
                ("filters", filters.to_string()),
                ("order_by", "name asc".to_owned()),
                ("limit_start", start.to_string()),
                ("limit_page_length", PAGE.to_string()),
            ];
            if let Some(parent) = parent {
                query.push(("parent", parent.to_owned()));
            }
            let body = http
                .get(format!("{base}/api/resource/{doctype}"))
                .header("Authorization", format!("token {key}:{secret}"))
                .query(&query)
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            bytes += body.len();
            // Count the rows without building anything from them.
            let rows = body.windows(8).filter(|w| w == b"\"name\":\"").count();
            if rows < PAGE {
                break;
            }
            start += PAGE;
        }
    }
    Ok(bytes)
}

/// Records the scan and drafts its orders, as the Logistics agent does:
/// how many orders.
async fn record(
    scratch: &Scratch,
    found: domain::logistics::scan::Restock,
    warehouses: Vec<domain::logistics::WarehouseId>,
    sources: Vec<String>,
) -> anyhow::Result<usize> {
    let handler = CommandHandler::new(scratch.store());
    let actor = Actor::Agent("logistics".to_owned());
    let scan_id = Uuid::now_v7();
    let drafts: Vec<ScanDraft> = found
        .drafts
        .into_iter()
        .map(|order| ScanDraft {
            po_id: derived_id(&[
                b"purchase_order",
                scan_id.as_bytes(),
                order.supplier.as_str().as_bytes(),
                order.warehouse.as_str().as_bytes(),
            ]),
            order,
        })
        .collect();
    let now = chrono::Utc::now();
    let scanned = InventoryScanned {
        scan_id,
        purpose: ScanPurpose::Reorder,
        task_id: None,
        directive_id: None,
        warehouses,
        sources,
        levels_read: found.levels_read,
        count_differences: found.count_differences,
        skipped: found.skipped,
        decisions: found.decisions,
        drafts: drafts.clone(),
        scanned_by: actor.clone(),
        at: now,
    };
    let correlation = CorrelationId::from_uuid(scan_id);
    let envelope = |stream, command| Envelope {
        stream,
        command,
        command_id: CommandId::from_uuid(Uuid::now_v7()),
        correlation_id: correlation,
        causation_id: None,
        actor: actor.clone(),
    };
    handler
        .handle::<InventoryScan>(envelope(
            InventoryScan::stream(scan_id),
            InventoryScanCommand::Record {
                scan: scanned,
                levels: found.levels,
            },
        ))
        .await
        .map_err(|e| anyhow::anyhow!("recording the scan: {e}"))?;
    let mut drafting = tokio::task::JoinSet::new();
    for draft in drafts {
        let handler = handler.clone();
        let envelope = Envelope {
            stream: PurchaseOrder::stream(draft.po_id),
            command: PurchaseOrderCommand::Draft {
                po_id: draft.po_id,
                order: draft.order,
                directive_id: None,
                task_id: None,
                drafted_by: actor.clone(),
                at: now,
            },
            command_id: CommandId::from_uuid(Uuid::now_v7()),
            correlation_id: correlation,
            causation_id: None,
            actor: actor.clone(),
        };
        drafting.spawn(async move { handler.handle::<PurchaseOrder>(envelope).await });
    }
    let mut drafted = 0;
    while let Some(result) = drafting.join_next().await {
        result?.map_err(|e| anyhow::anyhow!("drafting: {e}"))?;
        drafted += 1;
    }
    Ok(drafted)
}
