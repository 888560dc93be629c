//! `agentos replay` and `agentos audit`: what an operator and an auditor
//! run, through the binary, on a real log.

use std::path::Path;
use std::sync::Arc;

use commands::{CommandHandler, Envelope};
use domain::directive::{Directive, DirectiveCommand, IssueDirective, Priority};
use domain::{Actor, Aggregate, CommandId, CorrelationId};
use eventstore::sqlite::SqliteStore;
use eventstore::EventStore;
use projections::models::directives::get_directive;
use projections::Db;

mod binary;
use binary::{agentos, text};

/// Gives `count` orders, each its own correlation; their ids.
async fn orders(path: &Path, count: usize) -> Vec<(uuid::Uuid, CorrelationId)> {
    let store: Arc<dyn EventStore> = Arc::new(SqliteStore::open(path).await.expect("open"));
    let handler = CommandHandler::new(store);
    let mut given = Vec::new();
    for n in 0..count {
        let id = uuid::Uuid::now_v7();
        let correlation = CorrelationId::from_uuid(uuid::Uuid::now_v7());
        let ceo = Actor::User("ceo".to_owned());
        handler
            .handle::<Directive>(Envelope {
                stream: Directive::stream(id),
                command: DirectiveCommand::Issue(IssueDirective {
                    text: format!("Forecast cash for the next {} weeks", 4 + n),
                    priority: Priority::Normal,
                    deadline: None,
                    spending_limit: None,
                    issued_by: ceo.clone(),
                    issued_at: chrono::Utc::now(),
                }),
                command_id: CommandId::from_uuid(uuid::Uuid::now_v7()),
                correlation_id: correlation,
                causation_id: None,
                actor: ceo,
            })
            .await
            .expect("the order is accepted");
        given.push((id, correlation));
    }
    given
}

#[test]
fn replay_rebuilds_a_read_model_into_a_new_generation_with_the_same_content() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.db");
    let url = format!("sqlite://{}", path.display());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let given = rt.block_on(orders(&path, 3));

    let first = agentos(&url, &["replay", "directives"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("replayed directives: generation 1 ")
            && text(&first.stdout).contains("after 3 events"),
        "{}",
        text(&first.stdout)
    );
    let read = |id| {
        rt.block_on(async {
            let store = SqliteStore::open(&path).await.expect("open");
            get_directive(&Db::sqlite(&store).await.expect("read models"), id)
                .await
                .expect("query")
                .map(|d| format!("{d:?}"))
        })
    };
    let before: Vec<_> = given.iter().map(|(id, _)| read(*id)).collect();
    assert!(before.iter().all(Option::is_some), "{before:?}");

    let second = agentos(&url, &["replay", "directives"]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains("replayed directives: generation 2 "),
        "a new generation was built and switched in: {}",
        text(&second.stdout)
    );
    let after: Vec<_> = given.iter().map(|(id, _)| read(*id)).collect();
    assert_eq!(before, after, "the rebuilt model holds the same");

    let unknown = agentos(&url, &["replay", "nope"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown.stderr).contains("no projection named \"nope\"; known: directives"),
        "{}",
        text(&unknown.stderr)
    );
}

#[test]
fn audit_tells_one_orders_story_and_verifies_its_chains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.db");
    let url = format!("sqlite://{}", path.display());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let given = rt.block_on(orders(&path, 2));
    let (id, correlation) = given[0];
    let correlation = correlation.to_string();

    let output = agentos(&url, &["audit", "--correlation-id", &correlation]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(&format!("the story of {correlation}: 1 events"))
            && stdout.contains(&format!("directive-{id} v1  DirectiveIssued  by user:ceo"))
            && stdout.contains("Forecast cash for the next 4 weeks")
            && !stdout.contains("next 5 weeks")
            && stdout.contains("intact: the 1 streams of this order verify"),
        "{stdout}"
    );

    rt.block_on(async {
        let store = SqliteStore::open(&path).await.expect("open");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP TRIGGER events_no_update; \
             UPDATE events SET payload = '{{}}' WHERE stream_id = 'directive-{id}'"
        )))
        .execute(store.writer())
        .await
        .expect("tamper");
    });
    let output = agentos(&url, &["audit", "--correlation-id", &correlation]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains(&format!("BROKEN directive-{id} breaks at version 1")),
        "{}",
        text(&output.stdout)
    );

    let nobody = uuid::Uuid::now_v7().to_string();
    let output = agentos(&url, &["audit", "--correlation-id", &nobody]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("no event carries correlation id"),
        "{}",
        text(&output.stderr)
    );
    let output = agentos(&url, &["audit", "--correlation-id", "not-a-uuid"]);
    assert_eq!(output.status.code(), Some(2), "a usage error");
}
