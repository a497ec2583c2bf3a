//! The persistent label store: `labels.redb` in the data dir, apart from the chain store so
//! that labels can be managed (and the crate built) without it.
//!
//! Tables:
//! - `tags`: key `chain code (u32 BE) ‖ address ‖ 0x00 ‖ source` → the [`Tag`] as JSON. One
//!   tag per (chain, address, source): all tags of an address are one key range, and a source
//!   says one thing about an address.
//! - `by_source`: key `source ‖ 0x00 ‖ chain code ‖ address` → (), to replace or drop a
//!   source's tags without a scan.
//! - `sources`: source → [`SourceInfo`] as JSON.
//!
//! Imports replace the source's previous tags in the same transaction, so re-importing a file
//! is idempotent and a newer list replaces the older. Analysts' labels have sources
//! `analyst:<name>`; imports never touch them (an import's source always names its format).

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use tracehound_core::Chain;

use crate::LabelError;
use crate::category::Category;
use crate::import::{Format, Parsed};
use crate::tag::{ANALYST_PREFIX, Tag};

const TAGS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("tags");
const BY_SOURCE: TableDefinition<'_, &[u8], ()> = TableDefinition::new("by_source");
const SOURCES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("sources");

/// The file name of the label store inside a data dir.
pub const FILE_NAME: &str = "labels.redb";

/// An imported source.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceInfo {
    /// Its name.
    pub source: String,
    /// The format it came in (`graphsense`, `ofac`, `etherscan`, `csv`).
    pub format: String,
    /// The file it was last imported from.
    pub file: String,
    /// When (unix seconds).
    pub imported_at: u64,
    /// How many tags it holds.
    pub tags: u64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportReport {
    /// The source the tags are stored under.
    pub source: String,
    /// Tags stored (the source now holds exactly these).
    pub imported: u64,
    /// Invalid records skipped (`--skip-invalid`).
    pub skipped: u64,
    /// Records repeating an earlier record's address in the same file.
    pub duplicates: u64,
    /// Tags the source held before, now replaced.
    pub replaced: u64,
}

/// Which tags to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this category.
    pub category: Option<Category>,
    /// Only this chain.
    pub chain: Option<Chain>,
    /// Only this source (exact), or sources starting with it when it ends in `:`.
    pub source: Option<String>,
}

impl Filter {
    fn matches(&self, t: &Tag) -> bool {
        self.category.is_none_or(|c| c == t.category)
            && self.chain.is_none_or(|c| c == t.chain)
            && self.source.as_deref().is_none_or(|s| {
                if s.ends_with(':') {
                    t.source.starts_with(s)
                } else {
                    t.source == s
                }
            })
    }
}

/// The label store.
pub struct LabelStore {
    db: Database,
    path: PathBuf,
}

fn db_err(path: &Path) -> impl Fn(redb::Error) -> LabelError + '_ {
    move |e| LabelError::Store {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn tag_key(chain: Chain, address: &str, source: &str) -> Vec<u8> {
    let mut k = addr_prefix(chain, address);
    k.extend_from_slice(source.as_bytes());
    k
}

fn addr_prefix(chain: Chain, address: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + address.len() + 24);
    k.extend_from_slice(&chain.code().to_be_bytes());
    k.extend_from_slice(address.as_bytes());
    k.push(0);
    k
}

fn source_key(source: &str, chain: Chain, address: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(source.len() + 5 + address.len());
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k.extend_from_slice(&chain.code().to_be_bytes());
    k.extend_from_slice(address.as_bytes());
    k
}

/// The range of keys that start with `prefix` (whose last byte is 0x00, never the max).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

impl LabelStore {
    /// Opens (creating if needed) the label store of data dir `dir`.
    pub fn open_in(dir: &Path) -> Result<LabelStore, LabelError> {
        std::fs::create_dir_all(dir).map_err(|source| LabelError::Read {
            path: dir.display().to_string(),
            source,
        })?;
        LabelStore::open(&dir.join(FILE_NAME))
    }

