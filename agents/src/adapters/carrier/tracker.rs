//! EasyPost's `Tracker` object: a package's current status and its scan
//! history, oldest first.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Where a package stands, as EasyPost names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum TrackerStatus {
    /// The carrier has no tracking information yet.
    Unknown,
    /// Label created; the carrier does not have the package yet.
    PreTransit,
    /// On its way.
    InTransit,
    /// On the final delivery route.
    OutForDelivery,
    /// Delivered.
    Delivered,
    /// Waiting at a carrier location to be picked up.
    AvailableForPickup,
    /// Being sent back.
    ReturnToSender,
    /// The carrier could not deliver (damage, lost, refused …).
    Failure,
    /// The shipment was cancelled.
    Cancelled,
    /// EasyPost could not track it.
    Error,
    /// A status this client does not know yet, kept as sent.
    Other(String),
}

impl TrackerStatus {
    /// The name EasyPost uses.
    pub fn as_str(&self) -> &str {
        match self {
            TrackerStatus::Unknown => "unknown",
            TrackerStatus::PreTransit => "pre_transit",
            TrackerStatus::InTransit => "in_transit",
            TrackerStatus::OutForDelivery => "out_for_delivery",
            TrackerStatus::Delivered => "delivered",
            TrackerStatus::AvailableForPickup => "available_for_pickup",
            TrackerStatus::ReturnToSender => "return_to_sender",
            TrackerStatus::Failure => "failure",
            TrackerStatus::Cancelled => "cancelled",
            TrackerStatus::Error => "error",
            TrackerStatus::Other(other) => other,
        }
    }

    /// Whether the package will not reach its recipient as planned.
    pub fn is_exception(&self) -> bool {
        matches!(
            self,
            TrackerStatus::ReturnToSender
                | TrackerStatus::Failure
                | TrackerStatus::Cancelled
                | TrackerStatus::Error
        )
    }
}

impl From<String> for TrackerStatus {
    fn from(status: String) -> Self {
        match status.as_str() {
            "unknown" => TrackerStatus::Unknown,
            "pre_transit" => TrackerStatus::PreTransit,
            "in_transit" => TrackerStatus::InTransit,
            "out_for_delivery" => TrackerStatus::OutForDelivery,
            "delivered" => TrackerStatus::Delivered,
            "available_for_pickup" => TrackerStatus::AvailableForPickup,
            "return_to_sender" => TrackerStatus::ReturnToSender,
            "failure" => TrackerStatus::Failure,
            "cancelled" => TrackerStatus::Cancelled,
            "error" => TrackerStatus::Error,
            _ => TrackerStatus::Other(status),
        }
    }
}

impl From<TrackerStatus> for String {
    fn from(status: TrackerStatus) -> Self {
        match status {
            TrackerStatus::Other(other) => other,
            known => known.as_str().to_owned(),
        }
    }
}

impl fmt::Display for TrackerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A package's tracking: EasyPost's `Tracker`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tracker {
    /// EasyPost's id, `trk_…`.
    pub id: String,
    /// The carrier's tracking number.
    pub tracking_code: String,
    /// The carrier (`UPS`, `USPS`, `FedEx` …).
    #[serde(default)]
    pub carrier: String,
    /// Where the package stands.
    pub status: TrackerStatus,
    /// A finer status (`arrived_at_facility`, `address_not_found` …).
    #[serde(default)]
    pub status_detail: Option<String>,
    /// When the carrier expects to deliver.
    #[serde(default, deserialize_with = "lenient_time")]
    pub est_delivery_date: Option<DateTime<Utc>>,
    /// Every scan, oldest first.
    #[serde(default)]
    pub tracking_details: Vec<TrackingDetail>,
    /// When EasyPost created the tracker.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// EasyPost's public tracking page.
    #[serde(default)]
    pub public_url: Option<String>,
}

/// One scan: EasyPost's `TrackingDetail`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackingDetail {
    /// The carrier's words.
    #[serde(default)]
    pub message: Option<String>,
    /// The status after this scan.
    pub status: TrackerStatus,
    /// A finer status.
    #[serde(default)]
    pub status_detail: Option<String>,
    /// When the scan happened.
    #[serde(default, deserialize_with = "lenient_time")]
    pub datetime: Option<DateTime<Utc>>,
    /// Who reported it (usually the carrier).
    #[serde(default)]
    pub source: Option<String>,
    /// Where.
    #[serde(default)]
    pub tracking_location: Option<TrackingLocation>,
}

/// Where a scan happened: EasyPost's `TrackingLocation` (any part may be missing).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TrackingLocation {
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State or province.
    #[serde(default)]
    pub state: Option<String>,
    /// Country code.
    #[serde(default)]
    pub country: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub zip: Option<String>,
}

impl Tracker {
    /// The latest scan, if any.
    pub fn latest_detail(&self) -> Option<&TrackingDetail> {
        self.tracking_details.last()
    }
}

/// A time as RFC 3339 (`2024-08-05T00:00:00Z`) or, without an offset, as
/// UTC; one that is neither reads as unknown rather than failing the tracker.
pub(super) fn lenient_time<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text: Option<String> = Option::deserialize(d)?;
    Ok(text.and_then(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|time| time.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S")
                    .ok()
                    .map(|naive| naive.and_utc())
            })
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_easypost_status_maps_and_an_unknown_one_is_kept() {
        for name in [
            "unknown",
            "pre_transit",
            "in_transit",
            "out_for_delivery",
            "delivered",
            "available_for_pickup",
            "return_to_sender",
            "failure",
            "cancelled",
            "error",
        ] {
            let status = TrackerStatus::from(name.to_owned());
            assert!(!matches!(status, TrackerStatus::Other(_)), "{name}");
            assert_eq!(status.as_str(), name);
        }
        let novel: TrackerStatus =
            serde_json::from_value(json!("held_at_customs")).expect("status");
        assert_eq!(novel, TrackerStatus::Other("held_at_customs".into()));
        assert_eq!(
            serde_json::to_value(&novel).expect("json"),
            json!("held_at_customs")
        );
    }

    #[test]
    fn a_tracker_reads_with_odd_or_missing_dates() {
        let tracker: Tracker = serde_json::from_value(json!({
            "id": "trk_1", "object": "Tracker", "tracking_code": "1Z999", "carrier": "UPS",
            "status": "in_transit", "status_detail": null, "est_delivery_date": "sometime",
            "created_at": "2024-07-31T14:45:27Z", "updated_at": "2024-08-02T19:26:51.000Z",
            "tracking_details": [
                {"object": "TrackingDetail", "message": "Picked up", "status": "in_transit",
                 "datetime": "2024-07-31T19:27:00", "tracking_location": {"object": "TrackingLocation", "city": "ORLANDO"}}
            ],
            "weight": 614.4
        }))
        .expect("tracker");
        assert_eq!(tracker.est_delivery_date, None);
        let scan = tracker.latest_detail().expect("a scan");
        assert_eq!(
            scan.datetime.map(|t| t.to_rfc3339()),
            Some("2024-07-31T19:27:00+00:00".to_owned())
        );
        assert_eq!(
            scan.tracking_location
                .as_ref()
                .and_then(|l| l.city.as_deref()),
            Some("ORLANDO")
        );
    }
}
