//! The Google Sheets client against the Sheets simulator, over real HTTP on
//! a local port: reads, appends, batch updates, the stock count sheet, and
//! how refusals and failures are handled.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agents::adapters::sheets::{
    A1Range, Dimension, KeyedRow, ReadOptions, Sheets, SheetsConfig, SheetsError, StockCount,
    StockCountError, ValueInput, ValueRange, ValueRender,
};
use agents::adapters::{CallError, CallPolicy, HealthBoard};
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::Router;
use serde_json::json;
use simulators::sheets::{SheetsSim, DECISIONS, STOCK_COUNTS};
use simulators::{FaultPlan, SimServer};

const TOKEN: &str = "ya29.test-token";
const BOOK: &str = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn quick() -> CallPolicy {
    CallPolicy {
        timeout: Duration::from_secs(5),
        retries: 3,
        backoff: Duration::from_millis(5),
        backoff_ceiling: Duration::from_millis(20),
        failures_to_open: 10,
        open_for: Duration::from_secs(30),
    }
}

async fn start(
    sim: &SheetsSim,
    token: &str,
) -> Result<(SimServer, Sheets), Box<dyn std::error::Error>> {
    let server = SimServer::start_local(sim.router()).await?;
    let config = SheetsConfig {
        policy: quick(),
        ..SheetsConfig::new(server.url(), token)
    };
    let sheets = Sheets::new(config, &HealthBoard::new())?;
    Ok((server, sheets))
}

fn range(text: &str) -> A1Range {
    text.parse().expect("a valid range")
}

fn counts_range() -> A1Range {
    range("'Stock Counts'!A:D")
}

#[tokio::test]
async fn reads_a_quoted_sheet_as_google_does() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.put_values(
        BOOK,
        "'Stock Counts'!A1",
        vec![
            vec![json!("SKU"), json!("Warehouse"), json!("Counted")],
            vec![json!("SKU-1"), json!("Main"), json!(1200)],
            vec![json!("SKU-2"), json!(""), json!(true)],
        ],
    )?;
    let (_server, sheets) = start(&sim, TOKEN).await?;

    let formatted = sheets
        .values(BOOK, &range("'Stock Counts'!A1:E"), ReadOptions::default())
        .await?;
    assert_eq!(
        formatted.range, "'Stock Counts'!A1:E1000",
        "the whole range asked for, its end closed by the grid"
    );
    assert_eq!(formatted.major_dimension, Dimension::Rows);
    assert_eq!(
        formatted.values,
        vec![
            vec![json!("SKU"), json!("Warehouse"), json!("Counted")],
            vec![json!("SKU-1"), json!("Main"), json!("1200")],
            vec![json!("SKU-2"), json!(""), json!("TRUE")],
        ]
    );

    let by_column = ReadOptions {
        major_dimension: Dimension::Columns,
        render: ValueRender::UnformattedValue,
    };
    let columns = sheets
        .values(BOOK, &range("'Stock Counts'!B2:C3"), by_column)
        .await?;
    assert_eq!(
        columns.values,
        vec![vec![json!("Main")], vec![json!(1200), json!(true)]]
    );

    let empty = sheets
        .values(BOOK, &range("'Stock Counts'!F1:G5"), ReadOptions::default())
        .await?;
    assert!(
        empty.values.is_empty(),
        "an empty range has no values at all"
    );
    Ok(())
}

#[tokio::test]
async fn stock_counts_come_from_the_demo_sheet() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.demo(BOOK, &[("SKU-100", "Main", 40), ("SKU-200", "North", 0)])?;
    let (_server, sheets) = start(&sim, TOKEN).await?;

    let counts = sheets.stock_counts(BOOK, &counts_range()).await?;
    assert_eq!(counts.len(), 2);
    assert_eq!(
        (
            counts[0].sku.as_str(),
            counts[0].warehouse.as_str(),
            counts[0].counted_qty
        ),
        ("SKU-100", "Main", 40)
    );
    assert_eq!(counts[1].counted_qty, 0);
    assert!(counts.iter().all(|c| c.counted_at.is_some()));
    Ok(())
}

