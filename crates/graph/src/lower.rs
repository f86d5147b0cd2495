//! Lowering: from an [`Array`] to a [`TaskGraph`], optimizing on the way.
//!
//! ## Computing each value once: the cost model
//!
//! Every leaf of a fused expression has a cost per element: constants (`ones`, `full`)
//! and `arange` next to nothing, `random` one Philox value (about 0.4 ns per core with
//! AVX-512, more than the arithmetic around it), a stored array a decode or a read.
//! Generators are never materialized, so a costly leaf read through several views is
//! computed at every read: `x * x[::-1, ::-1]` generates each value of `x` twice.
//! Two remedies, chosen per case:
//!
//! - **pairing** (built, `pairing.rs`): when a reduction's partial reads a costly leaf
//!   through views `W` and `W∘V`, with `V` an involution (mirror, transpose) that pairs
//!   whole blocks and moves only reduced axes, and the reduction's merge is exact and
//!   order-free, the task of the lower block of each pair evaluates both blocks sub-box
//!   by sub-box and generates each value once; memory stays one sub-box per leaf, so
//!   S2 keeps its flat peak at any chunk size, and the bits do not change (exact sums).
//!   [`crate::pairing`] picks the `V` that saves the most leaf reads; with none, or
//!   when only cheap leaves repeat, tasks evaluate their blocks alone as before.
//! - **materializing** the leaf (not built): for a leaf read by two layers, as `x` in
//!   `x - x.mean(axis=0)`, holding its blocks until the second reader runs costs
//!   memory in proportion to the array (all of `x` waits for the mean), which the
//!   flat-memory promise rules out; such leaves are recomputed, which costs time in
//!   proportion to the Philox rate instead.

use std::collections::HashMap;

use tessera_chunks::{BlockIter, Chunks, DType, axis_overlaps};

use crate::array::{Array, MAX_GRAPH_DEPTH, Op};
use crate::fused::{FNode, FusedExpr, Leaf};
use crate::task::{
    BlockCountKernel, CompressKernel, GatherKernel, HistogramKernel, Kernel, Layer, LayerId, MatMulKernel,
    QuantileKernel, ReduceKernel, ReduceStage, ReshapeKernel, ResultArray, ScanKernel, Task, TaskGraph, TaskId,
    WriteKernel,
};
use crate::{GraphError, PairRole, ReduceOp, SPLIT_EVERY, ViewMap};

/// Elements per evaluation tile (used for scratch memory projections).
pub const TILE_ELEMENTS: usize = 4096;
/// Bytes of one exact-sum accumulator (an estimate used for memory projections).
pub const EXACT_SUM_BYTES: u64 = 560;

/// The most tasks one graph may have: checked on the layers' block counts before any
/// task is built, so that a plan is refused or accepted in bounded time and memory (a
/// plan past this is almost surely a chunking mistake).
pub const MAX_TASKS: usize = 250_000;

/// Optimizer switches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowerOptions {
    /// Fuse chains of elementwise operations, views and the per-chunk step of
    /// reductions into single tasks. Off: one task per operation and block.
    pub fuse: bool,
    /// Evaluate generators inside the tasks that read them instead of storing blocks.
    pub inline_generators: bool,
    /// How many partials one reduction task combines (in total over the reduced axes).
    pub split_every: usize,
}

impl Default for LowerOptions {
    fn default() -> Self {
        LowerOptions { fuse: true, inline_generators: true, split_every: SPLIT_EVERY }
    }
}

impl LowerOptions {
    /// No fusion and no generator inlining: every operation on every block is a task.
    pub fn unfused() -> Self {
        LowerOptions { fuse: false, inline_generators: false, split_every: SPLIT_EVERY }
    }
}

/// Lowers `array` to a task graph with only the tasks its result needs.
pub fn lower(array: &Array, options: &LowerOptions) -> Result<TaskGraph, GraphError> {
    lower_all(std::slice::from_ref(array), options)
}

