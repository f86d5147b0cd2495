//! Elementwise operators over tiles. Operands always share a dtype (the graph inserts
//! casts), so each operator is a tight loop over one element type.

use tessera_graph::{BinaryOp, UnaryOp};

use super::numeric;
use super::tile::{Col, TileVal, map1, map2};

macro_rules! float_unary {
    ($c:expr, $op:expr, $wrap:path) => {
        $wrap(match $op {
            UnaryOp::Neg => map1($c, |x| -x),
            UnaryOp::Abs => map1($c, |x| x.abs()),
            UnaryOp::Sqrt => map1($c, |x| x.sqrt()),
            UnaryOp::Exp => map1($c, |x| x.exp()),
            UnaryOp::Log => map1($c, |x| x.ln()),
            UnaryOp::Sin => map1($c, |x| x.sin()),
            UnaryOp::Cos => map1($c, |x| x.cos()),
            UnaryOp::Tanh => map1($c, |x| x.tanh()),
            UnaryOp::Tan => map1($c, |x| x.tan()),
            UnaryOp::Arcsin => map1($c, |x| x.asin()),
            UnaryOp::Arccos => map1($c, |x| x.acos()),
            UnaryOp::Arctan => map1($c, |x| x.atan()),
            UnaryOp::Sinh => map1($c, |x| x.sinh()),
            UnaryOp::Cosh => map1($c, |x| x.cosh()),
            UnaryOp::Arcsinh => map1($c, |x| x.asinh()),
            UnaryOp::Log1p => map1($c, |x| x.ln_1p()),
            UnaryOp::Expm1 => map1($c, |x| x.exp_m1()),
            UnaryOp::Log2 => map1($c, |x| x.log2()),
            UnaryOp::Log10 => map1($c, |x| x.log10()),
            UnaryOp::Floor => map1($c, |x| x.floor()),
            UnaryOp::Ceil => map1($c, |x| x.ceil()),
            UnaryOp::Trunc => map1($c, |x| x.trunc()),
            UnaryOp::Rint => map1($c, |x| x.round_ties_even()),
            UnaryOp::Sign => map1($c, numeric::sign),
            UnaryOp::Square => map1($c, |x| x * x),
            // Predicates and bit operations never reach here (see `unary`).
            UnaryOp::IsNan | UnaryOp::IsFinite | UnaryOp::IsInf | UnaryOp::Not | UnaryOp::Invert => $c.clone(),
        })
    };
}

/// `op(a)`. The graph converts ints to floats before transcendental functions, and
/// bools to ints where an operation needs numbers.
pub fn unary(op: UnaryOp, a: &TileVal) -> TileVal {
    match (op, a) {
        (UnaryOp::IsNan, TileVal::F64(c)) => TileVal::Bool(map1(c, f64::is_nan)),
        (UnaryOp::IsNan, TileVal::F32(c)) => TileVal::Bool(map1(c, f32::is_nan)),
        (UnaryOp::IsFinite, TileVal::F64(c)) => TileVal::Bool(map1(c, f64::is_finite)),
        (UnaryOp::IsFinite, TileVal::F32(c)) => TileVal::Bool(map1(c, f32::is_finite)),
        (UnaryOp::IsInf, TileVal::F64(c)) => TileVal::Bool(map1(c, f64::is_infinite)),
        (UnaryOp::IsInf, TileVal::F32(c)) => TileVal::Bool(map1(c, f32::is_infinite)),
        (UnaryOp::IsNan | UnaryOp::IsInf, _) => TileVal::Bool(Col::Const(false)),
        (UnaryOp::IsFinite, _) => TileVal::Bool(Col::Const(true)),
        (UnaryOp::Not | UnaryOp::Invert, TileVal::Bool(c)) => TileVal::Bool(map1(c, |x| !x)),
        (UnaryOp::Not, other) => TileVal::Bool(match other.cast(tessera_chunks::DType::Bool) {
            TileVal::Bool(c) => map1(&c, |x| !x),
            _ => Col::Const(false),
        }),
        (_, TileVal::F64(c)) => float_unary!(c, op, TileVal::F64),
        (_, TileVal::F32(c)) => float_unary!(c, op, TileVal::F32),
        (_, TileVal::I64(c)) => TileVal::I64(match op {
            UnaryOp::Neg => map1(c, i64::wrapping_neg),
            UnaryOp::Abs => map1(c, i64::wrapping_abs),
            UnaryOp::Sign => map1(c, i64::signum),
            UnaryOp::Square => map1(c, |x| x.wrapping_mul(x)),
            UnaryOp::Invert => map1(c, |x| !x),
            // floor, ceil, trunc of integers are the integers.
            _ => c.clone(),
        }),
        (_, TileVal::Bool(c)) => TileVal::Bool(c.clone()),
    }
}

