//! The stock count sheet: a header row `SKU | Warehouse | Counted | Counted at`
//! (any case, any order, other columns ignored) and one counted SKU per row.
//! Pure: it reads values already fetched.

use serde_json::Value;

use super::SheetsError;
use crate::adapters::CallError;

/// One counted SKU in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockCount {
    /// The item's code.
    pub sku: String,
    /// Where it was counted.
    pub warehouse: String,
    /// How many were counted.
    pub counted_qty: i64,
    /// When, as written in the sheet (the column may be absent or the cell empty).
    pub counted_at: Option<String>,
}

/// Why the stock counts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StockCountError {
    /// Google Sheets could not be read.
    #[error(transparent)]
    Sheets(#[from] CallError<SheetsError>),
    /// The range is empty: not even a header row.
    #[error("the stock count range holds no header row")]
    NoHeader,
    /// The header row lacks a column the counts need.
    #[error("the stock count header row has no {column:?} column")]
    MissingColumn {
        /// The column's name.
        column: &'static str,
    },
    /// A row cannot be read as a count; nothing is returned, so that a
    /// decision is never taken on part of a sheet.
    #[error("row {row} of the stock count sheet: {reason}")]
    MalformedRow {
        /// The row's number in the sheet (as the spreadsheet shows it).
        row: u32,
        /// What is wrong with it.
        reason: String,
    },
}

const SKU: &str = "SKU";
const WAREHOUSE: &str = "Warehouse";
const COUNTED: &str = "Counted";
const COUNTED_AT: &str = "Counted at";

/// Reads `rows` (as fetched, header first, `first_row` being the header's
/// row number in the sheet). Blank rows are skipped.
pub fn parse_stock_counts(
    rows: &[Vec<Value>],
    first_row: u32,
) -> Result<Vec<StockCount>, StockCountError> {
    // Blank rows above the header are part of the range, not of the table.
    let blank = |row: &Vec<Value>| row.iter().all(|c| text(c).trim().is_empty());
    let leading = rows.iter().take_while(|row| blank(row)).count();
    let first_row = first_row.saturating_add(u32::try_from(leading).unwrap_or(u32::MAX));
    let (header, body) = rows[leading..]
        .split_first()
        .ok_or(StockCountError::NoHeader)?;
    let find = |name: &'static str| {
        header
            .iter()
            .position(|cell| text(cell).trim().eq_ignore_ascii_case(name))
    };
    let column = |name| find(name).ok_or(StockCountError::MissingColumn { column: name });
    let (sku_at, warehouse_at, counted_at) = (column(SKU)?, column(WAREHOUSE)?, column(COUNTED)?);
    let when_at = find(COUNTED_AT);

    let mut counts = Vec::with_capacity(body.len());
    for (offset, row) in body.iter().enumerate() {
        let number = first_row
            .saturating_add(1)
            .saturating_add(u32::try_from(offset).unwrap_or(u32::MAX));
        let cell = |at: usize| row.get(at).map(text).unwrap_or_default();
        if blank(row) {
            continue;
        }
        let malformed = |reason: String| StockCountError::MalformedRow {
            row: number,
            reason,
        };
        let sku = cell(sku_at).trim().to_owned();
        if sku.is_empty() {
            return Err(malformed("no SKU".to_owned()));
        }
        let warehouse = cell(warehouse_at).trim().to_owned();
        if warehouse.is_empty() {
            return Err(malformed(format!("no warehouse for {sku}")));
        }
        let counted_qty = quantity(row.get(counted_at))
            .map_err(|why| malformed(format!("{COUNTED} of {sku} {why}")))?;
        let counted_at = when_at
            .map(|at| cell(at).trim().to_owned())
            .filter(|when| !when.is_empty());
        counts.push(StockCount {
            sku,
            warehouse,
            counted_qty,
            counted_at,
        });
    }
    Ok(counts)
}

/// A cell as the spreadsheet shows it.
fn text(cell: &Value) -> String {
    match cell {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(true) => "TRUE".to_owned(),
        Value::Bool(false) => "FALSE".to_owned(),
        other => other.to_string(),
    }
}

