//! The hash chain: each event's hash is SHA-256 over the previous hash of its
//! stream, its stream version and its canonical bytes.
//!
//! The canonical bytes are a length-prefixed encoding of everything the event
//! record holds except its global position (which a database assigns at
//! commit) and the hashes themselves:
//!
//! ```text
//! hash = SHA-256( prev_hash[32] || version:u64be || canonical )
//! canonical = str(stream_id) || event_id[16] || str(event_type)
//!          || schema_version:u32be || str(payload) || correlation_id[16]
//!          || opt(causation_id) || opt(command_id) || str(actor)
//!          || recorded_at_micros:i64be
//! str(s) = len:u32be || utf8 bytes;  opt(u) = 0 | 1 || uuid[16]
//! ```
//!
//! The PostgreSQL back end computes the same formula in SQL, sent the
//! canonical bytes before the payload (the head) and after it (the tail,
//! the same for every event of one append), which it joins around the
//! payload it stores (`sha256(prev || int8send(version) || head ||
//! payload || tail)`), so both back ends and the verifier agree byte for byte.

use chrono::{DateTime, Utc};
use domain::{Hash, Metadata, NewEvent, RecordedEvent, StreamId};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Appends the canonical bytes of an event to `out`.
#[allow(clippy::too_many_arguments)]
fn write_canonical(
    out: &mut Vec<u8>,
    stream: &str,
    event_id: Uuid,
    event_type: &str,
    schema_version: u32,
    payload: &str,
    metadata: &Metadata,
    recorded_at: DateTime<Utc>,
) {
    write_head(
        out,
        stream,
        event_id,
        event_type,
        schema_version,
        payload.len(),
    );
    out.extend_from_slice(payload.as_bytes());
    write_tail(out, metadata, recorded_at);
}

/// A length-prefixed string.
fn text(out: &mut Vec<u8>, s: &str) {
    // Lengths are bounded by PostgreSQL's 1 GB field limit, far below u32::MAX.
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// What comes before the payload's bytes: up to its length.
fn write_head(
    out: &mut Vec<u8>,
    stream: &str,
    event_id: Uuid,
    event_type: &str,
    schema_version: u32,
    payload_len: usize,
) {
    text(out, stream);
    out.extend_from_slice(event_id.as_bytes());
    text(out, event_type);
    out.extend_from_slice(&schema_version.to_be_bytes());
    out.extend_from_slice(&(payload_len as u32).to_be_bytes());
}

/// What comes after the payload: the metadata and the time, the same for
/// every event of one append.
fn write_tail(out: &mut Vec<u8>, metadata: &Metadata, recorded_at: DateTime<Utc>) {
    fn optional(out: &mut Vec<u8>, id: Option<Uuid>) {
        match id {
            Some(id) => {
                out.push(1);
                out.extend_from_slice(id.as_bytes());
            }
            None => out.push(0),
        }
    }
    out.extend_from_slice(metadata.correlation_id.as_uuid().as_bytes());
    optional(out, metadata.causation_id);
    optional(out, metadata.command_id.map(|c| c.as_uuid()));
    let mut actor = String::with_capacity(32);
    {
        use std::fmt::Write;
        let _ = write!(actor, "{}", metadata.actor);
    }
    text(out, &actor);
    out.extend_from_slice(&recorded_at.timestamp_micros().to_be_bytes());
}

/// The canonical bytes of an event about to be appended that come before
/// its payload (see [`canonical_tail`]).
pub fn canonical_head(stream: &StreamId, event: &NewEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + stream.as_str().len() + event.event_type.len());
    write_head(
        &mut out,
        stream.as_str(),
        event.event_id.as_uuid(),
        &event.event_type,
        event.schema_version,
        event.payload.as_str().len(),
    );
    out
}

/// The canonical bytes that follow the payload of every event of one
/// append: `canonical = head || payload || tail`. PostgreSQL is sent these
/// parts and joins them around the payload it stores, so that no payload
/// travels twice.
pub fn canonical_tail(metadata: &Metadata, recorded_at: DateTime<Utc>) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    write_tail(&mut out, metadata, recorded_at);
    out
}

