//! Exactly rounded floating point sums.
//!
//! A float64 is `m * 2^(e - 1075)` with a 53-bit `m`: an integer multiple of 2^-1074.
//! [`ExactSum`] keeps the running sum as such an integer, in 32-bit digits held in
//! `i64` limbs with lazy carries, so adding is exact and the final rounding happens
//! once. The result is the correctly rounded sum, whatever the order of the terms:
//! this is what makes `sum` bit-identical across chunkings, schedulers, thread counts
//! and workers, while being more accurate than numpy's pairwise summation.
//!
//! Whole tiles go through a fast path: the terms are shifted onto a common exponent and
//! summed in an `i128` when none of them loses bits that way (the common case), and
//! only the remaining terms take the per-element path.

use crate::levels;
use crate::simd::{Simd, simd};

const LIMBS: usize = 70;
/// Carries are propagated before any limb can overflow: each add moves a limb by less
/// than 2^32, so 2^30 adds are safe.
const MAX_PENDING: u32 = 1 << 30;

/// An exact accumulator for float64 sums (float32 and integers convert exactly).
#[derive(Clone, Debug, PartialEq)]
pub struct ExactSum {
    limbs: [i64; LIMBS],
    pending: u32,
    nan: bool,
    pos_inf: bool,
    neg_inf: bool,
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum { limbs: [0; LIMBS], pending: 0, nan: false, pos_inf: false, neg_inf: false }
    }
}

impl ExactSum {
    /// An empty sum (zero).
    pub fn new() -> ExactSum {
        ExactSum::default()
    }