#[tokio::test]
async fn stock_counts_match_the_header_in_any_case_and_ignore_extra_columns() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.put_values(
        BOOK,
        "'Stock Counts'!A1",
        vec![
            vec![
                json!("counted at"),
                json!("Note"),
                json!("sku"),
                json!("WAREHOUSE"),
                json!("Counted"),
            ],
            vec![
                json!("2025-03-01"),
                json!("recount"),
                json!("SKU-1"),
                json!("Main"),
                json!("12"),
            ],
        ],
    )?;
    let (_server, sheets) = start(&sim, TOKEN).await?;
    let counts = sheets
        .stock_counts(BOOK, &range("'Stock Counts'!A:E"))
        .await?;
    assert_eq!(
        counts,
        vec![StockCount {
            sku: "SKU-1".into(),
            warehouse: "Main".into(),
            counted_qty: 12,
            counted_at: Some("2025-03-01".into()),
        }]
    );
    Ok(())
}

#[tokio::test]
async fn a_malformed_count_is_reported_by_its_row_in_the_sheet() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.put_values(
        BOOK,
        "'Stock Counts'!A3",
        vec![
            vec![json!("SKU"), json!("Warehouse"), json!("Counted")],
            vec![json!("SKU-1"), json!("Main"), json!(3)],
            vec![json!("SKU-2"), json!("Main"), json!("a dozen")],
        ],
    )?;
    let (_server, sheets) = start(&sim, TOKEN).await?;
    match sheets.stock_counts(BOOK, &counts_range()).await {
        Err(StockCountError::MalformedRow { row, reason }) => {
            assert_eq!(row, 5);
            assert!(
                reason.contains("SKU-2") && reason.contains("a dozen"),
                "{reason}"
            );
        }
        other => panic!("expected a malformed row, got {other:?}"),
    }
    Ok(())
}

/// The simulator, with the answer to the first `:append` lost after the
/// rows were written (a gateway timeout, as far as the client can tell).
fn losing_first_append(sim: &SheetsSim) -> Router {
    let to_lose = Arc::new(AtomicU32::new(1));
    sim.router()
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let to_lose = to_lose.clone();
            async move {
                let append =
                    request.method() == Method::POST && request.uri().path().ends_with(":append");
                let response = next.run(request).await;
                let lose = append
                    && to_lose
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                if lose {
                    return (StatusCode::GATEWAY_TIMEOUT, "lost").into_response();
                }
                response
            }
        }))
}

#[tokio::test]
async fn appended_decisions_land_after_the_table_once_even_when_an_answer_is_lost() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.demo(BOOK, &[])?;
    let server = SimServer::start_local(losing_first_append(&sim)).await?;
    let config = SheetsConfig {
        policy: quick(),
        ..SheetsConfig::new(server.url(), TOKEN)
    };
    let sheets = Sheets::new(config, &HealthBoard::new())?;
    let log = range(&format!("{DECISIONS}!A:C"));
    let row = |key: &str, decision: &str| KeyedRow {
        key: key.into(),
        cells: vec!["2025-03-01T10:00:00Z".into(), decision.into()],
    };

    // Carried out, answer lost, retried: the retry finds the row there.
    let first = sheets
        .append_rows(BOOK, &log, &[row("evt-1", "reorder SKU-1: 40")])
        .await?;
    assert_eq!((first.appended, first.already_present), (0, 1));
    assert_eq!(sheets.adapter().health().failures, 1, "the lost answer");

    // A whole call repeated (an event redelivered) writes only what is new.
    let second = sheets
        .append_rows(
            BOOK,
            &log,
            &[row("evt-1", "reorder SKU-1: 40"), row("evt-2", "hold PO-7")],
        )
        .await?;
    assert_eq!((second.appended, second.already_present), (1, 1));
    assert_eq!(second.updated_range.as_deref(), Some("Decisions!A3:C3"));

    assert_eq!(
        sim.values(BOOK, "Decisions!A:C")?,
        vec![
            vec![json!("Key"), json!("Recorded at"), json!("Decision")],
            vec![
                json!("evt-1"),
                json!("2025-03-01T10:00:00Z"),
                json!("reorder SKU-1: 40")
            ],
            vec![
                json!("evt-2"),
                json!("2025-03-01T10:00:00Z"),
                json!("hold PO-7")
            ],
        ]
    );

    // Raw input: text that looks like a formula stays text.
    sheets
        .append_rows(BOOK, &log, &[row("evt-3", "=HYPERLINK(\"x\")")])
        .await?;
    assert_eq!(
        sim.values(BOOK, "Decisions!C4")?,
        vec![vec![json!("=HYPERLINK(\"x\")")]]
    );
    Ok(())
}

