//! `GET /api/v1/logs`: the activity log over HTTP, filtered by component
//! and level, role-checked, with bad filters refused.

mod support;

use api::activity::Activity;
use api::gateway::Role;
use support::{expect_problem, Kind, TestApp};
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test]
async fn recent_log_lines_are_served_by_component_and_level() {
    let activity = Activity::new();
    let subscriber = tracing_subscriber::registry().with(activity.layer());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "agents::brain", directive = "d-1", "planned");
        tracing::warn!(target: "eventstore::relay", "NATS is unreachable; retrying");
        tracing::debug!(target: "eventstore::relay", "not kept");
    });
    let served = activity.clone();
    let app = TestApp::with_state(Kind::Sqlite, move |state| state.activity = served).await;
    let operator = app.token(Role::Operator).await;

    let all = app.get_json("/api/v1/logs", &operator, 200).await;
    assert_eq!(all["components"], serde_json::json!(["brain", "relay"]));
    let messages: Vec<&str> = all["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        messages,
        ["NATS is unreachable; retrying", "planned"],
        "newest first"
    );

    let brain = app
        .get_json("/api/v1/logs?component=brain", &operator, 200)
        .await;
    assert_eq!(brain["lines"][0]["fields"]["directive"], "d-1");
    assert_eq!(brain["lines"].as_array().map(Vec::len), Some(1));
    let warnings = app
        .get_json("/api/v1/logs?level=warn", &operator, 200)
        .await;
    assert_eq!(warnings["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(warnings["lines"][0]["component"], "relay");

    for (query, field) in [
        ("level=debug", "level"),
        ("limit=0", "limit"),
        ("colour=red", "colour"),
    ] {
        let problem = expect_problem(
            app.get(&format!("/api/v1/logs?{query}"), Some(&operator))
                .await,
            400,
            "request.invalid_field",
        )
        .await;
        assert!(problem.to_string().contains(field), "{query}: {problem}");
    }
    let viewer = app.token(Role::Viewer).await;
    expect_problem(
        app.get("/api/v1/logs", Some(&viewer)).await,
        403,
        "auth.forbidden",
    )
    .await;
    expect_problem(
        app.get("/api/v1/logs", None).await,
        401,
        "auth.missing_token",
    )
    .await;
}
