//! The LLM planner: any OpenAI-compatible chat-completions endpoint
//! (OpenAI, Ollama, vLLM …) asked for a plan as JSON following the plan's
//! JSON schema.
//!
//! Every answer is checked (shape, [`Plan::validate`], and each task's kind
//! and parameters by [`check_task`]). An invalid answer, an HTTP error or a
//! timeout is retried a bounded number of times; after that the rule-based
//! planner answers instead (recorded as `llm→rules`, with the tokens the
//! failed calls spent). So it does, without calling the model, once the
//! directive's calls have spent its budget. The API key is never logged.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use domain::plan::{Plan, PlannedTask};
use domain::planning::{LlmBudget, LlmUsage, PlanOutcome, PlannerAnswer};
use domain::work::{check_task, TaskKind};
use serde::Deserialize;
use serde_json::{json, Value};

use super::rules::{sha256_hex, RulePlanner};
use super::{PlanRequest, Planner, PlannerError};

/// The name the LLM planner records with its answers.
pub const LLM: &str = "llm";

/// The name recorded when the rule-based planner answered after the model
/// kept failing.
pub const LLM_THEN_RULES: &str = "llm→rules";

/// What a model's tokens cost, in millionths of a US dollar per 1,000 tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LlmPrices {
    /// Per 1,000 prompt tokens.
    pub prompt_per_1k_micro_usd: u64,
    /// Per 1,000 completion tokens.
    pub completion_per_1k_micro_usd: u64,
}

impl LlmPrices {
    /// The estimated cost of a call, rounded up to the next micro-dollar.
    pub fn cost_micro_usd(&self, prompt_tokens: u64, completion_tokens: u64) -> u64 {
        let prompt = u128::from(prompt_tokens) * u128::from(self.prompt_per_1k_micro_usd);
        let completion =
            u128::from(completion_tokens) * u128::from(self.completion_per_1k_micro_usd);
        let total = prompt.saturating_add(completion);
        u64::try_from(total.div_ceil(1000)).unwrap_or(u64::MAX)
    }
}

/// How to reach the model.
#[derive(Clone)]
pub struct LlmConfig {
    /// The API's base URL, e.g. `https://api.openai.com/v1` or
    /// `http://localhost:11434/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// Sent as a bearer token when present; never logged.
    pub api_key: Option<String>,
    /// The model's name, e.g. `gpt-4o-mini` or `llama3.1`.
    pub model: String,
    /// The longest one request may take.
    pub timeout: Duration,
    /// How many times a failed or invalid answer is asked again.
    pub retries: u32,
    /// The first pause before a retry; it doubles after each attempt.
    pub backoff: Duration,
    /// What tokens cost.
    pub prices: LlmPrices,
    /// The most one directive's calls may use; once spent, the rule-based
    /// planner answers without calling the model.
    pub budget: LlmBudget,
}

impl LlmConfig {
    /// A configuration with the defaults: no key, 30 s per request, 2
    /// retries from 250 ms apart, no prices.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        LlmConfig {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            timeout: Duration::from_secs(30),
            retries: 2,
            backoff: Duration::from_millis(250),
            prices: LlmPrices::default(),
            budget: LlmBudget::UNLIMITED,
        }
    }
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .field("prices", &self.prices)
            .finish()
    }
}

/// The LLM planner, falling back to the rule-based one.
#[derive(Debug, Clone)]
pub struct LlmPlanner {
    config: LlmConfig,
    client: reqwest::Client,
    fallback: RulePlanner,
}

