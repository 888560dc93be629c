//! The approval clock over the directives read model, on both back ends:
//! a lapsed approval is expired once, with the order's correlation; one
//! still in time is left alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use api::clock::ApprovalClock;
use chrono::Utc;
use commands::{CommandHandler, Envelope};
use domain::approval::{Approval, ApprovalCommand, RequestApproval};
use domain::{Actor, Aggregate, CommandId, CorrelationId};
use eventstore::testing::{TestPostgres, TestSqlite};
use eventstore::{Direction, EventStore};
use projections::models::directives::{get_approval, Directives};
use projections::{Db, ProjectionRunner, RunnerConfig};
use uuid::Uuid;

async fn request(handler: &CommandHandler, expires_in: chrono::Duration) -> (Uuid, CorrelationId) {
    let id = Uuid::now_v7();
    let correlation = CorrelationId::from_uuid(Uuid::now_v7());
    let now = Utc::now();
    handler
        .handle::<Approval>(Envelope {
            stream: Approval::stream(id),
            command: ApprovalCommand::Request(RequestApproval {
                task_id: Uuid::now_v7(),
                directive_id: Uuid::now_v7(),
                what: "pay invoice INV-7".to_owned(),
                why: "above the spending limit".to_owned(),
                amount: None,
                requested_by: Actor::Agent("brain".to_owned()),
                expires_at: now + expires_in,
                at: now,
            }),
            command_id: CommandId::from_uuid(Uuid::now_v7()),
            correlation_id: correlation,
            causation_id: None,
            actor: Actor::Agent("brain".to_owned()),
        })
        .await
        .expect("the request is accepted");
    (id, correlation)
}

/// The approval's status, once the read model exists and holds it.
async fn status_of(db: &Db, id: Uuid) -> Option<String> {
    get_approval(db, id).await.ok().flatten().map(|a| a.status)
}

async fn until_status(db: &Db, id: Uuid, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_of(db, id).await.as_deref() != Some(status) {
        assert!(
            Instant::now() < deadline,
            "approval {id} never became {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn lapsed_approvals_are_expired_once(store: Arc<dyn EventStore>, db: Db) {
    let runner = tokio::spawn(
        ProjectionRunner::new(
            db.clone(),
            Arc::clone(&store),
            Arc::new(Directives),
            RunnerConfig::default(),
        )
        .run(),
    );
    let handler = CommandHandler::new(Arc::clone(&store));
    let (lapsing, correlation) = request(&handler, chrono::Duration::seconds(1)).await;
    let (in_time, _) = request(&handler, chrono::Duration::days(1)).await;
    until_status(&db, lapsing, "pending").await;
    until_status(&db, in_time, "pending").await;

    let clock = ApprovalClock::new(Arc::clone(&store), db.clone());
    assert_eq!(
        clock.sweep(Utc::now()).await.expect("sweep"),
        0,
        "none lapsed yet"
    );
    let later = Utc::now() + chrono::Duration::seconds(2);
    assert_eq!(clock.sweep(later).await.expect("sweep"), 1);
    // Before the read model has caught up, a second sweep changes nothing.
    assert_eq!(clock.sweep(later).await.expect("sweep"), 0);

    let events = store
        .read_stream(&Approval::stream(lapsing), 1, Direction::Forward, 10)
        .await
        .expect("read");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["ApprovalRequested", "ApprovalExpired"]);
    let expired = &events[1];
    assert_eq!(expired.metadata.correlation_id, correlation);
    assert_eq!(
        expired.metadata.causation_id,
        Some(events[0].event_id.as_uuid())
    );
    assert_eq!(expired.metadata.actor, Actor::System("clock".to_owned()));

    until_status(&db, lapsing, "expired").await;
    assert_eq!(clock.sweep(later).await.expect("sweep"), 0);
    assert_eq!(status_of(&db, in_time).await.as_deref(), Some("pending"));
    runner.abort();
}

#[tokio::test]
async fn lapsed_approvals_are_expired_once_on_sqlite() {
    let lite = TestSqlite::new().await;
    let db = Db::sqlite(&lite.store).await.expect("read models");
    lapsed_approvals_are_expired_once(lite.shared(), db).await;
}

#[tokio::test]
async fn lapsed_approvals_are_expired_once_on_postgres() {
    let pg = TestPostgres::new().await;
    let db = Db::postgres(&pg.store);
    lapsed_approvals_are_expired_once(pg.shared(), db).await;
}
