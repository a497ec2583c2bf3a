//! The in-memory UTXO set of the bulk path, with snapshots that are only trusted when they
//! match the committed state.
//!
//! During ingest every input looks up the output it spends; keeping the unspent outputs in RAM
//! (memory bounded by the UTXO set, as the plan allows) makes that a hash lookup. On a clean
//! stop the set is written to `utxo.snap` tagged with the committed tx count; on open it is
//! used only if that tag equals the committed count, otherwise (after a crash) the caller
//! rebuilds the set from the tx log. The file is written to a temporary name, synced and
//! renamed, so a torn snapshot is never read; a damaged one fails its checksum.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use bitcoin::hashes::{Hash, sha256};
use tracehound_core::{Hash32, OutPoint};

use crate::StoreError;

/// What an unspent output needs to resolve the input that spends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unspent {
    /// Its output sequence number in the tx log.
    pub out_seq: u64,
    /// The address id it pays.
    pub addr: u64,
    /// Its value in base units.
    pub value: u64,
    /// Height of the block that created it.
    pub height: u32,
    /// Script kind code, with the coinbase bit.
    pub flags: u8,
}

const MAGIC: &[u8; 8] = b"THUTXO01";
/// txid 32 + vout 4 + out_seq 8 + addr 8 + value 8 + height 4 + flags 1.
const ENTRY: usize = 65;

/// An [`Unspent`] packed into 22 bytes (output seq in 40 bits, address id in 32): with the
/// 36-byte outpoint a map slot is 60 bytes instead of 72, which at mainnet's ~180 million
/// unspent outputs is about 2 GB less.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed([u8; 22]);

impl Packed {
    fn pack(u: &Unspent) -> Option<Packed> {
        if u.out_seq >= 1 << 40 {
            return None;
        }
        let addr = u32::try_from(u.addr).ok()?;
        let mut b = [0u8; 22];
        b[..5].copy_from_slice(&u.out_seq.to_le_bytes()[..5]);
        b[5..9].copy_from_slice(&addr.to_le_bytes());
        b[9..17].copy_from_slice(&u.value.to_le_bytes());
        b[17..21].copy_from_slice(&u.height.to_le_bytes());
        b[21] = u.flags;
        Some(Packed(b))
    }

    fn unpack(&self) -> Unspent {
        let b = &self.0;
        let mut seq = [0u8; 8];
        seq[..5].copy_from_slice(&b[..5]);
        let word = |r: std::ops::Range<usize>| -> [u8; 8] {
            let mut w = [0u8; 8];
            w[..r.len()].copy_from_slice(&b[r]);
            w
        };
        Unspent {
            out_seq: u64::from_le_bytes(seq),
            addr: u64::from_le_bytes(word(5..9)),
            value: u64::from_le_bytes(word(9..17)),
            height: u64::from_le_bytes(word(17..21)) as u32,
            flags: b[21],
        }
    }
}

/// The unspent outputs of one chain.
#[derive(Debug, Default)]
pub struct UtxoSet {
    map: HashMap<OutPoint, Packed, foldhash::fast::RandomState>,
}

fn io(path: &Path, what: &str, e: std::io::Error) -> StoreError {
    StoreError::Segment {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}"),
    }
}

impl UtxoSet {
    /// An empty set with room for `expected` outputs (a size hint saves rehashing).
    pub fn with_capacity(expected: usize) -> UtxoSet {
        UtxoSet {
            map: HashMap::with_capacity_and_hasher(
                expected,
                foldhash::fast::RandomState::default(),
            ),
        }
    }

    /// Unspent outputs held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Adds a new output (a BIP30 duplicate replaces its older twin, as in Core). Fails only
    /// for an output seq beyond 40 bits or an address id beyond 32 bits.
    pub fn insert(&mut self, outpoint: OutPoint, unspent: Unspent) -> Result<(), StoreError> {
        let packed = Packed::pack(&unspent).ok_or_else(|| StoreError::Corrupt {
            table: "utxo set",
            what: format!(
                "output seq {} or address id {} of {}:{} exceeds the packed entry",
                unspent.out_seq, unspent.addr, outpoint.txid, outpoint.vout
            ),
        })?;
        self.map.insert(outpoint, packed);
        Ok(())
    }

