//! A chain's clustering as a result: the entity of every address, the evidence edges, the
//! figures; saved in the data dir as `cluster-<chain>.bin` and read back by `entity show`.
//!
//! # File format (little endian)
//! `THCLUST1` magic, chain code `u32`, `scanned` `u64` (next tx seq on UTXO chains, next
//! height on account chains), address count `n` `u64`, then `n` entity ids `u32` (address id
//! → its entity's smallest address id), evidence count `m` `u64`, `m` records of 18 bytes
//! (`tx` `u64`, `a` `u32`, `b` `u32`, kind `u8`, confidence `u8`), and the figures as JSON
//! (length `u64`, bytes). Written to a temp file and renamed, so a reader never sees half a
//! file. 4 bytes an address plus 18 a merge: the whole Bitcoin chain's ~1.5 billion
//! addresses fit in some 10 GB, read sequentially.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use tracehound_core::Chain;

use crate::ClusterError;

const MAGIC: &[u8; 8] = b"THCLUST1";
const EVIDENCE_BYTES: usize = 18;

/// Which heuristic joined two addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceKind {
    /// Both spent in one tx (multi-input).
    CoSpend,
    /// One is the change output of a tx the other paid from.
    Change,
    /// One forwards what it receives to the other, an exchange's hot wallet (EVM).
    Deposit,
}

impl EvidenceKind {
    /// Its name in reports (`co-spend`, `change`, `deposit`).
    pub fn name(self) -> &'static str {
        match self {
            EvidenceKind::CoSpend => "co-spend",
            EvidenceKind::Change => "change",
            EvidenceKind::Deposit => "deposit",
        }
    }

    fn code(self) -> u8 {
        match self {
            EvidenceKind::CoSpend => 0,
            EvidenceKind::Change => 1,
            EvidenceKind::Deposit => 2,
        }
    }

    fn from_code(c: u8) -> Option<EvidenceKind> {
        [
            EvidenceKind::CoSpend,
            EvidenceKind::Change,
            EvidenceKind::Deposit,
        ]
        .into_iter()
        .find(|k| k.code() == c)
    }
}

/// One merge: the tx that joined address `a`'s cluster with address `b`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Evidence {
    /// UTXO chains: the tx seq. Account chains: `height << 32 | tx index` of the forwarding tx.
    pub tx: u64,
    /// One address id.
    pub a: u32,
    /// The other.
    pub b: u32,
    /// Which heuristic.
    pub kind: EvidenceKind,
    /// 0..=100.
    pub confidence: u8,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Figures {
    /// Txs read.
    pub txs: u64,
    /// Their inputs.
    pub inputs: u64,
    /// Co-spend merges (unions that joined two clusters).
    pub merges: u64,
    /// Change merges.
    pub change_merges: u64,
    /// Deposit merges.
    pub deposit_merges: u64,
    /// CoinJoins skipped.
    pub coinjoins_skipped: u64,
    /// …by rule.
    pub coinjoins: BTreeMap<String, u64>,
    /// Whether the change heuristic ran.
    pub change: bool,
    /// Seconds the run took (reading the store included).
    pub seconds: f64,
}

/// Sizes of the entities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EntityStats {
    /// Addresses.
    pub addresses: u64,
    /// Entities (singletons included).
    pub entities: u64,
    /// Entities of two addresses or more.
    pub multi: u64,
    /// The largest entity's id.
    pub largest: u32,
    /// Its size.
    pub largest_size: u64,
}

/// A chain's clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    /// The chain.
    pub chain: Chain,
    /// How far the input went: next tx seq (UTXO) or next height (account).
    pub scanned: u64,
    /// Address id → entity id (the smallest address id of the entity).
    pub entity: Vec<u32>,
    /// One edge per merge: a spanning forest of every entity.
    pub evidence: Vec<Evidence>,
    /// What the run did.
    pub figures: Figures,
}

impl Clustering {
    /// Assembles a result.
    pub fn new(
        chain: Chain,
        scanned: u64,
        entity: Vec<u32>,
        evidence: Vec<Evidence>,
        figures: Figures,
    ) -> Clustering {
        Clustering {
            chain,
            scanned,
            entity,
            evidence,
            figures,
        }
    }