#[tokio::test]
async fn appending_inserts_rows_and_leaves_what_is_below_the_table_below_it() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.put_values(
        BOOK,
        "Log!A1",
        vec![
            vec![json!("Key"), json!("What")],
            vec![json!("k1"), json!("first")],
            vec![],
            vec![json!("footer")],
        ],
    )?;
    let (_server, sheets) = start(&sim, TOKEN).await?;
    let rows = [KeyedRow {
        key: "k2".into(),
        cells: vec!["second".into()],
    }];
    let appended = sheets.append_rows(BOOK, &range("Log!A1:B2"), &rows).await?;
    assert_eq!(appended.updated_range.as_deref(), Some("Log!A3:B3"));
    assert_eq!(
        sim.values(BOOK, "Log!A1:B5")?,
        vec![
            vec![json!("Key"), json!("What")],
            vec![json!("k1"), json!("first")],
            vec![json!("k2"), json!("second")],
            vec![],
            vec![json!("footer")],
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_batch_update_writes_every_range_or_none() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.add_sheet(BOOK, "Sheet1");
    sim.add_sheet(BOOK, "Plan B");
    let (_server, sheets) = start(&sim, TOKEN).await?;
    let data = [
        ValueRange {
            range: "Sheet1!A1:B2".into(),
            major_dimension: Dimension::Rows,
            values: vec![
                vec![json!("a"), json!("2")],
                vec![json!(null), json!("TRUE")],
            ],
        },
        ValueRange {
            range: "'Plan B'!C3:C4".into(),
            major_dimension: Dimension::Columns,
            values: vec![vec![json!(1), json!(2)]],
        },
    ];
    let answer = sheets
        .batch_update(BOOK, ValueInput::UserEntered, &data)
        .await?;
    assert_eq!(
        (answer.total_updated_cells, answer.total_updated_sheets),
        (5, 2)
    );
    assert_eq!(answer.responses.len(), 2);
    assert_eq!(answer.responses[1].updated_range, "'Plan B'!C3:C4");
    assert_eq!(
        sim.values(BOOK, "Sheet1!A1:B2")?,
        vec![vec![json!("a"), json!(2)], vec![json!(""), json!(true)]]
    );

    let too_big = [
        ValueRange {
            range: "Sheet1!D1".into(),
            major_dimension: Dimension::Rows,
            values: vec![vec![json!("x")]],
        },
        ValueRange {
            range: "Sheet1!A1:A1".into(),
            major_dimension: Dimension::Rows,
            values: vec![vec![json!("x"), json!("y")]],
        },
    ];
    let refused = sheets.batch_update(BOOK, ValueInput::Raw, &too_big).await;
    assert!(
        matches!(
            refused,
            Err(CallError::Failed(SheetsError::InvalidArgument(_)))
        ),
        "{refused:?}"
    );
    assert!(sim.values(BOOK, "Sheet1!D1")?.is_empty(), "nothing written");
    Ok(())
}

#[tokio::test]
async fn a_wrong_token_is_refused_once_and_not_retried() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.demo(BOOK, &[("SKU-1", "Main", 1)])?;
    let (_server, sheets) = start(&sim, "ya29.someone-else").await?;
    let refused = sheets
        .values(BOOK, &counts_range(), ReadOptions::default())
        .await;
    match refused {
        Err(CallError::Failed(SheetsError::Unauthenticated(message))) => {
            assert!(
                message.contains("invalid authentication credentials"),
                "{message}"
            );
            assert!(!message.contains("someone-else"));
        }
        other => panic!("expected 401, got {other:?}"),
    }
    assert_eq!(sheets.adapter().health().calls, 1, "not retried");
    Ok(())
}