    /// Adds one value.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as u32;
        let frac = bits & ((1u64 << 52) - 1);
        if exp == 0x7ff {
            self.add_special(x);
            return;
        }
        let (mant, e) = if exp == 0 { (frac, 1) } else { (frac | (1u64 << 52), exp) };
        if mant == 0 {
            return;
        }
        // The lowest bit of `mant` has weight 2^(e - 1075) = 2^-1074 * 2^(e - 1).
        self.add_bits(u128::from(mant), (e - 1) as usize, x.is_sign_negative());
    }

    /// Adds `value * count` exactly (a constant tile of `count` elements).
    pub fn add_repeated(&mut self, value: f64, count: usize) {
        if count == 0 {
            return;
        }
        if !value.is_finite() {
            self.add_special(value);
            return;
        }
        let n = count as f64; // exact: counts stay far below 2^53
        let product = value * n;
        if !product.is_finite() {
            // Too large for one float: add in halves.
            self.add_repeated(value, count / 2);
            self.add_repeated(value, count - count / 2);
            return;
        }
        let error = value.mul_add(n, -product);
        self.add(product);
        self.add(error);
    }

    /// Adds the exact square of every value of a slice: each rounded product and its
    /// error (for the variance's second moment).
    pub fn add_squares(&mut self, xs: &[f64]) {
        let mut products = [0.0; 1024];
        let mut errors = [0.0; 1024];
        for chunk in xs.chunks(1024) {
            let n = chunk.len();
            levels::square_parts(chunk, &mut products[..n], &mut errors[..n]);
            self.add_chunk(&products[..n]);
            self.add_chunk(&errors[..n]);
        }
    }

    /// The sum as a double-double: the correctly rounded sum and the rounded rest.
    pub fn value_dd(&self) -> (f64, f64) {
        let hi = self.value();
        if !hi.is_finite() {
            return (hi, 0.0);
        }
        let mut rest = self.clone();
        rest.add(-hi);
        (hi, rest.value())
    }

    /// Adds every value of a slice.
    pub fn add_slice(&mut self, xs: &[f64]) {
        for chunk in xs.chunks(4096) {
            self.add_chunk(chunk);
        }
    }

    /// Splits every term into three slices of 40 bits aligned on common exponents
    /// (Rump, Ogita and Oishi's `ExtractVector`, all three levels in one pass; the
    /// vector kernels are in [`crate::levels`]): the slices of one level add up exactly
    /// in plain float arithmetic, in any order. Bits below the third level (rare: a
    /// chunk spanning more than 120 binary orders of magnitude) take the per-element
    /// path.
    fn add_chunk(&mut self, xs: &[f64]) {
        let Some(e) = top_exponent(xs) else {
            xs.iter().for_each(|&x| self.add(x));
            return;
        };
        let s = sigmas(e);
        let (levels, left) = levels::sum(s, xs);
        // Every level's sum is a multiple of its ulp(sigma) below sigma: exact.
        for level in levels {
            self.add(level);
        }
        if left != 0 {
            for &x in xs {
                let r = levels::split(s, x).1;
                if r != 0.0 {
                    self.add(r);
                }
            }
        }
    }

    /// Adds `±magnitude * 2^(position - 1074)`.
    #[inline]
    fn add_bits(&mut self, magnitude: u128, position: usize, negative: bool) {
        if magnitude == 0 {
            return;
        }
        let limb = position / 32;
        let shift = position % 32;
        let low = magnitude << shift;
        let high = if shift == 0 { 0 } else { magnitude >> (128 - shift) };
        let digits = [
            (low & 0xffff_ffff) as i64,
            ((low >> 32) & 0xffff_ffff) as i64,
            ((low >> 64) & 0xffff_ffff) as i64,
            (low >> 96) as i64,
            high as i64,
        ];
        let used = if magnitude >> 53 == 0 && shift <= 32 { 3 } else { 5 };
        for (i, &d) in digits.iter().enumerate().take(used) {
            if negative {
                self.limbs[limb + i] -= d;
            } else {
                self.limbs[limb + i] += d;
            }
        }
        self.pending += 1;
        if self.pending >= MAX_PENDING {
            self.normalize();
        }
    }

    fn add_special(&mut self, x: f64) {
        if x.is_nan() {
            self.nan = true;
        } else if x > 0.0 {
            self.pos_inf = true;
        } else {
            self.neg_inf = true;
        }
    }

    /// Adds another accumulator (exact, so the order of merges does not matter).
    pub fn merge(&mut self, other: &ExactSum) {
        let mut other = other.clone();
        other.normalize();
        self.normalize();
        for (a, b) in self.limbs.iter_mut().zip(other.limbs.iter()) {
            *a += b;
        }
        self.pending = 2;
        self.nan |= other.nan;
        self.pos_inf |= other.pos_inf;
        self.neg_inf |= other.neg_inf;
    }

    /// Propagates carries: afterwards every limb but the last is in `[0, 2^32)`.
    fn normalize(&mut self) {
        for i in 0..LIMBS - 1 {
            let carry = self.limbs[i] >> 32;
            self.limbs[i] -= carry << 32;
            self.limbs[i + 1] += carry;
        }
        self.pending = 0;
    }

    /// The accumulator's state for the wire: normalized limbs and the special flags
    /// (bit 0 NaN, bit 1 +inf, bit 2 -inf).
    pub fn to_parts(&self) -> (Vec<i64>, u8) {
        let mut n = self.clone();
        n.normalize();
        (n.limbs.to_vec(), u8::from(n.nan) | (u8::from(n.pos_inf) << 1) | (u8::from(n.neg_inf) << 2))
    }

    /// Rebuilds an accumulator from [`ExactSum::to_parts`]; `None` if the limbs are not
    /// a normalized state.
    pub fn from_parts(limbs: &[i64], flags: u8) -> Option<ExactSum> {
        if limbs.len() != LIMBS || limbs[..LIMBS - 1].iter().any(|&l| !(0..1 << 32).contains(&l)) {
            return None;
        }
        let mut s = ExactSum::new();
        s.limbs.copy_from_slice(limbs);
        s.nan = flags & 1 != 0;
        s.pos_inf = flags & 2 != 0;
        s.neg_inf = flags & 4 != 0;
        Some(s)
    }

    /// Number of limbs in [`ExactSum::to_parts`].
    pub const LIMBS: usize = LIMBS;

    /// The sum, correctly rounded to float64 (round half to even).
    pub fn value(&self) -> f64 {
        if self.nan || (self.pos_inf && self.neg_inf) {
            return f64::NAN;
        }
        if self.pos_inf {
            return f64::INFINITY;
        }
        if self.neg_inf {
            return f64::NEG_INFINITY;
        }
        let mut digits = self.clone();
        digits.normalize();
        let negative = digits.limbs[LIMBS - 1] < 0;
        if negative {
            digits.limbs.iter_mut().for_each(|l| *l = -*l);
            digits.normalize();
        }
        let Some(top) = digits.limbs.iter().rposition(|&l| l != 0) else {
            return 0.0;
        };
        let limb = |i: isize| if i < 0 { 0u128 } else { digits.limbs[i as usize] as u128 };
        let t = top as isize;
        let window = (limb(t) << 64) | (limb(t - 1) << 32) | limb(t - 2);
        let sticky = t >= 3 && digits.limbs[..(t - 2) as usize].iter().any(|&l| l != 0);
        let bits = 128 - window.leading_zeros() as i32;
        let mut exponent = 32 * (t as i32 - 2) - 1074;
        let mut mant = window;
        if bits > 53 {
            let drop = bits - 53;
            let rest = window & ((1u128 << drop) - 1);
            let half = 1u128 << (drop - 1);
            mant = window >> drop;
            exponent += drop;
            if rest > half || (rest == half && (sticky || mant & 1 == 1)) {
                mant += 1;
                if mant >> 53 != 0 {
                    mant >>= 1;
                    exponent += 1;
                }
            }
        }
        let magnitude = scale(mant as f64, exponent);
        if negative { -magnitude } else { magnitude }
    }
}

