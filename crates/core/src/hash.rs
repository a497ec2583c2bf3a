//! 32-byte hashes (tx ids, block hashes) kept in display order, as explorers and RPC print them.

use std::fmt;
use std::str::FromStr;

/// A 32-byte hash in display order: for Bitcoin-family chains the byte-reversed double-SHA256,
/// for EVM chains the hash as written. `to_string()` is the lowercase hex everyone quotes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash32(pub [u8; 32]);

/// A string that is not 64 hex digits (an optional `0x` prefix is allowed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid 32-byte hash {input:?}: expected 64 hex digits")]
pub struct HashParseError {
    /// What was given.
    pub input: String,
}

impl Hash32 {
    /// The all-zero hash (the parent of a genesis block).
    pub const ZERO: Hash32 = Hash32([0; 32]);

    /// From the internal (little-endian, on-the-wire) byte order of Bitcoin-family hashes.
    pub fn from_internal(mut bytes: [u8; 32]) -> Self {
        bytes.reverse();
        Hash32(bytes)
    }

    /// Back to the internal (wire) byte order of Bitcoin-family hashes.
    pub fn to_internal(self) -> [u8; 32] {
        let mut b = self.0;
        b.reverse();
        b
    }

    /// The raw display-order bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // On the stack through hex's table: traces and their JSON show tens of thousands.
        let mut text = [0u8; 64];
        hex::encode_to_slice(self.0, &mut text).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({self})")
    }
}

impl FromStr for Hash32 {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || HashParseError {
            input: s.to_string(),
        };
        let digits = s.strip_prefix("0x").unwrap_or(s);
        let mut out = [0u8; 32];
        hex::decode_to_slice(digits, &mut out).map_err(|_| err())?;
        Ok(Hash32(out))
    }
}

impl serde::Serialize for Hash32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Hash32 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_order_round_trips_and_display_is_reversed() {
        let mut internal = [0u8; 32];
        internal[0] = 0xab;
        let h = Hash32::from_internal(internal);
        assert!(h.to_string().ends_with("ab"));
        assert_eq!(h.to_internal(), internal);
        assert_eq!(h.to_string().parse::<Hash32>().unwrap(), h);
        assert!("zz".parse::<Hash32>().is_err());
    }
}
