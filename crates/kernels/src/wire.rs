//! A compact binary encoding of task values for the network: a small header, then the
//! element data as raw little-endian bytes (no per-element framing). Decoding checks
//! every length, so a malformed buffer is an error, never a panic.

use ndarray::{ArrayD, IxDyn};

use crate::{Block, ExactSum, Partial, PartialData, Value};

const BLOCK: u8 = 0;
const PARTIAL: u8 = 1;

/// Encodes a value.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.nbytes() + 64);
    match value {
        Value::Block(b) => {
            out.push(BLOCK);
            let (tag, shape) = match b {
                Block::F64(a) => (0u8, a.shape()),
                Block::F32(a) => (1, a.shape()),
                Block::I64(a) => (2, a.shape()),
                Block::Bool(a) => (3, a.shape()),
            };
            out.push(tag);
            put_shape(&mut out, shape);
            match b {
                Block::F64(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
                Block::F32(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
                Block::I64(a) => a.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
                Block::Bool(a) => a.iter().for_each(|&v| out.push(u8::from(v))),
            }
        }
        Value::Partial(p) => {
            out.push(PARTIAL);
            let tag = match &p.data {
                PartialData::Exact(_) => 0u8,
                PartialData::F64(_) => 1,
                PartialData::I64(_) => 2,
                PartialData::Bool(_) => 3,
            };
            out.push(tag);
            put_shape(&mut out, &p.shape);
            match &p.data {
                PartialData::Exact(v) => v.iter().for_each(|s| {
                    let (limbs, flags) = s.to_parts();
                    out.push(flags);
                    limbs.iter().for_each(|l| out.extend_from_slice(&l.to_le_bytes()));
                }),
                PartialData::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                PartialData::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                PartialData::Bool(v) => v.iter().for_each(|&x| out.push(u8::from(x))),
            }
        }
    }
    out
}

fn put_shape(out: &mut Vec<u8>, shape: &[usize]) {
    out.push(shape.len() as u8);
    shape.iter().for_each(|&n| out.extend_from_slice(&(n as u64).to_le_bytes()));
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn shape(&mut self) -> Option<(Vec<usize>, usize)> {
        let ndim = self.u8()? as usize;
        let mut shape = Vec::with_capacity(ndim);
        let mut count: usize = 1;
        for _ in 0..ndim {
            let n = usize::try_from(u64::from_le_bytes(self.take(8)?.try_into().ok()?)).ok()?;
            count = count.checked_mul(n)?;
            shape.push(n);
        }
        Some((shape, count))
    }

    fn words<T>(&mut self, count: usize, size: usize, f: impl Fn(&[u8]) -> T) -> Option<Vec<T>> {
        let data = self.take(count.checked_mul(size)?)?;
        Some(data.chunks_exact(size).map(f).collect())
    }
}

fn f64_of(b: &[u8]) -> f64 {
    f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))
}

fn i64_of(b: &[u8]) -> i64 {
    i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))
}

/// Decodes a value; `None` if the bytes are not a valid encoding.
pub fn decode(bytes: &[u8]) -> Option<Value> {
    let mut r = Reader { bytes };
    let kind = r.u8()?;
    let tag = r.u8()?;
    let (shape, count) = r.shape()?;
    let value = match (kind, tag) {
        (BLOCK, 0) => Value::Block(Block::F64(array(&shape, r.words(count, 8, f64_of)?)?)),
        (BLOCK, 1) => Value::Block(Block::F32(array(
            &shape,
            r.words(count, 4, |b| f32::from_le_bytes(b.try_into().unwrap_or([0; 4])))?,
        )?)),
        (BLOCK, 2) => Value::Block(Block::I64(array(&shape, r.words(count, 8, i64_of)?)?)),
        (BLOCK, 3) => Value::Block(Block::Bool(array(&shape, r.words(count, 1, |b| b[0] != 0)?)?)),
        (PARTIAL, 0) => {
            let size = 1 + 8 * ExactSum::LIMBS;
            let sums = r.words(count, size, |b| {
                let limbs: Vec<i64> = b[1..].chunks_exact(8).map(i64_of).collect();
                ExactSum::from_parts(&limbs, b[0])
            })?;
            Value::Partial(Partial { shape, data: PartialData::Exact(sums.into_iter().collect::<Option<Vec<_>>>()?) })
        }
        (PARTIAL, 1) => Value::Partial(Partial { shape, data: PartialData::F64(r.words(count, 8, f64_of)?) }),
        (PARTIAL, 2) => Value::Partial(Partial { shape, data: PartialData::I64(r.words(count, 8, i64_of)?) }),
        (PARTIAL, 3) => Value::Partial(Partial { shape, data: PartialData::Bool(r.words(count, 1, |b| b[0] != 0)?) }),
        _ => return None,
    };
    r.bytes.is_empty().then_some(value)
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
