use chrono::TimeZone;
use proptest::prelude::*;

use super::*;
use crate::aggregate::spec::given;

/// 25 November 2026 at `hour` (hours past 23 run into the next days).
fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0)
        .single()
        .expect("valid")
        + chrono::Duration::hours(i64::from(hour))
}

/// Promised for the 27th at noon.
fn promised_by() -> DateTime<Utc> {
    at(60)
}

fn start() -> ShipmentCommand {
    start_carrying(Vec::new())
}

/// Tracking that a shipping notice says carries `contents`.
fn start_carrying(contents: Vec<ParcelLine>) -> ShipmentCommand {
    ShipmentCommand::StartTracking {
        shipment_id: Uuid::from_u128(1),
        po_id: Uuid::from_u128(2),
        task_id: Some(Uuid::from_u128(3)),
        carrier: " DHL ".to_owned(),
        tracking_number: "JD014600006281230415".to_owned(),
        promised_by: promised_by(),
        contents,
        at: at(9),
    }
}

fn started() -> ShipmentEvent {
    ShipmentEvent::ShipmentTrackingStarted(ShipmentTrackingStarted {
        shipment_id: Uuid::from_u128(1),
        po_id: Uuid::from_u128(2),
        task_id: Some(Uuid::from_u128(3)),
        carrier: "DHL".to_owned(),
        tracking_number: "JD014600006281230415".to_owned(),
        promised_by: promised_by(),
        contents: Vec::new(),
        at: at(9),
    })
}

fn update(id: &str, status: ShipmentStatus, hour: u32) -> ShipmentCommand {
    ShipmentCommand::RecordCarrierUpdate {
        carrier_event_id: id.to_owned(),
        status,
        eta: None,
        message: format!("{status:?}"),
        occurred_at: at(hour),
    }
}

fn with_eta(command: ShipmentCommand, eta_hour: u32) -> ShipmentCommand {
    match command {
        ShipmentCommand::RecordCarrierUpdate {
            carrier_event_id,
            status,
            message,
            occurred_at,
            ..
        } => ShipmentCommand::RecordCarrierUpdate {
            carrier_event_id,
            status,
            eta: Some(at(eta_hour)),
            message,
            occurred_at,
        },
        other => other,
    }
}

fn recorded(
    id: &str,
    status: ShipmentStatus,
    hour: u32,
    eta: Option<u32>,
    applied: bool,
) -> ShipmentEvent {
    ShipmentEvent::CarrierUpdateRecorded(CarrierUpdateRecorded {
        carrier_event_id: id.to_owned(),
        status,
        eta: eta.map(at),
        message: format!("{status:?}"),
        occurred_at: at(hour),
        applied,
    })
}

/// The events of `commands` after tracking started, each accepted.
fn history(commands: &[ShipmentCommand]) -> Vec<ShipmentEvent> {
    let mut shipment = Shipment::default();
    let mut events = Vec::new();
    for command in std::iter::once(&start()).chain(commands) {
        for event in shipment.decide(command).expect("accepted") {
            shipment = shipment.evolve(&event);
            events.push(event);
        }
    }
    events
}

fn alerts(events: &[ShipmentEvent]) -> Vec<AlertKind> {
    events
        .iter()
        .filter_map(|e| match e {
            ShipmentEvent::ShipmentAlertRaised(a) => Some(a.kind),
            _ => None,
        })
        .collect()
}

use ShipmentStatus::*;

#[test]
fn tracking_starts_once_with_a_carrier_and_a_tracking_number() {
    given::<Shipment>([]).when(start()).then([started()]);
    given::<Shipment>([started()])
        .when(start())
        .then_rejected("shipment.already_tracked");
    let ShipmentCommand::StartTracking {
        shipment_id,
        po_id,
        promised_by,
        at,
        ..
    } = start()
    else {
        unreachable!()
    };
    let start_with = |carrier: &str, tracking_number: &str| ShipmentCommand::StartTracking {
        shipment_id,
        po_id,
        task_id: None,
        carrier: carrier.to_owned(),
        tracking_number: tracking_number.to_owned(),
        promised_by,
        contents: Vec::new(),
        at,
    };
    given::<Shipment>([])
        .when(start_with(" ", "JD1"))
        .then_rejected("shipment.carrier_invalid");
    given::<Shipment>([])
        .when(start_with("DHL", "JD\n1"))
        .then_rejected("shipment.tracking_number_invalid");
    given::<Shipment>([])
        .when(update("e1", InTransit, 10))
        .then_rejected("shipment.not_found");
}

