//! The event log: every event, indexed by stream, category, type,
//! correlation id and time, for the audit trail's filtered, paginated
//! queries (the store itself only reads in global order or by stream).
//!
//! Each row keeps the whole recorded event (as JSON), so a query answers
//! from the view alone, without a second trip to the store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{Position, RecordedEvent};
use eventstore::EventFilter;

use crate::db::{Db, Tx, Value};
use crate::{registry, Projection, ProjectionError, RowWrites, Tables};

/// The projection's name.
pub const NAME: &str = "event_log";

/// Its one table (and the view queries read).
const TABLE: &str = "event_log";

/// The most rows one query returns.
pub const MAX_LIMIT: u32 = 500;

/// Every event, as the audit trail reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventLog;

#[async_trait]
impl Projection for EventLog {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        1
    }

    /// The audit trail takes every event; 20 ms of freshness
    /// for batches several times larger under load (`bench e2e`).
    fn batch_window(&self) -> std::time::Duration {
        std::time::Duration::from_millis(20)
    }

    fn filter(&self) -> EventFilter {
        EventFilter::all()
    }

    fn tables(&self) -> Vec<&'static str> {
        vec![TABLE]
    }

    fn schema(&self, tables: &Tables) -> Result<Vec<String>, ProjectionError> {
        let t = tables.get(TABLE)?;
        let mut statements = vec![format!(
            "CREATE TABLE {t} (\
             pos_tx BIGINT NOT NULL, \
             pos_seq BIGINT NOT NULL, \
             stream_id TEXT NOT NULL, \
             category TEXT NOT NULL, \
             event_type TEXT NOT NULL, \
             correlation_id TEXT NOT NULL, \
             recorded_at_us BIGINT NOT NULL, \
             event_id TEXT NOT NULL, \
             record TEXT NOT NULL, \
             PRIMARY KEY (pos_tx, pos_seq))"
        )];
        for (suffix, column) in [
            ("stream", "stream_id"),
            ("category", "category"),
            ("type", "event_type"),
            ("correlation", "correlation_id"),
        ] {
            statements.push(format!(
                "CREATE INDEX {t}_by_{suffix} ON {t} ({column}, pos_tx, pos_seq)"
            ));
        }
        statements.push(format!("CREATE INDEX {t}_by_time ON {t} (recorded_at_us)"));
        Ok(statements)
    }

    async fn apply(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        self.apply_batch(tx, tables, std::slice::from_ref(event))
            .await
    }

    /// Staged and written in multi-row INSERTs ([`RowWrites`]): a copy of
    /// every event is this model's whole work, so one statement per event
    /// would be most of it.
    async fn apply_batch(
        &self,
        tx: &mut Tx,
        tables: &Tables,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let t = tables.get(TABLE)?;
        let mut writes = RowWrites::new();
        for event in events {
            let record = serde_json::to_string(event)
                .map_err(|e| ProjectionError::cannot_apply(NAME, event, e))?;
            writes.insert(
                t,
                vec![
                    ("pos_tx", int(event.position.tx)?),
                    ("pos_seq", int(event.position.seq)?),
                ],
                vec![
                    ("stream_id", Value::from(event.stream_id.as_str())),
                    ("category", Value::from(event.stream_id.category())),
                    ("event_type", Value::from(event.event_type.as_str())),
                    (
                        "correlation_id",
                        Value::from(event.metadata.correlation_id.to_string()),
                    ),
                    (
                        "recorded_at_us",
                        Value::Int(event.recorded_at.timestamp_micros()),
                    ),
                    ("event_id", Value::from(event.event_id.to_string())),
                    ("record", Value::from(record)),
                ],
            );
        }
        writes.flush(tx).await
    }
}

/// Which way a query walks the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Oldest first.
    #[default]
    Ascending,
    /// Newest first.
    Descending,
}

