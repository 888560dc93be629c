//! EasyPost's webhook `Event`s, and proving one came from EasyPost.
//!
//! EasyPost signs each delivery with the webhook's secret: the header
//! `X-Hmac-Signature` carries `hmac-sha256-hex=` and the lowercase hex of
//! HMAC-SHA256 over the raw body, keyed with the secret's UTF-8 bytes after
//! Unicode NFKD normalisation. That is how EasyPost's own client libraries
//! check it (`validate_webhook` in easypost-python's `easypost/util.py`), and
//! the test below replays the signed event of their shared fixtures.

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use sha2::Sha256;
use unicode_normalization::UnicodeNormalization;

use super::tracker::{lenient_time, Tracker, TrackerStatus};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Hmac-Signature";

/// What precedes the hex digest in the header.
pub const SIGNATURE_PREFIX: &str = "hmac-sha256-hex=";

/// A tracker's change, as delivered by a webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct CarrierEvent {
    /// EasyPost's id, `evt_…`; the same event may be delivered more than once.
    pub id: String,
    /// `tracker.created` or `tracker.updated`.
    pub description: String,
    /// When EasyPost created the event.
    pub created_at: Option<DateTime<Utc>>,
    /// The status before this change, when the change was one of status.
    pub previous_status: Option<TrackerStatus>,
    /// The tracker after the change.
    pub tracker: Tracker,
}

/// Why a webhook delivery is refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No `X-Hmac-Signature` header.
    #[error("the webhook has no {SIGNATURE_HEADER} header")]
    MissingSignature,
    /// The signature is not the body's, with this secret: forged, altered,
    /// or signed with another secret.
    #[error("the webhook's signature does not match its body")]
    BadSignature,
    /// Signed correctly, but not an `Event` this client can read.
    #[error("the webhook's body is not an EasyPost event: {0}")]
    Unreadable(String),
    /// An event about something other than a tracker (a batch, a refund …).
    #[error("the webhook's event is {0:?}, not about a tracker")]
    NotATrackerEvent(String),
}

/// Checks that `raw_body` was signed by EasyPost with `secret`, in constant
/// time, then reads the tracker event it carries.
pub fn verify_webhook(
    secret: &str,
    headers: &HeaderMap,
    raw_body: &[u8],
) -> Result<CarrierEvent, WebhookError> {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .ok_or(WebhookError::MissingSignature)?
        .to_str()
        .map_err(|_| WebhookError::BadSignature)?;
    let digest = signature
        .trim()
        .strip_prefix(SIGNATURE_PREFIX)
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(WebhookError::BadSignature)?;
    let mut mac = keyed(secret);
    mac.update(raw_body);
    mac.verify_slice(&digest)
        .map_err(|_| WebhookError::BadSignature)?;
    read_event(raw_body)
}

