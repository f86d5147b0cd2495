//! Compute once: pairing the partial tasks of a reduction that read one costly leaf
//! through two views related by an involution.
//!
//! In `(x * x[::-1, ::-1]).sum()` the partial task of block `b` reads `x` over `b` and
//! over its mirror `V(b)`; the task of `V(b)` reads the same two regions. Evaluated
//! apart, every random value is generated twice. A *pairing* is an involution `V` of
//! the reduced expression's coordinates (a permutation of axes with reversals, `V∘V =
//! I`) such that one costly leaf read through a view `W` is also read through `W∘V`.
//! Then the task of the lower of `b` and `V(b)` (the *leader*) evaluates both regions,
//! sub-box by sub-box (`s` of `b`, then `V(s)` of `V(b)`, sharing the leaf values it
//! generated for `s`), folds both into its partial, and the other task (the
//! *follower*) gives the reduction's identity. Each value is generated once and only a
//! sub-box of it is held, so memory stays flat whatever the chunk size.
//!
//! This is exact only where it changes nothing a user can see: `V` must leave the kept
//! axes alone (so `b` and `V(b)` feed one output block) and the reduction's merge must
//! not depend on order (exact float sums and means, integer sums, `min`, `max`, bool
//! `any`/`all`; not float products). `V` must also send every block onto a whole block.

use tessera_chunks::Chunks;

use crate::{FNode, FusedExpr, GenKind, Generator, Leaf, ReduceOp, StoredArray, ViewMap};

/// What the partial task of one block does in a paired layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairRole {
    /// The block is its own partner: it is evaluated as in any partial task.
    Alone,
    /// The block evaluates itself and its partner block, and folds both.
    Leader {
        /// The partner block's grid index.
        partner: Vec<usize>,
    },
    /// The partner block (which comes first) evaluates this one; the task gives the
    /// reduction's identity.
    Follower,
}

/// The role of `block` of a partial layer over `chunks` paired by `map`, or `None`
/// when the map does not send the block onto a whole block.
pub fn pair_role(map: &ViewMap, chunks: &Chunks, block: &[usize]) -> Option<PairRole> {
    let partner = partner_block(map, chunks, block)?;
    Some(match partner.as_slice().cmp(block) {
        std::cmp::Ordering::Equal => PairRole::Alone,
        std::cmp::Ordering::Greater => PairRole::Leader { partner },
        std::cmp::Ordering::Less => PairRole::Follower,
    })
}

/// The block that `map` sends `block` onto, if it is a whole block.
fn partner_block(map: &ViewMap, chunks: &Chunks, block: &[usize]) -> Option<Vec<usize>> {
    if map.out_ndim != chunks.ndim() || map.axes.len() != chunks.ndim() || block.len() != chunks.ndim() {
        return None;
    }
    let (off, shape) = (chunks.block_offset(block), chunks.block_shape(block));
    map.src_box(&off, &shape)
        .iter()
        .enumerate()
        .map(|(axis, &(start, len))| {
            let i = chunks.offsets(axis).binary_search(&start).ok()?;
            (chunks.axis(axis).get(i) == Some(&len)).then_some(i)
        })
        .collect()
}

