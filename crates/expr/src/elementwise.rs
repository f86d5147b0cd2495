//! The language's elementwise functions: numpy's names for the graph's unary and
//! binary operations, and the few functions built from them (`clip`, `nan_to_num`,
//! `round`).

use tessera_graph::{Array, BinaryOp, DType, Scalar, UnaryOp};

use crate::error::{ExprError, Pos};
use crate::eval::{Args, Env, expected, graph_err, to_array, to_int};
use crate::value::Value;

/// The unary operation numpy calls `name` (`np.` and `da.` prefixes are stripped
/// before).
pub(crate) fn unary(name: &str) -> Option<UnaryOp> {
    Some(match name {
        "absolute" => UnaryOp::Abs,
        "negative" => UnaryOp::Neg,
        "bitwise_not" | "bitwise_invert" => UnaryOp::Invert,
        "fix" => UnaryOp::Trunc,
        _ => return UnaryOp::ALL.into_iter().find(|op| op.name() == name && *op != UnaryOp::Neg),
    })
}

/// The binary operation numpy calls `name`.
pub(crate) fn binary(name: &str) -> Option<BinaryOp> {
    Some(match name {
        "maximum" => BinaryOp::Maximum,
        "minimum" => BinaryOp::Minimum,
        "add" => BinaryOp::Add,
        "subtract" => BinaryOp::Sub,
        "multiply" => BinaryOp::Mul,
        "divide" | "true_divide" => BinaryOp::Div,
        "power" | "pow" => BinaryOp::Pow,
        "floor_divide" => BinaryOp::FloorDiv,
        "mod" | "remainder" => BinaryOp::Mod,
        "arctan2" | "atan2" => BinaryOp::Arctan2,
        "hypot" => BinaryOp::Hypot,
        "fmax" => BinaryOp::Fmax,
        "fmin" => BinaryOp::Fmin,
        "bitwise_and" => BinaryOp::BitAnd,
        "bitwise_or" => BinaryOp::BitOr,
        "bitwise_xor" => BinaryOp::BitXor,
        "logical_and" => BinaryOp::And,
        "logical_or" => BinaryOp::Or,
        "logical_xor" => BinaryOp::Xor,
        "equal" => BinaryOp::Eq,
        "not_equal" => BinaryOp::Ne,
        "less" => BinaryOp::Lt,
        "less_equal" => BinaryOp::Le,
        "greater" => BinaryOp::Gt,
        "greater_equal" => BinaryOp::Ge,
        _ => return None,
    })
}

/// The operator symbols that are binary operations (`@` is the matrix product).
pub(crate) fn operator(sym: &str) -> Option<BinaryOp> {
    Some(match sym {
        "+" => BinaryOp::Add,
        "-" => BinaryOp::Sub,
        "*" => BinaryOp::Mul,
        "/" => BinaryOp::Div,
        "//" => BinaryOp::FloorDiv,
        "%" => BinaryOp::Mod,
        "**" => BinaryOp::Pow,
        "&" => BinaryOp::BitAnd,
        "|" => BinaryOp::BitOr,
        "^" => BinaryOp::BitXor,
        "==" => BinaryOp::Eq,
        "!=" => BinaryOp::Ne,
        "<" => BinaryOp::Lt,
        "<=" => BinaryOp::Le,
        ">" => BinaryOp::Gt,
        ">=" => BinaryOp::Ge,
        _ => return None,
    })
}

/// The functions built here from other operations.
pub(crate) const COMPOSED: [&str; 4] = ["clip", "nan_to_num", "round", "around"];

/// A number or an array argument as an array (numbers as weak scalars of `like`'s
/// kind, as numpy treats Python numbers).
fn operand(v: Value, pos: Pos, like: DType) -> Result<Array, ExprError> {
    match v {
        Value::Number(s) => Ok(Array::scalar(s, s.weak_promote(like))),
        other => to_array(other, pos),
    }
}