#[tokio::test]
async fn unknown_and_unshared_spreadsheets_and_bad_ranges_are_typed_refusals() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.demo(BOOK, &[])?;
    sim.demo("locked", &[])?;
    sim.forbid("locked");
    let (_server, sheets) = start(&sim, TOKEN).await?;
    let read = |id: &'static str, r: &'static str| {
        let sheets = sheets.clone();
        async move { sheets.values(id, &range(r), ReadOptions::default()).await }
    };
    assert!(matches!(
        read("nope", "A1").await,
        Err(CallError::Failed(SheetsError::NotFound(_)))
    ));
    assert!(matches!(
        read("locked", "A1").await,
        Err(CallError::Failed(SheetsError::PermissionDenied(_)))
    ));
    match read(BOOK, "Missing!A1").await {
        Err(CallError::Failed(SheetsError::InvalidArgument(message))) => {
            assert_eq!(message, "Unable to parse range: Missing!A1");
        }
        other => panic!("expected 400, got {other:?}"),
    }
    assert_eq!(sheets.adapter().health().calls, 3, "none retried");
    Ok(())
}

#[tokio::test]
async fn two_failures_then_a_success_is_a_success() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.demo(BOOK, &[("SKU-1", "Main", 5)])?;
    let (server, sheets) = start(&sim, TOKEN).await?;
    server.faults().set(FaultPlan {
        fail_next: 2,
        ..FaultPlan::default()
    });
    let counts = sheets.stock_counts(BOOK, &counts_range()).await?;
    assert_eq!(counts.len(), 1);
    let health = sheets.adapter().health();
    assert_eq!((health.calls, health.failures), (3, 2));

    server.faults().set(FaultPlan {
        fail_next: 1,
        fail_status: Some(429),
        ..FaultPlan::default()
    });
    assert_eq!(
        sheets.stock_counts(BOOK, &counts_range()).await?.len(),
        1,
        "a rate limit is waited out"
    );
    Ok(())
}

#[tokio::test]
async fn a_system_that_keeps_failing_gives_up_after_the_retries() -> TestResult {
    let sim = SheetsSim::new(TOKEN);
    sim.demo(BOOK, &[])?;
    let (server, sheets) = start(&sim, TOKEN).await?;
    server.faults().set(FaultPlan {
        fail_next: 100,
        fail_status: Some(500),
        ..FaultPlan::default()
    });
    let failed = sheets
        .values(BOOK, &counts_range(), ReadOptions::default())
        .await;
    assert!(
        matches!(
            failed,
            Err(CallError::Failed(SheetsError::Unavailable {
                status: 500,
                ..
            }))
        ),
        "{failed:?}"
    );
    assert_eq!(
        sheets.adapter().health().calls,
        4,
        "one attempt and three retries"
    );
    Ok(())
}

#[test]
fn the_demo_sheet_titles_read_as_ranges() {
    assert_eq!(
        range(&format!("'{STOCK_COUNTS}'!A:D")).sheet.as_deref(),
        Some(STOCK_COUNTS)
    );
    assert_eq!(
        range(&format!("{DECISIONS}!A:C")).sheet.as_deref(),
        Some(DECISIONS)
    );
}
