//! The lowered task graph: layers (what to compute) and tasks (one per block).

use serde::{Deserialize, Serialize};
use tessera_chunks::{Chunks, DType};
use tessera_store::WriteTarget;

use crate::{FusedExpr, ReduceOp, ScanOp, ViewMap};

/// Index of a layer in [`TaskGraph::layers`].
pub type LayerId = usize;
/// Index of a task in [`TaskGraph::tasks`]; also its priority (lower runs first).
pub type TaskId = usize;

/// The stage of a tree reduction a layer computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReduceStage {
    /// Evaluate `expr` over one block of the input grid and reduce it to a partial.
    Partial {
        /// The fused expression being reduced (in the input array's coordinates).
        expr: FusedExpr,
        /// The input array's chunk grid; the layer's blocks are its blocks.
        input: Chunks,
        /// Compute once: an involution of the input's coordinates that pairs each block
        /// with the block whose partial reads the same costly values (see
        /// [`crate::pair_role`]); `None` when every task evaluates its own block alone.
        pairing: Option<ViewMap>,
    },
    /// Merge the partials listed as the task's dependencies.
    Combine,
    /// Merge the dependencies' partials and produce the result block.
    Aggregate {
        /// Number of input elements reduced into each output element (for `mean`).
        count: u64,
    },
}

/// A reduction layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceKernel {
    /// The reduction.
    pub op: ReduceOp,
    /// The reduced axes, in the input array's coordinates.
    pub axes: Vec<usize>,
    /// The input's number of dimensions.
    pub input_ndim: usize,
    /// The input's dtype (after the cast the reduction asks for).
    pub input_dtype: DType,
    /// Which stage this layer is.
    pub stage: ReduceStage,
}

/// A 2-D matrix product layer: output block `(i, j)` is the sum over the inner blocks
/// `k` of `a[i, k] @ b[k, j]`, in increasing `k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatMulKernel {
    /// The left operand, evaluated per block (generators inline, or an input).
    pub a: FusedExpr,
    /// The right operand.
    pub b: FusedExpr,
    /// Boundaries of the inner dimension.
    pub inner: Chunks,
}

/// A write layer: each task evaluates `expr` over its block of `region` and writes it
/// to the target. The blocks of `region` own whole stored chunks (see
/// [`crate::write_grid`]), so no two tasks write one stored chunk. A task's value is an
/// int64 pair: stored chunks and bytes written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteKernel {
    /// The array written, in its own coordinates.
    pub expr: FusedExpr,
    /// Where it is written (created before the run).
    pub target: WriteTarget,
    /// The write tasks' grid over the array.
    pub region: Chunks,
}

/// A cumulative operation along an axis: each task evaluates `expr` over its block and
/// accumulates along `axis`, starting from the last values of the task before it along
/// the axis (its last dependency, when it has one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanKernel {
    /// `cumsum` or `cumprod`.
    pub op: ScanOp,
    /// The axis.
    pub axis: usize,
    /// The array accumulated, in its own coordinates.
    pub expr: FusedExpr,
}

/// A reshape layer: output block `b` is the input's block
/// [`crate::reshape_source_block`]`(groups, b)` evaluated by `expr` and laid out in
/// the output block's shape (row-major order kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReshapeKernel {
    /// The array reshaped, in its own coordinates.
    pub expr: FusedExpr,
    /// Its chunk grid.
    pub input: Chunks,
    /// The axis groups (input axes, output axes) that map blocks to blocks.
    pub groups: Vec<crate::AxisGroup>,
}

/// Order statistics along an axis: output block `b` comes from the input block
/// [`crate::Ranking::source_block`]`(b)`, evaluated by `expr`, lane by lane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantileKernel {
    /// The array ranked, in its own coordinates.
    pub expr: FusedExpr,
    /// Its chunk grid (the axis whole).
    pub input: Chunks,
    /// What is computed along which axis.
    pub ranking: crate::Ranking,
}

/// Per block of the input, its counts in the bins: output block `(b, 0)` is the input's
/// block `b` (row-major block order) counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramKernel {
    /// The array counted, in its own coordinates.
    pub expr: FusedExpr,
    /// Its chunk grid.
    pub input: Chunks,
    /// The bins.
    pub edges: crate::BinEdges,
}

impl HistogramKernel {
    /// The input block that output row `row` counts.
    pub fn source_block(&self, row: usize) -> Vec<usize> {
        self.input.block_at(row)
    }
}

/// Per block of a bool array, its count of true values: output block `[b]` counts
/// input block `b` of the row-major block order (the first pass of a boolean mask).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockCountKernel {
    /// The mask, in its own coordinates.
    pub expr: FusedExpr,
    /// Its chunk grid.
    pub input: Chunks,
}

