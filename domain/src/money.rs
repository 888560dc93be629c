//! Amounts of money: integer minor units and an ISO 4217 currency code.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An ISO 4217 currency code: three uppercase ASCII letters, e.g. `EUR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// Why a text is not a currency code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid currency code {0:?}: expected three uppercase letters such as EUR")]
pub struct InvalidCurrency(pub String);

impl Currency {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a currency holds ASCII letters only")
    }
}

impl FromStr for Currency {
    type Err = InvalidCurrency;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => {
                Ok(Currency([*a, *b, *c]))
            }
            _ => Err(InvalidCurrency(text.to_owned())),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An amount in a currency's minor unit (cents for EUR), never a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The amount in minor units; negative for credits.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// An amount of minor units in a currency.
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Money { minor, currency }
    }

    /// Whether the amount is above zero.
    pub const fn is_positive(&self) -> bool {
        self.minor > 0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_three_uppercase_letters() {
        assert_eq!(
            "EUR".parse::<Currency>().map(|c| c.to_string()),
            Ok("EUR".to_owned())
        );
        for bad in ["", "eur", "EU", "EURO", "E1R", "ÉUR"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn money_serialises_as_minor_units_and_code() {
        let eur: Currency = "EUR".parse().expect("valid");
        let amount = Money::new(-123_456, eur);
        let json = serde_json::to_string(&amount).expect("serialise");
        assert_eq!(json, r#"{"minor":-123456,"currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).expect("parse"), amount);
        assert_eq!(amount.to_string(), "-1234.56 EUR");
        assert!(serde_json::from_str::<Money>(r#"{"minor":1,"currency":"eur"}"#).is_err());
    }
}
