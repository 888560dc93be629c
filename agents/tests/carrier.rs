//! The carrier tracking client against the EasyPost-style simulator, over
//! real HTTP on local ports: trackers created (once), read and listed;
//! scripted progress delivered as signed webhooks to a receiver here and
//! checked with `verify_webhook`; refusals and failures handled.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agents::adapters::carrier::{
    verify_webhook, Carrier, CarrierConfig, CarrierError, CarrierEvent, TrackerStatus, WebhookError,
};
use agents::adapters::{CallError, CallPolicy, HealthBoard};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use chrono::{TimeZone, Utc};
use simulators::carrier::{CarrierSim, TrackingStep, WebhookOrder};
use simulators::{FaultPlan, SimServer};

const API_KEY: &str = "EZTK_test_key";
/// Not ASCII, so that both sides must agree on its NFKD form.
const SECRET: &str = "s\u{e9}cret-du-webhook";

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn quick() -> CallPolicy {
    CallPolicy {
        timeout: Duration::from_secs(5),
        retries: 3,
        backoff: Duration::from_millis(5),
        backoff_ceiling: Duration::from_millis(20),
        failures_to_open: 10,
        open_for: Duration::from_secs(30),
    }
}

async fn start(
    sim: &CarrierSim,
    api_key: &str,
) -> Result<(SimServer, Carrier), Box<dyn std::error::Error>> {
    let server = SimServer::start_local(sim.router()).await?;
    let config = CarrierConfig {
        policy: quick(),
        ..CarrierConfig::new(server.url(), api_key)
    };
    let carrier = Carrier::new(config, &HealthBoard::new())?;
    Ok((server, carrier))
}

/// What the webhook receiver was sent: each POST's headers and raw body.
type Inbox = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receive(State(inbox): State<Inbox>, headers: HeaderMap, body: Bytes) -> &'static str {
    inbox.lock().expect("inbox").push((headers, body));
    "ok"
}

/// A webhook receiver on its own port; the simulator is pointed at it.
async fn receiver(sim: &CarrierSim) -> Result<(SimServer, Inbox), Box<dyn std::error::Error>> {
    let inbox = Inbox::default();
    let app = Router::new()
        .route("/hooks/easypost", post(receive))
        .with_state(inbox.clone());
    let server = SimServer::start_local(app).await?;
    sim.set_webhook(format!("{}/hooks/easypost", server.url()), SECRET);
    Ok((server, inbox))
}

fn verified(inbox: &Inbox) -> Vec<CarrierEvent> {
    inbox
        .lock()
        .expect("inbox")
        .iter()
        .map(|(headers, body)| {
            verify_webhook(SECRET, headers, body).expect("signed by the simulator")
        })
        .collect()
}

#[tokio::test]
async fn a_tracker_is_created_once_per_tracking_code_and_carrier() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let (_server, carrier) = start(&sim, API_KEY).await?;
    let tracker = carrier.create_tracker("1Z999AA10123456784", "UPS").await?;
    assert!(tracker.id.starts_with("trk_"), "{}", tracker.id);
    assert_eq!(
        (tracker.status.clone(), tracker.carrier.as_str()),
        (TrackerStatus::PreTransit, "UPS")
    );
    assert_eq!(tracker.tracking_details.len(), 1);
    assert!(tracker.est_delivery_date.is_some());

    let again = carrier.create_tracker("1Z999AA10123456784", "UPS").await?;
    assert_eq!(
        again.id, tracker.id,
        "EasyPost returns the original tracker"
    );
    let other_carrier = carrier.create_tracker("1Z999AA10123456784", "USPS").await?;
    assert_ne!(other_carrier.id, tracker.id);
    assert_eq!(sim.tracker_count(), 2);
    Ok(())
}

#[tokio::test]
async fn a_tracker_moves_along_its_script_with_scans_oldest_first() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let (_server, carrier) = start(&sim, API_KEY).await?;
    let tracker = carrier
        .create_tracker("9400100000000000000000", "USPS")
        .await?;
    let mut seen = vec![tracker.status];
    while let Some(_status) = sim.advance(&tracker.id).await {
        seen.push(carrier.tracker(&tracker.id).await?.status);
    }
    assert_eq!(
        seen,
        vec![
            TrackerStatus::PreTransit,
            TrackerStatus::InTransit,
            TrackerStatus::OutForDelivery,
            TrackerStatus::Delivered,
        ]
    );
    let delivered = carrier.tracker(&tracker.id).await?;
    let statuses: Vec<_> = delivered
        .tracking_details
        .iter()
        .map(|d| d.status.clone())
        .collect();
    assert_eq!(statuses, seen, "one scan per step, oldest first");
    let times: Vec<_> = delivered
        .tracking_details
        .iter()
        .filter_map(|d| d.datetime)
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(sim.advance(&tracker.id).await, None, "the script is over");
    Ok(())
}

