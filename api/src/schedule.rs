//! The schedule: standing orders given at a time of day, e.g. the morning
//! inventory scan.
//!
//! A standing order is given as a directive, like the CEO's, by
//! `system:schedule`, so the orchestrator plans it and the departments carry
//! it out with the same approvals, controls and audit trail. Each day's
//! order has an id derived from its name and the date: two schedulers (or a
//! restarted one) give it once.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use commands::processor::derived_id;
use commands::{CommandHandler, Envelope, HandleError};
use domain::directive::{Directive, DirectiveCommand, IssueDirective, Priority};
use domain::{Actor, Aggregate, CommandId, CorrelationId};
use uuid::Uuid;

/// The actor standing orders carry.
pub const ACTOR: &str = "schedule";

/// An order given every day at a time (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandingOrder {
    /// Its name, part of each day's directive id.
    pub name: String,
    /// The order in plain language.
    pub text: String,
    /// When, each day.
    pub at: NaiveTime,
}

impl StandingOrder {
    /// The morning inventory scan: stock checked and what runs low reordered.
    pub fn morning_scan(at: NaiveTime) -> Self {
        StandingOrder {
            name: "morning_scan".to_owned(),
            text: "Check stock in every warehouse and reorder what is running low".to_owned(),
            at,
        }
    }

    /// The directive it gives on `date`.
    pub fn directive_id(&self, date: NaiveDate) -> Uuid {
        derived_id(&[
            b"standing_order",
            self.name.as_bytes(),
            date.to_string().as_bytes(),
        ])
    }

    /// The next time it is due strictly after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let today = now.date_naive().and_time(self.at).and_utc();
        if today > now {
            today
        } else {
            today + chrono::Duration::days(1)
        }
    }
}

/// Gives standing orders when they are due.
pub struct Schedule {
    handler: CommandHandler,
    orders: Vec<StandingOrder>,
}

impl Schedule {
    /// A schedule of `orders`, sent through `handler`.
    pub fn new(handler: CommandHandler, orders: Vec<StandingOrder>) -> Self {
        Self { handler, orders }
    }

    /// Sleeps until each order is due and gives it, until the task is dropped.
    pub async fn run(self) {
        loop {
            let now = Utc::now();
            let Some((due, order)) = self
                .orders
                .iter()
                .map(|order| (order.next_after(now), order))
                .min_by_key(|(due, _)| *due)
            else {
                return;
            };
            let wait = (due - now).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait).await;
            if let Err(error) = self.give(order, due).await {
                tracing::warn!(order = %order.name, %error, "cannot give the standing order");
            }
        }
    }

    /// Gives `order` for the day of `due`; true if this call gave it (false
    /// when it was given already).
    pub async fn give(&self, order: &StandingOrder, due: DateTime<Utc>) -> anyhow::Result<bool> {
        let id = order.directive_id(due.date_naive());
        let actor = Actor::System(ACTOR.to_owned());
        let envelope = Envelope {
            stream: Directive::stream(id),
            command: DirectiveCommand::Issue(IssueDirective {
                text: order.text.clone(),
                priority: Priority::Normal,
                deadline: None,
                spending_limit: None,
                issued_by: actor.clone(),
                issued_at: due,
            }),
            command_id: CommandId::from_uuid(derived_id(&[b"give", id.as_bytes()])),
            correlation_id: CorrelationId::from_uuid(id),
            causation_id: None,
            actor,
        };
        match self.handler.handle::<Directive>(envelope).await {
            Ok(handled) => Ok(!handled.duplicate),
            // Issued already by another scheduler under another command id.
            Err(HandleError::Rejected(_)) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    #[test]
    fn the_next_run_is_today_if_still_ahead_else_tomorrow() {
        let order = StandingOrder::morning_scan(NaiveTime::from_hms_opt(6, 0, 0).expect("time"));
        assert_eq!(
            order.next_after(at("2026-11-25T05:59:59Z")),
            at("2026-11-25T06:00:00Z")
        );
        assert_eq!(
            order.next_after(at("2026-11-25T06:00:00Z")),
            at("2026-11-26T06:00:00Z")
        );
    }

    #[test]
    fn each_day_has_its_own_directive() {
        let order = StandingOrder::morning_scan(NaiveTime::MIN);
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        assert_eq!(order.directive_id(day), order.directive_id(day));
        assert_ne!(
            order.directive_id(day),
            order.directive_id(day.succ_opt().expect("date"))
        );
    }
}
