//! Moment reductions (`var`, `nanmean`, `nanvar`) as exact sums of per-value terms.
//!
//! Each value contributes terms to a few blocks of exact accumulators (*slots*): its
//! value to `S1`, its square — the rounded product and that product's rounding error,
//! so nothing is lost — to `S2`, and, for the NaN-skipping reductions, a 1 to the count
//! `N` (a NaN contributes 0 everywhere). The partial is the slots one after another,
//! so partials merge elementwise whatever the reduction.

use tessera_graph::ReduceOp;

/// The slot each term of `op` goes into, in term order.
pub(crate) fn term_slots(op: ReduceOp) -> &'static [usize] {
    match op {
        ReduceOp::NanMean => &[0, 1],
        ReduceOp::NanVar { .. } => &[0, 1, 1, 2],
        _ => &[0, 1, 1],
    }
}

/// How many slots `op`'s partial has.
pub(crate) fn slots(op: ReduceOp) -> usize {
    term_slots(op).iter().max().map_or(1, |s| s + 1)
}

/// The terms of `values` for `op`, one vector per term (reused between tiles).
pub(crate) fn terms(op: ReduceOp, values: &[f64], out: &mut Vec<Vec<f64>>) {
    let n = values.len();
    let count = term_slots(op).len();
    out.resize_with(count, Vec::new);
    out.iter_mut().for_each(|t| t.resize(n, 0.0));
    let skip_nan = matches!(op, ReduceOp::NanMean | ReduceOp::NanVar { .. });
    let (first, rest) = out.split_at_mut(1);
    let cleaned = &mut first[0];
    if skip_nan {
        for (c, &v) in cleaned.iter_mut().zip(values) {
            *c = if v.is_nan() { 0.0 } else { v };
        }
        let counts = &mut rest[rest.len() - 1];
        for (c, &v) in counts.iter_mut().zip(values) {
            *c = if v.is_nan() { 0.0 } else { 1.0 };
        }
    } else {
        cleaned.copy_from_slice(values);
    }
    if !matches!(op, ReduceOp::NanMean) {
        let (products, errors) = rest.split_at_mut(1);
        crate::levels::square_parts(cleaned, &mut products[0], &mut errors[0]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_skipping_terms_count_the_values_that_are_numbers() {
        let mut out = Vec::new();
        terms(ReduceOp::NanVar { ddof: 0 }, &[2.0, f64::NAN, 3.0], &mut out);
        assert_eq!(out[0], [2.0, 0.0, 3.0]);
        assert_eq!(out[1], [4.0, 0.0, 9.0]);
        assert_eq!(out[3], [1.0, 0.0, 1.0]);
        assert_eq!(slots(ReduceOp::NanVar { ddof: 0 }), 3);
        terms(ReduceOp::NanMean, &[f64::NAN, 5.0], &mut out);
        assert_eq!((out.len(), out[0].clone(), out[1].clone()), (2, vec![0.0, 5.0], vec![0.0, 1.0]));
        assert_eq!(slots(ReduceOp::Var { ddof: 1 }), 2);
    }
}
