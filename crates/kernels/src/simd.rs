//! The widest SIMD instruction set this CPU has, for the kernels that dispatch on it
//! (Philox fills, exact sums). Every path computes the same bits.

/// An instruction-set level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {
    /// AVX-512 F and DQ.
    Avx512,
    Avx2,
    Portable,
}

/// The level of this CPU (the detection is cached by the standard library).
pub(crate) fn simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512dq") {
            return Simd::Avx512;
        }
        if std::is_x86_feature_detected!("avx2") {
            return Simd::Avx2;
        }
    }
    Simd::Portable
}