macro_rules! float_binary {
    ($a:expr, $b:expr, $op:expr, $wrap:path) => {
        match $op {
            BinaryOp::Add => $wrap(map2($a, $b, |x, y| x + y)),
            BinaryOp::Sub => $wrap(map2($a, $b, |x, y| x - y)),
            BinaryOp::Mul => $wrap(map2($a, $b, |x, y| x * y)),
            BinaryOp::Div => $wrap(map2($a, $b, |x, y| x / y)),
            BinaryOp::Pow => $wrap(map2($a, $b, |x, y| x.powf(y))),
            BinaryOp::Maximum => $wrap(map2($a, $b, |x, y| if x.is_nan() || y.is_nan() { x + y } else { x.max(y) })),
            BinaryOp::Minimum => $wrap(map2($a, $b, |x, y| if x.is_nan() || y.is_nan() { x + y } else { x.min(y) })),
            BinaryOp::Eq => TileVal::Bool(map2($a, $b, |x, y| x == y)),
            BinaryOp::Ne => TileVal::Bool(map2($a, $b, |x, y| x != y)),
            BinaryOp::Lt => TileVal::Bool(map2($a, $b, |x, y| x < y)),
            BinaryOp::Le => TileVal::Bool(map2($a, $b, |x, y| x <= y)),
            BinaryOp::Gt => TileVal::Bool(map2($a, $b, |x, y| x > y)),
            BinaryOp::Ge => TileVal::Bool(map2($a, $b, |x, y| x >= y)),
            BinaryOp::FloorDiv => $wrap(map2($a, $b, |x, y| numeric::divmod(x, y).0)),
            BinaryOp::Mod => $wrap(map2($a, $b, |x, y| numeric::divmod(x, y).1)),
            BinaryOp::Arctan2 => $wrap(map2($a, $b, |y, x| y.atan2(x))),
            BinaryOp::Hypot => $wrap(map2($a, $b, |x, y| x.hypot(y))),
            BinaryOp::Fmax => $wrap(map2($a, $b, numeric::fmax)),
            BinaryOp::Fmin => $wrap(map2($a, $b, numeric::fmin)),
            // Refused for floats by the graph; logical operators compute in bool.
            BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor | BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => {
                $wrap($a.clone())
            }
        }
    };
}

/// Why a binary operator could not produce a tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryError {
    /// The operands' dtypes differ (a lowering bug).
    DTypes,
    /// numpy raises for these values; the message is numpy's.
    Value(&'static str),
}

/// numpy's message for an integer raised to a negative integer power.
pub const NEGATIVE_INT_POWER: &str = "Integers to negative integer powers are not allowed.";

/// `a op b` for operands of one dtype.
pub fn binary(op: BinaryOp, a: &TileVal, b: &TileVal) -> Result<TileVal, BinaryError> {
    Ok(match (a, b) {
        (TileVal::F64(a), TileVal::F64(b)) => float_binary!(a, b, op, TileVal::F64),
        (TileVal::F32(a), TileVal::F32(b)) => float_binary!(a, b, op, TileVal::F32),
        (TileVal::I64(a), TileVal::I64(b)) => int_binary(op, a, b)?,
        (TileVal::Bool(a), TileVal::Bool(b)) => bool_binary(op, a, b),
        _ => return Err(BinaryError::DTypes),
    })
}

