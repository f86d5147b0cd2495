//! tessera: chunked n-dimensional arrays, like `dask.array`, compiled.
//!
//! Build a lazy [`Array`] with numpy-style operations; nothing runs until
//! [`Compute::compute`]. Then the expression is lowered to a task graph (generators
//! inlined, elementwise chains and per-chunk reduction steps fused), and a scheduler
//! runs it with a kernel backend.
//!
//! ```
//! use tessera::prelude::*;
//!
//! let x = Array::ones(&[2000, 2000], &ChunkSpec::parse("500").unwrap()).unwrap();
//! let y = x.slice(&[Index::REVERSED, Index::REVERSED]).unwrap();
//! let total = (&x * &y).unwrap().sum(None).unwrap();
//! let result = total.compute(Scheduler::threads()).unwrap();
//! assert_eq!(result.scalar(), Some(4e6));
//! ```
//!
//! This crate only re-exports and wires the others together: `tessera-chunks` (grids),
//! `tessera-graph` (the expression and its lowering), `tessera-kernels` (computing one
//! task), `tessera-runtime` (scheduling), `tessera-store` (stored arrays: Zarr, `.npy`,
//! and HDF5 behind the feature `hdf5`; [`Writes`] creates a run's targets before it and
//! removes them if it fails) and, behind the default feature `cluster`,
//! `tessera-cluster` (as [`cluster`]: the QUIC cluster, local and standalone). Without
//! that feature nothing here depends on tokio or quinn.

#[cfg(feature = "cluster")]
pub use tessera_cluster as cluster;

pub mod mask;
pub mod observe;
pub mod plan;
pub mod writes;

use std::time::{Duration, Instant};

pub use mask::boolean_index;
pub use plan::{Placement, Plan, PlanError, PlanOptions, Source, plan, plan_arrays};
pub use tessera_chunks::{
    AxisChunks, ChunkError, ChunkSpec, Chunks, DType, chunk_byte_target, format_bytes, parse_bytes,
};
pub use tessera_expr::{EvalOptions, Program};
pub use tessera_graph::{
    Array, BinaryOp, GraphError, Index, LowerOptions, ReduceOp, Scalar, TaskGraph, UnaryOp, lower, lower_all,
};
#[cfg(feature = "gpu")]
pub use tessera_kernels::gpu;
pub use tessera_kernels::{Backend, Block, KernelError, cpu::CpuBackend, philox};
pub use tessera_metrics::{Lane, NoSink, RunProgress, Sink, TaskEvent, WorkerRun, WorkerStatus, current_rss_bytes};
pub use tessera_runtime::{NoObserver, Observer, RuntimeError, Scheduler};
pub use tessera_store::{
    Compressor, Format, StoreError, StoredArray, StoredType, WriteTarget, bytes_read, bytes_written, info,
    open_regular, release,
};
pub use writes::{WriteSummary, Writes, summaries};

/// Share of available memory a run may use when no limit is given.
pub const DEFAULT_MEMORY_SHARE: f64 = 0.8;

/// The memory limit when none is given: [`DEFAULT_MEMORY_SHARE`] of the memory
/// available now (no limit where that is unknown).
pub fn default_memory_limit() -> u64 {
    tessera_metrics::available_memory_bytes().map_or(u64::MAX, |m| (m as f64 * DEFAULT_MEMORY_SHARE) as u64)
}

/// Everything needed to build and compute arrays.
pub mod prelude {
    pub use crate::{
        Array, BinaryOp, Block, ChunkSpec, Compute, ComputeOptions, DType, Index, ReduceOp, Scalar, Scheduler, UnaryOp,
    };
}

/// Why a computation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The expression is invalid.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The run failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The run produced blocks that do not form the result (a bug).
    #[error("internal error: the result blocks do not match the result's chunks")]
    Assemble,
    /// A stored array could not be created, read or written.
    #[error("{message}")]
    Storage {
        /// What failed, naming the file.
        message: String,
        /// Whether the user's input is at fault (an existing target, a missing path).
        bad_input: bool,
    },
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Storage { bad_input: e.is_bad_input(), message: e.to_string() }
    }
}

/// How to compute.
#[derive(Debug, Clone)]
pub struct ComputeOptions {
    /// Where to run.
    pub scheduler: Scheduler,
    /// Optimizer switches (fusion on by default).
    pub lower: LowerOptions,
}

impl Default for ComputeOptions {
    fn default() -> Self {
        ComputeOptions { scheduler: Scheduler::threads(), lower: LowerOptions::default() }
    }
}

/// A computed result with what it took.
#[derive(Debug, Clone)]
pub struct Computed {
    /// The whole result as one dense block.
    pub block: Block,
    /// The further results of a graph of several arrays ([`lower_all`]), in order.
    pub more: Vec<Block>,
    /// Tasks executed.
    pub tasks: usize,
    /// Time each scheduler thread spent computing.
    pub busy: Vec<Duration>,
    /// Wall time of the run (lowering included).
    pub wall: Duration,
    /// On a cluster, each worker's share of the run (empty for local runs).
    pub workers: Vec<tessera_metrics::WorkerRun>,
    /// Bytes of held values written to disk to stay under the memory limit.
    pub spilled_bytes: u64,
}

