//! Functions that lay out pieces of arrays along one axis: `concatenate`, `stack`,
//! `pad`, `roll` and `take`. None of them is an affine view of one source, so each is a
//! gather layer ([`crate::GatherKernel`]): every output block evaluates each part over
//! the positions its runs read (fused, so a generator or a stored array is read in
//! place) and copies them in.

use std::sync::Arc;

use tessera_chunks::DType;

use super::views::normalize_axis;
use super::{Array, Index, Op};
use crate::{GatherRun, GenKind, Generator, GraphError, Scalar};

/// The most runs one gather may have (a `take` of scattered indices has one per
/// index): the list travels with the graph to every worker.
pub const MAX_GATHER_RUNS: usize = 1 << 20;

/// What a gather node carries besides its parts.
#[derive(Debug, Clone)]
pub struct Gathering {
    /// The function, for task names and progress (`concatenate`, `pad`, ...).
    pub name: &'static str,
    /// The axis the runs are laid out along.
    pub axis: usize,
    /// The runs, in output order.
    pub runs: Arc<[GatherRun]>,
}

/// numpy's `pad` modes that tessera supports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadMode {
    /// `constant`, with the value (cast to the array's dtype, as numpy does).
    Constant(Scalar),
    /// `edge`: the first and last values repeated.
    Edge,
    /// `reflect`: mirrored about the first and last values, which are not repeated.
    Reflect,
    /// `symmetric`: mirrored, the first and last values repeated once.
    Symmetric,
    /// `wrap`: the other end of the axis.
    Wrap,
}

impl PadMode {
    /// The mode's name in numpy.
    pub fn name(self) -> &'static str {
        match self {
            PadMode::Constant(_) => "constant",
            PadMode::Edge => "edge",
            PadMode::Reflect => "reflect",
            PadMode::Symmetric => "symmetric",
            PadMode::Wrap => "wrap",
        }
    }
}

fn run(part: usize, start: usize, len: usize, step: i64) -> GatherRun {
    GatherRun { part, start: start as u64, len: len as u64, step }
}

/// Chunk lengths along an axis of `len` positions, `size` at a time.
fn regular_lengths(len: usize, size: usize) -> Vec<usize> {
    if len == 0 {
        return vec![0];
    }
    let size = size.max(1);
    (0..len.div_ceil(size)).map(|i| size.min(len - i * size)).collect()
}

impl Array {
    /// A gather node over `parts` (which share this dtype and, off `axis`, their shape),
    /// with `lengths` its chunk lengths along `axis`.
    fn gather(
        name: &'static str,
        parts: Vec<Array>,
        axis: usize,
        runs: Vec<GatherRun>,
        lengths: Vec<usize>,
    ) -> Result<Array, GraphError> {
        if runs.len() > MAX_GATHER_RUNS {
            return Err(GraphError::Shape(format!(
                "{name}: {} separate runs of positions, more than the limit of {MAX_GATHER_RUNS}",
                runs.len()
            )));
        }
        let first = parts.first().ok_or_else(|| GraphError::Shape(format!("{name}: no arrays given")))?;
        let runs: Vec<GatherRun> = runs.into_iter().filter(|r| r.len > 0).collect();
        let total = runs
            .iter()
            .try_fold(0u64, |acc, r| acc.checked_add(r.len))
            .filter(|&t| t <= usize::MAX as u64)
            .ok_or_else(|| GraphError::Shape(format!("{name}: the result would be longer than an array may be")))?;
        let mut shape = first.shape().to_vec();
        shape[axis] = total as usize;
        super::build::check_shape(&shape)?;
        let mut lengths: Vec<usize> = lengths.into_iter().filter(|&l| l > 0).collect();
        if lengths.is_empty() {
            lengths.push(0);
        }
        let chunks = first.chunks().with_axis(axis, lengths);
        debug_assert_eq!(chunks.shape(), shape);
        let dtype = first.dtype();
        let gathering = Gathering { name, axis, runs: runs.into() };
        Ok(Array::new(Op::Gather(parts, gathering), shape, dtype, chunks))
    }

