//! The schedule gives each day's standing order once, however often asked.

use std::sync::Arc;

use api::schedule::{Schedule, StandingOrder};
use chrono::NaiveTime;
use commands::CommandHandler;
use domain::directive::Directive;
use domain::Aggregate;
use eventstore::testing::TestSqlite;
use eventstore::{Direction, EventStore};

#[tokio::test]
async fn a_standing_order_is_given_once_a_day() {
    let db = TestSqlite::new().await;
    let store: Arc<dyn EventStore> = db.shared();
    let order = StandingOrder::morning_scan(NaiveTime::from_hms_opt(6, 0, 0).expect("time"));
    let due = "2026-11-25T06:00:00Z".parse().expect("time");
    let first = Schedule::new(CommandHandler::new(Arc::clone(&store)), vec![order.clone()]);
    let second = Schedule::new(CommandHandler::new(Arc::clone(&store)), vec![order.clone()]);
    assert!(first.give(&order, due).await.expect("give"));
    assert!(!first.give(&order, due).await.expect("again"));
    assert!(!second.give(&order, due).await.expect("another scheduler"));
    let stream = Directive::stream(order.directive_id(due.date_naive()));
    let events = store
        .read_stream(&stream, 1, Direction::Forward, 10)
        .await
        .expect("read");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "DirectiveIssued");
    assert_eq!(events[0].metadata.actor.to_string(), "system:schedule");

    let tomorrow = due + chrono::Duration::days(1);
    assert!(first.give(&order, tomorrow).await.expect("tomorrow"));
}
