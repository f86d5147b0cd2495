//! The language's order statistics: `median`, `quantile`, `percentile` and their
//! NaN-skipping forms (`nanmedian`, `nanquantile`, `nanpercentile`), and `histogram`.

use tessera_chunks::ChunkSpec;
use tessera_graph::{Array, BinEdges, DType, GenKind, Scalar};

use crate::error::{ExprError, Pos};
use crate::eval::{Args, expected, flag, graph_err, to_array, to_int};
use crate::value::Value;

/// The functions' names.
pub(crate) const FUNCTIONS: [&str; 7] =
    ["median", "nanmedian", "quantile", "nanquantile", "percentile", "nanpercentile", "histogram"];

/// An order statistic of `name` called with `args`.
pub(crate) fn function(name: &str, mut args: Args, pos: Pos, auto_bytes: u64) -> Result<Value, ExprError> {
    let (x, xp) = args.receiver("a")?;
    let a = to_array(x, xp)?;
    if name == "histogram" {
        return histogram(&a, args, pos, auto_bytes);
    }
    let skip_nan = name.starts_with("nan");
    let median = name.ends_with("median");
    let (qs, listed) = if median {
        (Vec::new(), false)
    } else {
        let (q, qp) = args.required(0, "q")?;
        let number = |v: &Value| match v {
            Value::Number(s) => Ok(s.as_f64()),
            other => Err(expected(qp, "a quantile (a number or a list of numbers)", other)),
        };
        let (qs, listed) = match &q {
            Value::Tuple(items) => (items.iter().map(number).collect::<Result<Vec<_>, _>>()?, true),
            other => (vec![number(other)?], false),
        };
        if name.ends_with("percentile") {
            if let Some(p) = qs.iter().find(|p| !(0.0..=100.0).contains(*p)) {
                return Err(ExprError::new(qp, format!("Percentiles must be in the range [0, 100], not {p}")));
            }
            (qs.iter().map(|p| p / 100.0).collect(), listed)
        } else {
            (qs, listed)
        }
    };
    let at = usize::from(!median);
    let axis = match args.take(at, "axis") {
        None | Some((Value::None, _)) => None,
        Some((v, p)) => Some(to_int(&v, p, "one axis (an integer)")?),
    };
    if let Some((m, p)) = args.take(usize::MAX, "method")
        && (median || !matches!(&m, Value::Str(s) if s == "linear"))
    {
        return Err(ExprError::new(p, "only method='linear' (numpy's default) is supported"));
    }
    let keepdims = flag(args.take(usize::MAX, "keepdims"), "keepdims=True or False")?;
    args.finish()?;
    if keepdims && listed {
        return Err(ExprError::new(pos, "keepdims with a list of quantiles is not supported"));
    }
    let result =
        if median { a.median(axis, skip_nan, auto_bytes) } else { a.quantile(&qs, listed, axis, skip_nan, auto_bytes) };
    let result = match result {
        Ok(r) if keepdims => {
            let axes = axis.map(|x| vec![x]);
            a.keep_reduced_dims(&r, axes.as_deref())
        }
        other => other,
    };
    result.map(Value::Array).map_err(graph_err(pos))
}

/// numpy's `histogram(a, bins=10, range=None)` with `range` required for a number of
/// bins (as Dask requires it; numpy would compute the data's min and max first), or
/// `bins` a list of increasing edges. Returns `(hist, bin_edges)`: each block counted
/// into the bins, the counts summed in exact integers.
fn histogram(a: &Array, mut args: Args, pos: Pos, auto_bytes: u64) -> Result<Value, ExprError> {
    let err = graph_err(pos);
    let bins = args.take(0, "bins");
    let range = args.take(1, "range");
    for unsupported in ["weights", "density"] {
        if let Some((v, p)) = args.take(usize::MAX, unsupported)
            && !matches!(v, Value::None | Value::Number(Scalar::Bool(false)))
        {
            return Err(ExprError::new(p, format!("histogram: {unsupported}= is not supported")));
        }
    }
    args.finish()?;
    let number = |v: &Value, p: Pos| match v {
        Value::Number(s) => Ok(s.as_f64()),
        other => Err(expected(p, "a number", other)),
    };
    let whole = ChunkSpec::Uniform(tessera_chunks::AxisChunks::Whole);
    let (bin_edges, edges) = match bins {
        Some((Value::Tuple(items), p)) => {
            if items.len() > tessera_graph::MAX_BINS + 1 {
                return Err(ExprError::new(p, format!("histogram: at most {} bins", tessera_graph::MAX_BINS)));
            }
            let e = items.iter().map(|v| number(v, p)).collect::<Result<Vec<_>, _>>()?;
            if e.len() < 2 || e.windows(2).any(|w| w[1] < w[0]) || e.iter().any(|v| v.is_nan()) {
                return Err(ExprError::new(p, "`bins` must increase monotonically, when an array"));
            }
            // The edges as a 1-D float64 array: one constant per edge, side by side.
            let parts = e
                .iter()
                .map(|&v| Array::full(&[1], Scalar::Float(v), DType::Float64, &whole))
                .collect::<Result<Vec<_>, _>>()
                .map_err(&err)?;
            let array = Array::concatenate(&parts, 0).and_then(|c| c.rechunk(&whole)).map_err(&err)?;
            (BinEdges::Listed(e), array)
        }
        bins => {
            let n = match bins {
                None => 10,
                Some((v, p)) => to_int(&v, p, "a number of bins or a list of edges")?,
            };
            let n = usize::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| ExprError::new(pos, "`bins` must be positive, when an integer"))?;
            let Some((Value::Tuple(r), rp)) = range else {
                return Err(ExprError::new(
                    pos,
                    "histogram: give range=(lo, hi) with a number of bins (as Dask requires), or bins as a list of edges",
                ));
            };
            let [lo, hi] = r.as_slice() else { return Err(ExprError::new(rp, "range must be (lo, hi)")) };
            let (mut lo, mut hi) = (number(lo, rp)?, number(hi, rp)?);
            if !(lo.is_finite() && hi.is_finite()) {
                return Err(ExprError::new(rp, format!("supplied range of [{lo}, {hi}] is not finite")));
            }
            if lo > hi {
                return Err(ExprError::new(rp, "max must be larger than min in range parameter."));
            }
            if lo == hi {
                (lo, hi) = (lo - 0.5, hi + 0.5);
            }
            // numpy: edges in the data's float type (Python range numbers are weak).
            let dtype = if a.dtype() == DType::Float32 { DType::Float32 } else { DType::Float64 };
            let kind = GenKind::Linspace { start: lo, stop: hi, endpoint: true };
            let array = Array::generate(kind, &[n + 1], dtype, &whole, auto_bytes).map_err(&err)?;
            (BinEdges::Uniform { lo, hi, bins: n, dtype }, array)
        }
    };
    let counts = a.histogram(bin_edges).map_err(&err)?;
    Ok(Value::Tuple(vec![Value::Array(counts), Value::Array(edges)]))
}
