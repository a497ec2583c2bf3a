//! The persistent exposure index: `exposure.redb` in the data dir, one row per (chain,
//! address) holding that address's exposures, so screening an address is one point lookup.
//! A build writes a new file next to the old one and renames it over, so readers never see a
//! half-built index.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::ScreenError;
use crate::record::{Exposure, decode, encode};

/// The index's file name in the data dir.
pub const FILE_NAME: &str = "exposure.redb";

/// `chain/address` → the address's exposures (JSON list).
const EXPOSURES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("exposures");
/// `meta` → [`IndexMeta`] (JSON).
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

/// What an index was built from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexMeta {
    /// Unix seconds of the build.
    pub built: u64,
    /// Hops walked from labeled addresses.
    pub hops: u32,
    /// Trace policy of the incidents.
    pub policy: String,
    /// Incidents traced.
    pub incidents: Vec<String>,
    /// Labeled origins walked from (sanctioned, mixer).
    pub labeled_origins: usize,
    /// Chains of the store at build time.
    pub chains: Vec<String>,
    /// Addresses with at least one exposure.
    pub addresses: u64,
    /// Exposures stored.
    pub exposures: u64,
}

fn key(chain: &str, address: &str) -> String {
    format!("{chain}/{address}")
}

/// A built index, open for reading.
pub struct ExposureIndex {
    db: Database,
    path: PathBuf,
    meta: IndexMeta,
}

impl ExposureIndex {
    /// The index file of data dir `dir`.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }

    /// Opens the index in data dir `dir` (an error naming `tracehound screen index` if none).
    pub fn open_in(dir: &Path) -> Result<ExposureIndex, ScreenError> {
        let path = Self::path_in(dir);
        if !path.exists() {
            return Err(ScreenError::Index {
                path: path.display().to_string(),
                what: "not built yet: run `tracehound screen index` first".into(),
            });
        }
        let err = |what: String| ScreenError::Index {
            path: path.display().to_string(),
            what,
        };
        let db = Database::open(&path).map_err(|e| err(e.to_string()))?;
        let meta = {
            let r = db.begin_read().map_err(|e| err(e.to_string()))?;
            let t = r.open_table(META).map_err(|e| err(e.to_string()))?;
            let v = t
                .get("meta")
                .map_err(|e| err(e.to_string()))?
                .ok_or_else(|| err("no meta row (an interrupted build?)".into()))?;
            serde_json::from_slice(v.value()).map_err(|e| err(e.to_string()))?
        };
        Ok(ExposureIndex { db, path, meta })
    }

    /// What the index was built from.
    pub fn meta(&self) -> &IndexMeta {
        &self.meta
    }

    fn err(&self, what: impl ToString) -> ScreenError {
        ScreenError::Index {
            path: self.path.display().to_string(),
            what: what.to_string(),
        }
    }

    /// A reader: one read transaction, for any number of lookups (one per thread).
    pub fn reader(&self) -> Result<Reader<'_>, ScreenError> {
        let r = self.db.begin_read().map_err(|e| self.err(e))?;
        let table = r.open_table(EXPOSURES).map_err(|e| self.err(e))?;
        Ok(Reader { index: self, table })
    }

    /// Writes `rows` (sorted by key or not) as a fresh index in data dir `dir`, replacing any
    /// index there.
    pub fn write_in(
        dir: &Path,
        rows: impl IntoIterator<Item = ((String, String), Vec<Exposure>)>,
        mut meta: IndexMeta,
    ) -> Result<(), ScreenError> {
        let path = Self::path_in(dir);
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let err = |what: String| ScreenError::Index {
            path: tmp.display().to_string(),
            what,
        };
        let _ = std::fs::remove_file(&tmp);
        let db = Database::create(&tmp).map_err(|e| err(e.to_string()))?;
        let w = db.begin_write().map_err(|e| err(e.to_string()))?;
        {
            let mut t = w.open_table(EXPOSURES).map_err(|e| err(e.to_string()))?;
            let (mut addresses, mut exposures) = (0u64, 0u64);
            for ((chain, address), list) in rows {
                addresses += 1;
                exposures += list.len() as u64;
                t.insert(key(&chain, &address).as_str(), encode(&list).as_slice())
                    .map_err(|e| err(e.to_string()))?;
            }
            meta.addresses = addresses;
            meta.exposures = exposures;
            let mut m = w.open_table(META).map_err(|e| err(e.to_string()))?;
            let bytes = serde_json::to_vec(&meta).map_err(|e| err(e.to_string()))?;
            m.insert("meta", bytes.as_slice())
                .map_err(|e| err(e.to_string()))?;
        }
        w.commit().map_err(|e| err(e.to_string()))?;
        drop(db);
        std::fs::rename(&tmp, &path).map_err(|e| err(format!("renaming into place: {e}")))?;
        Ok(())
    }
}

/// Lookups in one read transaction.
pub struct Reader<'i> {
    index: &'i ExposureIndex,
    table: redb::ReadOnlyTable<&'static str, &'static [u8]>,
}

impl Reader<'_> {
    /// The exposures of `address` (canonical text) on `chain`; empty if it has none.
    pub fn get(&self, chain: &str, address: &str) -> Result<Vec<Exposure>, ScreenError> {
        match self
            .table
            .get(key(chain, address).as_str())
            .map_err(|e| self.index.err(e))?
        {
            Some(v) => {
                decode(v.value()).map_err(|e| self.index.err(format!("row {chain}/{address}: {e}")))
            }
            None => Ok(Vec::new()),
        }
    }

    /// Up to `limit` indexed (chain, address) pairs, in key order (for benchmarks and tests).
    pub fn keys(&self, limit: usize) -> Result<Vec<(String, String)>, ScreenError> {
        let mut out = Vec::new();
        for row in self
            .table
            .iter()
            .map_err(|e| self.index.err(e))?
            .take(limit)
        {
            let (k, _) = row.map_err(|e| self.index.err(e))?;
            if let Some((c, a)) = k.value().split_once('/') {
                out.push((c.to_string(), a.to_string()));
            }
        }
        Ok(out)
    }
}
