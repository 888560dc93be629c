//! The CEO's order: issued with its text, priority, deadline and spending
//! limit, and cancelled with a reason. Planning and tasks build on it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aggregate::{Aggregate, Rejection};
use crate::codec::{DomainEvent, EventSchema};
use crate::event::Actor;
use crate::money::Money;

/// The longest directive text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

/// How urgent a directive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// When there is time.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Before normal work.
    High,
    /// Now.
    Urgent,
}

/// What can be asked of a directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectiveCommand {
    /// Give a new order.
    Issue(IssueDirective),
    /// Withdraw an order.
    Cancel(CancelDirective),
}

/// Give a new order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueDirective {
    /// The order in plain language.
    pub text: String,
    /// How urgent it is.
    pub priority: Priority,
    /// When it must be done by, if ever.
    pub deadline: Option<DateTime<Utc>>,
    /// The most the agents may spend on it, if limited.
    pub spending_limit: Option<Money>,
    /// Who gave the order.
    pub issued_by: Actor,
    /// When it was given (the caller's clock; the domain has none).
    pub issued_at: DateTime<Utc>,
}

/// Withdraw an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelDirective {
    /// Why.
    pub reason: String,
    /// Who withdrew it.
    pub cancelled_by: Actor,
    /// When.
    pub cancelled_at: DateTime<Utc>,
}

/// What can happen to a directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DirectiveEvent {
    /// An order was given.
    DirectiveIssued(DirectiveIssued),
    /// An order was withdrawn.
    DirectiveCancelled(DirectiveCancelled),
}

/// An order was given (schema version 2: priority, deadline and spending limit
/// were added; version 1 had only the text, who and when).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveIssued {
    /// The order in plain language.
    pub text: String,
    /// How urgent it is.
    pub priority: Priority,
    /// When it must be done by.
    pub deadline: Option<DateTime<Utc>>,
    /// The most the agents may spend on it.
    pub spending_limit: Option<Money>,
    /// Who gave the order.
    pub issued_by: Actor,
    /// When it was given.
    pub issued_at: DateTime<Utc>,
}

/// An order was withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectiveCancelled {
    /// Why.
    pub reason: String,
    /// Who withdrew it.
    pub cancelled_by: Actor,
    /// When.
    pub cancelled_at: DateTime<Utc>,
}

/// `DirectiveIssued` v1 → v2: orders given before priorities existed are normal,
/// without deadline or spending limit.
fn directive_issued_v1_to_v2(mut data: Value) -> Result<Value, String> {
    let object = data.as_object_mut().ok_or("expected a JSON object")?;
    object
        .entry("priority")
        .or_insert_with(|| Value::from("normal"));
    object.entry("deadline").or_insert(Value::Null);
    object.entry("spending_limit").or_insert(Value::Null);
    Ok(data)
}

impl DomainEvent for DirectiveEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema {
            event_type: "DirectiveIssued",
            version: 2,
            upcasters: &[directive_issued_v1_to_v2],
        },
        EventSchema {
            event_type: "DirectiveCancelled",
            version: 1,
            upcasters: &[],
        },
    ];
}

/// Why a directive command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveRejection {
    /// The order has no text.
    #[error("a directive needs a text")]
    TextEmpty,
    /// The order's text is longer than [`MAX_TEXT_CHARS`].
    #[error("a directive's text is limited to {MAX_TEXT_CHARS} characters, this one has {0}")]
    TextTooLong(usize),
    /// The deadline has already passed when the order is given.
    #[error("the deadline {deadline} is before the time of issue {issued_at}")]
    DeadlineInPast {
        /// The deadline asked for.
        deadline: DateTime<Utc>,
        /// When the order was given.
        issued_at: DateTime<Utc>,
    },
    /// A spending limit of zero or less.
    #[error("a spending limit must be above zero, got {0}")]
    SpendingLimitNotPositive(Money),
    /// The directive exists already.
    #[error("this directive has already been issued")]
    AlreadyIssued,
    /// The directive does not exist.
    #[error("no such directive")]
    NotFound,
    /// The directive is no longer open.
    #[error("this directive is already closed")]
    AlreadyClosed,
    /// A cancellation must say why.
    #[error("a cancellation needs a reason")]
    ReasonEmpty,
}

