//! Reading label files into [`Tag`]s: GraphSense tagpacks, OFAC lists, Etherscan-family
//! dumps and CSV. Each format has its module; all share [`Collector`], which validates,
//! de-duplicates and either stops at the first bad record (the default: an error naming file,
//! line or entry, and value) or, with `skip_invalid`, skips and counts it.
//!
//! A file's tags carry the source `<format>:<file name>`; storing them replaces whatever that
//! source held before ([`crate::LabelStore::import`]), so importing a file twice changes
//! nothing and a newer version of a list replaces the older.

mod csv;
mod etherscan;
pub use etherscan::EXPLORERS;
mod ofac;
mod tagpack;

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use tracehound_core::Chain;

use crate::LabelError;
use crate::tag::Tag;

pub use tagpack::Actors;

/// A label file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// GraphSense tagpack (YAML).
    Tagpack,
    /// OFAC sanctioned addresses, one a line (`sanctioned_addresses_<ASSET>.txt`).
    Ofac,
    /// Explorer label dump, `{address: {name, labels[]}}` JSON (`<explorer>-….json`).
    Etherscan,
    /// `chain,address,label,category,source,confidence` CSV.
    Csv,
}

impl Format {
    /// The name used on the command line and in source names.
    pub fn name(self) -> &'static str {
        match self {
            Format::Tagpack => "graphsense",
            Format::Ofac => "ofac",
            Format::Etherscan => "etherscan",
            Format::Csv => "csv",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "tagpack" | "graphsense" => Format::Tagpack,
            "ofac" => Format::Ofac,
            "etherscan" | "explorer" => Format::Etherscan,
            "csv" => Format::Csv,
            _ => {
                return Err(format!(
                    "unknown label format {s:?}: tagpack, ofac, etherscan or csv"
                ));
            }
        })
    }
}

/// How to import a file.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The chain of every address, overriding what the file or its name says.
    pub chain: Option<Chain>,
    /// Skip and count bad records instead of stopping at the first.
    pub skip_invalid: bool,
    /// The source name to store under (default `<format>:<file name>`).
    pub source: Option<String>,
    /// GraphSense actors to resolve tagpack `actor` ids against.
    pub actors: Option<Actors>,
}

/// A bad record: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: String,
    /// Where in it: `line 12` or `entry 345` (JSON dumps are one line).
    pub at: String,
    /// The offending value.
    pub value: String,
    /// What is wrong.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} (value {:?})",
            self.path, self.at, self.what, self.value
        )
    }
}

/// A file read into tags.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The source the tags belong to.
    pub source: String,
    /// The tags, one per (chain, address).
    pub tags: Vec<Tag>,
    /// Records skipped as invalid (only with `skip_invalid`).
    pub skipped: Vec<Problem>,
    /// Records that repeat an earlier record's (chain, address) in the same file (e.g. the
    /// same EVM address in lower and checksum case): the first is kept.
    pub duplicates: u64,
}

/// Reads `path` as `format`.
pub fn read_file(path: &Path, format: Format, opts: &ImportOptions) -> Result<Parsed, LabelError> {
    let text = std::fs::read_to_string(path).map_err(|source| LabelError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    // A file's tags are its source's: re-importing the file replaces them. The source is
    // named by the whole path, so two files of one name (each chain's `labels.csv`) do not
    // replace each other's tags.
    let mut opts = opts.clone();
    if opts.source.is_none() {
        let full = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        opts.source = Some(format!("{}:{}", format.name(), full.display()));
    }
    read_str(
        &path.display().to_string(),
        &file_name,
        &text,
        format,
        &opts,
    )
}

/// Reads `text` as `format`; `path` names it in errors, `file_name` gives the default source
/// name and, for OFAC and explorer files, the chain.
pub fn read_str(
    path: &str,
    file_name: &str,
    text: &str,
    format: Format,
    opts: &ImportOptions,
) -> Result<Parsed, LabelError> {
    let source = opts
        .source
        .clone()
        .unwrap_or_else(|| format!("{}:{file_name}", format.name()));
    let mut c = Collector {
        path: path.to_string(),
        skip_invalid: opts.skip_invalid,
        seen: HashSet::new(),
        now: crate::tag::now(),
        out: Parsed {
            source,
            ..Parsed::default()
        },
    };
    match format {
        Format::Tagpack => tagpack::read(&mut c, text, opts)?,
        Format::Ofac => ofac::read(&mut c, file_name, text, opts)?,
        Format::Etherscan => etherscan::read(&mut c, file_name, text, opts)?,
        Format::Csv => csv::read(&mut c, text, opts)?,
    }
    Ok(c.out)
}

/// Gathers one file's tags: checks, de-duplication, skip or stop.
pub(crate) struct Collector {
    path: String,
    skip_invalid: bool,
    seen: HashSet<(Chain, String)>,
    now: u64,
    out: Parsed,
}

impl Collector {
    /// A bad record at `at`: an error, or with `skip_invalid` counted and skipped.
    pub(crate) fn invalid(
        &mut self,
        at: String,
        value: &str,
        what: impl Into<String>,
    ) -> Result<(), LabelError> {
        let p = Problem {
            path: self.path.clone(),
            at,
            value: value.to_string(),
            what: what.into(),
        };
        if self.skip_invalid {
            self.out.skipped.push(p);
            Ok(())
        } else {
            Err(LabelError::Invalid(p))
        }
    }

    /// A whole-file error (unparseable): never skipped.
    pub(crate) fn fatal(&self, at: String, value: &str, what: impl Into<String>) -> LabelError {
        LabelError::Invalid(Problem {
            path: self.path.clone(),
            at,
            value: value.to_string(),
            what: what.into(),
        })
    }

    /// Adds a tag (source, time and origin filled in here); a repeat of an earlier
    /// (chain, address) counts as a duplicate.
    pub(crate) fn push(&mut self, mut tag: Tag, origin: String) {
        if !self.seen.insert((tag.chain, tag.address.clone())) {
            self.out.duplicates += 1;
            return;
        }
        tag.source = self.out.source.clone();
        tag.added = self.now;
        tag.origin = origin;
        self.out.tags.push(tag);
    }
}
