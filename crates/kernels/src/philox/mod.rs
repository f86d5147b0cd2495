//! Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11),
//! the counter-based generator behind `random`.
//!
//! Element `k` (row-major flat index) of `random(shape, seed)` is a pure function of
//! `(seed, k)`, so values do not depend on chunking, scheduling or the device. float64
//! element `k` takes the 64 bits of lanes `2(k%2), 2(k%2)+1` of the block for counter
//! `k/2`; float32 element `k` takes lane `k%4` of the block for counter `k/4`.

use crate::simd::{Simd, simd};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

const M0: u64 = 0xD251_1F53;
const M1: u64 = 0xCD9E_8D57;
const W0: u32 = 0x9E37_79B9;
const W1: u32 = 0xBB67_AE85;

/// One Philox4x32 block with 10 rounds.
#[inline(always)]
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let [mut c0, mut c1, mut c2, mut c3] = counter;
    let [mut k0, mut k1] = key;
    for round in 0..10 {
        if round > 0 {
            k0 = k0.wrapping_add(W0);
            k1 = k1.wrapping_add(W1);
        }
        let p0 = M0 * u64::from(c0);
        let p1 = M1 * u64::from(c2);
        let (hi0, lo0, hi1, lo1) = ((p0 >> 32) as u32, p0 as u32, (p1 >> 32) as u32, p1 as u32);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    [c0, c1, c2, c3]
}

fn key_of(seed: u64) -> [u32; 2] {
    [seed as u32, (seed >> 32) as u32]
}

fn counter_of(n: u64) -> [u32; 4] {
    [n as u32, (n >> 32) as u32, 0, 0]
}

const F64_SCALE: f64 = 1.0 / (1u64 << 53) as f64;
const F32_SCALE: f32 = 1.0 / (1u32 << 24) as f32;

/// The float64 value of element `k` for `seed`.
pub fn uniform_f64(seed: u64, k: u64) -> f64 {
    let r = philox4x32_10(counter_of(k >> 1), key_of(seed));
    let lane = (k & 1) as usize * 2;
    let bits = (u64::from(r[lane + 1]) << 32) | u64::from(r[lane]);
    (bits >> 11) as f64 * F64_SCALE
}

/// The four words of element `k` of the stream `stream` (0 is `random`'s, which takes
/// half a block per float64 element instead).
fn block(seed: u64, k: u64, stream: u32) -> [u32; 4] {
    philox4x32_10([k as u32, (k >> 32) as u32, stream, 0], key_of(seed))
}

/// Element `k` of `normal(0, 1)` for `seed`: Box-Muller of the two 53-bit uniforms of
/// block `k` of stream 1, `sqrt(-2 ln(1 - u1)) * cos(2 pi u2)` (1 - u1 is never 0).
pub fn normal_f64(seed: u64, k: u64) -> f64 {
    let r = block(seed, k, 1);
    let u = |lo: u32, hi: u32| (((u64::from(hi) << 32) | u64::from(lo)) >> 11) as f64 * F64_SCALE;
    let (u1, u2) = (u(r[0], r[1]), u(r[2], r[3]));
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Element `k` of `integers(low, low + range)` for `seed`: the high 64 bits of
/// `range` times the 64 bits of block `k` of stream 2 (Lemire's multiply-shift without
/// rejection: each value's probability is off by at most `range / 2^64`).
pub fn integer(seed: u64, k: u64, low: i64, range: u64) -> i64 {
    let r = block(seed, k, 2);
    let bits = (u64::from(r[1]) << 32) | u64::from(r[0]);
    low.wrapping_add(((u128::from(bits) * u128::from(range)) >> 64) as i64)
}

/// The float32 value of element `k` for `seed`.
pub fn uniform_f32(seed: u64, k: u64) -> f32 {
    let r = philox4x32_10(counter_of(k >> 2), key_of(seed));
    (r[(k & 3) as usize] >> 8) as f32 * F32_SCALE
}

/// Fills `out[i]` with element `start + i` (float64), whole counter blocks at a time
/// in the widest registers the CPU has; every path gives the same bits.
pub fn fill_f64(seed: u64, start: u64, out: &mut [f64]) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX-512F and DQ, checked by `simd`.
        Simd::Avx512 => unsafe { avx512::fill_f64(seed, start, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX2, checked by `simd`.
        Simd::Avx2 => unsafe { avx2::fill_f64(seed, start, out) },
        _ => fill_f64_portable(seed, start, out),
    }
}

/// Fills `out[i]` with element `start + step * i` (float64; every such element is
/// non-negative): the read of a transposed or strided view, one block per value.
pub fn fill_f64_strided(seed: u64, start: i64, step: i64, out: &mut [f64]) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX-512F and DQ, checked by `simd`.
        Simd::Avx512 => unsafe { avx512::fill_f64_strided(seed, start, step, out) },
        _ => {
            for (j, slot) in out.iter_mut().enumerate() {
                *slot = uniform_f64(seed, (start + step * j as i64) as u64);
            }
        }
    }
}

