//! The language's functions that lay arrays out along an axis: `concatenate`,
//! `stack`, `roll`, `pad`, `take` (and the method `x.take(indices, axis)`).

use tessera_graph::{Array, PadMode, Scalar};

use crate::error::{ExprError, Pos};
use crate::eval::{Args, expected, graph_err, to_array, to_axes, to_int};
use crate::value::Value;

/// The functions' names.
pub(crate) const FUNCTIONS: [&str; 5] = ["concatenate", "stack", "roll", "pad", "take"];

/// The ones that are also array methods.
pub(crate) const METHODS: [&str; 1] = ["take"];

/// A function of `name` called with `args`.
pub(crate) fn function(name: &str, mut args: Args, pos: Pos, auto_bytes: u64) -> Result<Value, ExprError> {
    if matches!(name, "concatenate" | "stack") {
        let (seq, sp) = args.required(0, "arrays")?;
        let axis = match args.take(1, "axis") {
            None => Some(0),
            Some((Value::None, _)) if name == "concatenate" => None,
            Some((v, p)) => Some(to_int(&v, p, "an integer axis")?),
        };
        args.finish()?;
        let Value::Tuple(items) = seq else { return Err(expected(sp, "a sequence of arrays", &seq)) };
        let mut arrays = items.into_iter().map(|v| to_array(v, sp)).collect::<Result<Vec<_>, _>>()?;
        let axis = match axis {
            Some(axis) => axis,
            None => {
                arrays = arrays
                    .iter()
                    .map(|a| a.ravel_with(auto_bytes))
                    .collect::<Result<_, _>>()
                    .map_err(graph_err(pos))?;
                0
            }
        };
        let result = if name == "stack" { Array::stack(&arrays, axis) } else { Array::concatenate(&arrays, axis) };
        return result.map(Value::Array).map_err(graph_err(pos));
    }
    let (x, xp) = args.receiver("a")?;
    method(&to_array(x, xp)?, name, args, pos, auto_bytes)
}

/// `a.name(args)` (its array argument removed).
pub(crate) fn method(a: &Array, name: &str, mut args: Args, pos: Pos, auto_bytes: u64) -> Result<Value, ExprError> {
    let result = match name {
        "roll" => {
            let (s, sp) = args.required(0, "shift")?;
            let axes = to_axes(args.take(1, "axis"))?;
            args.finish()?;
            let shifts = to_axes(Some((s, sp)))?.unwrap_or_default();
            let Some(axes) = axes else {
                // Rolled as one flat axis, in row-major order, as numpy does.
                let shape: Vec<i64> = a.shape().iter().map(|&n| n as i64).collect();
                let shift = match shifts.as_slice() {
                    [s] => *s,
                    _ => return Err(ExprError::new(sp, "roll() without an axis takes one shift")),
                };
                let rolled = a
                    .ravel_with(auto_bytes)
                    .and_then(|f| f.roll(shift, 0))
                    .and_then(|r| r.reshape_with(&shape, auto_bytes));
                return rolled.map(Value::Array).map_err(graph_err(pos));
            };
            let shifts = match (shifts.len(), axes.len()) {
                (1, n) => vec![shifts[0]; n],
                (m, n) if m == n => shifts,
                _ => return Err(ExprError::new(sp, "'shift' and 'axis' should be scalars or 1D sequences")),
            };
            let mut out = a.clone();
            for (shift, axis) in shifts.into_iter().zip(axes) {
                out = out.roll(shift, axis).map_err(graph_err(pos))?;
            }
            Ok(out)
        }
        "pad" => {
            let (w, wp) = args.required(0, "pad_width")?;
            let mode = match args.take(1, "mode") {
                None => "constant".to_string(),
                Some((Value::Str(m), _)) => m,
                Some((v, p)) => return Err(expected(p, "a mode such as 'constant' or 'edge'", &v)),
            };
            let value = match args.take(usize::MAX, "constant_values") {
                None => Scalar::Int(0),
                Some((Value::Number(s), _)) => s,
                Some((v, p)) => return Err(expected(p, "a number", &v)),
            };
            args.finish()?;
            let widths = pad_widths(&w, wp, a.ndim())?;
            let mode = match mode.as_str() {
                "constant" => PadMode::Constant(value),
                "edge" => PadMode::Edge,
                "reflect" => PadMode::Reflect,
                "symmetric" => PadMode::Symmetric,
                "wrap" => PadMode::Wrap,
                other => {
                    return Err(ExprError::new(
                        pos,
                        format!("pad: mode '{other}' is not supported (constant, edge, reflect, symmetric, wrap)"),
                    ));
                }
            };
            a.pad(&widths, mode)
        }
        _ => {
            let (i, ip) = args.required(0, "indices")?;
            let axis = args.take(1, "axis").map(|(v, p)| to_int(&v, p, "an integer axis")).transpose()?;
            args.finish()?;
            let Some(axis) = axis else {
                let flat = a.ravel_with(auto_bytes).map_err(graph_err(pos))?;
                return match i {
                    Value::Number(Scalar::Int(at)) => flat.slice(&[tessera_graph::Index::At(at)]),
                    other => flat.take(&indices(&other, ip)?, 0),
                }
                .map(Value::Array)
                .map_err(graph_err(pos));
            };
            match i {
                Value::Number(Scalar::Int(at)) => a.take_at(at, axis),
                other => a.take(&indices(&other, ip)?, axis),
            }
        }
    };
    result.map(Value::Array).map_err(graph_err(pos))
}

/// A list of integer indices (`[3, 1, 4]`).
pub(crate) fn indices(v: &Value, pos: Pos) -> Result<Vec<i64>, ExprError> {
    match v {
        Value::Tuple(items) => items.iter().map(|i| to_int(i, pos, "an integer index")).collect(),
        other => Err(expected(pos, "a list of integer indices", other)),
    }
}

/// numpy's `pad_width`: `n`, `(n,)`, `(before, after)`, or one pair per axis.
fn pad_widths(v: &Value, pos: Pos, ndim: usize) -> Result<Vec<(usize, usize)>, ExprError> {
    let width = |v: &Value| -> Result<usize, ExprError> {
        let n = to_int(v, pos, "a pad width (an integer)")?;
        usize::try_from(n).map_err(|_| ExprError::new(pos, "index can't contain negative values"))
    };
    let pair = |v: &Value| -> Result<(usize, usize), ExprError> {
        match v {
            Value::Tuple(p) if p.len() == 2 => Ok((width(&p[0])?, width(&p[1])?)),
            Value::Tuple(p) if p.len() == 1 => Ok((width(&p[0])?, width(&p[0])?)),
            other => width(other).map(|n| (n, n)),
        }
    };
    match v {
        Value::Tuple(items) if items.len() == ndim && items.iter().all(|i| matches!(i, Value::Tuple(_))) => {
            items.iter().map(pair).collect()
        }
        Value::Tuple(items) if items.len() == 1 && matches!(items[0], Value::Tuple(_)) => {
            Ok(vec![pair(&items[0])?; ndim])
        }
        Value::Number(_) | Value::Tuple(_) => Ok(vec![pair(v)?; ndim]),
        other => Err(expected(pos, "pad widths", other)),
    }
}
