//! Parquet export (wip).
/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct ExportSummary {
    /// (table, rows) written.
    pub tables: Vec<(String, u64)>,
}