impl Computed {
    /// The value of a 0-d result, as a float.
    pub fn scalar(&self) -> Option<f64> {
        if self.block.shape().is_empty() { self.block.get_f64(0) } else { None }
    }
}

/// `compute` for arrays.
pub trait Compute {
    /// Computes the array on `scheduler` with default options.
    fn compute(&self, scheduler: Scheduler) -> Result<Computed, Error>;

    /// Computes the array with `options`, telling `observer` about every task.
    fn compute_with(&self, options: &ComputeOptions, observer: &dyn Observer) -> Result<Computed, Error>;
}

impl Compute for Array {
    fn compute(&self, scheduler: Scheduler) -> Result<Computed, Error> {
        let options = ComputeOptions { scheduler, ..ComputeOptions::default() };
        self.compute_with(&options, &NoObserver)
    }

    fn compute_with(&self, options: &ComputeOptions, observer: &dyn Observer) -> Result<Computed, Error> {
        let start = Instant::now();
        let graph = lower(self, &options.lower)?;
        run_graph(&graph, options.scheduler, observer, start)
    }
}

/// Runs an already lowered graph on the CPU backend and assembles its result.
pub fn run_graph(
    graph: &TaskGraph,
    scheduler: Scheduler,
    observer: &dyn Observer,
    start: Instant,
) -> Result<Computed, Error> {
    run_graph_within(graph, scheduler, observer, start, u64::MAX)
}

/// [`run_graph`], admitting tasks only while they fit `memory_limit` bytes together
/// with the values held.
pub fn run_graph_within(
    graph: &TaskGraph,
    scheduler: Scheduler,
    observer: &dyn Observer,
    start: Instant,
    memory_limit: u64,
) -> Result<Computed, Error> {
    run_graph_on(graph, &CpuBackend, scheduler, observer, start, memory_limit)
}

/// [`run_graph_within`] with the kernels of `backend` (the GPU backend, say).
pub fn run_graph_on(
    graph: &TaskGraph,
    backend: &dyn Backend,
    scheduler: Scheduler,
    observer: &dyn Observer,
    start: Instant,
    memory_limit: u64,
) -> Result<Computed, Error> {
    let writes = Writes::prepare(graph)?;
    let done = tessera_runtime::run_within(graph, backend, scheduler, observer, memory_limit)?;
    writes.finish()?;
    let (block, more) = assemble(graph, done.outputs)?;
    Ok(Computed {
        block,
        more,
        tasks: done.tasks,
        busy: done.busy,
        wall: start.elapsed(),
        workers: Vec::new(),
        spilled_bytes: done.spilled_bytes,
    })
}

/// Runs an already lowered graph on a cluster; `watch` hears about it. With
/// `gpu_only`, only workers with a GPU compute it.
#[cfg(feature = "cluster")]
pub fn run_graph_on_cluster(
    graph: &TaskGraph,
    client: &mut cluster::Client,
    watch: &dyn cluster::Watch,
    start: Instant,
    gpu_only: bool,
) -> Result<Computed, cluster::ClusterError> {
    let store_error = |e: StoreError| {
        if e.is_bad_input() {
            cluster::ClusterError::BadInput(e.to_string())
        } else {
            cluster::ClusterError::Failed(e.to_string())
        }
    };
    let writes = Writes::prepare(graph).map_err(store_error)?;
    let run = client.compute_on(graph, watch, gpu_only)?;
    writes.finish().map_err(store_error)?;
    let (block, more) = assemble(graph, run.values).map_err(|e| cluster::ClusterError::Failed(e.to_string()))?;
    Ok(Computed {
        block,
        more,
        tasks: graph.tasks.len(),
        busy: Vec::new(),
        wall: start.elapsed(),
        spilled_bytes: run.workers.iter().map(|w| w.spilled_bytes).sum(),
        workers: run.workers,
    })
}

/// Joins the output values of a graph into its result blocks: the first result, and
/// those of [`TaskGraph::more`]. Each output is dropped once copied.
fn assemble(graph: &TaskGraph, outputs: Vec<tessera_kernels::Value>) -> Result<(Block, Vec<Block>), Error> {
    let mut outputs = outputs.into_iter();
    let mut results = Vec::new();
    for chunks in graph.result_chunks() {
        let blocks = outputs
            .by_ref()
            .take(chunks.num_blocks())
            .map(|v| match v {
                tessera_kernels::Value::Block(b) => Some(b),
                tessera_kernels::Value::Partial(_) => None,
            })
            .collect::<Option<Vec<_>>>()
            .ok_or(Error::Assemble)?;
        if blocks.len() != chunks.num_blocks() {
            return Err(Error::Assemble);
        }
        results.push(Block::assemble(chunks, blocks).ok_or(Error::Assemble)?);
    }
    let mut results = results.into_iter();
    let first = results.next().ok_or(Error::Assemble)?;
    Ok((first, results.collect()))
}
