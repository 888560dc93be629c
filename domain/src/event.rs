//! The event envelope: what the event store records around every domain event.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::ids::{CommandId, CorrelationId, EventId, StreamId};

/// A place in the global order of all events, and a reader's checkpoint.
///
/// Opaque to readers: compare, store and pass it back; do not compute with it.
/// Its text form is `"<tx>:<seq>"`. Positions only grow along the order in which
/// readers receive events, so "everything after P" is a well-defined question.
/// (On PostgreSQL `tx` is the writing transaction's id and `seq` the event's
/// sequence number; on SQLite, where writers are serialised, `tx` is 0.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Position {
    /// The transaction order key.
    pub tx: u64,
    /// The sequence number inside that order.
    pub seq: u64,
}

impl Position {
    /// Before the first event.
    pub const START: Position = Position { tx: 0, seq: 0 };

    /// A position from its two parts.
    pub const fn new(tx: u64, seq: u64) -> Self {
        Self { tx, seq }
    }
}

/// A position's text form was not `<tx>:<seq>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid position {0:?}: expected <tx>:<seq>, as returned by the API")]
pub struct InvalidPosition(String);

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.tx, self.seq)
    }
}

impl FromStr for Position {
    type Err = InvalidPosition;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidPosition(s.to_owned());
        let (tx, seq) = s.split_once(':').ok_or_else(invalid)?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(tx) || !digits(seq) {
            return Err(invalid());
        }
        Ok(Self {
            tx: tx.parse().map_err(|_| invalid())?,
            seq: seq.parse().map_err(|_| invalid())?,
        })
    }
}

impl Serialize for Position {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A SHA-256 digest linking an event to its predecessor in its stream.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The "previous hash" of a stream's first event.
    pub const ZERO: Hash = Hash([0; 32]);

    /// The digest from a byte slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The 64 lowercase hex digits, without allocating.
    fn hex(&self) -> [u8; 64] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0_u8; 64];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0x0f)];
        }
        out
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex();
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let hex = self.hex();
        serializer.serialize_str(std::str::from_utf8(&hex).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(serde::de::Error::custom("a hash is 64 hex digits"));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let pair = std::str::from_utf8(pair).map_err(serde::de::Error::custom)?;
            out[i] = u8::from_str_radix(pair, 16).map_err(serde::de::Error::custom)?;
        }
        Ok(Hash(out))
    }
}

/// JSON text, kept exactly as written so that hashes over it stay reproducible.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JsonText(String);

impl JsonText {
    /// Checks that `text` is JSON.
    pub fn parse(text: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<serde::de::IgnoredAny>(&text)?;
        Ok(Self(text))
    }

    /// The compact text of a JSON value.
    pub fn from_value(value: &serde_json::Value) -> Self {
        Self(value.to_string())
    }

    /// Wraps text already known to be JSON, such as a payload read back from the
    /// event store, which checked it when it was written.
    pub fn trusted(text: String) -> Self {
        Self(text)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text, parsed into a JSON value.
    pub fn to_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        Ok(Self(raw.get().to_owned()))
    }
}

/// Who caused an event: a person, an agent, or the system itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A person, by their token's name (e.g. `user:ceo`).
    User(String),
    /// A department agent or the orchestrator (e.g. `agent:logistics`).
    Agent(String),
    /// AgentOS itself (e.g. `system:bench`).
    System(String),
}

/// An actor's text was not `user:<name>`, `agent:<name>` or `system:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid actor {0:?}: expected user:<name>, agent:<name> or system:<name>, the name 1-64 characters of A-Z a-z 0-9 . _ @ -")]
pub struct InvalidActor(String);

impl Actor {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            Actor::User(n) => ("user", n),
            Actor::Agent(n) => ("agent", n),
            Actor::System(n) => ("system", n),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, name) = self.parts();
        write!(f, "{kind}:{name}")
    }
}

impl FromStr for Actor {
    type Err = InvalidActor;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidActor(s.to_owned());
        let (kind, name) = s.split_once(':').ok_or_else(invalid)?;
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
        if !name_ok {
            return Err(invalid());
        }
        let name = name.to_owned();
        match kind {
            "user" => Ok(Actor::User(name)),
            "agent" => Ok(Actor::Agent(name)),
            "system" => Ok(Actor::System(name)),
            _ => Err(invalid()),
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Why and on whose behalf events were written; shared by all events of one append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The CEO order (or other root cause) everything here follows from.
    pub correlation_id: CorrelationId,
    /// The event or command that directly caused this one, if any.
    pub causation_id: Option<Uuid>,
    /// The command whose handling appended this event, if any.
    pub command_id: Option<CommandId>,
    /// Who acted.
    pub actor: Actor,
}

/// An event to append: a typed payload not yet placed in any stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The event's identity (UUID v7).
    pub event_id: EventId,
    /// The event's type name, e.g. `DirectiveIssued`.
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u32,
    /// The payload.
    pub payload: JsonText,
}

/// An event as the store recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// The event's place in the global order.
    pub position: Position,
    /// The stream the event belongs to.
    pub stream_id: StreamId,
    /// The event's version in its stream: 1 for the first event.
    pub stream_version: u64,
    /// The event's identity.
    pub event_id: EventId,
    /// The event's type name.
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u32,
    /// The payload, exactly as stored.
    pub payload: JsonText,
    /// Correlation, causation, command and actor.
    pub metadata: Metadata,
    /// When the store recorded the event (microsecond precision).
    pub recorded_at: DateTime<Utc>,
    /// The hash of the previous event in the stream ([`Hash::ZERO`] for the first).
    pub prev_hash: Hash,
    /// SHA-256 over `prev_hash` and this event's canonical bytes.
    pub hash: Hash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_transaction_then_sequence_and_round_trip_as_text() {
        let a = Position::new(7, 900);
        let b = Position::new(8, 3);
        assert!(a < b);
        assert_eq!(a.to_string(), "7:900");
        assert_eq!("7:900".parse::<Position>(), Ok(a));
        for bad in ["", "7", "7:", ":1", "a:1", "1:-2", "1:2:3", "+1:2"] {
            assert!(bad.parse::<Position>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn actors_parse_from_and_print_to_the_same_text() {
        for text in [
            "user:ceo",
            "agent:logistics",
            "system:bench",
            "user:a.b@c-d_e",
        ] {
            let actor: Actor = text.parse().expect("valid actor");
            assert_eq!(actor.to_string(), text);
        }
        for bad in [
            "ceo",
            "robot:x",
            "user:",
            "user:has space",
            &format!("user:{}", "a".repeat(65)),
        ] {
            assert!(bad.parse::<Actor>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn json_text_serialises_inline_and_keeps_its_bytes() {
        let text = JsonText::parse(r#"{"b":1, "a":[true,null]}"#.to_owned()).expect("json");
        let wrapped = serde_json::json!({ "payload": text });
        assert_eq!(
            wrapped.to_string(),
            r#"{"payload":{"a":[true,null],"b":1}}"#
        );
        assert_eq!(text.as_str(), r#"{"b":1, "a":[true,null]}"#);
        assert!(JsonText::parse("{not json".to_owned()).is_err());
    }

    #[test]
    fn hashes_print_as_hex_and_parse_back() {
        let hash = Hash([0xab; 32]);
        let json = serde_json::to_string(&hash).expect("serialise");
        assert_eq!(json, format!("\"{}\"", "ab".repeat(32)));
        assert_eq!(serde_json::from_str::<Hash>(&json).expect("parse"), hash);
        assert!(serde_json::from_str::<Hash>("\"abc\"").is_err());
    }
}