impl Rejection for DirectiveRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::TextEmpty => "directive.text_empty",
            Self::TextTooLong(_) => "directive.text_too_long",
            Self::DeadlineInPast { .. } => "directive.deadline_in_past",
            Self::SpendingLimitNotPositive(_) => "directive.spending_limit_not_positive",
            Self::AlreadyIssued => "directive.already_issued",
            Self::NotFound => "directive.not_found",
            Self::AlreadyClosed => "directive.already_closed",
            Self::ReasonEmpty => "directive.reason_empty",
        }
    }
}

/// Where a directive stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirectiveStatus {
    /// Not issued yet (an empty stream).
    #[default]
    Unknown,
    /// Issued and not closed.
    Open,
    /// Withdrawn.
    Cancelled,
}

/// A directive's state, as far as its rules need it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directive {
    /// Where it stands.
    pub status: DirectiveStatus,
}

impl Aggregate for Directive {
    const CATEGORY: &'static str = "directive";
    type Command = DirectiveCommand;
    type Event = DirectiveEvent;
    type Rejection = DirectiveRejection;

    fn decide(
        &self,
        command: &DirectiveCommand,
    ) -> Result<Vec<DirectiveEvent>, DirectiveRejection> {
        match command {
            DirectiveCommand::Issue(issue) => self.issue(issue),
            DirectiveCommand::Cancel(cancel) => self.cancel(cancel),
        }
    }

    fn evolve(self, event: &DirectiveEvent) -> Self {
        let status = match event {
            DirectiveEvent::DirectiveIssued(_) => DirectiveStatus::Open,
            DirectiveEvent::DirectiveCancelled(_) => DirectiveStatus::Cancelled,
        };
        Directive { status }
    }
}