impl LlmPlanner {
    /// A planner for `config`.
    pub fn new(config: LlmConfig) -> Result<Self, PlannerError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| PlannerError::Unavailable(format!("HTTP client: {e}")))?;
        Ok(LlmPlanner {
            config,
            client,
            fallback: RulePlanner::new(),
        })
    }

    /// Its configuration.
    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    fn endpoint(&self) -> String {
        format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        )
    }

    /// One call: the answer's text and the tokens it used.
    async fn complete(&self, body: &Value) -> Result<(String, LlmUsage), String> {
        let mut request = self.client.post(self.endpoint()).json(body);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("the model's server answered {status}"));
        }
        let completion: Completion = response
            .json()
            .await
            .map_err(|e| format!("unreadable completion: {}", e.without_url()))?;
        let usage = completion
            .usage
            .map_or_else(LlmUsage::default, |u| LlmUsage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                cost_micro_usd: self
                    .config
                    .prices
                    .cost_micro_usd(u.prompt_tokens, u.completion_tokens),
            });
        let content = completion
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .ok_or_else(|| "the completion has no message content".to_owned())?;
        Ok((content, usage))
    }

    /// The pause before retry `attempt` (1-based): doubling, with a jitter
    /// taken from the directive's id so that replays stay reproducible and
    /// concurrent directives spread out.
    fn pause(&self, attempt: u32, request: &PlanRequest) -> Duration {
        let doubling = self
            .config
            .backoff
            .saturating_mul(1_u32 << attempt.saturating_sub(1).min(10));
        let jitter_percent = u32::from(request.directive_id.as_bytes()[15] % 25);
        doubling + doubling * jitter_percent / 100
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[async_trait]
impl Planner for LlmPlanner {
    fn name(&self) -> &str {
        LLM
    }

    async fn plan(&self, request: &PlanRequest) -> Result<PlannerAnswer, PlannerError> {
        let messages = messages(request);
        let prompt_digest = sha256_hex(messages.to_string().as_bytes());
        let body = json!({
            "model": self.config.model,
            "messages": messages,
            "temperature": 0,
            "response_format": response_format(),
        });
        let mut usage = LlmUsage::default();
        for attempt in 0..=self.config.retries {
            if !self
                .config
                .budget
                .allows_another_call(request.llm_spent.plus(usage))
            {
                tracing::warn!(directive = %request.directive_id, attempt, "the directive's model budget is spent; the rule-based planner answers");
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(self.pause(attempt, request)).await;
            }
            let (content, spent) = match self.complete(&body).await {
                Ok(answer) => answer,
                Err(error) => {
                    tracing::warn!(directive = %request.directive_id, attempt, %error, "planner model call failed");
                    continue;
                }
            };
            usage = usage.plus(spent);
            match parse_answer(&content) {
                Ok(outcome) => {
                    return Ok(PlannerAnswer {
                        outcome,
                        planner: LLM.to_owned(),
                        model: Some(self.config.model.clone()),
                        prompt_digest,
                        raw_answer: content,
                        usage: Some(usage),
                    })
                }
                Err(error) => {
                    tracing::warn!(directive = %request.directive_id, attempt, %error, "planner model gave an invalid answer");
                }
            }
        }
        tracing::warn!(directive = %request.directive_id, "planner model kept failing; the rule-based planner answers");
        let mut answer = self.fallback.answer(request);
        answer.planner = LLM_THEN_RULES.to_owned();
        answer.usage = Some(usage);
        Ok(answer)
    }
}

/// The JSON schema of an answer: `{"tasks": […]}` or `{"question": "…"}`,
/// each task one of the departments' kinds with its parameters.
pub fn answer_schema() -> Value {
    let tasks: Vec<Value> = TaskKind::ALL
        .iter()
        .map(|kind| {
            json!({
                "type": "object",
                "description": kind.describe(),
                "properties": {
                    "key": {"type": "string", "description": "unique within the plan, e.g. t1"},
                    "department": {"const": kind.department()},
                    "kind": {"const": kind.as_str()},
                    "params": kind.params_schema(),
                    "depends_on": {"type": "array", "items": {"type": "string"}, "description": "keys of tasks that must complete first"},
                },
                "required": ["key", "department", "kind", "params", "depends_on"],
                "additionalProperties": false,
            })
        })
        .collect();
    json!({
        "type": "object",
        "description": "either tasks or a question, never both",
        "properties": {
            "tasks": {"type": "array", "minItems": 1, "items": {"anyOf": tasks}},
            "question": {"type": "string", "minLength": 1},
        },
        "additionalProperties": false,
    })
}

/// The `response_format` asking for JSON that follows [`answer_schema`].
pub fn response_format() -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {"name": "agentos_plan", "strict": false, "schema": answer_schema()},
    })
}

/// The chat messages for a directive: the departments' vocabulary and the
/// schema (also in the text, for servers that ignore `response_format`),
/// then the order.
pub fn messages(request: &PlanRequest) -> Value {
    let mut kinds = String::new();
    for kind in TaskKind::ALL {
        let department = serde_json::to_value(kind.department())
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        kinds.push_str(&format!(
            "- {department} / {}: {}\n",
            kind.as_str(),
            kind.describe()
        ));
    }
    let system = format!(
        "You are the planner of AgentOS, which runs a small company's operations. Turn the CEO's \
         order into tasks for the departments, or ask one question if the order is unclear. \
         Never guess: if any part of the order is unclear, ask.\n\n\
         Departments and the kinds of task they do:\n{kinds}\n\
         Rules:\n\
         - Answer with one JSON object only, no prose: {{\"tasks\": [...]}} or {{\"question\": \"...\"}}.\n\
         - Each task has a unique key, its department, its kind, its params (only the fields \
           the schema lists; omit what the order does not say) and depends_on (keys of the tasks \
           that must complete first: a step that uses another's result, or comes \"then\").\n\
         - Dates are YYYY-MM-DD, read relative to the day the order was given; periods are \
           {{\"from\", \"to\"}} with both days included.\n\
         - Amounts are {{\"minor\": <integer minor units>, \"currency\": \"EUR\"}}: EUR 5,000 is \
           {{\"minor\": 500000, \"currency\": \"EUR\"}}.\n\n\
         The answer must follow this JSON schema:\n{}",
        answer_schema()
    );
    let mut user = format!(
        "Order: {}\nGiven on: {} ({})",
        request.text,
        request.issued_at.date_naive(),
        request.issued_at.format("%A"),
    );
    if let Some(limit) = request.spending_limit {
        user.push_str(&format!("\nSpending limit: {limit}"));
    }
    if let Some(clarification) = &request.clarification {
        user.push_str(&format!(
            "\nThe CEO's answer to your earlier question: {clarification}"
        ));
    }
    json!([
        {"role": "system", "content": system},
        {"role": "user", "content": user},
    ])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    tasks: Option<Vec<PlannedTask>>,
    question: Option<String>,
}

