//! Maps stored events to Rust types and back, across schema versions.
//!
//! Each aggregate's events are one Rust enum, serialised by serde with
//! `#[serde(tag = "type", content = "data")]`: the tag is the stored event
//! type, the content is the stored payload. [`DomainEvent::SCHEMAS`] is the
//! registry: for each event type its current schema version and the
//! upcasters that turn every older stored payload into the current shape, so
//! history written years ago still decodes into today's types.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::event::{JsonText, NewEvent, RecordedEvent};
use crate::ids::EventId;

/// Turns a payload of one schema version into the next version's shape.
pub type Upcaster = fn(Value) -> Result<Value, String>;

/// A registered event type.
#[derive(Debug)]
pub struct EventSchema {
    /// The stored type name, e.g. `DirectiveIssued`.
    pub event_type: &'static str,
    /// The current schema version (1 for a type never changed).
    pub version: u32,
    /// `upcasters[i]` turns a version `i + 1` payload into version `i + 2`;
    /// there are exactly `version - 1` of them.
    pub upcasters: &'static [Upcaster],
}

/// A domain event enum with its registry of event types.
pub trait DomainEvent: Serialize + DeserializeOwned {
    /// Every event type of this enum, with its current version and upcasters.
    const SCHEMAS: &'static [EventSchema];

    /// The schema of a stored event type, if this enum knows it.
    fn schema(event_type: &str) -> Option<&'static EventSchema> {
        Self::SCHEMAS.iter().find(|s| s.event_type == event_type)
    }

    /// This event as a new event with the given id, in the current schema version.
    fn encode(&self, event_id: EventId) -> Result<NewEvent, EncodeError> {
        let Value::Object(mut tagged) = serde_json::to_value(self).map_err(EncodeError::Json)?
        else {
            return Err(EncodeError::NotAdjacentlyTagged);
        };
        let Some(Value::String(event_type)) = tagged.remove("type") else {
            return Err(EncodeError::NotAdjacentlyTagged);
        };
        let schema = Self::schema(&event_type).ok_or(EncodeError::Unregistered(event_type))?;
        let payload = tagged.remove("data").unwrap_or(Value::Null);
        Ok(NewEvent {
            event_id,
            event_type: schema.event_type.to_owned(),
            schema_version: schema.version,
            payload: JsonText::from_value(&payload),
        })
    }

    /// Decodes a recorded event, upcasting older payloads.
    fn decode(event: &RecordedEvent) -> Result<Self, DecodeError> {
        Self::decode_parts(
            &event.event_type,
            event.schema_version,
            event.payload.as_str(),
        )
    }

    /// Decodes an event from its type, schema version and payload text.
    fn decode_parts(
        event_type: &str,
        schema_version: u32,
        payload: &str,
    ) -> Result<Self, DecodeError> {
        let schema = Self::schema(event_type)
            .ok_or_else(|| DecodeError::UnknownType(event_type.to_owned()))?;
        if schema_version == 0 || schema_version > schema.version {
            return Err(DecodeError::UnsupportedVersion {
                event_type: schema.event_type,
                stored: schema_version,
                supported: schema.version,
            });
        }
        let mut data: Value =
            serde_json::from_str(payload).map_err(|source| DecodeError::Payload {
                event_type: schema.event_type,
                schema_version,
                source,
            })?;
        for version in schema_version..schema.version {
            let upcast =
                schema
                    .upcasters
                    .get(version as usize - 1)
                    .ok_or(DecodeError::MissingUpcaster {
                        event_type: schema.event_type,
                        from_version: version,
                    })?;
            data = upcast(data).map_err(|reason| DecodeError::Upcast {
                event_type: schema.event_type,
                from_version: version,
                reason,
            })?;
        }
        let tagged = serde_json::json!({ "type": schema.event_type, "data": data });
        serde_json::from_value(tagged).map_err(|source| DecodeError::Payload {
            event_type: schema.event_type,
            schema_version,
            source,
        })
    }
}

/// Checks a registry for the mistakes a test should catch: duplicate names and
/// a number of upcasters that does not match the version.
pub fn check_registry(schemas: &[EventSchema]) -> Result<(), String> {
    for (i, schema) in schemas.iter().enumerate() {
        if schema.version == 0 {
            return Err(format!("{}: schema versions start at 1", schema.event_type));
        }
        if schema.upcasters.len() != schema.version as usize - 1 {
            return Err(format!(
                "{}: version {} needs {} upcasters, has {}",
                schema.event_type,
                schema.version,
                schema.version - 1,
                schema.upcasters.len()
            ));
        }
        if schemas[..i]
            .iter()
            .any(|s| s.event_type == schema.event_type)
        {
            return Err(format!("{}: registered twice", schema.event_type));
        }
    }
    Ok(())
}

/// An event could not be turned into a stored payload.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// serde failed.
    #[error("the event could not be serialised: {0}")]
    Json(#[source] serde_json::Error),
    /// The enum is not `#[serde(tag = "type", content = "data")]`.
    #[error("domain event enums must be #[serde(tag = \"type\", content = \"data\")]")]
    NotAdjacentlyTagged,
    /// The event's type is missing from `SCHEMAS`.
    #[error("event type {0} is not registered in its enum's SCHEMAS")]
    Unregistered(String),
}

