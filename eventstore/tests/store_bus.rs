//! The in-process bus: partitions handled at once, each stream in order, and
//! a checkpoint that never passes an event still unacknowledged.

mod common;

use std::time::Duration;

use common::{request, stream};
use eventstore::bus::store::{StoreBus, SAVE_EVERY};
use eventstore::bus::{Bus, ConsumerSpec, Delivery};
use eventstore::testing::TestSqlite;
use eventstore::{EventFilter, ExpectedVersion};

/// Every delivery handed out within a short wait.
async fn drain(consumer: &mut dyn eventstore::bus::Consumer) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Ok(delivery) = tokio::time::timeout(Duration::from_millis(300), consumer.next()).await
    {
        out.push(delivery.expect("delivery"));
    }
    out
}

#[tokio::test]
async fn an_unacknowledged_event_holds_back_its_stream_and_the_checkpoint_only() {
    let db = TestSqlite::new().await;
    let store = db.shared();
    let slow = stream("order");
    store
        .append(request(&slow, ExpectedVersion::NoStream, 3))
        .await
        .expect("append");
    let others: Vec<_> = (0..16).map(|_| stream("order")).collect();
    for other in &others {
        store
            .append(request(other, ExpectedVersion::NoStream, 1))
            .await
            .expect("append");
    }
    let bus = StoreBus::new(store.clone());
    let spec = ConsumerSpec::new("reader", EventFilter::all());
    let mut consumer = bus.consumer(&spec).await.expect("consumer");

    let first = consumer.next().await.expect("first");
    assert_eq!(
        (&first.event.stream_id, first.event.stream_version),
        (&slow, 1)
    );
    // While the slow stream's first event is out, other partitions go on.
    let meanwhile = drain(consumer.as_mut()).await;
    assert!(!meanwhile.is_empty(), "other streams wait for one stream");
    assert!(
        meanwhile.iter().all(|d| d.event.stream_id != slow),
        "a stream's next event came before its last was acknowledged"
    );
    let mut seen = 1 + meanwhile.len();
    for delivery in meanwhile {
        delivery.ack().await.expect("ack");
    }
    // Acknowledging later events does not move the checkpoint past the first.
    let _ = tokio::time::timeout(SAVE_EVERY * 3, consumer.next()).await;
    assert_eq!(
        store
            .consumer_checkpoint("reader")
            .await
            .expect("checkpoint"),
        domain::Position::START
    );

    // Once it is acknowledged, the rest comes, the stream in order.
    first.ack().await.expect("ack");
    let mut slow_versions = Vec::new();
    while seen < 19 {
        let delivery = tokio::time::timeout(Duration::from_secs(5), consumer.next())
            .await
            .expect("in time")
            .expect("delivery");
        if delivery.event.stream_id == slow {
            slow_versions.push(delivery.event.stream_version);
        }
        seen += 1;
        delivery.ack().await.expect("ack");
    }
    assert_eq!(slow_versions, [2, 3]);
    let head = store.counts().await.expect("counts").events;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let _ = tokio::time::timeout(SAVE_EVERY, consumer.next()).await;
        let saved = store
            .consumer_checkpoint("reader")
            .await
            .expect("checkpoint");
        if saved.seq == head {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "checkpoint stuck at {saved:?}"
        );
    }
}

#[tokio::test]
async fn a_delivery_dropped_unsettled_comes_again() {
    let db = TestSqlite::new().await;
    let store = db.shared();
    let one = stream("order");
    store
        .append(request(&one, ExpectedVersion::NoStream, 2))
        .await
        .expect("append");
    let bus = StoreBus::new(store);
    let mut consumer = bus
        .consumer(&ConsumerSpec::new("dropper", EventFilter::all()))
        .await
        .expect("consumer");
    let first = consumer.next().await.expect("first");
    let id = first.event.event_id;
    drop(first);
    let again = consumer.next().await.expect("again");
    assert_eq!((again.event.event_id, again.attempt), (id, 2));
    again.retry(Duration::from_millis(50)).await.expect("retry");
    let third = consumer.next().await.expect("third");
    assert_eq!((third.event.event_id, third.attempt), (id, 3));
}
