//! A compact binary encoding of task values for the network and spill files: a small
//! header (kind, dtype tag, shape), then the element data as raw little-endian bytes.
//!
//! Shaped so that values move without per-element work: on a little-endian machine a
//! block's body *is* its memory ([`body`] borrows it, so a held value is sent as it is,
//! never re-encoded), and a receiver reads the body straight into the block's own
//! buffer ([`Incoming`]), so the bytes become the block without another copy. Decoding
//! checks every length before it allocates, so a malformed buffer is an error, never a
//! panic.

use std::borrow::Cow;

use ndarray::{ArrayD, IxDyn};

use crate::{Block, ExactSum, Partial, PartialData, Value};

const BLOCK: u8 = 0;
const PARTIAL: u8 = 1;

/// Bytes before the shape: kind, dtype tag, number of dimensions.
pub const PREFIX_BYTES: usize = 3;

/// Bytes of one exact sum on the wire: its flags, then its limbs.
const EXACT_BYTES: usize = 1 + 8 * ExactSum::LIMBS;

/// Encodes a value: its [`header`] followed by its [`body`].
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = header(value);
    out.extend_from_slice(&body(value));
    out
}

/// The header of a value's encoding: kind, dtype tag and shape.
pub fn header(value: &Value) -> Vec<u8> {
    let (kind, tag, shape) =
        match value {
            Value::Block(b) => {
                let tag = match b {
                    Block::F64(_) => 0u8,
                    Block::F32(_) => 1,
                    Block::I64(_) => 2,
                    Block::Bool(_) => 3,
                };
                (BLOCK, tag, b.shape())
            }
            Value::Partial(p) => {
                let tag =
                    match &p.data {
                        PartialData::Exact(_) => 0u8,
                        PartialData::F64(_) => 1,
                        PartialData::I64(_) => 2,
                        PartialData::Bool(_) => 3,
                        PartialData::Arg { floats, .. } => {
                            if floats.is_empty() && p.shape.iter().product::<usize>() > 0 { 7 } else { 6 }
                        }
                        // Moments of two slots (var, nanmean) or three (nanvar).
                        PartialData::Moments(m) => {
                            let states: usize = p.shape.iter().product();
                            if states > 0 && m.len() == 3 * states { 5 } else { 4 }
                        }
                    };
                (PARTIAL, tag, p.shape.as_slice())
            }
        };
    let mut out = Vec::with_capacity(PREFIX_BYTES + 8 * shape.len());
    out.extend_from_slice(&[kind, tag, shape.len() as u8]);
    shape.iter().for_each(|&n| out.extend_from_slice(&(n as u64).to_le_bytes()));
    out
}

/// The element data of a value's encoding: borrowed from the value itself where its
/// memory already is the encoding (a contiguous block or partial on a little-endian
/// machine), built otherwise.
pub fn body(value: &Value) -> Cow<'_, [u8]> {
    match value {
        Value::Block(Block::F64(a)) => elements(a.as_slice(), || a.iter().copied().collect()),
        Value::Block(Block::F32(a)) => elements(a.as_slice(), || a.iter().copied().collect()),
        Value::Block(Block::I64(a)) => elements(a.as_slice(), || a.iter().copied().collect()),
        Value::Block(Block::Bool(a)) => match a.as_slice() {
            Some(s) => Cow::Borrowed(bytemuck::cast_slice(s)),
            None => Cow::Owned(a.iter().map(|&v| u8::from(v)).collect()),
        },
        Value::Partial(p) => match &p.data {
            PartialData::Exact(v) | PartialData::Moments(v) => {
                let mut out = Vec::with_capacity(v.len() * EXACT_BYTES);
                for s in v {
                    let (limbs, flags) = s.to_parts();
                    out.push(flags);
                    limbs.iter().for_each(|l| out.extend_from_slice(&l.to_le_bytes()));
                }
                Cow::Owned(out)
            }
            PartialData::F64(v) => elements(Some(v), Vec::new),
            PartialData::I64(v) => elements(Some(v), Vec::new),
            PartialData::Bool(v) => Cow::Borrowed(bytemuck::cast_slice(v)),
            // The values (float64 or int64), then the positions.
            PartialData::Arg { floats, ints, index } => {
                let mut out = Vec::with_capacity(8 * (floats.len() + ints.len() + index.len()));
                floats.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
                ints.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
                index.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
                Cow::Owned(out)
            }
        },
    }
}