/// The canonical bytes of an event about to be appended.
pub fn canonical_new(
    stream: &StreamId,
    event: &NewEvent,
    metadata: &Metadata,
    recorded_at: DateTime<Utc>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + event.payload.as_str().len());
    write_canonical(
        &mut out,
        stream.as_str(),
        event.event_id.as_uuid(),
        &event.event_type,
        event.schema_version,
        event.payload.as_str(),
        metadata,
        recorded_at,
    );
    out
}

/// Writes the canonical bytes of a recorded event into `out` (cleared first).
pub fn canonical_recorded(event: &RecordedEvent, out: &mut Vec<u8>) {
    out.clear();
    write_canonical(
        out,
        event.stream_id.as_str(),
        event.event_id.as_uuid(),
        &event.event_type,
        event.schema_version,
        event.payload.as_str(),
        &event.metadata,
        event.recorded_at,
    );
}

/// The next link of a chain.
pub fn link(prev: &Hash, version: u64, canonical: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev.0);
    hasher.update(version.to_be_bytes());
    hasher.update(canonical);
    Hash(hasher.finalize().into())
}

/// What is wrong with a link of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// The stored hash is not the hash of the stored contents.
    HashMismatch {
        /// What the stored contents hash to.
        computed: Hash,
        /// What is stored.
        stored: Hash,
    },
    /// The stored previous hash is not the previous event's hash.
    PrevHashMismatch {
        /// The previous event's hash.
        expected: Hash,
        /// What is stored.
        stored: Hash,
    },
    /// A version is missing or repeated.
    VersionGap {
        /// The version that should come next.
        expected: u64,
        /// The version found.
        found: u64,
    },
    /// The stream's head (version and last hash) does not match its events.
    HeadMismatch {
        /// The version and hash the events end with.
        events: (u64, Hash),
        /// The version and hash the stream's head records.
        head: (u64, Hash),
    },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::HashMismatch { computed, stored } => {
                write!(f, "its contents hash to {computed} but {stored} is stored")
            }
            Break::PrevHashMismatch { expected, stored } => {
                write!(
                    f,
                    "it links to {stored} but the previous event's hash is {expected}"
                )
            }
            Break::VersionGap { expected, found } => {
                write!(f, "version {expected} expected, {found} found")
            }
            Break::HeadMismatch { events, head } => write!(
                f,
                "the stream head records version {} ({}) but its events end at version {} ({})",
                head.0, head.1, events.0, events.1
            ),
        }
    }
}

/// Checks one stream's chain, event by event, in version order. Pure: feed it
/// events and it remembers the first break.
#[derive(Debug)]
pub struct ChainCheck {
    version: u64,
    hash: Hash,
    buffer: Vec<u8>,
    broken: Option<BrokenLink>,
}

/// The first broken link of a stream: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The stream version at which the chain breaks.
    pub version: u64,
    /// The event found there (none when the break is a missing event or a head mismatch).
    pub event: Option<(domain::EventId, domain::Position)>,
    /// What is wrong.
    pub problem: Break,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainCheck {
    /// A check at the start of a stream.
    pub fn new() -> Self {
        Self {
            version: 0,
            hash: Hash::ZERO,
            buffer: Vec::with_capacity(512),
            broken: None,
        }
    }

    /// Checks the next event; after the first break, further events are ignored.
    pub fn push(&mut self, event: &RecordedEvent) {
        if self.broken.is_some() {
            return;
        }
        let expected_version = self.version + 1;
        let found = event.stream_version;
        let problem = if found != expected_version {
            Some(Break::VersionGap {
                expected: expected_version,
                found,
            })
        } else if event.prev_hash != self.hash {
            Some(Break::PrevHashMismatch {
                expected: self.hash,
                stored: event.prev_hash,
            })
        } else {
            canonical_recorded(event, &mut self.buffer);
            let computed = link(&self.hash, found, &self.buffer);
            (computed != event.hash).then_some(Break::HashMismatch {
                computed,
                stored: event.hash,
            })
        };
        match problem {
            Some(problem) => {
                self.broken = Some(BrokenLink {
                    version: found.min(expected_version),
                    event: Some((event.event_id, event.position)),
                    problem,
                })
            }
            None => {
                self.version = found;
                self.hash = event.hash;
            }
        }
    }

    /// Compares the events seen with the stream's recorded head.
    pub fn finish(mut self, head_version: u64, head_hash: Hash) -> Result<u64, BrokenLink> {
        if let Some(broken) = self.broken.take() {
            return Err(broken);
        }
        if (self.version, self.hash) != (head_version, head_hash) {
            return Err(BrokenLink {
                version: self.version + 1,
                event: None,
                problem: Break::HeadMismatch {
                    events: (self.version, self.hash),
                    head: (head_version, head_hash),
                },
            });
        }
        Ok(self.version)
    }

    /// Whether a break has been found.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The last verified version and hash.
    pub fn head(&self) -> (u64, Hash) {
        (self.version, self.hash)
    }
}

