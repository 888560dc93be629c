//! Google Sheets (API v4, `spreadsheets.values`): read a range, append rows
//! after a table, write several ranges at once; and, on top, the Logistics
//! agent's two uses: reading the stock count sheet ([`Sheets::stock_counts`])
//! and writing its decisions back as a log ([`Sheets::append_rows`]).
//!
//! Authentication is an OAuth 2 bearer token, sent on every request and
//! never logged. Every call goes through the adapter's [`CallPolicy`]; only
//! 429, 5xx and transport failures are retried.

pub mod a1;
pub mod stock;

use std::collections::HashSet;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use a1::{A1Error, A1Range, CellRef, CellSpan};
pub use stock::{parse_stock_counts, StockCount, StockCountError};

use super::{Adapter, CallError, CallPolicy, HealthBoard, Retryable};

/// Google's endpoint.
pub const GOOGLE_SHEETS_URL: &str = "https://sheets.googleapis.com";

/// The adapter's name on the health board.
pub const SYSTEM: &str = "sheets";

/// How to reach Google Sheets.
#[derive(Clone)]
pub struct SheetsConfig {
    /// The API's base URL: [`GOOGLE_SHEETS_URL`], or a simulator's.
    pub base_url: String,
    /// An OAuth 2 access token with a Sheets scope; never logged.
    pub token: String,
    /// Timeouts, retries and circuit breaker.
    pub policy: CallPolicy,
}

impl SheetsConfig {
    /// `base_url` with `token` and the default policy.
    pub fn new(base_url: impl Into<String>, token: impl Into<String>) -> Self {
        SheetsConfig {
            base_url: base_url.into(),
            token: token.into(),
            policy: CallPolicy::default(),
        }
    }
}

impl fmt::Debug for SheetsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SheetsConfig")
            .field("base_url", &self.base_url)
            .field("token", &"<redacted>")
            .field("policy", &self.policy)
            .finish()
    }
}

/// Why a Google Sheets call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetsError {
    /// 400 `INVALID_ARGUMENT`: a malformed or unknown range, values outside it …
    #[error("Google Sheets refused the request (400 INVALID_ARGUMENT): {0}")]
    InvalidArgument(String),
    /// 401 `UNAUTHENTICATED`: the token is missing, expired or wrong.
    #[error("Google Sheets refused the credentials (401 UNAUTHENTICATED): {0}")]
    Unauthenticated(String),
    /// 403 `PERMISSION_DENIED`: the spreadsheet is not shared with the token's account.
    #[error("Google Sheets denied access (403 PERMISSION_DENIED): {0}")]
    PermissionDenied(String),
    /// 404 `NOT_FOUND`: no such spreadsheet.
    #[error("Google Sheets found no such spreadsheet (404 NOT_FOUND): {0}")]
    NotFound(String),
    /// 429 `RESOURCE_EXHAUSTED`: over quota for now.
    #[error("Google Sheets is rate limiting (429 RESOURCE_EXHAUSTED): {0}")]
    RateLimited(String),
    /// 5xx: Google failed (or a gateway lost the answer).
    #[error("Google Sheets failed ({status}): {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// Google's message, or the status's reason.
        message: String,
    },
    /// Another refusal.
    #[error("Google Sheets refused the request ({status}): {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Google's message, or the status's reason.
        message: String,
    },
    /// The request or its answer did not get through (connection refused, reset …).
    #[error("Google Sheets could not be reached: {0}")]
    Transport(String),
    /// A success whose body is not what the API documents.
    #[error("Google Sheets answered something unreadable: {0}")]
    Unreadable(String),
    /// The configuration cannot be used (base URL, HTTP client).
    #[error("Google Sheets adapter misconfigured: {0}")]
    Config(String),
}

impl Retryable for SheetsError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            SheetsError::RateLimited(_)
                | SheetsError::Unavailable { .. }
                | SheetsError::Transport(_)
        )
    }
}

impl SheetsError {
    fn from_status(status: u16, message: String) -> Self {
        match status {
            400 => SheetsError::InvalidArgument(message),
            401 => SheetsError::Unauthenticated(message),
            403 => SheetsError::PermissionDenied(message),
            404 => SheetsError::NotFound(message),
            429 => SheetsError::RateLimited(message),
            500..=599 => SheetsError::Unavailable { status, message },
            _ => SheetsError::Refused { status, message },
        }
    }

