//! The AVX-512 fills: eight counters per register, four register groups interleaved to
//! hide the multiply latency. A round's three-way XOR is one `vpternlogq`, and the
//! 53-bit integers become float64 in one conversion (AVX512DQ), so a value costs about
//! a third of the AVX2 path's instructions.

use std::arch::x86_64::*;

use super::{F32_SCALE, F64_SCALE, M0, M1, W0, W1, key_of, uniform_f32, uniform_f64};

/// Register groups per step of the long loops.
const GROUPS: usize = 4;
/// `vpternlogq` truth table for `a ^ b ^ c`.
const XOR3: i32 = 0x96;

/// Ten Philox rounds on `G` groups of eight blocks: `c[g] = [c0, c1, c2, c3]`, each a
/// u64 lane whose low half holds the 32-bit word. The high halves carry garbage between
/// rounds (the multiply reads only the low halves); [`words`] drops it.
#[inline]
#[target_feature(enable = "avx512f")]
fn rounds<const G: usize>(c: &mut [[__m512i; 4]; G], key: [u32; 2]) {
    let m0 = _mm512_set1_epi64(M0 as i64);
    let m1 = _mm512_set1_epi64(M1 as i64);
    let (mut k0, mut k1) = (key[0], key[1]);
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        let kv0 = _mm512_set1_epi64(i64::from(k0));
        let kv1 = _mm512_set1_epi64(i64::from(k1));
        for g in c.iter_mut() {
            let p0 = _mm512_mul_epu32(g[0], m0);
            let p1 = _mm512_mul_epu32(g[2], m1);
            g[0] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p1, 32), g[1], kv0, XOR3);
            g[2] = _mm512_ternarylogic_epi64(_mm512_srli_epi64(p0, 32), g[3], kv1, XOR3);
            g[1] = p1;
            g[3] = p0;
        }
    }
}

/// Blocks for eight counters (u64 lanes, below 2^63).
#[inline]
#[target_feature(enable = "avx512f")]
fn start_blocks(counters: __m512i) -> [__m512i; 4] {
    let zero = _mm512_setzero_si512();
    [counters, _mm512_srli_epi64(counters, 32), zero, zero]
}

/// The 64-bit word `hi:lo` of two 32-bit block words.
#[inline]
#[target_feature(enable = "avx512f")]
fn words(hi: __m512i, lo: __m512i) -> __m512i {
    _mm512_or_si512(_mm512_slli_epi64(hi, 32), _mm512_and_si512(lo, _mm512_set1_epi64(0xffff_ffff)))
}

/// `(bits >> 11) * 2^-53`, exactly the scalar conversion (the integer is below 2^53).
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn to_unit_f64(bits: __m512i) -> __m512d {
    _mm512_mul_pd(_mm512_cvtepu64_pd(_mm512_srli_epi64(bits, 11)), _mm512_set1_pd(F64_SCALE))
}

/// The sixteen 64-bit words of eight consecutive blocks in stream order: block `l`'s
/// words `(c1:c0, c3:c2)` land at positions `2l, 2l + 1`.
#[inline]
#[target_feature(enable = "avx512f")]
fn in_order(c: &[__m512i; 4]) -> [__m512i; 2] {
    let (a, b) = (words(c[1], c[0]), words(c[3], c[2]));
    let first = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
    let second = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    [_mm512_permutex2var_epi64(a, first, b), _mm512_permutex2var_epi64(a, second, b)]
}

/// Blocks `first .. first + 8G`, as `G` pairs of in-order word registers.
#[inline]
#[target_feature(enable = "avx512f")]
fn consecutive_blocks<const G: usize>(key: [u32; 2], first: u64) -> [[__m512i; 2]; G] {
    let lanes = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0);
    let mut c = [[_mm512_setzero_si512(); 4]; G];
    for (g, group) in c.iter_mut().enumerate() {
        let base = _mm512_set1_epi64((first + 8 * g as u64) as i64);
        *group = start_blocks(_mm512_add_epi64(base, lanes));
    }
    rounds(&mut c, key);
    let mut ordered = [[_mm512_setzero_si512(); 2]; G];
    for (slot, group) in ordered.iter_mut().zip(&c) {
        *slot = in_order(group);
    }
    ordered
}

/// Fills `out[m]` (`16 G` values) with float64 elements `2 * first + m`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn f64_groups<const G: usize>(key: [u32; 2], first: u64, out: &mut [f64]) {
    for (g, pair) in consecutive_blocks::<G>(key, first).iter().enumerate() {
        for (h, &bits) in pair.iter().enumerate() {
            let dst = &mut out[16 * g + 8 * h..16 * g + 8 * h + 8];
            // SAFETY: `dst` holds exactly eight f64.
            unsafe { _mm512_storeu_pd(dst.as_mut_ptr(), to_unit_f64(bits)) };
        }
    }
}