/// Lowers several arrays into one graph: what they share (a common operand, a
/// generator read by two of them) is one layer computed once. The outputs are the
/// first array's blocks, then the next array's, and so on; the graph's `shape`,
/// `dtype` and `chunks` are the first array's, [`TaskGraph::more`] the others'.
pub fn lower_all(arrays: &[Array], options: &LowerOptions) -> Result<TaskGraph, GraphError> {
    let Some(first) = arrays.first() else {
        return Err(GraphError::Shape("nothing to compute".into()));
    };
    if let Some(deep) = arrays.iter().find(|a| a.depth() > MAX_GRAPH_DEPTH) {
        return Err(GraphError::TooDeep { depth: deep.depth() });
    }
    let mut l = Lowerer {
        options,
        layers: Vec::new(),
        layer_of: HashMap::new(),
        combine_input: HashMap::new(),
        collect_input: HashMap::new(),
        tasks: Vec::new(),
        task_of: HashMap::new(),
    };
    let outs = arrays.iter().map(|a| l.layer_for(a)).collect::<Result<Vec<_>, _>>()?;
    let planned: u128 = l.layers.iter().map(|layer| layer.grid.iter().map(|&g| g as u128).product::<u128>()).sum();
    if planned > MAX_TASKS as u128 {
        return Err(GraphError::Shape(format!(
            "the computation would need about {planned} tasks, more than the limit of {MAX_TASKS}; use larger chunks"
        )));
    }
    let mut outputs = Vec::new();
    for (a, &out) in arrays.iter().zip(&outs) {
        for b in BlockIter::new(a.chunks().grid_shape()) {
            outputs.push(l.task(out, b));
        }
    }
    let more = arrays[1..]
        .iter()
        .map(|a| ResultArray { shape: a.shape().to_vec(), dtype: a.dtype(), chunks: a.chunks().clone() })
        .collect();
    let graph = TaskGraph {
        layers: l.layers,
        tasks: l.tasks,
        outputs,
        shape: first.shape().to_vec(),
        dtype: first.dtype(),
        chunks: first.chunks().clone(),
        more,
    };
    // What a worker checks on a graph from the network, every lowered graph passes.
    #[cfg(debug_assertions)]
    if let Err(e) = graph.validate() {
        panic!("lowering made a graph that fails validation: {e}");
    }
    Ok(graph)
}

/// For a reduction layer after the partials: the layer it merges and its group size.
struct CombineInput {
    input: LayerId,
    input_grid: Vec<usize>,
    axes: Vec<usize>,
    group: usize,
    aggregate: bool,
}

struct Lowerer<'o> {
    options: &'o LowerOptions,
    layers: Vec<Layer>,
    layer_of: HashMap<u64, LayerId>,
    combine_input: HashMap<LayerId, CombineInput>,
    /// For a write summary: the write layers it collects.
    collect_input: HashMap<LayerId, Vec<LayerId>>,
    tasks: Vec<Task>,
    task_of: HashMap<(LayerId, Vec<usize>), TaskId>,
}

#[derive(Default)]
struct Builder {
    expr: FusedExpr,
    memo: HashMap<(u64, ViewMap), usize>,
}

impl Builder {
    fn add(&mut self, node: FNode, dtype: DType, memo_key: (u64, ViewMap)) -> usize {
        self.expr.nodes.push((node, dtype));
        let index = self.expr.nodes.len() - 1;
        self.memo.insert(memo_key, index);
        index
    }
}

