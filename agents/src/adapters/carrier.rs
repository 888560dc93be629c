//! A carrier's tracking, through EasyPost's Trackers API (v2): register a
//! tracking number ([`Carrier::create_tracker`]), read a tracker, list
//! trackers by tracking number; and receive its webhook events, checked
//! with [`verify_webhook`].
//!
//! Authentication is EasyPost's: the API key as the HTTP basic username,
//! no password; never logged. Creating a tracker twice for the same tracking
//! code and carrier returns the first one (EasyPost deduplicates them), so
//! creation is safe to retry. Only 429, 5xx and transport failures are.

pub mod tracker;
pub mod webhook;

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Deserialize;

pub use tracker::{Tracker, TrackerStatus, TrackingDetail, TrackingLocation};
pub use webhook::{sign, verify_webhook, CarrierEvent, WebhookError, SIGNATURE_HEADER};

use super::sheets::error_chain;
use super::{Adapter, CallError, CallPolicy, HealthBoard, Retryable};

/// EasyPost's endpoint.
pub const EASYPOST_URL: &str = "https://api.easypost.com";

/// The adapter's name on the health board.
pub const SYSTEM: &str = "carrier";

/// How to reach the tracking API.
#[derive(Clone)]
pub struct CarrierConfig {
    /// The API's base URL ([`EASYPOST_URL`], or a simulator's); `/v2/…` is appended.
    pub base_url: String,
    /// The API key; never logged.
    pub api_key: String,
    /// Timeouts, retries and circuit breaker.
    pub policy: CallPolicy,
}

impl CarrierConfig {
    /// `base_url` with `api_key` and the default policy.
    pub fn new(base_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        CarrierConfig {
            base_url: base_url.into(),
            api_key: api_key.into(),
            policy: CallPolicy::default(),
        }
    }
}

impl fmt::Debug for CarrierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CarrierConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("policy", &self.policy)
            .finish()
    }
}

/// Why a tracking call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    /// 401: the API key is missing, wrong or revoked.
    #[error("the carrier API refused the API key (401 {code}): {message}")]
    Unauthorized {
        /// EasyPost's error code.
        code: String,
        /// EasyPost's message.
        message: String,
    },
    /// 404: no such tracker.
    #[error("the carrier API found no such tracker (404 {code}): {message}")]
    NotFound {
        /// EasyPost's error code.
        code: String,
        /// EasyPost's message.
        message: String,
    },
    /// Another 4xx but 429: a refusal repeating the request will not change
    /// (an invalid tracking code, a missing parameter, billing …).
    #[error("the carrier API refused the request ({status} {code}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// EasyPost's error code.
        code: String,
        /// EasyPost's message.
        message: String,
    },
    /// 429: too many requests for now.
    #[error("the carrier API is rate limiting (429): {message}")]
    RateLimited {
        /// EasyPost's message.
        message: String,
    },
    /// 5xx: EasyPost failed (or a gateway lost the answer).
    #[error("the carrier API failed ({status}): {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// EasyPost's message, or the status's reason.
        message: String,
    },
    /// The request or its answer did not get through.
    #[error("the carrier API could not be reached: {0}")]
    Transport(String),
    /// A success whose body is not what the API documents.
    #[error("the carrier API answered something unreadable: {0}")]
    Unreadable(String),
    /// The configuration cannot be used (base URL, HTTP client).
    #[error("carrier adapter misconfigured: {0}")]
    Config(String),
}

impl Retryable for CarrierError {
    fn is_retryable(&self) -> bool {
        matches!(
            self,
            CarrierError::RateLimited { .. }
                | CarrierError::Unavailable { .. }
                | CarrierError::Transport(_)
        )
    }
}

impl CarrierError {
    fn from_status(status: u16, code: String, message: String) -> Self {
        match status {
            401 => CarrierError::Unauthorized { code, message },
            404 => CarrierError::NotFound { code, message },
            429 => CarrierError::RateLimited { message },
            500..=599 => CarrierError::Unavailable { status, message },
            _ => CarrierError::Rejected {
                status,
                code,
                message,
            },
        }
    }

    fn from_reqwest(e: reqwest::Error) -> Self {
        let unreadable = e.is_decode();
        let message = error_chain(&e.without_url());
        if unreadable {
            CarrierError::Unreadable(message)
        } else {
            CarrierError::Transport(message)
        }
    }
}

/// A page of trackers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TrackerList {
    /// The trackers, newest first.
    pub trackers: Vec<Tracker>,
    /// Whether older ones remain (ask again with `before_id`).
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: serde_json::Value,
}

/// A client of EasyPost's Trackers API.
#[derive(Debug, Clone)]
pub struct Carrier {
    config: CarrierConfig,
    base: reqwest::Url,
    http: reqwest::Client,
    adapter: Adapter,
}

