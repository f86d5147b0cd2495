//! Errors of stored arrays: each names the file (and the chunk) it is about.

use thiserror::Error;

/// What went wrong reading or writing a stored array.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The input is wrong: a missing path, not a store, an unsupported dtype or codec,
    /// an existing target, a mismatched shape (the user can fix it; exit code 2).
    #[error("{0}")]
    BadInput(String),
    /// The data is damaged: garbage metadata, a corrupt or truncated chunk.
    #[error("{0}")]
    Corrupt(String),
    /// The operating system refused: permission denied, disk full, ... (`context` says
    /// what was being done).
    #[error("{context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The system's reason.
        source: std::io::Error,
    },
}

impl StoreError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> StoreError {
        StoreError::Io { context: context.into(), source }
    }

    /// Whether the user's input (rather than the data or the system) is at fault.
    pub fn is_bad_input(&self) -> bool {
        match self {
            StoreError::BadInput(_) => true,
            StoreError::Io { source, .. } => {
                matches!(source.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied)
            }
            StoreError::Corrupt(_) => false,
        }
    }
}
