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
    /// A LEB128 number of at most 19 bytes. Histories decode millions of these, so the loop is
    /// kept small enough to inline and the errors are out of its way.
    #[inline]
    pub(crate) fn u128(&mut self) -> Result<u128, StoreError> {
        let mut v: u128 = 0;
        let mut rest = self.bytes;
        let mut shift = 0u32;
        while let Some((&b, r)) = rest.split_first() {
            rest = r;
            v |= u128::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                self.bytes = rest;
                return Ok(v);
            }
            shift += 7;
            if shift > 126 {
                return Err(self.number_error("number longer than 128 bits"));
            }
        }
        Err(self.number_error("record ends inside a number"))
    }

    #[cold]
    #[inline(never)]
    fn number_error(&self, what: &str) -> StoreError {
        self.corrupt(what)
    }

    #[inline]
    pub(crate) fn u64(&mut self) -> Result<u64, StoreError> {
        u64::try_from(self.u128()?).map_err(|_| self.number_error("number exceeds 64 bits"))
    }
    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, StoreError> {
        u32::try_from(self.u128()?).map_err(|_| self.number_error("number exceeds 32 bits"))
    }
    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, StoreError> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| self.corrupt("record ends early"))?;
        self.bytes = rest;
        Ok(b)
    }
    #[inline]
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

        #[test]
        fn varints_of_every_width_round_trip_and_truncation_is_an_error(
            x in any::<u128>(),
            shift in 0u32..128,
        ) {
            // Every length from 1 to 19 bytes, across the 9-byte fast path's edge.
            let a = x >> shift;
            let mut e = Enc::default();
            e.u128(a);
            prop_assert_eq!(Dec::new(&e.0, "test").u128().unwrap(), a);
            for cut in 0..e.0.len() {
                prop_assert!(Dec::new(&e.0[..cut], "test").u128().is_err());
            }
        }
    }
}
