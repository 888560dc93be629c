//! A scan's settlement: which of the purchase orders a scan drafted have
//! come to rest (placed in the ERP, rejected or cancelled), tallied in a
//! small stream of its own, one per scan.
//!
//! The Logistics agent settles an order here when it reaches rest; the
//! order that completes the tally also records [`ScanOrdersSettled`], and
//! that one event completes the scan's task. Each settlement reads this
//! stream alone, so a scan with n orders costs n short reads, where asking
//! every order of the scan on each settlement would cost n² stream reads;
//! and since concurrent settlements meet at this stream's expected
//! version, exactly one of them records that the scan is settled.
//!
//! The scan's own stream is not the place for the tally: it holds every
//! stock level's figures, and each settlement would fold them all.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::aggregate::{Aggregate, Rejection};
use crate::codec::{DomainEvent, EventSchema};

/// How an order came to rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Settled {
    /// Placed in the ERP under this name.
    Placed {
        /// The ERP document's name.
        erp_name: String,
    },
    /// Rejected or cancelled before it was placed, or cancelled after.
    Dropped,
}

/// What can be asked of a settlement.
#[derive(Debug, Clone, PartialEq)]
pub enum ScanSettlementCommand {
    /// Count an order of the scan as settled.
    Settle {
        /// The scan.
        scan_id: Uuid,
        /// The scan's task, if a task asked for it.
        task_id: Option<Uuid>,
        /// Every order the scan drafted, in the scan's order.
        orders: Vec<Uuid>,
        /// The order that came to rest.
        po_id: Uuid,
        /// How.
        settled: Settled,
        /// When.
        at: DateTime<Utc>,
    },
}

/// An order of a scan came to rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PurchaseOrderSettled {
    /// The scan.
    pub scan_id: Uuid,
    /// The order.
    pub po_id: Uuid,
    /// How.
    #[serde(flatten)]
    pub settled: Settled,
    /// When.
    pub at: DateTime<Utc>,
}

/// Every order of a scan came to rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanOrdersSettled {
    /// The scan.
    pub scan_id: Uuid,
    /// The scan's task, if a task asked for it.
    pub task_id: Option<Uuid>,
    /// The ERP names of the orders placed, in the scan's order.
    pub placed: Vec<String>,
    /// How many were rejected or cancelled.
    pub dropped: u32,
    /// When the last one came to rest.
    pub at: DateTime<Utc>,
}

impl ScanOrdersSettled {
    /// What the scan's orders came to, for its task's summary.
    pub fn summary(&self) -> String {
        let placed = if self.placed.is_empty() {
            "none".to_owned()
        } else {
            self.placed.join(", ")
        };
        let dropped = if self.dropped > 0 {
            format!("; {} rejected or cancelled", self.dropped)
        } else {
            String::new()
        };
        format!("placed in the ERP: {placed}{dropped}")
    }
}

/// What can happen to a settlement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ScanSettlementEvent {
    /// An order came to rest.
    PurchaseOrderSettled(PurchaseOrderSettled),
    /// The last one did (after its [`PurchaseOrderSettled`], in the same
    /// append).
    ScanOrdersSettled(ScanOrdersSettled),
}

impl DomainEvent for ScanSettlementEvent {
    const SCHEMAS: &'static [EventSchema] = &[
        EventSchema {
            event_type: "PurchaseOrderSettled",
            version: 1,
            upcasters: &[],
        },
        EventSchema {
            event_type: "ScanOrdersSettled",
            version: 1,
            upcasters: &[],
        },
    ];
}

/// Why an order cannot be settled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanSettlementRejection {
    /// The order is not one the scan drafted.
    #[error("purchase order {0} is not one of the scan's orders")]
    NotOfScan(Uuid),
}

impl Rejection for ScanSettlementRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::NotOfScan(_) => "settlement.not_of_scan",
        }
    }
}

/// A settlement's state: how each order that came to rest did, and
/// whether they all have.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScanSettlement {
    /// The orders at rest.
    pub settled: BTreeMap<Uuid, Settled>,
    /// Whether every order of the scan is.
    pub complete: bool,
}

impl Aggregate for ScanSettlement {
    const CATEGORY: &'static str = "scan_settlement";
    type Command = ScanSettlementCommand;
    type Event = ScanSettlementEvent;
    type Rejection = ScanSettlementRejection;

