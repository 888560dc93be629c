//! A carrier's tracking through EasyPost's Trackers API (v2): create a
//! tracker (deduplicated by tracking code and carrier, as EasyPost does),
//! read one, list them; HTTP basic auth with the API key as username;
//! EasyPost's error bodies (`{"error": {"code", "message", "errors"}}`).
//!
//! Each tracker follows a script, one step per [`CarrierSim::advance`]: by
//! default pre_transit → in_transit → out_for_delivery → delivered, or any
//! [`TrackingStep`]s set with [`CarrierSim::script`] (a failure, a return to
//! sender, a later estimated delivery …). With a webhook configured, each
//! step is POSTed as a signed `tracker.updated` Event, as EasyPost signs
//! them (`X-Hmac-Signature: hmac-sha256-hex=<HMAC-SHA256 of the raw body,
//! keyed with the NFKD form of the secret>`), tried up to 3 times. Events can
//! be held and released in reverse order to test out-of-order delivery.
//! Not simulated: `tracker.created` events, carrier detection beyond `1Z…`
//! for UPS, pagination past one page, deletion.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use chrono::{DateTime, Days, SubsecRound, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;

/// How many times a webhook event is POSTed before it is given up.
const DELIVERY_ATTEMPTS: u32 = 3;

/// One step of a tracker's script: the status it moves to and the scan
/// that records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackingStep {
    /// EasyPost's status (`in_transit`, `failure` …).
    pub status: String,
    /// EasyPost's finer status (`arrived_at_facility` …).
    pub status_detail: String,
    /// The carrier's message for the scan.
    pub message: String,
    /// Where the scan happened: city, state, country, zip.
    pub location: Option<[String; 4]>,
    /// A new estimated delivery date, from this step on.
    pub est_delivery_date: Option<DateTime<Utc>>,
}

impl TrackingStep {
    /// A step to `status`, with its detail and message, nowhere in particular.
    pub fn new(status: &str, status_detail: &str, message: &str) -> Self {
        TrackingStep {
            status: status.to_owned(),
            status_detail: status_detail.to_owned(),
            message: message.to_owned(),
            location: None,
            est_delivery_date: None,
        }
    }

    /// Scanned in `city`, `state` (US), `zip`.
    pub fn at(mut self, city: &str, state: &str, zip: &str) -> Self {
        self.location = Some([
            city.to_owned(),
            state.to_owned(),
            "US".to_owned(),
            zip.to_owned(),
        ]);
        self
    }

    /// Moves the estimated delivery date to `date`.
    pub fn est_delivery(mut self, date: DateTime<Utc>) -> Self {
        self.est_delivery_date = Some(date);
        self
    }

    /// The script of a package that arrives: label, transit, out for
    /// delivery, delivered.
    pub fn default_script() -> Vec<TrackingStep> {
        vec![
            TrackingStep::new("pre_transit", "label_created", "Shipping Label Created")
                .at("HOUSTON", "TX", "77063"),
            TrackingStep::new("in_transit", "arrived_at_facility", "Arrived at Facility")
                .at("DALLAS", "TX", "75201"),
            TrackingStep::new("out_for_delivery", "out_for_delivery", "Out for Delivery")
                .at("AUSTIN", "TX", "78701"),
            TrackingStep::new("delivered", "arrived_at_destination", "Delivered")
                .at("AUSTIN", "TX", "78701"),
        ]
    }
}

/// The order held webhook events are released in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOrder {
    /// Oldest first, as they happened.
    AsHappened,
    /// Newest first: the receiver sees a later state before an earlier one.
    Reversed,
}

/// What became of one webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The event's id, `evt_…`.
    pub event_id: String,
    /// The tracker it is about.
    pub tracker_id: String,
    /// The tracker's status in the event.
    pub status: String,
    /// The receiver's last HTTP status; `None` if it never answered.
    pub answered: Option<u16>,
    /// How many POSTs were made.
    pub attempts: u32,
}

/// The simulated EasyPost account: its API key, trackers, scripts and webhook.
#[derive(Debug, Clone)]
pub struct CarrierSim {
    state: Arc<Mutex<Account>>,
    http: reqwest::Client,
}

#[derive(Debug)]
struct Account {
    api_key: String,
    trackers: Vec<SimTracker>,
    scripts: HashMap<String, Vec<TrackingStep>>,
    webhook: Option<(String, String)>,
    held: Option<Vec<Value>>,
    deliveries: Vec<WebhookDelivery>,
}