/// The values where a mask is true (the second pass of a boolean mask): output block
/// `[b]` holds, in row-major order, the values of input block `sources[b]` (of the
/// row-major block order) where the mask is true. Blocks are whole along every axis
/// but the first, so blocks in order are the elements in row-major order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompressKernel {
    /// The mask (its root) and the values (node `values`) in one expression, so the
    /// nodes both read are evaluated once.
    pub expr: FusedExpr,
    /// The node of `expr` that computes the values.
    pub values: usize,
    /// The input's chunk grid.
    pub input: Chunks,
    /// The input block of each output block, increasing.
    pub sources: Vec<usize>,
}

/// One run of a [`GatherKernel`]: `len` consecutive positions of the output along the
/// axis, read from `part` at `start`, `start + step`, ... (`step` is 1, 0 to repeat
/// one position, or -1 to read backwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatherRun {
    /// Index into [`GatherKernel::parts`].
    pub part: usize,
    /// The first source position along the axis.
    pub start: u64,
    /// Output positions in the run.
    pub len: u64,
    /// Source positions advanced per output position: 1, 0 or -1.
    pub step: i64,
}

impl GatherRun {
    /// The source positions the run reads for its output positions `[lo, lo + n)`
    /// (relative to the run's start), as `(first, count)` in increasing order.
    pub fn source_span(&self, lo: u64, n: u64) -> (u64, u64) {
        match self.step {
            0 => (self.start, 1),
            1 => (self.start + lo, n),
            _ => (self.start + 1 - lo - n, n),
        }
    }
}

/// Concatenation, stacking, padding, rolling and `take` along one axis: each output
/// block evaluates, for each run it holds, the run's part over the positions it reads
/// (fused: generators and stored leaves inline, nothing materialized) and copies them
/// in place; off the axis the parts have the output's coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatherKernel {
    /// The axis along which runs are laid out.
    pub axis: usize,
    /// The parts read, each in its own coordinates (the output's dtype and, off the
    /// axis, its shape).
    pub parts: Vec<FusedExpr>,
    /// Each part's length along the axis.
    pub lengths: Vec<u64>,
    /// The output along the axis, run after run.
    pub runs: Vec<GatherRun>,
}

impl GatherKernel {
    /// The runs overlapping output positions `[lo, lo + n)` along the axis, each with
    /// the overlap's first output position and length relative to the run's start and
    /// the overlap's position in the range.
    pub fn overlapping(&self, lo: u64, n: u64) -> Vec<(GatherRun, u64, u64, u64)> {
        let mut out = Vec::new();
        let mut at = 0u64;
        let end = lo.saturating_add(n);
        for run in &self.runs {
            let (a, b) = (at.max(lo), (at + run.len).min(end));
            if a < b {
                out.push((*run, a - at, b - a, a - lo));
            }
            at += run.len;
            if at >= end {
                break;
            }
        }
        out
    }
}

/// What a layer's tasks compute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Kernel {
    /// Evaluate a fused elementwise expression over the output block.
    Blockwise(FusedExpr),
    /// One stage of a tree reduction.
    Reduce(ReduceKernel),
    /// A block of a matrix product.
    MatMul(MatMulKernel),
    /// Writes of whole stored chunks.
    Write(WriteKernel),
    /// A cumulative sum or product.
    Scan(ScanKernel),
    /// Blocks assembled along an axis from runs of parts.
    Gather(GatherKernel),
    /// Blocks of another array in another shape.
    Reshape(ReshapeKernel),
    /// Medians and quantiles along an axis.
    Quantile(QuantileKernel),
    /// Counts of each input block in histogram bins.
    Histogram(HistogramKernel),
    /// Counts of true values per block of a mask.
    BlockCount(BlockCountKernel),
    /// Values selected by a mask, one input block per output block.
    Compress(CompressKernel),
    /// The summary of writes: the task's dependencies are the write tasks, `counts[i]`
    /// of them for target `i`; the value is an int64 `(targets, 2)` block of stored
    /// chunks and bytes written per target.
    Collect {
        /// Write tasks per target, in dependency order.
        counts: Vec<usize>,
    },
}

/// A set of tasks that compute the same kernel over different blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layer {
    /// A readable, deterministic name, e.g. `mul-random-sum-partial-2`.
    pub name: String,
    /// The operation's name for progress reports, e.g. `sum-partial`.
    pub op_name: String,
    /// The grid of the arrays this layer's blocks belong to. For reduction stages before
    /// the last, the grid of partials (reduced axes grouped).
    pub grid: Vec<usize>,
    /// For layers that produce array blocks: their chunks.
    pub chunks: Option<Chunks>,
    /// The dtype of the values produced.
    pub dtype: DType,
    /// The kernel.
    pub kernel: Kernel,
}