#[tokio::test]
async fn a_lost_answer_on_creation_is_retried_into_the_same_tracker() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let (server, carrier) = start(&sim, API_KEY).await?;
    server.faults().set(FaultPlan {
        lose_next_answers: 1,
        ..FaultPlan::default()
    });
    let tracker = carrier.create_tracker("EZ1000000001", "USPS").await?;
    assert_eq!(sim.tracker_count(), 1, "no duplicate");
    assert_eq!(
        sim.tracker(&tracker.id).map(|t| t["id"].clone()),
        Some(tracker.id.clone().into())
    );
    let health = carrier.adapter().health();
    assert_eq!((health.calls, health.failures), (2, 1));
    Ok(())
}

#[tokio::test]
async fn a_wrong_api_key_is_refused_once_and_not_retried() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let (_server, carrier) = start(&sim, "EZTK_wrong").await?;
    let refused = carrier.create_tracker("EZ1000000001", "USPS").await;
    assert!(
        matches!(
            &refused,
            Err(CallError::Failed(CarrierError::Unauthorized { .. }))
        ),
        "{refused:?}"
    );
    assert_eq!(carrier.adapter().health().calls, 1);
    assert_eq!(sim.tracker_count(), 0);
    Ok(())
}

#[tokio::test]
async fn an_unknown_tracker_is_not_found_and_not_retried() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let (_server, carrier) = start(&sim, API_KEY).await?;
    let missing = carrier
        .tracker("trk_00000000000000000000000000000000")
        .await;
    assert!(
        matches!(missing, Err(CallError::Failed(CarrierError::NotFound { ref code, .. })) if code == "NOT_FOUND")
    );
    let blank = carrier.create_tracker(" ", "UPS").await;
    assert!(
        matches!(
            blank,
            Err(CallError::Failed(CarrierError::Rejected {
                status: 422,
                ..
            }))
        ),
        "{blank:?}"
    );
    assert_eq!(carrier.adapter().health().calls, 2);
    Ok(())
}

#[tokio::test]
async fn two_failures_then_a_success_is_a_success() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let (server, carrier) = start(&sim, API_KEY).await?;
    server.faults().set(FaultPlan {
        fail_next: 2,
        ..FaultPlan::default()
    });
    carrier.create_tracker("EZ1000000001", "USPS").await?;
    let health = carrier.adapter().health();
    assert_eq!((health.calls, health.failures), (3, 2));
    assert_eq!(sim.tracker_count(), 1);
    Ok(())
}

#[tokio::test]
async fn trackers_are_listed_by_tracking_code_newest_first() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let (_server, carrier) = start(&sim, API_KEY).await?;
    let a = carrier.create_tracker("EZ-A", "USPS").await?;
    carrier.create_tracker("EZ-B", "USPS").await?;
    let c = carrier.create_tracker("EZ-C", "UPS").await?;
    let listed = carrier.trackers(&["EZ-A", "EZ-C"], None).await?;
    let ids: Vec<_> = listed.trackers.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, vec![c.id, a.id.clone()]);
    assert!(!listed.has_more);
    let ups_only = carrier.trackers(&["EZ-A", "EZ-C"], Some("USPS")).await?;
    assert_eq!(ups_only.trackers.len(), 1);
    assert_eq!(ups_only.trackers[0].id, a.id);
    Ok(())
}

