//! The linear algebra a Dask user reaches for first: `dot`, `outer`, `tensordot`,
//! `einsum`, `linalg.norm` (`matmul` and `@` are the graph's own matrix product).

use tessera_graph::{BinaryOp, Index, ReduceOp, Scalar, UnaryOp};

use crate::error::{ExprError, Pos};
use crate::eval::{Args, expected, graph_err, to_array, to_axes};
use crate::value::Value;

/// The functions here.
pub(crate) const FUNCTIONS: [&str; 5] = ["dot", "outer", "norm", "tensordot", "einsum"];

/// A linear-algebra function of [`FUNCTIONS`].
pub(crate) fn function(name: &str, mut args: Args, pos: Pos, auto_bytes: u64) -> Result<Value, ExprError> {
    let err = graph_err(pos);
    let result = match name {
        "dot" | "outer" => {
            let (a, ap) = args.required(0, "a")?;
            let (b, bp) = args.required(1, "b")?;
            args.finish()?;
            let (a, b) = (to_array(a, ap)?, to_array(b, bp)?);
            if name == "outer" {
                // numpy flattens both.
                let (a, b) = (a.ravel_with(auto_bytes).map_err(&err)?, b.ravel_with(auto_bytes).map_err(&err)?);
                let column = a.slice(&[Index::FULL, Index::NewAxis]).map_err(&err)?;
                let row = b.slice(&[Index::NewAxis, Index::FULL]).map_err(&err)?;
                column.binary(BinaryOp::Mul, &row)
            } else {
                match (a.ndim(), b.ndim()) {
                    (0, _) | (_, 0) => a.binary(BinaryOp::Mul, &b),
                    (1, 1) => {
                        if a.shape() != b.shape() {
                            return Err(ExprError::new(
                                pos,
                                format!("shapes {:?} and {:?} not aligned", a.shape(), b.shape()),
                            ));
                        }
                        a.binary(BinaryOp::Mul, &b).and_then(|p| p.reduce(ReduceOp::Sum, None))
                    }
                    (2, 2) => a.matmul(&b),
                    (2, 1) => b
                        .slice(&[Index::FULL, Index::NewAxis])
                        .and_then(|col| a.matmul(&col))
                        .and_then(|m| m.slice(&[Index::FULL, Index::At(0)])),
                    (1, 2) => a
                        .slice(&[Index::NewAxis, Index::FULL])
                        .and_then(|row| row.matmul(&b))
                        .and_then(|m| m.slice(&[Index::At(0), Index::FULL])),
                    // The last axis of `a` with the second-to-last of `b` (its only one if 1-D).
                    (_, bn) => a.tensordot(&b, &[-1], &[if bn == 1 { 0 } else { -2 }]),
                }
            }
        }
        "tensordot" => {
            let (a, ap) = args.required(0, "a")?;
            let (b, bp) = args.required(1, "b")?;
            let axes = args.take(2, "axes");
            args.finish()?;
            let (a, b) = (to_array(a, ap)?, to_array(b, bp)?);
            let (axes_a, axes_b) = match axes {
                None => last_and_first(&a, 2),
                Some((Value::Number(Scalar::Int(n)), p)) => {
                    let n = usize::try_from(n).map_err(|_| ExprError::new(p, "axes must be non-negative"))?;
                    if n > a.ndim() || n > b.ndim() {
                        return Err(ExprError::new(p, format!("tensordot: {n} axes to sum over is too many")));
                    }
                    last_and_first(&a, n)
                }
                Some((Value::Tuple(pair), p)) if pair.len() == 2 => {
                    let list = |v: &Value| to_axes(Some((v.clone(), p))).map(Option::unwrap_or_default);
                    (list(&pair[0])?, list(&pair[1])?)
                }
                Some((v, p)) => return Err(expected(p, "axes: an integer or a pair of axis lists", &v)),
            };
            a.tensordot(&b, &axes_a, &axes_b)
        }
        "einsum" => {
            let (spec, sp) = args.required(0, "subscripts")?;
            let Value::Str(spec) = spec else { return Err(expected(sp, "subscripts such as 'ij,jk->ik'", &spec)) };
            let mut operands = Vec::new();
            let mut i = 1;
            while let Some((v, p)) = args.take(i, "operand") {
                operands.push(to_array(v, p)?);
                i += 1;
            }
            args.finish()?;
            tessera_graph::Array::einsum(&spec, &operands)
        }
        _ => {
            // numpy.linalg.norm(x, ord=None, axis=None, keepdims=False): vector norms
            // along `axis` (2, 1, inf, -inf; the Frobenius norm of all elements by default).
            let (x, xp) = args.required(0, "x")?;
            let x = to_array(x, xp)?;
            let ord = args.take(1, "ord");
            let axes = to_axes(args.take(2, "axis"))?;
            let keep = match args.take(3, "keepdims") {
                None => false,
                Some((Value::Number(Scalar::Bool(b)), _)) => b,
                Some((v, p)) => return Err(expected(p, "keepdims=True or False", &v)),
            };
            args.finish()?;
            // Integers and bools become float64; float32 stays float32, as numpy's.
            let x = if x.dtype().is_float() { x } else { x.astype(tessera_graph::DType::Float64) };
            let magnitude = x.unary(UnaryOp::Abs).map_err(&err)?;
            let ord = match ord {
                None | Some((Value::None, _)) => 2.0,
                Some((Value::Str(s), _)) if s == "fro" => 2.0,
                Some((Value::Number(s), _)) => s.as_f64(),
                Some((v, p)) => return Err(expected(p, "ord=None, 'fro', 1, 2, inf or -inf", &v)),
            };
            let axes = axes.as_deref();
            if axes.is_some_and(|a| a.len() > 1) && ord != 2.0 {
                return Err(ExprError::new(pos, "matrix norms other than 'fro' are not supported yet"));
            }
            let norm = if ord == f64::INFINITY {
                magnitude.reduce(ReduceOp::Max, axes)
            } else if ord == f64::NEG_INFINITY {
                magnitude.reduce(ReduceOp::Min, axes)
            } else if ord == 1.0 {
                magnitude.reduce(ReduceOp::Sum, axes)
            } else if ord == 2.0 {
                magnitude
                    .binary(BinaryOp::Mul, &magnitude)
                    .and_then(|sq| sq.reduce(ReduceOp::Sum, axes))
                    .and_then(|s| s.unary(UnaryOp::Sqrt))
            } else {
                return Err(ExprError::new(
                    pos,
                    format!("norm ord={ord} is not supported (None, 'fro', 1, 2, inf, -inf)"),
                ));
            };
            let norm = norm.map_err(&err)?;
            if keep { x.keep_reduced_dims(&norm, axes) } else { Ok(norm) }
        }
    };
    result.map(Value::Array).map_err(graph_err(pos))
}

/// tensordot's `axes=n`: the last `n` axes of `a` with the first `n` of `b`.
fn last_and_first(a: &tessera_graph::Array, n: usize) -> (Vec<i64>, Vec<i64>) {
    let first = a.ndim().saturating_sub(n) as i64;
    ((first..a.ndim() as i64).collect(), (0..n as i64).collect())
}