    /// An order settles once: the first way it came to rest stands (an
    /// order placed and then cancelled with its cancelled task counts as
    /// placed; the task is cancelled anyway).
    fn decide(
        &self,
        command: &ScanSettlementCommand,
    ) -> Result<Vec<ScanSettlementEvent>, ScanSettlementRejection> {
        let ScanSettlementCommand::Settle {
            scan_id,
            task_id,
            orders,
            po_id,
            settled,
            at,
        } = command;
        if !orders.contains(po_id) {
            return Err(ScanSettlementRejection::NotOfScan(*po_id));
        }
        if self.complete || self.settled.contains_key(po_id) {
            return Ok(Vec::new());
        }
        let mut events = vec![ScanSettlementEvent::PurchaseOrderSettled(
            PurchaseOrderSettled {
                scan_id: *scan_id,
                po_id: *po_id,
                settled: settled.clone(),
                at: *at,
            },
        )];
        let outcome = |id: &Uuid| {
            if id == po_id {
                Some(settled)
            } else {
                self.settled.get(id)
            }
        };
        if orders.iter().all(|id| outcome(id).is_some()) {
            let mut placed = Vec::new();
            let mut dropped = 0;
            for id in orders {
                match outcome(id) {
                    Some(Settled::Placed { erp_name }) => placed.push(erp_name.clone()),
                    _ => dropped += 1,
                }
            }
            events.push(ScanSettlementEvent::ScanOrdersSettled(ScanOrdersSettled {
                scan_id: *scan_id,
                task_id: *task_id,
                placed,
                dropped,
                at: *at,
            }));
        }
        Ok(events)
    }

    fn evolve(mut self, event: &ScanSettlementEvent) -> Self {
        match event {
            ScanSettlementEvent::PurchaseOrderSettled(e) => {
                self.settled.insert(e.po_id, e.settled.clone());
            }
            ScanSettlementEvent::ScanOrdersSettled(_) => self.complete = true,
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::aggregate::spec;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn placed(name: &str) -> Settled {
        Settled::Placed {
            erp_name: name.to_owned(),
        }
    }

    fn settle(orders: &[u128], po: u128, settled: Settled) -> ScanSettlementCommand {
        ScanSettlementCommand::Settle {
            scan_id: id(100),
            task_id: Some(id(200)),
            orders: orders.iter().copied().map(id).collect(),
            po_id: id(po),
            settled,
            at: DateTime::UNIX_EPOCH,
        }
    }

    fn settled_event(po: u128, settled: Settled) -> ScanSettlementEvent {
        ScanSettlementEvent::PurchaseOrderSettled(PurchaseOrderSettled {
            scan_id: id(100),
            po_id: id(po),
            settled,
            at: DateTime::UNIX_EPOCH,
        })
    }

    #[test]
    fn the_last_order_to_settle_settles_the_scan_with_the_placed_names_in_the_scans_order() {
        spec::given::<ScanSettlement>([settled_event(3, placed("PO-3"))])
            .when(settle(&[1, 2, 3], 1, Settled::Dropped))
            .then([settled_event(1, Settled::Dropped)]);
        let all = ScanOrdersSettled {
            scan_id: id(100),
            task_id: Some(id(200)),
            placed: vec!["PO-2".to_owned(), "PO-3".to_owned()],
            dropped: 1,
            at: DateTime::UNIX_EPOCH,
        };
        assert_eq!(
            all.summary(),
            "placed in the ERP: PO-2, PO-3; 1 rejected or cancelled"
        );
        spec::given::<ScanSettlement>([
            settled_event(3, placed("PO-3")),
            settled_event(1, Settled::Dropped),
        ])
        .when(settle(&[1, 2, 3], 2, placed("PO-2")))
        .then([
            settled_event(2, placed("PO-2")),
            ScanSettlementEvent::ScanOrdersSettled(all),
        ]);
    }

    #[test]
    fn an_order_settles_once_and_a_stranger_is_refused() {
        spec::given::<ScanSettlement>([settled_event(1, placed("PO-1"))])
            .when(settle(&[1, 2], 1, Settled::Dropped))
            .then([]);
        spec::given::<ScanSettlement>([])
            .when(settle(&[1, 2], 9, Settled::Dropped))
            .then_rejected("settlement.not_of_scan");
    }

    proptest! {
        /// Whatever order the scan's orders settle in, and however often
        /// each settlement is repeated, the scan is settled exactly once,
        /// by the last distinct order, and counts each order once.
        #[test]
        fn a_scan_is_settled_exactly_once(
            n in 1usize..12,
            sequence in proptest::collection::vec((0usize..12, any::<bool>()), 1..60),
        ) {
            let orders: Vec<u128> = (1..=n as u128).collect();
            let mut state = ScanSettlement::default();
            let mut seen = std::collections::BTreeSet::new();
            let mut completions = Vec::new();
            for (pick, is_placed) in sequence.into_iter().chain((0..n).map(|i| (i, false))) {
                let po = orders[pick % n];
                let how = if is_placed { placed(&format!("PO-{po}")) } else { Settled::Dropped };
                let events = state.decide(&settle(&orders, po, how)).expect("an order of the scan");
                let first_time = seen.insert(po);
                prop_assert_eq!(events.is_empty(), !first_time);
                for event in &events {
                    if let ScanSettlementEvent::ScanOrdersSettled(all) = event {
                        prop_assert_eq!(seen.len(), n);
                        completions.push(all.placed.len() + all.dropped as usize);
                    }
                    state = state.evolve(event);
                }
            }
            prop_assert_eq!(completions, vec![n]);
            prop_assert!(state.complete);
        }
    }
}
