//! Planners turn a directive's text into a plan of department tasks, or into
//! a question for the CEO. The Brain records each answer with how it came
//! about ([`PlannerAnswer`]), so replays never call a planner again.

pub mod llm;
pub mod rules;

pub use llm::{LlmConfig, LlmPlanner, LlmPrices};
pub use rules::RulePlanner;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::planning::{LlmUsage, PlannerAnswer};
use domain::Money;
use uuid::Uuid;

/// What a planner is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest {
    /// The directive.
    pub directive_id: Uuid,
    /// The order in plain language.
    pub text: String,
    /// When it was given: relative dates ("this month", "next 13 weeks")
    /// are read against it, never against the planner's clock.
    pub issued_at: DateTime<Utc>,
    /// The most the agents may spend on it.
    pub spending_limit: Option<Money>,
    /// The CEO's answer to an earlier question about this directive.
    pub clarification: Option<String>,
    /// What this directive's model calls have used so far (earlier
    /// planning rounds), counted against the planner's budget.
    pub llm_spent: LlmUsage,
}

/// Why a planner gave no answer at all (a planner that understands nothing
/// answers with a question, which is not an error).
#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    /// The planner could not be reached or kept failing.
    #[error("planner unavailable: {0}")]
    Unavailable(String),
    /// The planner answered with something that is not a valid plan.
    #[error("invalid planner answer: {0}")]
    Invalid(String),
}

/// Turns directives into plans.
#[async_trait]
pub trait Planner: Send + Sync + 'static {
    /// The planner's name, as recorded with its answers.
    fn name(&self) -> &str;

    /// Plans one directive.
    async fn plan(&self, request: &PlanRequest) -> Result<PlannerAnswer, PlannerError>;
}
