//! Where the real-data fixtures live: re-exported from [`tracehound_core::fixtures`] so the
//! crates' tests keep one helper.

pub use tracehound_core::fixtures::shared_data;