#[inline(always)]
fn fill_f64_portable(seed: u64, start: u64, out: &mut [f64]) {
    let key = key_of(seed);
    let mut i = 0;
    let n = out.len();
    // Leading odd element, so the rest starts on a counter boundary.
    if start & 1 == 1 && n > 0 {
        out[0] = uniform_f64(seed, start);
        i = 1;
    }
    const LANES: usize = 8;
    while i + 2 * LANES <= n {
        let first = (start + i as u64) >> 1;
        // Lanes are u64 holding 32-bit values, so the multiplies map onto the SIMD
        // 32x32->64 multiply (pmuludq).
        const LO: u64 = 0xffff_ffff;
        let mut c0 = [0u64; LANES];
        let mut c1 = [0u64; LANES];
        let mut c2 = [0u64; LANES];
        let mut c3 = [0u64; LANES];
        for l in 0..LANES {
            let c = first + l as u64;
            c0[l] = c & LO;
            c1[l] = c >> 32;
        }
        let (mut k0, mut k1) = (u64::from(key[0]), u64::from(key[1]));
        for round in 0..10 {
            if round > 0 {
                k0 = (k0 + u64::from(W0)) & LO;
                k1 = (k1 + u64::from(W1)) & LO;
            }
            for l in 0..LANES {
                let p0 = M0 * (c0[l] & LO);
                let p1 = M1 * (c2[l] & LO);
                let n0 = (p1 >> 32) ^ c1[l] ^ k0;
                let n2 = (p0 >> 32) ^ c3[l] ^ k1;
                c1[l] = p1 & LO;
                c3[l] = p0 & LO;
                c0[l] = n0;
                c2[l] = n2;
            }
        }
        for l in 0..LANES {
            let a = (c1[l] << 32) | c0[l];
            let b = (c3[l] << 32) | c2[l];
            out[i + 2 * l] = (a >> 11) as f64 * F64_SCALE;
            out[i + 2 * l + 1] = (b >> 11) as f64 * F64_SCALE;
        }
        i += 2 * LANES;
    }
    for (j, slot) in out.iter_mut().enumerate().skip(i) {
        *slot = uniform_f64(seed, start + j as u64);
    }
}

/// Fills `out[i]` with element `start + i` (float32).
pub fn fill_f32(seed: u64, start: u64, out: &mut [f32]) {
    match simd() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX-512F and DQ, checked by `simd`.
        Simd::Avx512 => unsafe { avx512::fill_f32(seed, start, out) },
        _ => {
            for (j, slot) in out.iter_mut().enumerate() {
                *slot = uniform_f32(seed, start + j as u64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors from Random123's `kat_vectors` (philox4x32, 10 rounds).
    #[test]
    fn known_answers() {
        assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
        assert_eq!(philox4x32_10([u32::MAX; 4], [u32::MAX; 2]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
        assert_eq!(
            philox4x32_10([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]),
            [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]
        );
    }

    const STARTS: [u64; 5] = [0, 1, 3, 7, (1 << 33) + 5];
    const LENGTHS: [usize; 6] = [0, 1, 15, 53, 64, 333];

    fn assert_f64_fill(fill: impl Fn(u64, u64, &mut [f64])) {
        for start in STARTS {
            for len in LENGTHS {
                let mut out = vec![0.0; len];
                fill(42, start, &mut out);
                for (i, &v) in out.iter().enumerate() {
                    assert_eq!(v.to_bits(), uniform_f64(42, start + i as u64).to_bits(), "start {start} i {i}");
                }
            }
        }
    }

    #[test]
    fn every_f64_path_matches_single_values() {
        assert_f64_fill(fill_f64);
        assert_f64_fill(fill_f64_portable);
        #[cfg(target_arch = "x86_64")]
        {
            if simd() == Simd::Avx512 {
                assert_f64_fill(|seed, start, out| unsafe { avx512::fill_f64(seed, start, out) });
            }
            if std::is_x86_feature_detected!("avx2") {
                assert_f64_fill(|seed, start, out| unsafe { avx2::fill_f64(seed, start, out) });
            }
        }
    }

    #[test]
    fn strided_fill_matches_single_values() {
        for (start, step) in [(0i64, 1i64), (5, 2), (6, 3), (20_000, 20_000), (100_000, -7), ((1 << 34) + 1, 12_001)] {
            for len in LENGTHS {
                let mut out = vec![0.0; len];
                fill_f64_strided(9, start, step, &mut out);
                for (i, &v) in out.iter().enumerate() {
                    let k = (start + step * i as i64) as u64;
                    assert_eq!(v.to_bits(), uniform_f64(9, k).to_bits(), "start {start} step {step} i {i}");
                }
            }
        }
    }

    #[test]
    fn f32_fill_matches_single_values() {
        for start in STARTS {
            for len in LENGTHS {
                let mut out = vec![0.0f32; len];
                fill_f32(3, start, &mut out);
                for (i, &v) in out.iter().enumerate() {
                    assert_eq!(v.to_bits(), uniform_f32(3, start + i as u64).to_bits(), "start {start} i {i}");
                }
            }
        }
    }

    /// Uniformity: a chi-square test over 64 bins of 2^20 values (p = 0.001 bound for 63
    /// degrees of freedom is 103.4), and the mean and variance of U(0, 1).
    #[test]
    fn statistics_of_uniform_values() {
        let n = 1 << 20;
        let mut values = vec![0.0; n];
        fill_f64(7, 0, &mut values);
        let mut bins = [0u32; 64];
        for &v in &values {
            assert!((0.0..1.0).contains(&v));
            bins[(v * 64.0) as usize] += 1;
        }
        let expected = n as f64 / 64.0;
        let chi2: f64 = bins.iter().map(|&b| (b as f64 - expected).powi(2) / expected).sum();
        assert!(chi2 < 103.4, "chi-square {chi2} too large");
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.002, "mean {mean}");
        assert!((var - 1.0 / 12.0).abs() < 0.001, "variance {var}");
        // Neighbouring values are uncorrelated.
        let lag: f64 = values.windows(2).map(|w| (w[0] - 0.5) * (w[1] - 0.5)).sum::<f64>() / n as f64;
        assert!(lag.abs() < 0.001, "lag-1 covariance {lag}");
        let mut f32s = vec![0.0f32; 4096];
        fill_f32(7, 0, &mut f32s);
        assert!(f32s.iter().all(|v| (0.0..1.0).contains(v)));
    }
}
