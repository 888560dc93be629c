//! What a planner answered for a directive, as it is recorded: the plan or
//! the question it asks the CEO instead of guessing, and how the answer came
//! about (planner, model, a digest of the prompt, the raw answer, what the
//! model call cost). Recording all of it is what lets a replay rebuild the
//! same state without calling any planner again.

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// What a planner made of a directive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlanOutcome {
    /// Tasks for the departments.
    Plan {
        /// The plan.
        plan: Plan,
    },
    /// The order is unclear: a question for the CEO, instead of a guess.
    Clarify {
        /// The question.
        question: String,
    },
}

/// Tokens a language-model call used and what it is estimated to cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LlmUsage {
    /// Tokens in the prompt.
    pub prompt_tokens: u64,
    /// Tokens in the answer.
    pub completion_tokens: u64,
    /// Estimated cost in millionths of a US dollar.
    pub cost_micro_usd: u64,
}

/// Who made a model call for a directive: the orchestrator planning it, or
/// a department at work on one of its tasks. A directive's usage is summed
/// per caller, and all of it counts against the directive's one budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmCaller {
    /// The Brain, planning (and planning again after a clarification).
    Orchestrator,
    /// Logistics Core.
    Logistics,
    /// Finance Reactor.
    Finance,
    /// Code Foundry.
    Foundry,
}

impl From<crate::task::Department> for LlmCaller {
    fn from(department: crate::task::Department) -> Self {
        use crate::task::Department;
        match department {
            Department::Logistics => LlmCaller::Logistics,
            Department::Finance => LlmCaller::Finance,
            Department::Foundry => LlmCaller::Foundry,
        }
    }
}

/// The most a directive's model calls may use; `None` caps nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LlmBudget {
    /// Estimated cost, in millionths of a US dollar.
    pub cost_micro_usd: Option<u64>,
    /// Prompt and completion tokens together.
    pub tokens: Option<u64>,
}

impl LlmBudget {
    /// No cap.
    pub const UNLIMITED: LlmBudget = LlmBudget {
        cost_micro_usd: None,
        tokens: None,
    };

    /// Whether another call may be made after `spent`: only while every cap
    /// still has room (a call's cost is known only afterwards, so the last
    /// call may overshoot a cap; none is made after that).
    pub fn allows_another_call(&self, spent: LlmUsage) -> bool {
        let tokens = spent.prompt_tokens.saturating_add(spent.completion_tokens);
        self.cost_micro_usd
            .is_none_or(|cap| spent.cost_micro_usd < cap)
            && self.tokens.is_none_or(|cap| tokens < cap)
    }
}

impl LlmUsage {
    /// The sum of two usages (saturating).
    pub fn plus(self, other: LlmUsage) -> LlmUsage {
        LlmUsage {
            prompt_tokens: self.prompt_tokens.saturating_add(other.prompt_tokens),
            completion_tokens: self
                .completion_tokens
                .saturating_add(other.completion_tokens),
            cost_micro_usd: self.cost_micro_usd.saturating_add(other.cost_micro_usd),
        }
    }
}

/// A planner's answer and how it came about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannerAnswer {
    /// The plan or the question.
    pub outcome: PlanOutcome,
    /// Which planner answered (`rules`, `llm`, or `llm→rules` after a fall-back).
    pub planner: String,
    /// The model, when a model answered.
    pub model: Option<String>,
    /// SHA-256 (hex) of the exact prompt the planner worked from.
    pub prompt_digest: String,
    /// The answer as the planner gave it, before any parsing.
    pub raw_answer: String,
    /// What the model calls cost, summed over retries; `None` without a model.
    pub usage: Option<LlmUsage>,
}

#[cfg(test)]
mod budget_tests {
    use proptest::prelude::*;

    use super::{LlmBudget, LlmUsage};

    fn usage(prompt: u64, completion: u64, cost: u64) -> LlmUsage {
        LlmUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            cost_micro_usd: cost,
        }
    }

    #[test]
    fn calls_stop_once_a_cap_is_reached() {
        let budget = LlmBudget {
            cost_micro_usd: Some(1_000),
            tokens: Some(500),
        };
        assert!(budget.allows_another_call(usage(0, 0, 0)));
        assert!(budget.allows_another_call(usage(200, 299, 999)));
        assert!(!budget.allows_another_call(usage(200, 300, 0)), "tokens");
        assert!(!budget.allows_another_call(usage(0, 0, 1_000)), "cost");
        assert!(LlmBudget::UNLIMITED.allows_another_call(usage(u64::MAX, u64::MAX, u64::MAX)));
    }

    proptest! {
        /// Spending more never reopens a budget.
        #[test]
        fn spending_more_never_reopens_a_budget(
            cost_cap in proptest::option::of(0u64..10_000),
            token_cap in proptest::option::of(0u64..10_000),
            a in (0u64..6_000, 0u64..6_000, 0u64..12_000),
            b in (0u64..6_000, 0u64..6_000, 0u64..12_000),
        ) {
            let budget = LlmBudget { cost_micro_usd: cost_cap, tokens: token_cap };
            let first = usage(a.0, a.1, a.2);
            let more = first.plus(usage(b.0, b.1, b.2));
            if budget.allows_another_call(more) {
                prop_assert!(budget.allows_another_call(first));
            }
        }
    }
}
