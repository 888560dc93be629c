//! What operators and API clients read about the gateway itself: `/metrics`
//! (real figures that move), `/readyz` (the database, NATS, each
//! projection's lag), and `/openapi.json` with `/docs` (every route
//! documented; real answers fit their documented schemas).

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agents::brain::Brain;
use agents::planner::RulePlanner;
use api::gateway::{self, AppState, Role};
use chrono::Utc;
use commands::processor::{ProcessorConfig, ProcessorRunner, ProcessorState, ProcessorStatus};
use domain::policy::Policy;
use domain::Position;
use eventstore::bus::store::StoreBus;
use eventstore::testing::TestNats;
use projections::models::directives::Directives;
use projections::{ProjectionRunner, ProjectionState, ProjectionStatus, RunnerConfig};
use serde_json::{json, Value};
use support::{correlation, expect_json, expect_problem, stream, Kind, TestApp};
use tokio::sync::watch;

both!(
    metrics_need_an_operator_or_auditor_token,
    requests_are_counted_by_method_route_and_status,
    commands_and_the_events_they_append_are_counted,
    processor_projection_and_stop_figures_follow_their_status,
    a_running_projections_figures_move,
    readiness_fails_while_a_projection_lags_or_retries,
    readiness_follows_a_real_projection_runner,
    the_document_and_its_page_are_public,
    answers_fit_their_documented_schemas,
);

// ---- helpers ----

