//! Boolean masks, `x[mask]`: numpy's 1-D result of the values where the mask is true,
//! in row-major order, with its length known before the values are computed.
//!
//! It takes two passes over the mask, as numpy's result needs its shape first: the
//! caller computes [`Array::block_counts`] (one count per block of the mask, a small
//! int64 array), then builds [`Array::compress_blocks`] with those counts as the
//! result's chunks (blocks that select nothing are left out). Dask instead gives chunks
//! of unknown (NaN) size until the values are computed. Both operands are read in row
//! strips (every axis but the first whole, as `ravel` reads them), so blocks in order
//! are elements in row-major order; the strips are regions, not materialized copies:
//! each task evaluates the mask and the values tile by tile and keeps what it selects.

use std::sync::Arc;

use tessera_chunks::{Chunks, DType};

use super::{Array, Op};
use crate::GraphError;

/// Which input block each output block of a compression selects from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compression {
    /// For output block `b`, the input block it selects from (row-major block order,
    /// increasing).
    pub sources: Arc<[usize]>,
}

/// Whether blocks in row-major order hold the elements in row-major order: every
/// axis but the first is one chunk.
pub(crate) fn is_strips(chunks: &Chunks) -> bool {
    (1..chunks.ndim()).all(|a| chunks.axis(a).len() == 1)
}

impl Array {
    /// The operands of `self[mask]` for a mask of `self`'s shape: both in the same row
    /// strips (refused as numpy refuses, with its words).
    pub fn mask_operands(&self, mask: &Array) -> Result<(Array, Array), GraphError> {
        if mask.dtype() != DType::Bool {
            return Err(GraphError::Index(format!(
                "a mask must be a bool array, not {}; compare to make one (x[x > 0])",
                mask.dtype()
            )));
        }
        if mask.ndim() > self.ndim() {
            return Err(GraphError::Index(format!(
                "too many indices for array: array is {}-dimensional, but {} were indexed",
                self.ndim(),
                mask.ndim()
            )));
        }
        if mask.ndim() < self.ndim() || self.ndim() == 0 {
            return Err(GraphError::Index(format!(
                "a boolean mask must have the array's shape {:?} (got {:?}); a mask over leading axes only is \
                 not supported, broadcast it first (broadcast_to(m[:, None], x.shape))",
                self.shape(),
                mask.shape()
            )));
        }
        if let Some(axis) = (0..self.ndim()).find(|&a| self.shape()[a] != mask.shape()[a]) {
            return Err(GraphError::Index(format!(
                "boolean index did not match indexed array along axis {axis}; size of axis is {} but size of \
                 corresponding boolean axis is {}",
                self.shape()[axis],
                mask.shape()[axis]
            )));
        }
        let strips = self.strips(tessera_chunks::chunk_byte_target()?);
        Ok((self.with_chunks(strips.clone()), mask.with_chunks(strips)))
    }

    /// Row strips of this array: every axis but the first whole, the first in the
    /// array's own chunks if such strips stay under `target_bytes`, else cut evenly so
    /// that they do (at least one row each).
    fn strips(&self, target_bytes: u64) -> Chunks {
        let shape = self.shape();
        if self.is_empty() {
            return Chunks::from_lengths(shape.iter().map(|&n| vec![n]).collect());
        }
        let row_bytes = shape[1..].iter().map(|&n| n as u128).product::<u128>() * self.dtype().itemsize() as u128;
        let own = self.chunks().axis(0);
        let first = if own.iter().all(|&c| c as u128 * row_bytes <= target_bytes as u128) {
            own.to_vec()
        } else {
            let rows = (target_bytes as u128 / row_bytes.max(1)).clamp(1, shape[0] as u128) as usize;
            super::reshape::regular(shape[0], rows)
        };
        let mut lengths = vec![first];
        lengths.extend(shape[1..].iter().map(|&n| vec![n]));
        Chunks::from_lengths(lengths)
    }

    /// Per block of a bool array, how many of its values are true: a 1-D int64 array
    /// of one element per block (row-major block order), each its own chunk.
    pub fn block_counts(&self) -> Result<Array, GraphError> {
        if self.dtype() != DType::Bool {
            return Err(GraphError::Type(format!("block counts are of bool arrays, not of {}", self.dtype())));
        }
        let blocks = self.chunks().num_blocks();
        let chunks = Chunks::from_lengths(vec![vec![1; blocks]]);
        Ok(Array::new(Op::BlockCounts(self.clone()), vec![blocks], DType::Int64, chunks))
    }

