//! Golden tests: stored JSON of every schema version of every event type
//! still decodes into today's types.
//!
//! Fixtures live in `tests/golden/<EventType>/v<N>.json`, one per version,
//! exactly as the store would hold the payload. A new event type or a new
//! version without a fixture fails [`every_schema_version_has_a_fixture`];
//! the decoded, re-encoded current shape is snapshotted with insta, so a
//! change of shape shows up in review.

use std::path::{Path, PathBuf};

use domain::approval::ApprovalEvent;
use domain::codec::EventSchema;
use domain::control::ControlEvent;
use domain::dead_letter::DeadLetterEvent;
use domain::directive::DirectiveEvent;
use domain::logistics::scan::InventoryScanEvent;
use domain::logistics::settlement::ScanSettlementEvent;
use domain::logistics::{PurchaseOrderEvent, ShipmentEvent};
use domain::task::TaskEvent;
use domain::{DomainEvent, EventId};

/// Every event enum of the domain, by name.
fn registries() -> Vec<(&'static str, &'static [EventSchema])> {
    vec![
        ("directive", DirectiveEvent::SCHEMAS),
        ("dead_letter", DeadLetterEvent::SCHEMAS),
        ("approval", ApprovalEvent::SCHEMAS),
        ("task", TaskEvent::SCHEMAS),
        ("control", ControlEvent::SCHEMAS),
        ("purchase_order", PurchaseOrderEvent::SCHEMAS),
        ("shipment", ShipmentEvent::SCHEMAS),
        ("inventory_scan", InventoryScanEvent::SCHEMAS),
        ("scan_settlement", ScanSettlementEvent::SCHEMAS),
    ]
}

/// Decodes a payload with `E` if it registers `event_type`, returning the
/// current-version payload it re-encodes to.
fn reencode<E: DomainEvent>(
    event_type: &str,
    version: u32,
    payload: &str,
) -> Option<serde_json::Value> {
    E::schema(event_type)?;
    let event = E::decode_parts(event_type, version, payload)
        .unwrap_or_else(|e| panic!("{event_type} v{version}: {e}"))
        .encode(EventId::from_uuid(uuid::Uuid::nil()))
        .unwrap_or_else(|e| panic!("{event_type} v{version} re-encode: {e}"));
    Some(event.payload.to_value().expect("encoded payloads are JSON"))
}

/// Decodes a payload with the enum that registers `event_type`, returning the
/// current-version payload it re-encodes to.
fn decode_and_reencode(event_type: &str, version: u32, payload: &str) -> serde_json::Value {
    reencode::<DirectiveEvent>(event_type, version, payload)
        .or_else(|| reencode::<DeadLetterEvent>(event_type, version, payload))
        .or_else(|| reencode::<ApprovalEvent>(event_type, version, payload))
        .or_else(|| reencode::<TaskEvent>(event_type, version, payload))
        .or_else(|| reencode::<ControlEvent>(event_type, version, payload))
        .or_else(|| reencode::<PurchaseOrderEvent>(event_type, version, payload))
        .or_else(|| reencode::<ShipmentEvent>(event_type, version, payload))
        .or_else(|| reencode::<InventoryScanEvent>(event_type, version, payload))
        .or_else(|| reencode::<ScanSettlementEvent>(event_type, version, payload))
        .unwrap_or_else(|| panic!("{event_type} is in no registry"))
}

fn fixture(event_type: &str, version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(event_type)
        .join(format!("v{version}.json"))
}

#[test]
fn every_schema_version_has_a_fixture() {
    let mut missing = Vec::new();
    for (_, schemas) in registries() {
        for schema in schemas {
            for version in 1..=schema.version {
                let path = fixture(schema.event_type, version);
                if !path.exists() {
                    missing.push(path.display().to_string());
                }
            }
        }
    }
    assert!(missing.is_empty(), "golden fixtures missing: {missing:#?}");
}

#[test]
fn every_stored_version_decodes_into_the_current_shape() {
    for (_, schemas) in registries() {
        for schema in schemas {
            for version in 1..=schema.version {
                let path = fixture(schema.event_type, version);
                let Ok(payload) = std::fs::read_to_string(&path) else {
                    continue; // reported by every_schema_version_has_a_fixture
                };
                let current = decode_and_reencode(schema.event_type, version, payload.trim());
                insta::assert_json_snapshot!(format!("{}_v{version}", schema.event_type), current);
            }
        }
    }
}

#[test]
fn current_fixtures_round_trip_unchanged() {
    for (_, schemas) in registries() {
        for schema in schemas {
            let path = fixture(schema.event_type, schema.version);
            let payload = std::fs::read_to_string(&path).expect("fixture exists");
            let stored: serde_json::Value =
                serde_json::from_str(&payload).expect("fixture is JSON");
            let current = decode_and_reencode(schema.event_type, schema.version, payload.trim());
            assert_eq!(
                current, stored,
                "{}: current version must round-trip",
                schema.event_type
            );
        }
    }
}