fn int_binary(op: BinaryOp, a: &Col<i64>, b: &Col<i64>) -> Result<TileVal, BinaryError> {
    Ok(match op {
        BinaryOp::Add => TileVal::I64(map2(a, b, i64::wrapping_add)),
        BinaryOp::Sub => TileVal::I64(map2(a, b, i64::wrapping_sub)),
        BinaryOp::Mul => TileVal::I64(map2(a, b, i64::wrapping_mul)),
        // Integer true division is lowered to float64; keep a defined answer anyway.
        BinaryOp::Div => TileVal::F64(map2(a, b, |x, y| x as f64 / y as f64)),
        BinaryOp::Pow => {
            let negative = match b {
                Col::Const(e) => *e < 0,
                Col::Vec(v) => v.iter().any(|&e| e < 0),
            };
            if negative {
                return Err(BinaryError::Value(NEGATIVE_INT_POWER));
            }
            TileVal::I64(map2(a, b, numeric::int_power))
        }
        BinaryOp::Maximum => TileVal::I64(map2(a, b, i64::max)),
        BinaryOp::Minimum => TileVal::I64(map2(a, b, i64::min)),
        BinaryOp::Eq => TileVal::Bool(map2(a, b, |x, y| x == y)),
        BinaryOp::Ne => TileVal::Bool(map2(a, b, |x, y| x != y)),
        BinaryOp::Lt => TileVal::Bool(map2(a, b, |x, y| x < y)),
        BinaryOp::Le => TileVal::Bool(map2(a, b, |x, y| x <= y)),
        BinaryOp::Gt => TileVal::Bool(map2(a, b, |x, y| x > y)),
        BinaryOp::Ge => TileVal::Bool(map2(a, b, |x, y| x >= y)),
        BinaryOp::FloorDiv => TileVal::I64(map2(a, b, numeric::floor_div_i64)),
        BinaryOp::Mod => TileVal::I64(map2(a, b, numeric::mod_i64)),
        BinaryOp::Fmax => TileVal::I64(map2(a, b, i64::max)),
        BinaryOp::Fmin => TileVal::I64(map2(a, b, i64::min)),
        BinaryOp::BitAnd => TileVal::I64(map2(a, b, |x, y| x & y)),
        BinaryOp::BitOr => TileVal::I64(map2(a, b, |x, y| x | y)),
        BinaryOp::BitXor => TileVal::I64(map2(a, b, |x, y| x ^ y)),
        // Lowered to float64 or bool by the graph; keep a defined answer anyway.
        BinaryOp::Arctan2 => TileVal::F64(map2(a, b, |y, x| (y as f64).atan2(x as f64))),
        BinaryOp::Hypot => TileVal::F64(map2(a, b, |x, y| (x as f64).hypot(y as f64))),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Xor => TileVal::I64(a.clone()),
    })
}

fn bool_binary(op: BinaryOp, a: &Col<bool>, b: &Col<bool>) -> TileVal {
    TileVal::Bool(match op {
        BinaryOp::Maximum | BinaryOp::Add => map2(a, b, |x, y| x | y),
        BinaryOp::Minimum | BinaryOp::Mul => map2(a, b, |x, y| x & y),
        BinaryOp::Eq => map2(a, b, |x, y| x == y),
        BinaryOp::Ne | BinaryOp::Sub => map2(a, b, |x, y| x != y),
        BinaryOp::Lt => map2(a, b, |x, y| !x & y),
        BinaryOp::Le => map2(a, b, |x, y| !x | y),
        BinaryOp::Gt => map2(a, b, |x, y| x & !y),
        BinaryOp::Ge => map2(a, b, |x, y| x | !y),
        BinaryOp::BitAnd | BinaryOp::And => map2(a, b, |x, y| x & y),
        BinaryOp::BitOr | BinaryOp::Or | BinaryOp::Fmax => map2(a, b, |x, y| x | y),
        BinaryOp::BitXor | BinaryOp::Xor => map2(a, b, |x, y| x ^ y),
        BinaryOp::Fmin => map2(a, b, |x, y| x & y),
        // Lowered to numbers by the graph; keep a defined answer anyway.
        BinaryOp::Div | BinaryOp::Pow | BinaryOp::FloorDiv | BinaryOp::Mod | BinaryOp::Arctan2 | BinaryOp::Hypot => {
            map2(a, b, |x, _| x)
        }
    })
}

/// `where(cond, a, b)`; `None` if `a` and `b` differ in dtype.
pub fn select(cond: &Col<bool>, a: &TileVal, b: &TileVal, len: usize) -> Option<TileVal> {
    fn pick<T: Copy>(cond: &Col<bool>, a: &Col<T>, b: &Col<T>, len: usize) -> Col<T> {
        match cond {
            Col::Const(c) => {
                if *c {
                    a.clone()
                } else {
                    b.clone()
                }
            }
            Col::Vec(c) => Col::Vec((0..len).map(|i| if c[i] { a.at(i) } else { b.at(i) }).collect()),
        }
    }
    Some(match (a, b) {
        (TileVal::F64(a), TileVal::F64(b)) => TileVal::F64(pick(cond, a, b, len)),
        (TileVal::F32(a), TileVal::F32(b)) => TileVal::F32(pick(cond, a, b, len)),
        (TileVal::I64(a), TileVal::I64(b)) => TileVal::I64(pick(cond, a, b, len)),
        (TileVal::Bool(a), TileVal::Bool(b)) => TileVal::Bool(pick(cond, a, b, len)),
        _ => return None,
    })
}
