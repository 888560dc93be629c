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
