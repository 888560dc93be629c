//! Events a processor gave up on: after its last delivery attempt an event
//! is recorded as dead-lettered, with the processor, the event and the error,
//! and the processor moves on. An operator reads, fixes and replays from here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codec::{DomainEvent, EventSchema};
use crate::event::Position;
use crate::ids::{EventId, StreamId};

/// The category of dead-letter streams: one stream per processor.
pub const CATEGORY: &str = "dead_letter";

/// What can happen in a dead-letter stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DeadLetterEvent {
    /// A processor gave up on an event.
    DeadLettered(DeadLettered),
}

/// A processor gave up on an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLettered {
    /// The processor's name.
    pub processor: String,
    /// The event given up on.
    pub event_id: EventId,
    /// Its type.
    pub event_type: String,
    /// Its stream.
    pub stream_id: StreamId,
    /// Its version in that stream.
    pub stream_version: u64,
    /// Its global position.
    pub position: Position,
    /// How many times it was delivered.
    pub deliveries: u32,
    /// Why the last attempt failed.
    pub error: String,
    /// When the processor gave up (its clock).
    pub dead_lettered_at: DateTime<Utc>,
}

impl DomainEvent for DeadLetterEvent {
    const SCHEMAS: &'static [EventSchema] = &[EventSchema {
        event_type: "DeadLettered",
        version: 1,
        upcasters: &[],
    }];
}
