//! `argmin` and `argmax`: per state the best value so far and its position.
//!
//! numpy's rules: the first occurrence wins a tie, and a NaN beats every number (the
//! position of the first NaN). Written as "is the candidate better than the state",
//! with ties and NaN pairs going to the smaller position, the merge of two partials
//! is the same whatever their order, so the reduction tree's shape never shows.

use tessera_graph::ReduceOp;

/// Whether `(x, i)` replaces the state `(s, j)` for `argmax` (`max`) or `argmin`.
pub(crate) fn better_f64(max: bool, x: f64, i: i64, s: f64, j: i64) -> bool {
    if j < 0 {
        return true;
    }
    match (x.is_nan(), s.is_nan()) {
        (true, true) => i < j,
        (true, false) => true,
        (false, true) => false,
        _ if x == s => i < j,
        _ => {
            if max {
                x > s
            } else {
                x < s
            }
        }
    }
}

/// The same for integers.
pub(crate) fn better_i64(max: bool, x: i64, i: i64, s: i64, j: i64) -> bool {
    j < 0 || (x == s && i < j) || if max { x > s } else { x < s }
}

/// Whether `op` is `argmax`.
pub(crate) fn is_max(op: ReduceOp) -> bool {
    op == ReduceOp::ArgMax
}

/// Positions of elements for an arg reduction over `axes` of an array of `shape`: the
/// coordinate along the one reduced axis, or the flat index when all are reduced.
pub(crate) struct Positions {
    /// Weight of each global coordinate in the position.
    weights: Vec<i64>,
}

impl Positions {
    pub(crate) fn new(shape: &[usize], axes: &[usize]) -> Positions {
        let n = shape.len();
        let weights = if axes.len() == 1 && n > 1 {
            (0..n).map(|a| i64::from(a == axes[0])).collect()
        } else {
            let mut w = vec![1i64; n];
            for a in (0..n.saturating_sub(1)).rev() {
                w[a] = w[a + 1] * shape[a + 1] as i64;
            }
            w
        };
        Positions { weights }
    }

    /// The position of the element at global coordinates `g`.
    pub(crate) fn of(&self, g: &[usize]) -> i64 {
        g.iter().zip(&self.weights).map(|(&c, &w)| c as i64 * w).sum()
    }

    /// The position's step along the last axis.
    pub(crate) fn last_step(&self) -> i64 {
        self.weights.last().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_occurrences_and_nans_win_in_any_order() {
        assert!(better_f64(true, 3.0, 5, 1.0, 2));
        assert!(!better_f64(true, 3.0, 5, 3.0, 2), "a later tie loses");
        assert!(better_f64(true, 3.0, 1, 3.0, 2), "an earlier tie wins, whatever the merge order");
        assert!(better_f64(false, f64::NAN, 9, -1e300, 0), "NaN wins argmin too");
        assert!(!better_f64(true, 7.0, 0, f64::NAN, 4));
        assert!(better_f64(true, f64::NAN, 1, f64::NAN, 4));
        assert!(better_i64(false, -2, 3, 5, 0) && !better_i64(false, 5, 3, 5, 0));
        let p = Positions::new(&[3, 4], &[0, 1]);
        assert_eq!(p.of(&[2, 1]), 9);
        assert_eq!(Positions::new(&[3, 4], &[1]).of(&[2, 1]), 1);
    }
}
