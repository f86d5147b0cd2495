//! The elementwise and reduction operations, and their dtype rules.

use serde::{Deserialize, Serialize};
use tessera_chunks::DType;

use crate::GraphError;

/// Elementwise functions of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `abs(x)`
    Abs,
    /// `sqrt(x)`
    Sqrt,
    /// `exp(x)`
    Exp,
    /// `log(x)`
    Log,
    /// `sin(x)`
    Sin,
    /// `cos(x)`
    Cos,
    /// `tanh(x)`
    Tanh,
}

impl UnaryOp {
    /// The function's name in the expression language.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tanh => "tanh",
        }
    }

    /// Whether the result is always floating point (ints are converted first).
    pub fn is_transcendental(self) -> bool {
        !matches!(self, UnaryOp::Neg | UnaryOp::Abs)
    }

    /// The dtype the operation computes in, given the input's dtype.
    pub fn compute_dtype(self, input: DType) -> Result<DType, GraphError> {
        match (self, input) {
            (UnaryOp::Neg, DType::Bool) => {
                Err(GraphError::Type("the unary minus is not supported for bool arrays; use ~ or 1 - x".into()))
            }
            (UnaryOp::Abs, DType::Bool) => Ok(DType::Int64),
            (op, DType::Bool | DType::Int64) if op.is_transcendental() => Ok(DType::Float64),
            (_, d) => Ok(d),
        }
    }
}

/// Elementwise functions of two arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (true division)
    Div,
    /// `**`
    Pow,
    /// `maximum(a, b)` (NaN propagates)
    Maximum,
    /// `minimum(a, b)` (NaN propagates)
    Minimum,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl BinaryOp {
    /// The operator's name, used in task keys.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "truediv",
            BinaryOp::Pow => "pow",
            BinaryOp::Maximum => "maximum",
            BinaryOp::Minimum => "minimum",
            BinaryOp::Eq => "eq",
            BinaryOp::Ne => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::Le => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::Ge => "ge",
        }
    }

    /// Whether the operation is a comparison (its result is bool).
    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge)
    }

    /// The dtype both operands are converted to before the operation, given the
    /// promoted operand dtype.
    pub fn compute_dtype(self, promoted: DType) -> DType {
        match (self, promoted) {
            (BinaryOp::Div, DType::Bool | DType::Int64) => DType::Float64,
            (BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Pow, DType::Bool) => DType::Int64,
            (_, d) => d,
        }
    }

    /// The result dtype, given the compute dtype.
    pub fn result_dtype(self, compute: DType) -> DType {
        if self.is_comparison() { DType::Bool } else { compute }
    }
}

/// Reductions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReduceOp {
    /// Sum; for floats exactly rounded, so it does not depend on chunking or order.
    Sum,
    /// Product.
    Prod,
    /// Minimum (NaN propagates, as in numpy).
    Min,
    /// Maximum (NaN propagates, as in numpy).
    Max,
    /// Mean: the exact sum divided by the count.
    Mean,
    /// Variance with `ddof` delta degrees of freedom, in one pass: from the exact sums
    /// of the values and of their exact squares, so it does not depend on chunking.
    Var {
        /// numpy's `ddof`: the divisor is `max(n - ddof, 0)`.
        ddof: u32,
    },
}

impl ReduceOp {
    /// The reduction's name, used in task keys.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Prod => "prod",
            ReduceOp::Min => "min",
            ReduceOp::Max => "max",
            ReduceOp::Mean => "mean",
            ReduceOp::Var { .. } => "var",
        }
    }

    /// numpy's result dtype.
    pub fn result_dtype(self, input: DType) -> DType {
        match (self, input) {
            (ReduceOp::Sum | ReduceOp::Prod, DType::Bool) => DType::Int64,
            (ReduceOp::Mean | ReduceOp::Var { .. }, DType::Bool | DType::Int64) => DType::Float64,
            (_, d) => d,
        }
    }

    /// The dtype the input is converted to before it is reduced.
    pub fn input_dtype(self, input: DType) -> DType {
        match (self, input) {
            (ReduceOp::Sum | ReduceOp::Prod, DType::Bool) => DType::Int64,
            (ReduceOp::Mean | ReduceOp::Var { .. }, DType::Bool | DType::Int64) => DType::Float64,
            (_, d) => d,
        }
    }
}