    fn from_reqwest(e: reqwest::Error) -> Self {
        let unreadable = e.is_decode();
        let message = error_chain(&e.without_url());
        if unreadable {
            SheetsError::Unreadable(message)
        } else {
            SheetsError::Transport(message)
        }
    }
}

/// An error and its causes, `: `-separated ("error sending request: … Connection refused").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Which way `values` runs: a list of rows, or a list of columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Dimension {
    /// `[[A1, B1], [A2, B2]]`.
    #[default]
    Rows,
    /// `[[A1, A2], [B1, B2]]`.
    Columns,
}

/// How read values are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueRender {
    /// As the spreadsheet shows them: every value a string (`"1,200"`, `"TRUE"`).
    #[default]
    FormattedValue,
    /// Numbers as numbers, booleans as booleans; dates as formatted strings.
    UnformattedValue,
    /// Formulas as written (`"=SUM(A1:A3)"`), other values unformatted.
    Formula,
}

/// How written values are interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ValueInput {
    /// Stored exactly as given: `"=1+1"` stays text, so nothing written can
    /// become a formula.
    #[default]
    Raw,
    /// As if typed in the UI: numbers, dates and formulas are parsed.
    UserEntered,
}

/// How [`Sheets::values`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// Rows (default) or columns.
    pub major_dimension: Dimension,
    /// Formatted (default), unformatted or formulas.
    pub render: ValueRender,
}

/// Values of a range: the API's `ValueRange`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueRange {
    /// The range in A1 notation: on reads, the whole range asked for, even
    /// where values are omitted.
    pub range: String,
    /// Which way `values` runs.
    #[serde(default)]
    pub major_dimension: Dimension,
    /// The values; trailing empty rows and cells are omitted on reads.
    #[serde(default)]
    pub values: Vec<Vec<Value>>,
}

/// What one write changed: the API's `UpdateValuesResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UpdateValuesResponse {
    /// The spreadsheet written.
    pub spreadsheet_id: String,
    /// The cells written, in A1 notation.
    pub updated_range: String,
    /// Rows with at least one cell written.
    pub updated_rows: u32,
    /// Columns with at least one cell written.
    pub updated_columns: u32,
    /// Cells written.
    pub updated_cells: u32,
}

/// The answer to an append: the API's `AppendValuesResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppendValuesResponse {
    /// The spreadsheet written.
    pub spreadsheet_id: String,
    /// The table found before appending, if any.
    pub table_range: Option<String>,
    /// What was written.
    pub updates: UpdateValuesResponse,
}

/// The answer to a batch update: the API's `BatchUpdateValuesResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchUpdateValuesResponse {
    /// The spreadsheet written.
    pub spreadsheet_id: String,
    /// Rows with at least one cell written.
    pub total_updated_rows: u32,
    /// Columns with at least one cell written.
    pub total_updated_columns: u32,
    /// Cells written.
    pub total_updated_cells: u32,
    /// Sheets with at least one cell written.
    pub total_updated_sheets: u32,
    /// One per range written, in order.
    pub responses: Vec<UpdateValuesResponse>,
}

/// One row of a log: its key (written in the table's first column) and the
/// cells that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRow {
    /// Unique within the log (e.g. the decision event's id); a row whose key
    /// is already in the first column is not written again. An empty key
    /// is never looked up.
    pub key: String,
    /// The other cells, written as text.
    pub cells: Vec<String>,
}

/// What [`Sheets::append_rows`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppendedRows {
    /// Rows written now.
    pub appended: usize,
    /// Rows skipped because their key was already there.
    pub already_present: usize,
    /// The cells written, in A1 notation, when any were.
    pub updated_range: Option<String>,
}

/// A Google Sheets client.
#[derive(Debug, Clone)]
pub struct Sheets {
    config: SheetsConfig,
    base: String,
    http: reqwest::Client,
    adapter: Adapter,
}

#[derive(Deserialize)]
struct GoogleErrorBody {
    error: GoogleError,
}

#[derive(Deserialize)]
struct GoogleError {
    #[serde(default)]
    message: String,
}

