//! Google Sheets API v4, the `spreadsheets.values` part: get a range, append
//! after a table, batch update; bearer token auth; Google's error bodies
//! (`{"error": {"code", "message", "status"}}`).
//!
//! Each sheet is a sparse grid (1000 rows × 26 columns when created, as in
//! Google Sheets) that appends grow. Reads omit trailing empty rows and
//! cells as Google does. Not simulated: formulas are stored as text and
//! never evaluated, number formats, named ranges, and the rest of the API.
//! Written independently of the client's A1 parser, so that a mistake in
//! one is not silently shared by the other.

mod grid;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use grid::{
    a1, check_values, column_letters, oriented, read_area, resolve, table, write, Render, Sheet,
    Target,
};

/// The stock count sheet's title in [`SheetsSim::demo`].
pub const STOCK_COUNTS: &str = "Stock Counts";

/// The decision log sheet's title in [`SheetsSim::demo`].
pub const DECISIONS: &str = "Decisions";

/// A refusal, as Google words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {status}: {message}")]
pub struct SheetsApiError {
    /// The HTTP status.
    pub code: u16,
    /// Google's status name (`INVALID_ARGUMENT` …).
    pub status: &'static str,
    /// Google's message.
    pub message: String,
}

impl SheetsApiError {
    fn new(code: u16, status: &'static str, message: impl Into<String>) -> Self {
        SheetsApiError {
            code,
            status,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_ARGUMENT", message)
    }

    fn bad_range(range: &str) -> Self {
        Self::invalid(format!("Unable to parse range: {range}"))
    }
}

impl IntoResponse for SheetsApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        let body =
            json!({"error": {"code": self.code, "message": self.message, "status": self.status}});
        (status, Json(body)).into_response()
    }
}

/// The simulated Google Sheets: spreadsheets by id, the token it accepts.
#[derive(Debug, Clone)]
pub struct SheetsSim {
    token: Arc<str>,
    book: Arc<Mutex<Book>>,
}

#[derive(Debug, Default)]
struct Book {
    spreadsheets: BTreeMap<String, Vec<Sheet>>,
    forbidden: BTreeSet<String>,
}

impl SheetsSim {
    /// A simulator with no spreadsheets, accepting `token` as bearer.
    pub fn new(token: impl Into<String>) -> Self {
        SheetsSim {
            token: Arc::from(token.into()),
            book: Arc::default(),
        }
    }

    /// The HTTP API: `GET …/values/{range}`, `POST …/values/{range}:append`,
    /// `POST …/values:batchUpdate`, under `/v4/spreadsheets/{id}`.
    pub fn router(&self) -> Router {
        Router::new()
            .route(
                "/v4/spreadsheets/{id}/values/{range}",
                get(read).post(append),
            )
            .route(
                "/v4/spreadsheets/{id}/values:batchUpdate",
                post(batch_update),
            )
            .layer(middleware::from_fn_with_state(
                self.token.clone(),
                authenticate,
            ))
            .with_state(self.clone())
    }

    /// Adds sheet `title` (empty, 1000 × 26) to `spreadsheet_id`, creating
    /// the spreadsheet if needed; nothing if it exists.
    pub fn add_sheet(&self, spreadsheet_id: &str, title: &str) {
        let mut book = self.lock();
        let sheets = book
            .spreadsheets
            .entry(spreadsheet_id.to_owned())
            .or_default();
        if !sheets.iter().any(|s| s.title == title) {
            sheets.push(Sheet::new(title));
        }
    }

