//! The command handler against both back ends, with the Directive model.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use commands::{CommandHandler, Envelope, HandleError};
use domain::directive::{CancelDirective, Directive, DirectiveCommand, IssueDirective, Priority};
use domain::{Actor, Aggregate, Category, CommandId, CorrelationId, Rejection, StreamId};
use eventstore::testing::{TestPostgres, TestSqlite};
use eventstore::{Direction, EventStore};
use uuid::Uuid;

fn ceo() -> Actor {
    Actor::User("ceo".to_owned())
}

fn directive() -> StreamId {
    StreamId::new(
        &Category::new(Directive::CATEGORY).expect("valid"),
        Uuid::now_v7(),
    )
}

fn envelope(stream: &StreamId, command: DirectiveCommand) -> Envelope<DirectiveCommand> {
    Envelope {
        stream: stream.clone(),
        command,
        command_id: CommandId::from_uuid(Uuid::now_v7()),
        correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
        causation_id: None,
        actor: ceo(),
    }
}

fn issue() -> DirectiveCommand {
    let at = Utc
        .with_ymd_and_hms(2026, 11, 25, 9, 0, 0)
        .single()
        .expect("valid");
    DirectiveCommand::Issue(IssueDirective {
        text: "Reorder what is running low".to_owned(),
        priority: Priority::Normal,
        deadline: None,
        spending_limit: None,
        issued_by: ceo(),
        issued_at: at,
    })
}

fn cancel(reason: &str) -> DirectiveCommand {
    DirectiveCommand::Cancel(CancelDirective {
        reason: reason.to_owned(),
        cancelled_by: ceo(),
        cancelled_at: Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .single()
            .expect("valid"),
    })
}