/// Numbers that travel as their little-endian bytes.
trait LittleEndian: bytemuck::Pod {
    /// The value from (or to: the swap is its own inverse) little-endian order.
    fn swap_le(self) -> Self;
}

macro_rules! little_endian {
    ($($t:ty => $bits:ty),*) => {$(
        impl LittleEndian for $t {
            fn swap_le(self) -> Self {
                <$t>::from_ne_bytes(<$bits>::from_le(<$bits>::from_ne_bytes(self.to_ne_bytes())).to_ne_bytes())
            }
        }
    )*};
}
little_endian!(f64 => u64, f32 => u32, i64 => i64);

/// The bytes of `contiguous`, borrowed on a little-endian machine; otherwise (or for
/// a strided array, whose elements `strided` collects) converted.
fn elements<T: LittleEndian>(contiguous: Option<&[T]>, strided: impl FnOnce() -> Vec<T>) -> Cow<'_, [u8]> {
    match contiguous {
        Some(s) if cfg!(target_endian = "little") => Cow::Borrowed(bytemuck::cast_slice(s)),
        Some(s) => Cow::Owned(bytemuck::cast_slice(&s.iter().map(|v| v.swap_le()).collect::<Vec<_>>()).to_vec()),
        None => {
            let mut v = strided();
            v.iter_mut().for_each(|x| *x = x.swap_le());
            Cow::Owned(bytemuck::cast_slice(&v).to_vec())
        }
    }
}

/// Bytes of the header whose first [`PREFIX_BYTES`] are `prefix`.
pub fn header_bytes(prefix: &[u8; PREFIX_BYTES]) -> usize {
    PREFIX_BYTES + 8 * prefix[2] as usize
}

/// A value being received: the header is parsed and the buffer for the body (the
/// value's own storage, wherever the layout allows) allocated; fill [`Self::body_mut`]
/// and call [`Self::finish`].
pub struct Incoming {
    kind: u8,
    tag: u8,
    shape: Vec<usize>,
    count: usize,
    buffer: Buffer,
}

/// The storage a body is read into.
enum Buffer {
    F64(Vec<f64>),
    F32(Vec<f32>),
    I64(Vec<i64>),
    /// Bools and exact sums: validated and converted at the end.
    Bytes(Vec<u8>),
}

impl Incoming {
    /// Parses a whole header; `None` if it is not one or its body would be larger than
    /// `limit` bytes (checked before anything is allocated).
    pub fn new(header: &[u8], limit: u64) -> Option<Incoming> {
        let (prefix, dims) = header.split_at_checked(PREFIX_BYTES)?;
        let (kind, tag, ndim) = (prefix[0], prefix[1], prefix[2] as usize);
        if dims.len() != 8 * ndim {
            return None;
        }
        let mut shape = Vec::with_capacity(ndim);
        let mut count: usize = 1;
        for d in dims.chunks_exact(8) {
            let n = usize::try_from(u64::from_le_bytes(d.try_into().ok()?)).ok()?;
            count = count.checked_mul(n)?;
            shape.push(n);
        }
        let size = element_bytes(kind, tag)?;
        let bytes = count.checked_mul(size)?;
        if bytes as u64 > limit {
            return None;
        }
        let buffer = match (kind, tag) {
            (BLOCK, 0) | (PARTIAL, 1) => Buffer::F64(vec![0.0; count]),
            (BLOCK, 1) => Buffer::F32(vec![0.0; count]),
            (_, 2) => Buffer::I64(vec![0; count]),
            _ => Buffer::Bytes(vec![0; bytes]),
        };
        Some(Incoming { kind, tag, shape, count, buffer })
    }

    /// Bytes of the body.
    pub fn body_len(&self) -> usize {
        match &self.buffer {
            Buffer::F64(v) => v.len() * 8,
            Buffer::F32(v) => v.len() * 4,
            Buffer::I64(v) => v.len() * 8,
            Buffer::Bytes(v) => v.len(),
        }
    }

    /// Where the body's bytes go.
    pub fn body_mut(&mut self) -> &mut [u8] {
        match &mut self.buffer {
            Buffer::F64(v) => bytemuck::cast_slice_mut(v),
            Buffer::F32(v) => bytemuck::cast_slice_mut(v),
            Buffer::I64(v) => bytemuck::cast_slice_mut(v),
            Buffer::Bytes(v) => v,
        }
    }

