//! The company's rules for letting agents act: which actions need a
//! person's approval, and how much one directive may spend.
//!
//! Pure functions over plain values; the orchestrator asks them before an
//! agent acts and records the answer as an event.

use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};
use crate::task::Department;

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
                    kinds: vec!["purchase_order".to_owned()],
                    above: Some(Money::new(100_000, currency)),
                    only_changes: false,
                },
                ApprovalRule {
                    name: "payments above 500".to_owned(),
                    department: Some(Department::Finance),
                    kinds: vec!["payment".to_owned()],
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