#[tokio::test]
async fn each_step_is_delivered_as_a_signed_webhook_event() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let (_server, carrier) = start(&sim, API_KEY).await?;
    let (_receiver, inbox) = receiver(&sim).await?;
    let tracker = carrier.create_tracker("1Z999AA10123456784", "UPS").await?;
    assert_eq!(sim.advance_all().await, 1);

    let events = verified(&inbox);
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert!(event.id.starts_with("evt_"));
    assert_eq!(event.description, "tracker.updated");
    assert_eq!(event.previous_status, Some(TrackerStatus::PreTransit));
    assert_eq!(event.tracker.id, tracker.id);
    assert_eq!(event.tracker.status, TrackerStatus::InTransit);
    assert_eq!(event.tracker.tracking_details.len(), 2);

    let (headers, body) = inbox.lock().expect("inbox")[0].clone();
    assert!(matches!(
        verify_webhook("another secret", &headers, &body),
        Err(WebhookError::BadSignature)
    ));
    let mut tampered = body.to_vec();
    let at = tampered
        .windows(10)
        .position(|w| w == b"in_transit")
        .expect("the status");
    tampered[at..at + 10].copy_from_slice(b"delivered_");
    assert!(matches!(
        verify_webhook(SECRET, &headers, &tampered),
        Err(WebhookError::BadSignature)
    ));
    assert!(matches!(
        verify_webhook(SECRET, &HeaderMap::new(), &body),
        Err(WebhookError::MissingSignature)
    ));
    Ok(())
}

#[tokio::test]
async fn a_receiver_that_fails_gets_the_event_again() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let (_server, carrier) = start(&sim, API_KEY).await?;
    let (receiving, inbox) = receiver(&sim).await?;
    let tracker = carrier.create_tracker("EZ1000000001", "USPS").await?;
    receiving.faults().set(FaultPlan {
        fail_next: 1,
        ..FaultPlan::default()
    });
    sim.advance(&tracker.id).await;
    let deliveries = sim.deliveries();
    assert_eq!(
        (deliveries[0].attempts, deliveries[0].answered),
        (2, Some(200))
    );
    assert_eq!(verified(&inbox).len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_scripted_exception_and_a_late_estimate_reach_the_client() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let late = Utc
        .with_ymd_and_hms(2031, 1, 20, 0, 0, 0)
        .single()
        .expect("a date");
    sim.script(
        "EZ4000000004",
        vec![
            TrackingStep::new("pre_transit", "label_created", "Label created"),
            TrackingStep::new("in_transit", "weather_delay", "Delayed by weather")
                .at("DENVER", "CO", "80202")
                .est_delivery(late),
            TrackingStep::new("return_to_sender", "return", "Returned to sender: refused"),
        ],
    );
    let (_server, carrier) = start(&sim, API_KEY).await?;
    let (_receiver, inbox) = receiver(&sim).await?;
    let tracker = carrier.create_tracker("EZ4000000004", "USPS").await?;
    sim.advance(&tracker.id).await;
    let delayed = carrier.tracker(&tracker.id).await?;
    assert_eq!(delayed.est_delivery_date, Some(late));
    assert_eq!(delayed.status_detail.as_deref(), Some("weather_delay"));
    let scan = delayed
        .latest_detail()
        .and_then(|d| d.tracking_location.clone())
        .unwrap_or_default();
    assert_eq!(
        (scan.city.as_deref(), scan.zip.as_deref()),
        (Some("DENVER"), Some("80202"))
    );

    assert_eq!(
        sim.advance(&tracker.id).await.as_deref(),
        Some("return_to_sender")
    );
    let events = verified(&inbox);
    let last = events.last().expect("events");
    assert_eq!(last.tracker.status, TrackerStatus::ReturnToSender);
    assert!(last.tracker.status.is_exception());
    Ok(())
}

#[tokio::test]
async fn events_released_in_reverse_arrive_out_of_order_and_still_verify() -> TestResult {
    let sim = CarrierSim::new(API_KEY);
    let (_server, carrier) = start(&sim, API_KEY).await?;
    let (_receiver, inbox) = receiver(&sim).await?;
    let tracker = carrier.create_tracker("EZ2000000002", "USPS").await?;
    sim.hold_webhooks();
    sim.advance(&tracker.id).await;
    sim.advance(&tracker.id).await;
    assert!(inbox.lock().expect("inbox").is_empty(), "held back");
    let released = sim.release_webhooks(WebhookOrder::Reversed).await;
    assert_eq!(released.len(), 2);

    let events = verified(&inbox);
    let statuses: Vec<_> = events.iter().map(|e| e.tracker.status.clone()).collect();
    assert_eq!(
        statuses,
        vec![TrackerStatus::OutForDelivery, TrackerStatus::InTransit]
    );
    // A receiver can tell which is newer: the later state has more scans
    // and a later update time.
    assert!(events[0].tracker.tracking_details.len() > events[1].tracker.tracking_details.len());
    assert!(events[0].tracker.updated_at > events[1].tracker.updated_at);
    Ok(())
}
