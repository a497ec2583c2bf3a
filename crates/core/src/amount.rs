//! Exact amounts in an asset's base units (satoshi, litoshi, wei, token units).
//!
//! No float ever touches a value: nodes print coin values as decimal numbers
//! (`"value": 0.00012345`), so [`Amount::from_decimal_str`] parses the decimal text itself.

use std::fmt;

/// A non-negative amount in base units. `u128` holds every UTXO supply and any ERC-20 balance
/// that fits a sane token (a `uint256` beyond `u128::MAX` is rejected where it is read, never
/// truncated).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Amount(u128);

/// Why a decimal amount could not be read exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not a plain non-negative decimal number.
    #[error("invalid amount {input:?}: expected a non-negative decimal number")]
    Syntax {
        /// What was given.
        input: String,
    },
    /// More fractional digits than the asset has decimals, and they are not all zero.
    #[error("amount {input:?} has more than {decimals} decimal places")]
    TooPrecise {
        /// What was given.
        input: String,
        /// The asset's decimals.
        decimals: u8,
    },
    /// Does not fit 128 bits of base units.
    #[error("amount {input:?} overflows 128-bit base units")]
    Overflow {
        /// What was given.
        input: String,
    },
}

impl Amount {
    /// Zero base units.
    pub const ZERO: Amount = Amount(0);

    /// An amount of `units` base units.
    pub const fn from_units(units: u128) -> Self {
        Amount(units)
    }

    /// The number of base units.
    pub const fn units(self) -> u128 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self - other`, or `None` if it would go below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// Parses a decimal coin value such as `"0.00012345"` or `"50"` (also `"1e-8"`-free JSON
    /// number text) into base units with `decimals` places, exactly.
    pub fn from_decimal_str(s: &str, decimals: u8) -> Result<Amount, AmountError> {
        let syntax = || AmountError::Syntax {
            input: s.to_string(),
        };
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(syntax());
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > usize::from(decimals) {
            return Err(AmountError::TooPrecise {
                input: s.to_string(),
                decimals,
            });
        }
        let overflow = || AmountError::Overflow {
            input: s.to_string(),
        };
        let mut units: u128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(u128::from(b - b'0')))
                .ok_or_else(overflow)?;
        }
        let pad = u32::from(decimals) - u32::try_from(frac.len()).map_err(|_| overflow())?;
        if units != 0 {
            let scale = 10u128.checked_pow(pad).ok_or_else(overflow)?;
            units = units.checked_mul(scale).ok_or_else(overflow)?;
        }
        Ok(Amount(units))
    }

    /// Formats the amount as a decimal coin value with `decimals` places, trailing zeros kept
    /// to the asset's precision (`"0.00012345"`).
    pub fn to_decimal_string(self, decimals: u8) -> String {
        let digits = self.0.to_string();
        let decimals = usize::from(decimals);
        if decimals == 0 {
            return digits;
        }
        // Token decimals are untrusted (up to 255): work on the digits, not with 10^decimals.
        let padded = format!("{digits:0>width$}", width = decimals + 1);
        let (int, frac) = padded.split_at(padded.len() - decimals);
        format!("{int}.{frac}")
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

impl std::iter::Sum for Amount {
    /// Sums amounts; panics on a 128-bit overflow, which no real chain reaches.
    fn sum<I: Iterator<Item = Amount>>(iter: I) -> Amount {
        iter.fold(Amount::ZERO, |a, b| {
            a.checked_add(b)
                .expect("a sum of chain amounts fits 128 bits")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_node_decimal_text_exactly() {
        assert_eq!(
            Amount::from_decimal_str("0.00012345", 8).unwrap().units(),
            12_345
        );
        assert_eq!(
            Amount::from_decimal_str("50", 8).unwrap().units(),
            5_000_000_000
        );
        assert_eq!(
            Amount::from_decimal_str("50.00000000", 8).unwrap().units(),
            5_000_000_000
        );
        assert_eq!(Amount::from_decimal_str(".5", 1).unwrap().units(), 5);
        // The Dogecoin precision case: a float would lose the last digits.
        assert_eq!(
            Amount::from_decimal_str("92233720.36854775", 8)
                .unwrap()
                .units(),
            9_223_372_036_854_775
        );
        assert!(matches!(
            Amount::from_decimal_str("0.000000001", 8),
            Err(AmountError::TooPrecise { .. })
        ));
        assert!(Amount::from_decimal_str("-1", 8).is_err());
        assert!(Amount::from_decimal_str("1e-8", 8).is_err());
        assert!(Amount::from_decimal_str("", 8).is_err());
        assert!(Amount::from_decimal_str(".", 8).is_err());
        assert!(matches!(
            Amount::from_decimal_str(&"9".repeat(40), 18),
            Err(AmountError::Overflow { .. })
        ));
    }

    #[test]
    fn absurd_decimals_neither_panic_nor_wrap() {
        let a = Amount::from_units(12_345);
        assert_eq!(
            a.to_decimal_string(40),
            format!("0.{}12345", "0".repeat(35))
        );
        assert_eq!(
            Amount::from_decimal_str(&a.to_decimal_string(40), 40).unwrap(),
            a
        );
        assert!(matches!(
            Amount::from_decimal_str("1", 255),
            Err(AmountError::Overflow { .. })
        ));
        assert_eq!(Amount::from_decimal_str("0", 255).unwrap(), Amount::ZERO);
        assert_eq!(
            Amount::from_units(u128::MAX).to_decimal_string(0),
            u128::MAX.to_string()
        );
    }

    proptest! {
        #[test]
        fn decimal_text_round_trips(units in any::<u128>(), decimals in 0u8..=40) {
            let a = Amount::from_units(units);
            let text = a.to_decimal_string(decimals);
            prop_assert_eq!(Amount::from_decimal_str(&text, decimals).unwrap(), a);
        }
    }
}
