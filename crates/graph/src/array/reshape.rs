//! `reshape` and `ravel`, block by block.
//!
//! The axes of the two shapes fall into groups whose lengths multiply to the same
//! number (`(4, 6) -> (24,)`: one group; `(2, 3, 4) -> (6, 4)`: `[0, 1] -> [0]` and
//! `[2] -> [1]`). Within a group, the array is reshaped one block at a time when every
//! block is a contiguous run of the group's row-major order: all axes of the group but
//! the first whole, on both sides. So each output block is exactly one input block with
//! another shape (Dask's rule), and the input is rechunked first when its chunks do not
//! allow that.
//!
//! Dask keeps the chunks along each group's first axis and makes the rest whole, which
//! can multiply a block's size by the length of the merged axes (dask#5544, #8110: a
//! 2000² chunk of a 20000² array raveled becomes 2000 × 20000). Here, when that would
//! take a block past the chunk byte target, the first axis's chunks shrink to keep the
//! block under it, and the array records a warning saying so (`--json` `warnings`).

use tessera_chunks::Chunks;

use super::{Array, Op};
use crate::GraphError;

/// One group of axes: input axes and output axes whose lengths have the same product.
pub type AxisGroup = (Vec<usize>, Vec<usize>);

/// What a reshape node carries besides its (rechunked) input.
#[derive(Debug, Clone)]
pub struct Reshaping {
    /// The groups, in order; they partition both shapes' axes.
    pub groups: Vec<AxisGroup>,
    /// Why the input was rechunked past what Dask would do, if it was.
    pub warning: Option<String>,
}

