//! `std::ops` for arrays: `&x * &y`, `&x + 1.0`, `-&x`. Each returns a `Result`
//! because shapes may not broadcast.

use std::ops::{Add, Div, Mul, Neg, Sub};

use super::Array;
use crate::{BinaryOp, GraphError, Scalar, UnaryOp};

macro_rules! binary_impl {
    ($trait:ident, $method:ident, $op:expr) => {
        impl $trait<&Array> for &Array {
            type Output = Result<Array, GraphError>;
            fn $method(self, rhs: &Array) -> Self::Output {
                self.binary($op, rhs)
            }
        }
        impl $trait<Array> for Array {
            type Output = Result<Array, GraphError>;
            fn $method(self, rhs: Array) -> Self::Output {
                self.binary($op, &rhs)
            }
        }
        impl $trait<f64> for &Array {
            type Output = Result<Array, GraphError>;
            fn $method(self, rhs: f64) -> Self::Output {
                self.binary_scalar($op, Scalar::Float(rhs))
            }
        }
        impl $trait<f64> for Array {
            type Output = Result<Array, GraphError>;
            fn $method(self, rhs: f64) -> Self::Output {
                self.binary_scalar($op, Scalar::Float(rhs))
            }
        }
        impl $trait<&Array> for f64 {
            type Output = Result<Array, GraphError>;
            fn $method(self, rhs: &Array) -> Self::Output {
                Array::scalar_binary(Scalar::Float(self), $op, rhs)
            }
        }
    };
}

binary_impl!(Add, add, BinaryOp::Add);
binary_impl!(Sub, sub, BinaryOp::Sub);
binary_impl!(Mul, mul, BinaryOp::Mul);
binary_impl!(Div, div, BinaryOp::Div);

impl Neg for &Array {
    type Output = Result<Array, GraphError>;
    fn neg(self) -> Self::Output {
        self.unary(UnaryOp::Neg)
    }
}