    /// numpy's `concatenate(arrays, axis)`: the arrays one after another along `axis`,
    /// in the dtype numpy's promotion gives; the chunks along the axis are the arrays'
    /// own, one after another (Dask's rule), off the axis the first array's.
    pub fn concatenate(arrays: &[Array], axis: i64) -> Result<Array, GraphError> {
        let first = arrays.first().ok_or_else(|| GraphError::Shape("need at least one array to concatenate".into()))?;
        if first.ndim() == 0 {
            return Err(GraphError::Shape("zero-dimensional arrays cannot be concatenated".into()));
        }
        let axis = normalize_axis(axis, first.ndim())?;
        for (i, a) in arrays.iter().enumerate().skip(1) {
            if a.ndim() != first.ndim() {
                return Err(GraphError::Shape(format!(
                    "all the input arrays must have same number of dimensions, but the array at index 0 has {} \
                     dimension(s) and the array at index {i} has {} dimension(s)",
                    first.ndim(),
                    a.ndim()
                )));
            }
            if let Some(d) = (0..a.ndim()).find(|&d| d != axis && a.shape()[d] != first.shape()[d]) {
                return Err(GraphError::Shape(format!(
                    "all the input array dimensions except for the concatenation axis must match exactly, but \
                     along dimension {d}, the array at index 0 has size {} and the array at index {i} has size {}",
                    first.shape()[d],
                    a.shape()[d]
                )));
            }
        }
        let dtype = arrays.iter().skip(1).fold(first.dtype(), |d, a| DType::promote(d, a.dtype()));
        let parts: Vec<Array> = arrays.iter().map(|a| a.astype(dtype)).collect();
        if parts.len() == 1 {
            return Ok(parts.into_iter().next().unwrap_or_else(|| first.clone()));
        }
        let runs = parts.iter().enumerate().map(|(i, p)| run(i, 0, p.shape()[axis], 1)).collect();
        let lengths = parts.iter().flat_map(|p| p.chunks().axis(axis).to_vec()).collect();
        Array::gather("concatenate", parts, axis, runs, lengths)
    }

    /// numpy's `stack(arrays, axis)`: arrays of one shape along a new axis (one chunk
    /// per array along it).
    pub fn stack(arrays: &[Array], axis: i64) -> Result<Array, GraphError> {
        let first = arrays.first().ok_or_else(|| GraphError::Shape("need at least one array to stack".into()))?;
        if arrays.iter().any(|a| a.shape() != first.shape()) {
            return Err(GraphError::Shape("all input arrays must have the same shape".into()));
        }
        let axis = normalize_axis(axis, first.ndim() + 1)?;
        let expanded = arrays.iter().map(|a| a.expand_dims(&[axis as i64])).collect::<Result<Vec<_>, _>>()?;
        Array::concatenate(&expanded, axis as i64)
    }

    /// numpy's `roll(x, shift, axis)` along one axis (the chunks stay the array's).
    pub fn roll(&self, shift: i64, axis: i64) -> Result<Array, GraphError> {
        let axis = normalize_axis(axis, self.ndim())?;
        let n = self.shape()[axis];
        if n == 0 {
            return Ok(self.clone());
        }
        let s = shift.rem_euclid(n as i64) as usize;
        if s == 0 {
            return Ok(self.clone());
        }
        let runs = vec![run(0, n - s, s, 1), run(0, 0, n - s, 1)];
        Array::gather("roll", vec![self.clone()], axis, runs, self.chunks().axis(axis).to_vec())
    }

    /// numpy's `pad(x, widths, mode)`: `widths[axis]` positions before and after along
    /// every axis, one axis after the other (as numpy does); each pad is a chunk of its
    /// own.
    pub fn pad(&self, widths: &[(usize, usize)], mode: PadMode) -> Result<Array, GraphError> {
        if widths.len() != self.ndim() {
            return Err(GraphError::Shape(format!(
                "pad: {} (before, after) pairs for an array of dimension {}",
                widths.len(),
                self.ndim()
            )));
        }
        let mut out = self.clone();
        for (axis, &(before, after)) in widths.iter().enumerate() {
            if before + after > 0 {
                out = out.pad_axis(axis, before, after, mode)?;
            }
        }
        Ok(out)
    }