impl Lowerer<'_> {
    /// The layer that materializes `a`'s blocks.
    fn layer_for(&mut self, a: &Array) -> Result<LayerId, GraphError> {
        deeper(|| self.layer_for_here(a))
    }

    fn layer_for_here(&mut self, a: &Array) -> Result<LayerId, GraphError> {
        if let Some(&l) = self.layer_of.get(&a.id()) {
            return Ok(l);
        }
        let layer = match a.op() {
            Op::Reduce(op, x, axes) => self.reduce_layers(a, *op, x, axes)?,
            Op::MatMul(x, y) => self.matmul_layer(a, x, y)?,
            Op::Scan(op, x, axis) => {
                let expr = self.operand_expr(x)?;
                self.block_layer(a, op.name(), Kernel::Scan(ScanKernel { op: *op, axis: *axis, expr }))
            }
            Op::Write(writes) => self.write_layers(a, writes)?,
            Op::Reshape(x, r) => {
                let kernel =
                    ReshapeKernel { expr: self.operand_expr(x)?, input: x.chunks().clone(), groups: r.groups.clone() };
                self.block_layer(a, "reshape", Kernel::Reshape(kernel))
            }
            Op::Quantile(x, r) => {
                let kernel =
                    QuantileKernel { expr: self.operand_expr(x)?, input: x.chunks().clone(), ranking: r.clone() };
                let name = if r.method == crate::QuantileMethod::Median { "median" } else { "quantile" };
                self.block_layer(a, name, Kernel::Quantile(kernel))
            }
            Op::Histogram(x, edges) => {
                let kernel =
                    HistogramKernel { expr: self.operand_expr(x)?, input: x.chunks().clone(), edges: edges.clone() };
                self.block_layer(a, "histogram", Kernel::Histogram(kernel))
            }
            Op::BlockCounts(m) => {
                let kernel = BlockCountKernel { expr: self.operand_expr(m)?, input: m.chunks().clone() };
                self.block_layer(a, "count-true", Kernel::BlockCount(kernel))
            }
            Op::Compress(values, mask, c) => {
                let (expr, values) = self.joint_expr(values, mask)?;
                let kernel = CompressKernel { expr, values, input: mask.chunks().clone(), sources: c.sources.to_vec() };
                self.block_layer(a, "compress", Kernel::Compress(kernel))
            }
            Op::Gather(parts, g) => {
                let lengths = parts.iter().map(|p| p.shape()[g.axis] as u64).collect();
                let parts = parts.iter().map(|p| self.operand_expr(p)).collect::<Result<Vec<_>, _>>()?;
                let kernel = GatherKernel { axis: g.axis, parts, lengths, runs: g.runs.to_vec() };
                self.block_layer(a, g.name, Kernel::Gather(kernel))
            }
            _ => {
                let expr = self.expr(a)?;
                self.block_layer(a, &expr.name(), Kernel::Blockwise(expr))
            }
        };
        self.layer_of.insert(a.id(), layer);
        Ok(layer)
    }

    /// A layer of `kernel` whose blocks are `a`'s blocks, named after `op`.
    fn block_layer(&mut self, a: &Array, op: &str, kernel: Kernel) -> LayerId {
        self.add_layer(Layer {
            name: format!("{op}-{}", self.layers.len()),
            op_name: op.into(),
            grid: a.chunks().grid_shape(),
            chunks: Some(a.chunks().clone()),
            dtype: a.dtype(),
            kernel,
        })
    }

    /// The expression a layer evaluates for its operand `x`: `x` fused in, or (without
    /// fusion) read from `x`'s own layer.
    fn operand_expr(&mut self, x: &Array) -> Result<FusedExpr, GraphError> {
        if self.options.fuse { self.expr(x) } else { self.input_expr(x) }
    }

    /// One expression for two operands of a layer, `root` its root and `first` at the
    /// returned node: fused, the nodes both read are shared (evaluated once).
    fn joint_expr(&mut self, first: &Array, root: &Array) -> Result<(FusedExpr, usize), GraphError> {
        let mut b = Builder::default();
        let (i, j) = if self.options.fuse {
            let i = self.push(&mut b, first, ViewMap::identity(first.ndim()), true)?;
            (i, self.push(&mut b, root, ViewMap::identity(root.ndim()), true)?)
        } else {
            let mut input = |a: &Array| -> Result<usize, GraphError> {
                let leaf = Leaf::Input { layer: self.layer_for(a)?, view: ViewMap::identity(a.ndim()) };
                b.expr.nodes.push((FNode::Leaf(leaf), a.dtype()));
                Ok(b.expr.nodes.len() - 1)
            };
            (input(first)?, input(root)?)
        };
        // The root is the last node: if `root` was already there (x[x]), a no-op cast.
        if j + 1 != b.expr.nodes.len() {
            b.expr.nodes.push((FNode::Cast(j), root.dtype()));
        }
        Ok((b.expr, i))
    }

    fn add_layer(&mut self, layer: Layer) -> LayerId {
        self.layers.push(layer);
        self.layers.len() - 1
    }

    /// The fused expression that computes `a` in its own coordinates.
    fn expr(&mut self, a: &Array) -> Result<FusedExpr, GraphError> {
        let mut b = Builder::default();
        self.push(&mut b, a, ViewMap::identity(a.ndim()), true)?;
        Ok(b.expr)
    }

    /// An expression that only reads `a` through an input leaf.
    fn input_expr(&mut self, a: &Array) -> Result<FusedExpr, GraphError> {
        let layer = self.layer_for(a)?;
        let leaf = Leaf::Input { layer, view: ViewMap::identity(a.ndim()) };
        Ok(FusedExpr { nodes: vec![(FNode::Leaf(leaf), a.dtype())] })
    }

    /// Adds `a`, seen through `view`, to the expression; returns its node index.
    fn push(&mut self, b: &mut Builder, a: &Array, view: ViewMap, root: bool) -> Result<usize, GraphError> {
        deeper(|| self.push_here(b, a, view, root))
    }

    fn push_here(&mut self, b: &mut Builder, a: &Array, view: ViewMap, root: bool) -> Result<usize, GraphError> {
        let memo_key = (a.id(), view.clone());
        if let Some(&i) = b.memo.get(&memo_key) {
            return Ok(i);
        }
        let fuse = root || self.options.fuse;
        let node = match a.op() {
            Op::Scalar(s) => FNode::Leaf(Leaf::Const(*s)),
            Op::View(x, _) if matches!(x.op(), Op::Scalar(_)) => {
                return self.push(b, x, ViewMap::identity(0), root);
            }
            Op::Gen(g) if root || self.options.inline_generators => {
                FNode::Leaf(Leaf::Gen { generator: g.clone(), view })
            }
            Op::Stored(s) if root || self.options.inline_generators => {
                FNode::Leaf(Leaf::Stored { array: s.clone(), view })
            }
            Op::View(x, map) if self.options.fuse || root => {
                return self.push_through(b, x, map.compose(&view), root, &memo_key);
            }
            Op::Rechunk(x) if self.options.fuse || root => {
                return self.push_through(b, x, view, root, &memo_key);
            }
            Op::Unary(op, x) if fuse => FNode::Unary(*op, self.push(b, x, view, false)?),
            Op::Cast(x) if fuse => FNode::Cast(self.push(b, x, view, false)?),
            Op::Binary(op, x, y) if fuse => {
                let i = self.push(b, x, view.clone(), false)?;
                let j = self.push(b, y, view, false)?;
                FNode::Binary(*op, i, j)
            }
            Op::Where(c, x, y) if fuse => {
                let i = self.push(b, c, view.clone(), false)?;
                let j = self.push(b, x, view.clone(), false)?;
                let k = self.push(b, y, view, false)?;
                FNode::Where(i, j, k)
            }
            _ => FNode::Leaf(Leaf::Input { layer: self.layer_for(a)?, view }),
        };
        Ok(b.add(node, a.dtype(), memo_key))
    }

    /// Adds `x` seen through `view` in place of a view or rechunk of it: fused into the
    /// expression, or (without fusion) read from `x`'s materialized blocks.
    fn push_through(
        &mut self,
        b: &mut Builder,
        x: &Array,
        view: ViewMap,
        root: bool,
        memo_key: &(u64, ViewMap),
    ) -> Result<usize, GraphError> {
        if self.options.fuse {
            return self.push(b, x, view, root);
        }
        let leaf = FNode::Leaf(Leaf::Input { layer: self.layer_for(x)?, view });
        Ok(b.add(leaf, x.dtype(), memo_key.clone()))
    }

    fn reduce_layers(&mut self, a: &Array, op: ReduceOp, x: &Array, axes: &[usize]) -> Result<LayerId, GraphError> {
        let expr = self.operand_expr(x)?;
        let base = format!("{}-{}", expr.name(), op.name());
        let kernel = |stage| {
            Kernel::Reduce(ReduceKernel {
                op,
                axes: axes.to_vec(),
                input_ndim: x.ndim(),
                input_dtype: x.dtype(),
                stage,
            })
        };
        let mut grid = x.chunks().grid_shape();
        let pairing = crate::pairing::find(&expr, x.chunks(), op, axes);
        let partial = self.add_layer(Layer {
            name: format!("{base}-partial-{}", self.layers.len()),
            op_name: format!("{}-partial", op.name()),
            grid: grid.clone(),
            chunks: None,
            dtype: a.dtype(),
            kernel: kernel(ReduceStage::Partial { expr, input: x.chunks().clone(), pairing }),
        });
        let group = if axes.is_empty() {
            2
        } else {
            ((self.options.split_every.max(2) as f64).powf(1.0 / axes.len() as f64).floor() as usize).max(2)
        };
        let mut current = partial;
        loop {
            let next: Vec<usize> = grid
                .iter()
                .enumerate()
                .map(|(ax, &g)| if axes.contains(&ax) { g.div_ceil(group) } else { g })
                .collect();
            let aggregate = axes.iter().all(|&ax| next[ax] <= 1);
            let (name, op_name, layer_grid, chunks, stage) = if aggregate {
                let count = axes.iter().map(|&ax| x.shape()[ax] as u64).product();
                (
                    format!("{base}-aggregate-{}", self.layers.len()),
                    format!("{}-aggregate", op.name()),
                    a.chunks().grid_shape(),
                    Some(a.chunks().clone()),
                    ReduceStage::Aggregate { count },
                )
            } else {
                (
                    format!("{base}-combine-{}", self.layers.len()),
                    format!("{}-combine", op.name()),
                    next.clone(),
                    None,
                    ReduceStage::Combine,
                )
            };
            let layer = self.add_layer(Layer {
                name,
                op_name,
                grid: layer_grid,
                chunks,
                dtype: a.dtype(),
                kernel: kernel(stage),
            });
            self.combine_input.insert(
                layer,
                CombineInput { input: current, input_grid: grid.clone(), axes: axes.to_vec(), group, aggregate },
            );
            if aggregate {
                return Ok(layer);
            }
            current = layer;
            grid = next;
        }
    }

    fn matmul_layer(&mut self, a: &Array, x: &Array, y: &Array) -> Result<LayerId, GraphError> {
        let operand = |this: &mut Self, v: &Array| -> Result<FusedExpr, GraphError> {
            if this.options.fuse && this.options.inline_generators {
                let e = this.expr(v)?;
                if e.inputs().next().is_none() {
                    return Ok(e);
                }
            }
            this.input_expr(v)
        };
        let ea = operand(self, x)?;
        let eb = operand(self, y)?;
        let inner = Chunks::from_lengths(vec![x.chunks().axis(1).to_vec()])
            .refine(&Chunks::from_lengths(vec![y.chunks().axis(0).to_vec()]));
        Ok(self.add_layer(Layer {
            name: format!("matmul-{}", self.layers.len()),
            op_name: "matmul".into(),
            grid: a.chunks().grid_shape(),
            chunks: Some(a.chunks().clone()),
            dtype: a.dtype(),
            kernel: Kernel::MatMul(MatMulKernel { a: ea, b: eb, inner }),
        }))
    }

    /// One write layer per target and the summary layer that collects them.
    ///
    /// Race-free by construction: a write layer's blocks are the write grid of
    /// [`crate::write_grid`], in which every block covers whole stored chunks (the
    /// array's chunks are regrouped when their boundaries do not fall on stored-chunk
    /// boundaries), so each stored chunk has exactly one writer; the targets' metadata
    /// is written before the run by the process that planned it, never by a task.
    fn write_layers(
        &mut self,
        a: &Array,
        writes: &[(Array, tessera_store::WriteTarget)],
    ) -> Result<LayerId, GraphError> {
        let mut layers = Vec::with_capacity(writes.len());
        for (x, target) in writes {
            let expr = self.operand_expr(x)?;
            let region = crate::write_grid(x.chunks(), target);
            layers.push(self.add_layer(Layer {
                name: format!("to_{}-{}", target.format.name(), self.layers.len()),
                op_name: format!("to_{}", target.format.name()),
                grid: region.grid_shape(),
                chunks: None,
                dtype: DType::Int64,
                kernel: Kernel::Write(WriteKernel { expr, target: target.clone(), region }),
            }));
        }
        let counts = layers.iter().map(|&l| self.layers[l].grid.iter().product()).collect();
        let layer = self.add_layer(Layer {
            name: format!("store-summary-{}", self.layers.len()),
            op_name: "store-summary".into(),
            grid: vec![1, 1],
            chunks: Some(a.chunks().clone()),
            dtype: DType::Int64,
            kernel: Kernel::Collect { counts },
        });
        self.collect_input.insert(layer, layers);
        Ok(layer)
    }

    /// The task computing `block` of `layer`, creating it and its dependencies first.
    fn task(&mut self, layer: LayerId, block: Vec<usize>) -> TaskId {
        deeper(|| self.task_here(layer, block))
    }

    fn task_here(&mut self, layer: LayerId, block: Vec<usize>) -> TaskId {
        if let Some(&t) = self.task_of.get(&(layer, block.clone())) {
            return t;
        }
        let (dep_keys, output_bytes, scratch) = self.dependencies(layer, &block);
        let deps: Vec<TaskId> = dep_keys.into_iter().map(|(l, b)| self.task(l, b)).collect();
        let inputs: u64 = deps.iter().map(|&d| self.tasks[d].output_bytes).sum();
        let output_bytes = if let Kernel::Reduce(ReduceKernel {
            stage: ReduceStage::Combine | ReduceStage::Aggregate { .. },
            ..
        }) = &self.layers[layer].kernel
        {
            deps.iter().map(|&d| self.tasks[d].output_bytes).max().unwrap_or(0)
        } else {
            output_bytes
        };
        self.tasks.push(Task {
            layer,
            block: block.clone(),
            deps,
            projected_bytes: inputs + output_bytes + scratch,
            output_bytes,
        });
        let id = self.tasks.len() - 1;
        self.task_of.insert((layer, block), id);
        id
    }

    /// The blocks a task reads, its output bytes and its scratch bytes.
    fn dependencies(&self, layer: LayerId, block: &[usize]) -> (Vec<(LayerId, Vec<usize>)>, u64, u64) {
        let l = &self.layers[layer];
        let itemsize = l.dtype.itemsize() as u64;
        match &l.kernel {
            Kernel::Blockwise(expr) => {
                let chunks = l.chunks.as_ref().expect("blockwise layers have chunks");
                let (deps, elements, scratch) = self.block_reads(expr, chunks, block);
                (deps, elements as u64 * itemsize, scratch)
            }
            Kernel::Scan(s) => {
                let chunks = l.chunks.as_ref().expect("scan layers have chunks");
                let (mut deps, elements, scratch) = self.block_reads(&s.expr, chunks, block);
                // The block before along the axis: its last values start this one.
                if block.get(s.axis).is_some_and(|&b| b > 0) {
                    let mut previous = block.to_vec();
                    previous[s.axis] -= 1;
                    deps.push((layer, previous));
                }
                (deps, elements as u64 * itemsize, scratch)
            }
            Kernel::Reshape(r) => {
                let source = crate::reshape_source_block(&r.groups, block, r.input.ndim());
                let (deps, elements, scratch) = self.block_reads(&r.expr, &r.input, &source);
                (deps, elements as u64 * itemsize, scratch)
            }
            Kernel::Quantile(q) => {
                let chunks = l.chunks.as_ref().expect("quantile layers have chunks");
                let (deps, elements, scratch) = self.block_reads(&q.expr, &q.input, &q.ranking.source_block(block));
                // The evaluated block, and one lane's copy while it is ranked.
                let lane = q.input.shape().get(q.ranking.axis).copied().unwrap_or(0);
                let scratch = scratch + (elements + lane) as u64 * 8;
                (deps, chunks.block_len(block) as u64 * itemsize, scratch)
            }
            Kernel::Histogram(h) => {
                let source = h.source_block(block.first().copied().unwrap_or(0));
                let (deps, _, scratch) = self.block_reads(&h.expr, &h.input, &source);
                (deps, h.edges.bins() as u64 * 8, scratch)
            }
            Kernel::BlockCount(k) => {
                let (deps, _, scratch) = self.block_reads(&k.expr, &k.input, &k.input.block_at(block[0]));
                (deps, 8, scratch)
            }
            Kernel::Compress(k) => {
                let chunks = l.chunks.as_ref().expect("compress layers have chunks");
                let source = k.input.block_at(k.sources.get(block[0]).copied().unwrap_or(0));
                let (deps, _, scratch) = self.block_reads(&k.expr, &k.input, &source);
                let bytes = chunks.block_len(block) as u64 * itemsize;
                // The selected values are collected tile by tile into the block.
                (deps, bytes, scratch + bytes)
            }
            Kernel::Gather(g) => {
                let chunks = l.chunks.as_ref().expect("gather layers have chunks");
                let (off, shape) = (chunks.block_offset(block), chunks.block_shape(block));
                let elements = shape.iter().product::<usize>();
                // The block, and each run's part evaluated before it is copied in.
                let scratch = g.parts.iter().map(|p| scratch_bytes(p, elements)).max().unwrap_or(0)
                    + g.parts.iter().map(|p| stored_bytes(p, &off, &shape)).max().unwrap_or(0);
                let bytes = elements as u64 * itemsize;
                (self.gather_deps(g, &off, &shape), bytes, bytes + scratch)
            }
            Kernel::Write(w) => {
                let (off, shape) = (w.region.block_offset(block), w.region.block_shape(block));
                let elements: usize = shape.iter().product();
                // The evaluated block, and its encoded bytes (about as large) while written.
                let block_bytes = elements as u64 * w.expr.dtype().itemsize().max(w.target.dtype.itemsize()) as u64;
                let scratch = scratch_bytes(&w.expr, elements) + stored_bytes(&w.expr, &off, &shape) + 2 * block_bytes;
                (self.expr_deps(&w.expr, &off, &shape), 16, scratch)
            }
            Kernel::Collect { .. } => {
                let deps = self.collect_input[&layer]
                    .iter()
                    .flat_map(|&l| BlockIter::new(self.layers[l].grid.clone()).map(move |b| (l, b)))
                    .collect();
                let rows: usize = self.collect_input[&layer].len();
                (deps, rows as u64 * 16, 0)
            }
            Kernel::Reduce(k) => match &k.stage {
                ReduceStage::Partial { expr, input, pairing } => {
                    let (off, shape) = (input.block_offset(block), input.block_shape(block));
                    let elements: usize = shape.iter().product();
                    let kept: u64 =
                        shape.iter().enumerate().filter(|(a, _)| !k.axes.contains(a)).map(|(_, &n)| n as u64).product();
                    let output = kept * partial_state_bytes(k.op, k.input_dtype);
                    let mut deps = self.expr_deps(expr, &off, &shape);
                    let mut scratch = scratch_bytes(expr, elements) + stored_bytes(expr, &off, &shape);
                    match pairing.as_ref().and_then(|p| crate::pair_role(p, input, block)) {
                        Some(PairRole::Follower) => return (Vec::new(), output, 0),
                        Some(PairRole::Leader { partner }) => {
                            let (p_off, p_shape) = (input.block_offset(&partner), input.block_shape(&partner));
                            deps.extend(self.expr_deps(expr, &p_off, &p_shape));
                            dedup_keep_order(&mut deps);
                            scratch += stored_bytes(expr, &p_off, &p_shape) + paired_bytes(expr);
                        }
                        Some(PairRole::Alone) | None => {}
                    }
                    (deps, output, scratch)
                }
                ReduceStage::Combine | ReduceStage::Aggregate { .. } => {
                    let c = &self.combine_input[&layer];
                    let ranges: Vec<(usize, usize)> = (0..k.input_ndim)
                        .map(|ax| {
                            if c.axes.contains(&ax) {
                                if c.aggregate {
                                    (0, c.input_grid[ax])
                                } else {
                                    let lo = block[ax] * c.group;
                                    (lo, (lo + c.group).min(c.input_grid[ax]))
                                }
                            } else {
                                let kept_pos =
                                    if c.aggregate { (0..ax).filter(|a| !c.axes.contains(a)).count() } else { ax };
                                (block[kept_pos], block[kept_pos] + 1)
                            }
                        })
                        .collect();
                    let deps: Vec<(LayerId, Vec<usize>)> = product(&ranges).into_iter().map(|b| (c.input, b)).collect();
                    // Merged partials are as large as one input partial (set in `task`).
                    (deps, 0, 0)
                }
            },
            Kernel::MatMul(m) => {
                let chunks = l.chunks.as_ref().expect("matmul layers have chunks");
                let (off, shape) = (chunks.block_offset(block), chunks.block_shape(block));
                let mut deps = Vec::new();
                let mut widest = 0;
                let mut stored = 0;
                for k in 0..m.inner.num_blocks() {
                    let (k_off, k_len) = (m.inner.offsets(0)[k], m.inner.axis(0)[k]);
                    widest = widest.max(k_len);
                    deps.extend(self.expr_deps(&m.a, &[off[0], k_off], &[shape[0], k_len]));
                    deps.extend(self.expr_deps(&m.b, &[k_off, off[1]], &[k_len, shape[1]]));
                    stored = stored.max(
                        stored_bytes(&m.a, &[off[0], k_off], &[shape[0], k_len])
                            + stored_bytes(&m.b, &[k_off, off[1]], &[k_len, shape[1]]),
                    );
                }
                dedup_keep_order(&mut deps);
                let out = (shape[0] * shape[1]) as u64 * itemsize;
                let operands = ((shape[0] + shape[1]) * widest) as u64 * itemsize;
                (deps, out, operands + stored)
            }
        }
    }

    /// What evaluating `expr` over block `block` of `chunks` reads: the input blocks,
    /// the block's elements, and the scratch bytes (tiles and stored regions).
    fn block_reads(
        &self,
        expr: &FusedExpr,
        chunks: &Chunks,
        block: &[usize],
    ) -> (Vec<(LayerId, Vec<usize>)>, usize, u64) {
        let (off, shape) = (chunks.block_offset(block), chunks.block_shape(block));
        let elements: usize = shape.iter().product();
        let scratch = scratch_bytes(expr, elements) + stored_bytes(expr, &off, &shape);
        (self.expr_deps(expr, &off, &shape), elements, scratch)
    }

    /// The input blocks a gather task's parts read for its region `off`, `shape`.
    fn gather_deps(&self, g: &GatherKernel, off: &[usize], shape: &[usize]) -> Vec<(LayerId, Vec<usize>)> {
        let mut deps = Vec::new();
        if shape.contains(&0) {
            return deps;
        }
        for (run, rel, n, _) in g.overlapping(off[g.axis] as u64, shape[g.axis] as u64) {
            let (p_off, p_shape) = gather_source(g, &run, rel, n, off, shape);
            deps.extend(self.expr_deps(&g.parts[run.part], &p_off, &p_shape));
        }
        dedup_keep_order(&mut deps);
        deps
    }

    /// The input blocks `expr` reads when evaluated over the region `off`, `shape`.
    fn expr_deps(&self, expr: &FusedExpr, off: &[usize], shape: &[usize]) -> Vec<(LayerId, Vec<usize>)> {
        let mut deps = Vec::new();
        if shape.contains(&0) {
            return deps;
        }
        for (layer, view) in expr.inputs() {
            let Some(chunks) = self.layers[layer].chunks.as_ref() else { continue };
            let ranges: Vec<(usize, usize)> = view
                .src_box(off, shape)
                .iter()
                .enumerate()
                .map(|(ax, &(start, len))| {
                    let pieces = axis_overlaps(chunks.offsets(ax), start, len);
                    match (pieces.first(), pieces.last()) {
                        (Some(f), Some(l)) => (f.block, l.block + 1),
                        _ => (0, 0),
                    }
                })
                .collect();
            deps.extend(product(&ranges).into_iter().map(|b| (layer, b)));
        }
        dedup_keep_order(&mut deps);
        deps
    }
}