    /// The label store of data dir `dir`, if it has one (read-only users such as a trace
    /// need not create it).
    pub fn open_existing_in(dir: &Path) -> Result<Option<LabelStore>, LabelError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Ok(None);
        }
        LabelStore::open(&path).map(Some)
    }

    /// Opens (creating if needed) a label store file.
    pub fn open(path: &Path) -> Result<LabelStore, LabelError> {
        let err = db_err(path);
        let db = Database::create(path).map_err(|e| err(e.into()))?;
        let store = LabelStore {
            db,
            path: path.to_path_buf(),
        };
        // Create the tables once, so readers never meet a missing table.
        let w = store.write()?;
        {
            w.open_table(TAGS).map_err(|e| err(e.into()))?;
            w.open_table(BY_SOURCE).map_err(|e| err(e.into()))?;
            w.open_table(SOURCES).map_err(|e| err(e.into()))?;
        }
        w.commit().map_err(|e| err(e.into()))?;
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self) -> impl Fn(redb::Error) -> LabelError + '_ {
        db_err(&self.path)
    }

    fn write(&self) -> Result<WriteTransaction, LabelError> {
        self.db.begin_write().map_err(|e| self.err()(e.into()))
    }

    /// Stores a parsed file as source `parsed.source`, replacing what that source held.
    pub fn import(
        &self,
        parsed: &Parsed,
        format: Format,
        file: &str,
    ) -> Result<ImportReport, LabelError> {
        if parsed.source.starts_with(ANALYST_PREFIX) {
            return Err(LabelError::Input(format!(
                "source {:?}: imports cannot write analysts' labels",
                parsed.source
            )));
        }
        let err = self.err();
        let w = self.write()?;
        let replaced;
        {
            let mut tags = w.open_table(TAGS).map_err(|e| err(e.into()))?;
            let mut idx = w.open_table(BY_SOURCE).map_err(|e| err(e.into()))?;
            let mut sources = w.open_table(SOURCES).map_err(|e| err(e.into()))?;
            replaced = remove_source_in(&mut tags, &mut idx, &parsed.source, &err)?;
            for t in &parsed.tags {
                let value = serde_json::to_vec(t).map_err(|e| LabelError::Input(e.to_string()))?;
                let key = tag_key(t.chain, &t.address, &parsed.source);
                tags.insert(key.as_slice(), value.as_slice())
                    .map_err(|e| err(e.into()))?;
                idx.insert(
                    source_key(&parsed.source, t.chain, &t.address).as_slice(),
                    (),
                )
                .map_err(|e| err(e.into()))?;
            }
            let info = SourceInfo {
                source: parsed.source.clone(),
                format: format.name().to_string(),
                file: file.to_string(),
                imported_at: crate::tag::now(),
                tags: parsed.tags.len() as u64,
            };
            let info = serde_json::to_vec(&info).map_err(|e| LabelError::Input(e.to_string()))?;
            sources
                .insert(parsed.source.as_str(), info.as_slice())
                .map_err(|e| err(e.into()))?;
        }
        w.commit().map_err(|e| err(e.into()))?;
        Ok(ImportReport {
            source: parsed.source.clone(),
            imported: parsed.tags.len() as u64,
            skipped: parsed.skipped.len() as u64,
            duplicates: parsed.duplicates,
            replaced,
        })
    }

    /// Adds (or replaces) an analyst's label; `tag.source` must be `analyst:<name>`.
    /// Returns whether it replaced one.
    pub fn add(&self, tag: &Tag) -> Result<bool, LabelError> {
        if !tag.is_analyst() || tag.source.len() == ANALYST_PREFIX.len() {
            return Err(LabelError::Input(format!(
                "source {:?}: analysts' labels have source analyst:<name>",
                tag.source
            )));
        }
        let err = self.err();
        let w = self.write()?;
        let old;
        {
            let mut tags = w.open_table(TAGS).map_err(|e| err(e.into()))?;
            let mut idx = w.open_table(BY_SOURCE).map_err(|e| err(e.into()))?;
            let value = serde_json::to_vec(tag).map_err(|e| LabelError::Input(e.to_string()))?;
            old = tags
                .insert(
                    tag_key(tag.chain, &tag.address, &tag.source).as_slice(),
                    value.as_slice(),
                )
                .map_err(|e| err(e.into()))?
                .is_some();
            idx.insert(
                source_key(&tag.source, tag.chain, &tag.address).as_slice(),
                (),
            )
            .map_err(|e| err(e.into()))?;
        }
        w.commit().map_err(|e| err(e.into()))?;
        Ok(old)
    }

    /// Removes the tag of `source` on an address; whether there was one.
    pub fn remove(&self, chain: Chain, address: &str, source: &str) -> Result<bool, LabelError> {
        let err = self.err();
        let w = self.write()?;
        let found;
        {
            let mut tags = w.open_table(TAGS).map_err(|e| err(e.into()))?;
            let mut idx = w.open_table(BY_SOURCE).map_err(|e| err(e.into()))?;
            found = tags
                .remove(tag_key(chain, address, source).as_slice())
                .map_err(|e| err(e.into()))?
                .is_some();
            idx.remove(source_key(source, chain, address).as_slice())
                .map_err(|e| err(e.into()))?;
        }
        w.commit().map_err(|e| err(e.into()))?;
        Ok(found)
    }

    /// Drops every tag of a source (an import, or one analyst's); how many.
    pub fn remove_source(&self, source: &str) -> Result<u64, LabelError> {
        let err = self.err();
        let w = self.write()?;
        let n;
        {
            let mut tags = w.open_table(TAGS).map_err(|e| err(e.into()))?;
            let mut idx = w.open_table(BY_SOURCE).map_err(|e| err(e.into()))?;
            let mut sources = w.open_table(SOURCES).map_err(|e| err(e.into()))?;
            n = remove_source_in(&mut tags, &mut idx, source, &err)?;
            sources.remove(source).map_err(|e| err(e.into()))?;
        }
        w.commit().map_err(|e| err(e.into()))?;
        Ok(n)
    }

    /// Every tag of an address, strongest first ([`Tag::strength`]).
    pub fn tags_of(&self, chain: Chain, address: &str) -> Result<Vec<Tag>, LabelError> {
        let err = self.err();
        let r = self.db.begin_read().map_err(|e| err(e.into()))?;
        let tags = r.open_table(TAGS).map_err(|e| err(e.into()))?;
        let start = addr_prefix(chain, address);
        let end = prefix_end(&start);
        let mut out = Vec::new();
        for item in tags
            .range(start.as_slice()..end.as_slice())
            .map_err(|e| err(e.into()))?
        {
            let (_, v) = item.map_err(|e| err(e.into()))?;
            out.push(self.decode(v.value())?);
        }
        out.sort_by(|a, b| b.strength().cmp(&a.strength()));
        Ok(out)
    }

    /// The strongest tag of an address.
    pub fn strongest(&self, chain: Chain, address: &str) -> Result<Option<Tag>, LabelError> {
        Ok(self.tags_of(chain, address)?.into_iter().next())
    }

    /// Calls `f` with every tag, in (chain, address, source) order.
    pub fn for_each(&self, mut f: impl FnMut(Tag)) -> Result<(), LabelError> {
        let err = self.err();
        let r = self.db.begin_read().map_err(|e| err(e.into()))?;
        let tags = r.open_table(TAGS).map_err(|e| err(e.into()))?;
        for item in tags.iter().map_err(|e| err(e.into()))? {
            let (_, v) = item.map_err(|e| err(e.into()))?;
            f(self.decode(v.value())?);
        }
        Ok(())
    }

    /// Tags matching `filter`.
    pub fn list(&self, filter: &Filter) -> Result<Vec<Tag>, LabelError> {
        let mut out = Vec::new();
        self.for_each(|t| {
            if filter.matches(&t) {
                out.push(t);
            }
        })?;
        Ok(out)
    }

    /// Tags whose address, label, raw category, actor, reference or note contains `text`
    /// (case-insensitive).
    pub fn search(&self, text: &str) -> Result<Vec<Tag>, LabelError> {
        let needle = text.to_lowercase();
        let mut out = Vec::new();
        self.for_each(|t| {
            let hit = [
                Some(t.address.as_str()),
                Some(t.label.as_str()),
                Some(t.raw_category.as_str()),
                t.actor.as_deref(),
                t.reference.as_deref(),
                t.note.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|s| s.to_lowercase().contains(&needle));
            if hit {
                out.push(t);
            }
        })?;
        Ok(out)
    }

    /// The strongest tag of every labeled address.
    pub fn strongest_all(&self) -> Result<Vec<Tag>, LabelError> {
        let mut out: Vec<Tag> = Vec::new();
        // Tags come grouped by (chain, address): keep the strongest of each run.
        self.for_each(|t| match out.last_mut() {
            Some(last) if last.chain == t.chain && last.address == t.address => {
                if t.strength() > last.strength() {
                    *last = t;
                }
            }
            _ => out.push(t),
        })?;
        Ok(out)
    }

    /// Imported sources.
    pub fn sources(&self) -> Result<Vec<SourceInfo>, LabelError> {
        let err = self.err();
        let r = self.db.begin_read().map_err(|e| err(e.into()))?;
        let t = r.open_table(SOURCES).map_err(|e| err(e.into()))?;
        let mut out = Vec::new();
        for item in t.iter().map_err(|e| err(e.into()))? {
            let (_, v) = item.map_err(|e| err(e.into()))?;
            out.push(
                serde_json::from_slice(v.value()).map_err(|e| LabelError::Store {
                    path: self.path.display().to_string(),
                    message: format!("corrupt source record: {e}"),
                })?,
            );
        }
        Ok(out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Tag, LabelError> {
        serde_json::from_slice(bytes).map_err(|e| LabelError::Store {
            path: self.path.display().to_string(),
            message: format!("corrupt tag record: {e}"),
        })
    }
}

fn remove_source_in(
    tags: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    idx: &mut redb::Table<'_, &'static [u8], ()>,
    source: &str,
    err: &impl Fn(redb::Error) -> LabelError,
) -> Result<u64, LabelError> {
    let mut start = source.as_bytes().to_vec();
    start.push(0);
    let end = prefix_end(&start);
    let mut keys = Vec::new();
    for item in idx
        .range(start.as_slice()..end.as_slice())
        .map_err(|e| err(e.into()))?
    {
        let (k, _) = item.map_err(|e| err(e.into()))?;
        keys.push(k.value().to_vec());
    }
    for k in &keys {
        let rest = &k[start.len()..];
        let (code, address) = rest.split_at(4.min(rest.len()));
        let code = u32::from_be_bytes(code.try_into().unwrap_or([0; 4]));
        let address = String::from_utf8_lossy(address);
        if let Some(chain) = Chain::from_code(code) {
            tags.remove(tag_key(chain, &address, source).as_slice())
                .map_err(|e| err(e.into()))?;
        }
        idx.remove(k.as_slice()).map_err(|e| err(e.into()))?;
    }
    Ok(keys.len() as u64)
}