/// A stored event could not be turned into a Rust value.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// No registered type has this name.
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    /// The stored version is newer than this binary knows (or is 0).
    #[error("{event_type} schema version {stored} is not supported (this binary knows up to {supported}); upgrade agentos")]
    UnsupportedVersion {
        /// The event type.
        event_type: &'static str,
        /// The version found in the store.
        stored: u32,
        /// The newest version this binary knows.
        supported: u32,
    },
    /// The registry lacks an upcaster (a registry bug, caught by `check_registry`).
    #[error("{event_type} has no upcaster from schema version {from_version}")]
    MissingUpcaster {
        /// The event type.
        event_type: &'static str,
        /// The version that could not be upcast.
        from_version: u32,
    },
    /// An upcaster refused the stored payload.
    #[error("{event_type} payload of schema version {from_version} could not be upcast: {reason}")]
    Upcast {
        /// The event type.
        event_type: &'static str,
        /// The version that could not be upcast.
        from_version: u32,
        /// The upcaster's explanation.
        reason: String,
    },
    /// The payload does not match the type.
    #[error(
        "{event_type} payload (schema version {schema_version}) does not match its type: {source}"
    )]
    Payload {
        /// The event type.
        event_type: &'static str,
        /// The stored schema version.
        schema_version: u32,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", content = "data")]
    enum Sample {
        Renamed { full_name: String },
        Counted { n: u32 },
    }

    fn split_name(mut v: Value) -> Result<Value, String> {
        let obj = v.as_object_mut().ok_or("expected an object")?;
        let first = obj.remove("first").ok_or("missing first")?;
        let last = obj.remove("last").ok_or("missing last")?;
        obj.insert(
            "full_name".into(),
            Value::String(format!(
                "{} {}",
                first.as_str().unwrap_or(""),
                last.as_str().unwrap_or("")
            )),
        );
        Ok(v)
    }

    fn add_suffix(mut v: Value) -> Result<Value, String> {
        let name = v["full_name"]
            .as_str()
            .ok_or("missing full_name")?
            .to_owned();
        v["full_name"] = Value::String(format!("{name}!"));
        Ok(v)
    }

    impl DomainEvent for Sample {
        const SCHEMAS: &'static [EventSchema] = &[
            EventSchema {
                event_type: "Renamed",
                version: 3,
                upcasters: &[split_name, add_suffix],
            },
            EventSchema {
                event_type: "Counted",
                version: 1,
                upcasters: &[],
            },
        ];
    }

    fn id() -> EventId {
        EventId::from_uuid(uuid::Uuid::nil())
    }

    #[test]
    fn encoding_splits_type_and_payload_and_decoding_joins_them() {
        let event = Sample::Counted { n: 3 };
        let new = event.encode(id()).expect("encode");
        assert_eq!(new.event_type, "Counted");
        assert_eq!(new.schema_version, 1);
        assert_eq!(new.payload.as_str(), r#"{"n":3}"#);
        let back = Sample::decode_parts(&new.event_type, 1, new.payload.as_str()).expect("decode");
        assert_eq!(back, event);
    }

    #[test]
    fn older_versions_are_upcast_step_by_step() {
        let v1 = Sample::decode_parts("Renamed", 1, r#"{"first":"Ada","last":"Lovelace"}"#);
        assert_eq!(
            v1.expect("v1"),
            Sample::Renamed {
                full_name: "Ada Lovelace!".into()
            }
        );
        let v2 = Sample::decode_parts("Renamed", 2, r#"{"full_name":"Ada"}"#);
        assert_eq!(
            v2.expect("v2"),
            Sample::Renamed {
                full_name: "Ada!".into()
            }
        );
        let v3 = Sample::decode_parts("Renamed", 3, r#"{"full_name":"Ada"}"#);
        assert_eq!(
            v3.expect("v3"),
            Sample::Renamed {
                full_name: "Ada".into()
            }
        );
    }

    #[test]
    fn unknown_future_and_malformed_events_are_typed_errors() {
        assert!(matches!(
            Sample::decode_parts("Nope", 1, "{}"),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            Sample::decode_parts("Counted", 2, r#"{"n":1}"#),
            Err(DecodeError::UnsupportedVersion {
                stored: 2,
                supported: 1,
                ..
            })
        ));
        assert!(matches!(
            Sample::decode_parts("Counted", 1, r#"{"n":"x"}"#),
            Err(DecodeError::Payload { .. })
        ));
        assert!(matches!(
            Sample::decode_parts("Renamed", 1, r#"{"first":"x"}"#),
            Err(DecodeError::Upcast {
                from_version: 1,
                ..
            })
        ));
    }

    #[test]
    fn registry_mistakes_are_caught() {
        assert!(check_registry(Sample::SCHEMAS).is_ok());
        let short = [EventSchema {
            event_type: "A",
            version: 2,
            upcasters: &[],
        }];
        assert!(check_registry(&short).is_err());
        let twice = [
            EventSchema {
                event_type: "A",
                version: 1,
                upcasters: &[],
            },
            EventSchema {
                event_type: "A",
                version: 1,
                upcasters: &[],
            },
        ];
        assert!(check_registry(&twice).is_err());
    }
}