#[test]
fn a_shipping_notice_s_contents_are_kept_with_the_tracking_and_name_each_sku_once() {
    let line = |sku: &str, quantity: u32| ParcelLine {
        sku: sku.parse().expect("sku"),
        quantity: std::num::NonZeroU32::new(quantity).expect("non-zero"),
    };
    let ShipmentEvent::ShipmentTrackingStarted(mut expected) = started() else {
        unreachable!()
    };
    expected.contents = vec![line("BOX-M", 300), line("TAPE-48", 36)];
    given::<Shipment>([])
        .when(start_carrying(expected.contents.clone()))
        .then([ShipmentEvent::ShipmentTrackingStarted(expected)]);
    given::<Shipment>([])
        .when(start_carrying(vec![line("BOX-M", 300), line("BOX-M", 1)]))
        .then_rejected("shipment.contents_repeat_sku");
}

#[test]
fn a_carrier_update_moves_the_status_and_the_same_update_again_changes_nothing() {
    given::<Shipment>([started()])
        .when(with_eta(update("e1", InTransit, 10), 50))
        .then([recorded("e1", InTransit, 10, Some(50), true)]);
    given::<Shipment>(history(&[update("e1", InTransit, 10)]))
        .when(update("e1", InTransit, 10))
        .then([]);
    given::<Shipment>([started()])
        .when(update(" ", InTransit, 10))
        .then_rejected("shipment.carrier_event_id_invalid");
    given::<Shipment>([started()])
        .when(ShipmentCommand::RecordCarrierUpdate {
            carrier_event_id: "e1".to_owned(),
            status: InTransit,
            eta: None,
            message: "x".repeat(MAX_TEXT_CHARS + 1),
            occurred_at: at(10),
        })
        .then_rejected("shipment.text_too_long");
}

#[test]
fn an_older_update_arriving_late_is_kept_but_does_not_move_the_status_back() {
    let events = history(&[
        update("e2", OutForDelivery, 40),
        with_eta(update("e1", InTransit, 20), 58),
    ]);
    assert_eq!(events[2], recorded("e1", InTransit, 20, Some(58), false));
    let shipment = Shipment::replay(&events);
    assert_eq!(shipment.status, OutForDelivery);
    assert_eq!(shipment.status_at, Some(at(40)));
    assert_eq!(shipment.eta, None, "an older update's ETA is not taken");
}

#[test]
fn delivered_and_returned_are_final() {
    let delivered = history(&[update("e1", Delivered, 40)]);
    given::<Shipment>(delivered.clone())
        .when(update("e2", InTransit, 45))
        .then([recorded("e2", InTransit, 45, None, false)]);
    assert_eq!(Shipment::replay(&delivered).status, Delivered);
    let returned = history(&[update("e1", Returned, 40)]);
    let after = history(&[update("e1", Returned, 40), update("e2", Delivered, 45)]);
    assert_eq!(Shipment::replay(&returned).status, Returned);
    assert_eq!(Shipment::replay(&after).status, Returned);
}

#[test]
fn an_exception_raises_one_alert_however_often_it_is_reported() {
    given::<Shipment>(history(&[update("e1", InTransit, 10)]))
        .when(update("e2", Exception, 20))
        .then([
            recorded("e2", Exception, 20, None, true),
            ShipmentEvent::ShipmentAlertRaised(ShipmentAlertRaised {
                kind: AlertKind::Exception,
                reason: "the carrier reports an exception: Exception".to_owned(),
                carrier_event_id: "e2".to_owned(),
                at: at(20),
            }),
        ]);
    let events = history(&[
        update("e1", Exception, 10),
        update("e2", InTransit, 20),
        update("e3", Exception, 30),
    ]);
    assert_eq!(alerts(&events), [AlertKind::Exception]);
}