/// Reads a model's answer, checking it: a valid plan of valid work (its
/// parameters normalised), or a question.
pub fn parse_answer(content: &str) -> Result<PlanOutcome, PlannerError> {
    let json = strip_code_fence(content);
    let answer: Answer = serde_json::from_str(json)
        .map_err(|e| PlannerError::Invalid(format!("not an answer: {e}")))?;
    match (answer.tasks, answer.question) {
        (Some(tasks), None) => {
            let mut plan = Plan { tasks };
            plan.validate()
                .map_err(|e| PlannerError::Invalid(e.to_string()))?;
            for task in &mut plan.tasks {
                let work = check_task(task)
                    .map_err(|e| PlannerError::Invalid(format!("task {:?}: {e}", task.key)))?;
                task.params = work.params();
            }
            Ok(PlanOutcome::Plan { plan })
        }
        (None, Some(question)) if !question.trim().is_empty() => Ok(PlanOutcome::Clarify {
            question: question.trim().to_owned(),
        }),
        (Some(_), Some(_)) => Err(PlannerError::Invalid(
            "an answer has tasks or a question, not both".to_owned(),
        )),
        _ => Err(PlannerError::Invalid(
            "an answer needs tasks or a question".to_owned(),
        )),
    }
}

/// Models often wrap JSON in a Markdown code fence; the fence is not part
/// of the answer.
fn strip_code_fence(content: &str) -> &str {
    let trimmed = content.trim();
    let Some(rest) = trimmed.strip_prefix("```") else {
        return trimmed;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let mut config = LlmConfig::new("http://localhost:11434/v1", "llama3.1");
        config.api_key = Some("sk-secret-123".to_owned());
        let debug = format!("{config:?}");
        assert!(!debug.contains("sk-secret-123"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }

    #[test]
    fn cost_is_estimated_from_prices_per_thousand_tokens() {
        let prices = LlmPrices {
            prompt_per_1k_micro_usd: 150,
            completion_per_1k_micro_usd: 600,
        };
        assert_eq!(prices.cost_micro_usd(1000, 1000), 750);
        assert_eq!(prices.cost_micro_usd(1, 0), 1, "rounded up");
        assert_eq!(prices.cost_micro_usd(0, 0), 0);
        assert_eq!(
            LlmPrices {
                prompt_per_1k_micro_usd: u64::MAX,
                completion_per_1k_micro_usd: u64::MAX
            }
            .cost_micro_usd(u64::MAX, u64::MAX),
            u64::MAX
        );
    }

    #[test]
    fn answers_are_checked() {
        let good = r#"```json
        {"tasks": [{"key": "a", "department": "finance", "kind": "invoice_audit", "params": {}, "depends_on": []},
                   {"key": "b", "department": "finance", "kind": "payment_run", "params": {"selection": "approved"}, "depends_on": ["a"]}]}
        ```"#;
        assert!(matches!(parse_answer(good), Ok(PlanOutcome::Plan { .. })));
        assert!(matches!(
            parse_answer(r#"{"question": "Which month?"}"#),
            Ok(PlanOutcome::Clarify { .. })
        ));
        for bad in [
            "Sure! Here is your plan.",
            r#"{"question": "  "}"#,
            r#"{}"#,
            r#"{"tasks": []}"#,
            r#"{"tasks": [], "question": "x"}"#,
            r#"{"plan": []}"#,
            r#"{"tasks": [{"key": "a", "department": "finance", "kind": "reorder", "params": {}}]}"#,
            r#"{"tasks": [{"key": "a", "department": "finance", "kind": "payment_run", "params": {"all": true}}]}"#,
            r#"{"tasks": [{"key": "a", "department": "finance", "kind": "payment_run", "depends_on": ["a"]}]}"#,
        ] {
            assert!(parse_answer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_schema_offers_every_kind() {
        let schema = answer_schema();
        let kinds: Vec<&str> = schema["properties"]["tasks"]["items"]["anyOf"]
            .as_array()
            .expect("kinds")
            .iter()
            .filter_map(|k| k["properties"]["kind"]["const"].as_str())
            .collect();
        assert_eq!(kinds.len(), TaskKind::ALL.len());
    }
}
