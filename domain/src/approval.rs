//! Human approval as a first-class step: an agent asks, a person decides.
//!
//! An approval is requested (what, why, how much, by whom, until when),
//! then granted or rejected by someone other than the requester
//! (segregation of duties), or it expires. A decision after the deadline is
//! refused; the expiry itself is recorded by whoever watches the clock. The
//! requester alone may withdraw a question that events have made moot (the
//! goods it asked about arrived, say) while it is still pending.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Aggregate, Rejection};
use crate::codec::{DomainEvent, EventSchema};
use crate::event::Actor;
use crate::money::Money;

/// The longest text of a request or a reason, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// What can be asked of an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalCommand {
    /// Ask for a decision.
    Request(RequestApproval),
    /// Decide.
    Decide(DecideApproval),
    /// Record that the deadline passed without a decision.
    Expire {
        /// The clock's time (at or after the deadline).
        at: DateTime<Utc>,
    },
    /// Take the question back: only its requester, only while pending.
    Withdraw {
        /// Who withdraws it.
        by: Actor,
        /// Why it no longer needs a decision.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
}

/// Ask for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestApproval {
    /// The task waiting for it.
    pub task_id: Uuid,
    /// The directive the task serves.
    pub directive_id: Uuid,
    /// What would be done, e.g. "submit purchase order PO-17 to Acme".
    pub what: String,
    /// Why it is needed, in the agent's words.
    pub why: String,
    /// The money involved, if any.
    pub amount: Option<Money>,
    /// Who asks (the agent or person that drafted what is to be approved).
    pub requested_by: Actor,
    /// When the request lapses.
    pub expires_at: DateTime<Utc>,
    /// When it was asked.
    pub at: DateTime<Utc>,
}

/// A decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Go ahead.
    Approve,
    /// Do not.
    Reject,
}

/// Decide on a pending approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecideApproval {
    /// Approve or reject.
    pub decision: Decision,
    /// Who decides.
    pub by: Actor,
    /// Why (required to reject).
    pub reason: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// What can happen to an approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ApprovalEvent {
    /// A decision was asked for.
    ApprovalRequested(ApprovalRequested),
    /// It was granted.
    ApprovalGranted(ApprovalDecided),
    /// It was refused.
    ApprovalRejected(ApprovalDecided),
    /// Its deadline passed undecided.
    ApprovalExpired(ApprovalExpired),
    /// Its requester took it back undecided.
    ApprovalWithdrawn(ApprovalDecided),
}

/// A decision was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequested {
    /// The task waiting for it.
    pub task_id: Uuid,
    /// The directive the task serves.
    pub directive_id: Uuid,
    /// What would be done.
    pub what: String,
    /// Why it is needed.
    pub why: String,
    /// The money involved.
    pub amount: Option<Money>,
    /// Who asks.
    pub requested_by: Actor,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
    /// When it was asked.
    pub requested_at: DateTime<Utc>,
}

/// A decision was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecided {
    /// Who decided.
    pub by: Actor,
    /// Why.
    pub reason: String,
    /// When.
    pub decided_at: DateTime<Utc>,
}

/// The deadline passed undecided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalExpired {
    /// When the expiry was recorded.
    pub expired_at: DateTime<Utc>,
}

impl DomainEvent for ApprovalEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema {
            event_type: "ApprovalRequested",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "ApprovalGranted",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "ApprovalRejected",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "ApprovalExpired",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "ApprovalWithdrawn",
            version: 1,
            upcasters: &[],
        },
    ];
}

/// Why an approval command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRejection {
    /// The request does not say what would be done.
    #[error("an approval request must say what would be done")]
    WhatEmpty,
    /// A text is longer than [`MAX_TEXT_CHARS`].
    #[error("texts are limited to {MAX_TEXT_CHARS} characters")]
    TextTooLong,
    /// The deadline is not after the request.
    #[error("an approval must expire after it is requested")]
    ExpiryNotAfterRequest,
    /// An amount of zero or less.
    #[error("an amount to approve must be above zero, got {0}")]
    AmountNotPositive(Money),
    /// The approval was requested already.
    #[error("this approval has already been requested")]
    AlreadyRequested,
    /// No such approval.
    #[error("no such approval")]
    NotFound,
    /// It was decided or expired already.
    #[error("this approval is no longer pending")]
    NotPending,
    /// The deadline passed.
    #[error("this approval expired at {0}")]
    Expired(DateTime<Utc>),
    /// The deadline has not passed.
    #[error("this approval does not expire before {0}")]
    NotExpired(DateTime<Utc>),
    /// The requester may not decide on their own request.
    #[error("{0} asked for this approval and cannot decide on it")]
    SelfApproval(Actor),
    /// A rejection must say why.
    #[error("a rejection needs a reason")]
    ReasonEmpty,
    /// Only the requester may withdraw a request.
    #[error("only {0}, who asked for this approval, may withdraw it")]
    NotRequester(Actor),
}

