//! Time travel: the state of any aggregate of the domain at any version of
//! its stream, folded from the recorded events by the aggregate's own
//! `evolve`, the very rule the command side decides with. Auditors see what
//! the rules saw when they accepted or refused a command.

use serde::Serialize;
use serde_json::Value;

use crate::aggregate::Aggregate;
use crate::approval::Approval;
use crate::codec::{DecodeError, DomainEvent};
use crate::control::Control;
use crate::directive::Directive;
use crate::event::RecordedEvent;
use crate::logistics::scan::InventoryScan;
use crate::logistics::settlement::ScanSettlement;
use crate::logistics::{PurchaseOrder, Shipment};
use crate::task::Task;

/// Why a state could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// An event of the stream does not decode as the aggregate's event.
    #[error("version {version} of the stream does not decode: {source}")]
    Decode {
        /// The event's stream version.
        version: u64,
        /// Why.
        source: DecodeError,
    },
    /// The folded state does not encode as JSON.
    #[error("the state does not encode as JSON: {0}")]
    Encode(serde_json::Error),
}

/// The categories whose state can be shown.
pub const CATEGORIES: [&str; 8] = [
    Directive::CATEGORY,
    Task::CATEGORY,
    Approval::CATEGORY,
    Control::CATEGORY,
    PurchaseOrder::CATEGORY,
    Shipment::CATEGORY,
    InventoryScan::CATEGORY,
    ScanSettlement::CATEGORY,
];

/// The state of an aggregate of `category` after `events` (a stream's
/// events from version 1, in order), as JSON; `None` for a category that is
/// not an aggregate's (dead letters, for one).
pub fn state_after(category: &str, events: &[RecordedEvent]) -> Result<Option<Value>, StateError> {
    let state = match category {
        Directive::CATEGORY => fold::<Directive>(events)?,
        Task::CATEGORY => fold::<Task>(events)?,
        Approval::CATEGORY => fold::<Approval>(events)?,
        Control::CATEGORY => fold::<Control>(events)?,
        PurchaseOrder::CATEGORY => fold::<PurchaseOrder>(events)?,
        Shipment::CATEGORY => fold::<Shipment>(events)?,
        InventoryScan::CATEGORY => fold::<InventoryScan>(events)?,
        ScanSettlement::CATEGORY => fold::<ScanSettlement>(events)?,
        _ => return Ok(None),
    };
    Ok(Some(state))
}

fn fold<A: Aggregate + Serialize>(events: &[RecordedEvent]) -> Result<Value, StateError> {
    let mut state = A::default();
    for event in events {
        let decoded = A::Event::decode(event).map_err(|source| StateError::Decode {
            version: event.stream_version,
            source,
        })?;
        state = state.evolve(&decoded);
    }
    serde_json::to_value(&state).map_err(StateError::Encode)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::codec::DomainEvent;
    use crate::control::{ControlEvent, Switch};
    use crate::event::{Actor, Hash, Metadata, Position};
    use crate::ids::{CorrelationId, EventId};

    fn recorded(version: u64, event: &ControlEvent) -> RecordedEvent {
        let new = event
            .encode(EventId::from_uuid(uuid::Uuid::now_v7()))
            .expect("encodes");
        RecordedEvent {
            position: Position::new(version, 0),
            stream_id: Control::stream(uuid::Uuid::nil()),
            stream_version: version,
            event_id: new.event_id,
            event_type: new.event_type,
            schema_version: new.schema_version,
            payload: new.payload,
            metadata: Metadata {
                correlation_id: CorrelationId::from_uuid(uuid::Uuid::now_v7()),
                causation_id: None,
                command_id: None,
                actor: Actor::User("ceo".to_owned()),
            },
            recorded_at: Utc::now(),
            prev_hash: Hash::ZERO,
            hash: Hash::ZERO,
        }
    }

    fn switch(reason: &str) -> Switch {
        Switch {
            by: Actor::User("ceo".to_owned()),
            reason: reason.to_owned(),
            at: Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap(),
        }
    }

    #[test]
    fn each_version_shows_the_state_the_rules_saw_then() {
        let history = [
            recorded(1, &ControlEvent::StopEngaged(switch("audit"))),
            recorded(2, &ControlEvent::StopLifted(switch("done"))),
        ];
        let at = |version: usize| {
            state_after(Control::CATEGORY, &history[..version])
                .expect("folds")
                .expect("an aggregate")
        };
        assert_eq!(at(0), serde_json::json!({"engaged": false}));
        assert_eq!(at(1), serde_json::json!({"engaged": true}));
        assert_eq!(at(2), serde_json::json!({"engaged": false}));
    }

    #[test]
    fn a_category_without_an_aggregate_has_no_state() {
        assert!(state_after("dead_letter", &[]).expect("no error").is_none());
        for category in CATEGORIES {
            assert!(
                state_after(category, &[]).expect("folds").is_some(),
                "{category}"
            );
        }
    }

    #[test]
    fn an_event_of_another_aggregate_is_named_by_its_version() {
        let foreign = recorded(1, &ControlEvent::StopEngaged(switch("x")));
        let error = state_after(Directive::CATEGORY, &[foreign]).expect_err("refused");
        assert!(
            matches!(error, StateError::Decode { version: 1, .. }),
            "{error}"
        );
    }
}
