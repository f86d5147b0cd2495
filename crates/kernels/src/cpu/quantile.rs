//! Medians and quantiles lane by lane, with numpy's arithmetic: `linear` quantiles
//! interpolate between the order statistics at `(n - 1) * q` as numpy's `_lerp` does
//! (from the nearer end), medians take the mean of the two middle values; a lane with
//! a NaN gives NaN (the NaN-skipping forms drop them, and give NaN for a lane of none).

use ndarray::{ArrayD, Axis, IxDyn};
use tessera_graph::{DType, QuantileMethod, Ranking};

use crate::{Block, KernelError};

/// The statistics of `block` along the ranking's axis, as a block of `shape`.
pub(crate) fn block(r: &Ranking, block: Block, shape: &[usize], dtype: DType) -> Result<Block, KernelError> {
    let wrong = |m: &str| KernelError::Internal { task: String::new(), message: m.into() };
    let values: ArrayD<f64> = match &block {
        Block::F64(a) => a.clone(),
        Block::F32(a) => a.mapv(f64::from),
        Block::I64(a) => a.mapv(|v| v as f64),
        Block::Bool(_) => return Err(wrong("quantiles of booleans")),
    };
    if r.axis >= values.ndim() {
        return Err(wrong("a quantile axis outside the block"));
    }
    let count: usize = values.shape().iter().enumerate().filter(|(a, _)| *a != r.axis).map(|(_, &n)| n).product();
    let lanes = values.lanes(Axis(r.axis));
    // float32 values: numpy takes their difference in float32, and with one quantile
    // interpolates in float32 too (with a list, in float64).
    let single = matches!(block, Block::F32(_)).then_some(dtype == DType::Float32);
    let mut out = vec![f64::NAN; r.qs.len() * count];
    let mut lane_values = Vec::new();
    for (l, lane) in lanes.into_iter().enumerate() {
        lane_values.clear();
        lane_values.extend(lane.iter().copied().filter(|v| !(r.skip_nan && v.is_nan())));
        if lane_values.iter().any(|v| v.is_nan()) || lane_values.is_empty() {
            continue;
        }
        for (k, &q) in r.qs.iter().enumerate() {
            out[k * count + l] = statistic(&mut lane_values, r.method, q, single);
        }
    }
    let result = ArrayD::from_shape_vec(IxDyn(shape), out).map_err(|_| wrong("a quantile block of another size"))?;
    Ok(if dtype == DType::Float32 { Block::F32(result.mapv(|v| v as f32)) } else { Block::F64(result) })
}

/// The `k`-th smallest value of `v` (no NaN in it), reordering `v`.
fn kth(v: &mut [f64], k: usize) -> f64 {
    *v.select_nth_unstable_by(k, f64::total_cmp).1
}

/// The statistic of one lane of numbers (at least one).
fn statistic(v: &mut [f64], method: QuantileMethod, q: f64, single: Option<bool>) -> f64 {
    let n = v.len();
    let pair = |v: &mut [f64], lo: usize| -> (f64, f64) {
        let a = kth(v, lo);
        // After the selection, everything past `lo` is at least `a`: the next is their least.
        let b = v[lo + 1..].iter().copied().min_by(f64::total_cmp).unwrap_or(a);
        (a, b)
    };
    match method {
        QuantileMethod::Median => {
            if n % 2 == 1 {
                kth(v, n / 2)
            } else {
                let (a, b) = pair(v, n / 2 - 1);
                (a + b) / 2.0
            }
        }
        QuantileMethod::Linear => {
            let h = (n - 1) as f64 * q;
            let lo = (h.floor() as usize).min(n - 1);
            let gamma = h - lo as f64;
            let (a, b) = if lo + 1 < n { pair(v, lo) } else { (kth(v, lo), kth(v, lo)) };
            if single == Some(true) {
                let (a, b, gamma) = (a as f32, b as f32, gamma as f32);
                let diff = b - a;
                return f64::from(if gamma >= 0.5 { b - diff * (1.0 - gamma) } else { a + diff * gamma });
            }
            let diff = if single.is_some() { f64::from(b as f32 - a as f32) } else { b - a };
            if gamma >= 0.5 { b - diff * (1.0 - gamma) } else { a + diff * gamma }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_quantiles_are_numpys() {
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(statistic(&mut v, QuantileMethod::Median, 0.5, None), 2.5);
        let mut v = vec![4.0, 1.0, 3.0, 2.0, 10.0];
        assert_eq!(statistic(&mut v, QuantileMethod::Median, 0.5, None), 3.0);
        // np.quantile([1, 2, 3, 4, 10], 0.9) == 7.6
        let mut v = vec![10.0, 1.0, 3.0, 2.0, 4.0];
        assert!((statistic(&mut v, QuantileMethod::Linear, 0.9, None) - 7.6).abs() < 1e-12);
        assert_eq!(statistic(&mut v, QuantileMethod::Linear, 1.0, None), 10.0);
        assert_eq!(statistic(&mut v, QuantileMethod::Linear, 0.0, None), 1.0);
    }
}