/// `m * 2^e`, exact whenever the result is representable.
fn scale(m: f64, e: i32) -> f64 {
    let pow = |k: i32| f64::from_bits(((k + 1023) as u64) << 52);
    let half = e / 2;
    let rest = e - half;
    if !(-1022..=1023).contains(&half) || !(-1022..=1023).contains(&rest) {
        return if e > 0 { f64::INFINITY } else { 0.0 };
    }
    m * pow(half) * pow(rest)
}

/// 2^13 >= 4096 + 2 terms: the headroom of each level's sigma over its terms.
const HEADROOM: i32 = 13;

/// `2^(e + HEADROOM)`, the splitting constant for terms below `2^e`.
#[inline(always)]
fn sigma(e: i32) -> f64 {
    f64::from_bits(((e + HEADROOM + 1023) as u64) << 52)
}

/// The splitting constants of the three levels for terms below `2^e`.
#[inline(always)]
pub(crate) fn sigmas(e: i32) -> [f64; 3] {
    [sigma(e), sigma(e + HEADROOM - 53), sigma(e + 2 * (HEADROOM - 53))]
}

/// The `e` with every term below `2^e`, or `None` when some term is not finite or the
/// levels' constants would leave the normal range (those terms take the per-element
/// path).
pub(crate) fn top_exponent(xs: &[f64]) -> Option<i32> {
    let emax = max_exponent(xs);
    let e = emax as i32 - 1022;
    (emax != 0x7ff && e + HEADROOM <= 1023 && e >= -900).then_some(e)
}

