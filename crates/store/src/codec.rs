//! Compact byte encodings of stored records: LEB128 varints and fixed fields.
#![deny(clippy::indexing_slicing)]

use crate::StoreError;

/// Appends values to a record.
#[derive(Default)]
pub(crate) struct Enc(pub(crate) Vec<u8>);

impl Enc {
    pub(crate) fn u128(&mut self, mut v: u128) -> &mut Self {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(byte);
                return self;
            }
            self.0.push(byte | 0x80);
        }
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.u128(u128::from(v))
    }
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
}

/// Reads values back from a record; any shortfall is a corrupt-store error naming the table.
pub(crate) struct Dec<'a> {
    bytes: &'a [u8],
    table: &'static str,
}

impl<'a> Dec<'a> {
    pub(crate) fn new(bytes: &'a [u8], table: &'static str) -> Self {
        Dec { bytes, table }
    }
    fn corrupt(&self, what: &str) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            what: what.to_string(),
        }
    }
    pub(crate) fn u128(&mut self) -> Result<u128, StoreError> {
        let mut v: u128 = 0;
        for shift in (0..128).step_by(7) {
            let (&b, rest) = self
                .bytes
                .split_first()
                .ok_or_else(|| self.corrupt("record ends inside a number"))?;
            self.bytes = rest;
            v |= u128::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.corrupt("number longer than 128 bits"))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, StoreError> {
        u64::try_from(self.u128()?).map_err(|_| self.corrupt("number exceeds 64 bits"))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, StoreError> {
        u32::try_from(self.u128()?).map_err(|_| self.corrupt("number exceeds 32 bits"))
    }
    pub(crate) fn u8(&mut self) -> Result<u8, StoreError> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| self.corrupt("record ends early"))?;
        self.bytes = rest;
        Ok(b)
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.bytes.len() < n {
            return Err(self.corrupt("record ends early"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    /// Whether the record is read to its end.
    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    pub(crate) fn hash(&mut self) -> Result<[u8; 32], StoreError> {
        let b = self.bytes(32)?;
        b.try_into()
            .map_err(|_| self.corrupt("hash is not 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(a in any::<u128>(), b in any::<u64>(), c in any::<u8>()) {
            let mut e = Enc::default();
            e.u128(a).u64(b).u8(c);
            let mut d = Dec::new(&e.0, "test");
            prop_assert_eq!(d.u128().unwrap(), a);
            prop_assert_eq!(d.u64().unwrap(), b);
            prop_assert_eq!(d.u8().unwrap(), c);
            prop_assert!(d.u8().is_err());
        }
    }
}
