//! The `agentos` binary: exit codes and messages for good and bad input.

use domain::{Actor, CorrelationId, EventId, JsonText, Metadata, NewEvent, StreamId};
use eventstore::sqlite::SqliteStore;
use eventstore::{AppendRequest, EventStore, ExpectedVersion};

mod binary;
use binary::{agentos, assert_no_panic, text};

#[test]
fn migrate_creates_the_embedded_default_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}",
        dir.path().join("nested/agentos.db").display()
    );
    let output = agentos(&url, &["migrate"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("schema up to date"),
        "{}",
        text(&output.stdout)
    );
    let again = agentos(&url, &["migrate"]);
    assert!(again.status.success(), "migrating twice is harmless");
}

#[test]
fn bad_urls_and_unreachable_databases_get_a_clear_message() {
    let output = agentos("mysql://root:hunter2@db/x", &["migrate"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("unsupported database URL") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    assert_no_panic(&output);

    let output = agentos(
        "postgres://postgres:hunter2@127.0.0.1:1/agentos",
        &["verify"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("unavailable") && !stderr.contains("hunter2"),
        "{stderr}"
    );
    assert_no_panic(&output);
}

#[test]
fn a_malformed_stream_id_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let output = agentos(&url, &["verify", "--stream", "order-not-a-uuid"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("invalid stream id"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.db");
    let url = format!("sqlite://{}", path.display());
    assert!(agentos(&url, &["migrate"]).status.success());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let store = SqliteStore::open(&path).await.expect("open");
        sqlx::query(
            "INSERT INTO agentos_schema (version, name, checksum) VALUES (99, 'future', 'x')",
        )
        .execute(store.writer())
        .await
        .expect("insert");
    });
    let output = agentos(&url, &["migrate"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("newer than this binary"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn verify_passes_an_intact_log_and_names_a_broken_link() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.db");
    let url = format!("sqlite://{}", path.display());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stream: StreamId = format!("invoice-{}", uuid::Uuid::now_v7())
        .parse()
        .expect("valid");
    rt.block_on(async {
        let store = SqliteStore::open(&path).await.expect("open");
        let events = (0..4)
            .map(|i| NewEvent {
                event_id: EventId::from_uuid(uuid::Uuid::now_v7()),
                event_type: "InvoiceAudited".to_owned(),
                schema_version: 1,
                payload: JsonText::trusted(format!(r#"{{"n":{i}}}"#)),
            })
            .collect();
        let metadata = Metadata {
            correlation_id: CorrelationId::from_uuid(uuid::Uuid::now_v7()),
            causation_id: None,
            command_id: None,
            actor: Actor::User("auditor".to_owned()),
        };
        store
            .append(AppendRequest {
                stream: stream.clone(),
                expected: ExpectedVersion::NoStream,
                events,
                metadata,
            })
            .await
            .expect("append");
    });
    let output = agentos(&url, &["verify"]);
    assert!(
        output.status.success(),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(
        text(&output.stdout).contains("intact: 4 events in 1 streams"),
        "{}",
        text(&output.stdout)
    );

    rt.block_on(async {
        let store = SqliteStore::open(&path).await.expect("open");
        sqlx::raw_sql("DROP TRIGGER events_no_update; UPDATE events SET payload = '{\"n\":9}' WHERE stream_version = 3;")
            .execute(store.writer())
            .await
            .expect("tamper");
    });
    for args in [
        &["verify"][..],
        &["verify", "--stream", stream.as_str()][..],
    ] {
        let output = agentos(&url, args);
        assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains(&format!("BROKEN {stream} breaks at version 3")),
            "{stdout}"
        );
    }
}

#[test]
fn bench_prints_figures_beside_baselines_as_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let output = agentos(
        &url,
        &[
            "bench",
            "verify",
            "--json",
            "--seconds",
            "0.2",
            "--events",
            "2000",
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON output");
    let figures = json["figures"].as_array().expect("figures");
    assert_eq!(figures.len(), 2);
    for figure in figures {
        assert!(
            figure["events_per_sec"].as_f64().is_some_and(|v| v > 0.0),
            "{figure}"
        );
        assert!(
            figure["baseline_events_per_sec"]
                .as_f64()
                .is_some_and(|v| v > 0.0),
            "{figure}"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert!(
        leftovers.is_empty(),
        "scratch files are removed: {leftovers:?}"
    );
}

#[test]
fn the_relay_needs_postgresql_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let output = agentos(&url, &["relay"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("give a postgres:// database URL"),
        "{}",
        text(&output.stderr)
    );
    assert_no_panic(&output);
}

#[test]
fn serve_refuses_a_readiness_lag_of_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let output = agentos(&url, &["serve", "--max-projection-lag-seconds", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--max-projection-lag-seconds"),
        "{}",
        text(&output.stderr)
    );
    assert_no_panic(&output);
}

/// `agentos serve`, run as an operator runs it (embedded, its own port),
/// answers `/readyz` with the lag it was given.
#[tokio::test]
async fn serve_reports_the_readiness_lag_it_was_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("agentos.db").display());
    let created = agentos(
        &url,
        &["token", "create", "--role", "operator", "--name", "ops"],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let token = text(&created.stdout).trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_agentos"))
        .args(["serve", "--listen", &listen])
        .env("AGENTOS_DATABASE_URL", &url)
        .env("AGENTOS_MAX_PROJECTION_LAG_SECONDS", "7")
        .env("AGENTOS_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("agentos serve starts");
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let report = loop {
        let answer = client
            .get(format!("http://{listen}/readyz"))
            .bearer_auth(&token)
            .send()
            .await;
        if let Ok(answer) = answer {
            let body: serde_json::Value = answer.json().await.expect("JSON");
            if body["status"] == "ready" {
                break body;
            }
        }
        if std::time::Instant::now() > deadline {
            let _ = server.kill();
            panic!("agentos serve was not ready within 30 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(report["max_projection_lag_seconds"], 7.0, "{report}");
}
