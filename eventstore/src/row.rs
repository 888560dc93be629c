//! Stored rows back into events: the one place both back ends turn database
//! values into a [`RecordedEvent`], checking what the types cannot.

use chrono::{DateTime, Utc};
use domain::{
    CommandId, CorrelationId, EventId, Hash, JsonText, Metadata, Position, RecordedEvent, StreamId,
};
use uuid::Uuid;

use crate::StoreError;

/// The columns of an event row, as the database hands them over.
pub(crate) struct RawEvent {
    pub tx_id: i64,
    pub position: i64,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: String,
    pub correlation_id: Uuid,
    pub causation_id: Option<Uuid>,
    pub command_id: Option<Uuid>,
    pub actor: String,
    pub recorded_at: DateTime<Utc>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

fn non_negative(value: i64, what: &str, position: i64) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("event at position {position}: negative {what}")))
}

impl RawEvent {
    /// Checks and converts the row.
    pub fn into_recorded(self) -> Result<RecordedEvent, StoreError> {
        let at = self.position;
        let corrupt = |what: String| StoreError::Corrupt(format!("event at position {at}: {what}"));
        Ok(RecordedEvent {
            position: Position::new(
                non_negative(self.tx_id, "tx id", at)?,
                non_negative(at, "position", at)?,
            ),
            stream_id: StreamId::try_from(self.stream_id).map_err(|e| corrupt(format!("{e}")))?,
            stream_version: non_negative(self.stream_version, "stream version", at)?,
            event_id: EventId::from_uuid(self.event_id),
            event_type: self.event_type,
            schema_version: u32::try_from(self.schema_version)
                .map_err(|_| corrupt("negative schema version".into()))?,
            payload: JsonText::trusted(self.payload),
            metadata: Metadata {
                correlation_id: CorrelationId::from_uuid(self.correlation_id),
                causation_id: self.causation_id,
                command_id: self.command_id.map(CommandId::from_uuid),
                actor: self.actor.parse().map_err(|e| corrupt(format!("{e}")))?,
            },
            recorded_at: self.recorded_at,
            prev_hash: Hash::from_slice(&self.prev_hash)
                .ok_or_else(|| corrupt("previous hash is not 32 bytes".into()))?,
            hash: Hash::from_slice(&self.hash)
                .ok_or_else(|| corrupt("hash is not 32 bytes".into()))?,
        })
    }
}

/// A count or limit as the i64 SQL wants.
pub(crate) fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Checks an append request before any I/O.
pub(crate) fn check_request(request: &crate::AppendRequest) -> Result<(), StoreError> {
    if request.events.is_empty() {
        return Err(StoreError::InvalidAppend(format!(
            "an append to {} needs at least one event",
            request.stream
        )));
    }
    for event in &request.events {
        // Event types name message-bus subjects, so they are single tokens.
        let type_ok = !event.event_type.is_empty()
            && event.event_type.len() <= 128
            && event
                .event_type
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !type_ok {
            return Err(StoreError::InvalidAppend(format!(
                "event type {:?} must be 1-128 letters, digits or _",
                event.event_type
            )));
        }
        if event.schema_version == 0 || event.schema_version > i32::MAX as u32 {
            return Err(StoreError::InvalidAppend(format!(
                "event {} has schema version {}: versions start at 1",
                event.event_id, event.schema_version
            )));
        }
    }
    Ok(())
}

/// The time an append records: now, at the microsecond precision both back ends store.
pub(crate) fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
