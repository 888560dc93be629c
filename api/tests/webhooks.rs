//! The carrier's webhook over HTTP, with the EasyPost-style simulator
//! posting its signed events to the gateway: an update is recorded on its
//! shipment once, however often it is delivered; events released out of
//! order do not move a shipment back; a missing or wrong signature is 401,
//! a signed body that is no event 400, a tracker AgentOS does not follow is
//! acknowledged and ignored, and without a secret there is no webhook.

mod support;

use std::sync::Arc;
use std::time::Duration;

use agents::adapters::carrier::{sign, Carrier, CarrierConfig, SIGNATURE_HEADER};
use agents::adapters::{CallPolicy, HealthBoard};
use agents::logistics::shipments::shipment_id;
use api::carrier_poll::CarrierPoll;
use chrono::Utc;
use commands::{CommandHandler, Envelope};
use domain::logistics::{Shipment, ShipmentCommand, ShipmentEvent, ShipmentStatus};
use domain::{Actor, Aggregate, CommandId, CorrelationId, DomainEvent, StreamId};
use eventstore::Direction;
use projections::models::logistics::{open_shipments, Logistics};
use serde_json::{json, Value};
use simulators::carrier::{CarrierSim, WebhookOrder};
use simulators::SimServer;
use support::{expect_json, expect_problem, Kind, TestApp};
use uuid::Uuid;

const API_KEY: &str = "EZTK_test_key";
/// Not ASCII, so that both sides must agree on its NFKD form.
const SECRET: &str = "s\u{e9}cret-du-webhook";
const PATH: &str = "/api/v1/webhooks/carrier";

/// The gateway with a webhook secret, the carrier simulator posting to it,
/// and a client of the simulator.
struct World {
    app: TestApp,
    sim: CarrierSim,
    _server: SimServer,
    carrier: Carrier,
}

impl World {
    async fn new() -> Self {
        let app = TestApp::with_state(Kind::Sqlite, |state| {
            state.carrier_webhook_secret = Some(SECRET.to_owned());
        })
        .await;
        let sim = CarrierSim::new(API_KEY);
        let server = SimServer::start_local(sim.router())
            .await
            .expect("the carrier simulator");
        let carrier = Carrier::new(
            CarrierConfig {
                policy: CallPolicy {
                    timeout: Duration::from_secs(5),
                    retries: 2,
                    backoff: Duration::from_millis(5),
                    backoff_ceiling: Duration::from_millis(20),
                    failures_to_open: 10,
                    open_for: Duration::from_secs(30),
                },
                ..CarrierConfig::new(server.url(), API_KEY)
            },
            &HealthBoard::new(),
        )
        .expect("a carrier client");
        sim.set_webhook(format!("{}{PATH}", app.base), SECRET);
        Self {
            app,
            sim,
            _server: server,
            carrier,
        }
    }

    /// A tracker for `number`, and its shipment tracked as the shipment
    /// follower tracks it: its id.
    async fn tracked(&self, number: &str) -> (String, Uuid) {
        let tracker = self
            .carrier
            .create_tracker(number, "USPS")
            .await
            .expect("a tracker");
        let id = shipment_id(&tracker.carrier, &tracker.tracking_code);
        CommandHandler::new(self.app.store.clone())
            .handle::<Shipment>(Envelope {
                stream: Shipment::stream(id),
                command: ShipmentCommand::StartTracking {
                    shipment_id: id,
                    po_id: Uuid::now_v7(),
                    task_id: None,
                    carrier: tracker.carrier.clone(),
                    tracking_number: tracker.tracking_code.clone(),
                    promised_by: Utc::now() + chrono::Duration::days(7),
                    contents: Vec::new(),
                    at: Utc::now(),
                },
                command_id: CommandId::from_uuid(Uuid::now_v7()),
                correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
                causation_id: None,
                actor: Actor::Agent("logistics_shipments".to_owned()),
            })
            .await
            .map_err(|e| e.to_string())
            .expect("tracking started");
        (tracker.id, id)
    }

    async fn shipment(&self, id: Uuid) -> Vec<ShipmentEvent> {
        let stream: StreamId = Shipment::stream(id);
        self.app
            .store
            .read_stream(&stream, 1, Direction::Forward, 1000)
            .await
            .expect("read")
            .iter()
            .map(|e| ShipmentEvent::decode(e).expect("decode"))
            .collect()
    }

