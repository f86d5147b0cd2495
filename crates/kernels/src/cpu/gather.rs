//! Gather blocks: an output block assembled along an axis from runs of positions of
//! its parts, each evaluated over just the positions it reads (`concatenate`,
//! `stack`, `pad`, `roll`, `take`).

use ndarray::{ArrayD, Axis, Slice};
use tessera_chunks::DType;
use tessera_graph::GatherKernel;

use super::eval::Evaluator;
use super::inputs::{Inputs, empty_block};
use crate::{Block, KernelError};

/// The block at `off` with `shape` of the gather `g`'s output.
pub(crate) fn block(
    g: &GatherKernel,
    dtype: DType,
    off: &[usize],
    shape: &[usize],
    inputs: &Inputs,
) -> Result<Block, KernelError> {
    if shape.contains(&0) {
        return Ok(empty_block(dtype, shape));
    }
    let axis = g.axis;
    let runs = g.overlapping(off[axis] as u64, shape[axis] as u64);
    // One forward run over the whole block (a concatenation's blocks, most of a roll's):
    // the part's values are the block, with no copy.
    if let [(run, rel, n, 0)] = runs.as_slice()
        && run.step == 1
        && *n as usize == shape[axis]
    {
        let part = g.parts.get(run.part).ok_or_else(|| inputs.error("a gather run names a missing part"))?;
        let mut p_off = off.to_vec();
        p_off[axis] = (run.start + rel) as usize;
        return Evaluator::new(part, &p_off, shape, inputs)?.block();
    }
    let mut out = empty_block(dtype, shape);
    for (run, rel, n, at) in runs {
        let part = g.parts.get(run.part).ok_or_else(|| inputs.error("a gather run names a missing part"))?;
        let (first, count) = run.source_span(rel, n);
        let mut p_off = off.to_vec();
        let mut p_shape = shape.to_vec();
        p_off[axis] = first as usize;
        p_shape[axis] = count as usize;
        let values = Evaluator::new(part, &p_off, &p_shape, inputs)?.block()?;
        let whole: Vec<(usize, usize)> = p_shape.iter().map(|&len| (0, len)).collect();
        copy_run(&values, &mut out, axis, &whole, (at as usize, n as usize), run.step)
            .ok_or_else(|| inputs.error("a gather part has another dtype"))?;
    }
    Ok(out)
}

/// Copies `local` of `src` into positions `target` (start, len) along `axis` of `dst`,
/// reversed when `step` is -1 and repeated when it is 0.
fn copy_run(
    src: &Block,
    dst: &mut Block,
    axis: usize,
    local: &[(usize, usize)],
    target: (usize, usize),
    step: i64,
) -> Option<()> {
    fn copy<T: Clone>(
        src: &ArrayD<T>,
        dst: &mut ArrayD<T>,
        axis: usize,
        local: &[(usize, usize)],
        target: (usize, usize),
        step: i64,
    ) {
        let s = src.slice_each_axis(|d| {
            let (start, len) = local[d.axis.index()];
            let slice = Slice::from(start..start + len);
            if d.axis.index() == axis && step < 0 { slice.step_by(-1) } else { slice }
        });
        let mut d = dst.slice_axis_mut(Axis(axis), Slice::from(target.0..target.0 + target.1));
        d.assign(&s);
    }
    match (src, dst) {
        (Block::F64(s), Block::F64(d)) => copy(s, d, axis, local, target, step),
        (Block::F32(s), Block::F32(d)) => copy(s, d, axis, local, target, step),
        (Block::I64(s), Block::I64(d)) => copy(s, d, axis, local, target, step),
        (Block::Bool(s), Block::Bool(d)) => copy(s, d, axis, local, target, step),
        _ => return None,
    }
    Some(())
}
