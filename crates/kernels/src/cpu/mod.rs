//! The CPU backend: tiled evaluation of fused expressions, reductions and matmul, and
//! the reads and writes of stored arrays.

mod arg;
mod compress;
mod eval;
mod formulas;
mod gather;
mod histogram;
pub(crate) mod inputs;
pub(crate) mod leaf;
mod matmul;
mod numeric;
mod ops;
mod paired;
mod quantile;
pub(crate) mod reduce;
mod scan;
mod store;
mod terms;
pub mod tile;

use tessera_graph::{Kernel, ReduceStage, TaskGraph, TaskId};

use crate::{Backend, KernelError, Value};
use eval::Evaluator;
use inputs::Inputs;

/// Computes tasks on the calling thread. Stateless: one instance serves every thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn name(&self) -> &str {
        "cpu"
    }

    fn execute(&self, graph: &TaskGraph, task: TaskId, values: &[&Value]) -> Result<Value, KernelError> {
        let inputs = Inputs::new(graph, task, values)?;
        let t = &graph.tasks[task];
        let layer = &graph.layers[t.layer];
        let region = || {
            layer
                .chunks
                .as_ref()
                .map(|c| (c.block_offset(&t.block), c.block_shape(&t.block)))
                .ok_or_else(|| inputs.error("layer has no chunks"))
        };
        match &layer.kernel {
            Kernel::Blockwise(expr) => {
                let (off, shape) = region()?;
                Ok(Value::Block(Evaluator::new(expr, &off, &shape, &inputs)?.block()?))
            }
            Kernel::Write(w) => Ok(Value::Block(store::write(w, &t.block, &inputs)?)),
            Kernel::Collect { counts } => Ok(Value::Block(store::collect(counts, values, &inputs)?)),
            Kernel::Scan(s) => {
                let (off, shape) = region()?;
                let values = Evaluator::new(&s.expr, &off, &shape, &inputs)?.block()?;
                let carry = match t.block.get(s.axis) {
                    Some(&b) if b > 0 => {
                        let mut previous = t.block.clone();
                        previous[s.axis] -= 1;
                        Some(inputs.block(t.layer, &previous)?)
                    }
                    _ => None,
                };
                let scanned = scan::block(s.op, s.axis, values, carry)
                    .map_err(|_| inputs.error("a scan's carry has another dtype"))?;
                Ok(Value::Block(scanned))
            }
            Kernel::Reshape(r) => {
                let (_, shape) = region()?;
                let source = tessera_graph::reshape_source_block(&r.groups, &t.block, r.input.ndim());
                let values = source_block(&r.expr, &r.input, &source, &inputs)?;
                let reshaped =
                    values.reshaped(&shape).ok_or_else(|| inputs.error("a reshape block of another size"))?;
                Ok(Value::Block(reshaped))
            }
            Kernel::Quantile(q) => {
                let (_, shape) = region()?;
                let values = source_block(&q.expr, &q.input, &q.ranking.source_block(&t.block), &inputs)?;
                let ranked = quantile::block(&q.ranking, values, &shape, layer.dtype).map_err(|e| match e {
                    KernelError::Internal { message, .. } => inputs.error(message),
                    other => other,
                })?;
                Ok(Value::Block(ranked))
            }
            Kernel::Histogram(h) => {
                // Counted tile by tile: the block's values are never held whole.
                let source = h.source_block(t.block.first().copied().unwrap_or(0));
                let eval = source_eval(&h.expr, &h.input, &source, &inputs)?;
                let mut counter = histogram::Counter::new(&h.edges);
                for tile in tile::tiles(eval.shape()) {
                    counter.add_tile(&eval.tile(tile)?, tile.elements());
                }
                let counts = counter.finish();
                let shape = [1, counts.len()];
                let block = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), counts)
                    .map_err(|_| inputs.error("histogram counts of another size"))?;
                Ok(Value::Block(crate::Block::I64(block)))
            }
            Kernel::BlockCount(k) => {
                let block = k.input.block_at(t.block.first().copied().unwrap_or(0));
                let eval = source_eval(&k.expr, &k.input, &block, &inputs)?;
                let count = compress::count_true(&eval)?.ok_or_else(|| inputs.error("a mask that is not bool"))?;
                Ok(Value::Block(crate::Block::I64(ndarray::arr1(&[count]).into_dyn())))
            }
            Kernel::Compress(k) => {
                let (_, shape) = region()?;
                let source = k.sources.get(t.block[0]).copied().ok_or_else(|| inputs.error("no source block"))?;
                let eval = source_eval(&k.expr, &k.input, &k.input.block_at(source), &inputs)?;
                let selected = compress::select(&eval, k.values, layer.dtype, shape[0]).map_err(|e| match e {
                    compress::SelectError::Malformed(m) => inputs.error(m),
                    compress::SelectError::Changed(m) => inputs.value_error(&m),
                    compress::SelectError::Kernel(e) => e,
                })?;
                Ok(Value::Block(selected))
            }
            Kernel::Gather(g) => {
                let (off, shape) = region()?;
                Ok(Value::Block(gather::block(g, layer.dtype, &off, &shape, &inputs)?))
            }
            Kernel::MatMul(m) => {
                let (off, shape) = region()?;
                Ok(Value::Block(matmul::block(m, &off, &shape, &inputs)?))
            }
            Kernel::Reduce(k) => match &k.stage {
                ReduceStage::Partial { expr, input, pairing: Some(map) } => {
                    Ok(Value::Partial(paired::partial(k, expr, input, &t.block, map, &inputs)?))
                }
                ReduceStage::Partial { expr, input, pairing: None } => {
                    let (off, shape) = (input.block_offset(&t.block), input.block_shape(&t.block));
                    let eval = Evaluator::new(expr, &off, &shape, &inputs)?;
                    Ok(Value::Partial(reduce::partial(k, &eval)?))
                }
                ReduceStage::Combine => {
                    let merged = reduce::merge(k.op, &inputs.partials()?)
                        .ok_or_else(|| inputs.error("partials do not match"))?;
                    Ok(Value::Partial(merged))
                }
                ReduceStage::Aggregate { count } => {
                    let merged = reduce::merge(k.op, &inputs.partials()?)
                        .ok_or_else(|| inputs.error("partials do not match"))?;
                    Ok(Value::Block(reduce::finish(k.op, merged, *count, layer.dtype)))
                }
            },
        }
    }
}

/// `expr` bound to block `block` of `chunks` (the input block a reshape, an order
/// statistic, a histogram or a mask task reads), to evaluate tile by tile.
fn source_eval<'a>(
    expr: &'a tessera_graph::FusedExpr,
    chunks: &tessera_graph::Chunks,
    block: &[usize],
    inputs: &'a Inputs,
) -> Result<Evaluator<'a>, KernelError> {
    Evaluator::new(expr, &chunks.block_offset(block), &chunks.block_shape(block), inputs)
}

/// `expr` evaluated over block `block` of `chunks`, as a dense block.
fn source_block(
    expr: &tessera_graph::FusedExpr,
    chunks: &tessera_graph::Chunks,
    block: &[usize],
    inputs: &Inputs,
) -> Result<crate::Block, KernelError> {
    source_eval(expr, chunks, block, inputs)?.block()
}