    /// POSTs `body` to the webhook with this signature header, if any.
    async fn post(&self, body: &[u8], signature: Option<&str>) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .post(format!("{}{PATH}", self.app.base))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        request.send().await.expect("the gateway answers")
    }
}

/// The updates a shipment recorded: (carrier event id, status, applied).
fn updates(history: &[ShipmentEvent]) -> Vec<(String, ShipmentStatus, bool)> {
    history
        .iter()
        .filter_map(|e| match e {
            ShipmentEvent::CarrierUpdateRecorded(u) => {
                Some((u.carrier_event_id.clone(), u.status, u.applied))
            }
            _ => None,
        })
        .collect()
}

/// An EasyPost event about tracker `id` as the simulator shows it now.
fn event(sim: &CarrierSim, event_id: &str, tracker_id: &str) -> Vec<u8> {
    let body = json!({
        "object": "Event",
        "id": event_id,
        "mode": "test",
        "description": "tracker.updated",
        "created_at": Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "result": sim.tracker(tracker_id).expect("the tracker"),
    });
    body.to_string().into_bytes()
}

#[tokio::test]
async fn a_signed_event_is_recorded_once_even_when_delivered_twice() {
    let world = World::new().await;
    let (tracker, shipment) = world.tracked("EZ1000000001").await;
    assert_eq!(
        world.sim.advance(&tracker).await.as_deref(),
        Some("in_transit")
    );
    let deliveries = world.sim.deliveries();
    assert_eq!(
        (
            deliveries.len(),
            deliveries[0].answered,
            deliveries[0].attempts
        ),
        (1, Some(200), 1)
    );
    let event_id = deliveries[0].event_id.clone();
    let history = world.shipment(shipment).await;
    assert_eq!(
        updates(&history),
        [(event_id.clone(), ShipmentStatus::InTransit, true)]
    );

    // EasyPost delivers the same event again.
    let body = event(&world.sim, &event_id, &tracker);
    let again = world.post(&body, Some(&sign(SECRET, &body))).await;
    let answer = expect_json(again, 200).await;
    assert_eq!(answer["outcome"], "recorded");
    assert_eq!(answer["duplicate"], true);
    assert_eq!(answer["shipment_id"], shipment.to_string());
    assert_eq!(world.shipment(shipment).await, history, "recorded once");
}

#[tokio::test]
async fn events_released_out_of_order_do_not_move_a_shipment_back() {
    let world = World::new().await;
    let (tracker, shipment) = world.tracked("EZ2000000002").await;
    world.sim.hold_webhooks();
    world.sim.advance(&tracker).await;
    world.sim.advance(&tracker).await;
    let released = world.sim.release_webhooks(WebhookOrder::Reversed).await;
    let answered: Vec<_> = released.iter().map(|d| d.answered).collect();
    assert_eq!(answered, [Some(200), Some(200)]);

    let history = world.shipment(shipment).await;
    let seen: Vec<_> = updates(&history)
        .into_iter()
        .map(|(_, status, applied)| (status, applied))
        .collect();
    assert_eq!(
        seen,
        [
            (ShipmentStatus::OutForDelivery, true),
            (ShipmentStatus::InTransit, false),
        ],
        "the older event is history only"
    );
    assert_eq!(
        Shipment::replay(&history).status,
        ShipmentStatus::OutForDelivery
    );
}

#[tokio::test]
async fn a_missing_or_wrong_signature_is_refused_and_records_nothing() {
    let world = World::new().await;
    let (tracker, shipment) = world.tracked("EZ3000000003").await;
    world.sim.advance(&tracker).await;
    let before = world.shipment(shipment).await;
    let body = event(&world.sim, "evt_forged", &tracker);

    let unsigned = world.post(&body, None).await;
    expect_problem(unsigned, 401, "webhook.signature_missing").await;
    let forged = world
        .post(&body, Some(&sign("another secret", &body)))
        .await;
    expect_problem(forged, 401, "webhook.signature_invalid").await;
    let garbage = world.post(&body, Some("hmac-sha256-hex=zz")).await;
    expect_problem(garbage, 401, "webhook.signature_invalid").await;
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let altered = world.post(&tampered, Some(&sign(SECRET, &body))).await;
    expect_problem(altered, 401, "webhook.signature_invalid").await;
    assert_eq!(world.shipment(shipment).await, before, "nothing recorded");

    let unreadable = b"{\"not\": \"an event\"}";
    let signed = world
        .post(unreadable, Some(&sign(SECRET, unreadable)))
        .await;
    expect_problem(signed, 400, "webhook.unreadable").await;

    let huge = vec![b' '; 65 * 1024];
    let too_large = world.post(&huge, Some(&sign(SECRET, &huge))).await;
    expect_problem(too_large, 413, "request.too_large").await;
}

