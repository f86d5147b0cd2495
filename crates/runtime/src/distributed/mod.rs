//! The distributed scheduler's and workers' logic, without any I/O.
//!
//! [`ClusterScheduler`] is a state machine in the style of `quinn-proto`: the transport
//! feeds it [`Event`]s (a worker joined, a task finished, a connection dropped) and
//! carries out the [`Command`]s it returns (compute this task there, release that
//! value, tell the client). Because it never touches a socket or a clock (time comes in
//! with the events), every scheduling decision — assignment with data locality, work
//! stealing, heartbeats, recomputation of values lost with a worker, cancellation when
//! a client leaves, memory checks — is tested
//! deterministically, and the same core can run behind QUIC or in-process.

mod scheduler;
#[cfg(test)]
mod tests;
mod worker;
#[cfg(test)]
mod worker_tests;

pub use scheduler::ClusterScheduler;
pub use worker::{Report, ValueKey, WorkerCommand, WorkerCore, WorkerEvent};

use std::sync::Arc;

use tessera_graph::{TaskGraph, TaskId};

/// A worker's id, given by the transport.
pub type WorkerId = u64;
/// A client's id, given by the transport.
pub type ClientId = u64;
/// A submitted graph's id, unique within the scheduler.
pub type GraphId = u64;

/// What the scheduler knows about a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    /// Its name, as its user gave it (for messages).
    pub name: String,
    /// Tasks it computes at once.
    pub threads: usize,
    /// Bytes it may use; tasks projected above this are not sent to it.
    pub memory_limit: u64,
    /// It computes with a GPU; graphs submitted for the GPU go only to such workers.
    pub gpu: bool,
}

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// A worker proved the secret and is ready.
    WorkerJoined {
        /// Its id.
        worker: WorkerId,
        /// Its resources.
        info: WorkerInfo,
    },
    /// A worker's connection dropped or it missed its heartbeats: its values are gone.
    WorkerLost {
        /// Its id.
        worker: WorkerId,
    },
    /// A worker is leaving (its job ends, it was told to stop): it takes no more
    /// tasks, gives up those it has not started, and goes once the values it alone
    /// holds that are still needed have been copied to other workers
    /// ([`Command::Copy`], then [`Command::Retire`]).
    WorkerRetiring {
        /// Its id.
        worker: WorkerId,
    },
    /// A worker asked with [`Command::Copy`] now holds a copy of a value, or could not
    /// get it.
    ValueCopied {
        /// The worker that copied.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
        /// The task whose value it is.
        task: TaskId,
        /// It holds the copy now (false: the copy failed).
        copied: bool,
    },
    /// A client submitted a graph.
    Submitted {
        /// The client.
        client: ClientId,
        /// The graph's id.
        graph: GraphId,
        /// The lowered graph.
        tasks: Arc<TaskGraph>,
        /// Only workers with a GPU may compute it.
        gpu_only: bool,
    },
    /// A worker computed a task and holds its value.
    TaskFinished {
        /// The worker.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
        /// Bytes of the value.
        bytes: u64,
    },
    /// A worker could not fetch an input (its holder is gone): run the task again later.
    InputsLost {
        /// The worker.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
    },
    /// A task failed for good (a kernel error).
    TaskFailed {
        /// The worker.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
        /// What went wrong.
        error: String,
        /// Which class of failure.
        kind: FailureKind,
    },
    /// The client has the results; everything of the graph can go.
    ResultsDelivered {
        /// The graph.
        graph: GraphId,
    },
    /// A client went away: its graphs are cancelled.
    ClientLeft {
        /// The client.
        client: ClientId,
    },
    /// A worker's heartbeat arrived at `at_ms` (the transport's clock, in milliseconds).
    Heartbeat {
        /// The worker.
        worker: WorkerId,
        /// When.
        at_ms: u64,
    },
    /// The transport's clock ticked: workers silent for [`HEARTBEAT_TIMEOUT_MS`] are lost.
    Tick {
        /// Now, in milliseconds.
        at_ms: u64,
    },
    /// A worker answered a [`Command::Steal`]: `stolen` if the task had not started and
    /// will not run there.
    StealAnswered {
        /// The worker asked.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
        /// Whether it gave the task up.
        stolen: bool,
    },
}

/// How often workers send heartbeats.
pub const HEARTBEAT_INTERVAL_MS: u64 = 250;
/// A worker silent this long is treated as dead.
pub const HEARTBEAT_TIMEOUT_MS: u64 = 3000;

/// Something the transport must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send the graph to a worker (before the first task of it).
    ShareGraph {
        /// The worker.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
    },
    /// Compute a task; its inputs are held by the listed workers.
    Compute {
        /// The worker that computes.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
        /// For each dependency, in order: the task and a worker that holds it.
        inputs: Vec<(TaskId, WorkerId)>,
    },
    /// Forget a graph that ended: drop its queued tasks, its values and the graph.
    Forget {
        /// The worker.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
    },
    /// Drop a value.
    Release {
        /// The worker holding it.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
    },
    /// Progress for the client.
    Progress {
        /// The client.
        client: ClientId,
        /// The graph.
        graph: GraphId,
        /// Tasks done.
        done: usize,
        /// Tasks in all.
        total: usize,
        /// Tasks done per layer of the graph.
        layers: Vec<usize>,
    },
    /// All done: the outputs and who holds them.
    Finished {
        /// The client.
        client: ClientId,
        /// The graph.
        graph: GraphId,
        /// Each output task and a worker that holds it.
        outputs: Vec<(TaskId, WorkerId)>,
    },
    /// The worker missed its heartbeats and is treated as lost: close its connection.
    Disconnect {
        /// The worker.
        worker: WorkerId,
    },
    /// Copy a value from a retiring worker and hold it; answer with
    /// [`Event::ValueCopied`].
    Copy {
        /// The worker that copies and will hold the value.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
        /// The task whose value it is.
        task: TaskId,
        /// The retiring worker that holds it.
        from: WorkerId,
    },
    /// A retiring worker has handed over everything still needed: it may go.
    Retire {
        /// The worker.
        worker: WorkerId,
    },
    /// Ask a worker to give up a task it has not started, so an idle one can run it.
    Steal {
        /// The worker holding the task.
        worker: WorkerId,
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
    },
    /// The graph failed.
    Failed {
        /// The client.
        client: ClientId,
        /// The graph.
        graph: GraphId,
        /// Why.
        error: String,
        /// Which class of failure (the exit code a user sees).
        kind: FailureKind,
    },
}

/// Why a graph failed, in the classes a user sees as exit codes; the same locally and
/// on a cluster, and carried over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FailureKind {
    /// The input is wrong: a value numpy refuses too (exit code 2).
    BadInput,
    /// Refused for resources: memory, devices (exit code 3).
    Resources,
    /// Cancelled by its user (exit code 1).
    Cancelled,
    /// Anything else (exit code 1).
    Failed,
}
