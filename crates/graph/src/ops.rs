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
    /// `tan(x)`
    Tan,
    /// `arcsin(x)`
    Arcsin,
    /// `arccos(x)`
    Arccos,
    /// `arctan(x)`
    Arctan,
    /// `sinh(x)`
    Sinh,
    /// `cosh(x)`
    Cosh,
    /// `arcsinh(x)`
    Arcsinh,
    /// `log1p(x)`
    Log1p,
    /// `expm1(x)`
    Expm1,
    /// `log2(x)`
    Log2,
    /// `log10(x)`
    Log10,
    /// `floor(x)` (integers unchanged)
    Floor,
    /// `ceil(x)`
    Ceil,
    /// `trunc(x)`
    Trunc,
    /// `rint(x)`: to the nearest integer, ties to even
    Rint,
    /// `sign(x)`: -1, 0 or 1 (NaN stays NaN)
    Sign,
    /// `square(x)`
    Square,
    /// `isnan(x)`
    IsNan,
    /// `isfinite(x)`
    IsFinite,
    /// `isinf(x)`
    IsInf,
    /// `logical_not(x)`
    Not,
    /// `~x`: bitwise not of integers, logical not of bools
    Invert,
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
            UnaryOp::Tan => "tan",
            UnaryOp::Arcsin => "arcsin",
            UnaryOp::Arccos => "arccos",
            UnaryOp::Arctan => "arctan",
            UnaryOp::Sinh => "sinh",
            UnaryOp::Cosh => "cosh",
            UnaryOp::Arcsinh => "arcsinh",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Expm1 => "expm1",
            UnaryOp::Log2 => "log2",
            UnaryOp::Log10 => "log10",
            UnaryOp::Floor => "floor",
            UnaryOp::Ceil => "ceil",
            UnaryOp::Trunc => "trunc",
            UnaryOp::Rint => "rint",
            UnaryOp::Sign => "sign",
            UnaryOp::Square => "square",
            UnaryOp::IsNan => "isnan",
            UnaryOp::IsFinite => "isfinite",
            UnaryOp::IsInf => "isinf",
            UnaryOp::Not => "logical_not",
            UnaryOp::Invert => "invert",
        }
    }

    /// Every function, for the language's name table.
    pub const ALL: [UnaryOp; 30] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Sqrt,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tanh,
        UnaryOp::Tan,
        UnaryOp::Arcsin,
        UnaryOp::Arccos,
        UnaryOp::Arctan,
        UnaryOp::Sinh,
        UnaryOp::Cosh,
        UnaryOp::Arcsinh,
        UnaryOp::Log1p,
        UnaryOp::Expm1,
        UnaryOp::Log2,
        UnaryOp::Log10,
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Trunc,
        UnaryOp::Rint,
        UnaryOp::Sign,
        UnaryOp::Square,
        UnaryOp::IsNan,
        UnaryOp::IsFinite,
        UnaryOp::IsInf,
        UnaryOp::Not,
        UnaryOp::Invert,
    ];

    /// Whether the result is always floating point (ints are converted first).
    pub fn is_transcendental(self) -> bool {
        use UnaryOp::*;
        matches!(
            self,
            Sqrt | Exp
                | Log
                | Sin
                | Cos
                | Tanh
                | Tan
                | Arcsin
                | Arccos
                | Arctan
                | Sinh
                | Cosh
                | Arcsinh
                | Log1p
                | Expm1
                | Log2
                | Log10
                | Rint
        )
    }

    /// Whether the result is bool whatever the input.
    pub fn is_predicate(self) -> bool {
        matches!(self, UnaryOp::IsNan | UnaryOp::IsFinite | UnaryOp::IsInf | UnaryOp::Not)
    }

    /// The dtype the operation computes in, given the input's dtype (numpy's rules;
    /// where numpy would pick a small integer type, int64).
    pub fn compute_dtype(self, input: DType) -> Result<DType, GraphError> {
        let unsupported =
            |what: &str| Err(GraphError::Type(format!("ufunc '{}' not supported for {what} input", self.name())));
        match (self, input) {
            (UnaryOp::Neg, DType::Bool) => {
                Err(GraphError::Type("the unary minus is not supported for bool arrays; use ~ or 1 - x".into()))
            }
            (UnaryOp::Sign, DType::Bool) => unsupported("bool"),
            (UnaryOp::Invert, DType::Float64 | DType::Float32) => unsupported("float"),
            (UnaryOp::Not, _) => Ok(DType::Bool),
            (UnaryOp::Square, DType::Bool) => Ok(DType::Int64),
            (op, DType::Bool | DType::Int64) if op.is_transcendental() => Ok(DType::Float64),
            (_, d) => Ok(d),
        }
    }

    /// The result dtype, given the compute dtype.
    pub fn result_dtype(self, compute: DType) -> DType {
        if self.is_predicate() { DType::Bool } else { compute }
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
    /// `//`: floor division, numpy's (integers by zero give 0)
    FloorDiv,
    /// `%`: the remainder with the divisor's sign, numpy's `mod`
    Mod,
    /// `arctan2(y, x)`
    Arctan2,
    /// `hypot(a, b)`
    Hypot,
    /// `fmax(a, b)` (NaN ignored where the other is a number)
    Fmax,
    /// `fmin(a, b)`
    Fmin,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `logical_and(a, b)`
    And,
    /// `logical_or(a, b)`
    Or,
    /// `logical_xor(a, b)`
    Xor,
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
            BinaryOp::FloorDiv => "floordiv",
            BinaryOp::Mod => "mod",
            BinaryOp::Arctan2 => "arctan2",
            BinaryOp::Hypot => "hypot",
            BinaryOp::Fmax => "fmax",
            BinaryOp::Fmin => "fmin",
            BinaryOp::BitAnd => "and",
            BinaryOp::BitOr => "or",
            BinaryOp::BitXor => "xor",
            BinaryOp::And => "logical_and",
            BinaryOp::Or => "logical_or",
            BinaryOp::Xor => "logical_xor",
        }
    }

    /// Whether the operation is a comparison (its result is bool).
    pub fn is_comparison(self) -> bool {
        matches!(self, BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge)
    }

    /// Whether the operation is a logical one (operands converted to bool).
    pub fn is_logical(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Xor)
    }

    /// The dtype both operands are converted to before the operation, given the
    /// promoted operand dtype; an error for operand types numpy refuses.
    pub fn compute_dtype(self, promoted: DType) -> Result<DType, GraphError> {
        use BinaryOp::*;
        Ok(match (self, promoted) {
            (BitAnd | BitOr | BitXor, DType::Float64 | DType::Float32) => {
                return Err(GraphError::Type(format!(
                    "ufunc 'bitwise_{}' not supported for float input; use logical_{} or integers",
                    self.name(),
                    self.name()
                )));
            }
            (Sub, DType::Bool) => {
                return Err(GraphError::Type(
                    "numpy boolean subtract, the `-` operator, is not supported, use the bitwise_xor, the `^` \
                     operator, or the logical_xor function instead"
                        .into(),
                ));
            }
            (op, _) if op.is_logical() => DType::Bool,
            (Div | Arctan2 | Hypot, DType::Bool | DType::Int64) => DType::Float64,
            // numpy: bool + bool is `or`, bool * bool is `and` (bools stay bools);
            // numpy's int8 for the others is int64 here.
            (Pow | FloorDiv | Mod, DType::Bool) => DType::Int64,
            (_, d) => d,
        })
    }

    /// The result dtype, given the compute dtype.
    pub fn result_dtype(self, compute: DType) -> DType {
        if self.is_comparison() || self.is_logical() { DType::Bool } else { compute }
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
    /// numpy's `nanmin`: the minimum of the values that are not NaN (NaN when all are).
    NanMin,
    /// numpy's `nanmax`.
    NanMax,
    /// numpy's `nanmean`: the exact sum of the values that are not NaN over their count.
    NanMean,
    /// numpy's `nanvar`: the variance of the values that are not NaN, from exact moments.
    NanVar {
        /// numpy's `ddof`.
        ddof: u32,
    },
    /// numpy's `argmin`: the position of the first smallest value (of the first NaN).
    ArgMin,
    /// numpy's `argmax`.
    ArgMax,
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
            ReduceOp::NanMin => "nanmin",
            ReduceOp::NanMax => "nanmax",
            ReduceOp::NanMean => "nanmean",
            ReduceOp::NanVar { .. } => "nanvar",
            ReduceOp::ArgMin => "argmin",
            ReduceOp::ArgMax => "argmax",
        }
    }

    /// Whether partials merge the same whatever their order and grouping (exact sums,
    /// integer sums, extremes, counts; not float products).
    pub fn merges_in_any_order(self) -> bool {
        self != ReduceOp::Prod
    }

    /// numpy's result dtype.
    pub fn result_dtype(self, input: DType) -> DType {
        match (self, input) {
            (ReduceOp::ArgMin | ReduceOp::ArgMax, _) => DType::Int64,
            (ReduceOp::Sum | ReduceOp::Prod, DType::Bool) => DType::Int64,
            (
                ReduceOp::Mean | ReduceOp::Var { .. } | ReduceOp::NanMean | ReduceOp::NanVar { .. },
                DType::Bool | DType::Int64,
            ) => DType::Float64,
            (_, d) => d,
        }
    }

    /// The dtype the input is converted to before it is reduced.
    pub fn input_dtype(self, input: DType) -> DType {
        match (self, input) {
            (ReduceOp::ArgMin | ReduceOp::ArgMax, DType::Bool) => DType::Int64,
            (ReduceOp::Sum | ReduceOp::Prod, DType::Bool) => DType::Int64,
            (
                ReduceOp::Mean | ReduceOp::Var { .. } | ReduceOp::NanMean | ReduceOp::NanVar { .. },
                DType::Bool | DType::Int64,
            ) => DType::Float64,
            (_, d) => d,
        }
    }
}

/// Cumulative operations along an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScanOp {
    /// `cumsum`: each element the rounded sum of the one before and itself, left to
    /// right, as numpy adds.
    Sum,
    /// `cumprod`.
    Prod,
}

impl ScanOp {
    /// The operation's name, used in task keys.
    pub fn name(self) -> &'static str {
        match self {
            ScanOp::Sum => "cumsum",
            ScanOp::Prod => "cumprod",
        }
    }

    /// numpy's dtype: bools accumulate as int64.
    pub fn dtype(self, input: DType) -> DType {
        if input == DType::Bool { DType::Int64 } else { input }
    }
}