    /// The entity of address `id`.
    pub fn entity_of(&self, id: u32) -> Option<u32> {
        self.entity.get(id as usize).copied()
    }

    /// The addresses of entity `e`, in id order.
    pub fn members(&self, e: u32) -> Vec<u32> {
        // Members' ids are ≥ the entity id (its smallest), so the scan starts there.
        (e..)
            .zip(self.entity.iter().skip(e as usize))
            .filter(|(_, x)| **x == e)
            .map(|(id, _)| id)
            .collect()
    }

    /// Counts and the largest entity.
    pub fn stats(&self) -> EntityStats {
        let mut size = vec![0u32; self.entity.len()];
        for &e in &self.entity {
            if let Some(s) = size.get_mut(e as usize) {
                *s += 1;
            }
        }
        let mut st = EntityStats {
            addresses: self.entity.len() as u64,
            ..EntityStats::default()
        };
        for (e, &n) in (0u32..).zip(&size) {
            if n == 0 {
                continue;
            }
            st.entities += 1;
            if n >= 2 {
                st.multi += 1;
            }
            if u64::from(n) > st.largest_size {
                st.largest_size = u64::from(n);
                st.largest = e;
            }
        }
        st
    }

    /// The evidence joining address `id` to its entity's id address, in order from `id`: a
    /// breadth-first walk over the entity's evidence edges (they form a tree, so the path is
    /// the only one). Empty for the entity's own address; `None` for an unknown id.
    pub fn evidence_path(&self, id: u32) -> Option<Vec<Evidence>> {
        let e = self.entity_of(id)?;
        let mut adj: HashMap<u32, Vec<(u32, usize)>> = HashMap::new();
        for (k, ev) in self.evidence.iter().enumerate() {
            if self.entity_of(ev.a) == Some(e) {
                adj.entry(ev.a).or_default().push((ev.b, k));
                adj.entry(ev.b).or_default().push((ev.a, k));
            }
        }
        let mut came: HashMap<u32, (u32, usize)> = HashMap::new();
        let mut queue = VecDeque::from([id]);
        while let Some(x) = queue.pop_front() {
            if x == e {
                break;
            }
            for &(y, k) in adj.get(&x).map(Vec::as_slice).unwrap_or_default() {
                if y != id && !came.contains_key(&y) {
                    came.insert(y, (x, k));
                    queue.push_back(y);
                }
            }
        }
        let mut path = Vec::new();
        let mut x = e;
        while x != id {
            let &(prev, k) = came.get(&x)?;
            path.push(*self.evidence.get(k)?);
            x = prev;
        }
        path.reverse();
        Some(path)
    }

    /// The file of `chain`'s clustering in `data_dir`.
    pub fn path_in(data_dir: &Path, chain: Chain) -> PathBuf {
        data_dir.join(format!("cluster-{}.bin", chain.name()))
    }

