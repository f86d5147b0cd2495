//! The vector kernels of the exact sums: every term split onto three float levels
//! against common constants (Rump, Ogita and Oishi's `ExtractVector`; see
//! [`crate::exact_sum`]), the parts of one level added in plain float arithmetic
//! (exact, so in any order), and whether any term left a residue below the third level.
//!
//! Two shapes, and the squares the variance sums: [`sum`] folds a slice into one total per level (a row reduced into one
//! state), [`add_columns`] adds each term into its own column's levels (a row added to
//! a row of states), [`square_parts`] splits squares into product and error. Each has an AVX-512 path written with intrinsics, so the levels
//! stay in registers (the compiler's own vectorization of the portable loop shuffled
//! every lane through the stack: 2 ns per value instead of a fraction), and a portable
//! path; IEEE additions give every path the same bits.

use crate::simd::{Simd, simd};

/// The parts of `x` on the three levels of `s` and the residue below them.
#[inline(always)]
pub(crate) fn split(s: [f64; 3], x: f64) -> ([f64; 3], f64) {
    let q0 = (s[0] + x) - s[0];
    let r = x - q0;
    let q1 = (s[1] + r) - s[1];
    let r = r - q1;
    let q2 = (s[2] + r) - s[2];
    ([q0, q1, q2], r - q2)
}

/// The sums of the terms' parts per level, and a nonzero word when some term has a
/// residue below the third level.
pub(crate) fn sum(s: [f64; 3], xs: &[f64]) -> ([f64; 3], u64) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX-512F, checked by `simd`.
        Simd::Avx512 => unsafe { avx512::sum(s, xs) },
        _ => sum_portable(s, xs),
    }
}

/// Adds the parts of each row of `xs` (row-major, `width` columns) to the levels:
/// element `(r, j)` to `levels[k][j]`. Nonzero when some term has a residue below the
/// third level.
pub(crate) fn add_columns(s: [f64; 3], xs: &[f64], width: usize, levels: [&mut [f64]; 3]) -> u64 {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX-512F, checked by `simd`.
        Simd::Avx512 => unsafe { avx512::add_columns(s, xs, width, levels) },
        _ => add_columns_portable(s, xs, width, levels),
    }
}

/// The exact squares of `xs`: `products[j]` the rounded `x * x`, `errors[j]` what
/// rounding dropped (exact, by a fused multiply-add). A square that overflows has
/// error 0, so the sum of squares is infinite rather than NaN.
pub(crate) fn square_parts(xs: &[f64], products: &mut [f64], errors: &mut [f64]) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX-512F, checked by `simd`.
        Simd::Avx512 => unsafe { avx512::square_parts(xs, products, errors) },
        _ => square_parts_portable(xs, products, errors),
    }
}

fn square_parts_portable(xs: &[f64], products: &mut [f64], errors: &mut [f64]) {
    for ((&x, p), e) in xs.iter().zip(products.iter_mut()).zip(errors.iter_mut()) {
        *p = x * x;
        *e = if p.is_finite() { x.mul_add(x, -*p) } else { 0.0 };
    }
}

fn sum_portable(s: [f64; 3], xs: &[f64]) -> ([f64; 3], u64) {
    let mut acc = [0.0; 3];
    let mut left = 0;
    for &x in xs {
        let (q, r) = split(s, x);
        (0..3).for_each(|k| acc[k] += q[k]);
        left |= r.to_bits() << 1;
    }
    (acc, left)
}

