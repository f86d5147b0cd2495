//! Element buffers in the types tessera computes, and the conversions to and from the
//! stored types (widening on read, numpy's `astype` on write).

use tessera_chunks::DType;

use crate::StoredType;

/// Row-major elements of a region, in the type tessera computes them in.
#[derive(Debug, Clone, PartialEq)]
pub enum Buffer {
    /// bool elements.
    Bool(Vec<bool>),
    /// int64 elements (every stored integer type).
    I64(Vec<i64>),
    /// float32 elements.
    F32(Vec<f32>),
    /// float64 elements.
    F64(Vec<f64>),
}

impl Buffer {
    /// `n` elements of `dtype`, all `fill` (cast as numpy casts a Python float).
    pub fn filled(dtype: DType, n: usize, fill: f64) -> Buffer {
        match dtype {
            DType::Bool => Buffer::Bool(vec![fill != 0.0; n]),
            DType::Int64 => Buffer::I64(vec![fill as i64; n]),
            DType::Float32 => Buffer::F32(vec![fill as f32; n]),
            DType::Float64 => Buffer::F64(vec![fill; n]),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Buffer::Bool(_) => DType::Bool,
            Buffer::I64(_) => DType::Int64,
            Buffer::F32(_) => DType::Float32,
            Buffer::F64(_) => DType::Float64,
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            Buffer::Bool(v) => v.len(),
            Buffer::I64(v) => v.len(),
            Buffer::F32(v) => v.len(),
            Buffer::F64(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies the box of `size` at `src_at` in `src` (row-major, `src_shape`) to
    /// `dst_at` in this buffer (row-major, `dst_shape`). Both buffers have one dtype.
    pub fn copy_box_from(
        &mut self,
        dst_shape: &[usize],
        dst_at: &[usize],
        src: &Buffer,
        src_shape: &[usize],
        src_at: &[usize],
        size: &[usize],
    ) {
        let (d, s) = (Place { shape: dst_shape, at: dst_at }, Place { shape: src_shape, at: src_at });
        match (self, src) {
            (Buffer::Bool(a), Buffer::Bool(b)) => copy_box(a, d, b, s, size),
            (Buffer::I64(a), Buffer::I64(b)) => copy_box(a, d, b, s, size),
            (Buffer::F32(a), Buffer::F32(b)) => copy_box(a, d, b, s, size),
            (Buffer::F64(a), Buffer::F64(b)) => copy_box(a, d, b, s, size),
            _ => debug_assert!(false, "copy between buffers of different dtypes"),
        }
    }

    /// The elements converted to `T` with numpy's `astype` semantics: integers wrap,
    /// floats round to nearest, bool is `!= 0`. Floats out of an integer type's range
    /// saturate (numpy leaves that case undefined).
    pub fn cast<T: Native>(&self) -> Vec<T> {
        match self {
            Buffer::Bool(v) => v.iter().map(|&x| T::from_i64(i64::from(x))).collect(),
            Buffer::I64(v) => v.iter().map(|&x| T::from_i64(x)).collect(),
            Buffer::F32(v) => v.iter().map(|&x| T::from_f64(f64::from(x))).collect(),
            Buffer::F64(v) => v.iter().map(|&x| T::from_f64(x)).collect(),
        }
    }
}

/// A position inside a row-major array.
#[derive(Clone, Copy)]
struct Place<'a> {
    shape: &'a [usize],
    at: &'a [usize],
}

fn copy_box<T: Copy>(dst: &mut [T], d: Place<'_>, src: &[T], s: Place<'_>, size: &[usize]) {
    let n = size.len();
    if size.contains(&0) {
        return;
    }
    if n == 0 {
        if let (Some(x), Some(y)) = (dst.first_mut(), src.first()) {
            *x = *y;
        }
        return;
    }
    let strides = |shape: &[usize]| {
        let mut st = vec![1usize; n];
        for a in (0..n - 1).rev() {
            st[a] = st[a + 1] * shape[a + 1];
        }
        st
    };
    let (ds, ss) = (strides(d.shape), strides(s.shape));
    let row = size[n - 1];
    let rows: usize = size[..n - 1].iter().product();
    let mut index = vec![0usize; n - 1];
    for _ in 0..rows {
        let mut dpos = d.at[n - 1];
        let mut spos = s.at[n - 1];
        for a in 0..n - 1 {
            dpos += (d.at[a] + index[a]) * ds[a];
            spos += (s.at[a] + index[a]) * ss[a];
        }
        dst[dpos..dpos + row].copy_from_slice(&src[spos..spos + row]);
        for a in (0..n - 1).rev() {
            index[a] += 1;
            if index[a] < size[a] {
                break;
            }
            index[a] = 0;
        }
    }
}

/// A Rust element type of one stored type.
pub trait Native: Copy + Default + Send + Sync + 'static {
    /// The stored type.
    const TYPE: StoredType;
    /// Bytes per element.
    const SIZE: usize = std::mem::size_of::<Self>();
    /// numpy's `astype` from int64.
    fn from_i64(v: i64) -> Self;
    /// numpy's `astype` from float64 (saturating for integers).
    fn from_f64(v: f64) -> Self;
    /// The elements in the type tessera computes them in; `Err` names a value that
    /// does not fit (uint64 past `i64::MAX`).
    fn widen(v: Vec<Self>) -> Result<Buffer, String>;
    /// From little- or big-endian bytes (`bytes.len() == SIZE`).
    fn from_bytes(bytes: &[u8], big_endian: bool) -> Self;
    /// Appends the element's little-endian bytes.
    fn put_le(self, out: &mut Vec<u8>);
}

macro_rules! native_int {
    ($t:ty, $variant:ident) => {
        impl Native for $t {
            const TYPE: StoredType = StoredType::$variant;
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn widen(v: Vec<Self>) -> Result<Buffer, String> {
                let mut out = Vec::with_capacity(v.len());
                for x in v {
                    out.push(i64::try_from(x).map_err(|_| {
                        format!("the value {x} does not fit int64, the type tessera computes integers in")
                    })?);
                }
                Ok(Buffer::I64(out))
            }
            fn from_bytes(bytes: &[u8], big_endian: bool) -> Self {
                let mut b = [0u8; std::mem::size_of::<$t>()];
                b.copy_from_slice(bytes);
                if big_endian { <$t>::from_be_bytes(b) } else { <$t>::from_le_bytes(b) }
            }
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    };
}

native_int!(i8, I8);
native_int!(i16, I16);
native_int!(i32, I32);
native_int!(i64, I64);
native_int!(u8, U8);
native_int!(u16, U16);
native_int!(u32, U32);
native_int!(u64, U64);

impl Native for f32 {
    const TYPE: StoredType = StoredType::F32;
    fn from_i64(v: i64) -> Self {
        v as f32
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn widen(v: Vec<Self>) -> Result<Buffer, String> {
        Ok(Buffer::F32(v))
    }
    fn from_bytes(bytes: &[u8], big_endian: bool) -> Self {
        f32::from_bits(u32::from_bytes(bytes, big_endian))
    }
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Native for f64 {
    const TYPE: StoredType = StoredType::F64;
    fn from_i64(v: i64) -> Self {
        v as f64
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn widen(v: Vec<Self>) -> Result<Buffer, String> {
        Ok(Buffer::F64(v))
    }
    fn from_bytes(bytes: &[u8], big_endian: bool) -> Self {
        f64::from_bits(u64::from_bytes(bytes, big_endian))
    }
    fn put_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Native for bool {
    const TYPE: StoredType = StoredType::Bool;
    fn from_i64(v: i64) -> Self {
        v != 0
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn widen(v: Vec<Self>) -> Result<Buffer, String> {
        Ok(Buffer::Bool(v))
    }
    fn from_bytes(bytes: &[u8], _big_endian: bool) -> Self {
        bytes.first().is_some_and(|&b| b != 0)
    }
    fn put_le(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
}

/// Calls `$body` with `$T` bound to the Rust type of the stored type `$t`.
#[macro_export]
#[doc(hidden)]
macro_rules! with_native {
    ($t:expr, $T:ident => $body:expr) => {
        match $t {
            $crate::StoredType::Bool => {
                type $T = bool;
                $body
            }
            $crate::StoredType::I8 => {
                type $T = i8;
                $body
            }
            $crate::StoredType::I16 => {
                type $T = i16;
                $body
            }
            $crate::StoredType::I32 => {
                type $T = i32;
                $body
            }
            $crate::StoredType::I64 => {
                type $T = i64;
                $body
            }
            $crate::StoredType::U8 => {
                type $T = u8;
                $body
            }
            $crate::StoredType::U16 => {
                type $T = u16;
                $body
            }
            $crate::StoredType::U32 => {
                type $T = u32;
                $body
            }
            $crate::StoredType::U64 => {
                type $T = u64;
                $body
            }
            $crate::StoredType::F32 => {
                type $T = f32;
                $body
            }
            $crate::StoredType::F64 => {
                type $T = f64;
                $body
            }
        }
    };
}

/// Decodes raw elements of `t` into the computing type.
pub fn decode_bytes(t: StoredType, big_endian: bool, bytes: &[u8]) -> Result<Buffer, String> {
    with_native!(t, T => {
        let v: Vec<T> = bytes.chunks_exact(T::SIZE).map(|b| T::from_bytes(b, big_endian)).collect();
        T::widen(v)
    })
}

/// Encodes elements as little-endian `t` with numpy's `astype`.
pub fn encode_bytes(buffer: &Buffer, t: StoredType) -> Vec<u8> {
    with_native!(t, T => {
        let v: Vec<T> = buffer.cast::<T>();
        let mut out = Vec::with_capacity(v.len() * T::SIZE);
        for x in v {
            x.put_le(&mut out);
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn astype_wraps_integers_and_rounds_floats_like_numpy() {
        let b = Buffer::I64(vec![300, -1, 127]);
        assert_eq!(b.cast::<i8>(), vec![44, -1, 127]);
        assert_eq!(b.cast::<u8>(), vec![44, 255, 127]);
        let f = Buffer::F64(vec![1.5, -2.7, f64::NAN, 0.0]);
        assert_eq!(f.cast::<i32>(), vec![1, -2, 0, 0]);
        assert_eq!(f.cast::<bool>(), vec![true, true, true, false]);
        assert_eq!(Buffer::F64(vec![0.1]).cast::<f32>(), vec![0.1f32]);
    }

    #[test]
    fn bytes_round_trip_through_every_type() {
        let b = Buffer::I64(vec![0, 1, 2, 100]);
        for t in crate::ALL_TYPES {
            let bytes = encode_bytes(&b, t);
            assert_eq!(bytes.len(), 4 * t.itemsize());
            let back = decode_bytes(t, false, &bytes).expect("fits");
            let expected = match t.compute() {
                DType::Bool => Buffer::Bool(vec![false, true, true, true]),
                DType::Int64 => b.clone(),
                DType::Float32 => Buffer::F32(vec![0.0, 1.0, 2.0, 100.0]),
                DType::Float64 => Buffer::F64(vec![0.0, 1.0, 2.0, 100.0]),
            };
            assert_eq!(back, expected, "{t}");
        }
    }

    #[test]
    fn big_uint64_is_refused_with_the_value() {
        let bytes = u64::MAX.to_le_bytes();
        let e = decode_bytes(StoredType::U64, false, &bytes).expect_err("does not fit");
        assert!(e.contains("18446744073709551615"), "{e}");
    }

    #[test]
    fn boxes_copy_between_shapes() {
        let src = Buffer::I64((0..12).collect());
        let mut dst = Buffer::I64(vec![0; 4]);
        dst.copy_box_from(&[2, 2], &[0, 0], &src, &[3, 4], &[1, 1], &[2, 2]);
        assert_eq!(dst, Buffer::I64(vec![5, 6, 9, 10]));
    }
}