/// A query of the event log; `None` filters match everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventLogQuery {
    /// Only this stream.
    pub stream: Option<String>,
    /// Only streams of this category.
    pub category: Option<String>,
    /// Only events of this type.
    pub event_type: Option<String>,
    /// Only events of this correlation id.
    pub correlation_id: Option<String>,
    /// Only events recorded at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only events recorded before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Only events after this position in the query's order (the cursor).
    pub after: Option<Position>,
    /// Which way to walk.
    pub order: Order,
    /// How many events at most (capped at [`MAX_LIMIT`]).
    pub limit: u32,
}

/// The events a query selects, in its order.
pub async fn query(db: &Db, query: &EventLogQuery) -> Result<Vec<RecordedEvent>, ProjectionError> {
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let mut add = |condition: &str, value: Value| {
        params.push(value);
        conditions.push(condition.replace('?', &format!("${}", params.len())));
    };
    if let Some(stream) = &query.stream {
        add("stream_id = ?", Value::from(stream.as_str()));
    }
    if let Some(category) = &query.category {
        add("category = ?", Value::from(category.as_str()));
    }
    if let Some(event_type) = &query.event_type {
        add("event_type = ?", Value::from(event_type.as_str()));
    }
    if let Some(correlation_id) = &query.correlation_id {
        add("correlation_id = ?", Value::from(correlation_id.as_str()));
    }
    if let Some(from) = query.from {
        add("recorded_at_us >= ?", Value::Int(from.timestamp_micros()));
    }
    if let Some(to) = query.to {
        add("recorded_at_us < ?", Value::Int(to.timestamp_micros()));
    }
    let (compare, direction) = match query.order {
        Order::Ascending => (">", "ASC"),
        Order::Descending => ("<", "DESC"),
    };
    if let Some(after) = query.after {
        let tx = int(after.tx)?;
        let seq = int(after.seq)?;
        params.push(tx);
        let tx_param = params.len();
        params.push(seq);
        let seq_param = params.len();
        conditions.push(format!(
            "(pos_tx {compare} ${tx_param} OR (pos_tx = ${tx_param} AND pos_seq {compare} ${seq_param}))"
        ));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    params.push(Value::Int(i64::from(query.limit.min(MAX_LIMIT))));
    let sql = format!(
        "SELECT record FROM {TABLE} {filter} \
         ORDER BY pos_tx {direction}, pos_seq {direction} LIMIT ${}",
        params.len()
    );
    db.query(&sql, &params)
        .await?
        .iter()
        .map(|row| {
            let text = row
                .first()
                .and_then(Value::as_str)
                .ok_or_else(|| ProjectionError::Query("event_log.record is not text".to_owned()))?;
            serde_json::from_str(text)
                .map_err(|e| ProjectionError::Query(format!("event_log.record: {e}")))
        })
        .collect()
}

/// The position of the last event in the log, if any.
pub async fn last_position(db: &Db) -> Result<Option<Position>, ProjectionError> {
    let rows = db
        .query(
            &format!(
                "SELECT pos_tx, pos_seq FROM {TABLE} ORDER BY pos_tx DESC, pos_seq DESC LIMIT 1"
            ),
            &[],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let part = |i: usize| {
        row.get(i)
            .and_then(Value::as_i64)
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| ProjectionError::Query("event_log position is not a number".to_owned()))
    };
    Ok(Some(Position::new(part(0)?, part(1)?)))
}

/// The checkpoint of a projection's active generation (every event up to it
/// is in its views), or `None` before its first generation is switched in.
/// Any projection's, not only this one's: queries use it to wait for their
/// read model to catch up with a write.
pub async fn active_checkpoint(
    db: &Db,
    projection: &str,
) -> Result<Option<Position>, ProjectionError> {
    if !db.relation_exists("projection_generations").await? {
        return Ok(None);
    }
    Ok(registry::entries(db, projection)
        .await?
        .into_iter()
        .find(|entry| entry.active)
        .map(|entry| entry.checkpoint))
}

/// A position part as a BIGINT.
fn int(part: u64) -> Result<Value, ProjectionError> {
    i64::try_from(part)
        .map(Value::Int)
        .map_err(|_| ProjectionError::Apply(format!("position part {part} exceeds BIGINT")))
}
