//! Which planner the orchestrator asks: the rule-based one, or a language
//! model behind any OpenAI-compatible endpoint, with prices and a budget.

use std::sync::Arc;
use std::time::Duration;

use agents::planner::{LlmConfig, LlmPlanner, LlmPrices, Planner, RulePlanner};
use domain::planning::LlmBudget;

/// The planner options of `serve` and `demo`.
#[derive(clap::Args, Debug)]
pub struct PlannerArgs {
    /// An OpenAI-compatible API (e.g. https://api.openai.com/v1 or
    /// http://localhost:11434/v1): the orchestrator plans with this model,
    /// falling back to the rule-based planner. Without it, the rules plan.
    #[arg(long, env = "AGENTOS_LLM_URL")]
    llm_url: Option<String>,
    /// The model's name.
    #[arg(long, env = "AGENTOS_LLM_MODEL", default_value = "gpt-4o-mini")]
    llm_model: String,
    /// The API key, sent as a bearer token (prefer the environment variable).
    #[arg(long, env = "AGENTOS_LLM_API_KEY", hide_env_values = true)]
    llm_api_key: Option<String>,
    /// The longest one model call may take, in seconds.
    #[arg(long, env = "AGENTOS_LLM_TIMEOUT", default_value_t = 30.0, value_parser = seconds)]
    llm_timeout: f64,
    /// US dollars per 1,000 prompt tokens, for the cost estimate.
    #[arg(long, env = "AGENTOS_LLM_PRICE_PROMPT", default_value_t = 0.0, value_parser = dollars)]
    llm_price_prompt: f64,
    /// US dollars per 1,000 completion tokens, for the cost estimate.
    #[arg(long, env = "AGENTOS_LLM_PRICE_COMPLETION", default_value_t = 0.0, value_parser = dollars)]
    llm_price_completion: f64,
    /// The most one directive's model calls may cost, in US dollars
    /// (estimated from the prices); then the rules plan it.
    #[arg(long, env = "AGENTOS_LLM_BUDGET_USD", value_parser = dollars)]
    llm_budget_usd: Option<f64>,
    /// The most tokens one directive's model calls may use; then the rules plan it.
    #[arg(long, env = "AGENTOS_LLM_BUDGET_TOKENS")]
    llm_budget_tokens: Option<u64>,
}

/// A non-negative, finite amount of dollars.
fn dollars(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if (0.0..1e9).contains(&x) => Ok(x),
        _ => Err(format!("{text:?} is not an amount of dollars, e.g. 0.15")),
    }
}

/// A positive, finite number of seconds.
fn seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(x) if x > 0.0 && x <= 3600.0 => Ok(x),
        _ => Err(format!(
            "{text:?} is not a number of seconds between 0 and 3600"
        )),
    }
}

fn micro(dollars: f64) -> u64 {
    (dollars * 1e6).round() as u64
}

impl PlannerArgs {
    /// The planner these options ask for.
    pub fn planner(&self) -> anyhow::Result<Arc<dyn Planner>> {
        let Some(url) = &self.llm_url else {
            return Ok(Arc::new(RulePlanner::new()));
        };
        let config = LlmConfig {
            api_key: self.llm_api_key.clone(),
            timeout: Duration::from_secs_f64(self.llm_timeout),
            prices: LlmPrices {
                prompt_per_1k_micro_usd: micro(self.llm_price_prompt),
                completion_per_1k_micro_usd: micro(self.llm_price_completion),
            },
            budget: LlmBudget {
                cost_micro_usd: self.llm_budget_usd.map(micro),
                tokens: self.llm_budget_tokens,
            },
            ..LlmConfig::new(url.clone(), self.llm_model.clone())
        };
        let planner = LlmPlanner::new(config)
            .map_err(|e| anyhow::anyhow!("cannot set up the LLM planner: {e}"))?;
        Ok(Arc::new(planner))
    }
}