#[test]
fn an_eta_after_the_promise_raises_one_late_alert() {
    let events = history(&[
        with_eta(update("e1", InTransit, 10), 50),
        with_eta(update("e2", InTransit, 20), 70),
        with_eta(update("e3", InTransit, 30), 80),
    ]);
    assert_eq!(alerts(&events), [AlertKind::Late]);
    let ShipmentEvent::ShipmentAlertRaised(alert) = &events[3] else {
        panic!("expected the alert after e2: {events:?}");
    };
    assert_eq!(alert.carrier_event_id, "e2");
    assert_eq!(
        alert.reason,
        "expected 2026-11-27 22:00:00 UTC, after the promised 2026-11-27 12:00:00 UTC"
    );
}

#[test]
fn a_delivery_after_the_promise_is_late_and_one_before_it_is_not() {
    let late = history(&[update("e1", InTransit, 10), update("e2", Delivered, 61)]);
    assert_eq!(alerts(&late), [AlertKind::Late]);
    let on_time = history(&[
        with_eta(update("e1", InTransit, 10), 59),
        update("e2", Delivered, 59),
        update("e3", InTransit, 70),
    ]);
    assert_eq!(alerts(&on_time), []);
}

#[test]
fn a_return_raises_its_own_alert() {
    let events = history(&[update("e1", Exception, 10), update("e2", Returned, 20)]);
    assert_eq!(alerts(&events), [AlertKind::Exception, AlertKind::Returned]);
}

#[test]
fn the_alert_rule_names_every_kind_of_trouble_that_applies() {
    let promised = promised_by();
    assert_eq!(needs_alert(InTransit, Some(at(50)), at(10), promised), []);
    assert_eq!(
        needs_alert(InTransit, Some(at(61)), at(10), promised),
        [AlertKind::Late]
    );
    assert_eq!(
        needs_alert(OutForDelivery, None, at(61), promised),
        [AlertKind::Late]
    );
    assert_eq!(
        needs_alert(Exception, Some(at(70)), at(10), promised),
        [AlertKind::Exception, AlertKind::Late]
    );
    assert_eq!(
        needs_alert(Returned, Some(at(70)), at(70), promised),
        [AlertKind::Returned]
    );
    assert_eq!(needs_alert(Delivered, Some(at(70)), at(59), promised), []);
    assert_eq!(
        needs_alert(Delivered, None, at(61), promised),
        [AlertKind::Late]
    );
}

fn any_update() -> impl Strategy<Value = ShipmentCommand> {
    let statuses = prop::sample::select(vec![
        PreTransit,
        InTransit,
        OutForDelivery,
        Delivered,
        Exception,
        Returned,
    ]);
    (0_u32..8, statuses, 0_u32..80, prop::option::of(0_u32..90)).prop_map(
        |(id, status, hour, eta)| {
            let command = update(&format!("e{id}"), status, hour);
            match eta {
                Some(eta) => with_eta(command, eta),
                None => command,
            }
        },
    )
}

proptest! {
    /// Whatever the carrier sends in whatever order: each kind of alert is
    /// raised at most once, the status only follows a newer update, and a
    /// final status never changes.
    #[test]
    fn carriers_cannot_confuse_a_shipment(updates in prop::collection::vec(any_update(), 0..30)) {
        let mut shipment = Shipment::default().evolve(&started());
        let mut raised = Vec::new();
        for command in &updates {
            let before = shipment.clone();
            let events = shipment.decide(command).expect("accepted");
            for event in &events {
                shipment = shipment.clone().evolve(event);
            }
            raised.extend(alerts(&events));
            if before.status.is_final() {
                prop_assert_eq!(shipment.status, before.status);
            }
            if let (Some(was), Some(now)) = (before.status_at, shipment.status_at) {
                prop_assert!(now >= was);
            }
            // The same update again changes nothing.
            prop_assert!(shipment.decide(command).expect("accepted").is_empty());
        }
        let mut distinct = raised.clone();
        distinct.sort();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), raised.len(), "{:?}", raised);
    }
}