impl Sheets {
    /// A client for `config`, registered as `sheets` on `board`.
    pub fn new(config: SheetsConfig, board: &HealthBoard) -> Result<Self, SheetsError> {
        let base = reqwest::Url::parse(&config.base_url)
            .map_err(|e| SheetsError::Config(format!("base URL {:?}: {e}", config.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(SheetsError::Config(format!(
                "base URL {:?} is not http(s)",
                config.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.policy.timeout)
            .connect_timeout(config.policy.timeout)
            .build()
            .map_err(|e| SheetsError::Config(format!("HTTP client: {e}")))?;
        Ok(Sheets {
            base: config.base_url.trim_end_matches('/').to_owned(),
            adapter: Adapter::new(SYSTEM, config.policy, board),
            config,
            http,
        })
    }

    /// The adapter the calls go through (its health, its policy).
    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }

    /// The values of `range` (`spreadsheets.values.get`).
    pub async fn values(
        &self,
        spreadsheet_id: &str,
        range: &A1Range,
        options: ReadOptions,
    ) -> Result<ValueRange, CallError<SheetsError>> {
        self.adapter
            .call(|| self.get_values(spreadsheet_id, range, options))
            .await
    }

    /// Writes each of `data` at its range (`spreadsheets.values.batchUpdate`):
    /// all or nothing, and safe to repeat.
    pub async fn batch_update(
        &self,
        spreadsheet_id: &str,
        input: ValueInput,
        data: &[ValueRange],
    ) -> Result<BatchUpdateValuesResponse, CallError<SheetsError>> {
        let url = format!(
            "{}/v4/spreadsheets/{}/values:batchUpdate",
            self.base,
            encode_segment(spreadsheet_id)
        );
        let body = serde_json::json!({ "valueInputOption": input, "data": data });
        self.adapter
            .call(|| self.send(self.http.post(&url).json(&body)))
            .await
    }

    /// Appends `rows` after the table found in `range`, each row's key in the
    /// table's first column, as raw text (`spreadsheets.values.append` with
    /// `RAW` and `INSERT_ROWS`). `range` should start at the log's first
    /// column and header row, e.g. `Decisions!A:C`.
    ///
    /// Appending is not idempotent at Google, so each attempt first reads
    /// the key column and leaves out the rows already there: an attempt
    /// whose answer was lost, retried, or a whole call repeated after a
    /// crash, writes each row once. (Two writers appending the same key at
    /// the same instant could still both write it.)
    pub async fn append_rows(
        &self,
        spreadsheet_id: &str,
        range: &A1Range,
        rows: &[KeyedRow],
    ) -> Result<AppendedRows, CallError<SheetsError>> {
        self.adapter
            .call(|| self.append_missing(spreadsheet_id, range, rows))
            .await
    }

    /// The stock counts in `range`, header row first (see [`stock`]).
    pub async fn stock_counts(
        &self,
        spreadsheet_id: &str,
        range: &A1Range,
    ) -> Result<Vec<StockCount>, StockCountError> {
        let options = ReadOptions {
            major_dimension: Dimension::Rows,
            render: ValueRender::UnformattedValue,
        };
        let values = self.values(spreadsheet_id, range, options).await?;
        parse_stock_counts(&values.values, range.first_row())
    }

    async fn get_values(
        &self,
        spreadsheet_id: &str,
        range: &A1Range,
        options: ReadOptions,
    ) -> Result<ValueRange, SheetsError> {
        let url = self.values_url(spreadsheet_id, range, "");
        let render = match options.render {
            ValueRender::FormattedValue => "FORMATTED_VALUE",
            ValueRender::UnformattedValue => "UNFORMATTED_VALUE",
            ValueRender::Formula => "FORMULA",
        };
        let dimension = match options.major_dimension {
            Dimension::Rows => "ROWS",
            Dimension::Columns => "COLUMNS",
        };
        let request = self.http.get(&url).query(&[
            ("majorDimension", dimension),
            ("valueRenderOption", render),
            // Dates as the sheet shows them, not as serial numbers.
            ("dateTimeRenderOption", "FORMATTED_STRING"),
        ]);
        self.send(request).await
    }

    async fn append_missing(
        &self,
        spreadsheet_id: &str,
        range: &A1Range,
        rows: &[KeyedRow],
    ) -> Result<AppendedRows, SheetsError> {
        let present = self.keys(spreadsheet_id, range).await?;
        let mut seen = HashSet::new();
        let missing: Vec<Vec<String>> = rows
            .iter()
            .filter(|row| {
                row.key.is_empty() || (!present.contains(&row.key) && seen.insert(&row.key))
            })
            .map(|row| {
                std::iter::once(row.key.clone())
                    .chain(row.cells.iter().cloned())
                    .collect()
            })
            .collect();
        let already_present = rows.len() - missing.len();
        if missing.is_empty() {
            return Ok(AppendedRows {
                appended: 0,
                already_present,
                updated_range: None,
            });
        }
        let url = self.values_url(spreadsheet_id, range, ":append");
        let request = self
            .http
            .post(&url)
            .query(&[
                ("valueInputOption", "RAW"),
                ("insertDataOption", "INSERT_ROWS"),
            ])
            .json(&serde_json::json!({ "majorDimension": "ROWS", "values": missing }));
        let answer: AppendValuesResponse = self.send(request).await?;
        Ok(AppendedRows {
            appended: missing.len(),
            already_present,
            updated_range: Some(answer.updates.updated_range),
        })
    }

    /// The keys already in `range`'s first column, from its first row down.
    async fn keys(
        &self,
        spreadsheet_id: &str,
        range: &A1Range,
    ) -> Result<HashSet<String>, SheetsError> {
        let column = range.first_column();
        let key_column = A1Range {
            sheet: range.sheet.clone(),
            cells: Some(CellSpan {
                start: CellRef {
                    column: Some(column),
                    row: Some(range.first_row()),
                },
                // To the sheet's end: the table may have grown past the range.
                end: CellRef {
                    column: Some(column),
                    row: None,
                },
            }),
        };
        let options = ReadOptions {
            major_dimension: Dimension::Columns,
            render: ValueRender::FormattedValue,
        };
        let read = self
            .get_values(spreadsheet_id, &key_column, options)
            .await?;
        Ok(read
            .values
            .into_iter()
            .flatten()
            .filter_map(|cell| match cell {
                Value::String(s) if !s.is_empty() => Some(s),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect())
    }

    fn values_url(&self, spreadsheet_id: &str, range: &A1Range, suffix: &str) -> String {
        format!(
            "{}/v4/spreadsheets/{}/values/{}{suffix}",
            self.base,
            encode_segment(spreadsheet_id),
            encode_segment(&range.to_string())
        )
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, SheetsError> {
        let response = request
            .bearer_auth(&self.config.token)
            .send()
            .await
            .map_err(SheetsError::from_reqwest)?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(SheetsError::from_reqwest);
        }
        let body = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<GoogleErrorBody>(&body)
            .ok()
            .map(|b| b.error.message)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("no reason").to_owned());
        Err(SheetsError::from_status(status.as_u16(), truncate(message)))
    }
}

/// Percent-encodes a path segment the way Google's client libraries do:
/// everything but RFC 3986's unreserved characters.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn truncate(mut message: String) -> String {
    const MAX: usize = 300;
    if message.len() > MAX {
        let cut = (0..=MAX)
            .rev()
            .find(|&i| message.is_char_boundary(i))
            .unwrap_or(0);
        message.truncate(cut);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_encoded_as_one_path_segment() {
        assert_eq!(
            encode_segment("'Stock Counts'!A1:D"),
            "%27Stock%20Counts%27%21A1%3AD"
        );
        assert_eq!(encode_segment("abc-123_x.y~"), "abc-123_x.y~");
        assert_eq!(encode_segment("é/?"), "%C3%A9%2F%3F");
    }

    #[test]
    fn only_rate_limits_server_failures_and_transport_are_retried() {
        assert!(SheetsError::from_status(429, String::new()).is_retryable());
        assert!(SheetsError::from_status(503, String::new()).is_retryable());
        assert!(SheetsError::Transport(String::new()).is_retryable());
        for status in [400, 401, 403, 404, 409] {
            assert!(!SheetsError::from_status(status, String::new()).is_retryable());
        }
    }

    #[test]
    fn the_token_is_not_in_the_debug_output() {
        let config = SheetsConfig::new(GOOGLE_SHEETS_URL, "ya29.secret-token");
        assert!(!format!("{config:?}").contains("secret-token"));
        let sheets = Sheets::new(config, &HealthBoard::new()).expect("client");
        assert!(!format!("{sheets:?}").contains("secret-token"));
    }
}