/// One unit of work: a kernel applied to one block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    /// The layer.
    pub layer: LayerId,
    /// The block's grid index within the layer.
    pub block: Vec<usize>,
    /// The tasks whose results this one reads, in the order the kernel expects.
    pub deps: Vec<TaskId>,
    /// Projected peak bytes while the task runs: inputs, output and scratch.
    pub projected_bytes: u64,
    /// Bytes of the task's result.
    pub output_bytes: u64,
}

/// A lowered computation: tasks in priority order (a topological, depth-first order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskGraph {
    /// The layers.
    pub layers: Vec<Layer>,
    /// The tasks; a task's dependencies always come before it.
    pub tasks: Vec<Task>,
    /// The tasks that produce the result's blocks, in row-major block order.
    pub outputs: Vec<TaskId>,
    /// The result's shape.
    pub shape: Vec<usize>,
    /// The result's dtype.
    pub dtype: DType,
    /// The result's chunks.
    pub chunks: Chunks,
    /// Further results of a graph that computes several arrays at once (their blocks
    /// follow the first result's in `outputs`, each in row-major block order).
    #[serde(default)]
    pub more: Vec<ResultArray>,
}

/// One more array a graph computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultArray {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its dtype.
    pub dtype: DType,
    /// Its chunks.
    pub chunks: Chunks,
}

impl TaskGraph {
    /// Every result's chunks, in order (the first result's, then [`TaskGraph::more`]).
    pub fn result_chunks(&self) -> Vec<&Chunks> {
        std::iter::once(&self.chunks).chain(self.more.iter().map(|r| &r.chunks)).collect()
    }

    /// A stable, Dask-style key for a task, e.g. `('mul-random-sum-partial-1', 0, 3)`.
    pub fn key(&self, task: TaskId) -> String {
        let t = &self.tasks[task];
        let mut key = format!("('{}'", self.layers[t.layer].name);
        for b in &t.block {
            key.push_str(&format!(", {b}"));
        }
        key.push(')');
        key
    }

    /// How many tasks read each task's result.
    pub fn dependents_count(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.tasks.len()];
        for t in &self.tasks {
            for &d in &t.deps {
                counts[d] += 1;
            }
        }
        for &o in &self.outputs {
            counts[o] += 1;
        }
        counts
    }

    /// The chunk size of the widest layer of blocks the computation walks (Dask's
    /// `chunksize` of the arrays it is built from), e.g. `[2000, 2000]` for a sum. Of
    /// layers as wide, the first (nearest the leaves: a histogram's input, not the
    /// rows of counts made from it).
    pub fn work_chunksize(&self) -> Vec<usize> {
        self.layers
            .iter()
            .rev()
            .filter_map(|l| match &l.kernel {
                Kernel::Reduce(ReduceKernel { stage: ReduceStage::Partial { input, .. }, .. }) => Some(input),
                Kernel::Blockwise(_) | Kernel::MatMul(_) | Kernel::Scan(_) | Kernel::Gather(_) | Kernel::Reshape(_) => {
                    l.chunks.as_ref()
                }
                Kernel::Quantile(q) => Some(&q.input),
                Kernel::Histogram(h) => Some(&h.input),
                Kernel::BlockCount(k) => Some(&k.input),
                Kernel::Compress(k) => Some(&k.input),
                Kernel::Write(w) => Some(&w.region),
                Kernel::Reduce(_) | Kernel::Collect { .. } => None,
            })
            .max_by_key(|c| c.num_blocks())
            .map_or_else(Vec::new, |c| c.chunksize())
    }

    /// Checks everything a kernel relies on in a graph from the network, before any
    /// task of it runs: every layer, node and task index in range, inputs only from
    /// earlier layers, every view inside its source, consistent grids and outputs.
    pub fn validate(&self) -> Result<(), String> {
        crate::validate::validate(self)
    }

    /// The targets the graph writes, in the order of its result's rows.
    pub fn write_targets(&self) -> Vec<&WriteTarget> {
        self.layers
            .iter()
            .filter_map(|l| match &l.kernel {
                Kernel::Write(w) => Some(&w.target),
                _ => None,
            })
            .collect()
    }

    /// The largest projected task size.
    pub fn max_projected_bytes(&self) -> u64 {
        self.tasks.iter().map(|t| t.projected_bytes).max().unwrap_or(0)
    }
}
