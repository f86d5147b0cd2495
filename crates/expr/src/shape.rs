//! The language's shape functions, all views: `expand_dims`, `squeeze`, `moveaxis`,
//! `swapaxes`, `flip`, `fliplr`, `flipud`, `broadcast_to` (and the methods
//! `x.squeeze()`, `x.swapaxes(a, b)`).

use tessera_graph::Array;

use crate::error::{ExprError, Pos};
use crate::eval::{Args, expected, graph_err, to_array, to_axes, to_int, to_shape};
use crate::value::Value;

/// The shape functions' names.
pub(crate) const FUNCTIONS: [&str; 11] = [
    "expand_dims",
    "squeeze",
    "moveaxis",
    "swapaxes",
    "flip",
    "fliplr",
    "flipud",
    "broadcast_to",
    "diff",
    "reshape",
    "ravel",
];

/// The ones that are also array methods (and `x.flatten()`).
pub(crate) const METHODS: [&str; 5] = ["squeeze", "swapaxes", "reshape", "ravel", "flatten"];

/// A shape function of `name` called with `args` (the array first).
pub(crate) fn function(name: &str, mut args: Args, pos: Pos, auto_bytes: u64) -> Result<Value, ExprError> {
    let (x, xp) = args.receiver(if name.starts_with("flip") { "m" } else { "a" })?;
    let a = to_array(x, xp)?;
    method(&a, name, args, pos, auto_bytes)
}

/// `a.name(args)` for a shape function of `name` (its array argument removed).
pub(crate) fn method(a: &Array, name: &str, mut args: Args, pos: Pos, auto_bytes: u64) -> Result<Value, ExprError> {
    let axes = |v: Option<(Value, Pos)>| -> Result<Option<Vec<i64>>, ExprError> { to_axes(v) };
    let required_axes = |v: Option<(Value, Pos)>, what: &str| -> Result<Vec<i64>, ExprError> {
        match v {
            None | Some((Value::None, _)) => Err(ExprError::new(pos, format!("{name}() needs {what}"))),
            some => Ok(to_axes(some)?.unwrap_or_default()),
        }
    };
    let result = match name {
        "expand_dims" => {
            let ax = required_axes(args.take(0, "axis"), "axis")?;
            args.finish()?;
            a.expand_dims(&ax)
        }
        "squeeze" => {
            let ax = axes(args.take(0, "axis"))?;
            args.finish()?;
            a.squeeze(ax.as_deref())
        }
        "moveaxis" => {
            let source = required_axes(args.take(0, "source"), "source")?;
            let destination = required_axes(args.take(1, "destination"), "destination")?;
            args.finish()?;
            a.moveaxis(&source, &destination)
        }
        "swapaxes" => {
            let (x, xp) = args.required(0, "axis1")?;
            let (y, yp) = args.required(1, "axis2")?;
            args.finish()?;
            a.swapaxes(to_int(&x, xp, "an axis")?, to_int(&y, yp, "an axis")?)
        }
        "fliplr" | "flipud" => {
            args.finish()?;
            if a.ndim() < 2 && name == "fliplr" {
                return Err(ExprError::new(pos, "fliplr() needs an array of at least 2 dimensions"));
            }
            a.flip(Some(&[i64::from(name == "fliplr")]))
        }
        "diff" => {
            let n = args.take(0, "n").map(|(v, p)| to_int(&v, p, "an integer n")).transpose()?.unwrap_or(1);
            let axis = args.take(1, "axis").map(|(v, p)| to_int(&v, p, "an axis")).transpose()?.unwrap_or(-1);
            args.finish()?;
            let n = usize::try_from(n)
                .map_err(|_| ExprError::new(pos, format!("order must be non-negative but got {n}")))?;
            a.diff(n, axis)
        }
        "reshape" => {
            let mut dims = Vec::new();
            let mut i = 0;
            while let Some((v, p)) = args.take(i, "shape") {
                match v {
                    Value::Tuple(items) => {
                        for item in &items {
                            dims.push(to_int(item, p, "a shape (integers, one of them -1)")?);
                        }
                    }
                    other => dims.push(to_int(&other, p, "a shape (integers, one of them -1)")?),
                }
                i += 1;
            }
            if i == 0 {
                return Err(ExprError::new(pos, "reshape() needs a shape"));
            }
            if let Some((Value::Str(order), p)) = args.take(usize::MAX, "order")
                && order != "C"
            {
                return Err(ExprError::new(p, "reshape: only order='C' (row-major) is supported"));
            }
            args.finish()?;
            a.reshape_with(&dims, auto_bytes)
        }
        "ravel" | "flatten" => {
            args.finish()?;
            a.ravel_with(auto_bytes)
        }
        "flip" => {
            let ax = axes(args.take(0, "axis"))?;
            args.finish()?;
            a.flip(ax.as_deref())
        }
        _ => {
            let (s, sp) = args.required(0, "shape")?;
            args.finish()?;
            let shape = match s {
                Value::Number(_) | Value::Tuple(_) => to_shape(&s, sp)?,
                other => return Err(expected(sp, "a shape", &other)),
            };
            a.broadcast_to(&shape)
        }
    };
    result.map(Value::Array).map_err(graph_err(pos))
}