impl Rejection for ApprovalRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::WhatEmpty => "approval.what_empty",
            Self::TextTooLong => "approval.text_too_long",
            Self::ExpiryNotAfterRequest => "approval.expiry_not_after_request",
            Self::AmountNotPositive(_) => "approval.amount_not_positive",
            Self::AlreadyRequested => "approval.already_requested",
            Self::NotFound => "approval.not_found",
            Self::NotPending => "approval.not_pending",
            Self::Expired(_) => "approval.expired",
            Self::NotExpired(_) => "approval.not_expired",
            Self::SelfApproval(_) => "approval.self_approval",
            Self::ReasonEmpty => "approval.reason_empty",
            Self::NotRequester(_) => "approval.not_requester",
        }
    }
}

/// Where an approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Not requested (an empty stream).
    #[default]
    Unknown,
    /// Waiting for a decision.
    Pending,
    /// Granted.
    Granted,
    /// Refused.
    Rejected,
    /// Lapsed undecided.
    Expired,
    /// Taken back by its requester, undecided.
    Withdrawn,
}

/// An approval's state, as far as its rules need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// Where it stands.
    pub status: ApprovalStatus,
    /// Who asked.
    pub requested_by: Option<Actor>,
    /// When it lapses.
    pub expires_at: Option<DateTime<Utc>>,
}

impl Aggregate for Approval {
    const CATEGORY: &'static str = "approval";
    type Command = ApprovalCommand;
    type Event = ApprovalEvent;
    type Rejection = ApprovalRejection;

    fn decide(&self, command: &ApprovalCommand) -> Result<Vec<ApprovalEvent>, ApprovalRejection> {
        match command {
            ApprovalCommand::Request(request) => self.request(request),
            ApprovalCommand::Decide(decide) => self.decide_on(decide),
            ApprovalCommand::Expire { at } => self.expire(*at),
            ApprovalCommand::Withdraw { by, reason, at } => self.withdraw(by, reason, *at),
        }
    }

    fn evolve(self, event: &ApprovalEvent) -> Self {
        match event {
            ApprovalEvent::ApprovalRequested(e) => Approval {
                status: ApprovalStatus::Pending,
                requested_by: Some(e.requested_by.clone()),
                expires_at: Some(e.expires_at),
            },
            ApprovalEvent::ApprovalGranted(_) => Approval {
                status: ApprovalStatus::Granted,
                ..self
            },
            ApprovalEvent::ApprovalRejected(_) => Approval {
                status: ApprovalStatus::Rejected,
                ..self
            },
            ApprovalEvent::ApprovalExpired(_) => Approval {
                status: ApprovalStatus::Expired,
                ..self
            },
            ApprovalEvent::ApprovalWithdrawn(_) => Approval {
                status: ApprovalStatus::Withdrawn,
                ..self
            },
        }
    }
}

impl Approval {
    fn request(&self, cmd: &RequestApproval) -> Result<Vec<ApprovalEvent>, ApprovalRejection> {
        if self.status != ApprovalStatus::Unknown {
            return Err(ApprovalRejection::AlreadyRequested);
        }
        if cmd.what.trim().is_empty() {
            return Err(ApprovalRejection::WhatEmpty);
        }
        if cmd.what.chars().count() > MAX_TEXT_CHARS || cmd.why.chars().count() > MAX_TEXT_CHARS {
            return Err(ApprovalRejection::TextTooLong);
        }
        if cmd.expires_at <= cmd.at {
            return Err(ApprovalRejection::ExpiryNotAfterRequest);
        }
        if let Some(amount) = cmd.amount.filter(|a| !a.is_positive()) {
            return Err(ApprovalRejection::AmountNotPositive(amount));
        }
        Ok(vec![ApprovalEvent::ApprovalRequested(ApprovalRequested {
            task_id: cmd.task_id,
            directive_id: cmd.directive_id,
            what: cmd.what.trim().to_owned(),
            why: cmd.why.trim().to_owned(),
            amount: cmd.amount,
            requested_by: cmd.requested_by.clone(),
            expires_at: cmd.expires_at,
            requested_at: cmd.at,
        })])
    }