fn add_columns_portable(s: [f64; 3], xs: &[f64], width: usize, [l0, l1, l2]: [&mut [f64]; 3]) -> u64 {
    let mut left = 0;
    for row in xs.chunks(width.max(1)) {
        for (j, &x) in row.iter().enumerate() {
            let (q, r) = split(s, x);
            l0[j] += q[0];
            l1[j] += q[1];
            l2[j] += q[2];
            left |= r.to_bits() << 1;
        }
    }
    left
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Eight terms split at once: their parts on the three levels and their residues.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn split8(s: &[__m512d; 3], x: __m512d) -> ([__m512d; 3], __m512d) {
        let q0 = _mm512_sub_pd(_mm512_add_pd(s[0], x), s[0]);
        let r = _mm512_sub_pd(x, q0);
        let q1 = _mm512_sub_pd(_mm512_add_pd(s[1], r), s[1]);
        let r = _mm512_sub_pd(r, q1);
        let q2 = _mm512_sub_pd(_mm512_add_pd(s[2], r), s[2]);
        ([q0, q1, q2], _mm512_sub_pd(r, q2))
    }

    /// The residue's bits without the sign, OR-ed into `left`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn or_residue(left: __m512i, r: __m512d) -> __m512i {
        _mm512_or_si512(left, _mm512_slli_epi64::<1>(_mm512_castpd_si512(r)))
    }

    #[target_feature(enable = "avx512f")]
    pub(super) fn sum(s: [f64; 3], xs: &[f64]) -> ([f64; 3], u64) {
        let sv = s.map(|v| _mm512_set1_pd(v));
        // Two accumulators per level hide the addition latency.
        let mut acc = [[_mm512_setzero_pd(); 3]; 2];
        let mut left = _mm512_setzero_si512();
        let mut pairs = xs.chunks_exact(16);
        for pair in &mut pairs {
            for (half, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `pair` holds 16 values; each half reads 8 of them.
                let x = unsafe { _mm512_loadu_pd(pair.as_ptr().add(8 * half)) };
                let (q, r) = split8(&sv, x);
                for k in 0..3 {
                    acc[k] = _mm512_add_pd(acc[k], q[k]);
                }
                left = or_residue(left, r);
            }
        }
        let mut totals = [0.0; 3];
        for k in 0..3 {
            totals[k] = _mm512_reduce_add_pd(_mm512_add_pd(acc[0][k], acc[1][k]));
        }
        let (rest, rest_left) = super::sum_portable(s, pairs.remainder());
        (0..3).for_each(|k| totals[k] += rest[k]);
        let mut words = [0u64; 8];
        // SAFETY: `words` holds 8 u64.
        unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), left) };
        (totals, words.iter().fold(rest_left, |a, &w| a | w))
    }

    #[target_feature(enable = "avx512f")]
    pub(super) fn square_parts(xs: &[f64], products: &mut [f64], errors: &mut [f64]) {
        let n = xs.len().min(products.len()).min(errors.len());
        let whole = n / 8 * 8;
        let infinity = _mm512_set1_pd(f64::INFINITY);
        for j in (0..whole).step_by(8) {
            // SAFETY: `j + 8 <= n`, within every slice.
            unsafe {
                let x = _mm512_loadu_pd(xs.as_ptr().add(j));
                let p = _mm512_mul_pd(x, x);
                let finite = _mm512_cmp_pd_mask::<_CMP_LT_OQ>(p, infinity);
                let e = _mm512_maskz_mov_pd(finite, _mm512_fmsub_pd(x, x, p));
                _mm512_storeu_pd(products.as_mut_ptr().add(j), p);
                _mm512_storeu_pd(errors.as_mut_ptr().add(j), e);
            }
        }
        super::square_parts_portable(&xs[whole..n], &mut products[whole..n], &mut errors[whole..n]);
    }

    /// Eight columns at a time: their levels stay in registers while every row of the
    /// strip goes by, so a level is loaded and stored once per call, not per row.
    #[target_feature(enable = "avx512f")]
    pub(super) fn add_columns(s: [f64; 3], xs: &[f64], width: usize, [l0, l1, l2]: [&mut [f64]; 3]) -> u64 {
        let sv = s.map(|v| _mm512_set1_pd(v));
        let width = width.min(l0.len()).min(l1.len()).min(l2.len()).max(1);
        let rows = xs.len() / width;
        let whole = width / 8 * 8;
        let mut left = _mm512_setzero_si512();
        let (x, p0, p1, p2) = (xs.as_ptr(), l0.as_mut_ptr(), l1.as_mut_ptr(), l2.as_mut_ptr());
        for j in (0..whole).step_by(8) {
            // SAFETY: `j + 8 <= width`, within every level; row `r` reads
            // `xs[r * width + j..][..8]`, within `xs` for `r < rows`.
            unsafe {
                let mut acc = [_mm512_loadu_pd(p0.add(j)), _mm512_loadu_pd(p1.add(j)), _mm512_loadu_pd(p2.add(j))];
                for r in 0..rows {
                    let (q, res) = split8(&sv, _mm512_loadu_pd(x.add(r * width + j)));
                    for k in 0..3 {
                        acc[k] = _mm512_add_pd(acc[k], q[k]);
                    }
                    left = or_residue(left, res);
                }
                _mm512_storeu_pd(p0.add(j), acc[0]);
                _mm512_storeu_pd(p1.add(j), acc[1]);
                _mm512_storeu_pd(p2.add(j), acc[2]);
            }
        }
        let mut rest = 0;
        if whole < width {
            for row in xs.chunks_exact(width) {
                let tail = &row[whole..];
                let levels = [&mut l0[whole..width], &mut l1[whole..width], &mut l2[whole..width]];
                rest |= super::add_columns_portable(s, tail, tail.len(), levels);
            }
        }
        let mut words = [0u64; 8];
        // SAFETY: `words` holds 8 u64.
        unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), left) };
        words.iter().fold(rest, |a, &w| a | w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The vector paths give the portable path's bits.
        #[test]
        fn every_path_gives_the_same_levels(
            xs in proptest::collection::vec(prop_oneof![-1e6f64..1e6, -1e-30f64..1e-30, Just(0.0)], 0..100),
        ) {
            let s = crate::exact_sum::sigmas(21);
            let (a, la) = sum(s, &xs);
            let (b, lb) = sum_portable(s, &xs);
            prop_assert_eq!(a.map(f64::to_bits), b.map(f64::to_bits));
            prop_assert_eq!(la != 0, lb != 0);
            let mut v = [vec![0.5; xs.len()], vec![0.0; xs.len()], vec![0.0; xs.len()]];
            let mut w = v.clone();
            let [v0, v1, v2] = &mut v;
            let [w0, w1, w2] = &mut w;
            let lv = add_columns(s, &xs, xs.len(), [v0, v1, v2]);
            let lw = add_columns_portable(s, &xs, xs.len(), [w0, w1, w2]);
            prop_assert_eq!(&v, &w);
            prop_assert_eq!(lv != 0, lw != 0);
            let (mut p, mut e) = (vec![0.0; xs.len()], vec![0.0; xs.len()]);
            let (mut q, mut f) = (p.clone(), e.clone());
            square_parts(&xs, &mut p, &mut e);
            square_parts_portable(&xs, &mut q, &mut f);
            prop_assert_eq!((p, e), (q, f));
        }

        /// Rows of a strip add into their columns' levels as one row at a time does.
        #[test]
        fn strips_add_rows_into_columns(width in 1usize..20, rows in 1usize..9, seed in 0u64..1000) {
            let xs: Vec<f64> = (0..width * rows).map(|i| crate::philox::uniform_f64(seed, i as u64) - 0.3).collect();
            let s = crate::exact_sum::sigmas(1);
            let mut v = [vec![0.0; width], vec![0.0; width], vec![0.0; width]];
            let mut w = v.clone();
            let [v0, v1, v2] = &mut v;
            add_columns(s, &xs, width, [v0, v1, v2]);
            for row in xs.chunks(width) {
                let [w0, w1, w2] = &mut w;
                add_columns_portable(s, row, width, [w0, w1, w2]);
            }
            prop_assert_eq!(v, w);
        }
    }
}
