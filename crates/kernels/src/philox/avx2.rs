//! The AVX2 fill: four counters per register, two register groups interleaved.

use super::{F64_SCALE, M0, M1, W0, W1, key_of, uniform_f64};

/// `v * 2^-53` for four integers below 2^53, exactly as `(v as f64) * 2^-53`: each
/// half goes through the 2^52 "magic number" conversion, and the halves recombine
/// without rounding because the result is an integer below 2^53.
#[target_feature(enable = "avx2")]
fn to_unit_f64(v: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256d {
    use std::arch::x86_64::*;
    let magic = _mm256_set1_epi64x(0x4330_0000_0000_0000);
    let two52 = _mm256_set1_pd(4_503_599_627_370_496.0);
    let low = _mm256_or_si256(_mm256_and_si256(v, _mm256_set1_epi64x(0xffff_ffff)), magic);
    let high = _mm256_or_si256(_mm256_srli_epi64(v, 32), magic);
    let low = _mm256_sub_pd(_mm256_castsi256_pd(low), two52);
    let high = _mm256_sub_pd(_mm256_castsi256_pd(high), two52);
    let whole = _mm256_add_pd(_mm256_mul_pd(high, _mm256_set1_pd(4_294_967_296.0)), low);
    _mm256_mul_pd(whole, _mm256_set1_pd(F64_SCALE))
}

/// The same values as [`fill_f64_portable`], eight counters at a time in AVX2 registers.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn fill_f64(seed: u64, start: u64, out: &mut [f64]) {
    use std::arch::x86_64::*;
    let n = out.len();
    let mut i = 0;
    if start & 1 == 1 && n > 0 {
        out[0] = uniform_f64(seed, start);
        i = 1;
    }
    const GROUPS: usize = 2;
    let key = key_of(seed);
    let m0 = _mm256_set1_epi64x(M0 as i64);
    let m1 = _mm256_set1_epi64x(M1 as i64);
    let lo = _mm256_set1_epi64x(0xffff_ffff);
    while i + 2 * 4 * GROUPS <= n {
        let first = (start + i as u64) >> 1;
        // Groups of four counters, interleaved so the multiply latency is hidden.
        let mut c = [[_mm256_setzero_si256(); 4]; GROUPS];
        for (g, group) in c.iter_mut().enumerate() {
            let base = first + 4 * g as u64;
            let counters = [base, base + 1, base + 2, base + 3];
            group[0] = _mm256_set_epi64x(
                (counters[3] & 0xffff_ffff) as i64,
                (counters[2] & 0xffff_ffff) as i64,
                (counters[1] & 0xffff_ffff) as i64,
                (counters[0] & 0xffff_ffff) as i64,
            );
            group[1] = _mm256_set_epi64x(
                (counters[3] >> 32) as i64,
                (counters[2] >> 32) as i64,
                (counters[1] >> 32) as i64,
                (counters[0] >> 32) as i64,
            );
        }
        let (mut k0, mut k1) = (key[0], key[1]);
        for round in 0..10 {
            if round > 0 {
                k0 = k0.wrapping_add(W0);
                k1 = k1.wrapping_add(W1);
            }
            let kv0 = _mm256_set1_epi64x(i64::from(k0));
            let kv1 = _mm256_set1_epi64x(i64::from(k1));
            for group in c.iter_mut() {
                let p0 = _mm256_mul_epu32(group[0], m0);
                let p1 = _mm256_mul_epu32(group[2], m1);
                let n0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p1, 32), group[1]), kv0);
                let n2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(p0, 32), group[3]), kv1);
                group[1] = _mm256_and_si256(p1, lo);
                group[3] = _mm256_and_si256(p0, lo);
                group[0] = n0;
                group[2] = n2;
            }
        }
        for (g, group) in c.iter().enumerate() {
            let a = _mm256_srli_epi64(_mm256_or_si256(_mm256_slli_epi64(group[1], 32), group[0]), 11);
            let b = _mm256_srli_epi64(_mm256_or_si256(_mm256_slli_epi64(group[3], 32), group[2]), 11);
            let (fa, fb) = (to_unit_f64(a), to_unit_f64(b));
            // Element 2l comes from lane l of `a`, element 2l+1 from lane l of `b`.
            let lo = _mm256_unpacklo_pd(fa, fb);
            let hi = _mm256_unpackhi_pd(fa, fb);
            let first = _mm256_permute2f128_pd(lo, hi, 0x20);
            let second = _mm256_permute2f128_pd(lo, hi, 0x31);
            let dst = &mut out[i + 8 * g..i + 8 * g + 8];
            // SAFETY: `dst` holds exactly eight f64, two registers' worth.
            unsafe {
                _mm256_storeu_pd(dst.as_mut_ptr(), first);
                _mm256_storeu_pd(dst.as_mut_ptr().add(4), second);
            }
        }
        i += 2 * 4 * GROUPS;
    }
    for (j, slot) in out.iter_mut().enumerate().skip(i) {
        *slot = uniform_f64(seed, start + j as u64);
    }
}