    /// The deadline of a pending approval, or why it is not pending.
    fn pending(&self) -> Result<DateTime<Utc>, ApprovalRejection> {
        match (self.status, self.expires_at) {
            (ApprovalStatus::Unknown, _) => Err(ApprovalRejection::NotFound),
            (ApprovalStatus::Pending, Some(expires_at)) => Ok(expires_at),
            _ => Err(ApprovalRejection::NotPending),
        }
    }

    fn decide_on(&self, cmd: &DecideApproval) -> Result<Vec<ApprovalEvent>, ApprovalRejection> {
        let expires_at = self.pending()?;
        if cmd.at >= expires_at {
            return Err(ApprovalRejection::Expired(expires_at));
        }
        if self.requested_by.as_ref() == Some(&cmd.by) {
            return Err(ApprovalRejection::SelfApproval(cmd.by.clone()));
        }
        let reason = cmd.reason.trim();
        if reason.chars().count() > MAX_TEXT_CHARS {
            return Err(ApprovalRejection::TextTooLong);
        }
        let decided = ApprovalDecided {
            by: cmd.by.clone(),
            reason: reason.to_owned(),
            decided_at: cmd.at,
        };
        Ok(vec![match cmd.decision {
            Decision::Approve => ApprovalEvent::ApprovalGranted(decided),
            Decision::Reject if reason.is_empty() => return Err(ApprovalRejection::ReasonEmpty),
            Decision::Reject => ApprovalEvent::ApprovalRejected(decided),
        }])
    }

    fn withdraw(
        &self,
        by: &Actor,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<ApprovalEvent>, ApprovalRejection> {
        self.pending()?;
        match &self.requested_by {
            Some(requester) if requester == by => {}
            Some(requester) => return Err(ApprovalRejection::NotRequester(requester.clone())),
            None => return Err(ApprovalRejection::NotFound),
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ApprovalRejection::ReasonEmpty);
        }
        if reason.chars().count() > MAX_TEXT_CHARS {
            return Err(ApprovalRejection::TextTooLong);
        }
        Ok(vec![ApprovalEvent::ApprovalWithdrawn(ApprovalDecided {
            by: by.clone(),
            reason: reason.to_owned(),
            decided_at: at,
        })])
    }