    /// The values of `self` where `mask` (of the same shape and row-strip chunks, from
    /// [`Array::mask_operands`]) is true, in row-major order, given `counts`, the true
    /// values per block (from [`Array::block_counts`]).
    pub fn compress_blocks(&self, mask: &Array, counts: &[u64]) -> Result<Array, GraphError> {
        if mask.dtype() != DType::Bool || mask.chunks() != self.chunks() || !is_strips(self.chunks()) {
            return Err(GraphError::Shape(
                "a compression needs a bool mask of the values' chunks, whole along every axis but the first".into(),
            ));
        }
        let chunks = self.chunks();
        let fits = (0..counts.len()).all(|b| counts[b] <= chunks.block_len(&chunks.block_at(b)) as u64);
        if counts.len() != chunks.num_blocks() || !fits {
            return Err(GraphError::Shape(format!(
                "the mask's counts ({} of them) do not fit its {} blocks",
                counts.len(),
                chunks.num_blocks()
            )));
        }
        let sources: Vec<usize> = (0..counts.len()).filter(|&b| counts[b] > 0).collect();
        if sources.is_empty() {
            return Ok(Array::empty_of(&[0], self.dtype()));
        }
        let selected: Vec<usize> = sources.iter().map(|&b| counts[b] as usize).collect();
        let total = selected.iter().sum();
        let compression = Compression { sources: sources.into() };
        Ok(Array::new(
            Op::Compress(self.clone(), mask.clone(), compression),
            vec![total],
            self.dtype(),
            Chunks::from_lengths(vec![selected]),
        ))
    }
}

#[cfg(test)]
mod tests {
    use tessera_chunks::ChunkSpec;

    use super::*;
    use crate::{BinaryOp, Scalar};

    fn random(shape: &[usize], chunks: &str) -> Array {
        Array::random(shape, 1, &ChunkSpec::parse(chunks).expect("valid")).expect("valid")
    }

    #[test]
    fn the_mask_and_the_values_are_read_in_the_same_row_strips() {
        let x = random(&[300, 200], "(100, 50)");
        let mask = x.binary_scalar(BinaryOp::Gt, Scalar::Float(0.5)).expect("compares");
        let (values, flat) =
            x.mask_operands(&mask.rechunk(&ChunkSpec::parse("30").expect("valid")).expect("ok")).expect("operands");
        assert_eq!(values.shape(), &[300, 200]);
        assert_eq!(values.chunks(), flat.chunks());
        assert_eq!(values.chunks().axis(1), &[200], "row strips");
        let counts = flat.block_counts().expect("counts");
        assert_eq!(counts.shape(), &[values.chunks().num_blocks()]);
        // A leading axis of length 1 still gives strips whole along the rest.
        let row = random(&[1, 2], "1");
        let (values, _) =
            row.mask_operands(&row.binary_scalar(BinaryOp::Gt, Scalar::Float(0.5)).expect("ok")).expect("ok");
        assert_eq!(values.chunks().axis(1), &[2]);
    }

    #[test]
    fn masks_of_another_shape_or_type_are_refused_as_numpy_refuses_them() {
        let x = random(&[30, 20], "10");
        let err = x.mask_operands(&random(&[30, 21], "10")).map(|_| ()).expect_err("a float mask");
        assert!(err.to_string().contains("must be a bool array"), "{err}");
        let m = random(&[30, 21], "10").binary_scalar(BinaryOp::Gt, Scalar::Float(0.5));
        let err = x.mask_operands(&m.expect("compares")).map(|_| ()).expect_err("another shape");
        assert!(
            err.to_string().contains("along axis 1; size of axis is 20 but size of corresponding boolean axis is 21")
        );
    }

    #[test]
    fn blocks_that_select_nothing_are_left_out_and_an_empty_selection_has_no_elements() {
        let x = random(&[100], "25");
        let m = x.binary_scalar(BinaryOp::Gt, Scalar::Float(0.5)).expect("compares");
        let picked = x.compress_blocks(&m, &[3, 0, 25, 1]).expect("compresses");
        assert_eq!(picked.shape(), &[29]);
        assert_eq!(picked.chunks().axis(0), &[3, 25, 1]);
        assert_eq!(x.compress_blocks(&m, &[0; 4]).expect("empty").shape(), &[0]);
        assert!(x.compress_blocks(&m, &[26, 0, 0, 0]).is_err(), "more than a block holds");
        assert!(x.compress_blocks(&m, &[1, 1]).is_err(), "a count per block");
    }
}
