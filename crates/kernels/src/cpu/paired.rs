//! Paired partial reductions: the leader of a pair evaluates its block and its
//! partner's, sub-box by sub-box, generating the random values both read once (the
//! pairing is chosen by the lowering; see [`tessera_graph::pair_role`]).

use tessera_chunks::{BlockIter, Chunks};
use tessera_graph::{FusedExpr, PAIRED_SUB_BOX, PairRole, ReduceKernel, ViewMap, pair_role};

use super::eval::{Evaluator, Reads};
use super::inputs::Inputs;
use super::leaf::Generated;
use super::reduce::{self, Accumulator};
use crate::{KernelError, Partial};

/// The partial of `block` of a layer paired by `map`: its own (alone), the merge of its
/// own and its partner's (leader), or the reduction's identity (follower, whose values
/// the leader folded).
pub(crate) fn partial(
    k: &ReduceKernel,
    expr: &FusedExpr,
    input: &Chunks,
    block: &[usize],
    map: &ViewMap,
    inputs: &Inputs<'_>,
) -> Result<Partial, KernelError> {
    let role = pair_role(map, input, block).ok_or_else(|| inputs.error("its pairing does not pair whole blocks"))?;
    let (off, shape) = (input.block_offset(block), input.block_shape(block));
    let partner = match role {
        PairRole::Alone => return reduce::partial(k, &Evaluator::new(expr, &off, &shape, inputs)?),
        PairRole::Follower => return Ok(Accumulator::new(k, &shape).finish()),
        PairRole::Leader { partner } => partner,
    };
    let partner_off = input.block_offset(&partner);
    let mut acc = Accumulator::new(k, &shape);
    let mut reads = Reads { generated: Some(Generated::default()), ..Reads::default() };
    for (rel, sub) in sub_boxes(&shape) {
        // Fresh boxes per sub-box: what `s` generated is what `V(s)` reads.
        if let Some(generated) = reads.generated.as_mut() {
            generated.clear();
        }
        let at: Vec<usize> = off.iter().zip(&rel).map(|(o, r)| o + r).collect();
        acc.fold_region(&Evaluator::with_reads(expr, &at, &sub, inputs, &mut reads)?, &rel)?;
        let (mirror_at, mirror_shape): (Vec<usize>, Vec<usize>) = map.src_box(&at, &sub).into_iter().unzip();
        // Offsets along kept axes are the same in both blocks; along reduced axes any
        // offset folds into the same states.
        let mirror_rel: Vec<usize> = mirror_at.iter().zip(&partner_off).map(|(m, p)| m.saturating_sub(*p)).collect();
        acc.fold_region(&Evaluator::with_reads(expr, &mirror_at, &mirror_shape, inputs, &mut reads)?, &mirror_rel)?;
    }
    Ok(acc.finish())
}

/// The sub-boxes of a block of `shape` as (offset in the block, shape): near-cubes of
/// at most [`PAIRED_SUB_BOX`] elements, so a transpose pairs squares with squares.
fn sub_boxes(shape: &[usize]) -> impl Iterator<Item = (Vec<usize>, Vec<usize>)> + use<> {
    let elements = |side: usize| shape.iter().map(|&n| n.min(side)).product::<usize>();
    let (mut lo, mut hi) = (1usize, shape.iter().copied().max().unwrap_or(1).max(1));
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if elements(mid) <= PAIRED_SUB_BOX { lo = mid } else { hi = mid - 1 }
    }
    let side: Vec<usize> = shape.iter().map(|&n| n.min(lo).max(1)).collect();
    let grid: Vec<usize> = shape.iter().zip(&side).map(|(&n, &s)| n.div_ceil(s)).collect();
    let shape = shape.to_vec();
    let empty = shape.contains(&0);
    BlockIter::new(if empty { vec![0] } else { grid }).map(move |b| {
        let rel: Vec<usize> = b.iter().zip(&side).map(|(i, s)| i * s).collect();
        let sub = rel.iter().zip(&side).zip(&shape).map(|((r, s), n)| (*s).min(n - r)).collect();
        (rel, sub)
    })
}

#[cfg(test)]
mod tests {
    use super::sub_boxes;

    #[test]
    fn sub_boxes_tile_the_block_in_near_cubes() {
        for shape in [vec![2000usize, 2000], vec![7, 100_000], vec![160, 160, 160], vec![3], vec![]] {
            let boxes: Vec<_> = sub_boxes(&shape).collect();
            let covered: usize = boxes.iter().map(|(_, s)| s.iter().product::<usize>()).sum();
            assert_eq!(covered, shape.iter().product::<usize>(), "{shape:?}");
            assert!(boxes.iter().all(|(_, s)| s.iter().product::<usize>() <= tessera_graph::PAIRED_SUB_BOX));
        }
        assert_eq!(sub_boxes(&[2000, 2000]).next().map(|b| b.1), Some(vec![256, 256]));
    }
}