impl Env<'_> {
    /// `clip`, `nan_to_num` and `round`.
    pub(crate) fn composed(&mut self, name: &str, mut args: Args, pos: Pos) -> Result<Value, ExprError> {
        let (x, xp) = args.required(0, if name == "clip" { "a" } else { "x" })?;
        let x = to_array(x, xp)?;
        let err = graph_err(pos);
        let result = match name {
            "clip" => {
                // numpy: minimum(maximum(x, a_min), a_max); either may be None.
                let low = args.take(1, "a_min");
                let high = args.take(2, "a_max");
                args.finish()?;
                let mut r = x.clone();
                let mut bounded = false;
                for (bound, op) in [(low, BinaryOp::Maximum), (high, BinaryOp::Minimum)] {
                    if let Some((v, p)) = bound.filter(|(v, _)| !matches!(v, Value::None)) {
                        r = r.binary(op, &operand(v, p, x.dtype())?).map_err(&err)?;
                        bounded = true;
                    }
                }
                if !bounded {
                    return Err(ExprError::new(pos, "clip() needs a_min or a_max"));
                }
                Ok(r)
            }
            "nan_to_num" => {
                let number = |arg: Option<(Value, Pos)>, default: f64| -> Result<f64, ExprError> {
                    match arg {
                        None | Some((Value::None, _)) => Ok(default),
                        Some((Value::Number(s), _)) => Ok(s.as_f64()),
                        Some((v, p)) => Err(expected(p, "a number", &v)),
                    }
                };
                let largest = if x.dtype() == DType::Float32 { f64::from(f32::MAX) } else { f64::MAX };
                let nan = number(args.take(usize::MAX, "nan"), 0.0)?;
                let posinf = number(args.take(usize::MAX, "posinf"), largest)?;
                let neginf = number(args.take(usize::MAX, "neginf"), -largest)?;
                args.take(1, "copy");
                args.finish()?;
                if !x.dtype().is_float() {
                    return Ok(Value::Array(x));
                }
                let fill = |v: f64| Array::scalar(Scalar::Float(v), x.dtype());
                let is_nan = x.unary(UnaryOp::IsNan).map_err(&err)?;
                let is_inf = x.unary(UnaryOp::IsInf).map_err(&err)?;
                let positive = x.binary_scalar(BinaryOp::Gt, Scalar::Float(0.0)).map_err(&err)?;
                let inf = Array::where_(&positive, &fill(posinf), &fill(neginf)).map_err(&err)?;
                let finite = Array::where_(&is_inf, &inf, &x).map_err(&err)?;
                Array::where_(&is_nan, &fill(nan), &finite)
            }
            _ => {
                // numpy's round: rint(x * 10**d) / 10**d (for d < 0, x / 10**-d first).
                let decimals = match args.take(1, "decimals") {
                    None => 0,
                    Some((v, p)) => to_int(&v, p, "an integer number of decimals")?,
                };
                args.finish()?;
                let kind = x.dtype();
                if kind == DType::Bool {
                    // numpy gives float16 (decimals=0) or refuses; tessera has no float16.
                    return Err(ExprError::new(
                        pos,
                        "round() of a bool array: convert it first, e.g. x.astype(float64)",
                    ));
                }
                if kind == DType::Int64 && decimals >= 0 {
                    return Ok(Value::Array(x));
                }
                // Integers round to tens, hundreds, ... in float64, and come back as integers.
                let x = if kind.is_float() { x } else { x.astype(DType::Float64) };
                let scale = Scalar::Float(10f64.powi(decimals.unsigned_abs().min(400) as i32));
                let (into, back) =
                    if decimals >= 0 { (BinaryOp::Mul, BinaryOp::Div) } else { (BinaryOp::Div, BinaryOp::Mul) };
                x.binary_scalar(into, scale)
                    .and_then(|y| y.unary(UnaryOp::Rint))
                    .and_then(|y| y.binary_scalar(back, scale))
                    .map(|y| y.astype(kind))
            }
        };
        result.map(Value::Array).map_err(graph_err(pos))
    }
}
