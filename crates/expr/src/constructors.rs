//! numpy's constructors beyond `ones`, `full`, `random` and `arange`: `linspace`,
//! `eye`, `tri`, `tril`, `triu`, the `*_like` family, and the random families
//! `normal` and `integers` (the same counter-based stream as `random`: values depend
//! only on the seed and the element's position, never on the chunking).

use tessera_chunks::{AxisChunks, ChunkSpec};
use tessera_graph::{Array, DType, GenKind, Scalar};

use crate::error::{ExprError, Pos};
use crate::eval::{Args, Env, expected, graph_err, to_array, to_chunks, to_dtype, to_int, to_shape};
use crate::value::Value;

/// The constructors here.
pub(crate) const FUNCTIONS: [&str; 11] = [
    "linspace",
    "eye",
    "tri",
    "tril",
    "triu",
    "ones_like",
    "zeros_like",
    "empty_like",
    "full_like",
    "normal",
    "integers",
];

fn number(v: Value, pos: Pos) -> Result<Scalar, ExprError> {
    match v {
        Value::Number(s) => Ok(s),
        other => Err(expected(pos, "a number", &other)),
    }
}

fn seed(args: &mut Args) -> Result<u64, ExprError> {
    match args.take(usize::MAX, "seed") {
        None | Some((Value::None, _)) => Ok(0),
        Some((v, p)) => {
            u64::try_from(to_int(&v, p, "an integer seed")?).map_err(|_| ExprError::new(p, "seed must be non-negative"))
        }
    }
}

