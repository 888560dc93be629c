//! What Logistics counts and buys: SKUs, warehouses, suppliers, items and
//! stock levels, each parsed once at the edge and trusted inside.
//!
//! The shapes follow ERPNext: an [`Item`] is its Item (pack size, minimum
//! order), a [`Supplier`] its Supplier with the lead time measured from past
//! orders, and an [`InventoryLevel`] its Bin (actual, ordered and reserved
//! quantities, and the projected quantity derived from them).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::money::Money;

/// The longest SKU, in characters.
pub const MAX_SKU_CHARS: usize = 64;

/// The longest warehouse or supplier name, in characters (ERPNext's limit
/// for a document name).
pub const MAX_NAME_CHARS: usize = 140;

/// The longest lead time or lead-time deviation accepted, in days (ten years).
pub const MAX_DAYS: f64 = 3650.0;

/// The highest service-level factor accepted (z = 6 is 99.9999999 %).
pub const MAX_Z: f64 = 6.0;

/// Why a value is not a SKU, a name or a figure Logistics can use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidValue {
    /// Not a SKU.
    #[error("invalid SKU {0:?}: expected 1 to {MAX_SKU_CHARS} letters, digits, '.', '_' or '-'")]
    Sku(String),
    /// Not a warehouse name.
    #[error("invalid warehouse {0:?}: expected 1 to {MAX_NAME_CHARS} printable characters")]
    Warehouse(String),
    /// Not a supplier name.
    #[error("invalid supplier {0:?}: expected 1 to {MAX_NAME_CHARS} printable characters")]
    Supplier(String),
    /// A number of days out of range.
    #[error("invalid number of days {0}: expected 0 to {MAX_DAYS}")]
    Days(f64),
    /// A share out of range.
    #[error("invalid share {0}: expected 0 to 1")]
    Fraction(f64),
    /// A service-level factor out of range.
    #[error("invalid service-level factor {0}: expected 0 to {MAX_Z} (1.65 for 95 %)")]
    ZScore(f64),
}

