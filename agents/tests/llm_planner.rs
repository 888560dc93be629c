//! The LLM planner against a local HTTP server that plays the model: it
//! counts calls, answers from a script, and records what it was sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agents::planner::llm::{LLM, LLM_THEN_RULES};
use agents::planner::rules::sha256_hex;
use agents::planner::{LlmConfig, LlmPlanner, LlmPrices, PlanRequest, Planner};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{TimeZone, Utc};
use domain::planning::{LlmBudget, LlmUsage, PlanOutcome};
use serde_json::{json, Value};
use uuid::Uuid;

/// What the fake model does on one call.
#[derive(Clone)]
enum Reply {
    /// Answers with this message content and usage.
    Content(String),
    /// Answers with an HTTP error.
    Status(StatusCode),
    /// Never answers.
    Hang,
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Reply>,
    /// Used when the script has run out.
    otherwise: Option<Reply>,
    calls: usize,
    authorizations: Vec<Option<String>>,
    bodies: Vec<Value>,
}

type Model = Arc<Mutex<Script>>;

async fn chat(State(model): State<Model>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let reply = {
        let mut script = model.lock().expect("script lock");
        script.calls += 1;
        script.authorizations.push(
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        );
        script.bodies.push(body);
        script
            .replies
            .pop_front()
            .or_else(|| script.otherwise.clone())
            .unwrap_or(Reply::Status(StatusCode::GONE))
    };
    match reply {
        Reply::Content(content) => Json(json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
        }))
        .into_response(),
        Reply::Status(status) => (status, "upstream trouble").into_response(),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

/// Starts the fake model; returns its base URL and script.
async fn fake_model(replies: Vec<Reply>, otherwise: Option<Reply>) -> (String, Model) {
    let model: Model = Arc::new(Mutex::new(Script {
        replies: replies.into(),
        otherwise,
        ..Script::default()
    }));
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state(model.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a local port");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("serve the fake model");
    });
    (format!("http://{address}/v1/"), model)
}

fn config(base_url: String) -> LlmConfig {
    LlmConfig {
        api_key: Some("sk-test-key".to_owned()),
        timeout: Duration::from_secs(5),
        retries: 2,
        backoff: Duration::from_millis(10),
        prices: LlmPrices {
            prompt_per_1k_micro_usd: 150,
            completion_per_1k_micro_usd: 600,
        },
        ..LlmConfig::new(base_url, "test-model")
    }
}

fn request(text: &str) -> PlanRequest {
    PlanRequest {
        directive_id: Uuid::from_u128(7),
        text: text.to_owned(),
        issued_at: Utc
            .with_ymd_and_hms(2026, 7, 15, 9, 0, 0)
            .single()
            .expect("valid time"),
        spending_limit: None,
        clarification: None,
        llm_spent: LlmUsage::default(),
    }
}

const GOOD: &str = r#"{"tasks": [
  {"key": "audit", "department": "finance", "kind": "invoice_audit",
   "params": {"period": {"from": "2026-07-01", "to": "2026-07-31"}}, "depends_on": []},
  {"key": "pay", "department": "finance", "kind": "payment_run",
   "params": {"selection": "approved"}, "depends_on": ["audit"]}
]}"#;

/// One call's usage as the fake model reports it, priced.
const ONE_CALL: LlmUsage = LlmUsage {
    prompt_tokens: 1000,
    completion_tokens: 200,
    cost_micro_usd: 150 + 120,
};

fn calls(model: &Model) -> usize {
    model.lock().expect("script lock").calls
}

#[tokio::test]
async fn a_good_answer_is_recorded_with_model_usage_and_cost() {
    let (url, model) = fake_model(vec![Reply::Content(GOOD.to_owned())], None).await;
    let planner = LlmPlanner::new(config(url)).expect("planner");
    let answer = planner
        .plan(&request(
            "audit this month's invoices and pay the approved ones",
        ))
        .await
        .expect("an answer");

    let PlanOutcome::Plan { plan } = &answer.outcome else {
        panic!("a plan: {answer:?}");
    };
    assert_eq!(plan.tasks.len(), 2);
    assert_eq!(plan.tasks[1].depends_on, ["audit"]);
    assert_eq!(answer.planner, LLM);
    assert_eq!(answer.model.as_deref(), Some("test-model"));
    assert_eq!(answer.usage, Some(ONE_CALL));
    assert_eq!(answer.raw_answer, GOOD);
    assert_eq!(calls(&model), 1);

    let script = model.lock().expect("script lock");
    assert_eq!(
        script.authorizations,
        [Some("Bearer sk-test-key".to_owned())]
    );
    let body = &script.bodies[0];
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["response_format"]["type"], "json_schema");
    let schema = &body["response_format"]["json_schema"]["schema"];
    assert!(schema["properties"]["tasks"].is_object(), "{schema}");
    assert!(schema["properties"]["question"].is_object(), "{schema}");
    let system = body["messages"][0]["content"]
        .as_str()
        .expect("system text");
    assert!(system.contains("payment_run") && system.contains("\"question\""));
    let user = body["messages"][1]["content"].as_str().expect("user text");
    assert!(user.contains("audit this month's invoices") && user.contains("2026-07-15"));
    // The digest is of the exact messages sent.
    assert_eq!(
        answer.prompt_digest,
        sha256_hex(body["messages"].to_string().as_bytes())
    );
}