impl Carrier {
    /// A client for `config`, registered as `carrier` on `board`.
    pub fn new(config: CarrierConfig, board: &HealthBoard) -> Result<Self, CarrierError> {
        let base = reqwest::Url::parse(&config.base_url)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && !url.cannot_be_a_base())
            .ok_or_else(|| {
                CarrierError::Config(format!("base URL {:?} is not http(s)", config.base_url))
            })?;
        let http = reqwest::Client::builder()
            .timeout(config.policy.timeout)
            .connect_timeout(config.policy.timeout)
            .build()
            .map_err(|e| CarrierError::Config(format!("HTTP client: {e}")))?;
        Ok(Carrier {
            adapter: Adapter::new(SYSTEM, config.policy, board),
            config,
            base,
            http,
        })
    }

    /// The adapter the calls go through (its health, its policy).
    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }

    /// Starts tracking `tracking_code` with `carrier` (`POST /v2/trackers`).
    /// Asking again for the same code and carrier returns the same tracker,
    /// so a retry after a lost answer creates nothing new.
    pub async fn create_tracker(
        &self,
        tracking_code: &str,
        carrier: &str,
    ) -> Result<Tracker, CallError<CarrierError>> {
        let url = self.url(&["v2", "trackers"]);
        let body = serde_json::json!({
            "tracker": { "tracking_code": tracking_code, "carrier": carrier }
        });
        self.adapter
            .call(|| self.send(self.http.post(url.clone()).json(&body)))
            .await
    }

    /// The tracker `id` as it stands (`GET /v2/trackers/{id}`).
    pub async fn tracker(&self, id: &str) -> Result<Tracker, CallError<CarrierError>> {
        let url = self.url(&["v2", "trackers", id]);
        self.adapter
            .call(|| self.send(self.http.get(url.clone())))
            .await
    }

    /// The trackers of these tracking codes (`GET /v2/trackers` filtered by
    /// `tracking_codes[]`, and by `carrier` when given), newest first, up
    /// to 100.
    pub async fn trackers(
        &self,
        tracking_codes: &[&str],
        carrier: Option<&str>,
    ) -> Result<TrackerList, CallError<CarrierError>> {
        let mut url = self.url(&["v2", "trackers"]);
        {
            let mut query = url.query_pairs_mut();
            for code in tracking_codes {
                query.append_pair("tracking_codes[]", code);
            }
            if let Some(carrier) = carrier {
                query.append_pair("carrier", carrier);
            }
            query.append_pair("page_size", "100");
        }
        self.adapter
            .call(|| self.send(self.http.get(url.clone())))
            .await
    }

    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new: an http(s) base URL has path segments")
            .pop_if_empty()
            .extend(segments);
        url
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, CarrierError> {
        let response = request
            .basic_auth(&self.config.api_key, None::<&str>)
            .send()
            .await
            .map_err(CarrierError::from_reqwest)?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(CarrierError::from_reqwest);
        }
        let body = response.text().await.unwrap_or_default();
        let (code, message) = match serde_json::from_str::<ErrorBody>(&body) {
            Ok(ErrorBody { error }) => (error.code, message_text(error.message)),
            Err(_) => (String::new(), String::new()),
        };
        let message = if message.is_empty() {
            status.canonical_reason().unwrap_or("no reason").to_owned()
        } else {
            message
        };
        Err(CarrierError::from_status(status.as_u16(), code, message))
    }
}

/// EasyPost's `message` is a string, but sometimes a list or an object.
fn message_text(message: serde_json::Value) -> String {
    let text = match message {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rate_limits_server_failures_and_transport_are_retried() {
        let refusal = |status| CarrierError::from_status(status, String::new(), String::new());
        assert!(refusal(429).is_retryable());
        assert!(refusal(502).is_retryable());
        assert!(CarrierError::Transport(String::new()).is_retryable());
        for status in [400, 401, 402, 404, 422] {
            assert!(!refusal(status).is_retryable(), "{status}");
        }
    }

    #[test]
    fn the_api_key_is_not_in_the_debug_output() {
        let config = CarrierConfig::new(EASYPOST_URL, "EZAKsecret");
        assert!(!format!("{config:?}").contains("EZAKsecret"));
        let carrier = Carrier::new(config, &HealthBoard::new()).expect("client");
        assert!(!format!("{carrier:?}").contains("EZAKsecret"));
    }

    #[test]
    fn paths_are_joined_under_the_base_url() {
        let carrier = Carrier::new(
            CarrierConfig::new("http://127.0.0.1:9/easypost/", "k"),
            &HealthBoard::new(),
        )
        .expect("client");
        assert_eq!(
            carrier.url(&["v2", "trackers", "trk_1/x"]).as_str(),
            "http://127.0.0.1:9/easypost/v2/trackers/trk_1%2Fx"
        );
        assert!(Carrier::new(CarrierConfig::new("mailto:x", "k"), &HealthBoard::new()).is_err());
    }
}
