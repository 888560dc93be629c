//! The company's rules for letting agents act: which actions need a
//! person's approval, and how much one directive may spend.
//!
//! Pure functions over plain values; the orchestrator asks them before an
//! agent acts and records the answer as an event.

use serde::{Deserialize, Serialize};

use crate::directive::ApprovalGate;
use crate::money::{Currency, Money};
use crate::plan::Plan;
use crate::task::Department;
use crate::work::check_task;

/// Something an agent is about to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action<'a> {
    /// The department acting.
    pub department: Department,
    /// The kind of action, e.g. `purchase_order`, `payment`, `deploy`.
    pub kind: &'a str,
    /// The money it commits, if any.
    pub amount: Option<Money>,
    /// Whether it changes something outside AgentOS (as opposed to reading).
    pub changes_something: bool,
}

/// One approval rule: an action it matches needs a person's approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRule {
    /// A name to quote in the approval request.
    pub name: String,
    /// Only actions of this department (any when absent).
    pub department: Option<Department>,
    /// Only actions of these kinds (any when empty).
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Only actions committing more than this (any amount, or none, when
    /// absent). An amount in another currency cannot be compared, so it
    /// matches: when in doubt, a person decides.
    pub above: Option<Money>,
    /// Only actions that change something.
    #[serde(default)]
    pub only_changes: bool,
}

impl ApprovalRule {
    /// Whether the rule asks for approval of `action`.
    pub fn matches(&self, action: &Action<'_>) -> bool {
        let department = self.department.is_none_or(|d| d == action.department);
        let kind = self.kinds.is_empty() || self.kinds.iter().any(|k| k == action.kind);
        let changes = !self.only_changes || action.changes_something;
        let amount = match (self.above, action.amount) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(threshold), Some(amount)) => {
                amount.currency != threshold.currency || amount.minor > threshold.minor
            }
        };
        department && kind && changes && amount
    }
}

/// The approval rules in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The rules; any match asks for approval.
    pub rules: Vec<ApprovalRule>,
}

impl Policy {
    /// The defaults: purchase orders above 1,000.00 and payments above 500.00
    /// in `currency`, and any Foundry action that changes something.
    pub fn default_for(currency: Currency) -> Self {
        Policy {
            rules: vec![
                ApprovalRule {
                    name: "purchase orders above 1,000".to_owned(),
                    department: Some(Department::Logistics),
                    kinds: vec!["purchase_order".to_owned(), "reorder".to_owned()],
                    above: Some(Money::new(100_000, currency)),
                    only_changes: false,
                },
                ApprovalRule {
                    name: "payments above 500".to_owned(),
                    department: Some(Department::Finance),
                    kinds: vec!["payment".to_owned(), "payment_run".to_owned()],
                    above: Some(Money::new(50_000, currency)),
                    only_changes: false,
                },
                ApprovalRule {
                    name: "Foundry changes".to_owned(),
                    department: Some(Department::Foundry),
                    kinds: Vec::new(),
                    above: None,
                    only_changes: true,
                },
            ],
        }
    }

    /// The first rule that asks for approval of `action`, if any.
    pub fn approval_needed(&self, action: &Action<'_>) -> Option<&ApprovalRule> {
        self.rules.iter().find(|rule| rule.matches(action))
    }
}

/// Why spending is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpendingRefusal {
    /// The amount is in another currency than the limit.
    #[error("{amount} cannot be counted against a limit in {limit}")]
    CurrencyMismatch {
        /// The amount.
        amount: Money,
        /// The limit's currency.
        limit: Currency,
    },
    /// The amount would take the directive over its limit.
    #[error("{amount} would bring spending to {total}, over the limit of {limit}")]
    OverLimit {
        /// The amount.
        amount: Money,
        /// What would be spent in all.
        total: Money,
        /// The limit.
        limit: Money,
    },
    /// A negative amount or a sum that does not fit.
    #[error("{0} is not an amount that can be spent")]
    Invalid(Money),
}

