//! What a cluster knows about its workers' resource use.

use serde::{Deserialize, Serialize};

/// One worker's state now, as its last heartbeat told it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Its name.
    pub name: String,
    /// Threads it computes with.
    pub threads: u32,
    /// Its memory limit in bytes.
    pub memory_limit: u64,
    /// CPU use since its previous heartbeat (100 = one core).
    pub cpu_percent: f64,
    /// Resident memory now.
    pub rss_bytes: u64,
    /// Bytes of values it holds in memory.
    pub held_bytes: u64,
    /// Value bytes it wrote to its spill folder so far.
    pub spilled_bytes: u64,
    /// Value bytes fetched from peers so far.
    pub bytes_in: u64,
    /// Value bytes served to peers and clients so far.
    pub bytes_out: u64,
    /// Bytes read from stored arrays so far.
    #[serde(default)]
    pub bytes_read: u64,
    /// Bytes written to stored arrays so far.
    #[serde(default)]
    pub bytes_written: u64,
    /// Tasks computing now.
    pub tasks_running: u64,
    /// Tasks finished so far.
    pub tasks_done: u64,
    /// Tasks finished since the previous status, for the task stream.
    pub recent: Vec<TaskSpan>,
}

/// One finished task, for a task stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpan {
    /// The graph's layer the task belongs to.
    pub layer: u32,
    /// The worker's thread slot that ran it.
    pub slot: u32,
    /// How long before the report it ended, in milliseconds.
    pub ended_ms_ago: u64,
    /// How long it ran, in milliseconds.
    pub duration_ms: u64,
}

/// One worker's share of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerRun {
    /// Its name.
    pub name: String,
    /// Threads it computes with.
    #[serde(default)]
    pub threads: u32,
    /// CPU seconds it spent during the run.
    pub cpu_seconds: f64,
    /// Its peak resident memory (since the process started).
    pub peak_rss_bytes: u64,
    /// Value bytes it fetched from peers during the run.
    pub bytes_in: u64,
    /// Value bytes it served during the run.
    pub bytes_out: u64,
    /// Seconds it spent fetching values from peers (fetches may overlap).
    pub fetch_seconds: f64,
    /// Value bytes it spilled to disk during the run.
    pub spilled_bytes: u64,
    /// Bytes it read from stored arrays during the run.
    #[serde(default)]
    pub bytes_read: u64,
    /// Bytes it wrote to stored arrays during the run.
    #[serde(default)]
    pub bytes_written: u64,
    /// Tasks of the run it finished.
    pub tasks: u64,
}