    /// Writes `rows` from the top-left of `range` as given (`RAW`), creating
    /// the spreadsheet and the sheet (`Sheet1` when unnamed) if needed and
    /// growing the grid to fit.
    pub fn put_values(
        &self,
        spreadsheet_id: &str,
        range: &str,
        rows: Vec<Vec<Value>>,
    ) -> Result<(), SheetsApiError> {
        let target = Target::parse(range).ok_or_else(|| SheetsApiError::bad_range(range))?;
        match &target.sheet {
            Some(title) => self.add_sheet(spreadsheet_id, title),
            None => {
                let mut book = self.lock();
                let sheets = book
                    .spreadsheets
                    .entry(spreadsheet_id.to_owned())
                    .or_default();
                if sheets.is_empty() {
                    sheets.push(Sheet::new("Sheet1"));
                }
            }
        }
        let mut book = self.lock();
        let sheets = book.sheet_list(spreadsheet_id)?;
        let index = target.sheet_index(sheets, range)?;
        let (top, left) = (target.top.unwrap_or(1), target.left.unwrap_or(1));
        let sheet = &mut sheets[index];
        let height = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        let width = u32::try_from(rows.iter().map(Vec::len).max().unwrap_or(0)).unwrap_or(u32::MAX);
        sheet.rows = sheet.rows.max(top.saturating_add(height).saturating_sub(1));
        sheet.columns = sheet
            .columns
            .max(left.saturating_add(width).saturating_sub(1));
        write(sheet, top, left, &rows, false);
        Ok(())
    }

    /// The values of `range` as an unformatted read returns them.
    pub fn values(
        &self,
        spreadsheet_id: &str,
        range: &str,
    ) -> Result<Vec<Vec<Value>>, SheetsApiError> {
        let mut book = self.lock();
        let sheets = book.sheet_list(spreadsheet_id)?;
        let area = resolve(sheets, range)?;
        Ok(read_area(
            &sheets[area.sheet],
            area,
            false,
            Render::Unformatted,
        ))
    }

    /// From now on, every request about `spreadsheet_id` is refused with 403.
    pub fn forbid(&self, spreadsheet_id: &str) {
        self.lock().forbidden.insert(spreadsheet_id.to_owned());
    }