    /// Writes it to `path` (temp file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), ClusterError> {
        let io = |source| ClusterError::Io {
            path: path.to_path_buf(),
            source,
        };
        let json = serde_json::to_vec(&self.figures).map_err(|e| io(std::io::Error::other(e)))?;
        let mut buf = Vec::with_capacity(
            40 + 4 * self.entity.len() + EVIDENCE_BYTES * self.evidence.len() + json.len(),
        );
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&self.chain.code().to_le_bytes());
        buf.extend_from_slice(&self.scanned.to_le_bytes());
        buf.extend_from_slice(&(self.entity.len() as u64).to_le_bytes());
        for e in &self.entity {
            buf.extend_from_slice(&e.to_le_bytes());
        }
        buf.extend_from_slice(&(self.evidence.len() as u64).to_le_bytes());
        for ev in &self.evidence {
            buf.extend_from_slice(&ev.tx.to_le_bytes());
            buf.extend_from_slice(&ev.a.to_le_bytes());
            buf.extend_from_slice(&ev.b.to_le_bytes());
            buf.push(ev.kind.code());
            buf.push(ev.confidence);
        }
        buf.extend_from_slice(&(json.len() as u64).to_le_bytes());
        buf.extend_from_slice(&json);
        let tmp = path.with_extension("bin.tmp");
        std::fs::write(&tmp, &buf).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a file [`save`](Self::save) wrote.
    pub fn load(path: &Path) -> Result<Clustering, ClusterError> {
        let bytes = std::fs::read(path).map_err(|source| ClusterError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |what: String| ClusterError::Corrupt {
            path: path.to_path_buf(),
            what,
        };
        let mut r = Reader {
            bytes: &bytes,
            at: 0,
        };
        if r.take(8) != Some(MAGIC.as_slice()) {
            return Err(bad("not a tracehound clustering (bad magic)".into()));
        }
        let short = |what: &str| bad(format!("ends early, in {what}"));
        let code = r.u32().ok_or_else(|| short("the header"))?;
        let chain =
            Chain::from_code(code).ok_or_else(|| bad(format!("unknown chain code {code}")))?;
        let scanned = r.u64().ok_or_else(|| short("the header"))?;
        let n = r.u64().ok_or_else(|| short("the header"))?;
        let n = usize::try_from(n)
            .ok()
            .filter(|n| n.saturating_mul(4) <= bytes.len())
            .ok_or_else(|| bad(format!("claims {n} addresses, more than the file holds")))?;
        let mut entity = Vec::with_capacity(n);
        for _ in 0..n {
            let e = r.u32().ok_or_else(|| short("the entity ids"))?;
            entity.push(e);
        }
        if let Some((id, e)) = (0u32..).zip(&entity).find(|(id, e)| **e > *id) {
            return Err(bad(format!(
                "address {id} has entity {e}, above its own id"
            )));
        }
        let m = r.u64().ok_or_else(|| short("the evidence"))?;
        let m = usize::try_from(m)
            .ok()
            .filter(|m| m.saturating_mul(EVIDENCE_BYTES) <= bytes.len())
            .ok_or_else(|| {
                bad(format!(
                    "claims {m} evidence edges, more than the file holds"
                ))
            })?;
        let mut evidence = Vec::with_capacity(m);
        for k in 0..m {
            let (tx, a, b, kind, confidence) =
                (|| Some((r.u64()?, r.u32()?, r.u32()?, r.u8()?, r.u8()?)))()
                    .ok_or_else(|| short("the evidence"))?;
            let kind = EvidenceKind::from_code(kind)
                .ok_or_else(|| bad(format!("evidence {k} has unknown kind {kind}")))?;
            evidence.push(Evidence {
                tx,
                a,
                b,
                kind,
                confidence,
            });
        }
        let len = r.u64().ok_or_else(|| short("the figures"))?;
        let json = usize::try_from(len)
            .ok()
            .and_then(|l| r.take(l))
            .ok_or_else(|| short("the figures"))?;
        let figures = serde_json::from_slice(json).map_err(|e| bad(format!("figures: {e}")))?;
        Ok(Clustering {
            chain,
            scanned,
            entity,
            evidence,
            figures,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_damage() {
        let c = Clustering::new(
            Chain::LitecoinRegtest,
            42,
            vec![0, 0, 2, 0],
            vec![
                Evidence {
                    tx: 7,
                    a: 0,
                    b: 1,
                    kind: EvidenceKind::CoSpend,
                    confidence: 90,
                },
                Evidence {
                    tx: 9,
                    a: 1,
                    b: 3,
                    kind: EvidenceKind::Change,
                    confidence: 60,
                },
            ],
            Figures {
                txs: 3,
                ..Figures::default()
            },
        );
        let dir = tempfile::tempdir().unwrap();
        let p = Clustering::path_in(dir.path(), Chain::LitecoinRegtest);
        c.save(&p).unwrap();
        assert_eq!(Clustering::load(&p).unwrap(), c);
        assert_eq!(c.members(0), vec![0, 1, 3]);
        let st = c.stats();
        assert_eq!(
            (st.entities, st.multi, st.largest, st.largest_size),
            (2, 1, 0, 3)
        );
        let path: Vec<u64> = c.evidence_path(3).unwrap().iter().map(|e| e.tx).collect();
        assert_eq!(path, vec![9, 7]);
        assert_eq!(c.evidence_path(0).unwrap(), vec![]);
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 5]).unwrap();
        let err = Clustering::load(&p).unwrap_err().to_string();
        assert!(err.contains("ends early, in the figures"), "{err}");
    }
}
