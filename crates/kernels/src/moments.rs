//! Variance from exact moments: the exact sums of the values (`S1`) and of their
//! exact squares (`S2`, each square the rounded product plus its error, so nothing is
//! lost), finished as `(S2 - S1^2 / n) / max(n - ddof, 0)` in double-double
//! arithmetic. The moments are exact, so the result does not depend on chunking or
//! order; the finish carries about 106 bits, so the cancellation of `S2` against
//! `S1^2 / n` loses nothing a float64 variance can show unless the data's mean is
//! more than 2^25 times its standard deviation (numpy's two passes lose about as much
//! there, through the rounded mean).

use crate::ExactSum;

/// The variance of `n` values from their moments.
pub(crate) fn variance(s1: &ExactSum, s2: &ExactSum, n: u64, ddof: u32) -> f64 {
    let divisor = n.saturating_sub(u64::from(ddof)) as f64;
    let (s1, s2) = (s1.value_dd(), s2.value_dd());
    if !(s1.0.is_finite() && s2.0.is_finite()) || n == 0 {
        // numpy: NaN for NaN data, infinite data and empty slices.
        return if s1.0.is_nan() || s2.0.is_nan() || n == 0 || s1.0.is_infinite() { f64::NAN } else { s2.0 / divisor };
    }
    let mean = div(s1, n as f64);
    let deviation = sub(s2, mul(s1, mean));
    // Rounding can leave a hair below zero when every value is equal.
    ((deviation.0 + deviation.1) / divisor).max(0.0)
}

/// `a + b` exactly, as a rounded sum and its error.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let v = s - a;
    (s, (a - (s - v)) + (b - v))
}

/// `a * b` exactly, as a rounded product and its error.
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

fn mul(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let (p, e) = two_prod(a.0, b.0);
    let e = e + (a.0 * b.1 + a.1 * b.0);
    two_sum(p, e)
}

fn div(a: (f64, f64), d: f64) -> (f64, f64) {
    let q = a.0 / d;
    let (p, e) = two_prod(q, d);
    let r = ((a.0 - p) - e + a.1) / d;
    two_sum(q, r)
}

fn sub(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let (s, e) = two_sum(a.0, -b.0);
    two_sum(s, e + (a.1 - b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var_of(xs: &[f64], ddof: u32) -> f64 {
        let (mut s1, mut s2) = (ExactSum::new(), ExactSum::new());
        s1.add_slice(xs);
        s2.add_squares(xs);
        variance(&s1, &s2, xs.len() as u64, ddof)
    }

    /// numpy's two-pass variance with an exact mean, in f64 (the reference).
    fn two_pass(xs: &[f64], ddof: u32) -> f64 {
        let mut s = ExactSum::new();
        s.add_slice(xs);
        let mean = s.value() / xs.len() as f64;
        let mut d = ExactSum::new();
        xs.iter().for_each(|x| d.add((x - mean) * (x - mean)));
        d.value() / (xs.len() as f64 - f64::from(ddof))
    }

    #[test]
    fn agrees_with_two_passes_even_far_from_zero() {
        for offset in [0.0, 1.0, 1e4, 1e8, -3e6] {
            let xs: Vec<f64> = (0..1000).map(|i| offset + ((i * 7919) % 1000) as f64 / 997.0).collect();
            for ddof in [0, 1] {
                let (a, b) = (var_of(&xs, ddof), two_pass(&xs, ddof));
                assert!((a - b).abs() <= 1e-9 * b, "offset {offset}: {a} vs {b}");
            }
        }
        assert_eq!(var_of(&[3.0; 10], 0), 0.0);
        assert_eq!(var_of(&[1.0, 2.0, 3.0, 4.0], 1), 5.0 / 3.0);
    }

    #[test]
    fn specials_follow_numpy() {
        assert!(var_of(&[1.0, f64::NAN], 0).is_nan());
        assert!(var_of(&[1.0, f64::INFINITY], 0).is_nan());
        assert!(var_of(&[], 0).is_nan());
        // ddof >= n divides by zero: infinite (numpy warns and gives inf).
        assert_eq!(var_of(&[1.0, 2.0], 2), f64::INFINITY);
    }
}
