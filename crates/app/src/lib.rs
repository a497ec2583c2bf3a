//! What a data dir holds and the operations on it that every front end offers the same way:
//! the CLI (`tracehound …`) and the HTTP API (`tracehound serve`) both call these, so a
//! trace, a screening or an incident reads the same from either.
//!
//! A data dir holds the store (`store.redb` and its files), the label store, the saved
//! incidents (`incidents/NAME.toml`), each chain's clustering and the exposure index.

mod entities;
mod export;
mod incidents;
mod report;
mod trace;

use std::path::{Path, PathBuf};

use tracehound_core::Chain;
use tracehound_labels::LabelStore;
use tracehound_screen::{ExposureIndex, Screening, screen_one};
use tracehound_store::{Store, StoreOptions};
use tracehound_trace::{Label, Labels};

pub use incidents::{IncidentSummary, SavedIncident, TraceSettings, check_name};
pub use trace::{
    LivePatterns, clustered_extent, tag_entities, tag_patterns, tag_with_patterns, trace_graph,
};

/// What went wrong in an operation, naming what it was working on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The store could not be opened or read.
    #[error("{context}: {source}")]
    Store {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: Box<tracehound_store::StoreError>,
    },
    /// The label store could not be opened or read.
    #[error("{context}: {source}")]
    Labels {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: Box<tracehound_labels::LabelError>,
    },
    /// A trace failed.
    #[error("tracing incident {incident:?}: {source}")]
    Trace {
        /// The incident's name.
        incident: String,
        /// Why it failed.
        source: Box<tracehound_trace::TraceError>,
    },
    /// The clustering could not be read.
    #[error("{0}")]
    Cluster(Box<tracehound_cluster::ClusterError>),
    /// The exposure index could not be read.
    #[error("{0}")]
    Screen(Box<tracehound_screen::ScreenError>),
    /// Pattern detection failed.
    #[error("{0}")]
    Patterns(Box<tracehound_patterns::PatternsError>),
    /// No such thing (an incident, an address).
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong: the message says what and how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// What would be created exists already (an incident of that name).
    #[error("{0}")]
    Exists(String),
    /// A dataset export could not be written.
    #[error("{0}")]
    Dataset(Box<tracehound_store::dataset::DatasetError>),
    /// A file of the data dir could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl From<tracehound_cluster::ClusterError> for AppError {
    fn from(e: tracehound_cluster::ClusterError) -> Self {
        AppError::Cluster(Box::new(e))
    }
}

impl From<tracehound_screen::ScreenError> for AppError {
    fn from(e: tracehound_screen::ScreenError) -> Self {
        AppError::Screen(Box::new(e))
    }
}

impl From<tracehound_patterns::PatternsError> for AppError {
    fn from(e: tracehound_patterns::PatternsError) -> Self {
        AppError::Patterns(Box::new(e))
    }
}

impl AppError {
    fn store(context: impl Into<String>) -> impl FnOnce(tracehound_store::StoreError) -> AppError {
        let context = context.into();
        move |source| AppError::Store {
            context,
            source: Box::new(source),
        }
    }
    fn labels(
        context: impl Into<String>,
    ) -> impl FnOnce(tracehound_labels::LabelError) -> AppError {
        let context = context.into();
        move |source| AppError::Labels {
            context,
            source: Box::new(source),
        }
    }
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AppError + '_ {
        move |source| AppError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Loaded clusterings by chain, with the file each was loaded from.
type Clusterings =
    std::collections::HashMap<Chain, (FileId, std::sync::Arc<tracehound_cluster::Clustering>)>;

/// Something opened once and shared by a data dir's clones.
type Held<T> = std::sync::Arc<std::sync::Mutex<Option<T>>>;

/// A data dir: where the store, labels, incidents, clusterings and index live.
///
/// Its label store is opened once and shared by clones (a store file can be open once per
/// process: a server's concurrent requests all read the one).
#[derive(Clone)]
pub struct DataDir {
    root: PathBuf,
    options: StoreOptions,
    labels: Held<std::sync::Arc<LabelStore>>,
    /// The exposure index as last opened, with which file it was (a rebuilt index is a new
    /// file, and is reopened).
    index: Held<(FileId, std::sync::Arc<ExposureIndex>)>,
    /// Each chain's clustering as last loaded, with which file it was.
    clusterings: std::sync::Arc<std::sync::Mutex<Clusterings>>,
}

impl std::fmt::Debug for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataDir").field("root", &self.root).finish()
    }
}