/// Builds a chain of recorded events from new events, as a back end does on append.
pub fn seal(
    stream: &StreamId,
    prev: (u64, Hash),
    events: &[NewEvent],
    metadata: &Metadata,
    recorded_at: DateTime<Utc>,
) -> Vec<(u64, Hash, Hash)> {
    let (mut version, mut hash) = prev;
    events
        .iter()
        .map(|event| {
            let prev_hash = hash;
            version += 1;
            hash = link(
                &prev_hash,
                version,
                &canonical_new(stream, event, metadata, recorded_at),
            );
            (version, prev_hash, hash)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use domain::{CorrelationId, EventId, JsonText, Position};

    use super::*;

    fn chain(n: u64) -> Vec<RecordedEvent> {
        let stream: StreamId = "directive-0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a"
            .parse()
            .expect("valid");
        let metadata = Metadata {
            correlation_id: CorrelationId::from_uuid(Uuid::from_u128(7)),
            causation_id: None,
            command_id: None,
            actor: "user:ceo".parse().expect("valid"),
        };
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).expect("valid");
        let events: Vec<NewEvent> = (0..n)
            .map(|i| NewEvent {
                event_id: EventId::from_uuid(Uuid::from_u128(u128::from(i) + 100)),
                event_type: "DirectiveIssued".to_owned(),
                schema_version: 2,
                payload: JsonText::trusted(format!(r#"{{"n":{i}}}"#)),
            })
            .collect();
        let sealed = seal(&stream, (0, Hash::ZERO), &events, &metadata, at);
        events
            .into_iter()
            .zip(sealed)
            .map(|(e, (version, prev_hash, hash))| RecordedEvent {
                position: Position::new(1, version),
                stream_id: stream.clone(),
                stream_version: version,
                event_id: e.event_id,
                event_type: e.event_type,
                schema_version: e.schema_version,
                payload: e.payload,
                metadata: metadata.clone(),
                recorded_at: at,
                prev_hash,
                hash,
            })
            .collect()
    }

    fn check(events: &[RecordedEvent]) -> Result<u64, (u64, Break)> {
        let mut check = ChainCheck::new();
        events.iter().for_each(|e| check.push(e));
        let head = events
            .last()
            .map_or((0, Hash::ZERO), |e| (e.stream_version, e.hash));
        check
            .finish(head.0, head.1)
            .map_err(|b| (b.version, b.problem))
    }

    #[test]
    fn a_sealed_chain_verifies() {
        assert_eq!(check(&chain(5)), Ok(5));
        assert_eq!(check(&[]), Ok(0));
    }

    #[test]
    fn the_canonical_bytes_are_the_head_the_payload_and_the_tail() {
        let stream: StreamId = "order-0190d6a4-6f5e-7a3b-8c1d-2e3f4a5b6c7d"
            .parse()
            .expect("stream");
        let mut metadata = Metadata {
            correlation_id: domain::CorrelationId::from_uuid(Uuid::from_u128(7)),
            causation_id: None,
            command_id: None,
            actor: domain::Actor::System("test".to_owned()),
        };
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).expect("time");
        for (n, payload) in ["{}", r#"{"note":"é ✓"}"#, &"x".repeat(70_000)]
            .iter()
            .enumerate()
        {
            let event = NewEvent {
                event_id: domain::EventId::from_uuid(Uuid::from_u128(n as u128)),
                event_type: "ThingHappened".to_owned(),
                schema_version: 3,
                payload: JsonText::trusted((*payload).to_owned()),
            };
            let whole = canonical_new(&stream, &event, &metadata, at);
            let joined = [
                canonical_head(&stream, &event),
                payload.as_bytes().to_vec(),
                canonical_tail(&metadata, at),
            ]
            .concat();
            assert_eq!(whole, joined, "payload {n}");
            metadata.causation_id = Some(Uuid::from_u128(9));
            metadata.command_id = Some(domain::CommandId::from_uuid(Uuid::from_u128(11)));
        }
    }

    #[test]
    fn the_first_hash_is_pinned() {
        // A change to the canonical form breaks every stored chain: make it visible.
        assert_eq!(
            chain(1)[0].hash.to_string(),
            "ed3bb8e24db79090ff73ed44a71e210519fb07a990a25f143f613a0df06591df".to_owned(),
            "the canonical bytes or the hash formula changed"
        );
    }

    #[test]
    fn a_changed_payload_is_pinpointed() {
        let mut events = chain(5);
        events[2].payload = JsonText::trusted(r#"{"n":99}"#.to_owned());
        let (version, problem) = check(&events).expect_err("tampered");
        assert_eq!(version, 3);
        assert!(matches!(problem, Break::HashMismatch { .. }), "{problem}");
    }

    #[test]
    fn a_rehashed_event_breaks_the_next_link() {
        let mut events = chain(5);
        events[1].payload = JsonText::trusted(r#"{"n":99}"#.to_owned());
        let mut buffer = Vec::new();
        canonical_recorded(&events[1], &mut buffer);
        events[1].hash = link(&events[1].prev_hash, 2, &buffer);
        let (version, problem) = check(&events).expect_err("tampered");
        assert_eq!(version, 3);
        assert!(
            matches!(problem, Break::PrevHashMismatch { .. }),
            "{problem}"
        );
    }

    #[test]
    fn missing_and_truncated_events_are_found() {
        let mut events = chain(5);
        events.remove(1);
        assert!(matches!(
            check(&events),
            Err((
                2,
                Break::VersionGap {
                    expected: 2,
                    found: 3
                }
            ))
        ));
        let events = chain(5);
        let mut check = ChainCheck::new();
        events[..4].iter().for_each(|e| check.push(e));
        let result = check
            .finish(5, events[4].hash)
            .map_err(|b| (b.version, b.problem));
        assert!(
            matches!(result, Err((5, Break::HeadMismatch { .. }))),
            "{result:?}"
        );
    }

    #[test]
    fn every_field_is_covered_by_the_hash() {
        let original = chain(1).remove(0);
        let mut variants = Vec::new();
        let mut e = original.clone();
        e.event_type = "DirectiveCancelled".to_owned();
        variants.push(e);
        let mut e = original.clone();
        e.schema_version = 1;
        variants.push(e);
        let mut e = original.clone();
        e.event_id = EventId::from_uuid(Uuid::from_u128(1));
        variants.push(e);
        let mut e = original.clone();
        e.metadata.actor = "user:cfo".parse().expect("valid");
        variants.push(e);
        let mut e = original.clone();
        e.metadata.causation_id = Some(Uuid::from_u128(1));
        variants.push(e);
        let mut e = original.clone();
        e.metadata.command_id = Some(domain::CommandId::from_uuid(Uuid::from_u128(1)));
        variants.push(e);
        let mut e = original.clone();
        e.recorded_at += chrono::Duration::microseconds(1);
        variants.push(e);
        for variant in variants {
            assert!(
                check(std::slice::from_ref(&variant)).is_err(),
                "{variant:?}"
            );
        }
    }
}
