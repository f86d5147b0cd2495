//! A task's inputs, found by (layer, block), and regions gathered from them.

use std::borrow::Cow;

use ndarray::{ArrayD, IxDyn, Slice};
use tessera_chunks::{BlockIter, Chunks, axis_overlaps};
use tessera_graph::{LayerId, TaskGraph, TaskId};

use crate::{Block, KernelError, Partial, Value};

/// The values of a task's dependencies, with the blocks they are.
pub struct Inputs<'a> {
    graph: &'a TaskGraph,
    task: TaskId,
    entries: Vec<(LayerId, &'a [usize], &'a Value)>,
}

impl<'a> Inputs<'a> {
    /// Pairs the task's dependencies with their values.
    pub fn new(graph: &'a TaskGraph, task: TaskId, values: &[&'a Value]) -> Result<Inputs<'a>, KernelError> {
        let deps = &graph.tasks[task].deps;
        if deps.len() != values.len() {
            return Err(KernelError::Internal {
                task: graph.key(task),
                message: format!("{} inputs for {} dependencies", values.len(), deps.len()),
            });
        }
        let entries = deps
            .iter()
            .zip(values)
            .map(|(&d, &v)| (graph.tasks[d].layer, graph.tasks[d].block.as_slice(), v))
            .collect();
        Ok(Inputs { graph, task, entries })
    }

    /// The task's key, for errors.
    pub fn key(&self) -> String {
        self.graph.key(self.task)
    }

    /// An internal error naming this task.
    pub fn error(&self, message: impl Into<String>) -> KernelError {
        KernelError::Internal { task: self.graph.key(self.task), message: message.into() }
    }

    /// A [`KernelError::Value`] of this task.
    pub fn value_error(&self, message: &str) -> KernelError {
        KernelError::Value { task: self.graph.key(self.task), message: message.into() }
    }

    /// The block `block` of `layer`.
    pub fn block(&self, layer: LayerId, block: &[usize]) -> Result<&'a Block, KernelError> {
        self.entries
            .iter()
            .find(|(l, b, _)| *l == layer && *b == block)
            .and_then(|(_, _, v)| match v {
                Value::Block(b) => Some(b),
                Value::Partial(_) => None,
            })
            .ok_or_else(|| self.error(format!("missing input block {block:?} of layer {layer}")))
    }

    /// Every input, which must all be partials, in dependency order.
    pub fn partials(&self) -> Result<Vec<&'a Partial>, KernelError> {
        self.entries
            .iter()
            .map(|(_, _, v)| match v {
                Value::Partial(p) => Ok(p),
                Value::Block(_) => Err(self.error("expected partial reductions as inputs")),
            })
            .collect()
    }

    /// The region `[start, start + len)` per axis of `layer`'s array, borrowed when one
    /// block holds it, else gathered from the blocks that do. Returns the data and the
    /// global coordinates of its first element.
    pub fn region(
        &self,
        layer: LayerId,
        bounds: &[(usize, usize)],
    ) -> Result<(Cow<'a, Block>, Vec<usize>), KernelError> {
        let chunks: &Chunks =
            self.graph.layers[layer].chunks.as_ref().ok_or_else(|| self.error("input layer has no chunks"))?;
        let pieces: Vec<_> = bounds
            .iter()
            .enumerate()
            .map(|(ax, &(start, len))| axis_overlaps(chunks.offsets(ax), start, len))
            .collect();
        let grid: Vec<usize> = pieces.iter().map(Vec::len).collect();
        if grid.iter().all(|&g| g == 1) {
            let block: Vec<usize> = pieces.iter().map(|p| p[0].block).collect();
            return Ok((Cow::Borrowed(self.block(layer, &block)?), chunks.block_offset(&block)));
        }
        let origin: Vec<usize> = bounds.iter().map(|b| b.0).collect();
        let shape: Vec<usize> = bounds.iter().map(|b| b.1).collect();
        let dtype = self.graph.layers[layer].dtype;
        let mut out = empty_block(dtype, &shape);
        for combo in BlockIter::new(grid) {
            let parts: Vec<_> = combo.iter().enumerate().map(|(ax, &i)| pieces[ax][i]).collect();
            let block: Vec<usize> = parts.iter().map(|p| p.block).collect();
            let src = self.block(layer, &block)?;
            copy_region(src, &mut out, &parts).ok_or_else(|| self.error("input block of the wrong dtype"))?;
        }
        Ok((Cow::Owned(out), origin))
    }
}

pub(crate) fn empty_block(dtype: tessera_chunks::DType, shape: &[usize]) -> Block {
    use tessera_chunks::DType;
    match dtype {
        DType::Float64 => Block::F64(ArrayD::zeros(IxDyn(shape))),
        DType::Float32 => Block::F32(ArrayD::zeros(IxDyn(shape))),
        DType::Int64 => Block::I64(ArrayD::zeros(IxDyn(shape))),
        DType::Bool => Block::Bool(ArrayD::from_elem(IxDyn(shape), false)),
    }
}

fn copy_region(src: &Block, dst: &mut Block, parts: &[tessera_chunks::AxisPiece]) -> Option<()> {
    fn copy<T: Clone>(src: &ArrayD<T>, dst: &mut ArrayD<T>, parts: &[tessera_chunks::AxisPiece]) {
        let s = src.slice_each_axis(|d| {
            let p = parts[d.axis.index()];
            Slice::from(p.start_in_block..p.start_in_block + p.len)
        });
        dst.slice_each_axis_mut(|d| {
            let p = parts[d.axis.index()];
            Slice::from(p.start_in_range..p.start_in_range + p.len)
        })
        .assign(&s);
    }
    match (src, dst) {
        (Block::F64(s), Block::F64(d)) => copy(s, d, parts),
        (Block::F32(s), Block::F32(d)) => copy(s, d, parts),
        (Block::I64(s), Block::I64(d)) => copy(s, d, parts),
        (Block::Bool(s), Block::Bool(d)) => copy(s, d, parts),
        _ => return None,
    }
    Some(())
}
