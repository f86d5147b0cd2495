//! Order statistics along an axis: `median`, `quantile`, `percentile` and their NaN-
//! skipping forms. Exact, as numpy computes them: each task holds whole lanes along
//! the axis (the axis brought into one chunk, as Dask does; the other axes' chunks
//! shrink so that a block stays under the chunk byte target) and selects in them.

use serde::{Deserialize, Serialize};
use tessera_chunks::{Chunks, DType};

use super::views::normalize_axis;
use super::{Array, Op};
use crate::GraphError;

/// How a quantile between two order statistics is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QuantileMethod {
    /// numpy's default `linear`: `(n - 1) * q` interpolated between its neighbours.
    Linear,
    /// numpy's `median`: the middle value, or the mean of the two middle values.
    Median,
}

/// What a quantile node carries besides its (rechunked) input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    /// The axis the statistics are taken along (whole in every input block).
    pub axis: usize,
    /// The quantiles, in `[0, 1]` (unused for the median).
    pub qs: Vec<f64>,
    /// Whether the quantiles were a list: the result then leads with an axis of them.
    pub listed: bool,
    /// Linear interpolation or numpy's median.
    pub method: QuantileMethod,
    /// NaN-skipping (`nanmedian`, `nanquantile`): NaN only for lanes without numbers.
    pub skip_nan: bool,
}

impl Ranking {
    /// The block of the input that holds output block `block`.
    pub fn source_block(&self, block: &[usize]) -> Vec<usize> {
        let kept = if self.listed { block.get(1..).unwrap_or_default() } else { block };
        let mut source = kept.to_vec();
        source.insert(self.axis.min(source.len()), 0);
        source
    }
}

impl Array {
    /// numpy's `quantile(x, qs, axis)` (and `nanquantile` with `skip_nan`); `listed`
    /// when `qs` was a sequence (the result then leads with one entry per quantile).
    /// `axis=None` takes the statistics of the raveled array.
    pub fn quantile(
        &self,
        qs: &[f64],
        listed: bool,
        axis: Option<i64>,
        skip_nan: bool,
        auto_bytes: u64,
    ) -> Result<Array, GraphError> {
        if let Some(q) = qs.iter().find(|q| !(0.0..=1.0).contains(*q)) {
            return Err(GraphError::Shape(format!("Quantiles must be in the range [0, 1], not {q}")));
        }
        if !listed && qs.len() != 1 {
            return Err(GraphError::Shape("one quantile, or a list of them".into()));
        }
        if self.dtype() == DType::Bool {
            return Err(GraphError::Type("quantile of booleans is not supported (numpy refuses it too)".into()));
        }
        let ranking = |axis| Ranking { axis, qs: qs.to_vec(), listed, method: QuantileMethod::Linear, skip_nan };
        self.ranked(axis, ranking, auto_bytes)
    }

    /// numpy's `median(x, axis)` (and `nanmedian` with `skip_nan`).
    pub fn median(&self, axis: Option<i64>, skip_nan: bool, auto_bytes: u64) -> Result<Array, GraphError> {
        let ranking = |axis| Ranking { axis, qs: vec![0.5], listed: false, method: QuantileMethod::Median, skip_nan };
        self.ranked(axis, ranking, auto_bytes)
    }

    fn ranked(
        &self,
        axis: Option<i64>,
        ranking: impl Fn(usize) -> Ranking,
        auto_bytes: u64,
    ) -> Result<Array, GraphError> {
        let (x, axis) = match axis {
            None => (self.ravel_with(auto_bytes)?, 0),
            Some(a) => (self.clone(), normalize_axis(a, self.ndim())?),
        };
        let r = ranking(axis);
        let dtype = if x.dtype() == DType::Float32 { DType::Float32 } else { DType::Float64 };
        let x = x.astype(dtype);
        // numpy: a list of quantiles is a float64 array, which promotes float32 values.
        let out_dtype = if r.listed { DType::Float64 } else { dtype };
        let input_chunks = lane_chunks(&x, axis, auto_bytes);
        let input = x.with_chunks(input_chunks);
        let mut lengths: Vec<Vec<usize>> =
            (0..input.ndim()).filter(|&a| a != axis).map(|a| input.chunks().axis(a).to_vec()).collect();
        let mut shape: Vec<usize> = (0..input.ndim()).filter(|&a| a != axis).map(|a| input.shape()[a]).collect();
        if r.listed {
            lengths.insert(0, vec![r.qs.len()]);
            shape.insert(0, r.qs.len());
        }
        Ok(Array::new(Op::Quantile(input, r), shape, out_dtype, Chunks::from_lengths(lengths)))
    }
}

/// `x`'s chunks with `axis` whole and the other axes' chunks halved (largest first)
/// until a block fits under the chunk target (or its present size, if larger).
fn lane_chunks(x: &Array, axis: usize, auto_bytes: u64) -> Chunks {
    let itemsize = x.dtype().itemsize() as u128;
    let limit = (auto_bytes as u128).max(x.chunks().max_block_len() as u128 * itemsize);
    let mut sizes: Vec<usize> = x.chunks().chunksize();
    sizes[axis] = x.shape()[axis].max(1);
    let bytes = |s: &[usize]| s.iter().map(|&n| n as u128).product::<u128>() * itemsize;
    while bytes(&sizes) > limit {
        let widest = (0..sizes.len()).filter(|&a| a != axis && sizes[a] > 1).max_by_key(|&a| sizes[a]);
        match widest {
            Some(a) => sizes[a] = sizes[a].div_ceil(2),
            None => break,
        }
    }
    if sizes == x.chunks().chunksize() && x.chunks().axis(axis).len() == 1 {
        return x.chunks().clone();
    }
    Chunks::regular(x.shape(), &sizes)
}
