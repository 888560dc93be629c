//! The AgentOS domain: what happens in the company, as data and pure functions.
//!
//! This crate holds the event envelope ([`event`]), typed identifiers ([`ids`]),
//! the codec that maps stored events to Rust types across schema versions
//! ([`codec`]), the [`Aggregate`] shape every command-side model follows, and
//! the business models themselves (starting with [`directive`]).
//!
//! It is not the event store, and it does no I/O: no async, no clock, no
//! randomness. Time and identifiers come in as parameters, so every rule is
//! testable with plain values (see [`aggregate::spec`]).

pub mod aggregate;
pub mod approval;
pub mod codec;
pub mod control;
pub mod dead_letter;
pub mod directive;
pub mod event;
pub mod ids;
pub mod logistics;
pub mod money;
pub mod plan;
pub mod planning;
pub mod policy;
pub mod task;
pub mod time_travel;
pub mod work;

pub use aggregate::{Aggregate, Rejection};
pub use codec::{DecodeError, DomainEvent, EncodeError, EventSchema};
pub use event::{Actor, Hash, JsonText, Metadata, NewEvent, Position, RecordedEvent};
pub use ids::{Category, CommandId, CorrelationId, EventId, InvalidId, StreamId};
pub use money::{Currency, Money};
