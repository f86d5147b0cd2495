//! Write tasks (evaluate a block, write its whole stored chunks) and the summary of a
//! run's writes.

use tessera_graph::WriteKernel;

use super::eval::Evaluator;
use super::inputs::Inputs;
use super::leaf::buffer_of;
use crate::value::standard;
use crate::{Block, KernelError, Value};

/// Evaluates the array over `block` of the write grid and writes it to the target;
/// the value is `[stored chunks, bytes written]`.
pub(crate) fn write(w: &WriteKernel, block: &[usize], inputs: &Inputs<'_>) -> Result<Block, KernelError> {
    let storage = |e: tessera_store::StoreError| KernelError::Storage { task: inputs.key(), message: e.to_string() };
    let (off, shape) = (w.region.block_offset(block), w.region.block_shape(block));
    let data = Evaluator::new(&w.expr, &off, &shape, inputs)?.block()?;
    let writer = tessera_store::writer(&w.target).map_err(storage)?;
    let stats = writer.write(&off, &shape, &buffer_of(data)).map_err(storage)?;
    Ok(Block::I64(standard(&[2], vec![stats.chunks as i64, stats.bytes as i64])))
}

/// Sums the write tasks' `[chunks, bytes]` per target into a `(targets, 2)` block.
pub(crate) fn collect(counts: &[usize], values: &[&Value], inputs: &Inputs<'_>) -> Result<Block, KernelError> {
    if counts.iter().sum::<usize>() != values.len() {
        return Err(inputs.error("the write summary's inputs do not match its counts"));
    }
    let mut out = Vec::with_capacity(counts.len() * 2);
    let mut rest = values;
    for &n in counts {
        let (mine, others) = rest.split_at(n);
        rest = others;
        let (mut chunks, mut bytes) = (0i64, 0i64);
        for v in mine {
            let Value::Block(Block::I64(pair)) = v else {
                return Err(inputs.error("a write task's value is not a pair"));
            };
            let pair = pair.as_slice().unwrap_or_default();
            chunks += pair.first().copied().unwrap_or(0);
            bytes += pair.get(1).copied().unwrap_or(0);
        }
        out.extend([chunks, bytes]);
    }
    Ok(Block::I64(standard(&[counts.len(), 2], out)))
}
