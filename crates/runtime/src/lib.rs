//! Schedulers: decide which task runs when, and where.
//!
//! Both local schedulers walk the same [`TaskGraph`], whose task ids are a topological
//! order and the priority (lower first, a depth-first order that frees memory early).
//! Results never depend on the scheduler: every task is a pure function of its inputs,
//! reductions have a fixed tree shape, and float sums are exact.
//!
//! - [`Scheduler::SingleThreaded`] runs tasks in id order on the calling thread; the
//!   reference behaviour and the easiest to debug.
//! - [`Scheduler::Threads`] runs a fixed pool of threads that take the ready task with
//!   the lowest id from a shared heap.
//!
//! A task's result is dropped as soon as the last task that reads it has run. An
//! [`Observer`] hears about every finished task (progress bars, metrics).
//!
//! [`distributed`] holds the cluster's logic without I/O: the scheduler core and the
//! worker core, driven together by a simulator in its tests; [`store`] is the one
//! store of held values (admission, spill, read-back) the threads scheduler and the
//! worker core share.

pub mod cleanup;
pub mod distributed;
mod single;
pub mod spill;
pub mod store;
mod threads;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use tessera_graph::{TaskGraph, TaskId};
use tessera_kernels::{Backend, KernelError, Value};

/// Where to run a graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// Every task on the calling thread, in priority order.
    SingleThreaded,
    /// A pool of this many threads.
    Threads(usize),
}

impl Scheduler {
    /// A thread pool with one thread per core.
    pub fn threads() -> Scheduler {
        Scheduler::Threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// The scheduler's name as the CLI writes it.
    pub fn name(&self) -> &'static str {
        match self {
            Scheduler::SingleThreaded => "single-threaded",
            Scheduler::Threads(_) => "threads",
        }
    }

    /// The number of threads that compute tasks.
    pub fn workers(&self) -> usize {
        match self {
            Scheduler::SingleThreaded => 1,
            Scheduler::Threads(n) => (*n).max(1),
        }
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A kernel reported an error.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// A kernel panicked; the run was stopped.
    #[error("task {task} panicked: {message}")]
    Panic {
        /// The task's key.
        task: String,
        /// The panic message.
        message: String,
    },
    /// The observer asked to stop.
    #[error("cancelled")]
    Cancelled,
    /// Spilling a value to disk or reading it back failed.
    #[error("spilling to disk failed: {0}")]
    Spill(String),
    /// The system refused to start a thread.
    #[error("could not start {asked} threads (the system refused after {started}: {error}); ask for fewer")]
    Threads {
        /// Threads asked for.
        asked: usize,
        /// Threads started before the refusal.
        started: usize,
        /// The system's reason.
        error: String,
    },
}

/// Hears about finished tasks. Called from the thread that ran the task.
pub trait Observer: Sync {
    /// `task` finished on `thread` after computing for `busy`.
    fn task_finished(&self, graph: &TaskGraph, task: TaskId, thread: usize, busy: Duration);

    /// Whether the run should stop: checked before each task starts; the run then ends
    /// with [`RuntimeError::Cancelled`].
    fn cancelled(&self) -> bool {
        false
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn task_finished(&self, _: &TaskGraph, _: TaskId, _: usize, _: Duration) {}
}

/// The outcome of a run.
#[derive(Debug)]
pub struct Computed {
    /// The values of `graph.outputs`, in order.
    pub outputs: Vec<Value>,
    /// Time each thread spent computing tasks.
    pub busy: Vec<Duration>,
    /// Tasks executed.
    pub tasks: usize,
    /// Bytes written to the spill directory.
    pub spilled_bytes: u64,
}

/// Runs `graph` with `backend` on `scheduler`, without a memory limit.
pub fn run(
    graph: &TaskGraph,
    backend: &dyn Backend,
    scheduler: Scheduler,
    observer: &dyn Observer,
) -> Result<Computed, RuntimeError> {
    run_within(graph, backend, scheduler, observer, u64::MAX)
}

/// Runs `graph` admitting tasks only while held values and running tasks' projections
/// fit `memory_limit` (the single-threaded scheduler runs one task at a time anyway).
pub fn run_within(
    graph: &TaskGraph,
    backend: &dyn Backend,
    scheduler: Scheduler,
    observer: &dyn Observer,
    memory_limit: u64,
) -> Result<Computed, RuntimeError> {
    match scheduler {
        Scheduler::SingleThreaded => single::run(graph, backend, observer),
        Scheduler::Threads(n) => threads::run(graph, backend, n.max(1), observer, memory_limit),
    }
}

/// Executes one task, turning a panic into an error. A task that writes a stored
/// target holds [`cleanup::writing`] while it runs, so a process that is stopping
/// removes its unfinished targets only after the writes in progress, and starts none.
pub(crate) fn execute(
    graph: &TaskGraph,
    backend: &dyn Backend,
    task: TaskId,
    inputs: &[&Value],
) -> Result<Value, RuntimeError> {
    let writes = matches!(graph.layers[graph.tasks[task].layer].kernel, tessera_graph::Kernel::Write(_));
    let _writing = if writes { Some(cleanup::writing().ok_or(RuntimeError::Cancelled)?) } else { None };
    match catch_unwind(AssertUnwindSafe(|| backend.execute(graph, task, inputs))) {
        Ok(result) => Ok(result?),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(RuntimeError::Panic { task: graph.key(task), message })
        }
    }
}