/// Implements parsing, serde and display for a text newtype whose
/// `parse(&str) -> Option<String>` says what it accepts.
macro_rules! text_newtype {
    ($name:ident, $error:ident) => {
        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
                    .map($name)
                    .ok_or_else(|| InvalidValue::$error(text.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;

            fn try_from(text: String) -> Result<Self, Self::Error> {
                text.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A stock-keeping unit's code, as the ERP spells it (case kept): `SKU-1042`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    fn parse(text: &str) -> Option<String> {
        let code = text.trim();
        let ok = (1..=MAX_SKU_CHARS).contains(&code.len())
            && code
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        ok.then(|| code.to_owned())
    }
}

text_newtype!(Sku, Sku);

impl From<crate::work::Sku> for Sku {
    /// A task's SKU (up to 40 characters of the same alphabet) is always a
    /// valid catalogue SKU.
    fn from(sku: crate::work::Sku) -> Self {
        Sku(String::from(sku))
    }
}

/// A name of up to [`MAX_NAME_CHARS`] printable characters, trimmed.
fn name(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let ok = (1..=MAX_NAME_CHARS).contains(&trimmed.chars().count())
        && !trimmed.chars().any(char::is_control);
    ok.then(|| trimmed.to_owned())
}

/// A warehouse, by its name in the ERP: `Main Store`, `Stores - AC`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WarehouseId(String);

impl WarehouseId {
    fn parse(text: &str) -> Option<String> {
        name(text)
    }
}

text_newtype!(WarehouseId, Warehouse);

/// A supplier, by its name in the ERP: `Acme Components Ltd`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SupplierId(String);

impl SupplierId {
    fn parse(text: &str) -> Option<String> {
        name(text)
    }
}

text_newtype!(SupplierId, Supplier);

/// A number of days, finite, from 0 to [`MAX_DAYS`] (fractions allowed).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Days(f64);

impl Days {
    /// The number of days.
    pub const fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Days {
    type Error = InvalidValue;

    fn try_from(days: f64) -> Result<Self, Self::Error> {
        if (0.0..=MAX_DAYS).contains(&days) {
            Ok(Days(days))
        } else {
            Err(InvalidValue::Days(days))
        }
    }
}

impl From<Days> for f64 {
    fn from(days: Days) -> f64 {
        days.0
    }
}

/// A share from 0 to 1: an on-time rate, a yearly holding rate (0.25 = 25 %).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Fraction(f64);

impl Fraction {
    /// The share.
    pub const fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Fraction {
    type Error = InvalidValue;

    fn try_from(share: f64) -> Result<Self, Self::Error> {
        if (0.0..=1.0).contains(&share) {
            Ok(Fraction(share))
        } else {
            Err(InvalidValue::Fraction(share))
        }
    }
}

impl From<Fraction> for f64 {
    fn from(share: Fraction) -> f64 {
        share.0
    }
}

/// A service-level factor: how many standard deviations of demand the
/// safety stock covers (1.28 for 90 %, 1.65 for 95 %, 2.33 for 99 %), 0 to
/// [`MAX_Z`].
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct ZScore(f64);

impl ZScore {
    /// The factor.
    pub const fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for ZScore {
    type Error = InvalidValue;

    fn try_from(z: f64) -> Result<Self, Self::Error> {
        if (0.0..=MAX_Z).contains(&z) {
            Ok(ZScore(z))
        } else {
            Err(InvalidValue::ZScore(z))
        }
    }
}

impl From<ZScore> for f64 {
    fn from(z: ZScore) -> f64 {
        z.0
    }
}

/// Something the company stocks and buys (ERPNext's Item).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Its code.
    pub sku: Sku,
    /// What it is called.
    pub name: String,
    /// The unit it is counted in, e.g. `Nos`, `Box`.
    pub unit: String,
    /// Orders are whole packs of this many units.
    pub pack_size: NonZeroU32,
    /// The supplier's minimum order, in units (0: none).
    pub min_order_qty: u32,
    /// The most one order may hold, in units (the reorder policy's when absent).
    pub max_order_qty: Option<u32>,
    /// What one unit costs from its usual supplier.
    pub unit_cost: Money,
    /// Its usual supplier.
    pub default_supplier: Option<SupplierId>,
}

/// Someone the company buys from, with how long they take to deliver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Supplier {
    /// Its name in the ERP.
    pub id: SupplierId,
    /// Its display name.
    pub name: String,
    /// The mean lead time from order to receipt.
    pub lead_time_days: Days,
    /// The standard deviation of the lead time (0 when it never varies).
    pub lead_time_sd_days: Days,
    /// The share of orders delivered by the promised date.
    pub on_time_rate: Fraction,
}

/// The stock of one SKU in one warehouse (ERPNext's Bin), in whole units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryLevel {
    /// What.
    pub sku: Sku,
    /// Where.
    pub warehouse: WarehouseId,
    /// Physically there (ERPNext's actual quantity).
    pub on_hand: i64,
    /// Promised to customers or production, not yet shipped.
    pub reserved: i64,
    /// Ordered from suppliers, not yet received.
    pub on_order: i64,
}

impl InventoryLevel {
    /// The inventory position: on hand plus on order minus reserved
    /// (ERPNext's projected quantity). Reorder rules compare this, never
    /// what is on hand, so stock already ordered is not ordered twice.
    pub fn projected(&self) -> i64 {
        self.on_hand
            .saturating_add(self.on_order)
            .saturating_sub(self.reserved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_keep_their_case_and_refuse_other_characters() {
        let sku: Sku = " sku-1042.b_2 ".parse().expect("valid");
        assert_eq!(sku.as_str(), "sku-1042.b_2");
        let longest = "A".repeat(MAX_SKU_CHARS);
        assert!(longest.parse::<Sku>().is_ok());
        for bad in ["", "  ", "SKU 1", "SKU/1", "ÄPFEL", &format!("{longest}A")] {
            assert!(bad.parse::<Sku>().is_err(), "{bad:?}");
        }
        let from_task: Sku = "sku-7".parse::<crate::work::Sku>().expect("valid").into();
        assert_eq!(from_task.as_str(), "SKU-7");
    }

    #[test]
    fn warehouse_and_supplier_names_are_trimmed_printable_text() {
        let warehouse: WarehouseId = "  Main Store ".parse().expect("valid");
        assert_eq!(warehouse.as_str(), "Main Store");
        let supplier: SupplierId = "Acme Components Ltd".parse().expect("valid");
        assert_eq!(supplier.to_string(), "Acme Components Ltd");
        for bad in ["", " ", "Main\nStore", &"x".repeat(MAX_NAME_CHARS + 1)] {
            assert!(bad.parse::<WarehouseId>().is_err(), "{bad:?}");
            assert!(bad.parse::<SupplierId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn figures_are_finite_and_in_range() {
        assert!(Days::try_from(7.5).is_ok());
        assert!(Fraction::try_from(0.95).is_ok());
        assert!(ZScore::try_from(1.65).is_ok());
        for bad in [-0.1, f64::NAN, f64::INFINITY, MAX_DAYS + 1.0] {
            assert!(Days::try_from(bad).is_err(), "{bad}");
        }
        for bad in [-0.1, 1.01, f64::NAN] {
            assert!(Fraction::try_from(bad).is_err(), "{bad}");
        }
        for bad in [-1.0, 6.5, f64::NEG_INFINITY] {
            assert!(ZScore::try_from(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Days>("-1").is_err());
        assert_eq!(serde_json::to_string(&Days(2.5)).expect("json"), "2.5");
    }

    #[test]
    fn the_projected_quantity_is_the_inventory_position() {
        let level = InventoryLevel {
            sku: "SKU-1".parse().expect("valid"),
            warehouse: "Main Store".parse().expect("valid"),
            on_hand: 40,
            reserved: 15,
            on_order: 100,
        };
        assert_eq!(level.projected(), 125);
        let extreme = InventoryLevel {
            on_hand: i64::MAX,
            on_order: 1,
            reserved: 0,
            ..level
        };
        assert_eq!(extreme.projected(), i64::MAX);
    }

    #[test]
    fn an_item_with_a_pack_size_of_zero_does_not_parse() {
        let json = r#"{"sku":"SKU-1","name":"Bolt","unit":"Nos","pack_size":0,"min_order_qty":0,
            "max_order_qty":null,"unit_cost":{"minor":10,"currency":"EUR"},"default_supplier":null}"#;
        assert!(serde_json::from_str::<Item>(json).is_err());
        let json = json.replace("\"pack_size\":0", "\"pack_size\":12");
        let item: Item = serde_json::from_str(&json).expect("valid");
        assert_eq!(item.pack_size.get(), 12);
    }
}