/// The region of a gather run's part that the output positions `[rel, rel + n)` of the
/// run read, with the output region's other axes.
pub(crate) fn gather_source(
    g: &GatherKernel,
    run: &crate::GatherRun,
    rel: u64,
    n: u64,
    off: &[usize],
    shape: &[usize],
) -> (Vec<usize>, Vec<usize>) {
    let (first, count) = run.source_span(rel, n);
    let mut p_off = off.to_vec();
    let mut p_shape = shape.to_vec();
    p_off[g.axis] = first as usize;
    p_shape[g.axis] = count as usize;
    (p_off, p_shape)
}

/// Runs one level of the lowering's recursion (one per operation on the longest chain,
/// at most [`MAX_GRAPH_DEPTH`]) on a stack that grows on the heap when the thread's own
/// runs low, so a deep graph lowers on any thread, a 2 MiB one included.
fn deeper<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(128 << 10, 4 << 20, f)
}

/// Bytes held by one partial element of a reduction.
fn partial_state_bytes(op: ReduceOp, dtype: DType) -> u64 {
    match (op, dtype.is_float()) {
        (ReduceOp::Sum | ReduceOp::Mean, true) => EXACT_SUM_BYTES,
        (ReduceOp::Var { .. } | ReduceOp::NanMean, _) => 2 * EXACT_SUM_BYTES,
        (ReduceOp::NanVar { .. }, _) => 3 * EXACT_SUM_BYTES,
        (ReduceOp::ArgMin | ReduceOp::ArgMax, _) => 16,
        _ => 8,
    }
}