    fn pad_axis(&self, axis: usize, before: usize, after: usize, mode: PadMode) -> Result<Array, GraphError> {
        let n = self.shape()[axis];
        let mut parts = vec![self.clone()];
        let too_wide = |limit: usize| {
            GraphError::Shape(format!(
                "pad: mode '{}' pads at most {limit} positions on each side of axis {axis} (its length is {n}); \
                 {before} and {after} were asked",
                mode.name()
            ))
        };
        if n == 0 && !matches!(mode, PadMode::Constant(_)) {
            return Err(GraphError::Shape(format!(
                "can't extend empty axis {axis} using modes other than 'constant' or 'empty'"
            )));
        }
        let (head, tail) = match mode {
            PadMode::Constant(value) => {
                let mut shape = self.shape().to_vec();
                shape[axis] = 1;
                let chunks = self.chunks().with_axis(axis, vec![1]);
                let generator = Generator { kind: GenKind::Full(value), shape: shape.clone(), dtype: self.dtype() };
                parts.push(Array::new(Op::Gen(generator), shape, self.dtype(), chunks));
                (run(1, 0, before, 0), run(1, 0, after, 0))
            }
            PadMode::Edge => (run(0, 0, before, 0), run(0, n - 1, after, 0)),
            PadMode::Reflect => {
                if before >= n.max(2) || after >= n.max(2) || (n == 1 && before + after > 0) {
                    return Err(too_wide(n.saturating_sub(1)));
                }
                (run(0, before, before, -1), run(0, n.saturating_sub(2), after, -1))
            }
            PadMode::Symmetric => {
                if before > n || after > n {
                    return Err(too_wide(n));
                }
                (run(0, before.saturating_sub(1), before, -1), run(0, n - 1, after, -1))
            }
            PadMode::Wrap => {
                if before > n || after > n {
                    return Err(too_wide(n));
                }
                (run(0, n - before, before, 1), run(0, 0, after, 1))
            }
        };
        let runs = vec![head, run(0, 0, n, 1), tail];
        let lengths = std::iter::once(before).chain(self.chunks().axis(axis).iter().copied()).chain([after]).collect();
        Array::gather("pad", parts, axis, runs, lengths)
    }

    /// numpy's `take(x, index, axis)` of one integer: the axis dropped, a view.
    pub fn take_at(&self, index: i64, axis: i64) -> Result<Array, GraphError> {
        let axis = normalize_axis(axis, self.ndim())?;
        let entries: Vec<Index> =
            (0..self.ndim()).map(|a| if a == axis { Index::At(index) } else { Index::FULL }).collect();
        self.slice(&entries)
    }

    /// numpy's `take(x, indices, axis)` (and `x[[3, 1, 4]]`): the positions `indices`
    /// (negative from the end) along `axis`, chunked along it like the array.
    pub fn take(&self, indices: &[i64], axis: i64) -> Result<Array, GraphError> {
        let axis = normalize_axis(axis, self.ndim())?;
        let n = self.shape()[axis];
        let mut runs: Vec<GatherRun> = Vec::new();
        for &i in indices {
            let at = if i < 0 { i + n as i64 } else { i };
            if at < 0 || at >= n as i64 {
                return Err(GraphError::Index(format!("index {i} is out of bounds for axis {axis} with size {n}")));
            }
            match runs.last_mut() {
                Some(r) if r.step == 1 && r.start + r.len == at as u64 => r.len += 1,
                _ => runs.push(run(0, at as usize, 1, 1)),
            }
        }
        let size = self.chunks().axis(axis).first().copied().unwrap_or(1);
        Array::gather("take", vec![self.clone()], axis, runs, regular_lengths(indices.len(), size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_chunks::ChunkSpec;

    fn arange(n: usize, chunk: usize) -> Array {
        Array::arange(n, &ChunkSpec::parse(&chunk.to_string()).expect("builds")).expect("builds")
    }

    #[test]
    fn concatenate_keeps_each_arrays_chunks_along_the_axis() {
        let c = Array::concatenate(&[arange(10, 4), arange(5, 2)], 0).expect("builds");
        assert_eq!(c.shape(), [15]);
        assert_eq!(c.chunks().axis(0), [4, 4, 2, 2, 2, 1]);
    }

    #[test]
    fn mismatched_shapes_are_refused_with_numpys_words() {
        let a = arange(6, 6).broadcast_to(&[2, 6]).expect("builds");
        let b = arange(5, 5).broadcast_to(&[2, 5]).expect("builds");
        let e = Array::concatenate(&[a, b], 0).expect_err("refused").to_string();
        assert!(e.contains("along dimension 1, the array at index 0 has size 6"), "{e}");
    }

    #[test]
    fn take_merges_consecutive_indices_into_runs_and_checks_bounds() {
        let t = arange(10, 3).take(&[1, 2, 3, -1, 0], 0).expect("builds");
        let Op::Gather(_, g) = t.op() else { panic!("take is a gather") };
        assert_eq!(g.runs.len(), 3);
        assert_eq!(t.chunks().axis(0), [3, 2]);
        let e = arange(10, 3).take(&[10], 0).expect_err("refused").to_string();
        assert_eq!(e, "index 10 is out of bounds for axis 0 with size 10");
    }

    #[test]
    fn reflect_wider_than_the_axis_is_refused() {
        assert!(arange(3, 3).pad(&[(3, 0)], PadMode::Reflect).is_err());
        assert_eq!(arange(3, 3).pad(&[(2, 2)], PadMode::Reflect).expect("builds").shape(), [7]);
    }
}
