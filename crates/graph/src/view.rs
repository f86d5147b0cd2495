//! Affine index maps: how the coordinates of a view address its source.
//!
//! Slices (negative steps too), integer indices, transposes and broadcasts are all of
//! the form "source axis `k` is `offset + step * out[axis]`, or a fixed `offset`", so
//! any chain of them composes into one [`ViewMap`] and costs nothing at run time.

use serde::{Deserialize, Serialize};

/// How one source axis is addressed from the view's coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SrcAxis {
    /// The view axis that drives this source axis, or `None` for a fixed position
    /// (an integer index, or a broadcast length-1 axis).
    pub out_axis: Option<usize>,
    /// The source position at view coordinate 0.
    pub offset: i64,
    /// Source positions advanced per view position (negative for reversed slices).
    pub step: i64,
}

/// A map from the coordinates of a view (`out_ndim` axes) to those of its source
/// (one [`SrcAxis`] per source axis). View axes that no source axis uses are broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ViewMap {
    /// Number of axes of the view.
    pub out_ndim: usize,
    /// One entry per source axis.
    pub axes: Vec<SrcAxis>,
}

impl ViewMap {
    /// The identity view of an `ndim`-dimensional array.
    pub fn identity(ndim: usize) -> ViewMap {
        ViewMap { out_ndim: ndim, axes: (0..ndim).map(|a| SrcAxis { out_axis: Some(a), offset: 0, step: 1 }).collect() }
    }

    /// Whether this is the identity map.
    pub fn is_identity(&self) -> bool {
        self.out_ndim == self.axes.len()
            && self.axes.iter().enumerate().all(|(a, s)| s.out_axis == Some(a) && s.offset == 0 && s.step == 1)
    }

    /// `self` maps a middle array to the source; `outer` maps the final view to the
    /// middle array. The result maps the final view straight to the source.
    pub fn compose(&self, outer: &ViewMap) -> ViewMap {
        ViewMap {
            out_ndim: outer.out_ndim,
            axes: self
                .axes
                .iter()
                .map(|s| match s.out_axis {
                    None => *s,
                    Some(m) => {
                        let o = outer.axes[m];
                        SrcAxis {
                            out_axis: o.out_axis,
                            offset: s.offset + s.step * o.offset,
                            step: if o.out_axis.is_some() { s.step * o.step } else { 0 },
                        }
                    }
                })
                .collect(),
        }
    }

    /// The source box touched by the view region starting at `offset` with `shape`:
    /// per source axis, `(first, len)`.
    pub fn src_box(&self, offset: &[usize], shape: &[usize]) -> Vec<(usize, usize)> {
        self.axes
            .iter()
            .map(|s| match s.out_axis {
                None => (s.offset as usize, 1),
                Some(o) => {
                    if shape[o] == 0 {
                        return (0, 0);
                    }
                    let a = s.offset + s.step * offset[o] as i64;
                    let b = s.offset + s.step * (offset[o] + shape[o] - 1) as i64;
                    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                    (lo as usize, (hi - lo + 1) as usize)
                }
            })
            .collect()
    }

    /// Whether the map is a bijection of whole boxes: every view axis drives exactly one
    /// source axis with step 1 or -1, so each view position reads one distinct source
    /// position and every source position is read (a permutation with reversals).
    pub fn is_permutation(&self) -> bool {
        let mut used = vec![false; self.out_ndim];
        self.axes.len() == self.out_ndim
            && self.axes.iter().all(|s| {
                matches!(s.step, 1 | -1)
                    && s.out_axis.is_some_and(|o| o < used.len() && !std::mem::replace(&mut used[o], true))
            })
    }

    /// The inverse of a map from a view of `shape` onto all of its source, when it is a
    /// [permutation](Self::is_permutation) that covers the source exactly.
    pub fn inverse(&self, shape: &[usize]) -> Option<ViewMap> {
        if !self.is_permutation() || shape.len() != self.out_ndim {
            return None;
        }
        let mut axes = vec![SrcAxis { out_axis: None, offset: 0, step: 0 }; self.out_ndim];
        for (k, s) in self.axes.iter().enumerate() {
            let o = s.out_axis?;
            let last = shape[o] as i64 - 1;
            // The source axis is covered exactly: [0, n) forwards or backwards.
            let covers = if s.step == 1 { s.offset == 0 } else { s.offset == last };
            if !covers {
                return None;
            }
            // src = offset + step * out  <=>  out = step * (src - offset)
            axes[o] = SrcAxis { out_axis: Some(k), offset: -s.step * s.offset, step: s.step };
        }
        Some(ViewMap { out_ndim: self.axes.len(), axes })
    }

    /// The source coordinates of view position `out`.
    pub fn src_index(&self, out: &[usize]) -> Vec<usize> {
        self.axes
            .iter()
            .map(|s| match s.out_axis {
                None => s.offset as usize,
                Some(o) => (s.offset + s.step * out[o] as i64) as usize,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversing_twice_is_identity() {
        let rev = ViewMap { out_ndim: 1, axes: vec![SrcAxis { out_axis: Some(0), offset: 9, step: -1 }] };
        assert!(rev.compose(&rev).is_identity());
        assert_eq!(rev.src_box(&[2], &[3]), vec![(5, 3)]);
    }

    #[test]
    fn transpose_then_index() {
        // y = x.T (2-D); z = y[3] -> z[j] = y[3, j] = x[j, 3]
        let t = ViewMap {
            out_ndim: 2,
            axes: vec![
                SrcAxis { out_axis: Some(1), offset: 0, step: 1 },
                SrcAxis { out_axis: Some(0), offset: 0, step: 1 },
            ],
        };
        let idx = ViewMap {
            out_ndim: 1,
            axes: vec![
                SrcAxis { out_axis: None, offset: 3, step: 0 },
                SrcAxis { out_axis: Some(0), offset: 0, step: 1 },
            ],
        };
        let z = t.compose(&idx);
        assert_eq!(z.src_index(&[5]), vec![5, 3]);
    }
}
