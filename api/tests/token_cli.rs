//! `agentos token`: create prints the secret once, list never does, revoke
//! stops it; bad input gets a plain message and a non-zero exit.

use std::process::Output;

use api::gateway::{self, Tokens};

mod binary;
use binary::{agentos_logging, text};

/// Logs everything, so that a test can see that no secret is ever logged.
fn agentos(database_url: &str, args: &[&str]) -> Output {
    agentos_logging(database_url, args, "trace")
}

#[tokio::test]
async fn tokens_are_created_once_listed_without_secrets_and_revoked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("agentos.db").display());

    let created = agentos(
        &url,
        &["token", "create", "--role", "ceo", "--name", "alice"],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let secret = text(&created.stdout).trim().to_owned();
    assert!(
        secret.starts_with("agt_") && secret.len() == 68,
        "{secret:?}"
    );
    assert!(
        !text(&created.stderr).contains(&secret),
        "the secret goes to stdout only, even with trace logs"
    );

    let (_store, db) = gateway::connect(&url).await.expect("open");
    let tokens = Tokens::open(db).await.expect("tokens");
    let listed = tokens.list().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "alice");

    let list = agentos(&url, &["token", "list"]);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let out = text(&list.stdout);
    assert!(
        out.contains("alice") && out.contains("ceo") && out.contains("live"),
        "{out}"
    );
    assert!(!out.contains(&secret[4..20]), "{out}");

    let taken = agentos(
        &url,
        &["token", "create", "--role", "viewer", "--name", "alice"],
    );
    assert_eq!(taken.status.code(), Some(1));
    assert!(
        text(&taken.stderr).contains("already exists"),
        "{}",
        text(&taken.stderr)
    );

    let revoked = agentos(&url, &["token", "revoke", "alice"]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let out = text(&agentos(&url, &["token", "list"]).stdout);
    assert!(out.contains("revoked"), "{out}");

    let again = agentos(&url, &["token", "revoke", "alice"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("no live token"),
        "{}",
        text(&again.stderr)
    );
}

#[test]
fn bad_roles_and_names_get_a_plain_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("agentos.db").display());

    let role = agentos(
        &url,
        &["token", "create", "--role", "admin", "--name", "bob"],
    );
    assert_eq!(role.status.code(), Some(2));
    assert!(
        text(&role.stderr).contains("unknown role"),
        "{}",
        text(&role.stderr)
    );

    let name = agentos(
        &url,
        &["token", "create", "--role", "viewer", "--name", "bob smith"],
    );
    assert_eq!(name.status.code(), Some(1));
    let stderr = text(&name.stderr);
    assert!(
        stderr.contains("invalid token name") && !stderr.contains("panicked"),
        "{stderr}"
    );

    let missing = agentos(&url, &["token", "create", "--role", "viewer"]);
    assert_eq!(missing.status.code(), Some(2));
}