/// Groups the axes of `inp` and `out` (same product, not zero) from the left.
fn axis_groups(inp: &[usize], out: &[usize]) -> Vec<AxisGroup> {
    let (mut i, mut j) = (0, 0);
    let mut groups = Vec::new();
    while i < inp.len() || j < out.len() {
        // A length-1 axis facing a longer one is a group of its own.
        if i < inp.len() && j < out.len() && (inp[i] == 1) != (out[j] == 1) {
            if inp[i] == 1 {
                groups.push((vec![i], Vec::new()));
                i += 1;
            } else {
                groups.push((Vec::new(), vec![j]));
                j += 1;
            }
            continue;
        }
        let (mut gi, mut gj) = (Vec::new(), Vec::new());
        let (mut pi, mut pj) = (1u128, 1u128);
        if i < inp.len() {
            gi.push(i);
            pi *= inp[i] as u128;
            i += 1;
        }
        if j < out.len() {
            gj.push(j);
            pj *= out[j] as u128;
            j += 1;
        }
        while pi != pj {
            if pi < pj && i < inp.len() {
                gi.push(i);
                pi *= inp[i] as u128;
                i += 1;
            } else if j < out.len() {
                gj.push(j);
                pj *= out[j] as u128;
                j += 1;
            } else {
                break;
            }
        }
        // Trailing length-1 axes join the group before them.
        while i < inp.len() && inp[i] == 1 && j == out.len() {
            gi.push(i);
            i += 1;
        }
        while j < out.len() && out[j] == 1 && i == inp.len() {
            gj.push(j);
            j += 1;
        }
        groups.push((gi, gj));
    }
    groups
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn product(shape: &[usize], axes: &[usize]) -> u128 {
    axes.iter().map(|&a| shape[a] as u128).product()
}

/// Regular chunk lengths of `size` along an axis of `len`.
pub(crate) fn regular(len: usize, size: usize) -> Vec<usize> {
    let size = size.clamp(1, len.max(1));
    (0..len.div_ceil(size)).map(|i| size.min(len - i * size)).collect()
}

impl Array {
    /// numpy's `reshape(x, shape)` (one `-1` is inferred), in row-major order, with
    /// blocks kept under the default chunk byte target.
    pub fn reshape(&self, shape: &[i64]) -> Result<Array, GraphError> {
        self.reshape_with(shape, tessera_chunks::chunk_byte_target()?)
    }

    /// `reshape` with blocks kept under `target_bytes` (or their present size).
    pub fn reshape_with(&self, shape: &[i64], target_bytes: u64) -> Result<Array, GraphError> {
        let shape = infer_shape(shape, self.len())?;
        if shape == self.shape() {
            return Ok(self.clone());
        }
        super::build::check_shape(&shape)?;
        if self.is_empty() {
            return Ok(Array::empty_of(&shape, self.dtype()));
        }
        let groups = axis_groups(self.shape(), &shape);
        let (input_chunks, warning) = self.reshape_input_chunks(&groups, &shape, target_bytes);
        let input = self.with_chunks(input_chunks);
        let mut lengths: Vec<Vec<usize>> = shape.iter().map(|&n| vec![n]).collect();
        for (gi, gj) in &groups {
            let (Some(&i0), Some(&j0)) = (gi.first(), gj.first()) else { continue };
            let r_in = product(self.shape(), &gi[1..]);
            let r_out = product(&shape, &gj[1..]);
            lengths[j0] = input.chunks().axis(i0).iter().map(|&c| (c as u128 * r_in / r_out.max(1)) as usize).collect();
        }
        let chunks = Chunks::from_lengths(lengths);
        let reshaping = Reshaping { groups, warning };
        Ok(Array::new(Op::Reshape(input, reshaping), shape, self.dtype(), chunks))
    }

    /// An array of `shape` with no elements (some axis is 0), in one block.
    pub(crate) fn empty_of(shape: &[usize], dtype: crate::DType) -> Array {
        let chunks = Chunks::from_lengths(shape.iter().map(|&n| vec![n]).collect());
        let generator =
            crate::Generator { kind: crate::GenKind::Full(crate::Scalar::Int(0)), shape: shape.to_vec(), dtype };
        Array::new(Op::Gen(generator), shape.to_vec(), dtype, chunks)
    }

    /// numpy's `ravel(x)`: the array as 1-D, in row-major order.
    pub fn ravel(&self) -> Result<Array, GraphError> {
        self.reshape(&[-1])
    }

    /// `ravel` with blocks kept under `target_bytes`.
    pub fn ravel_with(&self, target_bytes: u64) -> Result<Array, GraphError> {
        self.reshape_with(&[-1], target_bytes)
    }

    /// The input's chunks for a reshape by `groups` to `shape`: Dask's where its blocks
    /// stay under the chunk byte target, smaller along the merged groups where not.
    fn reshape_input_chunks(
        &self,
        groups: &[AxisGroup],
        shape: &[usize],
        target_bytes: u64,
    ) -> (Chunks, Option<String>) {
        let mut lengths: Vec<Vec<usize>> = (0..self.ndim()).map(|a| self.chunks().axis(a).to_vec()).collect();
        // (axis, step, ideal length) of each group's first input axis.
        let mut leading = Vec::new();
        for (gi, gj) in groups {
            let Some(&i0) = gi.first() else { continue };
            for &a in &gi[1..] {
                lengths[a] = vec![self.shape()[a]];
            }
            let Some(_) = gj.first() else {
                lengths[i0] = vec![self.shape()[i0]];
                continue;
            };
            let r_in = product(self.shape(), &gi[1..]);
            let r_out = product(shape, &gj[1..]);
            let step = (r_out / gcd(r_in, r_out)).max(1) as usize;
            let fits = lengths[i0].iter().rev().skip(1).all(|&c| c % step == 0);
            if !fits {
                let first = lengths[i0].first().copied().unwrap_or(1);
                lengths[i0] = regular(self.shape()[i0], first.div_ceil(step) * step);
            }
            if gi.len() > 1 || gj.len() > 1 {
                leading.push((i0, step));
            }
        }
        let itemsize = self.dtype().itemsize() as u128;
        let block_bytes = |l: &[Vec<usize>]| -> u128 {
            l.iter().map(|a| a.iter().copied().max().unwrap_or(0) as u128).product::<u128>() * itemsize
        };
        let target = target_bytes as u128;
        let before = self.chunks().max_block_len() as u128 * itemsize;
        let limit = target.max(before);
        let dask_bytes = block_bytes(&lengths);
        let mut warning = None;
        if dask_bytes > limit {
            for &(axis, step) in &leading {
                let now = block_bytes(&lengths);
                if now <= limit {
                    break;
                }
                let longest = lengths[axis].iter().copied().max().unwrap_or(1) as u128;
                let fit = (longest * limit / now) as usize / step * step;
                lengths[axis] = regular(self.shape()[axis], fit.max(step));
            }
            let chunks: Vec<usize> = lengths.iter().map(|a| a.first().copied().unwrap_or(0)).collect();
            warning = Some(format!(
                "reshape: with Dask's chunks each block would hold {}, past the {} chunk target, so the input \
                 was rechunked to {chunks:?} first",
                human(dask_bytes),
                human(limit)
            ));
        }
        (Chunks::from_lengths(lengths), warning)
    }

    /// The warnings recorded while building this array (e.g. a reshape that rechunked
    /// its input), each once, from the leaves up.
    pub fn warnings(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![self.clone()];
        let mut out = Vec::new();
        while let Some(a) = stack.pop() {
            if !seen.insert(a.id()) {
                continue;
            }
            if let Op::Reshape(_, r) = a.op()
                && let Some(w) = &r.warning
                && !out.contains(w)
            {
                out.push(w.clone());
            }
            stack.extend(a.op().operands().into_iter().cloned());
        }
        out.reverse();
        out
    }
}

fn human(bytes: u128) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    }
}