/// A whole, non-negative count, from a number or its text (`12`, `12.0`).
fn quantity(cell: Option<&Value>) -> Result<i64, String> {
    let whole = |f: f64| {
        // Beyond 2^53 a float is no longer a count; the bound keeps the cast exact.
        (f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0).then_some(f as i64)
    };
    let n = match cell {
        None | Some(Value::Null) => return Err("is empty".to_owned()),
        Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().and_then(whole)),
        Some(Value::String(s)) if s.trim().is_empty() => return Err("is empty".to_owned()),
        Some(Value::String(s)) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(whole))
        }
        Some(_) => None,
    };
    match n {
        Some(n) if n < 0 => Err(format!("is negative ({n})")),
        Some(n) => Ok(n),
        None => Err(format!(
            "is {}, not a whole number",
            cell.map(text).unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rows(value: Value) -> Vec<Vec<Value>> {
        serde_json::from_value(value).expect("rows")
    }

    #[test]
    fn the_header_is_matched_in_any_case_and_order_and_extra_columns_are_ignored() {
        let sheet = rows(json!([
            ["Notes", "counted AT", "warehouse", "sku", "COUNTED"],
            ["", "2025-03-01", "Main", "SKU-1", 12],
            [],
            ["late", "", "North", "SKU-2", "7"],
            ["", "2025-03-02", "Main", "SKU-3", "4.0"]
        ]));
        let counts = parse_stock_counts(&sheet, 1).expect("counts");
        assert_eq!(
            counts,
            vec![
                StockCount {
                    sku: "SKU-1".into(),
                    warehouse: "Main".into(),
                    counted_qty: 12,
                    counted_at: Some("2025-03-01".into()),
                },
                StockCount {
                    sku: "SKU-2".into(),
                    warehouse: "North".into(),
                    counted_qty: 7,
                    counted_at: None,
                },
                StockCount {
                    sku: "SKU-3".into(),
                    warehouse: "Main".into(),
                    counted_qty: 4,
                    counted_at: Some("2025-03-02".into()),
                },
            ]
        );
    }

    #[test]
    fn blank_rows_above_the_header_are_skipped_and_counted_in_row_numbers() {
        let sheet = rows(json!([
            [],
            [""],
            ["SKU", "Warehouse", "Counted"],
            ["A", "W", "x"]
        ]));
        assert!(matches!(
            parse_stock_counts(&sheet, 1),
            Err(StockCountError::MalformedRow { row: 4, .. })
        ));
        assert!(matches!(
            parse_stock_counts(&rows(json!([[], []])), 1),
            Err(StockCountError::NoHeader)
        ));
    }

    #[test]
    fn the_counted_at_column_may_be_absent() {
        let sheet = rows(json!([["SKU", "Warehouse", "Counted"], ["A", "W", 1]]));
        let counts = parse_stock_counts(&sheet, 1).expect("counts");
        assert_eq!(counts[0].counted_at, None);
    }

    #[test]
    fn a_missing_column_or_header_is_named() {
        let sheet = rows(json!([["SKU", "Counted"], ["A", 1]]));
        assert!(matches!(
            parse_stock_counts(&sheet, 1),
            Err(StockCountError::MissingColumn {
                column: "Warehouse"
            })
        ));
        assert!(matches!(
            parse_stock_counts(&[], 1),
            Err(StockCountError::NoHeader)
        ));
    }

    #[test]
    fn a_malformed_row_is_reported_with_its_row_number_in_the_sheet() {
        let sheet = rows(json!([
            ["SKU", "Warehouse", "Counted"],
            ["A", "W", 1],
            ["B", "W", "twelve"]
        ]));
        match parse_stock_counts(&sheet, 3) {
            Err(StockCountError::MalformedRow { row, reason }) => {
                assert_eq!(row, 5, "header on row 3, B on row 5");
                assert!(reason.contains("twelve"), "{reason}");
            }
            other => panic!("expected a malformed row, got {other:?}"),
        }
        for bad in [json!(-3), json!(1.5), json!(""), json!(true)] {
            let sheet = vec![
                vec![json!("SKU"), json!("Warehouse"), json!("Counted")],
                vec![json!("A"), json!("W"), bad.clone()],
            ];
            assert!(
                matches!(
                    parse_stock_counts(&sheet, 1),
                    Err(StockCountError::MalformedRow { row: 2, .. })
                ),
                "{bad} is not a count"
            );
        }
        let no_warehouse = rows(json!([["SKU", "Warehouse", "Counted"], ["A", " ", 1]]));
        assert!(matches!(
            parse_stock_counts(&no_warehouse, 1),
            Err(StockCountError::MalformedRow { row: 2, .. })
        ));
    }
}