/// The header value EasyPost would send with `raw_body` for `secret`.
pub fn sign(secret: &str, raw_body: &[u8]) -> String {
    let mut mac = keyed(secret);
    mac.update(raw_body);
    format!(
        "{SIGNATURE_PREFIX}{}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn keyed(secret: &str) -> Hmac<Sha256> {
    let key: String = secret.nfkd().collect();
    Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes a key of any length")
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    object: String,
    description: String,
    #[serde(default, deserialize_with = "lenient_time")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    previous_attributes: Option<PreviousAttributes>,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct PreviousAttributes {
    #[serde(default)]
    status: Option<TrackerStatus>,
}

fn read_event(raw_body: &[u8]) -> Result<CarrierEvent, WebhookError> {
    let event: RawEvent =
        serde_json::from_slice(raw_body).map_err(|e| WebhookError::Unreadable(e.to_string()))?;
    if event.object != "Event" {
        return Err(WebhookError::Unreadable(format!(
            "object is {:?}, not \"Event\"",
            event.object
        )));
    }
    if !event.description.starts_with("tracker.") {
        return Err(WebhookError::NotATrackerEvent(event.description));
    }
    let tracker: Tracker = serde_json::from_value(event.result)
        .map_err(|e| WebhookError::Unreadable(format!("its tracker: {e}")))?;
    Ok(CarrierEvent {
        id: event.id,
        description: event.description,
        created_at: event.created_at,
        previous_status: event.previous_attributes.and_then(|p| p.status),
        tracker,
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    /// EasyPost's shared client-library fixture (github.com/EasyPost/examples,
    /// `official/fixtures/event-body.json`, MIT), serialised compactly as
    /// their tests send it, and its signature for the secret `sécret`.
    const FIXTURE_BODY: &[u8] = include_bytes!("testdata/easypost-event-body.json");
    const FIXTURE_SECRET: &str = "s\u{e9}cret";
    const FIXTURE_SIGNATURE: &str =
        "hmac-sha256-hex=38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db";

    fn signed(signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            SIGNATURE_HEADER,
            HeaderValue::from_str(signature).expect("header"),
        );
        headers
    }

    #[test]
    fn easypost_s_own_signed_fixture_verifies_with_the_nfkd_secret() {
        let event = verify_webhook(FIXTURE_SECRET, &signed(FIXTURE_SIGNATURE), FIXTURE_BODY)
            .expect("EasyPost's fixture verifies");
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.description, "tracker.updated");
        assert_eq!(event.previous_status, Some(TrackerStatus::InTransit));
        assert_eq!(event.tracker.id, "trk_1");
        assert_eq!(event.tracker.carrier, "FedEx");
        assert_eq!(event.tracker.tracking_details.len(), 7);
        assert_eq!(sign(FIXTURE_SECRET, FIXTURE_BODY), FIXTURE_SIGNATURE);
        // The same secret typed with a combining accent is the same key.
        let decomposed = "se\u{301}cret";
        assert!(verify_webhook(decomposed, &signed(FIXTURE_SIGNATURE), FIXTURE_BODY).is_ok());
    }

    #[test]
    fn a_tampered_body_is_refused() {
        let mut body = FIXTURE_BODY.to_vec();
        let at = body
            .windows(10)
            .position(|w| w == b"in_transit")
            .expect("a status in the body");
        body[at..at + 10].copy_from_slice(b"delivered_");
        assert!(matches!(
            verify_webhook(FIXTURE_SECRET, &signed(FIXTURE_SIGNATURE), &body),
            Err(WebhookError::BadSignature)
        ));
    }

    #[test]
    fn a_wrong_secret_or_a_malformed_signature_is_refused() {
        assert!(matches!(
            verify_webhook("secret", &signed(FIXTURE_SIGNATURE), FIXTURE_BODY),
            Err(WebhookError::BadSignature)
        ));
        for garbage in [
            "38f3f53c103713df81616a0a186d77141957323ec21d5fe9363db93840f527db",
            "hmac-sha256-hex=not-hex",
            "hmac-sha256-hex=38f3",
            "hmac-sha256-hex=",
        ] {
            assert!(
                matches!(
                    verify_webhook(FIXTURE_SECRET, &signed(garbage), FIXTURE_BODY),
                    Err(WebhookError::BadSignature)
                ),
                "{garbage}"
            );
        }
    }

    #[test]
    fn a_missing_header_is_refused() {
        assert!(matches!(
            verify_webhook(FIXTURE_SECRET, &HeaderMap::new(), FIXTURE_BODY),
            Err(WebhookError::MissingSignature)
        ));
    }

    #[test]
    fn a_signed_event_about_something_else_is_named() {
        let body = br#"{"object":"Event","id":"evt_2","description":"batch.updated","result":{}}"#;
        let headers = signed(&sign("k", body));
        assert!(matches!(
            verify_webhook("k", &headers, body),
            Err(WebhookError::NotATrackerEvent(d)) if d == "batch.updated"
        ));
    }
}