/// A leaf whose values are worth computing once: what it reads, and its cost per
/// element relative to a Philox value.
#[derive(Clone, Copy, PartialEq)]
enum Costly<'a> {
    Random(&'a Generator),
    Stored(&'a StoredArray),
}

/// The cost model's per-element cost of reading a leaf, in Philox values: `random` is
/// one, a stored array about one (a decode and a copy; a raw `.npy` read is cheaper,
/// but it is still a read of memory that pairing halves); constants and `arange`
/// compute nothing worth saving.
fn costly(leaf: &Leaf) -> Option<(Costly<'_>, &ViewMap, u64)> {
    match leaf {
        Leaf::Gen { generator, view }
            if matches!(generator.kind, GenKind::Random { .. } | GenKind::Normal { .. } | GenKind::Integers { .. }) =>
        {
            Some((Costly::Random(generator), view, 1))
        }
        Leaf::Stored { array, view } => Some((Costly::Stored(array), view, 1)),
        _ => None,
    }
}

/// The pairing map of a partial layer reducing `expr` over `input` along `axes`, when
/// the cost model finds one that saves work (see the module doc); the one saving most.
pub(crate) fn find(expr: &FusedExpr, input: &Chunks, op: ReduceOp, axes: &[usize]) -> Option<ViewMap> {
    if !op.merges_in_any_order() {
        return None;
    }
    let shape = input.shape();
    let leaves: Vec<_> = expr
        .nodes
        .iter()
        .filter_map(|(n, _)| match n {
            FNode::Leaf(leaf) => costly(leaf),
            _ => None,
        })
        .collect();
    let mut best: Option<(u64, ViewMap)> = None;
    for (source, w1, _) in &leaves {
        let Some(inverse) = w1.inverse(&shape) else { continue };
        for (other, w2, _) in &leaves {
            if other != source || w2 == w1 {
                continue;
            }
            let v = inverse.compose(w2);
            if !pairs_blocks(&v, input, axes) {
                continue;
            }
            // Every leaf that V sends onto a leaf of the same source reads, over V(b),
            // what that one reads over b: generated once instead of twice.
            let saved: u64 = leaves
                .iter()
                .filter(|(s, w, _)| {
                    let seen = w.compose(&v);
                    leaves.iter().any(|(t, u, _)| t == s && **u == seen)
                })
                .map(|(.., cost)| cost)
                .sum();
            if best.as_ref().is_none_or(|(most, _)| saved > *most) {
                best = Some((saved, v));
            }
        }
    }
    best.map(|(_, v)| v)
}

/// Whether `v` can pair the blocks of `input` for a reduction along `axes`: an
/// involution that keeps the kept axes in place, sends every block onto a whole block,
/// and moves at least one block.
fn pairs_blocks(v: &ViewMap, input: &Chunks, axes: &[usize]) -> bool {
    let identity = |a: usize| crate::SrcAxis { out_axis: Some(a), offset: 0, step: 1 };
    v.is_permutation()
        && v.axes.len() == input.ndim()
        && v.compose(v).is_identity()
        && (0..input.ndim()).filter(|a| !axes.contains(a)).all(|a| v.axes[a] == identity(a))
        && (0..input.ndim()).all(|a| axis_aligned(v, input, a))
        && input.blocks().any(|b| partner_block(v, input, &b).is_some_and(|p| p != b))
}

/// Whether `v` sends each block interval of the axis driving source axis `a` onto a
/// block interval of axis `a`.
fn axis_aligned(v: &ViewMap, input: &Chunks, a: usize) -> bool {
    let s = v.axes[a];
    let Some(o) = s.out_axis else { return false };
    let (targets, lengths) = (input.offsets(a), input.axis(a));
    input.offsets(o).iter().zip(input.axis(o)).all(|(&start, &len)| {
        let mapped = if s.step == 1 { s.offset + start as i64 } else { s.offset - (start + len) as i64 + 1 };
        usize::try_from(mapped)
            .ok()
            .and_then(|m| targets.binary_search(&m).ok())
            .is_some_and(|i| lengths.get(i) == Some(&len))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Array, ChunkSpec, Index, Kernel, LowerOptions, ReduceStage, lower};

    fn random(shape: &[usize], chunks: &str) -> Array {
        Array::random(shape, 42, &ChunkSpec::parse(chunks).expect("valid")).expect("valid")
    }

    fn pairing_of(a: &Array) -> Option<ViewMap> {
        let g = lower(a, &LowerOptions::default()).expect("lowers");
        g.layers.iter().find_map(|l| match &l.kernel {
            Kernel::Reduce(k) => match &k.stage {
                ReduceStage::Partial { pairing, .. } => pairing.clone(),
                _ => None,
            },
            _ => None,
        })
    }

    #[test]
    fn the_mirrored_product_and_the_transposed_sum_are_paired() {
        let x = random(&[100, 100], "20");
        let rev = x.slice(&[Index::REVERSED, Index::REVERSED]).expect("ok");
        let v = pairing_of(&(&x * &rev).expect("ok").sum(None).expect("ok")).expect("paired");
        assert!(v.compose(&v).is_identity() && !v.is_identity());
        assert!(pairing_of(&(&x + &x.t()).expect("ok").sum(None).expect("ok")).is_some());
        // mean reads the same way
        assert!(pairing_of(&(&x * &rev).expect("ok").mean(None).expect("ok")).is_some());
    }

    #[test]
    fn pairing_needs_reduced_moved_axes_aligned_blocks_and_an_order_free_merge() {
        let x = random(&[100, 100], "20");
        let rev = x.slice(&[Index::REVERSED, Index::REVERSED]).expect("ok");
        let product = (&x * &rev).expect("ok");
        // axis 1 is kept, and the mirror moves it
        assert!(pairing_of(&product.sum(Some(&[0])).expect("ok")).is_none());
        // float products depend on their order
        assert!(pairing_of(&product.reduce(ReduceOp::Prod, None).expect("ok")).is_none());
        // chunks of 30 over 100 are not mirror images of each other, but the product's
        // grid unites both boundaries (10, 20, 10, 20, ...), which is
        let y = random(&[100, 100], "30");
        let ry = y.slice(&[Index::REVERSED, Index::REVERSED]).expect("ok");
        assert!(pairing_of(&(&y * &ry).expect("ok").sum(None).expect("ok")).is_some());
        let rev = ViewMap::identity(2).compose(&ViewMap {
            out_ndim: 2,
            axes: vec![
                crate::SrcAxis { out_axis: Some(0), offset: 99, step: -1 },
                crate::SrcAxis { out_axis: Some(1), offset: 99, step: -1 },
            ],
        });
        assert!(!pairs_blocks(&rev, &Chunks::regular(&[100, 100], &[30, 30]), &[0, 1]));
        assert!(pairs_blocks(&rev, &Chunks::regular(&[100, 100], &[20, 20]), &[0, 1]));
        // mirroring only axis 0 keeps axis 1 in place: a sum along axis 0 pairs
        let r0 = x.slice(&[Index::REVERSED]).expect("ok");
        assert!(pairing_of(&(&x * &r0).expect("ok").sum(Some(&[0])).expect("ok")).is_some());
        // a cheap leaf is not worth it
        let ones = Array::ones(&[100, 100], &ChunkSpec::parse("20").expect("valid")).expect("valid");
        let rones = ones.slice(&[Index::REVERSED, Index::REVERSED]).expect("ok");
        assert!(pairing_of(&(&ones * &rones).expect("ok").sum(None).expect("ok")).is_none());
    }

    #[test]
    fn roles_pair_each_block_with_its_mirror() {
        let chunks = Chunks::regular(&[100, 100], &[20, 20]);
        let rev = ViewMap {
            out_ndim: 2,
            axes: vec![
                crate::SrcAxis { out_axis: Some(0), offset: 99, step: -1 },
                crate::SrcAxis { out_axis: Some(1), offset: 99, step: -1 },
            ],
        };
        assert_eq!(pair_role(&rev, &chunks, &[0, 1]), Some(PairRole::Leader { partner: vec![4, 3] }));
        assert_eq!(pair_role(&rev, &chunks, &[4, 3]), Some(PairRole::Follower));
        assert_eq!(pair_role(&rev, &chunks, &[2, 2]), Some(PairRole::Alone));
        let uneven = Chunks::regular(&[100, 100], &[30, 30]);
        assert_eq!(pair_role(&rev, &uneven, &[0, 0]), None);
    }
}
