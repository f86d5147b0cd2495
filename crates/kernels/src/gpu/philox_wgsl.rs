//! WGSL source of Philox4x32-10: the same generator and the same element-to-counter
//! mapping as [`crate::philox`] on the CPU, so `random` gives identical bits on every
//! device. float64 element `k` takes lanes `2(k%2), 2(k%2)+1` of the block for counter
//! `k/2`; float32 element `k` takes lane `k%4` of the block for counter `k/4`.
//! Shaders include only the functions they call: a float64 function would not compile
//! on an adapter without `SHADER_F64`.

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

/// float64 element `k` of `random` with key `key`.
pub const UNIFORM_F64: &str = r#"
fn uniform_f64(key: vec2<u32>, k: u64) -> f64 {
    let n = k >> 1u;
    let r = philox(vec4<u32>(u32(n), u32(n >> 32u), 0u, 0u), key);
    var lo = r.x;
    var hi = r.y;
    if ((k & 1lu) == 1lu) {
        lo = r.z;
        hi = r.w;
    }
    let bits = (u64(hi) << 32u) | u64(lo);
    // (bits >> 11) < 2^53 converts exactly; 2^-53 is a power of two.
    return f64(bits >> 11u) * 1.1102230246251565e-16lf;
}
"#;

/// float32 element `k` of `random` with key `key`.
pub const UNIFORM_F32: &str = r#"
fn uniform_f32(key: vec2<u32>, k: u64) -> f32 {
    let n = k >> 2u;
    let r = philox(vec4<u32>(u32(n), u32(n >> 32u), 0u, 0u), key);
    let v = r[u32(k & 3lu)];
    return f32(v >> 8u) * 5.9604645e-8f;
}
"#;