async fn commands_decide_append_and_carry_their_ids(store: Arc<dyn EventStore>) {
    let handler = CommandHandler::new(store.clone());
    let s = directive();
    let mut first = envelope(&s, issue());
    first.causation_id = Some(Uuid::now_v7());
    let handled = handler
        .handle::<Directive>(first.clone())
        .await
        .expect("issue");
    assert_eq!(
        (handled.version, handled.events, handled.duplicate),
        (1, 1, false)
    );
    let again = handler
        .handle::<Directive>(first.clone())
        .await
        .expect("same command again");
    assert!(again.duplicate);
    assert_eq!((again.version, again.position), (1, handled.position));
    let recorded = store
        .read_stream(&s, 1, Direction::Forward, 10)
        .await
        .expect("read");
    assert_eq!(recorded.len(), 1, "the duplicate appended nothing");
    let metadata = &recorded[0].metadata;
    assert_eq!(metadata.correlation_id, first.correlation_id);
    assert_eq!(metadata.causation_id, first.causation_id);
    assert_eq!(metadata.command_id, Some(first.command_id));
    assert_eq!(recorded[0].event_type, "DirectiveIssued");

    // The same id for a command the other stream would accept: the append
    // finds the id taken and nothing is written there.
    let elsewhere = directive();
    let mut reused = envelope(&elsewhere, issue());
    reused.command_id = first.command_id;
    match handler.handle::<Directive>(reused).await {
        Err(HandleError::Store(eventstore::StoreError::CommandIdReused {
            first_stream, ..
        })) => {
            assert_eq!(first_stream, s)
        }
        other => panic!("expected the id refused as reused, got {other:?}"),
    }
    let written = store
        .read_stream(&elsewhere, 1, Direction::Forward, 10)
        .await
        .expect("read");
    assert!(written.is_empty(), "{written:?}");

    match handler.handle::<Directive>(envelope(&s, issue())).await {
        Err(HandleError::Rejected(r)) => assert_eq!(r.code(), "directive.already_issued"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let wrong = StreamId::new(&Category::new("invoice").expect("valid"), Uuid::now_v7());
    assert!(matches!(
        handler.handle::<Directive>(envelope(&wrong, issue())).await,
        Err(HandleError::WrongCategory { .. })
    ));
}

async fn concurrent_commands_are_decided_on_fresh_state(store: Arc<dyn EventStore>) {
    let handler = CommandHandler::new(store.clone());
    let s = directive();
    handler
        .handle::<Directive>(envelope(&s, issue()))
        .await
        .expect("issue");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let (handler, s) = (handler.clone(), s.clone());
        tasks.spawn(async move {
            handler
                .handle::<Directive>(envelope(&s, cancel(&format!("reason {i}"))))
                .await
        });
    }
    let (mut cancelled, mut refused) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Ok(_) => cancelled += 1,
            Err(HandleError::Rejected(r)) if r.code() == "directive.already_closed" => refused += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(
        (cancelled, refused),
        (1, 7),
        "exactly one cancellation wins"
    );
    let (state, version) = handler.load::<Directive>(&s).await.expect("load");
    assert_eq!(version, 2);
    assert_eq!(state.status, domain::directive::DirectiveStatus::Cancelled);
}

fn intervention(text: &str) -> domain::directive::Intervention {
    domain::directive::Intervention {
        text: text.to_owned(),
        by: ceo(),
        at: Utc::now(),
    }
}

/// A handler decides on the state it appended last, but never trusts it
/// alone: another writer's events make it decide again on the stream, both
/// where the remembered state would accept the command and where it would
/// refuse it.
async fn a_remembered_state_yields_to_another_writer(store: Arc<dyn EventStore>) {
    let (ours, theirs) = (
        CommandHandler::new(store.clone()),
        CommandHandler::new(store.clone()),
    );
    let s = directive();
    ours.handle::<Directive>(envelope(&s, issue()))
        .await
        .expect("issue");
    // Ours remembers it running; another pauses it.
    theirs
        .handle::<Directive>(envelope(&s, DirectiveCommand::Pause(intervention("wait"))))
        .await
        .expect("pause");
    // On the remembered state this resume would be refused (not paused):
    // on the stream it is accepted.
    let resumed = ours
        .handle::<Directive>(envelope(&s, DirectiveCommand::Resume(intervention("go"))))
        .await
        .expect("resumed on the stream as it is");
    assert_eq!(resumed.version, 3);
    // Ours remembers it running again; another pauses it once more, and
    // ours pauses too: accepted on the remembered state, refused on the
    // stream, where it is paused already.
    theirs
        .handle::<Directive>(envelope(&s, DirectiveCommand::Pause(intervention("again"))))
        .await
        .expect("pause");
    match ours
        .handle::<Directive>(envelope(
            &s,
            DirectiveCommand::Pause(intervention("me too")),
        ))
        .await
    {
        Err(HandleError::Rejected(r)) => assert_eq!(r.code(), "directive.already_paused"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    // And what it remembers after its own append is what a reload gives.
    ours.handle::<Directive>(envelope(&s, cancel("enough")))
        .await
        .expect("cancel");
    let (reloaded, version) = theirs.load::<Directive>(&s).await.expect("load");
    assert_eq!(version, 5);
    assert_eq!(
        reloaded.status,
        domain::directive::DirectiveStatus::Cancelled
    );
    match ours
        .handle::<Directive>(envelope(&s, cancel("twice")))
        .await
    {
        Err(HandleError::Rejected(r)) => assert_eq!(r.code(), "directive.already_closed"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A scan recorded with 2,000 levels' figures (an append far larger than
/// what a handler remembers), then recorded again under another command id:
/// the second is refused on the stream as it is.
async fn a_large_append_is_not_remembered_as_the_state_before_it(store: Arc<dyn EventStore>) {
    use domain::logistics::scan::{
        InventoryScan, InventoryScanCommand, InventoryScanned, LevelFigures, ScanPurpose,
    };
    let handler = CommandHandler::new(store.clone());
    let scan_id = Uuid::now_v7();
    let scan = InventoryScanned {
        scan_id,
        purpose: ScanPurpose::Report,
        task_id: None,
        directive_id: None,
        warehouses: Vec::new(),
        sources: vec!["erpnext".to_owned()],
        levels_read: 2_000,
        count_differences: Vec::new(),
        skipped: Vec::new(),
        decisions: Vec::new(),
        drafts: Vec::new(),
        scanned_by: Actor::Agent("logistics".to_owned()),
        at: Utc::now(),
    };
    let levels: Vec<LevelFigures> = (0..2_000)
        .map(|n| LevelFigures {
            sku: format!("SKU-{n:06}").parse().expect("sku"),
            warehouse: "Stores - AC".parse().expect("warehouse"),
            supplier: "Acme Components Ltd".parse().expect("supplier"),
            on_hand: 100,
            reserved: 0,
            on_order: 0,
            projected: 100,
            reorder_point: 40.5,
            safety_stock: 10.5,
        })
        .collect();
    let record = || InventoryScanCommand::Record {
        scan: scan.clone(),
        levels: levels.clone(),
    };
    let stream = InventoryScan::stream(scan_id);
    let envelope = |command| Envelope {
        stream: stream.clone(),
        command,
        command_id: CommandId::from_uuid(Uuid::now_v7()),
        correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
        causation_id: None,
        actor: Actor::Agent("logistics".to_owned()),
    };
    let first = handler
        .handle::<InventoryScan>(envelope(record()))
        .await
        .expect("recorded");
    assert_eq!(first.version, 3, "two events of levels, then the scan");
    match handler.handle::<InventoryScan>(envelope(record())).await {
        Err(HandleError::Rejected(r)) => assert_eq!(r.code(), "scan.already_recorded"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                let db = super::TestPostgres::new().await;
                super::$name(db.shared()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                let db = super::TestSqlite::new().await;
                super::$name(db.shared()).await;
            }
        }
    };
}

/// A handler that never saw a stream decides first as if it were new. On a
/// new stream that is the whole story; on an existing one the append's
/// expected version refuses the guess and the command is decided again on
/// the stream: a second order on it is refused, the first order's command
/// again is its first result, and a command for an existing order applies.
async fn a_stream_never_seen_is_guessed_new_and_proven_by_the_append(store: Arc<dyn EventStore>) {
    let s = directive();
    let first = envelope(&s, issue());
    let issued = CommandHandler::new(store.clone())
        .handle::<Directive>(first.clone())
        .await
        .expect("issue");
    assert_eq!(
        (issued.version, issued.events, issued.duplicate),
        (1, 1, false)
    );

    match CommandHandler::new(store.clone())
        .handle::<Directive>(envelope(&s, issue()))
        .await
    {
        Err(HandleError::Rejected(r)) => assert_eq!(r.code(), "directive.already_issued"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let again = CommandHandler::new(store.clone())
        .handle::<Directive>(first)
        .await
        .expect("the same command again");
    assert_eq!((again.version, again.duplicate), (1, true));
    let paused = CommandHandler::new(store.clone())
        .handle::<Directive>(envelope(&s, DirectiveCommand::Pause(intervention("wait"))))
        .await
        .expect("pause");
    assert_eq!(paused.version, 2);
    let events = store
        .read_stream(&s, 1, Direction::Forward, 10)
        .await
        .expect("read");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["DirectiveIssued", "DirectivePaused"]);
}

both!(commands_decide_append_and_carry_their_ids);
both!(a_stream_never_seen_is_guessed_new_and_proven_by_the_append);
both!(concurrent_commands_are_decided_on_fresh_state);
both!(a_remembered_state_yields_to_another_writer);
both!(a_large_append_is_not_remembered_as_the_state_before_it);