impl Directive {
    fn issue(&self, cmd: &IssueDirective) -> Result<Vec<DirectiveEvent>, DirectiveRejection> {
        if self.status != DirectiveStatus::Unknown {
            return Err(DirectiveRejection::AlreadyIssued);
        }
        let text = cmd.text.trim();
        if text.is_empty() {
            return Err(DirectiveRejection::TextEmpty);
        }
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(DirectiveRejection::TextTooLong(chars));
        }
        if let Some(deadline) = cmd.deadline.filter(|d| *d < cmd.issued_at) {
            return Err(DirectiveRejection::DeadlineInPast {
                deadline,
                issued_at: cmd.issued_at,
            });
        }
        if let Some(limit) = cmd.spending_limit.filter(|l| !l.is_positive()) {
            return Err(DirectiveRejection::SpendingLimitNotPositive(limit));
        }
        Ok(vec![DirectiveEvent::DirectiveIssued(DirectiveIssued {
            text: text.to_owned(),
            priority: cmd.priority,
            deadline: cmd.deadline,
            spending_limit: cmd.spending_limit,
            issued_by: cmd.issued_by.clone(),
            issued_at: cmd.issued_at,
        })])
    }

    fn cancel(&self, cmd: &CancelDirective) -> Result<Vec<DirectiveEvent>, DirectiveRejection> {
        match self.status {
            DirectiveStatus::Unknown => return Err(DirectiveRejection::NotFound),
            DirectiveStatus::Cancelled => return Err(DirectiveRejection::AlreadyClosed),
            DirectiveStatus::Open => {}
        }
        let reason = cmd.reason.trim();
        if reason.is_empty() {
            return Err(DirectiveRejection::ReasonEmpty);
        }
        Ok(vec![DirectiveEvent::DirectiveCancelled(
            DirectiveCancelled {
                reason: reason.to_owned(),
                cancelled_by: cmd.cancelled_by.clone(),
                cancelled_at: cmd.cancelled_at,
            },
        )])
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::aggregate::spec::given;
    use crate::codec::check_registry;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    fn ceo() -> Actor {
        "user:ceo".parse().expect("valid actor")
    }

    fn issue(text: &str) -> IssueDirective {
        IssueDirective {
            text: text.to_owned(),
            priority: Priority::High,
            deadline: Some(at(18)),
            spending_limit: Some(Money::new(500_000, "EUR".parse().expect("valid"))),
            issued_by: ceo(),
            issued_at: at(9),
        }
    }

    fn issued() -> DirectiveEvent {
        let cmd = issue("Restock SKU-1 to 40 units");
        DirectiveEvent::DirectiveIssued(DirectiveIssued {
            text: cmd.text,
            priority: cmd.priority,
            deadline: cmd.deadline,
            spending_limit: cmd.spending_limit,
            issued_by: cmd.issued_by,
            issued_at: cmd.issued_at,
        })
    }

    fn cancel(reason: &str) -> DirectiveCommand {
        DirectiveCommand::Cancel(CancelDirective {
            reason: reason.to_owned(),
            cancelled_by: ceo(),
            cancelled_at: at(10),
        })
    }

    #[test]
    fn the_registry_is_consistent() {
        check_registry(DirectiveEvent::SCHEMAS).expect("consistent registry");
    }

    #[test]
    fn issuing_records_the_trimmed_order() {
        given::<Directive>([])
            .when(DirectiveCommand::Issue(issue(
                "  Restock SKU-1 to 40 units \n",
            )))
            .then([issued()]);
    }

    #[test]
    fn an_order_needs_text_within_the_limit() {
        given::<Directive>([])
            .when(DirectiveCommand::Issue(issue(" \t")))
            .then_rejected("directive.text_empty");
        given::<Directive>([])
            .when(DirectiveCommand::Issue(issue(
                &"x".repeat(MAX_TEXT_CHARS + 1),
            )))
            .then_rejected("directive.text_too_long");
    }

    #[test]
    fn a_deadline_cannot_be_in_the_past() {
        let mut cmd = issue("Forecast cash");
        cmd.deadline = Some(at(8));
        given::<Directive>([])
            .when(DirectiveCommand::Issue(cmd))
            .then_rejected("directive.deadline_in_past");
    }

    #[test]
    fn a_spending_limit_must_be_positive() {
        let mut cmd = issue("Pay the approved invoices");
        cmd.spending_limit = Some(Money::new(0, "EUR".parse().expect("valid")));
        given::<Directive>([])
            .when(DirectiveCommand::Issue(cmd))
            .then_rejected("directive.spending_limit_not_positive");
    }

    #[test]
    fn a_directive_is_issued_once() {
        given::<Directive>([issued()])
            .when(DirectiveCommand::Issue(issue("again")))
            .then_rejected("directive.already_issued");
    }

    #[test]
    fn cancelling_needs_an_open_directive_and_a_reason() {
        given::<Directive>([])
            .when(cancel("changed my mind"))
            .then_rejected("directive.not_found");
        given::<Directive>([issued()])
            .when(cancel("  "))
            .then_rejected("directive.reason_empty");
        given::<Directive>([issued()])
            .when(cancel(" supplier closed "))
            .then([DirectiveEvent::DirectiveCancelled(DirectiveCancelled {
                reason: "supplier closed".to_owned(),
                cancelled_by: ceo(),
                cancelled_at: at(10),
            })]);
        let cancelled = DirectiveEvent::DirectiveCancelled(DirectiveCancelled {
            reason: "x".to_owned(),
            cancelled_by: ceo(),
            cancelled_at: at(10),
        });
        given::<Directive>([issued(), cancelled])
            .when(cancel("again"))
            .then_rejected("directive.already_closed");
    }

    #[test]
    fn version_one_issued_events_upcast_to_normal_priority_without_limits() {
        let v1 = r#"{"text":"Audit invoices","issued_by":"user:ceo","issued_at":"2026-01-05T08:00:00Z"}"#;
        let event = DirectiveEvent::decode_parts("DirectiveIssued", 1, v1).expect("upcast");
        let DirectiveEvent::DirectiveIssued(issued) = event else {
            panic!("wrong variant: {event:?}");
        };
        assert_eq!(issued.priority, Priority::Normal);
        assert_eq!(issued.deadline, None);
        assert_eq!(issued.spending_limit, None);
        assert_eq!(issued.text, "Audit invoices");
    }
}
