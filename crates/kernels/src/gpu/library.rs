//! WGSL functions the generated shaders include.
//!
//! Philox4x32-10 is the same generator with the same element-to-counter mapping as
//! [`crate::philox`] on the CPU, so `random` gives identical bits on every device:
//! float64 element `k` takes lanes `2(k%2), 2(k%2)+1` of the block for counter `k/2`;
//! float32 element `k` takes lane `k%4` of the block for counter `k/4`. Each random
//! leaf gets its own function that keeps the last block in private variables, so a
//! thread walking consecutive elements computes one block per two (float64) or four
//! (float32) elements. Shaders include only what they call: a float64 function would
//! not compile on an adapter without `SHADER_F64`.

/// The Philox block function (needs 64-bit integers for the 32x32->64 products).
pub const PHILOX: &str = r#"
fn philox(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = ctr;
    var k = key;
    for (var round = 0u; round < 10u; round = round + 1u) {
        if (round > 0u) {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = u64(0xD2511F53u) * u64(c.x);
        let p1 = u64(0xCD9E8D57u) * u64(c.z);
        c = vec4<u32>(u32(p1 >> 32u) ^ c.y ^ k.x, u32(p1), u32(p0 >> 32u) ^ c.w ^ k.y, u32(p0));
    }
    return c;
}
"#;

/// A random leaf's values: `@` is replaced by the leaf's number, `KEY` by its key.
/// float64 element `k`.
pub const RANDOM_F64: &str = r#"
var<private> rn@: u64 = 0xFFFFFFFFFFFFFFFFlu;
var<private> rv@: vec4<u32>;
fn random@(k: u64) -> f64 {
    let n = k >> 1u;
    if (n != rn@) {
        rn@ = n;
        rv@ = philox(vec4<u32>(u32(n), u32(n >> 32u), 0u, 0u), KEY);
    }
    var lo = rv@.x;
    var hi = rv@.y;
    if ((k & 1lu) == 1lu) {
        lo = rv@.z;
        hi = rv@.w;
    }
    // (bits >> 11) < 2^53 converts exactly; 2^-53 is a power of two.
    return f64(((u64(hi) << 32u) | u64(lo)) >> 11u) * 1.1102230246251565e-16lf;
}
"#;

/// float32 element `k` (see [`RANDOM_F64`]).
pub const RANDOM_F32: &str = r#"
var<private> rn@: u64 = 0xFFFFFFFFFFFFFFFFlu;
var<private> rv@: vec4<u32>;
fn random@(k: u64) -> f32 {
    let n = k >> 2u;
    if (n != rn@) {
        rn@ = n;
        rv@ = philox(vec4<u32>(u32(n), u32(n >> 32u), 0u, 0u), KEY);
    }
    return f32(rv@[u32(k & 3lu)] >> 8u) * 5.9604645e-8f;
}
"#;

/// The correctly rounded float64 square root. GPUs compute `sqrt` from an approximate
/// reciprocal square root, up to an ulp off. With `y` within an ulp, the residual
/// `x - y*y` is exact through one `fma`, and comparing it with `y * ulp` (also exact:
/// the ulp is a power of two) decides whether `sqrt(x)` lies past a midpoint; both sides
/// are multiples of `ulp^2`, so the comparison needs no margin.
pub const SQRT_RN: &str = r#"
fn sqrt_rn(x: f64) -> f64 {
    let y = sqrt(x);
    if (!(x >= 2.2250738585072014e-308lf && x <= 1.7976931348623157e308lf)) {
        return y;
    }
    let bits = bitcast<u64>(y);
    let up = bitcast<f64>(bits + 1lu);
    let down = bitcast<f64>(bits - 1lu);
    let r = fma(-y, y, x);
    if (r > y * (up - y)) {
        return up;
    }
    if (r <= -(y * (y - down))) {
        return down;
    }
    return y;
}
"#;

/// IEEE division by zero, spelled out. Vulkan lets a driver assume that no float is
/// infinite or NaN unless the shader asks otherwise (float controls wgpu cannot ask
/// for), and lavapipe then divides `x / 0` into 0. A zero divisor gives numpy's answer
/// from bit patterns instead: NaN (x86's default NaN, as the CPU makes it) for `0 / 0`
/// and `NaN / 0`, otherwise an infinity
/// signed by both operands' signs. (Infinities in further arithmetic stay the driver's.)
pub const DIV_F64: &str = r#"
fn div_f64(a: f64, b: f64) -> f64 {
    if (b != 0.0lf) {
        return a / b;
    }
    let sa = bitcast<u64>(a);
    let sign = (sa ^ bitcast<u64>(b)) & 0x8000000000000000lu;
    let magnitude = sa & 0x7FFFFFFFFFFFFFFFlu;
    if (magnitude == 0lu || magnitude > 0x7FF0000000000000lu) {
        return bitcast<f64>(0xFFF8000000000000lu);
    }
    return bitcast<f64>(sign | 0x7FF0000000000000lu);
}
"#;