impl DataDir {
    /// The data dir at `root`, whose store opens with `options`.
    pub fn new(root: impl Into<PathBuf>, options: StoreOptions) -> Self {
        DataDir {
            root: root.into(),
            options,
            labels: std::sync::Arc::default(),
            index: std::sync::Arc::default(),
            clusterings: std::sync::Arc::default(),
        }
    }

    /// Where it is.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens (or creates) the store.
    pub fn open_store(&self) -> Result<Store, AppError> {
        Store::open(&self.root, &self.options).map_err(AppError::store(format!(
            "opening the store in {}",
            self.root.display()
        )))
    }

    /// The label store, created if there is none yet.
    pub fn open_labels(&self) -> Result<std::sync::Arc<LabelStore>, AppError> {
        let mut held = self.labels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = held.as_ref() {
            return Ok(std::sync::Arc::clone(l));
        }
        let opened = LabelStore::open_in(&self.root).map_err(AppError::labels(format!(
            "opening the label store in {}",
            self.root.display()
        )))?;
        let opened = std::sync::Arc::new(opened);
        *held = Some(std::sync::Arc::clone(&opened));
        Ok(opened)
    }

    /// The label store, if labels were ever imported or added here.
    pub fn label_store(&self) -> Result<Option<std::sync::Arc<LabelStore>>, AppError> {
        let mut held = self.labels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = held.as_ref() {
            return Ok(Some(std::sync::Arc::clone(l)));
        }
        let opened = LabelStore::open_existing_in(&self.root).map_err(AppError::labels(
            format!("opening the label store in {}", self.root.display()),
        ))?;
        let opened = opened.map(std::sync::Arc::new);
        held.clone_from(&opened);
        Ok(opened)
    }

    /// The strongest label of every address in the label store, for a trace (none if there
    /// is no label store).
    pub fn trace_labels(&self) -> Result<Labels, AppError> {
        let mut labels = Labels::new();
        let Some(store) = self.label_store()? else {
            return Ok(labels);
        };
        let strongest = store
            .strongest_all()
            .map_err(AppError::labels("reading the label store"))?;
        for t in strongest {
            labels.insert_canonical(
                t.chain,
                t.address,
                Label {
                    label: t.label,
                    category: t.category.name().to_string(),
                    source: t.source,
                    confidence: f32::from(t.confidence) / 100.0,
                },
            );
        }
        Ok(labels)
    }

    /// The exposure index (`tracehound screen index`), opened once and shared; reopened when
    /// the index was rebuilt since.
    pub fn exposure_index(&self) -> Result<std::sync::Arc<ExposureIndex>, AppError> {
        let path = ExposureIndex::path_in(&self.root);
        let file = file_id(&path);
        if file.is_none() {
            return Err(AppError::NotFound(
                "no exposure index: run `tracehound screen index` first".into(),
            ));
        }
        let mut held = self.index.lock().unwrap_or_else(|e| e.into_inner());
        if let (Some((was, index)), Some(now)) = (held.as_ref(), file)
            && *was == now
        {
            return Ok(std::sync::Arc::clone(index));
        }
        *held = None;
        let index = std::sync::Arc::new(ExposureIndex::open_in(&self.root)?);
        if let Some(now) = file {
            *held = Some((now, std::sync::Arc::clone(&index)));
        }
        Ok(index)
    }
}

/// Which file a path names: its device and inode (redb writes to a file it opens, so its
/// modification time is no identity).
#[cfg(unix)]
pub(crate) type FileId = (u64, u64);
#[cfg(not(unix))]
pub(crate) type FileId = std::time::SystemTime;

#[cfg(unix)]
pub(crate) fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub(crate) fn file_id(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).and_then(|m| m.created()).ok()
}

/// Screens one canonical address of `chain` against the exposure index and the labels.
pub fn screen(
    reader: &tracehound_screen::index::Reader<'_>,
    labels: Option<&LabelStore>,
    chain: Chain,
    address: &str,
) -> Result<Screening, AppError> {
    let name = chain.name();
    let exposures = reader.get(&name, address)?;
    let tags = match labels {
        Some(l) => l
            .tags_of(chain, address)
            .map_err(AppError::labels(format!("reading the labels of {address}")))?,
        None => Vec::new(),
    };
    Ok(screen_one(&name, address, exposures, &tags))
}
