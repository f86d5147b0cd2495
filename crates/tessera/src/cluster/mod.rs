//! Running graphs on a cluster: a scheduler process, worker processes and clients that
//! talk QUIC through `tessera-transport`.
//!
//! The decisions are made by the sans-IO [`tessera_runtime::distributed`] core; this
//! module only moves messages: it turns frames into events, and commands into frames.
//! Graphs travel once per worker; values travel worker to worker (and to the client)
//! on streams of their own, as raw bytes ([`tessera_kernels::wire`]).

mod client;
mod protocol;
mod scheduler;
mod store;
mod worker;

pub use client::{Client, ClusterRun, NoWatch, Watch};

/// How long connecting to the scheduler or a peer may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
pub use scheduler::serve_scheduler;
pub use worker::{WorkerOptions, run_worker};

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Connecting, authenticating or talking to a peer failed.
    #[error(transparent)]
    Transport(#[from] tessera_transport::TransportError),
    /// The scheduler refused the graph because a task cannot fit any worker's memory.
    #[error("{0}")]
    Resources(String),
    /// The computation failed.
    #[error("{0}")]
    Failed(String),
    /// The scheduler went away.
    #[error("lost the connection to the scheduler: {0}")]
    SchedulerLost(String),
}
