//! tracehound's screening: is this address exposed to stolen, sanctioned or mixed funds, how
//! much, by which path, and how risky does that make it?
//!
//! Screening must answer in well under a millisecond per address, so the graph work is done
//! once, ahead of time, and the question becomes a point lookup:
//!
//! - [`record`]: one exposure of an address (its origin, direction, amount, share, hops and
//!   proof path) and the serialized form kept per address;
//! - [`walk`]: exposure to labeled addresses (sanctioned, mixer), N hops forward and backward
//!   over a chain's graph with a haircut share per hop (integer rule documented there);
//! - [`build`]: the whole index: stolen exposure from the traces of saved incidents, and the
//!   labeled walks, over tracehound's store;
//! - [`index`]: the persistent index (`exposure.redb` in the data dir), written atomically and
//!   read with one lookup per address;
//! - [`risk`]: risk levels and their reasons, from an address's exposures and its own labels.

#![warn(clippy::unwrap_used)]

pub mod build;
pub mod index;
pub mod record;
pub mod risk;
pub mod walk;

pub use build::{BuildOptions, BuildReport, build};
pub use index::{ExposureIndex, FILE_NAME, IndexMeta};
pub use record::{Direction, Exposure, Origin, Step};
pub use risk::{Level, Reason, Screening, screen_one};

/// Why screening or building the index failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScreenError {
    /// The input names something that is not valid (an address, a chain).
    #[error("{0}")]
    Input(String),
    /// The exposure index file is missing or unreadable.
    #[error("exposure index {path}: {what}")]
    Index {
        /// The index file.
        path: String,
        /// What went wrong.
        what: String,
    },
    /// A trace of a saved incident failed.
    #[error("incident {incident}: {source}")]
    Trace {
        /// The incident's name.
        incident: String,
        /// The trace's error.
        source: Box<tracehound_trace::TraceError>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(Box<tracehound_store::StoreError>),
    /// The label store failed.
    #[error(transparent)]
    Labels(Box<tracehound_labels::LabelError>),
}

// Boxed: the wrapped errors are large, and every lookup returns this type.
impl From<tracehound_store::StoreError> for ScreenError {
    fn from(e: tracehound_store::StoreError) -> Self {
        ScreenError::Store(Box::new(e))
    }
}

impl From<tracehound_labels::LabelError> for ScreenError {
    fn from(e: tracehound_labels::LabelError) -> Self {
        ScreenError::Labels(Box::new(e))
    }
}