/// `shape` with its `-1` (at most one) inferred so that it holds `len` elements.
fn infer_shape(shape: &[i64], len: usize) -> Result<Vec<usize>, GraphError> {
    let bad = || GraphError::Shape(format!("cannot reshape array of size {len} into shape {shape:?}"));
    let unknown: Vec<usize> = (0..shape.len()).filter(|&a| shape[a] == -1).collect();
    if unknown.len() > 1 {
        return Err(GraphError::Shape("can only specify one unknown dimension".into()));
    }
    if shape.iter().any(|&n| n < -1) {
        return Err(GraphError::Shape(format!("negative dimensions not allowed: {shape:?}")));
    }
    let known =
        shape.iter().filter(|&&n| n >= 0).try_fold(1u128, |acc, &n| acc.checked_mul(n as u128)).ok_or_else(bad)?;
    let mut out: Vec<usize> = shape.iter().map(|&n| n.max(0) as usize).collect();
    if let Some(&u) = unknown.first() {
        if known == 0 || !(len as u128).is_multiple_of(known) {
            return Err(bad());
        }
        out[u] = (len as u128 / known) as usize;
    } else if known != len as u128 {
        return Err(bad());
    }
    Ok(out)
}

/// The block of a reshape's input that holds output block `block` (see the module).
pub fn reshape_source_block(groups: &[AxisGroup], block: &[usize], input_ndim: usize) -> Vec<usize> {
    let mut source = vec![0; input_ndim];
    for (gi, gj) in groups {
        if let (Some(&i0), Some(&j0)) = (gi.first(), gj.first())
            && let (Some(s), Some(&b)) = (source.get_mut(i0), block.get(j0))
        {
            *s = b;
        }
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_chunks::ChunkSpec;

    fn ones(shape: &[usize], chunks: &str) -> Array {
        Array::ones(shape, &ChunkSpec::parse(chunks).expect("a spec")).expect("builds")
    }

    #[test]
    fn groups_pair_axes_whose_lengths_multiply_alike() {
        assert_eq!(axis_groups(&[2, 3, 4], &[6, 4]), vec![(vec![0, 1], vec![0]), (vec![2], vec![1])]);
        assert_eq!(axis_groups(&[12, 10], &[12, 10, 1]), vec![(vec![0], vec![0]), (vec![1], vec![1, 2])]);
        assert_eq!(axis_groups(&[6, 4], &[4, 6]), vec![(vec![0, 1], vec![0, 1])]);
    }

    #[test]
    fn ravel_keeps_blocks_near_their_size_and_warns() {
        let x = ones(&[20000, 20000], "2000");
        let r = x.ravel().expect("reshapes");
        assert_eq!(r.shape(), [400_000_000]);
        // Dask's rule would make 2000 x 20000 blocks (305 MiB); these stay under 128 MiB.
        assert!(r.chunks().max_block_len() * 8 <= 128 << 20, "{}", r.chunks().max_block_len());
        assert_eq!(r.warnings().len(), 1);
        // Whole rows already: no rechunk, no warning.
        let y = ones(&[100, 50], "(10, 50)").reshape(&[-1]).expect("reshapes");
        assert_eq!(y.chunks().axis(0)[0], 500);
        assert!(y.warnings().is_empty());
    }

    #[test]
    fn bad_shapes_are_refused_as_numpy_does() {
        let x = ones(&[4, 6], "2");
        assert_eq!(
            x.reshape(&[5, -1]).expect_err("refused").to_string(),
            "cannot reshape array of size 24 into shape [5, -1]"
        );
        assert!(x.reshape(&[-1, -1]).is_err());
    }
}
