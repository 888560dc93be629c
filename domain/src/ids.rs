//! Identifiers that can only hold valid values: parsed once at the edge, trusted inside.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidId {
    /// A category must be 1–48 characters of `a-z`, `0-9` and `_`, starting with a letter.
    #[error(
        "invalid category {0:?}: use 1-48 characters of a-z, 0-9 and _, starting with a letter"
    )]
    Category(String),
    /// A stream id must read `<category>-<uuid>`, the uuid lowercase and hyphenated.
    #[error("invalid stream id {0:?}: expected <category>-<uuid>, e.g. purchase_order-0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a")]
    StreamId(String),
    /// A UUID in the wrong form.
    #[error("invalid {kind} {value:?}: expected a UUID")]
    Uuid {
        /// Which identifier was being parsed.
        kind: &'static str,
        /// The text that failed.
        value: String,
    },
}

const CATEGORY_MAX_LEN: usize = 48;

/// The kind of a stream, e.g. `purchase_order`: the part of a stream id before the uuid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Category(String);

impl Category {
    /// Parses a category name.
    pub fn new(name: &str) -> Result<Self, InvalidId> {
        if is_valid_category(name) {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidId::Category(name.to_owned()))
        }
    }

    /// The category's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_valid_category(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= CATEGORY_MAX_LEN
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Category {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// A stream's identity: `<category>-<uuid>`, e.g. `directive-0190f5a2-…`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId {
    text: String,
    category_len: usize,
    id: Uuid,
}

impl StreamId {
    /// The stream of `id` in `category`.
    pub fn new(category: &Category, id: Uuid) -> Self {
        let text = format!("{}-{}", category.as_str(), id.hyphenated());
        Self {
            text,
            category_len: category.as_str().len(),
            id,
        }
    }

    /// The stream's category, e.g. `purchase_order`.
    pub fn category(&self) -> &str {
        &self.text[..self.category_len]
    }

    /// The uuid part of the stream id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The stream id as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Splits a stream id into its category length and uuid, if it is well formed.
fn parse_stream_id(s: &str) -> Option<(usize, Uuid)> {
    let (category, id_text) = s.split_once('-')?;
    if !is_valid_category(category) {
        return None;
    }
    // One stream, one spelling: only the canonical lowercase hyphenated form,
    // the only form of 36 characters that parses.
    if id_text.len() != 36 || id_text.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let id = Uuid::try_parse(id_text).ok()?;
    Some((category.len(), id))
}

impl FromStr for StreamId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.to_owned().try_into()
    }
}

impl TryFrom<String> for StreamId {
    type Error = InvalidId;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        match parse_stream_id(&text) {
            Some((category_len, id)) => Ok(Self {
                text,
                category_len,
                id,
            }),
            None => Err(InvalidId::StreamId(text)),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.text)
    }
}

impl Serialize for StreamId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for StreamId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Declares a UUID-backed identifier type with parsing, display and serde.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self).map_err(|_| InvalidId::Uuid {
                    kind: $kind,
                    value: s.to_owned(),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }
    };
}

uuid_id!(
    /// An event's unique identity (a UUID v7, so ids sort by creation time).
    EventId,
    "event id"
);
uuid_id!(
    /// A command's identity; the same command id never appends twice.
    CommandId,
    "command id"
);
uuid_id!(
    /// Ties together everything that follows from one order of the CEO.
    CorrelationId,
    "correlation id"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stream_id_round_trips_and_exposes_its_parts() {
        let id = Uuid::parse_str("0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a").expect("valid literal");
        let stream = StreamId::new(&Category::new("purchase_order").expect("valid"), id);
        assert_eq!(
            stream.as_str(),
            "purchase_order-0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a"
        );
        assert_eq!(stream.category(), "purchase_order");
        assert_eq!(stream.id(), id);
        assert_eq!(stream.as_str().parse::<StreamId>(), Ok(stream));
    }

    #[test]
    fn malformed_stream_ids_are_rejected() {
        for bad in [
            "",
            "directive",
            "directive-",
            "-0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a",
            "Directive-0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a",
            "directive-0190F5A2-7C1E-7D3A-9B2C-5F1E2D3C4B5A",
            "directive-0190f5a27c1e7d3a9b2c5f1e2d3c4b5a",
            "direct ive-0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a",
            "1directive-0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a",
            "directive-0190f5a2-7c1e-7d3a-9b2c-5f1e2d3c4b5a-extra",
        ] {
            assert!(bad.parse::<StreamId>().is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn categories_follow_the_naming_rule() {
        assert!(Category::new("invoice").is_ok());
        assert!(Category::new("a1_b2").is_ok());
        assert!(Category::new(&"a".repeat(48)).is_ok());
        assert!(Category::new(&"a".repeat(49)).is_err());
        assert!(Category::new("_x").is_err());
        assert!(Category::new("x-y").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepts_only_what_displays_back(s in ".{0,80}") {
            if let Ok(stream) = s.parse::<StreamId>() {
                prop_assert_eq!(stream.to_string(), s);
            }
        }

        #[test]
        fn every_built_stream_id_parses_back(cat in "[a-z][a-z0-9_]{0,47}", bits in any::<u128>()) {
            let stream = StreamId::new(&Category::new(&cat).expect("generated valid"), Uuid::from_u128(bits));
            prop_assert_eq!(stream.to_string().parse::<StreamId>(), Ok(stream));
        }
    }
}