    /// Removes and returns the output `outpoint` spends, if unspent.
    pub fn spend(&mut self, outpoint: &OutPoint) -> Option<Unspent> {
        self.map.remove(outpoint).map(|p| p.unpack())
    }

    /// Writes the set to `path`, tagged with `committed_txs`; atomic by rename.
    pub fn save(&self, path: &Path, committed_txs: u64) -> Result<(), StoreError> {
        let tmp = path.with_extension("snap.tmp");
        let file = std::fs::File::create(&tmp).map_err(|e| io(&tmp, "create", e))?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        let mut hash = sha256::Hash::engine();
        let mut put = |w: &mut BufWriter<std::fs::File>, bytes: &[u8]| -> Result<(), StoreError> {
            bitcoin::hashes::HashEngine::input(&mut hash, bytes);
            w.write_all(bytes).map_err(|e| io(&tmp, "write", e))
        };
        put(&mut w, MAGIC)?;
        put(&mut w, &committed_txs.to_le_bytes())?;
        put(&mut w, &(self.map.len() as u64).to_le_bytes())?;
        let mut entry = [0u8; ENTRY];
        for (op, u) in &self.map {
            let u = u.unpack();
            let parts: [&[u8]; 7] = [
                &op.txid.0,
                &op.vout.to_le_bytes(),
                &u.out_seq.to_le_bytes(),
                &u.addr.to_le_bytes(),
                &u.value.to_le_bytes(),
                &u.height.to_le_bytes(),
                &[u.flags],
            ];
            let mut at = 0;
            for p in parts {
                if let Some(dst) = entry.get_mut(at..at + p.len()) {
                    dst.copy_from_slice(p);
                }
                at += p.len();
            }
            put(&mut w, &entry)?;
        }
        let digest = sha256::Hash::from_engine(hash);
        w.write_all(digest.as_byte_array())
            .map_err(|e| io(&tmp, "write", e))?;
        let file = w
            .into_inner()
            .map_err(|e| io(&tmp, "flush", e.into_error()))?;
        file.sync_all().map_err(|e| io(&tmp, "sync", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io(path, "rename", e))?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io(dir, "sync dir", e))?;
        }
        Ok(())
    }

    /// Reads the snapshot at `path` if it was taken at `committed_txs`. `Ok(None)` when there is
    /// none or it is stale (the caller rebuilds); an error when it is damaged.
    pub fn load(path: &Path, committed_txs: u64) -> Result<Option<UtxoSet>, StoreError> {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(path, "open", e)),
        };
        let damaged = |reason: String| StoreError::Segment {
            path: path.to_path_buf(),
            reason,
        };
        let mut r = BufReader::with_capacity(1 << 20, file);
        let mut hash = sha256::Hash::engine();
        let mut take =
            |r: &mut BufReader<std::fs::File>, buf: &mut [u8]| -> Result<(), StoreError> {
                r.read_exact(buf).map_err(|e| io(path, "read", e))?;
                bitcoin::hashes::HashEngine::input(&mut hash, buf);
                Ok(())
            };
        let mut head = [0u8; 24];
        take(&mut r, &mut head)?;
        let (magic, rest) = head.split_at(8);
        if magic != MAGIC {
            return Err(damaged("not a tracehound UTXO snapshot".into()));
        }
        let (tag, count) = rest.split_at(8);
        let tag = u64::from_le_bytes(tag.try_into().unwrap_or_default());
        if tag != committed_txs {
            return Ok(None);
        }
        let count = u64::from_le_bytes(count.try_into().unwrap_or_default());
        let len = std::fs::metadata(path)
            .map_err(|e| io(path, "stat", e))?
            .len();
        if count
            .checked_mul(ENTRY as u64)
            .and_then(|b| b.checked_add(24 + 32))
            != Some(len)
        {
            return Err(damaged(format!(
                "{count} entries do not fit its {len} bytes"
            )));
        }
        let mut set = UtxoSet::with_capacity(usize::try_from(count).unwrap_or(0));
        let mut entry = [0u8; ENTRY];
        for i in 0..count {
            take(&mut r, &mut entry)?;
            let field = |a: usize, b: usize| entry.get(a..b).unwrap_or_default();
            let u64_at =
                |a: usize| u64::from_le_bytes(field(a, a + 8).try_into().unwrap_or_default());
            let txid: [u8; 32] = field(0, 32)
                .try_into()
                .map_err(|_| damaged(format!("entry {i} is short")))?;
            let op = OutPoint {
                txid: Hash32(txid),
                vout: u32::from_le_bytes(field(32, 36).try_into().unwrap_or_default()),
            };
            let u = Unspent {
                out_seq: u64_at(36),
                addr: u64_at(44),
                value: u64_at(52),
                height: u32::from_le_bytes(field(60, 64).try_into().unwrap_or_default()),
                flags: field(64, 65).first().copied().unwrap_or(0),
            };
            set.insert(op, u)
                .map_err(|e| damaged(format!("entry {i}: {e}")))?;
        }
        let mut stored = [0u8; 32];
        r.read_exact(&mut stored).map_err(|e| io(path, "read", e))?;
        if sha256::Hash::from_engine(hash).to_byte_array() != stored {
            return Err(damaged(
                "checksum mismatch: the snapshot is damaged (delete it to rebuild from the tx log)"
                    .into(),
            ));
        }
        Ok(Some(set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u32) -> UtxoSet {
        let mut s = UtxoSet::with_capacity(n as usize);
        for i in 0..n {
            let mut txid = [0u8; 32];
            txid[..4].copy_from_slice(&i.to_le_bytes());
            let u = Unspent {
                out_seq: u64::from(i) * 3,
                addr: u64::from(i % 97),
                value: u64::from(i) * 1000 + 7,
                height: i / 10,
                flags: 2,
            };
            s.insert(
                OutPoint {
                    txid: Hash32(txid),
                    vout: i % 3,
                },
                u,
            )
            .unwrap();
        }
        s
    }

    #[test]
    fn packed_entries_round_trip_and_refuse_what_does_not_fit() {
        let u = Unspent {
            out_seq: (1 << 40) - 1,
            addr: u64::from(u32::MAX),
            value: u64::MAX,
            height: u32::MAX,
            flags: 0x85,
        };
        assert_eq!(Packed::pack(&u).unwrap().unpack(), u);
        let mut set = UtxoSet::default();
        let op = OutPoint {
            txid: Hash32([1; 32]),
            vout: 0,
        };
        assert!(
            set.insert(
                op,
                Unspent {
                    out_seq: 1 << 40,
                    ..u
                }
            )
            .is_err()
        );
        assert!(set.insert(op, Unspent { addr: 1 << 32, ..u }).is_err());
        set.insert(op, u).unwrap();
        assert_eq!(set.spend(&op), Some(u));
        assert!(set.is_empty());
    }

    #[test]
    fn snapshot_round_trips_only_at_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("utxo.snap");
        assert!(
            UtxoSet::load(&path, 0).unwrap().is_none(),
            "no snapshot yet"
        );
        let mut set = sample(5000);
        let spent = OutPoint {
            txid: Hash32({
                let mut t = [0u8; 32];
                t[0] = 9;
                t
            }),
            vout: 0,
        };
        assert_eq!(set.spend(&spent).unwrap().value, 9007);
        assert!(set.spend(&spent).is_none(), "spent once");
        set.save(&path, 42).unwrap();
        let back = UtxoSet::load(&path, 42).unwrap().unwrap();
        assert_eq!(back.map, set.map);
        assert!(
            UtxoSet::load(&path, 43).unwrap().is_none(),
            "a stale snapshot is not used"
        );
        assert!(!dir.path().join("utxo.snap.tmp").exists());
    }

    #[test]
    fn damaged_snapshots_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("utxo.snap");
        sample(100).save(&path, 7).unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[30] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = UtxoSet::load(&path, 7).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        bytes.truncate(bytes.len() - 10);
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            UtxoSet::load(&path, 7)
                .unwrap_err()
                .to_string()
                .contains("do not fit")
        );
        std::fs::write(&path, b"something else entirely, long enough").unwrap();
        assert!(
            UtxoSet::load(&path, 7)
                .unwrap_err()
                .to_string()
                .contains("not a tracehound")
        );
    }
}
