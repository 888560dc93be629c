//! The company-wide stop switch: engaged, every agent's side effects halt
//! until a person lifts it; each change says who and why. One stream holds
//! it ([`stream_id`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Aggregate, Rejection};
use crate::codec::{DomainEvent, EventSchema};
use crate::event::Actor;
use crate::ids::StreamId;

/// The one stream of the stop switch.
pub fn stream_id() -> StreamId {
    // A fixed, recognisable id: "stop" in the last bytes.
    Control::stream(Uuid::from_u128(0x73746f70))
}

/// What can be asked of the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlCommand {
    /// Halt every agent's side effects.
    Engage(Switch),
    /// Let them go on.
    Lift(Switch),
}

/// Who flips the switch, why and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switch {
    /// Who.
    pub by: Actor,
    /// Why.
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// What can happen to the switch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ControlEvent {
    /// Agents' side effects halt.
    StopEngaged(Switch),
    /// They go on.
    StopLifted(Switch),
}

impl DomainEvent for ControlEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema {
            event_type: "StopEngaged",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "StopLifted",
            version: 1,
            upcasters: &[],
        },
    ];
}

/// Why flipping the switch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlRejection {
    /// Engaged already.
    #[error("the stop switch is already engaged")]
    AlreadyEngaged,
    /// Not engaged.
    #[error("the stop switch is not engaged")]
    NotEngaged,
    /// Every change must say why.
    #[error("flipping the stop switch needs a reason")]
    ReasonEmpty,
}

impl Rejection for ControlRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::AlreadyEngaged => "control.already_engaged",
            Self::NotEngaged => "control.not_engaged",
            Self::ReasonEmpty => "control.reason_empty",
        }
    }
}

/// The switch's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Control {
    /// Whether agents' side effects are halted.
    pub engaged: bool,
}

impl Aggregate for Control {
    const CATEGORY: &'static str = "control";
    type Command = ControlCommand;
    type Event = ControlEvent;
    type Rejection = ControlRejection;

    fn decide(&self, command: &ControlCommand) -> Result<Vec<ControlEvent>, ControlRejection> {
        let (switch, engage) = match command {
            ControlCommand::Engage(s) => (s, true),
            ControlCommand::Lift(s) => (s, false),
        };
        let reason = switch.reason.trim();
        if reason.is_empty() {
            return Err(ControlRejection::ReasonEmpty);
        }
        let switch = Switch {
            reason: reason.to_owned(),
            ..switch.clone()
        };
        match (self.engaged, engage) {
            (true, true) => Err(ControlRejection::AlreadyEngaged),
            (false, false) => Err(ControlRejection::NotEngaged),
            (false, true) => Ok(vec![ControlEvent::StopEngaged(switch)]),
            (true, false) => Ok(vec![ControlEvent::StopLifted(switch)]),
        }
    }

    fn evolve(self, event: &ControlEvent) -> Self {
        Control {
            engaged: matches!(event, ControlEvent::StopEngaged(_)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::aggregate::spec::given;

    fn switch(reason: &str) -> Switch {
        Switch {
            by: Actor::User("ceo".to_owned()),
            reason: reason.to_owned(),
            at: Utc
                .with_ymd_and_hms(2026, 11, 25, 9, 0, 0)
                .single()
                .expect("valid"),
        }
    }

    #[test]
    fn the_switch_is_engaged_and_lifted_with_a_reason_each_time() {
        given::<Control>([])
            .when(ControlCommand::Engage(switch(" supplier fraud suspected ")))
            .then([ControlEvent::StopEngaged(switch(
                "supplier fraud suspected",
            ))]);
        given::<Control>([])
            .when(ControlCommand::Lift(switch("x")))
            .then_rejected("control.not_engaged");
        given::<Control>([ControlEvent::StopEngaged(switch("x"))])
            .when(ControlCommand::Engage(switch("y")))
            .then_rejected("control.already_engaged");
        given::<Control>([ControlEvent::StopEngaged(switch("x"))])
            .when(ControlCommand::Lift(switch("  ")))
            .then_rejected("control.reason_empty");
        given::<Control>([ControlEvent::StopEngaged(switch("x"))])
            .when(ControlCommand::Lift(switch("resolved")))
            .then([ControlEvent::StopLifted(switch("resolved"))]);
    }

    #[test]
    fn the_stream_is_the_control_category() {
        assert_eq!(stream_id().category(), "control");
    }
}