    /// The demo company's workbook: a "Stock Counts" sheet (`SKU | Warehouse
    /// | Counted | Counted at`, one row per `(sku, warehouse, qty)`, counted
    /// today) and an empty "Decisions" log (`Key | Recorded at | Decision`).
    pub fn demo(
        &self,
        spreadsheet_id: &str,
        counts: &[(&str, &str, i64)],
    ) -> Result<(), SheetsApiError> {
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let mut rows = vec![vec![
            json!("SKU"),
            json!("Warehouse"),
            json!("Counted"),
            json!("Counted at"),
        ]];
        rows.extend(counts.iter().map(|(sku, warehouse, qty)| {
            vec![json!(sku), json!(warehouse), json!(qty), json!(today)]
        }));
        let quoted = format!("'{STOCK_COUNTS}'!A1");
        self.put_values(spreadsheet_id, &quoted, rows)?;
        self.put_values(
            spreadsheet_id,
            &format!("{DECISIONS}!A1"),
            vec![vec![json!("Key"), json!("Recorded at"), json!("Decision")]],
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Book {
    fn sheet_list(&mut self, spreadsheet_id: &str) -> Result<&mut Vec<Sheet>, SheetsApiError> {
        if self.forbidden.contains(spreadsheet_id) {
            return Err(SheetsApiError::new(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
            ));
        }
        self.spreadsheets
            .get_mut(spreadsheet_id)
            .ok_or_else(|| SheetsApiError::new(404, "NOT_FOUND", "Requested entity was not found."))
    }
}

async fn authenticate(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    const SEE: &str = "Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(given) if given == &*token => next.run(request).await,
        Some(_) => SheetsApiError::new(
            401,
            "UNAUTHENTICATED",
            format!("Request had invalid authentication credentials. {SEE}"),
        )
        .into_response(),
        None => SheetsApiError::new(
            401,
            "UNAUTHENTICATED",
            format!("Request is missing required authentication credential. {SEE}"),
        )
        .into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadQuery {
    major_dimension: Option<String>,
    value_render_option: Option<String>,
}

fn columns_major(dimension: Option<&str>) -> Result<bool, SheetsApiError> {
    match dimension {
        None | Some("ROWS" | "DIMENSION_UNSPECIFIED") => Ok(false),
        Some("COLUMNS") => Ok(true),
        Some(other) => Err(SheetsApiError::invalid(format!(
            "Invalid value at 'major_dimension' ({other})"
        ))),
    }
}

async fn read(
    State(sim): State<SheetsSim>,
    Path((id, range)): Path<(String, String)>,
    Query(query): Query<ReadQuery>,
) -> Result<Json<Value>, SheetsApiError> {
    let columns = columns_major(query.major_dimension.as_deref())?;
    let render = match query.value_render_option.as_deref() {
        None | Some("FORMATTED_VALUE") => Render::Formatted,
        // Formulas are stored as text, so FORMULA reads like UNFORMATTED_VALUE.
        Some("UNFORMATTED_VALUE" | "FORMULA") => Render::Unformatted,
        Some(other) => {
            return Err(SheetsApiError::invalid(format!(
                "Invalid value at 'value_render_option' ({other})"
            )))
        }
    };
    let mut book = sim.lock();
    let sheets = book.sheet_list(&id)?;
    let area = resolve(sheets, &range)?;
    let sheet = &sheets[area.sheet];
    let values = read_area(sheet, area, columns, render);
    let mut body = json!({
        "range": a1(&sheet.title, area),
        "majorDimension": if columns { "COLUMNS" } else { "ROWS" },
    });
    if !values.is_empty() {
        body["values"] = json!(values);
    }
    Ok(Json(body))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppendQuery {
    value_input_option: Option<String>,
    insert_data_option: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValueRangeIn {
    #[serde(default)]
    range: Option<String>,
    #[serde(default)]
    major_dimension: Option<String>,
    #[serde(default)]
    values: Vec<Vec<Value>>,
}

fn user_entered(option: Option<&str>) -> Result<bool, SheetsApiError> {
    match option {
        Some("RAW") => Ok(false),
        Some("USER_ENTERED") => Ok(true),
        None => Err(SheetsApiError::invalid(
            "'valueInputOption' is required but not specified",
        )),
        Some(other) => Err(SheetsApiError::invalid(format!(
            "Invalid valueInputOption: {other}"
        ))),
    }
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, SheetsApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| SheetsApiError::invalid(format!("Invalid JSON payload received. {e}")))
}

async fn append(
    State(sim): State<SheetsSim>,
    Path((id, range)): Path<(String, String)>,
    Query(query): Query<AppendQuery>,
    bytes: Bytes,
) -> Result<Json<Value>, SheetsApiError> {
    let range = range
        .strip_suffix(":append")
        .ok_or_else(|| SheetsApiError::new(404, "NOT_FOUND", "Requested entity was not found."))?;
    let parse = user_entered(query.value_input_option.as_deref())?;
    let insert_rows = match query.insert_data_option.as_deref() {
        None | Some("OVERWRITE") => false,
        Some("INSERT_ROWS") => true,
        Some(other) => {
            return Err(SheetsApiError::invalid(format!(
                "Invalid insertDataOption: {other}"
            )))
        }
    };
    let input: ValueRangeIn = body(&bytes)?;
    let rows = oriented(
        input.values,
        columns_major(input.major_dimension.as_deref())?,
    );
    check_values(&rows)?;
    let mut book = sim.lock();
    let sheets = book.sheet_list(&id)?;
    let area = resolve(sheets, range)?;
    let sheet = &mut sheets[area.sheet];
    let table = table(sheet, area);
    let (top, left) = table.map_or((area.top, area.left), |t| (t.bottom + 1, t.left));
    let height = u32::try_from(rows.len()).unwrap_or(u32::MAX);
    let width = u32::try_from(rows.iter().map(Vec::len).max().unwrap_or(0)).unwrap_or(u32::MAX);
    if insert_rows && height > 0 {
        let moved: Vec<((u32, u32), Value)> =
            sheet.cells.split_off(&(top, 0)).into_iter().collect();
        sheet
            .cells
            .extend(moved.into_iter().map(|((r, c), v)| ((r + height, c), v)));
        sheet.rows = sheet.rows.saturating_add(height);
    }
    sheet.rows = sheet.rows.max((top + height).saturating_sub(1));
    sheet.columns = sheet.columns.max((left + width).saturating_sub(1));
    let updates = write(sheet, top, left, &rows, parse);
    let mut answer = json!({
        "spreadsheetId": id,
        "updates": updates.to_json(&id, &sheet.title),
    });
    if let Some(table) = table {
        answer["tableRange"] = json!(a1(&sheet.title, table));
    }
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchUpdateIn {
    value_input_option: Option<String>,
    #[serde(default)]
    data: Vec<ValueRangeIn>,
}

async fn batch_update(
    State(sim): State<SheetsSim>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, SheetsApiError> {
    let input: BatchUpdateIn = body(&bytes)?;
    let parse = user_entered(input.value_input_option.as_deref())?;
    let mut book = sim.lock();
    let sheets = book.sheet_list(&id)?;
    // All ranges are checked before anything is written: all or nothing.
    let mut planned = Vec::with_capacity(input.data.len());
    for (i, data) in input.data.into_iter().enumerate() {
        let range = data
            .range
            .ok_or_else(|| SheetsApiError::invalid(format!("Invalid data[{i}]: missing range")))?;
        let area = resolve(sheets, &range)?;
        let rows = oriented(data.values, columns_major(data.major_dimension.as_deref())?);
        check_values(&rows)?;
        let height = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        let width = u32::try_from(rows.iter().map(Vec::len).max().unwrap_or(0)).unwrap_or(u32::MAX);
        let requested = a1(&sheets[area.sheet].title, area);
        if height > area.bottom - area.top + 1 {
            return Err(SheetsApiError::invalid(format!(
                "Requested writing within range [{requested}], but tried writing to row [{}]",
                area.top + height - 1
            )));
        }
        if width > area.right - area.left + 1 {
            return Err(SheetsApiError::invalid(format!(
                "Requested writing within range [{requested}], but tried writing to column [{}]",
                column_letters(area.left + width - 1)
            )));
        }
        planned.push((area, rows));
    }
    let (mut cells, mut rows_hit, mut columns_hit, mut sheets_hit) =
        (0, BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let mut responses = Vec::with_capacity(planned.len());
    for (area, rows) in planned {
        let sheet = &mut sheets[area.sheet];
        let updates = write(sheet, area.top, area.left, &rows, parse);
        cells += updates.cells;
        rows_hit.extend(updates.rows.iter().map(|r| (area.sheet, *r)));
        columns_hit.extend(updates.columns.iter().map(|c| (area.sheet, *c)));
        if updates.cells > 0 {
            sheets_hit.insert(area.sheet);
        }
        responses.push(updates.to_json(&id, &sheet.title));
    }
    Ok(Json(json!({
        "spreadsheetId": id,
        "totalUpdatedRows": rows_hit.len(),
        "totalUpdatedColumns": columns_hit.len(),
        "totalUpdatedCells": cells,
        "totalUpdatedSheets": sheets_hit.len(),
        "responses": responses,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: Vec<Vec<Value>>) -> (SheetsSim, &'static str) {
        let sim = SheetsSim::new("t");
        sim.put_values("book", "'My Sheet'!B2", rows).expect("seed");
        (sim, "book")
    }

    #[test]
    fn reads_leave_out_trailing_empty_cells_and_rows() {
        let (sim, book) = grid(vec![
            vec![json!("a"), json!(""), json!(3)],
            vec![json!(""), json!(""), json!("")],
            vec![json!(""), json!("b")],
        ]);
        assert_eq!(
            sim.values(book, "'My Sheet'!A1:Z9").expect("read"),
            vec![
                vec![],
                vec![json!(""), json!("a"), json!(""), json!(3)],
                vec![],
                vec![json!(""), json!(""), json!("b")],
            ]
        );
        assert_eq!(
            sim.values(book, "'My Sheet'!B2:C2").expect("read"),
            vec![vec![json!("a")]]
        );
        assert!(sim
            .values(book, "'My Sheet'!Z1:Z")
            .expect("read")
            .is_empty());
        assert_eq!(
            sim.values(book, "'My Sheet'!A1:AA1").map_err(|e| e.code),
            Err(400),
            "beyond the grid"
        );
        assert_eq!(sim.values(book, "Nope!A1").map_err(|e| e.code), Err(400));
        assert_eq!(sim.values("other", "A1").map_err(|e| e.code), Err(404));
    }

    #[test]
    fn columns_major_reads_transpose_and_formatting_renders_text() {
        let (sim, book) = grid(vec![vec![json!(1), json!(true)], vec![json!(2.5)]]);
        let sheets = &sim.lock().spreadsheets[book];
        let area = resolve(sheets, "'My Sheet'!B2:C3").expect("area");
        assert_eq!(
            read_area(&sheets[0], area, true, Render::Formatted),
            vec![vec![json!("1"), json!("2.5")], vec![json!("TRUE")],]
        );
    }
}