#[tokio::test]
async fn events_about_what_agentos_does_not_follow_are_acknowledged_and_ignored() {
    let world = World::new().await;
    let stranger = world
        .carrier
        .create_tracker("EZ4000000004", "USPS")
        .await
        .expect("a tracker");
    world.sim.advance(&stranger.id).await;
    assert_eq!(world.sim.deliveries()[0].answered, Some(202));
    let never_tracked = shipment_id(&stranger.carrier, &stranger.tracking_code);
    assert!(
        world.shipment(never_tracked).await.is_empty(),
        "no stream made"
    );

    let batch =
        json!({"object": "Event", "id": "evt_batch", "description": "batch.updated", "result": {}})
            .to_string()
            .into_bytes();
    let answer = expect_json(world.post(&batch, Some(&sign(SECRET, &batch))).await, 202).await;
    assert_eq!(answer["outcome"], "ignored");
}

#[tokio::test]
async fn without_a_secret_there_is_no_carrier_webhook() {
    let app = TestApp::start(Kind::Sqlite).await;
    let body = b"{}";
    let response = app
        .client
        .post(format!("{}{PATH}", app.base))
        .header(SIGNATURE_HEADER, sign(SECRET, body))
        .body(body.to_vec())
        .send()
        .await
        .expect("the gateway answers");
    let problem: Value = expect_problem(response, 404, "webhooks.not_configured").await;
    assert!(
        !problem.to_string().contains(SECRET),
        "the secret is never sent"
    );
}

#[tokio::test]
async fn what_lost_webhooks_did_not_say_is_recorded_by_the_carrier_poll() {
    let world = World::new().await;
    let logistics = world.app.run_projection(Arc::new(Logistics));
    let (tracker, shipment) = world.tracked("EZ5000000005").await;
    let (_, quiet) = world.tracked("EZ6000000006").await;
    // The carrier's webhooks about the first parcel are lost: held, never
    // delivered, while it travels to its destination.
    world.sim.hold_webhooks();
    for _ in 0..3 {
        world.sim.advance(&tracker).await;
    }
    let poll = CarrierPoll::new(
        Arc::clone(&world.app.store),
        world.app.db.clone(),
        world.carrier.clone(),
        Duration::from_secs(3600),
    );
    // Once the read model shows both shipments on their way, one sweep
    // records what the first one's tracker holds.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while open_shipments(&world.app.db, None, 10)
        .await
        .map_or(true, |page| page.items.len() < 2)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the read model shows both shipments"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sweep = poll.sweep().await.expect("a sweep");
    assert_eq!(sweep.shipments, 2, "{sweep:?}");
    let history = world.shipment(shipment).await;
    let statuses: Vec<(String, ShipmentStatus, bool)> = updates(&history);
    assert_eq!(
        statuses
            .iter()
            .map(|(_, status, applied)| (*status, *applied))
            .collect::<Vec<_>>(),
        [
            (ShipmentStatus::PreTransit, true),
            (ShipmentStatus::InTransit, true),
            (ShipmentStatus::OutForDelivery, true),
            (ShipmentStatus::Delivered, true),
        ]
    );
    assert!(
        statuses.iter().all(|(id, _, _)| id.starts_with(&tracker)),
        "each scan under its tracker's id: {statuses:?}"
    );
    assert_eq!(
        sweep.recorded,
        4 + 1,
        "the first parcel's journey, the other's label"
    );
    assert_eq!(Shipment::replay(&history).status, ShipmentStatus::Delivered);
    let quiet_history = world.shipment(quiet).await;
    assert_eq!(
        updates(&quiet_history).len(),
        1,
        "the other parcel's label scan only"
    );

    // Sweeping again records nothing new; the lost webhooks, turning up
    // late, do not move the shipment back.
    let again = poll.sweep().await.expect("a sweep");
    assert_eq!(again.recorded, 0, "{again:?}");
    world.sim.release_webhooks(WebhookOrder::AsHappened).await;
    assert_eq!(
        Shipment::replay(&world.shipment(shipment).await).status,
        ShipmentStatus::Delivered
    );
    logistics.abort();
}