/// Scrapes `/metrics` as `token`.
async fn scrape(app: &TestApp, token: &str) -> String {
    let response = app.get("/metrics", Some(token)).await;
    assert_eq!(response.status().as_u16(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.text().await.expect("a body")
}

/// The value of the sample `series` (name and labels as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// Polls until `check` holds for a fresh scrape.
async fn until_scraped(app: &TestApp, token: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = scrape(app, token).await;
        if check(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "never held:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("an answer")
}

fn projection_status(state: ProjectionState, oldest_pending: Option<i64>) -> ProjectionStatus {
    ProjectionStatus {
        state,
        version: 1,
        active_generation: 1,
        active_version: 1,
        checkpoint: Position::new(12, 3),
        rebuilding: None,
        rebuild_checkpoint: None,
        applied: 40,
        failures: 2,
        lag_events: if oldest_pending.is_some() { 5 } else { 0 },
        oldest_pending: oldest_pending.map(|s| Utc::now() - chrono::Duration::seconds(s)),
        lag_seconds: 0.0,
        last_error: None,
    }
}

fn processor_status() -> ProcessorStatus {
    ProcessorStatus {
        state: ProcessorState::Running,
        handled: 7,
        commands: 3,
        retried: 1,
        dead_lettered: 0,
        last_position: Some(Position::new(9, 0)),
        lag_events: Some(4),
        lag_seconds: 0.5,
        last_error: None,
        halted: false,
    }
}

/// A runner of the directives projection over the app's store, its
/// status registered in `state`.
fn run_directives(state: &mut AppState) -> tokio::task::JoinHandle<()> {
    let runner = ProjectionRunner::new(
        state.db.clone(),
        Arc::clone(&state.store),
        Arc::new(Directives),
        RunnerConfig {
            batch: 100,
            max_backoff: Duration::from_millis(200),
            idle_recheck: Duration::from_millis(100),
        },
    );
    state
        .projections
        .insert("directives".to_owned(), runner.status());
    tokio::spawn(runner.run())
}

/// Polls `/readyz` until it answers `status`; the body.
async fn until_ready_is(app: &TestApp, token: &str, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = app.get("/readyz", Some(token)).await;
        let got = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if got == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {got}, not {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- metrics ----

async fn metrics_need_an_operator_or_auditor_token(kind: Kind) {
    let app = TestApp::start(kind).await;
    expect_problem(app.get("/metrics", None).await, 401, "auth.missing_token").await;
    let viewer = app.token(Role::Viewer).await;
    expect_problem(
        app.get("/metrics", Some(&viewer)).await,
        403,
        "auth.forbidden",
    )
    .await;
    let ceo = app.token(Role::Ceo).await;
    expect_problem(app.get("/metrics", Some(&ceo)).await, 403, "auth.forbidden").await;
    let operator = app.token(Role::Operator).await;
    let auditor = app.token(Role::Auditor).await;
    scrape(&app, &operator).await;
    let text = scrape(&app, &auditor).await;
    // The refused scrapes were counted too.
    assert_eq!(
        sample(
            &text,
            r#"agentos_http_requests_total{method="GET",route="/metrics",status="401"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"agentos_http_requests_total{method="GET",route="/metrics",status="403"}"#
        ),
        Some(2.0),
        "{text}"
    );
}

async fn requests_are_counted_by_method_route_and_status(kind: Kind) {
    let app = TestApp::start(kind).await;
    let operator = app.token(Role::Operator).await;
    let viewer = app.token(Role::Viewer).await;
    let s = stream("order");
    app.append(&s, &["OrderPlaced"], correlation()).await;
    for _ in 0..2 {
        app.get_json("/api/v1/events", &viewer, 200).await;
    }
    app.get_json(&format!("/api/v1/streams/{s}"), &viewer, 200)
        .await;
    let missing = stream("order");
    expect_problem(
        app.get(&format!("/api/v1/streams/{missing}"), Some(&viewer))
            .await,
        404,
        "not_found",
    )
    .await;
    expect_problem(app.get("/wp-login.php", None).await, 404, "not_found").await;
    let text = scrape(&app, &operator).await;
    for (series, value) in [
        (
            r#"agentos_http_requests_total{method="GET",route="/api/v1/events",status="200"}"#,
            2.0,
        ),
        (
            r#"agentos_http_requests_total{method="GET",route="/api/v1/streams/{stream_id}",status="200"}"#,
            1.0,
        ),
        (
            r#"agentos_http_requests_total{method="GET",route="/api/v1/streams/{stream_id}",status="404"}"#,
            1.0,
        ),
        (
            r#"agentos_http_requests_total{method="GET",route="unmatched",status="404"}"#,
            1.0,
        ),
        (
            r#"agentos_http_request_duration_seconds_count{method="GET",route="/api/v1/events"}"#,
            2.0,
        ),
        (
            r#"agentos_http_request_duration_seconds_bucket{method="GET",route="/api/v1/events",le="+Inf"}"#,
            2.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series}\n{text}");
    }
    assert!(
        !text.contains("wp-login"),
        "unmatched paths are not labels: {text}"
    );
    assert!(text.contains("# TYPE agentos_http_request_duration_seconds histogram"));
    // Counters only grow: one more request, one more in the count.
    app.get_json("/api/v1/events", &viewer, 200).await;
    let text = scrape(&app, &operator).await;
    assert_eq!(
        sample(
            &text,
            r#"agentos_http_requests_total{method="GET",route="/api/v1/events",status="200"}"#
        ),
        Some(3.0),
        "{text}"
    );
}

async fn commands_and_the_events_they_append_are_counted(kind: Kind) {
    let app = TestApp::start(kind).await;
    let ceo = app.token(Role::Ceo).await;
    let auditor = app.token(Role::Auditor).await;
    let order = json!({"text": "Order 20 boxes of paper for the Lyon office"});
    let send = |key: &'static str| {
        app.client
            .post(format!("{}/api/v1/directives", app.base))
            .bearer_auth(&ceo)
            .header("Idempotency-Key", key)
            .json(&order)
            .send()
    };
    expect_json(send("paper-1").await.expect("an answer"), 202).await;
    let again = expect_json(send("paper-1").await.expect("an answer"), 202).await;
    assert_eq!(again["duplicate"], true, "{again}");
    expect_problem(
        post(&app, "/api/v1/directives", &ceo, json!({"text": "  "})).await,
        409,
        "directive.text_empty",
    )
    .await;
    let text = scrape(&app, &auditor).await;
    for (series, value) in [
        (
            r#"agentos_commands_total{aggregate="directive",outcome="accepted"}"#,
            1.0,
        ),
        (
            r#"agentos_commands_total{aggregate="directive",outcome="duplicate"}"#,
            1.0,
        ),
        (
            r#"agentos_commands_total{aggregate="directive",outcome="rejected"}"#,
            1.0,
        ),
        (
            r#"agentos_events_appended_total{aggregate="directive"}"#,
            1.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series}\n{text}");
    }
}

async fn processor_projection_and_stop_figures_follow_their_status(kind: Kind) {
    let (processor_tx, processor_rx) = watch::channel(processor_status());
    let (projection_tx, projection_rx) =
        watch::channel(projection_status(ProjectionState::Live, None));
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = TestApp::with_state(kind, |state| {
        state.processors.insert("brain".to_owned(), processor_rx);
        // A name that needs escaping in a label value.
        state
            .projections
            .insert("odd \"name\"\\x".to_owned(), projection_rx);
        state.stop = Some(stop_rx);
    })
    .await;
    let operator = app.token(Role::Operator).await;
    let text = scrape(&app, &operator).await;
    let odd = r#"projection="odd \"name\"\\x""#;
    for (series, value) in [
        (
            r#"agentos_processor_handled_total{processor="brain"}"#.to_owned(),
            7.0,
        ),
        (
            r#"agentos_processor_retried_total{processor="brain"}"#.to_owned(),
            1.0,
        ),
        (
            r#"agentos_processor_dead_letters_total{processor="brain"}"#.to_owned(),
            0.0,
        ),
        (
            r#"agentos_processor_lag_events{processor="brain"}"#.to_owned(),
            4.0,
        ),
        (
            r#"agentos_processor_lag_seconds{processor="brain"}"#.to_owned(),
            0.5,
        ),
        (
            r#"agentos_processor_state{processor="brain",state="running"}"#.to_owned(),
            1.0,
        ),
        (format!("agentos_projection_applied_total{{{odd}}}"), 40.0),
        (format!("agentos_projection_failures_total{{{odd}}}"), 2.0),
        (format!("agentos_projection_lag_events{{{odd}}}"), 0.0),
        (format!("agentos_projection_lag_seconds{{{odd}}}"), 0.0),
        (
            format!("agentos_projection_state{{{odd},state=\"live\"}}"),
            1.0,
        ),
        ("agentos_stop_engaged".to_owned(), 0.0),
    ] {
        assert_eq!(sample(&text, &series), Some(value), "{series}\n{text}");
    }
    assert_eq!(
        sample(&text, "agentos_nats_connected"),
        None,
        "no NATS, no sample"
    );

    processor_tx.send_modify(|s| {
        s.handled = 9;
        s.dead_lettered = 1;
        s.halted = true;
    });
    projection_tx.send_replace(projection_status(ProjectionState::Retrying, Some(90)));
    stop_tx.send_replace(true);
    let text = scrape(&app, &operator).await;
    assert_eq!(
        sample(
            &text,
            r#"agentos_processor_handled_total{processor="brain"}"#
        ),
        Some(9.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"agentos_processor_dead_letters_total{processor="brain"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"agentos_processor_state{processor="brain",state="halted"}"#
        ),
        Some(1.0)
    );
    let lag = sample(&text, &format!("agentos_projection_lag_seconds{{{odd}}}"))
        .expect("the projection's lag");
    assert!(lag >= 90.0, "{text}");
    assert_eq!(
        sample(
            &text,
            &format!("agentos_projection_state{{{odd},state=\"retrying\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(sample(&text, "agentos_stop_engaged"), Some(1.0));

    // A runner that ended reads as stopped.
    drop(processor_tx);
    let text = scrape(&app, &operator).await;
    assert_eq!(
        sample(
            &text,
            r#"agentos_processor_state{processor="brain",state="stopped"}"#
        ),
        Some(1.0),
        "{text}"
    );
}

async fn a_running_projections_figures_move(kind: Kind) {
    let mut runner = None;
    let app = TestApp::with_state(kind, |state| runner = Some(run_directives(state))).await;
    let ceo = app.token(Role::Ceo).await;
    let operator = app.token(Role::Operator).await;
    let applied = r#"agentos_projection_applied_total{projection="directives"}"#;
    until_scraped(&app, &operator, |text| {
        text.contains(r#"agentos_projection_state{projection="directives",state="live"}"#)
    })
    .await;
    let before = sample(&scrape(&app, &operator).await, applied).unwrap_or(0.0);
    for text in ["Order 5 chairs", "Order 6 desks"] {
        expect_json(
            post(&app, "/api/v1/directives", &ceo, json!({ "text": text })).await,
            202,
        )
        .await;
    }
    until_scraped(&app, &operator, |text| {
        sample(text, applied).is_some_and(|n| n >= before + 2.0)
    })
    .await;
    if let Some(runner) = runner {
        runner.abort();
    }
}

// ---- readiness ----

async fn readiness_fails_while_a_projection_lags_or_retries(kind: Kind) {
    let (tx, rx) = watch::channel(projection_status(ProjectionState::Live, None));
    let (tx2, rx2) = watch::channel(projection_status(ProjectionState::CatchingUp, Some(60)));
    let app = TestApp::with_state(kind, |state| {
        state.projections.insert("directives".to_owned(), rx);
    })
    .await;
    let operator = app.token(Role::Operator).await;
    let body = app.get_json("/readyz", &operator, 200).await;
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["nats"], "not_used");
    assert_eq!(body["max_projection_lag_seconds"], 30.0);
    let directives = &body["projections"]["directives"];
    assert_eq!(directives["ready"], true, "{body}");
    assert_eq!(directives["state"], "live");
    assert_eq!(directives["lag_seconds"], 0.0);
    assert_eq!(directives["checkpoint"], "12:3");

    // Beyond the limit: 503, each projection's lag in the problem.
    tx.send_replace(projection_status(ProjectionState::CatchingUp, Some(60)));
    let problem = expect_problem(app.get("/readyz", Some(&operator)).await, 503, "not_ready").await;
    let directives = &problem["checks"]["projections"]["directives"];
    assert_eq!(problem["checks"]["status"], "not_ready", "{problem}");
    assert_eq!(directives["ready"], false, "{problem}");
    assert!(
        directives["lag_seconds"].as_f64().unwrap_or_default() >= 60.0,
        "{problem}"
    );
    assert_eq!(directives["lag_events"], 5);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("directives"),
        "{problem}"
    );

    // Retrying after a failure: 503 whatever the lag.
    tx.send_replace(projection_status(ProjectionState::Retrying, None));
    let problem = expect_problem(app.get("/readyz", Some(&operator)).await, 503, "not_ready").await;
    assert_eq!(
        problem["checks"]["projections"]["directives"]["state"],
        "retrying"
    );

    // Caught up again: ready.
    tx.send_replace(projection_status(ProjectionState::Live, None));
    app.get_json("/readyz", &operator, 200).await;

    // The limit is the state's: a process allowing 120 s is ready at 60 s.
    let lenient = TestApp::with_state(kind, |state| {
        state.projections.insert("event_log".to_owned(), rx2);
        state.max_projection_lag = Duration::from_secs(120);
    })
    .await;
    let operator = lenient.token(Role::Operator).await;
    let body = lenient.get_json("/readyz", &operator, 200).await;
    assert_eq!(body["max_projection_lag_seconds"], 120.0);
    assert!(
        body["projections"]["event_log"]["lag_seconds"]
            .as_f64()
            .unwrap_or_default()
            >= 60.0,
        "{body}"
    );
    drop(tx2);
    expect_problem(
        lenient.get("/readyz", Some(&operator)).await,
        503,
        "not_ready",
    )
    .await;
}

async fn readiness_follows_a_real_projection_runner(kind: Kind) {
    let mut runner = None;
    let app = TestApp::with_state(kind, |state| runner = Some(run_directives(state))).await;
    let auditor = app.token(Role::Auditor).await;
    let body = until_ready_is(&app, &auditor, 200).await;
    assert_eq!(body["projections"]["directives"]["ready"], true, "{body}");
    let runner = runner.expect("the runner");
    runner.abort();
    let _ = runner.await;
    let problem = until_ready_is(&app, &auditor, 503).await;
    assert_eq!(problem["code"], "not_ready");
    assert_eq!(
        problem["checks"]["projections"]["directives"]["state"], "stopped",
        "{problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_the_nats_connection() {
    let mut nats = TestNats::start().await;
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .connect(&nats.url)
        .await
        .expect("connect to NATS");
    let connected = client.clone();
    let app = TestApp::with_state(Kind::Sqlite, |state| state.nats = Some(connected)).await;
    let operator = app.token(Role::Operator).await;
    let body = until_ready_is(&app, &operator, 200).await;
    assert_eq!(body["nats"], "connected", "{body}");
    let text = scrape(&app, &operator).await;
    assert_eq!(sample(&text, "agentos_nats_connected"), Some(1.0), "{text}");

    nats.kill();
    let problem = until_ready_is(&app, &operator, 503).await;
    assert_eq!(problem["code"], "not_ready", "{problem}");
    assert_ne!(problem["checks"]["nats"], "connected", "{problem}");
    assert_eq!(problem["checks"]["database"], "ok", "{problem}");
    let text = scrape(&app, &operator).await;
    assert_eq!(sample(&text, "agentos_nats_connected"), Some(0.0), "{text}");

    nats.restart().await;
    let body = until_ready_is(&app, &operator, 200).await;
    assert_eq!(body["nats"], "connected", "{body}");
    drop(client);
}

// ---- the OpenAPI document ----

/// Every (path, method) the router serves, read from its debug form (axum
/// offers no other way to list routes): `paths: {RouteId(n): "/path"}`
/// and each route's `allow_header: Bytes(b"GET,HEAD")`, before the
/// `fallback_router`. Should axum change that form, this fails loudly.
fn served_operations() -> BTreeSet<(String, String)> {
    let text = format!("{:?}", gateway::routes());
    // The fallback router's routes are axum's own.
    let (text, _) = text
        .split_once("fallback_router:")
        .unwrap_or_else(|| panic!("the router's debug form changed: {text}"));
    let mut paths = HashMap::new();
    let mut methods = HashMap::new();
    for chunk in text.split("RouteId(").skip(1) {
        let Some((id, rest)) = chunk.split_once(')') else {
            continue;
        };
        if let Some(path) = rest.strip_prefix(": \"") {
            if let Some(path) = path.split('"').next() {
                paths.insert(id.to_owned(), path.to_owned());
            }
        } else if rest.starts_with(": MethodRouter(") {
            let allowed = rest
                .split("allow_header: Bytes(b\"")
                .nth(1)
                .and_then(|a| a.split('"').next())
                .unwrap_or_else(|| panic!("no allow header in route {id}: {rest}"));
            methods.insert(id.to_owned(), allowed.to_owned());
        }
    }
    assert!(
        paths.len() >= 15,
        "the router's debug form changed? found {paths:?} in {text}"
    );
    let mut served = BTreeSet::new();
    for (id, path) in paths {
        let allowed = methods
            .get(&id)
            .unwrap_or_else(|| panic!("no methods for {path}"));
        for method in allowed.split(',').filter(|m| *m != "HEAD") {
            served.insert((path.clone(), method.to_lowercase()));
        }
    }
    served
}

#[test]
fn the_document_covers_every_route() {
    let document = serde_json::to_value(gateway::openapi()).expect("the document as JSON");
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            if ["parameters", "summary", "description", "servers"].contains(&method.as_str()) {
                continue;
            }
            documented.insert((path.clone(), method.clone()));
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has no summary"
            );
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|status| status.starts_with('2')),
                "{method} {path} documents no success"
            );
            assert!(
                responses.contains_key("default"),
                "{method} {path} documents no problem"
            );
            let public = operation["security"]
                .as_array()
                .is_some_and(|s| s.is_empty());
            if !public {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path}: 401 missing"
                );
            }
            let described = operation["description"].as_str().unwrap_or_default();
            assert!(
                public || described.contains("Roles:"),
                "{method} {path} does not say which roles may call it"
            );
        }
    }
    let served = served_operations();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes without documentation: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "documented but not served: {unserved:?}"
    );
    for public in ["/healthz", "/openapi.json", "/docs"] {
        assert_eq!(
            document["paths"][public]["get"]["security"],
            json!([]),
            "{public} is public"
        );
    }
}

