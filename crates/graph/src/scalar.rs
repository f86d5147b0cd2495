//! Scalars: Python numbers in an expression, and constant fill values.

use serde::{Deserialize, Serialize};
use tessera_chunks::DType;

/// A constant value. Python numbers are "weak" in numpy's sense: `x * 2.0` keeps the
/// dtype of a float32 `x`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
}

impl Scalar {
    /// The dtype the scalar has on its own.
    pub fn natural_dtype(self) -> DType {
        match self {
            Scalar::Bool(_) => DType::Bool,
            Scalar::Int(_) => DType::Int64,
            Scalar::Float(_) => DType::Float64,
        }
    }

    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => f64::from(u8::from(b)),
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }

    /// The value as an integer (floats truncate toward zero, as `astype` does).
    pub fn as_i64(self) -> i64 {
        match self {
            Scalar::Bool(b) => i64::from(b),
            Scalar::Int(i) => i,
            Scalar::Float(f) => f as i64,
        }
    }

    /// The value as a boolean (non-zero is true).
    pub fn as_bool(self) -> bool {
        match self {
            Scalar::Bool(b) => b,
            Scalar::Int(i) => i != 0,
            Scalar::Float(f) => f != 0.0,
        }
    }

    /// The dtype of `array_dtype op weak_scalar` (NEP 50: the array's dtype wins unless
    /// the scalar's kind is higher).
    pub fn weak_promote(self, array_dtype: DType) -> DType {
        match (self, array_dtype) {
            (Scalar::Float(_), DType::Bool | DType::Int64) => DType::Float64,
            (Scalar::Int(_), DType::Bool) => DType::Int64,
            _ => array_dtype,
        }
    }
}