    fn expire(&self, at: DateTime<Utc>) -> Result<Vec<ApprovalEvent>, ApprovalRejection> {
        let expires_at = self.pending()?;
        if at < expires_at {
            return Err(ApprovalRejection::NotExpired(expires_at));
        }
        Ok(vec![ApprovalEvent::ApprovalExpired(ApprovalExpired {
            expired_at: at,
        })])
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::aggregate::spec::given;
    use crate::money::Currency;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, hour, 0, 0)
            .single()
            .expect("valid")
    }

    fn agent() -> Actor {
        Actor::Agent("logistics".to_owned())
    }

    fn ceo() -> Actor {
        Actor::User("ceo".to_owned())
    }

    fn eur(minor: i64) -> Money {
        Money {
            minor,
            currency: "EUR".parse::<Currency>().expect("valid"),
        }
    }

    fn request() -> RequestApproval {
        RequestApproval {
            task_id: Uuid::nil(),
            directive_id: Uuid::nil(),
            what: "submit purchase order PO-17 to Acme".to_owned(),
            why: "projected stock of SKU-42 is below its reorder point".to_owned(),
            amount: Some(eur(129_900)),
            requested_by: agent(),
            expires_at: at(18),
            at: at(9),
        }
    }

    fn requested() -> ApprovalEvent {
        let r = request();
        ApprovalEvent::ApprovalRequested(ApprovalRequested {
            task_id: r.task_id,
            directive_id: r.directive_id,
            what: r.what,
            why: r.why,
            amount: r.amount,
            requested_by: r.requested_by,
            expires_at: r.expires_at,
            requested_at: r.at,
        })
    }

    fn decide(decision: Decision, by: Actor, reason: &str, hour: u32) -> ApprovalCommand {
        ApprovalCommand::Decide(DecideApproval {
            decision,
            by,
            reason: reason.to_owned(),
            at: at(hour),
        })
    }

    #[test]
    fn a_request_is_recorded_once() {
        given::<Approval>([])
            .when(ApprovalCommand::Request(request()))
            .then([requested()]);
        given::<Approval>([requested()])
            .when(ApprovalCommand::Request(request()))
            .then_rejected("approval.already_requested");
    }

    #[test]
    fn bad_requests_are_refused() {
        let mut r = request();
        r.what = "  ".to_owned();
        given::<Approval>([])
            .when(ApprovalCommand::Request(r))
            .then_rejected("approval.what_empty");
        let mut r = request();
        r.expires_at = r.at;
        given::<Approval>([])
            .when(ApprovalCommand::Request(r))
            .then_rejected("approval.expiry_not_after_request");
        let mut r = request();
        r.amount = Some(eur(0));
        given::<Approval>([])
            .when(ApprovalCommand::Request(r))
            .then_rejected("approval.amount_not_positive");
    }

    #[test]
    fn someone_else_grants_or_rejects_with_a_reason() {
        given::<Approval>([requested()])
            .when(decide(Decision::Approve, ceo(), "", 10))
            .then([ApprovalEvent::ApprovalGranted(ApprovalDecided {
                by: ceo(),
                reason: String::new(),
                decided_at: at(10),
            })]);
        given::<Approval>([requested()])
            .when(decide(Decision::Reject, ceo(), " too expensive ", 10))
            .then([ApprovalEvent::ApprovalRejected(ApprovalDecided {
                by: ceo(),
                reason: "too expensive".to_owned(),
                decided_at: at(10),
            })]);
        given::<Approval>([requested()])
            .when(decide(Decision::Reject, ceo(), " ", 10))
            .then_rejected("approval.reason_empty");
    }

    #[test]
    fn the_requester_never_approves_their_own_request() {
        given::<Approval>([requested()])
            .when(decide(Decision::Approve, agent(), "fine by me", 10))
            .then_rejected("approval.self_approval");
    }

    #[test]
    fn a_decision_is_final_and_a_late_one_refused() {
        let granted = ApprovalEvent::ApprovalGranted(ApprovalDecided {
            by: ceo(),
            reason: String::new(),
            decided_at: at(10),
        });
        given::<Approval>([requested(), granted])
            .when(decide(Decision::Reject, ceo(), "changed my mind", 11))
            .then_rejected("approval.not_pending");
        given::<Approval>([requested()])
            .when(decide(Decision::Approve, ceo(), "", 18))
            .then_rejected("approval.expired");
        given::<Approval>([])
            .when(decide(Decision::Approve, ceo(), "", 10))
            .then_rejected("approval.not_found");
    }

    #[test]
    fn expiry_is_recorded_only_after_the_deadline() {
        given::<Approval>([requested()])
            .when(ApprovalCommand::Expire { at: at(17) })
            .then_rejected("approval.not_expired");
        given::<Approval>([requested()])
            .when(ApprovalCommand::Expire { at: at(18) })
            .then([ApprovalEvent::ApprovalExpired(ApprovalExpired {
                expired_at: at(18),
            })]);
    }

    #[test]
    fn only_the_requester_withdraws_and_only_while_pending() {
        let withdraw = |by: Actor, reason: &str| ApprovalCommand::Withdraw {
            by,
            reason: reason.to_owned(),
            at: at(12),
        };
        let withdrawn = ApprovalEvent::ApprovalWithdrawn(ApprovalDecided {
            by: agent(),
            reason: "the goods arrived".to_owned(),
            decided_at: at(12),
        });
        given::<Approval>([requested()])
            .when(withdraw(agent(), " the goods arrived "))
            .then([withdrawn.clone()]);
        given::<Approval>([requested()])
            .when(withdraw(ceo(), "not needed"))
            .then_rejected("approval.not_requester");
        given::<Approval>([requested()])
            .when(withdraw(agent(), "  "))
            .then_rejected("approval.reason_empty");
        given::<Approval>([])
            .when(withdraw(agent(), "the goods arrived"))
            .then_rejected("approval.not_found");
        // Withdrawn, nobody decides it any more; decided, it is not withdrawn.
        given::<Approval>([requested(), withdrawn])
            .when(decide(Decision::Approve, ceo(), "", 13))
            .then_rejected("approval.not_pending");
        let granted = ApprovalEvent::ApprovalGranted(ApprovalDecided {
            by: ceo(),
            reason: String::new(),
            decided_at: at(10),
        });
        given::<Approval>([requested(), granted])
            .when(withdraw(agent(), "the goods arrived"))
            .then_rejected("approval.not_pending");
    }
}