async fn the_document_and_its_page_are_public(kind: Kind) {
    let app = TestApp::start(kind).await;
    let response = app.get("/openapi.json", None).await;
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let document = expect_json(response, 200).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(document["security"], json!([{ "bearer": [] }]));
    let problem = &document["components"]["schemas"]["Problem"];
    for field in ["type", "title", "status", "detail", "code"] {
        assert!(
            problem["required"]
                .as_array()
                .is_some_and(|r| r.contains(&json!(field))),
            "{problem}"
        );
    }
    assert_eq!(
        document["components"]["responses"]["Unauthorized"]["content"]["application/problem+json"]
            ["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    assert_eq!(
        document,
        serde_json::to_value(gateway::openapi()).expect("the document")
    );

    let page = app.get("/docs", None).await;
    assert_eq!(page.status().as_u16(), 200);
    let header = |name: &str| {
        page.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"));
    let policy = header("content-security-policy");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    let html = page.text().await.expect("the page");
    assert!(html.contains("openapi.json"), "the page loads the document");
    for outside in ["src=\"http", "href=\"http", "@import", "<link", "//cdn"] {
        assert!(!html.contains(outside), "the page loads {outside}");
    }
}

/// What is wrong with `value` as an instance of `schema` (a subset of
/// JSON Schema: `$ref`, `allOf`, `oneOf`/`anyOf`, `enum`, `type`,
/// `properties`, `required`, `additionalProperties`, `items`). Objects
/// whose schema lists properties may hold no others.
fn mismatches(document: &Value, schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        let target = &document["components"]["schemas"][name];
        assert!(!target.is_null(), "a dangling reference {reference}");
        return mismatches(document, target, value, at, out);
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = json!({ "type": "object", "properties": {}, "required": [] });
        for part in parts {
            let mut part = part.clone();
            while let Some(reference) = part["$ref"].as_str() {
                let name = reference.trim_start_matches("#/components/schemas/");
                part = document["components"]["schemas"][name].clone();
            }
            if let (Some(props), Some(into)) = (
                part["properties"].as_object(),
                merged["properties"].as_object_mut(),
            ) {
                into.extend(props.clone());
            }
            if let (Some(required), Some(into)) = (
                part["required"].as_array(),
                merged["required"].as_array_mut(),
            ) {
                into.extend(required.clone());
            }
        }
        return mismatches(document, &merged, value, at, out);
    }
    if let Some(options) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        let fits = options.iter().any(|option| {
            let mut found = Vec::new();
            mismatches(document, option, value, at, &mut found);
            found.is_empty()
        });
        if !fits {
            out.push(format!("{at}: {value} fits none of {schema}"));
        }
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            out.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
        return;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let fits_type = |t: &str| match t {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    };
    if !types.is_empty() && !types.iter().any(|t| fits_type(t)) {
        out.push(format!("{at}: {value} is not {types:?}"));
        return;
    }
    if let Some(object) = value.as_object() {
        let properties = schema["properties"].as_object();
        for required in schema["required"].as_array().into_iter().flatten() {
            if let Some(name) = required.as_str() {
                if !object.contains_key(name) {
                    out.push(format!("{at}: `{name}` is required but missing"));
                }
            }
        }
        for (name, field) in object {
            let place = format!("{at}.{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(declared) => mismatches(document, declared, field, &place, out),
                None if schema["additionalProperties"].is_object() => mismatches(
                    document,
                    &schema["additionalProperties"],
                    field,
                    &place,
                    out,
                ),
                None if properties.is_some() => {
                    out.push(format!("{place} is sent but not documented"));
                }
                None => {}
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            mismatches(document, &schema["items"], item, &format!("{at}[{i}]"), out);
        }
    }
}

/// Checks that `body`, answered to `method path` with `status`, fits the
/// document's schema for it.
fn assert_documented(document: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let operation = &document["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let responses = &operation["responses"];
    let mut response = responses
        .get(status.to_string())
        .unwrap_or(&responses["default"])
        .clone();
    while let Some(reference) = response["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/responses/");
        response = document["components"]["responses"][name].clone();
    }
    let content = response["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} {status}: no content documented"));
    let (_, media) = content.iter().next().expect("a media type");
    let mut found = Vec::new();
    mismatches(document, &media["schema"], body, "body", &mut found);
    assert!(
        found.is_empty(),
        "{method} {path} {status} does not fit its schema:\n{}\n{body:#}",
        found.join("\n")
    );
}

async fn answers_fit_their_documented_schemas(kind: Kind) {
    let (processor_tx, processor_rx) = watch::channel(processor_status());
    let (projection_tx, projection_rx) =
        watch::channel(projection_status(ProjectionState::CatchingUp, Some(3)));
    let mut directives = None;
    let mut brain_task = None;
    let app = TestApp::with_state(kind, |state| {
        directives = Some(run_directives(state));
        let brain = Brain::new(
            Arc::clone(&state.store),
            Arc::new(RulePlanner::new()),
            Policy::default_for("EUR".parse().expect("a currency")),
        );
        let bus = Arc::new(StoreBus::new(Arc::clone(&state.store)));
        brain_task = Some(tokio::spawn(
            ProcessorRunner::new(
                Arc::new(brain),
                bus,
                Arc::clone(&state.store),
                ProcessorConfig::default(),
            )
            .run(),
        ));
        state.processors.insert("brain".to_owned(), processor_rx);
        state
            .projections
            .insert("event_log_copy".to_owned(), projection_rx);
    })
    .await;
    let document = serde_json::to_value(gateway::openapi()).expect("the document");
    let ceo = app.token(Role::Ceo).await;
    let auditor = app.token(Role::Auditor).await;

    let order = json!({
        "text": "Audit this month's invoices and pay the approved ones up to EUR 600",
        "priority": "high",
        "spending_limit": { "minor": 60000, "currency": "EUR" },
    });
    let accepted = expect_json(post(&app, "/api/v1/directives", &ceo, order).await, 202).await;
    assert_documented(&document, "post", "/api/v1/directives", 202, &accepted);
    let id = accepted["directive_id"].as_str().expect("an id").to_owned();
    let checkpoint = accepted["checkpoint"].as_str().expect("a checkpoint");

    // Wait until the plan's tasks are in the read model.
    let deadline = Instant::now() + Duration::from_secs(20);
    let detail = loop {
        let response = app
            .get(
                &format!("/api/v1/directives/{id}?min_checkpoint={checkpoint}"),
                Some(&ceo),
            )
            .await;
        let status = response.status().as_u16();
        let detail: Value = response.json().await.unwrap_or(Value::Null);
        if status == 200 && detail["tasks"].as_array().is_some_and(|t| !t.is_empty()) {
            break detail;
        }
        assert!(Instant::now() < deadline, "never planned: {detail}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_documented(&document, "get", "/api/v1/directives/{id}", 200, &detail);
    let answers: BTreeMap<&str, Value> = BTreeMap::from([
        (
            "/api/v1/directives",
            app.get_json(
                &format!("/api/v1/directives?min_checkpoint={checkpoint}"),
                &ceo,
                200,
            )
            .await,
        ),
        (
            "/api/v1/tasks",
            app.get_json("/api/v1/tasks", &ceo, 200).await,
        ),
        (
            "/api/v1/approvals",
            app.get_json("/api/v1/approvals", &ceo, 200).await,
        ),
        (
            "/api/v1/agents",
            app.get_json("/api/v1/agents", &ceo, 200).await,
        ),
        (
            "/api/v1/events",
            app.get_json(
                &format!("/api/v1/events?min_checkpoint={checkpoint}&limit=3"),
                &auditor,
                200,
            )
            .await,
        ),
        (
            "/api/v1/audit/verify",
            app.get_json("/api/v1/audit/verify", &auditor, 200).await,
        ),
        ("/healthz", app.get_json("/healthz", &auditor, 200).await),
    ]);
    for (path, body) in &answers {
        assert_documented(&document, "get", path, 200, body);
    }
    assert!(
        answers["/api/v1/events"]["events"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "events to check"
    );
    let history = app
        .get_json(&format!("/api/v1/streams/directive-{id}"), &auditor, 200)
        .await;
    assert_documented(
        &document,
        "get",
        "/api/v1/streams/{stream_id}",
        200,
        &history,
    );
    let ready = until_ready_is(&app, &auditor, 200).await;
    assert_documented(&document, "get", "/readyz", 200, &ready);

    // Problems, including the readiness problem with its checks.
    let problem = expect_problem(
        app.get("/api/v1/audit/verify", Some(&ceo.replace("agt_", "agt_0")))
            .await,
        401,
        "auth.malformed_token",
    )
    .await;
    assert_documented(&document, "get", "/api/v1/audit/verify", 401, &problem);
    let problem = expect_problem(
        post(
            &app,
            "/api/v1/directives",
            &ceo,
            json!({"text": "x", "colour": "red"}),
        )
        .await,
        400,
        "request.invalid_field",
    )
    .await;
    assert_documented(&document, "post", "/api/v1/directives", 400, &problem);
    drop(projection_tx);
    let problem = until_ready_is(&app, &auditor, 503).await;
    assert_documented(&document, "get", "/readyz", 503, &problem);

    for task in [directives, brain_task].into_iter().flatten() {
        task.abort();
    }
    drop(processor_tx);
}
