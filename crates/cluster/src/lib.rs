//! tessera-cluster: running task graphs on a cluster of worker processes that talk QUIC.
//!
//! Every decision (which worker runs what, what is recomputed when a worker dies, what
//! a steal moves) is made by the sans-IO core [`tessera_runtime::distributed`]; this
//! crate only moves messages: it turns frames into events, and commands into frames,
//! so the core can be tested by a simulator without sockets. Graphs travel once per
//! worker; values travel worker to worker (and to the client) on streams of their own,
//! as raw bytes ([`tessera_kernels::wire`]).
//!
//! Three ways to have a cluster: processes started by hand or by a launcher
//! ([`serve_scheduler`], [`run_worker`]), a [`LocalCluster`] of processes on loopback
//! (the program to start is a parameter, so any binary that has `scheduler` and
//! `worker` commands can be one), and a [`Standalone`] cluster whose scheduler and
//! workers are tasks of this process, talking real QUIC over loopback.
//! A launcher (Slurm, ssh) keeps its scheduler in its own process with an
//! [`EmbeddedScheduler`]. Workers leave gracefully when asked ([`Retirement`], what
//! SIGTERM means to `tessera worker`): the scheduler has the values they alone hold
//! copied to workers that stay before it lets them go.
//!
//! Logging goes through `tracing`; the binary decides where it is written.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use tessera_cluster::{NoWatch, Standalone, WorkerOptions};
//! use tessera_graph::{Array, ChunkSpec, LowerOptions, lower};
//!
//! let backend = Arc::new(tessera_kernels::cpu::CpuBackend);
//! let options = WorkerOptions { name: "worker".into(), threads: 1, memory_limit: 1 << 30, backend, gpu: None };
//! let cluster = Standalone::start(2, options)?;
//! let x = Array::random(&[1000, 1000], 42, &ChunkSpec::parse("250")?)?;
//! let graph = lower(&x.sum(None)?, &LowerOptions::default())?;
//! let run = cluster.client()?.compute(&graph, &NoWatch)?;
//! assert_eq!(run.workers.len(), 2);
//! # Ok(())
//! # }
//! ```

mod client;
mod local;
mod peers;
mod protocol;
mod scheduler;
mod serve;
mod standalone;
#[cfg(test)]
mod tests;
mod worker;
mod worker_counters;

pub use client::{Client, ClusterRun, NoWatch, Watch};
pub use local::LocalCluster;
pub use protocol::Load;
pub use serve::{EmbeddedScheduler, scheduler_until_stopped, worker_until_stopped};
pub use standalone::Standalone;

/// A lock that a panicked holder left is still usable: every state behind one here
/// stays consistent between statements.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long connecting to the scheduler or a peer may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
pub use scheduler::serve_scheduler;
pub use worker::{RETIRE_GRACE, Retirement, WorkerOptions, local_ip_towards, run_worker, run_worker_until};

/// Why a cluster operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// Connecting, authenticating or talking to a peer failed.
    #[error(transparent)]
    Transport(#[from] tessera_transport::TransportError),
    /// The graph or a value in it is wrong (a malformed graph, a value numpy refuses).
    #[error("{0}")]
    BadInput(String),
    /// The scheduler refused the graph because a task cannot fit any worker's memory,
    /// or no worker has the device it needs.
    #[error("{0}")]
    Resources(String),
    /// Its user cancelled the run (the same message as a cancelled local run).
    #[error("cancelled")]
    Cancelled,
    /// The computation failed.
    #[error("{0}")]
    Failed(String),
    /// The scheduler went away.
    #[error("lost the connection to the scheduler: {0}")]
    SchedulerLost(String),
}
