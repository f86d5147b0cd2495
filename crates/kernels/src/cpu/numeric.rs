//! numpy's definitions of the elementwise operations whose corner cases differ from
//! Rust's: floor division and remainder (signs, division by zero), `sign`, `fmax`/
//! `fmin`. Each is written out from numpy's C (`npy_divmod`, the integer loops) so
//! the bits agree, not only the values.

/// A float type with the operations below.
pub(crate) trait Float:
    Copy
    + PartialOrd
    + std::ops::Sub<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Rem<Output = Self>
    + std::ops::Add<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const HALF: Self;
    fn floor(self) -> Self;
    fn copysign(self, sign: Self) -> Self;
    fn is_nan(self) -> bool;
}

macro_rules! float {
    ($t:ty) => {
        impl Float for $t {
            const ZERO: $t = 0.0;
            const ONE: $t = 1.0;
            const HALF: $t = 0.5;
            fn floor(self) -> $t {
                <$t>::floor(self)
            }
            fn copysign(self, sign: $t) -> $t {
                <$t>::copysign(self, sign)
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    };
}
float!(f64);
float!(f32);

/// numpy's integer `power`: `x` to the `e`-th power by squaring, wrapping as numpy's
/// int64 loop wraps, for every non-negative `e` (negative ones are refused before).
pub(crate) fn int_power(x: i64, e: i64) -> i64 {
    let (mut base, mut e, mut out) = (x, e.max(0) as u64, 1i64);
    while e > 0 {
        if e & 1 == 1 {
            out = out.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        e >>= 1;
    }
    out
}

/// numpy's `divmod` of floats (`npy_divmod`): the floor quotient and the remainder
/// with the divisor's sign; by zero, `a / b` and NaN.
pub(crate) fn divmod<T: Float>(a: T, b: T) -> (T, T) {
    let mut m = a % b;
    if b == T::ZERO {
        return (a / b, m);
    }
    let mut div = (a - m) / b;
    if m != T::ZERO {
        if (b < T::ZERO) != (m < T::ZERO) {
            m = m + b;
            div = div - T::ONE;
        }
    } else {
        m = T::ZERO.copysign(b);
    }
    let floordiv = if div != T::ZERO {
        let f = div.floor();
        if div - f > T::HALF { f + T::ONE } else { f }
    } else {
        T::ZERO.copysign(a / b)
    };
    (floordiv, m)
}

/// numpy's integer floor division: by zero 0, `i64::MIN // -1` wraps.
pub(crate) fn floor_div_i64(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let q = a.wrapping_div(b);
    if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) { q - 1 } else { q }
}

/// numpy's integer remainder: the divisor's sign, by zero 0.
pub(crate) fn mod_i64(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let r = a.wrapping_rem(b);
    if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r }
}

/// numpy's `sign`: -1, 0 or 1, NaN for NaN (and +0 for -0).
pub(crate) fn sign<T: Float + std::ops::Neg<Output = T>>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else if x < T::ZERO {
        -T::ONE
    } else if x == T::ZERO {
        T::ZERO
    } else {
        x
    }
}

/// numpy's `fmax`: the larger, NaN only when both are NaN.
pub(crate) fn fmax<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b > a { b } else { a }
}

/// numpy's `fmin`.
pub(crate) fn fmin<T: Float>(a: T, b: T) -> T {
    if a.is_nan() || b < a { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divmod_follows_numpy() {
        // numpy 2.4: np.floor_divide / np.mod
        assert_eq!(divmod(-7.5f64, 2.0), (-4.0, 0.5));
        assert_eq!(divmod(7.5f64, -2.0), (-4.0, -0.5));
        assert_eq!(divmod(1.0f64, 0.0).0, f64::INFINITY);
        assert!(divmod(1.0f64, 0.0).1.is_nan());
        assert_eq!(divmod(-0.0f64, 3.0).1.to_bits(), 0.0f64.to_bits());
        assert_eq!(divmod(3.0f64, -3.0).1.to_bits(), (-0.0f64).to_bits());
        assert_eq!([3i64, -4, 5].map(|a| floor_div_i64(a, 2)), [1, -2, 2]);
        assert_eq!([3i64, -4, 5].map(|a| mod_i64(a, -3)), [0, -1, -1]);
        assert_eq!((floor_div_i64(5, 0), mod_i64(5, 0)), (0, 0));
        assert_eq!(floor_div_i64(i64::MIN, -1), i64::MIN);
    }

    #[test]
    fn sign_and_fmax_follow_numpy() {
        assert_eq!([-0.0f64, 0.0, -3.0, 2.0].map(sign), [0.0, 0.0, -1.0, 1.0]);
        assert!(sign(f64::NAN).is_nan());
        assert_eq!(fmax(f64::NAN, 1.0), 1.0);
        assert_eq!(fmin(2.0, f64::NAN), 2.0);
        assert!(fmax(f64::NAN, f64::NAN).is_nan());
    }
}
