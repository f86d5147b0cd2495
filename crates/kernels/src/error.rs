//! Kernel errors.

/// Why a task could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A dependency was missing or of the wrong kind: a bug in lowering or scheduling.
    #[error("internal error in task {task}: {message}")]
    Internal {
        /// The task's key.
        task: String,
        /// What was wrong.
        message: String,
    },
    /// Values the operation is not defined for, where numpy raises `ValueError`
    /// (an integer to a negative integer power).
    #[error("{message} (in task {task})")]
    Value {
        /// The task's key.
        task: String,
        /// numpy's message.
        message: String,
    },
    /// The GPU failed to run the task's kernel (wgpu's validation, out of memory, a
    /// lost device).
    #[error("GPU error in task {task}: {message}")]
    Device {
        /// The task's key.
        task: String,
        /// wgpu's message.
        message: String,
    },
    /// A stored array could not be read or written (the message names the file and the
    /// chunk).
    #[error("{message}")]
    Storage {
        /// The task's key.
        task: String,
        /// What failed, with the file and chunk.
        message: String,
    },
}