#[derive(Debug)]
struct SimTracker {
    id: String,
    tracking_code: String,
    carrier: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// The index of the script step reached; `None` before the first.
    position: Option<usize>,
    status: String,
    status_detail: String,
    est_delivery_date: DateTime<Utc>,
    details: Vec<Value>,
}

fn stamp(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn easypost_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl SimTracker {
    fn to_json(&self) -> Value {
        let finalized = matches!(
            self.status.as_str(),
            "delivered" | "return_to_sender" | "failure" | "cancelled" | "error"
        );
        json!({
            "id": self.id,
            "object": "Tracker",
            "mode": "test",
            "tracking_code": self.tracking_code,
            "status": self.status,
            "status_detail": self.status_detail,
            "created_at": stamp(self.created_at),
            "updated_at": stamp(self.updated_at),
            "signed_by": null,
            "weight": null,
            "est_delivery_date": stamp(self.est_delivery_date),
            "shipment_id": null,
            "carrier": self.carrier,
            "tracking_details": self.details,
            "carrier_detail": null,
            "finalized": finalized,
            "is_return": self.status == "return_to_sender",
            "public_url": format!("https://track.easypost.com/{}", self.id),
        })
    }

    /// Moves to `step` at `now`, recording its scan after the previous one.
    fn apply(&mut self, step: &TrackingStep, now: DateTime<Utc>) {
        let previous = self
            .details
            .last()
            .and_then(|d| d["datetime"].as_str())
            .and_then(|t| t.parse::<DateTime<Utc>>().ok());
        // Scans are stamped to the second, like EasyPost's: a scan within the
        // same second as the previous one is put one second after it.
        let now = now.trunc_subsecs(0);
        let at = match previous {
            Some(previous) if now <= previous => previous + TimeDelta::seconds(1),
            _ => now,
        };
        let location = step.location.as_ref();
        let part = |i: usize| location.map(|l| l[i].clone());
        self.details.push(json!({
            "object": "TrackingDetail",
            "message": step.message,
            "description": step.message,
            "status": step.status,
            "status_detail": step.status_detail,
            "datetime": stamp(at),
            "source": self.carrier,
            "carrier_code": "",
            "tracking_location": {
                "object": "TrackingLocation",
                "city": part(0), "state": part(1), "country": part(2), "zip": part(3),
            },
        }));
        self.status.clone_from(&step.status);
        self.status_detail.clone_from(&step.status_detail);
        if let Some(date) = step.est_delivery_date {
            self.est_delivery_date = date;
        }
        self.updated_at = at;
    }
}

impl CarrierSim {
    /// An account with no trackers, accepting `api_key`.
    pub fn new(api_key: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        CarrierSim {
            state: Arc::new(Mutex::new(Account {
                api_key: api_key.into(),
                trackers: Vec::new(),
                scripts: HashMap::new(),
                webhook: None,
                held: None,
                deliveries: Vec::new(),
            })),
            http,
        }
    }

    /// The HTTP API: `POST /v2/trackers`, `GET /v2/trackers`, `GET /v2/trackers/{id}`.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/v2/trackers", get(list).post(create))
            .route("/v2/trackers/{id}", get(retrieve))
            .layer(middleware::from_fn_with_state(self.clone(), authenticate))
            .with_state(self.clone())
    }

    /// The steps trackers of `tracking_code` follow, from their creation
    /// (a tracker already created continues from its current step number).
    pub fn script(&self, tracking_code: &str, steps: Vec<TrackingStep>) {
        self.lock().scripts.insert(tracking_code.to_owned(), steps);
    }

    /// POSTs each tracker change, signed with `secret`, to `url`.
    pub fn set_webhook(&self, url: impl Into<String>, secret: impl Into<String>) {
        self.lock().webhook = Some((url.into(), secret.into()));
    }

    /// Keeps webhook events back until [`CarrierSim::release_webhooks`].
    pub fn hold_webhooks(&self) {
        self.lock().held.get_or_insert_with(Vec::new);
    }

    /// Delivers the events held back, in `order`, and stops holding.
    pub async fn release_webhooks(&self, order: WebhookOrder) -> Vec<WebhookDelivery> {
        let mut events = self.lock().held.take().unwrap_or_default();
        if order == WebhookOrder::Reversed {
            events.reverse();
        }
        let mut delivered = Vec::with_capacity(events.len());
        for event in events {
            delivered.push(self.deliver(event).await);
        }
        delivered
    }

    /// Moves tracker `id` one step along its script and delivers the
    /// webhook event; its new status, or `None` if it is unknown or at the
    /// end of its script.
    pub async fn advance(&self, id: &str) -> Option<String> {
        let event = self.step(id)?;
        let status = event["result"]["status"].as_str().map(str::to_owned);
        self.send_or_hold(event).await;
        status
    }

    /// Moves every tracker one step, oldest first; how many moved.
    pub async fn advance_all(&self) -> usize {
        let ids: Vec<String> = self.lock().trackers.iter().map(|t| t.id.clone()).collect();
        let mut moved = 0;
        for id in ids {
            if self.advance(&id).await.is_some() {
                moved += 1;
            }
        }
        moved
    }

    /// Tracker `id` as the API shows it.
    pub fn tracker(&self, id: &str) -> Option<Value> {
        self.lock()
            .trackers
            .iter()
            .find(|t| t.id == id)
            .map(SimTracker::to_json)
    }

    /// How many trackers the account has.
    pub fn tracker_count(&self) -> usize {
        self.lock().trackers.len()
    }

    /// Every webhook delivery so far, in order.
    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.lock().deliveries.clone()
    }

    fn step(&self, id: &str) -> Option<Value> {
        let mut account = self.lock();
        let Account {
            trackers, scripts, ..
        } = &mut *account;
        let tracker = trackers.iter_mut().find(|t| t.id == id)?;
        let default = TrackingStep::default_script();
        let script = scripts.get(&tracker.tracking_code).unwrap_or(&default);
        let next = tracker.position.map_or(0, |p| p + 1);
        let step = script.get(next)?;
        let previous_status = tracker.status.clone();
        tracker.apply(step, Utc::now());
        tracker.position = Some(next);
        let now = stamp(Utc::now());
        Some(json!({
            "object": "Event",
            "id": easypost_id("evt"),
            "mode": "test",
            "description": "tracker.updated",
            "previous_attributes": {"status": previous_status},
            "created_at": now,
            "updated_at": now,
            "pending_urls": [],
            "completed_urls": [],
            "user_id": "user_simulated",
            "status": "pending",
            "result": tracker.to_json(),
        }))
    }

    async fn send_or_hold(&self, event: Value) {
        {
            let mut account = self.lock();
            if account.webhook.is_none() {
                return;
            }
            if let Some(held) = account.held.as_mut() {
                held.push(event);
                return;
            }
        }
        self.deliver(event).await;
    }

    async fn deliver(&self, event: Value) -> WebhookDelivery {
        let webhook = self.lock().webhook.clone();
        let mut delivery = WebhookDelivery {
            event_id: event["id"].as_str().unwrap_or_default().to_owned(),
            tracker_id: event["result"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            status: event["result"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            answered: None,
            attempts: 0,
        };
        if let Some((url, secret)) = webhook {
            let body = event.to_string().into_bytes();
            let signature = sign(&secret, &body);
            while delivery.attempts < DELIVERY_ATTEMPTS {
                delivery.attempts += 1;
                let answer = self
                    .http
                    .post(&url)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("X-Hmac-Signature", &signature)
                    .body(body.clone())
                    .send()
                    .await;
                delivery.answered = answer.as_ref().ok().map(|r| r.status().as_u16());
                if answer.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        self.lock().deliveries.push(delivery.clone());
        delivery
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Account> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `X-Hmac-Signature` for `body`: HMAC-SHA256 keyed with the NFKD form of `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key: String = secret.nfkd().collect();
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    format!(
        "hmac-sha256-hex={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn refusal(status: StatusCode, code: &str, message: &str, errors: Value) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message, "errors": errors}})),
    )
        .into_response()
}

async fn authenticate(State(sim): State<CarrierSim>, request: Request, next: Next) -> Response {
    let user = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map(|pair| {
            pair.split_once(':')
                .map_or(pair.clone(), |(user, _)| user.to_owned())
        });
    let api_key = sim.lock().api_key.clone();
    match user {
        Some(user) if user == api_key => next.run(request).await,
        Some(_) => refusal(
            StatusCode::UNAUTHORIZED,
            "APIKEY.INVALID",
            "The API key provided is invalid.",
            json!([]),
        ),
        None => refusal(
            StatusCode::UNAUTHORIZED,
            "APIKEY.REQUIRED",
            "API key required.",
            json!([]),
        ),
    }
}

fn not_found() -> Response {
    refusal(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        "The requested resource could not be found.",
        json!([]),
    )
}

async fn create(State(sim): State<CarrierSim>, bytes: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let code = body["tracker"]["tracking_code"]
        .as_str()
        .map(str::trim)
        .unwrap_or_default();
    if code.is_empty() {
        let errors = json!([{"field": "tracking_code", "message": "cannot be blank"}]);
        return refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "PARAMETER.REQUIRED",
            "Missing required parameter.",
            errors,
        );
    }
    let carrier = match body["tracker"]["carrier"].as_str().map(str::trim) {
        Some(carrier) if !carrier.is_empty() => carrier.to_owned(),
        _ if code.starts_with("1Z") => "UPS".to_owned(),
        _ => "USPS".to_owned(),
    };
    let mut account = sim.lock();
    // EasyPost returns the original tracker for the same code and carrier.
    if let Some(existing) = account
        .trackers
        .iter()
        .find(|t| t.tracking_code == code && t.carrier.eq_ignore_ascii_case(&carrier))
    {
        return Json(existing.to_json()).into_response();
    }
    let now = Utc::now();
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    let mut tracker = SimTracker {
        id: easypost_id("trk"),
        tracking_code: code.to_owned(),
        carrier,
        created_at: now,
        updated_at: now,
        position: None,
        status: "unknown".to_owned(),
        status_detail: "unknown".to_owned(),
        est_delivery_date: midnight.checked_add_days(Days::new(3)).unwrap_or(midnight),
        details: Vec::new(),
    };
    let default = TrackingStep::default_script();
    let script = account.scripts.get(code).unwrap_or(&default);
    if let Some(first) = script.first() {
        tracker.apply(first, now);
        tracker.position = Some(0);
    }
    let answer = tracker.to_json();
    account.trackers.push(tracker);
    Json(answer).into_response()
}

async fn retrieve(State(sim): State<CarrierSim>, Path(id): Path<String>) -> Response {
    match sim.tracker(&id) {
        Some(tracker) => Json(tracker).into_response(),
        None => not_found(),
    }
}

async fn list(
    State(sim): State<CarrierSim>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let mut codes = Vec::new();
    let (mut carrier, mut page_size, mut before) = (None, 20_usize, None);
    for (key, value) in pairs {
        match key.as_str() {
            "tracking_codes[]" | "tracking_code" => codes.push(value),
            "carrier" => carrier = Some(value),
            "page_size" => page_size = value.parse().unwrap_or(20).clamp(1, 100),
            "before_id" => before = Some(value),
            _ => {}
        }
    }
    let account = sim.lock();
    let newest_first = account.trackers.iter().rev();
    let older: Vec<&SimTracker> = match &before {
        Some(before) => newest_first
            .skip_while(|t| t.id != *before)
            .skip(1)
            .collect(),
        None => newest_first.collect(),
    };
    let matching: Vec<Value> = older
        .into_iter()
        .filter(|t| codes.is_empty() || codes.contains(&t.tracking_code))
        .filter(|t| {
            carrier
                .as_ref()
                .is_none_or(|c| t.carrier.eq_ignore_ascii_case(c))
        })
        .map(SimTracker::to_json)
        .collect();
    let has_more = matching.len() > page_size;
    let page: Vec<Value> = matching.into_iter().take(page_size).collect();
    Json(json!({"trackers": page, "has_more": has_more})).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_stay_oldest_first_even_within_one_second() {
        let now = Utc::now();
        let mut tracker = SimTracker {
            id: "trk_1".into(),
            tracking_code: "1Z".into(),
            carrier: "UPS".into(),
            created_at: now,
            updated_at: now,
            position: None,
            status: "unknown".into(),
            status_detail: "unknown".into(),
            est_delivery_date: now,
            details: Vec::new(),
        };
        for step in TrackingStep::default_script() {
            tracker.apply(&step, now);
        }
        let times: Vec<&str> = tracker
            .details
            .iter()
            .filter_map(|d| d["datetime"].as_str())
            .collect();
        assert_eq!(times.len(), 4);
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        assert_eq!(tracker.to_json()["status"], "delivered");
        assert_eq!(tracker.to_json()["finalized"], true);
    }

    #[test]
    fn signatures_use_the_nfkd_form_of_the_secret() {
        // The same secret typed precomposed or with a combining accent.
        assert_eq!(sign("s\u{e9}cret", b"{}"), sign("se\u{301}cret", b"{}"));
        assert!(sign("k", b"{}").starts_with("hmac-sha256-hex="));
        assert_eq!(sign("k", b"{}").len(), "hmac-sha256-hex=".len() + 64);
    }
}