impl Env<'_> {
    /// A constructor of [`FUNCTIONS`] called with `args`.
    pub(crate) fn constructor(&mut self, name: &str, mut args: Args, pos: Pos) -> Result<Value, ExprError> {
        let chunks = |args: &mut Args| -> Result<Option<ChunkSpec>, ExprError> {
            match args.take(usize::MAX, "chunks") {
                None | Some((Value::None, _)) => Ok(None),
                Some((v, p)) => to_chunks(&v, p).map(Some),
            }
        };
        let dtype = |args: &mut Args, i: usize| -> Result<Option<DType>, ExprError> {
            match args.take(i, "dtype") {
                None | Some((Value::None, _)) => Ok(None),
                Some((v, p)) => to_dtype(&v, p).map(Some),
            }
        };
        let int = |args: &mut Args, i: usize, name: &str, default: i64| -> Result<i64, ExprError> {
            match args.take(i, name) {
                None | Some((Value::None, _)) => Ok(default),
                Some((v, p)) => to_int(&v, p, &format!("an integer {name}")),
            }
        };
        match name {
            "linspace" => {
                let (start, sp) = args.required(0, "start")?;
                let (stop, tp) = args.required(1, "stop")?;
                let (start, stop) = (number(start, sp)?.as_f64(), number(stop, tp)?.as_f64());
                let num = int(&mut args, 2, "num", 50)?;
                let num =
                    usize::try_from(num).map_err(|_| ExprError::new(pos, "linspace: num must be non-negative"))?;
                let endpoint = match args.take(3, "endpoint") {
                    None => true,
                    Some((Value::Number(Scalar::Bool(b)), _)) => b,
                    Some((v, p)) => return Err(expected(p, "endpoint=True or False", &v)),
                };
                let (d, c) = (dtype(&mut args, usize::MAX)?.unwrap_or(DType::Float64), chunks(&mut args)?);
                args.finish()?;
                self.generate(GenKind::Linspace { start, stop, endpoint }, &[num], d, c, pos)
            }
            "eye" | "tri" => {
                let (n, np) = args.required(0, "N")?;
                let n = to_int(&n, np, "an integer N")?;
                let m = int(&mut args, 1, "M", n)?;
                let k = int(&mut args, 2, "k", 0)?;
                let (d, c) = (dtype(&mut args, 3)?.unwrap_or(DType::Float64), chunks(&mut args)?);
                args.finish()?;
                let shape =
                    to_shape(&Value::Tuple(vec![Value::Number(Scalar::Int(n)), Value::Number(Scalar::Int(m))]), pos)?;
                let kind = if name == "eye" { GenKind::Eye { k } } else { GenKind::Tri { k } };
                self.generate(kind, &shape, d, c, pos)
            }
            "tril" | "triu" => {
                let (m, mp) = args.required(0, "m")?;
                let m = to_array(m, mp)?;
                let k = int(&mut args, 1, "k", 0)?;
                args.finish()?;
                if m.ndim() < 2 {
                    return Err(ExprError::new(pos, format!("{name}() needs an array of at least 2 dimensions")));
                }
                // numpy: where(tri(rows, cols, k), m, 0) for tril; tri(k - 1) picks the
                // zeros for triu. The mask broadcasts over leading axes.
                let (rows, cols) = (m.shape()[m.ndim() - 2], m.shape()[m.ndim() - 1]);
                let mask_k = if name == "tril" { k } else { k - 1 };
                let last_two = (m.ndim() - 2..m.ndim()).map(|k| AxisChunks::Explicit(m.chunks().axis(k).to_vec()));
                let spec = ChunkSpec::PerAxis(last_two.collect());
                let mask = Array::generate(GenKind::Tri { k: mask_k }, &[rows, cols], DType::Bool, &spec, 0)
                    .map_err(graph_err(pos))?;
                // A weak zero of the array's own kind, so the dtype stays (bools stay bool).
                let zero = if m.dtype() == DType::Bool { Scalar::Bool(false) } else { Scalar::Int(0) };
                let zero = Array::scalar(zero, m.dtype());
                let r = if name == "tril" { Array::where_(&mask, &m, &zero) } else { Array::where_(&mask, &zero, &m) };
                r.map(Value::Array).map_err(graph_err(pos))
            }
            "ones_like" | "zeros_like" | "empty_like" | "full_like" => {
                let (a, ap) = args.required(0, "a")?;
                let a = to_array(a, ap)?;
                let fill = if name == "full_like" {
                    let (v, p) = args.required(1, "fill_value")?;
                    number(v, p)?
                } else {
                    Scalar::Float(if name == "ones_like" { 1.0 } else { 0.0 })
                };
                let d = dtype(&mut args, if name == "full_like" { 2 } else { 1 })?.unwrap_or(a.dtype());
                // The chunks of `a` unless given, as dask's *_like.
                let like = || {
                    ChunkSpec::PerAxis(
                        (0..a.ndim()).map(|k| AxisChunks::Explicit(a.chunks().axis(k).to_vec())).collect(),
                    )
                };
                let spec = chunks(&mut args)?.unwrap_or_else(like);
                args.finish()?;
                self.generate(GenKind::Full(fill), a.shape(), d, Some(spec), pos)
            }
            "normal" => {
                let loc = args.take(0, "loc").map(|(v, p)| number(v, p)).transpose()?.map_or(0.0, |s| s.as_f64());
                let scale = args.take(1, "scale").map(|(v, p)| number(v, p)).transpose()?.map_or(1.0, |s| s.as_f64());
                let (size, zp) = args.required(2, "size")?;
                let shape = to_shape(&size, zp)?;
                let seed = seed(&mut args)?;
                let (d, c) = (dtype(&mut args, usize::MAX)?.unwrap_or(DType::Float64), chunks(&mut args)?);
                args.finish()?;
                self.generate(GenKind::Normal { seed, loc, scale }, &shape, d, c, pos)
            }
            _ => {
                // numpy's Generator.integers(low, high=None, size=None): [0, low) alone.
                let low = int(&mut args, 0, "low", 0)?;
                let high = args.take(1, "high").map(|(v, p)| to_int(&v, p, "an integer high")).transpose()?;
                let (low, high) = match high {
                    Some(h) => (low, h),
                    None => (0, low),
                };
                let (size, zp) = args.required(2, "size")?;
                let shape = to_shape(&size, zp)?;
                let seed = seed(&mut args)?;
                let c = chunks(&mut args)?;
                args.finish()?;
                self.generate(GenKind::Integers { seed, low, high }, &shape, DType::Int64, c, pos)
            }
        }
    }
}