/// Fills `out[m]` (`32 G` values) with float32 elements `4 * first + m`: the 32-bit
/// halves of the in-order words are the stream's words in order.
#[inline]
#[target_feature(enable = "avx512f")]
fn f32_groups<const G: usize>(key: [u32; 2], first: u64, out: &mut [f32]) {
    let scale = _mm512_set1_ps(F32_SCALE);
    for (g, pair) in consecutive_blocks::<G>(key, first).iter().enumerate() {
        for (h, &bits) in pair.iter().enumerate() {
            let values = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(bits, 8)), scale);
            let dst = &mut out[32 * g + 16 * h..32 * g + 16 * h + 16];
            // SAFETY: `dst` holds exactly sixteen f32.
            unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), values) };
        }
    }
}

/// Fills `out[i]` (`8 G` values) with float64 element `start + step * i`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn strided_groups<const G: usize>(key: [u32; 2], start: i64, step: i64, out: &mut [f64]) {
    let offsets = _mm512_set_epi64(7 * step, 6 * step, 5 * step, 4 * step, 3 * step, 2 * step, step, 0);
    let one = _mm512_set1_epi64(1);
    let mut elements = [_mm512_setzero_si512(); G];
    let mut c = [[_mm512_setzero_si512(); 4]; G];
    for g in 0..G {
        elements[g] = _mm512_add_epi64(_mm512_set1_epi64(start + step * 8 * g as i64), offsets);
        c[g] = start_blocks(_mm512_srli_epi64(elements[g], 1));
    }
    rounds(&mut c, key);
    for g in 0..G {
        // An odd element takes its block's second word.
        let odd = _mm512_test_epi64_mask(elements[g], one);
        let bits = _mm512_mask_blend_epi64(odd, words(c[g][1], c[g][0]), words(c[g][3], c[g][2]));
        let dst = &mut out[8 * g..8 * g + 8];
        // SAFETY: `dst` holds exactly eight f64.
        unsafe { _mm512_storeu_pd(dst.as_mut_ptr(), to_unit_f64(bits)) };
    }
}

/// Contiguous float64 elements `start ..`.
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) fn fill_f64(seed: u64, start: u64, out: &mut [f64]) {
    let key = key_of(seed);
    let mut i = 0;
    if start & 1 == 1 && !out.is_empty() {
        out[0] = uniform_f64(seed, start);
        i = 1;
    }
    while i + 16 * GROUPS <= out.len() {
        f64_groups::<GROUPS>(key, (start + i as u64) >> 1, &mut out[i..]);
        i += 16 * GROUPS;
    }
    while i + 16 <= out.len() {
        f64_groups::<1>(key, (start + i as u64) >> 1, &mut out[i..]);
        i += 16;
    }
    for (j, slot) in out.iter_mut().enumerate().skip(i) {
        *slot = uniform_f64(seed, start + j as u64);
    }
}

/// Contiguous float32 elements `start ..`.
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) fn fill_f32(seed: u64, start: u64, out: &mut [f32]) {
    let key = key_of(seed);
    let lead = (((4 - start % 4) % 4) as usize).min(out.len());
    for (j, slot) in out[..lead].iter_mut().enumerate() {
        *slot = uniform_f32(seed, start + j as u64);
    }
    let mut i = lead;
    while i + 32 * GROUPS <= out.len() {
        f32_groups::<GROUPS>(key, (start + i as u64) >> 2, &mut out[i..]);
        i += 32 * GROUPS;
    }
    while i + 32 <= out.len() {
        f32_groups::<1>(key, (start + i as u64) >> 2, &mut out[i..]);
        i += 32;
    }
    for (j, slot) in out.iter_mut().enumerate().skip(i) {
        *slot = uniform_f32(seed, start + j as u64);
    }
}

/// Float64 elements `start + step * i` (all of them non-negative), one block each.
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) fn fill_f64_strided(seed: u64, start: i64, step: i64, out: &mut [f64]) {
    let key = key_of(seed);
    let mut i = 0;
    while i + 8 * GROUPS <= out.len() {
        strided_groups::<GROUPS>(key, start + step * i as i64, step, &mut out[i..]);
        i += 8 * GROUPS;
    }
    while i + 8 <= out.len() {
        strided_groups::<1>(key, start + step * i as i64, step, &mut out[i..]);
        i += 8;
    }
    for (j, slot) in out.iter_mut().enumerate().skip(i) {
        *slot = uniform_f64(seed, (start + step * j as i64) as u64);
    }
}