    /// The value, once the body is filled; `None` if its bytes are not valid.
    pub fn finish(self) -> Option<Value> {
        let shape = self.shape;
        let value = match (self.kind, self.buffer) {
            (BLOCK, Buffer::F64(v)) => Value::Block(Block::F64(array(&shape, native(v))?)),
            (BLOCK, Buffer::F32(v)) => Value::Block(Block::F32(array(&shape, native(v))?)),
            (BLOCK, Buffer::I64(v)) => Value::Block(Block::I64(array(&shape, native(v))?)),
            (BLOCK, Buffer::Bytes(v)) => Value::Block(Block::Bool(array(&shape, bools(v)?)?)),
            (_, Buffer::F64(v)) => Value::Partial(Partial { shape, data: PartialData::F64(native(v)) }),
            (_, Buffer::I64(v)) => Value::Partial(Partial { shape, data: PartialData::I64(native(v)) }),
            (_, Buffer::Bytes(v)) if matches!(self.tag, 6 | 7) => {
                let (values, index) = v.split_at(v.len() / 2);
                let index: Vec<i64> = index.chunks_exact(8).map(i64_of).collect();
                let (floats, ints) = if self.tag == 6 {
                    (values.chunks_exact(8).map(|b| f64::from_bits(i64_of(b) as u64)).collect(), Vec::new())
                } else {
                    (Vec::new(), values.chunks_exact(8).map(i64_of).collect())
                };
                Value::Partial(Partial { shape, data: PartialData::Arg { floats, ints, index } })
            }
            (_, Buffer::Bytes(v)) if self.tag == 3 => {
                Value::Partial(Partial { shape, data: PartialData::Bool(bools(v)?) })
            }
            (_, Buffer::Bytes(v)) => {
                let sums = v.chunks_exact(EXACT_BYTES).map(|b| {
                    let limbs: Vec<i64> = b[1..].chunks_exact(8).map(i64_of).collect();
                    ExactSum::from_parts(&limbs, b[0])
                });
                let sums = sums.collect::<Option<Vec<_>>>()?;
                let per_state = match self.tag {
                    4 => 2,
                    5 => 3,
                    _ => 1,
                };
                let data = if per_state > 1 { PartialData::Moments(sums) } else { PartialData::Exact(sums) };
                (data_len(&data) == per_state * self.count).then_some(())?;
                Value::Partial(Partial { shape, data })
            }
            (_, Buffer::F32(_)) => return None,
        };
        Some(value)
    }
}

/// The number of exact accumulators of exact or moment data.
fn data_len(data: &PartialData) -> usize {
    match data {
        PartialData::Exact(v) | PartialData::Moments(v) => v.len(),
        _ => 0,
    }
}

/// Bytes per element of a value of `kind` and dtype `tag`; `None` for an unknown pair.
fn element_bytes(kind: u8, tag: u8) -> Option<usize> {
    match (kind, tag) {
        (BLOCK, 0 | 2) | (PARTIAL, 1 | 2) => Some(8),
        (BLOCK, 1) => Some(4),
        (BLOCK | PARTIAL, 3) => Some(1),
        (PARTIAL, 0) => Some(EXACT_BYTES),
        (PARTIAL, 4) => Some(2 * EXACT_BYTES),
        (PARTIAL, 5) => Some(3 * EXACT_BYTES),
        (PARTIAL, 6 | 7) => Some(16),
        _ => None,
    }
}

/// Little-endian numbers in the machine's order (nothing to do on little-endian).
fn native<T: LittleEndian>(mut v: Vec<T>) -> Vec<T> {
    if cfg!(target_endian = "big") {
        v.iter_mut().for_each(|x| *x = x.swap_le());
    }
    v
}

/// Bytes that must each be 0 or 1.
fn bools(v: Vec<u8>) -> Option<Vec<bool>> {
    v.into_iter().map(|b| (b <= 1).then_some(b == 1)).collect()
}

fn i64_of(b: &[u8]) -> i64 {
    i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))
}

/// Decodes a whole encoding; `None` if the bytes are not a valid one.
pub fn decode(bytes: &[u8]) -> Option<Value> {
    let prefix: &[u8; PREFIX_BYTES] = bytes.get(..PREFIX_BYTES)?.try_into().ok()?;
    let (head, rest) = bytes.split_at_checked(header_bytes(prefix))?;
    let mut incoming = Incoming::new(head, rest.len() as u64)?;
    if incoming.body_len() != rest.len() {
        return None;
    }
    incoming.body_mut().copy_from_slice(rest);
    incoming.finish()
}

