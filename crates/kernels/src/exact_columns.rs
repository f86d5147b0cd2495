//! Exact sums of many columns at once: the fast path of `sum`/`mean` along any axis
//! but the last.
//!
//! A reduction along a leading axis adds each row of a tile into a row of
//! accumulators, one term per accumulator. Feeding every term to its own
//! [`ExactSum`] costs a scattered 560-byte accumulator per element; here each column
//! instead keeps three plain float64 levels, the same error-free split that
//! [`ExactSum::add_slice`] uses (Rump, Ogita and Oishi's `ExtractVector`): against a
//! common `sigma = 2^(e + 13)` above every term, `q = (sigma + x) - sigma` is `x`
//! rounded to a multiple of `ulp(sigma)`, and up to 2^13 such parts add up exactly in
//! float arithmetic; the residue `x - q` is exact and feeds the next level. The levels
//! go into the column's [`ExactSum`] every [`FLUSH_ROWS`] rows, when a row raises the
//! common exponent, and at the end, so the result is the same correctly rounded sum,
//! bit for bit, as adding each term exactly. Rows with infinities, NaNs or exponents
//! outside the levels' range, and the rare residues below the third level, take the
//! per-element path.

use crate::ExactSum;
use crate::exact_sum::{sigmas, top_exponent};
use crate::levels;

/// Rows folded between flushes: each level then sums at most this many parts, well
/// inside the 2^13 that stay exact.
pub const FLUSH_ROWS: u32 = 4096;

/// Float levels for a row of exact accumulators.
#[derive(Debug, Clone, Default)]
pub struct ExactColumns {
    levels: [Vec<f64>; 3],
    /// The common exponent (terms are below `2^e`), once a row has set it.
    e: Option<i32>,
    rows: u32,
}

impl ExactColumns {
    /// Levels for `len` accumulators.
    pub fn new(len: usize) -> ExactColumns {
        ExactColumns { levels: [vec![0.0; len], vec![0.0; len], vec![0.0; len]], e: None, rows: 0 }
    }

    /// Adds `xs[j]` to accumulator `start + j`.
    pub fn add_row(&mut self, acc: &mut [ExactSum], start: usize, xs: &[f64]) {
        self.add_rows(acc, start, xs, xs.len());
    }

    /// Adds the rows of `xs` (row-major, `width` columns) to accumulators `start..`:
    /// element `(r, j)` to accumulator `start + j`.
    pub fn add_rows(&mut self, acc: &mut [ExactSum], start: usize, xs: &[f64], width: usize) {
        if width == 0 || xs.is_empty() {
            return;
        }
        let rows = (xs.len() / width) as u32;
        let Some(e) = top_exponent(xs) else {
            for row in xs.chunks(width) {
                acc[start..start + row.len()].iter_mut().zip(row).for_each(|(a, &x)| a.add(x));
            }
            return;
        };
        let e = match self.e {
            Some(current) if e <= current && self.rows + rows <= FLUSH_ROWS => current,
            current => {
                self.flush(acc);
                let raised = current.map_or(e, |c| c.max(e));
                self.e = Some(raised);
                raised
            }
        };
        self.rows += rows;
        let s = sigmas(e);
        let end = start + width;
        let [l0, l1, l2] = &mut self.levels;
        let left = levels::add_columns(s, xs, width, [&mut l0[start..end], &mut l1[start..end], &mut l2[start..end]]);
        if left != 0 {
            for (i, &x) in xs.iter().enumerate() {
                let r = levels::split(s, x).1;
                if r != 0.0 {
                    acc[start + i % width].add(r);
                }
            }
        }
    }

    /// Moves the levels into the accumulators.
    pub fn flush(&mut self, acc: &mut [ExactSum]) {
        if self.rows == 0 {
            return;
        }
        for level in &mut self.levels {
            for (a, l) in acc.iter_mut().zip(level.iter_mut()) {
                if *l != 0.0 {
                    a.add(*l);
                    *l = 0.0;
                }
            }
        }
        self.rows = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_element(rows: &[Vec<f64>], width: usize) -> Vec<f64> {
        let mut acc = vec![ExactSum::new(); width];
        for row in rows {
            acc.iter_mut().zip(row).for_each(|(a, &x)| a.add(x));
        }
        acc.iter().map(ExactSum::value).collect()
    }

    fn by_levels(rows: &[Vec<f64>], width: usize) -> Vec<f64> {
        let mut acc = vec![ExactSum::new(); width];
        let mut levels = ExactColumns::new(width);
        for row in rows {
            levels.add_row(&mut acc, 0, row);
        }
        levels.flush(&mut acc);
        acc.iter().map(ExactSum::value).collect()
    }

    #[test]
    fn growing_magnitudes_tiny_terms_and_specials_are_exact() {
        let width = 3;
        let mut rows: Vec<Vec<f64>> = (0..10_000).map(|i| vec![0.1 * i as f64, 1e-30, -(i as f64)]).collect();
        rows.push(vec![1e300, 1e-300, 5e-324]);
        rows.push(vec![-1e300, f64::INFINITY, 0.0]);
        rows.push(vec![1e-200, 1.0, 1.0]);
        let (a, b) = (by_element(&rows, width), by_levels(&rows, width));
        assert_eq!(a[0].to_bits(), b[0].to_bits());
        assert_eq!(a[2].to_bits(), b[2].to_bits());
        assert!(b[1].is_infinite());
    }

    proptest! {
        #[test]
        fn matches_per_element_sums(
            rows in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![-1e6f64..1e6, -1e-9f64..1e-9, Just(0.0), -1e150f64..1e150], 5),
                1..300,
            )
        ) {
            let (a, b) = (by_element(&rows, 5), by_levels(&rows, 5));
            for (x, y) in a.iter().zip(&b) {
                prop_assert_eq!(x.to_bits(), y.to_bits());
            }
        }
    }
}
