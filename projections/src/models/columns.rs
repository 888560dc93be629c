//! Column values and row updates shared by the read models.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::RecordedEvent;
use serde::Serialize;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::{ProjectionError, Tx, Value};

/// A time as sortable RFC 3339 text with microseconds.
pub(crate) fn time(at: DateTime<Utc>) -> Value {
    Value::Text(at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// A value's serde name as text (an enum's `snake_case` name, an id's text).
pub(crate) fn label<T: Serialize>(value: &T) -> Value {
    match serde_json::to_value(value) {
        Ok(Json::String(s)) => Value::Text(s),
        Ok(other) => Value::Text(other.to_string()),
        Err(_) => Value::Null,
    }
}

/// A UUID as text.
pub(crate) fn id(uuid: Uuid) -> Value {
    Value::Text(uuid.to_string())
}

/// A count, saturating at the largest integer a column holds.
pub(crate) fn int(n: u64) -> Value {
    Value::Int(count(n))
}

/// A count as a column's integer (saturating: a count past `i64::MAX` is
/// not a real one).
pub(crate) fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An event the read model cannot decode.
pub(crate) fn undecodable(event: &RecordedEvent, e: impl std::fmt::Display) -> ProjectionError {
    ProjectionError::Apply(format!("cannot read {}: {e}", event.event_type))
}

/// Sets columns of the row of `table` whose `key` is `key_value`.
pub(crate) async fn set(
    tx: &mut Tx,
    table: &str,
    key: &str,
    key_value: Value,
    columns: &[(&str, Value)],
) -> Result<(), ProjectionError> {
    let assignments: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ${}", i + 2))
        .collect();
    let mut params = vec![key_value];
    params.extend(columns.iter().map(|(_, v)| v.clone()));
    tx.execute(
        &format!(
            "UPDATE {table} SET {} WHERE {key} = $1",
            assignments.join(", ")
        ),
        &params,
    )
    .await?;
    Ok(())
}