/// The biased exponent field of the largest `|x|` (0x7ff when some term is not finite).
fn max_exponent(xs: &[f64]) -> u64 {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX-512F, checked by `simd`.
        Simd::Avx512 => unsafe { max_exponent_avx512(xs) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX2, checked by `simd`.
        Simd::Avx2 => unsafe { max_exponent_avx2(xs) },
        _ => max_exponent_portable(xs),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn max_exponent_avx512(xs: &[f64]) -> u64 {
    max_exponent_portable(xs)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_exponent_avx2(xs: &[f64]) -> u64 {
    max_exponent_portable(xs)
}

/// The largest magnitude's bits, as a signed integer maximum the compiler vectorizes
/// (magnitude bits order as the magnitudes do, and NaN and infinity sort last).
#[inline(always)]
fn max_exponent_portable(xs: &[f64]) -> u64 {
    let largest = xs.iter().fold(0i64, |m, x| m.max((x.to_bits() & !(1u64 << 63)) as i64));
    (largest as u64) >> 52
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Python's `math.fsum` (Shewchuk's algorithm with a correct final rounding): an
    /// independent reference for the correctly rounded sum.
    fn fsum(xs: &[f64]) -> f64 {
        let mut partials: Vec<f64> = Vec::new();
        for &x0 in xs {
            let mut x = x0;
            let mut i = 0;
            for j in 0..partials.len() {
                let mut y = partials[j];
                if x.abs() < y.abs() {
                    std::mem::swap(&mut x, &mut y);
                }
                let hi = x + y;
                let lo = y - (hi - x);
                if lo != 0.0 {
                    partials[i] = lo;
                    i += 1;
                }
                x = hi;
            }
            partials.truncate(i);
            partials.push(x);
        }
        let mut n = partials.len();
        if n == 0 {
            return 0.0;
        }
        n -= 1;
        let mut hi = partials[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = partials[n];
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            let yr = x - hi;
            if y == yr {
                hi = x;
            }
        }
        hi
    }

    fn exact(xs: &[f64]) -> f64 {
        let mut s = ExactSum::new();
        s.add_slice(xs);
        s.value()
    }

    #[test]
    fn cancellation_and_tiny_terms() {
        assert_eq!(exact(&[1e300, 1.0, -1e300]), 1.0);
        assert_eq!(exact(&[0.1; 10]), fsum(&[0.1; 10]));
        assert_eq!(exact(&[f64::MIN_POSITIVE / 4.0, 5e-324]), f64::MIN_POSITIVE / 4.0 + 5e-324);
        assert_eq!(exact(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert!(exact(&[1.0, f64::NAN]).is_nan());
        assert!(exact(&[f64::INFINITY, f64::NEG_INFINITY]).is_nan());
        assert_eq!(exact(&[]), 0.0);
        assert_eq!(exact(&[-2.5, -0.5]), -3.0);
    }

    #[test]
    fn repeated_constant_is_exact() {
        let mut s = ExactSum::new();
        s.add_repeated(0.1, 1000);
        assert_eq!(s.value(), fsum(&vec![0.1; 1000]));
        let mut t = ExactSum::new();
        t.add_repeated(1.0, 400_000_000);
        assert_eq!(t.value(), 4e8);
    }

    #[test]
    fn merge_is_order_independent() {
        let xs: Vec<f64> = (0..1000).map(|i| ((i * 7919) % 1000) as f64 * 1e-3 - 0.37).collect();
        let mut a = ExactSum::new();
        let mut b = ExactSum::new();
        a.add_slice(&xs[..300]);
        b.add_slice(&xs[300..]);
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab.value().to_bits(), ba.value().to_bits());
        assert_eq!(ab.value(), fsum(&xs));
    }

    proptest! {
        #[test]
        fn matches_fsum(xs in proptest::collection::vec(
            prop_oneof![
                -1e6f64..1e6,
                (-1.0f64..1.0).prop_map(|x| x * 1e-300),
                (-1.0f64..1.0).prop_map(|x| x * 1e300),
                proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL,
            ],
            0..200,
        )) {
            let reference = fsum(&xs);
            prop_assume!(reference.is_finite());
            let mut per_element = ExactSum::new();
            xs.iter().for_each(|&x| per_element.add(x));
            prop_assert_eq!(exact(&xs).to_bits(), reference.to_bits());
            prop_assert_eq!(per_element.value().to_bits(), reference.to_bits());
        }
    }
}
