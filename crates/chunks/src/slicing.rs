//! Python slice semantics along one axis, and the chunks a slice produces.

use crate::ChunkError;

/// A normalized slice of one axis: element `i` of the result is element
/// `start + step * i` of the source, for `i < len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisSlice {
    /// First source element (meaningless when `len == 0`).
    pub start: i64,
    /// Distance between selected source elements; never zero, negative to go backwards.
    pub step: i64,
    /// Number of selected elements.
    pub len: usize,
}

/// Normalizes `start:stop:step` on an axis of length `n` exactly as Python's
/// `slice.indices` does (negative indices count from the end; out-of-range bounds clip).
pub fn normalize_slice(
    start: Option<i64>,
    stop: Option<i64>,
    step: Option<i64>,
    n: usize,
) -> Result<AxisSlice, ChunkError> {
    let n = n as i64;
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(ChunkError::ZeroStep);
    }
    let clip = |v: i64, lower: i64, upper: i64| {
        let v = if v < 0 { v + n } else { v };
        v.clamp(lower, upper)
    };
    let (start, stop) = if step > 0 {
        (start.map_or(0, |s| clip(s, 0, n)), stop.map_or(n, |s| clip(s, 0, n)))
    } else {
        (start.map_or(n - 1, |s| clip(s, -1, n - 1)), stop.map_or(-1, |s| clip(s, -1, n - 1)))
    };
    let len = if step > 0 {
        if stop > start { (stop - start + step - 1) / step } else { 0 }
    } else if start > stop {
        (start - stop + (-step) - 1) / (-step)
    } else {
        0
    };
    Ok(AxisSlice { start, step, len: len as usize })
}

impl AxisSlice {
    /// The chunks of the sliced axis: the source block boundaries carried over, in the
    /// order the slice visits them (so `[::-1]` reverses the chunk list).
    pub fn chunks(&self, source_offsets: &[usize]) -> Vec<usize> {
        if self.len == 0 {
            return vec![0];
        }
        let nblocks = source_offsets.len() - 1;
        let count_in = |b: usize| -> i64 {
            let lo = source_offsets[b] as i64;
            let hi = source_offsets[b + 1] as i64;
            let (s, len) = (self.start, self.len as i64);
            let (first, last) = if self.step > 0 {
                let st = self.step;
                (div_ceil(lo - s, st), div_ceil(hi - s, st) - 1)
            } else {
                let st = -self.step;
                (div_floor(s - hi, st) + 1, div_floor(s - lo, st))
            };
            let first = first.max(0);
            let last = last.min(len - 1);
            (last - first + 1).max(0)
        };
        let order: Box<dyn Iterator<Item = usize>> =
            if self.step > 0 { Box::new(0..nblocks) } else { Box::new((0..nblocks).rev()) };
        let out: Vec<usize> = order.map(count_in).filter(|&c| c > 0).map(|c| c as usize).collect();
        if out.is_empty() { vec![0] } else { out }
    }
}

/// An integer index with Python semantics (`-1` is the last element).
pub fn normalize_index(index: i64, axis: usize, n: usize) -> Result<usize, ChunkError> {
    let resolved = if index < 0 { index + n as i64 } else { index };
    if resolved < 0 || resolved >= n as i64 {
        return Err(ChunkError::IndexOutOfBounds { index, axis, len: n });
    }
    Ok(resolved as usize)
}

fn div_floor(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

fn div_ceil(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn python_semantics() {
        let s = normalize_slice(None, None, Some(-1), 10).expect("valid");
        assert_eq!((s.start, s.step, s.len), (9, -1, 10));
        let s = normalize_slice(Some(-3), None, None, 10).expect("valid");
        assert_eq!((s.start, s.len), (7, 3));
        let s = normalize_slice(Some(8), Some(2), Some(-3), 10).expect("valid");
        assert_eq!((s.start, s.len), (8, 2));
        assert_eq!(normalize_slice(Some(5), Some(2), None, 10).expect("valid").len, 0);
        assert_eq!(normalize_slice(None, None, Some(0), 10), Err(ChunkError::ZeroStep));
        assert_eq!(normalize_index(-1, 0, 4), Ok(3));
        assert!(normalize_index(4, 0, 4).is_err());
    }

    #[test]
    fn reversed_chunks() {
        let s = normalize_slice(None, None, Some(-1), 10).expect("valid");
        assert_eq!(s.chunks(&[0, 4, 8, 10]), vec![2, 4, 4]);
        let s = normalize_slice(Some(1), None, Some(3), 10).expect("valid");
        // picks 1, 4, 7: one from each block
        assert_eq!(s.chunks(&[0, 4, 8, 10]), vec![1, 2]);
    }

    proptest! {
        #[test]
        fn slice_chunks_cover_the_selection(
            n in 0usize..40, start in -50i64..50, stop in -50i64..50,
            step in prop_oneof![-7i64..0, 1i64..7], size in 1usize..9,
        ) {
            let s = normalize_slice(Some(start), Some(stop), Some(step), n).expect("nonzero step");
            // Compare the length with a direct enumeration, as Python would produce it.
            let picked: Vec<i64> = (0..s.len as i64).map(|i| s.start + s.step * i).collect();
            for &p in &picked { prop_assert!(p >= 0 && p < n as i64); }
            let mut offs: Vec<usize> = (0..n).step_by(size).collect();
            offs.push(n);
            if n == 0 { offs = vec![0, 0]; }
            let chunks = s.chunks(&offs);
            prop_assert_eq!(chunks.iter().sum::<usize>(), s.len);
        }
    }
}