fn array<T>(shape: &[usize], data: Vec<T>) -> Option<ArrayD<T>> {
    ArrayD::from_shape_vec(IxDyn(shape), data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn values_round_trip() {
        let mut acc = ExactSum::new();
        acc.add_slice(&[1e300, 0.1, -3.5, f64::MIN_POSITIVE]);
        let values = [
            Value::Block(Block::F64(
                ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, -2.5, 3.0, 0.0, f64::NAN, 6.0]).expect("shape"),
            )),
            Value::Block(Block::I64(ArrayD::from_elem(IxDyn(&[]), -7))),
            Value::Block(Block::Bool(ArrayD::from_elem(IxDyn(&[4]), true))),
            Value::Block(Block::F32(ArrayD::from_elem(IxDyn(&[0, 3]), 1.5))),
            Value::Partial(Partial { shape: vec![2], data: PartialData::Exact(vec![acc.clone(), ExactSum::new()]) }),
            Value::Partial(Partial { shape: vec![], data: PartialData::I64(vec![42]) }),
            Value::Partial(Partial { shape: vec![1], data: PartialData::Moments(vec![acc.clone(), acc.clone()]) }),
            Value::Partial(Partial { shape: vec![1], data: PartialData::Moments(vec![acc.clone(); 3]) }),
            Value::Partial(Partial {
                shape: vec![2],
                data: PartialData::Arg { floats: vec![f64::NAN, -2.5], ints: Vec::new(), index: vec![7, -1] },
            }),
            Value::Partial(Partial {
                shape: vec![1],
                data: PartialData::Arg { floats: Vec::new(), ints: vec![i64::MIN], index: vec![3] },
            }),
        ];
        for v in values {
            let back = decode(&encode(&v)).expect("decodes");
            assert_eq!(encode(&back), encode(&v));
        }
        let Some(Value::Partial(p)) =
            decode(&encode(&Value::Partial(Partial { shape: vec![], data: PartialData::Exact(vec![acc.clone()]) })))
        else {
            panic!("partial")
        };
        let PartialData::Exact(sums) = p.data else { panic!("exact") };
        assert_eq!(sums[0].value().to_bits(), acc.value().to_bits());
    }

    #[test]
    fn a_contiguous_block_is_sent_as_its_own_memory() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![1.0, -2.5, 3.0, 0.0, f64::NAN, 6.0]).expect("shape");
        let contiguous = Value::Block(Block::F64(a.clone()));
        assert!(matches!(body(&contiguous), Cow::Borrowed(_)) || cfg!(target_endian = "big"));
        // A transposed (column-major) block encodes as its row-major copy does.
        let transposed = a.t().to_owned();
        assert!(transposed.as_slice().is_none(), "the strided path is the one tested");
        let standard = Value::Block(Block::F64(transposed.as_standard_layout().into_owned()));
        let strided = Value::Block(Block::F64(transposed));
        assert_eq!(encode(&strided), encode(&standard));
        let Some(Value::Block(Block::F64(back))) = decode(&encode(&strided)) else { panic!("a block") };
        assert_eq!(back.shape(), &[3, 2]);
        assert_eq!(back[[2, 1]].to_bits(), 6.0f64.to_bits());
    }

    #[test]
    fn a_header_announcing_more_than_the_limit_allocates_nothing() {
        let huge = header(&Value::Block(Block::F64(ArrayD::zeros(IxDyn(&[0])))));
        let mut huge = huge[..PREFIX_BYTES].to_vec();
        huge[2] = 2;
        huge.extend_from_slice(&(1u64 << 40).to_le_bytes());
        huge.extend_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(Incoming::new(&huge, u64::MAX).is_none(), "the element count overflows");
        huge.truncate(PREFIX_BYTES + 8);
        huge[2] = 1;
        assert!(Incoming::new(&huge, 1 << 30).is_none(), "8 TiB is over the limit");
        let mut bools = header(&Value::Block(Block::Bool(ArrayD::from_elem(IxDyn(&[2]), true))));
        bools.extend_from_slice(&[1, 2]);
        assert!(decode(&bools).is_none(), "a bool byte that is not 0 or 1");
    }

    proptest! {
        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn arbitrary_bytes_are_rejected_or_decoded(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }

        /// Truncated or extended encodings are rejected.
        #[test]
        fn damaged_encodings_are_rejected(n in 1usize..40, cut in 1usize..8) {
            let v = Value::Block(Block::F64(ArrayD::from_elem(IxDyn(&[n]), 2.0)));
            let bytes = encode(&v);
            prop_assert!(decode(&bytes[..bytes.len() - cut]).is_none());
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert!(decode(&longer).is_none());
        }
    }
}