/// The values a paired partial task generates once and holds while it folds one
/// sub-box and its partner: one sub-box per costly leaf, for each of the two regions.
fn paired_bytes(expr: &FusedExpr) -> u64 {
    let random = |n: &FNode| matches!(n, FNode::Leaf(Leaf::Gen { generator, .. }) if matches!(generator.kind, crate::GenKind::Random { .. }));
    let leaves = expr.nodes.iter().filter(|(n, _)| random(n)).count() as u64;
    2 * leaves * crate::PAIRED_SUB_BOX as u64 * 8
}

/// Tile buffers a fused evaluation holds: one per node, capped by the block.
fn scratch_bytes(expr: &FusedExpr, elements: usize) -> u64 {
    (expr.nodes.len() * TILE_ELEMENTS.min(elements.max(1)) * 8) as u64
}

/// Decoded bytes a task holds for its stored leaves over the region `off`, `shape`:
/// each leaf's region, and every stored chunk it overlaps (decoded whole, once).
fn stored_bytes(expr: &FusedExpr, off: &[usize], shape: &[usize]) -> u64 {
    if shape.contains(&0) {
        return 0;
    }
    expr.stored()
        .map(|(array, view)| {
            let itemsize = array.dtype.compute().itemsize() as u64;
            let bounds = view.src_box(off, shape);
            let region: u64 = bounds.iter().map(|&(_, len)| len as u64).product();
            let chunks = match &array.chunk_shape {
                Some(c) => {
                    let count: u64 = bounds
                        .iter()
                        .zip(c)
                        .map(|(&(start, len), &c)| ((start + len.max(1) - 1) / c - start / c + 1) as u64)
                        .product();
                    count * c.iter().map(|&n| n as u64).product::<u64>()
                }
                None => 0,
            };
            (region + chunks) * itemsize
        })
        .sum()
}

/// Every index in the box `ranges` (half-open per axis), row-major.
fn product(ranges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    if ranges.iter().any(|&(lo, hi)| hi <= lo) {
        return Vec::new();
    }
    let grid: Vec<usize> = ranges.iter().map(|&(lo, hi)| hi - lo).collect();
    BlockIter::new(grid).map(|b| b.iter().zip(ranges).map(|(i, r)| i + r.0).collect()).collect()
}

fn dedup_keep_order(deps: &mut Vec<(LayerId, Vec<usize>)>) {
    let mut seen = std::collections::HashSet::new();
    deps.retain(|d| seen.insert(d.clone()));
}
