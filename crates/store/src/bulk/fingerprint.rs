//! Keyed 128-bit fingerprints for the bulk indexes' hash-keyed entries.
//!
//! The address index and the UTXO set key their entries by a fingerprint instead of the full
//! key (a 48-byte payee record, a 36-byte outpoint), which halves their RAM and disk. The seed
//! is chosen at random when an index starts from nothing and stored with its files, so nobody
//! crafting addresses or txs can precompute two keys with one fingerprint; 96 bits keep an
//! accidental collision below about 1e-10 at mainnet's sizes.

use std::hash::BuildHasher;

/// The seed of a keyed fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyedHash(pub(crate) [u64; 2]);

impl KeyedHash {
    /// A fresh random seed.
    pub(crate) fn random() -> KeyedHash {
        let s = std::collections::hash_map::RandomState::new();
        KeyedHash([s.hash_one(0x5eed_u64), s.hash_one(0xfeed_u64)])
    }

    /// The 128-bit fingerprint of `bytes`, read as little-endian u64 words (a length that is
    /// not a multiple of 8 is padded with zeros).
    pub(crate) fn hash128(self, bytes: &[u8]) -> u128 {
        let mut a = self.0[0] ^ 0x243f_6a88_85a3_08d3;
        let mut b = self.0[1] ^ 0x1319_8a2e_0370_7344;
        let mut words = bytes.chunks(8);
        for w in words.by_ref() {
            let mut x = [0u8; 8];
            if let Some(dst) = x.get_mut(..w.len()) {
                dst.copy_from_slice(w);
            }
            let x = u64::from_le_bytes(x);
            a = mum(a ^ x, 0xa076_1d64_78bd_642f);
            b = mum(b ^ x.rotate_left(29), 0xe703_7ed1_a0b4_28db);
        }
        let hi = mum(a ^ b.rotate_left(17), 0x8ebc_6af0_9c88_c6e3);
        let lo = mum(b ^ a.rotate_left(41), 0x5899_65cc_7537_4cc3);
        (u128::from(hi) << 64) | u128::from(lo)
    }
}

fn mum(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_depend_on_seed_and_every_byte() {
        let k = KeyedHash([1, 2]);
        let base = [7u8; 36];
        let f = k.hash128(&base);
        assert_ne!(f, KeyedHash([1, 3]).hash128(&base));
        for i in 0..base.len() {
            let mut other = base;
            other[i] ^= 1;
            assert_ne!(k.hash128(&other), f, "byte {i}");
        }
        // Padding is explicit: 36 bytes hash as 40 with four zeros.
        let mut padded = [0u8; 40];
        padded[..36].copy_from_slice(&base);
        assert_eq!(k.hash128(&padded), f);
    }
}
