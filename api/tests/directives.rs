//! The CEO's API over HTTP with the Brain and the directives read model
//! running: an order becomes a plan and tasks; the same Idempotency-Key
//! creates nothing new; a gated task waits for approval and is dispatched
//! once approved; a viewer cannot give orders; bad input is a problem.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use agents::brain::Brain;
use agents::planner::RulePlanner;
use api::gateway::Role;
use commands::processor::{ProcessorConfig, ProcessorRunner};
use domain::policy::Policy;
use eventstore::bus::store::StoreBus;
use projections::models::directives::Directives;
use projections::{ProjectionRunner, RunnerConfig};
use serde_json::{json, Value};
use support::{expect_json, expect_problem, Kind, TestApp};

async fn post(
    app: &TestApp,
    path: &str,
    token: &str,
    body: Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(&body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.expect("request")
}

/// Polls a directive until `check` holds.
async fn until(app: &TestApp, token: &str, id: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let directive = app
            .get_json(&format!("/api/v1/directives/{id}"), token, 200)
            .await;
        if check(&directive) {
            return directive;
        }
        assert!(Instant::now() < deadline, "{directive:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A command the finance agent sends within the order's story, as
/// processors do.
async fn as_finance<A: domain::Aggregate>(
    handler: &commands::CommandHandler,
    stream: String,
    command: A::Command,
    story: domain::CorrelationId,
) -> commands::Handled {
    handler
        .handle::<A>(commands::Envelope {
            stream: stream.parse().expect("stream"),
            command,
            command_id: domain::CommandId::from_uuid(uuid::Uuid::now_v7()),
            correlation_id: story,
            causation_id: None,
            actor: "agent:finance".parse().expect("actor"),
        })
        .await
        .map_err(|e| e.to_string())
        .expect("accepted")
}

fn task_status(directive: &Value, kind: &str) -> String {
    directive["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["kind"] == kind))
        .and_then(|t| t["status"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn an_order_runs_through_the_api(kind: Kind) {
    let app = TestApp::start(kind).await;
    let brain = Brain::new(
        Arc::clone(&app.store),
        Arc::new(RulePlanner::new()),
        Policy::default_for("EUR".parse().expect("valid")),
    );
    let bus = Arc::new(StoreBus::new(Arc::clone(&app.store)));
    let brain = tokio::spawn(
        ProcessorRunner::new(
            Arc::new(brain),
            bus,
            Arc::clone(&app.store),
            ProcessorConfig::default(),
        )
        .run(),
    );
    let projection = tokio::spawn(
        ProjectionRunner::new(
            app.db.clone(),
            Arc::clone(&app.store),
            Arc::new(Directives),
            RunnerConfig::default(),
        )
        .run(),
    );
    let ceo = app.token(Role::Ceo).await;
    let viewer = app.token(Role::Viewer).await;

    let order =
        json!({"text": "Audit this month's invoices and pay the approved ones up to EUR 600"});
    expect_problem(
        post(&app, "/api/v1/directives", &viewer, order.clone(), None).await,
        403,
        "auth.forbidden",
    )
    .await;
    expect_problem(
        post(
            &app,
            "/api/v1/directives",
            &ceo,
            json!({"text": "x", "colour": "red"}),
            None,
        )
        .await,
        400,
        "request.invalid_field",
    )
    .await;
    expect_problem(
        post(
            &app,
            "/api/v1/directives",
            &ceo,
            json!({"text": "   "}),
            None,
        )
        .await,
        409,
        "directive.text_empty",
    )
    .await;

    let first = expect_json(
        post(
            &app,
            "/api/v1/directives",
            &ceo,
            order.clone(),
            Some("order-1"),
        )
        .await,
        202,
    )
    .await;
    let again = expect_json(
        post(&app, "/api/v1/directives", &ceo, order, Some("order-1")).await,
        202,
    )
    .await;
    assert_eq!(
        first["directive_id"], again["directive_id"],
        "the same key, the same directive"
    );
    assert_eq!(again["duplicate"], true);
    let id = first["directive_id"].as_str().expect("an id").to_owned();
    let checkpoint = first["checkpoint"].as_str().expect("a checkpoint");

    // Read-your-writes: the directive is there at once.
    let seen = app
        .get_json(
            &format!("/api/v1/directives/{id}?min_checkpoint={checkpoint}"),
            &viewer,
            200,
        )
        .await;
    assert_eq!(seen["id"], id.as_str());

    let planned = until(&app, &viewer, &id, |d| {
        task_status(d, "invoice_audit") == "dispatched"
            && task_status(d, "payment_run") == "planned"
    })
    .await;
    assert_eq!(planned["planner"], "rules");
    assert_eq!(
        planned["plan"]["tasks"],
        json!(["invoice_audit", "payment_run"]),
        "{planned:#}"
    );
    let listed = app
        .get_json("/api/v1/directives?limit=10", &viewer, 200)
        .await;
    assert_eq!(
        listed["directives"].as_array().map(Vec::len),
        Some(1),
        "{listed:#}"
    );

    // The audit completes (as the finance agent will); the payment waits
    // for the CEO, who approves it.
    let audit = planned["tasks"][0]["id"]
        .as_str()
        .expect("task id")
        .to_owned();
    let finance = "agent:finance".parse().expect("actor");
    let handler = commands::CommandHandler::new(Arc::clone(&app.store));
    // An agent acts within the order's story, as processors do.
    let order_stream: domain::StreamId = format!("directive-{id}").parse().expect("stream");
    let story = app
        .store
        .read_stream(&order_stream, 1, eventstore::Direction::Forward, 1)
        .await
        .expect("read")[0]
        .metadata
        .correlation_id;
    for command in [
        domain::task::TaskCommand::Start {
            agent: finance,
            at: chrono::Utc::now(),
        },
        domain::task::TaskCommand::Complete {
            summary: "12 invoices audited".into(),
            at: chrono::Utc::now(),
        },
    ] {
        as_finance::<domain::task::Task>(&handler, format!("task-{audit}"), command, story).await;
    }
    until(&app, &viewer, &id, |d| {
        task_status(d, "payment_run") == "awaiting_approval"
    })
    .await;

    // The finance agent's model call for the audit is counted to finance,
    // beside nothing for the rule-based planner, which calls no model.
    let handled = as_finance::<domain::directive::Directive>(
        &handler,
        order_stream.to_string(),
        domain::directive::DirectiveCommand::RecordLlmUsage(domain::directive::RecordLlmUsage {
            task_id: audit.parse().expect("task id"),
            model: "gpt-4o-mini".to_owned(),
            purpose: "match invoice lines to receipts".to_owned(),
            usage: domain::planning::LlmUsage {
                prompt_tokens: 900,
                completion_tokens: 100,
                cost_micro_usd: 210,
            },
            by: "agent:finance".parse().expect("actor"),
            at: chrono::Utc::now(),
        }),
        story,
    )
    .await;
    let position = handled.position.expect("appended");
    let spent = app
        .get_json(
            &format!("/api/v1/directives/{id}?min_checkpoint={position}"),
            &viewer,
            200,
        )
        .await;
    assert_eq!(
        (&spent["llm_tokens"], &spent["llm_cost_micro_usd"]),
        (&json!(1000), &json!(210)),
        "{spent:#}"
    );
    let finance_usage = json!([{"caller": "finance", "calls": 1, "prompt_tokens": 900,
        "completion_tokens": 100, "cost_micro_usd": 210}]);
    assert_eq!(spent["llm_usage"], finance_usage, "{spent:#}");
    let report = app.get_json("/api/v1/llm-usage", &viewer, 200).await;
    assert_eq!(report["callers"], finance_usage, "{report:#}");
    assert_eq!(report["total"]["caller"], "all");
    assert_eq!(report["total"]["cost_micro_usd"], 210);
    expect_problem(
        app.get("/api/v1/llm-usage", None).await,
        401,
        "auth.missing_token",
    )
    .await;
    expect_problem(
        app.get("/api/v1/llm-usage?group=x", Some(&viewer)).await,
        400,
        "request.invalid_field",
    )
    .await;
    let inbox = app
        .get_json("/api/v1/approvals?status=pending", &ceo, 200)
        .await;
    let approval = inbox["approvals"][0]["id"]
        .as_str()
        .expect("a pending approval")
        .to_owned();
    let its_own = app
        .get_json(&format!("/api/v1/approvals?directive_id={id}"), &ceo, 200)
        .await;
    assert_eq!(
        its_own["approvals"][0]["id"],
        approval.as_str(),
        "{its_own}"
    );
    let other = uuid::Uuid::now_v7();
    let none = app
        .get_json(
            &format!("/api/v1/approvals?directive_id={other}"),
            &ceo,
            200,
        )
        .await;
    assert_eq!(
        none["approvals"].as_array().map(Vec::len),
        Some(0),
        "{none}"
    );
    expect_problem(
        post(
            &app,
            &format!("/api/v1/approvals/{approval}"),
            &viewer,
            json!({"decision": "approve"}),
            None,
        )
        .await,
        403,
        "auth.forbidden",
    )
    .await;
    expect_problem(
        post(
            &app,
            &format!("/api/v1/approvals/{approval}"),
            &ceo,
            json!({"decision": "maybe"}),
            None,
        )
        .await,
        422,
        "request.invalid_field",
    )
    .await;
    expect_json(
        post(
            &app,
            &format!("/api/v1/approvals/{approval}"),
            &ceo,
            json!({"decision": "approve", "reason": "ok"}),
            None,
        )
        .await,
        202,
    )
    .await;
    until(&app, &viewer, &id, |d| {
        task_status(d, "payment_run") == "dispatched"
    })
    .await;
    // The CEO's decision belongs to the order's story (its correlation).
    let first_of = |stream: String| {
        let store = Arc::clone(&app.store);
        async move {
            let stream: domain::StreamId = stream.parse().expect("stream");
            store
                .read_stream(&stream, 1, eventstore::Direction::Forward, 100)
                .await
                .expect("read")
        }
    };
    let order = first_of(format!("directive-{id}")).await;
    let decision = first_of(format!("approval-{approval}")).await;
    let granted = decision
        .iter()
        .find(|e| e.event_type == "ApprovalGranted")
        .expect("granted");
    assert_eq!(
        granted.metadata.correlation_id, order[0].metadata.correlation_id,
        "the decision carries the order's correlation"
    );

    let agents = app.get_json("/api/v1/agents", &ceo, 200).await;
    assert!(agents["processors"].is_array(), "{agents:#}");
    brain.abort();
    projection.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_runs_through_the_api_on_sqlite() {
    an_order_runs_through_the_api(Kind::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_runs_through_the_api_on_postgres() {
    an_order_runs_through_the_api(Kind::Postgres).await;
}
