//! Elementwise operations: dtype promotion, broadcasting, casts.

use tessera_chunks::{Chunks, DType};

use super::{Array, Op};
use crate::{BinaryOp, GraphError, Scalar, SrcAxis, UnaryOp, ViewMap};

impl Array {
    /// `op(self)`, converting ints to float64 first for transcendental functions.
    pub fn unary(&self, op: UnaryOp) -> Result<Array, GraphError> {
        let dtype = op.compute_dtype(self.dtype())?;
        let input = self.astype(dtype);
        let result = op.result_dtype(dtype);
        Ok(Array::new(Op::Unary(op, input.clone()), input.shape().to_vec(), result, input.chunks().clone()))
    }

    /// `self.astype(dtype)`; the array itself when the dtype already matches.
    pub fn astype(&self, dtype: DType) -> Array {
        if self.dtype() == dtype {
            return self.clone();
        }
        if let Op::Scalar(s) = self.op() {
            return Array::scalar(*s, dtype);
        }
        Array::new(Op::Cast(self.clone()), self.shape().to_vec(), dtype, self.chunks().clone())
    }

    /// `self op other` with numpy broadcasting and type promotion.
    pub fn binary(&self, op: BinaryOp, other: &Array) -> Result<Array, GraphError> {
        let promoted = promote_operands(self, other);
        let compute = op.compute_dtype(promoted)?;
        if op == BinaryOp::Pow && compute == DType::Int64 && matches!(other.op(), Op::Scalar(s) if s.as_f64() < 0.0) {
            // numpy's ValueError; negative exponents inside arrays fail in the kernel.
            return Err(GraphError::Type("Integers to negative integer powers are not allowed.".into()));
        }
        let shape = broadcast_shapes(self.shape(), other.shape())?;
        let a = self.astype(compute).broadcast_to(&shape)?;
        if op == BinaryOp::Pow && compute.is_float() && matches!(other.op(), Op::Scalar(s) if s.as_f64() == 0.5) {
            // numpy computes `x ** 0.5` with a scalar exponent as a square root, not
            // `pow`: `(-inf) ** 0.5` is NaN and `(-0.0) ** 0.5` is -0.0 there.
            return a.unary(UnaryOp::Sqrt);
        }
        let b = other.astype(compute).broadcast_to(&shape)?;
        let chunks = a.chunks().refine(b.chunks());
        Ok(Array::new(Op::Binary(op, a, b), shape, op.result_dtype(compute), chunks))
    }

    /// `self op value`, the value being a Python number (a "weak" scalar).
    pub fn binary_scalar(&self, op: BinaryOp, value: Scalar) -> Result<Array, GraphError> {
        let dtype = value.weak_promote(self.dtype());
        self.binary(op, &Array::scalar(value, dtype))
    }

    /// `value op self`, the value being a Python number.
    pub fn scalar_binary(value: Scalar, op: BinaryOp, other: &Array) -> Result<Array, GraphError> {
        let dtype = value.weak_promote(other.dtype());
        Array::scalar(value, dtype).binary(op, other)
    }

    /// `where(cond, a, b)` with broadcasting of all three.
    pub fn where_(cond: &Array, a: &Array, b: &Array) -> Result<Array, GraphError> {
        let dtype = promote_operands(a, b);
        let shape = broadcast_shapes(&broadcast_shapes(cond.shape(), a.shape())?, b.shape())?;
        let c = cond.astype(DType::Bool).broadcast_to(&shape)?;
        let a = a.astype(dtype).broadcast_to(&shape)?;
        let b = b.astype(dtype).broadcast_to(&shape)?;
        let chunks = c.chunks().refine(a.chunks()).refine(b.chunks());
        Ok(Array::new(Op::Where(c, a, b), shape, dtype, chunks))
    }

    /// The array broadcast to `shape` (numpy rules); itself when the shape matches.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Array, GraphError> {
        if self.shape() == shape {
            return Ok(self.clone());
        }
        let n = shape.len();
        let m = self.ndim();
        let error = || GraphError::Broadcast { a: self.shape().to_vec(), b: shape.to_vec() };
        if m > n {
            return Err(error());
        }
        let mut axes = Vec::with_capacity(m);
        for (k, &len) in self.shape().iter().enumerate() {
            let o = n - m + k;
            if len == shape[o] {
                axes.push(SrcAxis { out_axis: Some(o), offset: 0, step: 1 });
            } else if len == 1 {
                axes.push(SrcAxis { out_axis: None, offset: 0, step: 0 });
            } else {
                return Err(error());
            }
        }
        let lengths = (0..n)
            .map(|o| match o.checked_sub(n - m) {
                Some(k) if self.shape()[k] == shape[o] => self.chunks().axis(k).to_vec(),
                _ => vec![shape[o]],
            })
            .collect();
        let map = ViewMap { out_ndim: n, axes };
        Ok(Array::new(Op::View(self.clone(), map), shape.to_vec(), self.dtype(), Chunks::from_lengths(lengths)))
    }
}

/// The dtype of a binary operation's operands: scalars are weak (NEP 50).
fn promote_operands(a: &Array, b: &Array) -> DType {
    match (a.op(), b.op()) {
        (Op::Scalar(_), Op::Scalar(_)) => DType::promote(a.dtype(), b.dtype()),
        (Op::Scalar(s), _) => s.weak_promote(b.dtype()),
        (_, Op::Scalar(s)) => s.weak_promote(a.dtype()),
        _ => DType::promote(a.dtype(), b.dtype()),
    }
}

/// numpy's broadcasting of two shapes.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Result<Vec<usize>, GraphError> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for (i, slot) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        *slot = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(GraphError::Broadcast { a: a.to_vec(), b: b.to_vec() }),
        };
    }
    Ok(out)
}