#[tokio::test]
async fn an_invalid_answer_is_asked_again() {
    let wrong_department = r#"{"tasks": [{"key": "a", "department": "logistics", "kind": "payment_run", "params": {}, "depends_on": []}]}"#;
    let (url, model) = fake_model(
        vec![
            Reply::Content(wrong_department.to_owned()),
            Reply::Content(GOOD.to_owned()),
        ],
        None,
    )
    .await;
    let planner = LlmPlanner::new(config(url)).expect("planner");
    let answer = planner.plan(&request("pay")).await.expect("an answer");
    assert_eq!(answer.planner, LLM);
    assert!(matches!(answer.outcome, PlanOutcome::Plan { .. }));
    assert_eq!(calls(&model), 2);
    assert_eq!(
        answer.usage,
        Some(ONE_CALL.plus(ONE_CALL)),
        "both calls count"
    );
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let (url, model) = fake_model(
        vec![
            Reply::Status(StatusCode::INTERNAL_SERVER_ERROR),
            Reply::Content(r#"{"question": "Which month?"}"#.to_owned()),
        ],
        None,
    )
    .await;
    let planner = LlmPlanner::new(config(url)).expect("planner");
    let answer = planner.plan(&request("audit")).await.expect("an answer");
    assert_eq!(
        answer.outcome,
        PlanOutcome::Clarify {
            question: "Which month?".to_owned()
        }
    );
    assert_eq!(calls(&model), 2);
    assert_eq!(
        answer.usage,
        Some(ONE_CALL),
        "the failed call reported nothing"
    );
}

#[tokio::test]
async fn garbage_every_time_falls_back_to_the_rules() {
    let (url, model) = fake_model(
        Vec::new(),
        Some(Reply::Content("Sure! I'd be happy to help.".to_owned())),
    )
    .await;
    let planner = LlmPlanner::new(config(url)).expect("planner");
    let order = "audit this month's invoices and pay the approved ones, then forecast cash for Q3";
    let answer = planner.plan(&request(order)).await.expect("an answer");
    assert_eq!(answer.planner, LLM_THEN_RULES);
    assert_eq!(calls(&model), 3, "one call and two retries, no more");
    assert_eq!(
        answer.usage,
        Some(ONE_CALL.plus(ONE_CALL).plus(ONE_CALL)),
        "the tokens spent are kept"
    );
    assert_eq!(answer.model, None);
    let PlanOutcome::Plan { plan } = &answer.outcome else {
        panic!("the rules plan it: {answer:?}");
    };
    let kinds: Vec<&str> = plan.tasks.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["invoice_audit", "payment_run", "cash_flow_forecast"]
    );
}

#[tokio::test]
async fn a_spent_budget_stops_the_calls_and_the_rules_answer() {
    let (url, model) = fake_model(Vec::new(), Some(Reply::Content("not a plan".to_owned()))).await;
    // Each call costs ONE_CALL: the budget has room for two.
    let planner = LlmPlanner::new(LlmConfig {
        budget: LlmBudget {
            cost_micro_usd: Some(ONE_CALL.cost_micro_usd * 2),
            tokens: None,
        },
        retries: 5,
        ..config(url)
    })
    .expect("planner");
    let order = "forecast cash for the next 13 weeks";
    let answer = planner.plan(&request(order)).await.expect("an answer");
    assert_eq!(answer.planner, LLM_THEN_RULES);
    assert_eq!(calls(&model), 2, "no call once the budget is spent");
    assert_eq!(answer.usage, Some(ONE_CALL.plus(ONE_CALL)));

    // An earlier round of the same directive already spent it: no call at all.
    let earlier = PlanRequest {
        llm_spent: ONE_CALL.plus(ONE_CALL),
        ..request(order)
    };
    let answer = planner.plan(&earlier).await.expect("an answer");
    assert_eq!(answer.planner, LLM_THEN_RULES);
    assert_eq!(calls(&model), 2, "the model was not asked again");
    assert_eq!(answer.usage, Some(LlmUsage::default()));
    assert!(matches!(answer.outcome, PlanOutcome::Plan { .. }));
}

#[tokio::test]
async fn a_hanging_server_times_out_and_falls_back() {
    let (url, model) = fake_model(Vec::new(), Some(Reply::Hang)).await;
    let planner = LlmPlanner::new(LlmConfig {
        timeout: Duration::from_millis(200),
        retries: 1,
        ..config(url)
    })
    .expect("planner");
    let started = Instant::now();
    let answer = planner
        .plan(&request("restart the relay"))
        .await
        .expect("an answer");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "gave up in time: {took:?}");
    assert!(
        took >= Duration::from_millis(400),
        "waited for each attempt: {took:?}"
    );
    assert_eq!(answer.planner, LLM_THEN_RULES);
    assert_eq!(answer.usage, Some(LlmUsage::default()));
    assert_eq!(calls(&model), 2);
    assert!(matches!(answer.outcome, PlanOutcome::Plan { .. }));
}

#[tokio::test]
async fn without_a_key_no_authorization_is_sent() {
    let (url, model) = fake_model(vec![Reply::Content(GOOD.to_owned())], None).await;
    let planner = LlmPlanner::new(LlmConfig {
        api_key: None,
        ..config(url)
    })
    .expect("planner");
    planner.plan(&request("audit")).await.expect("an answer");
    assert_eq!(model.lock().expect("script lock").authorizations, [None]);
}

#[tokio::test]
async fn an_unreachable_server_falls_back() {
    // Bind a port, then free it: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let planner = LlmPlanner::new(LlmConfig {
        retries: 1,
        ..config(format!("http://{address}/v1"))
    })
    .expect("planner");
    let answer = planner.plan(&request("blorp")).await.expect("an answer");
    assert_eq!(answer.planner, LLM_THEN_RULES);
    assert!(matches!(answer.outcome, PlanOutcome::Clarify { .. }));
}
