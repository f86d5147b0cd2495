//! One row of a sweep: a chunk size and how its runs went (shared by the table and the plot).

use serde_json::Value as Json;

/// One chunk size's outcome.
pub struct Row {
    /// The chunk size as given.
    pub chunks: String,
    /// The median run's `tessera run --json` object, or why it did not run.
    pub outcome: Result<Json, String>,
}

impl Row {
    /// A numeric field of the median run.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.outcome.as_ref().ok().and_then(|j| j[key].as_f64())
    }
}