/// Whether a directive that has spent `spent` may spend `amount` more under
/// its `limit` (no limit: always).
pub fn check_spending(
    limit: Option<Money>,
    spent: Money,
    amount: Money,
) -> Result<(), SpendingRefusal> {
    if amount.minor < 0 {
        return Err(SpendingRefusal::Invalid(amount));
    }
    let Some(limit) = limit else {
        return Ok(());
    };
    if amount.currency != limit.currency || spent.currency != limit.currency {
        return Err(SpendingRefusal::CurrencyMismatch {
            amount,
            limit: limit.currency,
        });
    }
    let total = spent
        .minor
        .checked_add(amount.minor)
        .map(|minor| Money::new(minor, limit.currency))
        .ok_or(SpendingRefusal::Invalid(amount))?;
    if total.minor > limit.minor {
        return Err(SpendingRefusal::OverLimit {
            amount,
            total,
            limit,
        });
    }
    Ok(())
}

/// For each task of `plan`, in plan order, the approval it needs before it
/// is dispatched: the first policy rule its work matches, or else the
/// directive's spending limit when the caps of the plan's tasks so far would
/// exceed it. Work the policy cannot read (an unknown kind, parameters that
/// do not fit) is gated too: when in doubt, a person decides.
pub fn gates(policy: &Policy, plan: &Plan, limit: Option<Money>) -> Vec<Option<ApprovalGate>> {
    let mut spent = limit.map(|l| Money::new(0, l.currency));
    plan.tasks
        .iter()
        .map(|task| {
            let work = match check_task(task) {
                Ok(work) => work,
                Err(error) => {
                    return Some(ApprovalGate {
                        rule: format!("work the policy cannot read ({error})"),
                        amount: None,
                    })
                }
            };
            let kind = work.kind();
            let amount = work.spending_cap();
            let action = Action {
                department: task.department,
                kind: kind.as_str(),
                amount,
                changes_something: kind.changes_something(),
            };
            if let Some(rule) = policy.approval_needed(&action) {
                return Some(ApprovalGate {
                    rule: rule.name.clone(),
                    amount,
                });
            }
            let (amount, so_far) = (amount?, spent.as_mut()?);
            match check_spending(limit, *so_far, amount) {
                Ok(()) => {
                    so_far.minor = so_far.minor.saturating_add(amount.minor);
                    None
                }
                Err(refusal) => Some(ApprovalGate {
                    rule: format!("the directive's spending limit: {refusal}"),
                    amount: Some(amount),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn eur() -> Currency {
        "EUR".parse().expect("valid")
    }

    fn usd() -> Currency {
        "USD".parse().expect("valid")
    }

    fn action(department: Department, kind: &str, minor: Option<i64>, changes: bool) -> Action<'_> {
        Action {
            department,
            kind,
            amount: minor.map(|m| Money::new(m, eur())),
            changes_something: changes,
        }
    }

    #[test]
    fn the_default_policy_asks_for_large_orders_payments_and_foundry_changes() {
        let policy = Policy::default_for(eur());
        let needs = |a: Action<'_>| policy.approval_needed(&a).map(|r| r.name.clone());
        use Department::*;
        assert_eq!(
            needs(action(Logistics, "purchase_order", Some(100_000), true)),
            None
        );
        assert_eq!(
            needs(action(Logistics, "purchase_order", Some(100_001), true)).as_deref(),
            Some("purchase orders above 1,000")
        );
        assert_eq!(needs(action(Logistics, "stock_count", None, false)), None);
        assert!(needs(action(Finance, "payment", Some(50_001), true)).is_some());
        assert_eq!(needs(action(Finance, "invoice_audit", None, false)), None);
        assert!(needs(action(Foundry, "restart", None, true)).is_some());
        assert_eq!(needs(action(Foundry, "health_check", None, false)), None);
    }

    #[test]
    fn an_amount_in_another_currency_asks_for_approval() {
        let policy = Policy::default_for(eur());
        let order = Action {
            department: Department::Logistics,
            kind: "purchase_order",
            amount: Some(Money::new(10, usd())),
            changes_something: true,
        };
        assert!(policy.approval_needed(&order).is_some());
    }

    #[test]
    fn spending_stays_within_the_limit_in_its_currency() {
        let limit = Some(Money::new(10_000, eur()));
        let spent = Money::new(6_000, eur());
        assert_eq!(
            check_spending(limit, spent, Money::new(4_000, eur())),
            Ok(())
        );
        assert!(matches!(
            check_spending(limit, spent, Money::new(4_001, eur())),
            Err(SpendingRefusal::OverLimit { .. })
        ));
        assert!(matches!(
            check_spending(limit, spent, Money::new(1, usd())),
            Err(SpendingRefusal::CurrencyMismatch { .. })
        ));
        assert!(matches!(
            check_spending(limit, spent, Money::new(-1, eur())),
            Err(SpendingRefusal::Invalid(_))
        ));
        assert_eq!(
            check_spending(None, spent, Money::new(i64::MAX, usd())),
            Ok(())
        );
    }

    proptest! {
        /// Whatever is spent, an accepted amount never takes the total over the limit.
        #[test]
        fn accepted_spending_never_exceeds_the_limit(
            limit in 0_i64..1_000_000_000,
            spent in 0_i64..1_000_000_000,
            amount in -10_i64..1_000_000_000,
        ) {
            let limit = Money::new(limit, eur());
            if check_spending(Some(limit), Money::new(spent, eur()), Money::new(amount, eur())).is_ok() {
                prop_assert!(amount >= 0 && spent + amount <= limit.minor);
            }
        }

        /// An amount that needs approval still needs it when larger.
        #[test]
        fn approval_is_monotone_in_the_amount(minor in 0_i64..10_000_000, more in 0_i64..10_000_000) {
            let policy = Policy::default_for(eur());
            for (department, kind) in [(Department::Logistics, "purchase_order"), (Department::Finance, "payment")] {
                if policy.approval_needed(&action(department, kind, Some(minor), true)).is_some() {
                    prop_assert!(policy
                        .approval_needed(&action(department, kind, Some(minor + more), true))
                        .is_some());
                }
            }
        }
    }
}

#[cfg(test)]
mod gate_tests {
    use serde_json::json;

    use super::*;
    use crate::plan::PlannedTask;

    fn eur(minor: i64) -> Money {
        Money::new(minor, "EUR".parse().expect("valid"))
    }

    fn task(
        key: &str,
        department: Department,
        kind: &str,
        params: serde_json::Value,
    ) -> PlannedTask {
        PlannedTask {
            key: key.to_owned(),
            department,
            kind: kind.to_owned(),
            params,
            depends_on: Vec::new(),
        }
    }

    fn payment(key: &str, cap: i64) -> PlannedTask {
        task(
            key,
            Department::Finance,
            "payment_run",
            json!({"amount_cap": {"minor": cap, "currency": "EUR"}}),
        )
    }

    #[test]
    fn tasks_are_gated_by_the_first_matching_rule_or_by_the_spending_limit() {
        let policy = Policy::default_for("EUR".parse().expect("valid"));
        let plan = Plan {
            tasks: vec![
                task("audit", Department::Finance, "invoice_audit", json!({})),
                payment("small", 40_000),
                payment("large", 60_000),
                task("check", Department::Foundry, "health_check", json!({})),
                task(
                    "restart",
                    Department::Foundry,
                    "restart",
                    json!({"component": "gateway"}),
                ),
            ],
        };
        let gates = gates(&policy, &plan, None);
        let rules: Vec<Option<&str>> = gates
            .iter()
            .map(|g| g.as_ref().map(|g| g.rule.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                None,
                None,
                Some("payments above 500"),
                None,
                Some("Foundry changes")
            ]
        );
        assert_eq!(gates[2].as_ref().and_then(|g| g.amount), Some(eur(60_000)));

        // Under a limit of 700.00 the first small payment fits, the second
        // brings the total over it.
        let plan = Plan {
            tasks: vec![payment("a", 40_000), payment("b", 40_000)],
        };
        let gates = super::gates(&policy, &plan, Some(eur(70_000)));
        assert!(gates[0].is_none(), "{gates:?}");
        let second = gates[1].as_ref().expect("gated by the limit");
        assert!(
            second.rule.starts_with("the directive's spending limit"),
            "{second:?}"
        );
    }

    #[test]
    fn work_the_policy_cannot_read_is_gated() {
        let policy = Policy::default_for("EUR".parse().expect("valid"));
        let plan = Plan {
            tasks: vec![task("x", Department::Finance, "teleport", json!({}))],
        };
        let gate = gates(&policy, &plan, None).remove(0).expect("gated");
        assert!(
            gate.rule.starts_with("work the policy cannot read"),
            "{gate:?}"
        );
    }
}
