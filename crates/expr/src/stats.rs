//! The language's order statistics: `median`, `quantile`, `percentile` and their
//! NaN-skipping forms (`nanmedian`, `nanquantile`, `nanpercentile`).

use crate::error::{ExprError, Pos};
use crate::eval::{Args, expected, flag, graph_err, to_array, to_int};
use crate::value::Value;

/// The functions' names.
pub(crate) const FUNCTIONS: [&str; 6] =
    ["median", "nanmedian", "quantile", "nanquantile", "percentile", "nanpercentile"];

/// An order statistic of `name` called with `args`.
pub(crate) fn function(name: &str, mut args: Args, pos: Pos, auto_bytes: u64) -> Result<Value, ExprError> {
    let (x, xp) = args.receiver("a")?;
    let a = to_array(x, xp)?;
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
