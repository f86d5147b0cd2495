//! Evaluation: from the syntax tree to lazy arrays.

use std::collections::HashMap;
use std::sync::Arc;

use tessera_chunks::{ChunkSpec, DEFAULT_CHUNK_BYTES, DType};
use tessera_graph::{Array, BinaryOp, GenKind, GraphError, Index, MAX_GRAPH_DEPTH, ReduceOp, Scalar, UnaryOp};

use crate::ast::{Expr, ExprKind, Stmt, Subscript};
use crate::error::{ErrorKind, ExprError, Pos};
use crate::parser::parse;
use crate::value::Value;

/// The counting pass of a boolean mask `x[m]`: computes the per-block counts that
/// [`Array::block_counts`] describes (an error message if it cannot). Evaluation
/// builds graphs but runs none, so whoever runs them supplies this.
pub type CountPass = Arc<dyn Fn(&Array) -> Result<Vec<u64>, String> + Send + Sync>;

/// Settings that apply to the whole expression.
#[derive(Clone)]
pub struct EvalOptions {
    /// Replaces the `chunks=` of every constructor (the CLI's `--chunks`).
    pub chunks: Option<ChunkSpec>,
    /// Byte target of `auto` chunks.
    pub auto_bytes: u64,
    /// Runs the counting pass of boolean masks; without it a mask is refused.
    pub count_pass: Option<CountPass>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions { chunks: None, auto_bytes: DEFAULT_CHUNK_BYTES, count_pass: None }
    }
}

impl std::fmt::Debug for EvalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalOptions")
            .field("chunks", &self.chunks)
            .field("auto_bytes", &self.auto_bytes)
            .field("count_pass", &self.count_pass.as_ref().map(|_| "supplied"))
            .finish()
    }
}

/// Parses and evaluates a program; the value of its last statement is the result.
pub fn evaluate(src: &str, options: &EvalOptions) -> Result<Value, ExprError> {
    Program::parse(src)?.evaluate(options)
}

/// A parsed program: parsed once, evaluated as often as needed (with other chunks,
/// another `auto` target) without reading its text again.
#[derive(Debug, Clone)]
pub struct Program {
    stmts: Vec<Stmt>,
}

impl Program {
    /// Parses `src`; syntax errors name their line and column.
    pub fn parse(src: &str) -> Result<Program, ExprError> {
        Ok(Program { stmts: parse(src)? })
    }

    /// Evaluates the program; the value of its last statement is the result.
    pub fn evaluate(&self, options: &EvalOptions) -> Result<Value, ExprError> {
        run(&self.stmts, options, HashMap::new())
    }

    /// Evaluates the program with variables already bound: how a host language (the
    /// Python package) calls the language's functions, methods, operators and
    /// indexing on values it holds, with the same semantics and errors as programs.
    pub fn evaluate_with(&self, options: &EvalOptions, vars: HashMap<String, Value>) -> Result<Value, ExprError> {
        run(&self.stmts, options, vars)
    }
}

fn run(stmts: &[Stmt], options: &EvalOptions, vars: HashMap<String, Value>) -> Result<Value, ExprError> {
    let mut env = Env { vars, options, writes: Vec::new() };
    let mut last = Value::None;
    let mut last_pos = crate::error::Pos::default();
    for stmt in stmts {
        let (Stmt::Assign(_, e) | Stmt::Expr(e)) = stmt;
        let v = env.eval(e)?;
        // Each statement adds at most MAX_NESTING levels, so a chain of statements is
        // stopped here soon after it passes the limit, long before anything walks it.
        if let Value::Array(a) = &v
            && a.depth() > MAX_GRAPH_DEPTH
        {
            return Err(graph_err(e.pos)(GraphError::TooDeep { depth: a.depth() }));
        }
        if let Stmt::Assign(name, _) = stmt {
            env.vars.insert(name.clone(), v.clone());
        }
        last = v;
        last_pos = e.pos;
    }
    if env.writes.is_empty() {
        return Ok(last);
    }
    // A source that writes has the writes' summary as its result, so it must end with them.
    if !matches!(last, Value::Written) {
        return Err(ExprError::new(
            last_pos,
            "a source that writes (to_zarr, to_npy) ends with its writes, whose summary is the result; \
             compute other results in another run",
        ));
    }
    Array::write(env.writes).map(Value::Array).map_err(graph_err(last_pos))
}

const NAMESPACES: [&str; 3] = ["da", "np", "numpy"];
const REDUCTIONS: [&str; 21] = [
    "sum",
    "mean",
    "min",
    "max",
    "prod",
    "std",
    "var",
    "any",
    "all",
    "count_nonzero",
    "nansum",
    "nanprod",
    "nanmin",
    "nanmax",
    "nanmean",
    "nanvar",
    "nanstd",
    "cumsum",
    "cumprod",
    "argmin",
    "argmax",
];

pub(crate) struct Env<'o> {
    vars: HashMap<String, Value>,
    pub(crate) options: &'o EvalOptions,
    /// The writes (`to_zarr`, `to_npy`) so far, in source order.
    pub(crate) writes: Vec<(Array, tessera_store::WriteTarget)>,
}

/// Arguments of one call, taken by position or keyword.
pub(crate) struct Args {
    what: String,
    pos: Pos,
    positional: Vec<Option<(Value, Pos)>>,
    keywords: Vec<(String, Value, Pos)>,
}

impl Args {
    pub(crate) fn take(&mut self, index: usize, name: &str) -> Option<(Value, Pos)> {
        if let Some(i) = self.keywords.iter().position(|(k, _, _)| k == name) {
            let (_, v, p) = self.keywords.remove(i);
            return Some((v, p));
        }
        self.positional.get_mut(index).and_then(Option::take)
    }

    pub(crate) fn required(&mut self, index: usize, name: &str) -> Result<(Value, Pos), ExprError> {
        self.take(index, name).ok_or_else(|| {
            ExprError::new(self.pos, format!("{}() missing required argument '{name}'", self.what))
                .of_kind(ErrorKind::Type)
        })
    }

    /// The first argument, removed so that the rest count from 0: the array a
    /// function form passes on to its method form (`squeeze(x, 0)` is `x.squeeze(0)`).
    pub(crate) fn receiver(&mut self, name: &str) -> Result<(Value, Pos), ExprError> {
        let first = self.required(0, name)?;
        if !self.positional.is_empty() {
            self.positional.remove(0);
        }
        Ok(first)
    }

    pub(crate) fn finish(self) -> Result<(), ExprError> {
        if let Some((k, _, p)) = self.keywords.first() {
            return Err(ExprError::new(*p, format!("{}() got an unexpected keyword argument '{k}'", self.what))
                .of_kind(ErrorKind::Type));
        }
        if let Some((_, p)) = self.positional.iter().flatten().next() {
            return Err(ExprError::new(*p, format!("{}() got too many positional arguments", self.what))
                .of_kind(ErrorKind::Type));
        }
        Ok(())
    }
}

pub(crate) fn graph_err(pos: Pos) -> impl Fn(GraphError) -> ExprError {
    move |e| ExprError::new(pos, e.to_string()).of_kind(ErrorKind::of(&e))
}

pub(crate) fn expected(pos: Pos, what: &str, got: &Value) -> ExprError {
    ExprError::new(pos, format!("expected {what} but got {}", got.kind())).of_kind(ErrorKind::Type)
}

/// A `True`/`False` keyword argument; absent is `False`.
pub(crate) fn flag(arg: Option<(Value, Pos)>, what: &str) -> Result<bool, ExprError> {
    match arg {
        None => Ok(false),
        Some((Value::Number(Scalar::Bool(b)), _)) => Ok(b),
        Some((v, p)) => Err(expected(p, what, &v)),
    }
}

pub(crate) fn to_int(v: &Value, pos: Pos, what: &str) -> Result<i64, ExprError> {
    match v {
        Value::Number(Scalar::Int(i)) => Ok(*i),
        other => Err(expected(pos, what, other)),
    }
}

pub(crate) fn to_shape(v: &Value, pos: Pos) -> Result<Vec<usize>, ExprError> {
    let items = match v {
        Value::Tuple(items) => items.clone(),
        other => vec![other.clone()],
    };
    items
        .iter()
        .map(|item| {
            let n = to_int(item, pos, "a shape (an integer or a tuple of integers)")?;
            usize::try_from(n).map_err(|_| ExprError::new(pos, format!("negative dimensions are not allowed: {n}")))
        })
        .collect()
}

pub(crate) fn to_chunks(v: &Value, pos: Pos) -> Result<ChunkSpec, ExprError> {
    let text = match v {
        Value::Str(s) => s.clone(),
        Value::Number(Scalar::Int(_)) | Value::Tuple(_) => v.to_string(),
        other => {
            return Err(expected(pos, "chunks (an integer, a tuple, \"auto\" or a size such as \"64MiB\")", other));
        }
    };
    ChunkSpec::parse(&text).map_err(|e| ExprError::new(pos, e.to_string()))
}

pub(crate) fn to_dtype(v: &Value, pos: Pos) -> Result<DType, ExprError> {
    match v {
        Value::Str(s) => DType::parse(s).map_err(|e| ExprError::new(pos, e.to_string())),
        other => Err(expected(pos, "a dtype such as float32", other)),
    }
}

pub(crate) fn to_axes(v: Option<(Value, Pos)>) -> Result<Option<Vec<i64>>, ExprError> {
    match v {
        None | Some((Value::None, _)) => Ok(None),
        Some((Value::Tuple(items), pos)) => {
            items.iter().map(|i| to_int(i, pos, "an axis (an integer)")).collect::<Result<_, _>>().map(Some)
        }
        Some((other, pos)) => Ok(Some(vec![to_int(&other, pos, "an axis (an integer or a tuple)")?])),
    }
}

pub(crate) fn to_array(v: Value, pos: Pos) -> Result<Array, ExprError> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Number(s) => Ok(Array::scalar(s, s.natural_dtype())),
        other => Err(expected(pos, "an array or a number", &other)),
    }
}

/// Python arithmetic on two numbers.
/// `a op b` of Python numbers, as Python computes it; `None` for operators Python
/// numbers do not have here (they become 0-d arrays).
fn fold_numbers(op: &str, a: Scalar, b: Scalar, pos: Pos) -> Result<Option<Scalar>, ExprError> {
    use Scalar::{Bool, Float, Int};
    let ints = match (a, b) {
        (Int(_) | Bool(_), Int(_) | Bool(_)) => Some((a.as_i64(), b.as_i64())),
        _ => None,
    };
    let (x, y) = (a.as_f64(), b.as_f64());
    let checked = |r: Option<i64>| r.map(Int).ok_or_else(|| ExprError::new(pos, "integer overflow"));
    Ok(Some(match (op, ints) {
        ("+", Some((i, j))) => checked(i.checked_add(j))?,
        ("-", Some((i, j))) => checked(i.checked_sub(j))?,
        ("*", Some((i, j))) => checked(i.checked_mul(j))?,
        ("**", Some((i, j))) if j >= 0 => checked(u32::try_from(j).ok().and_then(|j| i.checked_pow(j)))?,
        ("//" | "%", Some((_, 0))) => return Err(ExprError::new(pos, "integer division or modulo by zero")),
        ("//", Some((i, j))) => {
            let q = checked(i.checked_div(j))?.as_i64();
            Int(if i % j != 0 && ((i < 0) != (j < 0)) { q - 1 } else { q })
        }
        ("%", Some((i, j))) => {
            let r = checked(i.checked_rem(j))?.as_i64();
            Int(if r != 0 && ((r < 0) != (j < 0)) { r + j } else { r })
        }
        ("&" | "|" | "^", Some((i, j))) => {
            let v = match op {
                "&" => i & j,
                "|" => i | j,
                _ => i ^ j,
            };
            if matches!((a, b), (Bool(_), Bool(_))) { Bool(v != 0) } else { Int(v) }
        }
        ("+", _) => Float(x + y),
        ("-", _) => Float(x - y),
        ("*", _) => Float(x * y),
        ("/", _) => Float(x / y),
        ("**", _) => Float(x.powf(y)),
        ("==", _) => Bool(x == y),
        ("!=", _) => Bool(x != y),
        ("<", _) => Bool(x < y),
        ("<=", _) => Bool(x <= y),
        (">", _) => Bool(x > y),
        (">=", _) => Bool(x >= y),
        _ => return Ok(None),
    }))
}

/// The source axis that entry `k` of `index` consumes.
fn list_axis(index: &[Index], k: usize, ndim: usize) -> usize {
    let consumes = |i: &Index| !matches!(i, Index::NewAxis | Index::Ellipsis);
    if index[..k].contains(&Index::Ellipsis) {
        ndim.saturating_sub(index[k + 1..].iter().filter(|i| consumes(i)).count() + 1)
    } else {
        index[..k].iter().filter(|i| consumes(i)).count()
    }
}

/// numpy's named constants (`pi`, `np.nan`, `newaxis`, ...).
fn constant(name: &str) -> Option<Value> {
    let float = |v: f64| Some(Value::Number(Scalar::Float(v)));
    match name {
        "pi" => float(std::f64::consts::PI),
        "e" => float(std::f64::consts::E),
        "nan" | "NaN" => float(f64::NAN),
        "inf" | "Inf" | "infty" => float(f64::INFINITY),
        "newaxis" => Some(Value::None),
        _ => None,
    }
}

impl Env<'_> {
    fn eval(&mut self, e: &Expr) -> Result<Value, ExprError> {
        let pos = e.pos;
        match &e.kind {
            ExprKind::Int(i) => Ok(Value::Number(Scalar::Int(*i))),
            ExprKind::Float(f) => Ok(Value::Number(Scalar::Float(*f))),
            ExprKind::Str(s) => Ok(Value::Str(s.clone())),
            ExprKind::Name(n) => self.name(n, pos),
            ExprKind::Tuple(items) => Ok(Value::Tuple(items.iter().map(|i| self.eval(i)).collect::<Result<_, _>>()?)),
            ExprKind::Unary(op, operand) => match (*op, self.eval(operand)?) {
                ("+", v @ (Value::Number(_) | Value::Array(_))) => Ok(v),
                ("-", Value::Number(Scalar::Int(i))) => i
                    .checked_neg()
                    .map(|n| Value::Number(Scalar::Int(n)))
                    .ok_or_else(|| ExprError::new(pos, "integer overflow")),
                ("-", Value::Number(s)) => Ok(Value::Number(Scalar::Float(-s.as_f64()))),
                ("-", Value::Array(a)) => a.unary(UnaryOp::Neg).map(Value::Array).map_err(graph_err(pos)),
                ("~", Value::Number(Scalar::Int(i))) => Ok(Value::Number(Scalar::Int(!i))),
                ("~", Value::Number(Scalar::Bool(b))) => Ok(Value::Number(Scalar::Bool(!b))),
                ("~", Value::Array(a)) => a.unary(UnaryOp::Invert).map(Value::Array).map_err(graph_err(pos)),
                (_, other) => Err(expected(operand.pos, "a number or an array", &other)),
            },
            ExprKind::Binary(op, l, r) => {
                let (a, b) = (self.eval(l)?, self.eval(r)?);
                self.binary(op, a, b, l.pos, r.pos, pos)
            }
            ExprKind::Attr(obj, name) => self.attribute(obj, name, pos),
            ExprKind::Call(callee, args, kwargs) => {
                let positional =
                    args.iter().map(|a| Ok(Some((self.eval(a)?, a.pos)))).collect::<Result<_, ExprError>>()?;
                let keywords = kwargs
                    .iter()
                    .map(|(k, v, p)| Ok((k.clone(), self.eval(v)?, *p)))
                    .collect::<Result<_, ExprError>>()?;
                let mut args = Args { what: String::new(), pos, positional, keywords };
                match &callee.kind {
                    ExprKind::Name(n) if !self.vars.contains_key(n) => {
                        args.what = n.clone();
                        self.function(n, args, callee.pos)
                    }
                    ExprKind::Attr(obj, f) if self.is_namespace(obj) => {
                        args.what = f.clone();
                        self.function(f, args, callee.pos)
                    }
                    ExprKind::Attr(obj, m) => {
                        let target = self.eval(obj)?;
                        args.what = m.clone();
                        self.method(target, m, args, callee.pos)
                    }
                    _ => Err(ExprError::new(callee.pos, "only functions and methods can be called")),
                }
            }
            ExprKind::Index(obj, subs) => {
                let target = self.eval(obj)?;
                if let (Value::Tuple(items), [Subscript::At(e)]) = (&target, subs.as_slice()) {
                    // `histogram(x, ...)[0]`, `x.shape[1]`: an item of a tuple.
                    let i = to_int(&self.eval(e)?, e.pos, "an integer index")?;
                    let at = if i < 0 { i + items.len() as i64 } else { i };
                    return usize::try_from(at).ok().and_then(|at| items.get(at).cloned()).ok_or_else(|| {
                        ExprError::new(e.pos, format!("tuple index {i} out of range for {} items", items.len()))
                    });
                }
                let Value::Array(a) = target else { return Err(expected(obj.pos, "an array to index", &target)) };
                let mut index = Vec::with_capacity(subs.len());
                let mut list: Option<(usize, Vec<i64>)> = None;
                for s in subs {
                    match s {
                        Subscript::At(e) => match self.eval(e)? {
                            Value::Array(mask) => {
                                if subs.len() != 1 {
                                    return Err(ExprError::new(e.pos, "a boolean mask must be the only index"));
                                }
                                return self.masked(&a, &mask, pos).map(Value::Array);
                            }
                            Value::Tuple(items) => {
                                if list.is_some() {
                                    return Err(ExprError::new(e.pos, "only one integer-array index is supported"));
                                }
                                list = Some((index.len(), crate::gather::indices(&Value::Tuple(items), e.pos)?));
                                index.push(Index::FULL);
                            }
                            Value::None => index.push(Index::NewAxis),
                            v => index.push(Index::At(to_int(&v, e.pos, "an integer index, a slice, a list or None")?)),
                        },
                        other => index.push(self.subscript(other)?),
                    }
                }
                let a = match list {
                    None => a,
                    Some((k, indices)) => {
                        a.take(&indices, list_axis(&index, k, a.ndim()) as i64).map_err(graph_err(pos))?
                    }
                };
                a.slice(&index).map(Value::Array).map_err(graph_err(pos))
            }
        }
    }

    /// `a[mask]`: counts the mask's true values per block (the counting pass), then
    /// builds the selection with those counts as its chunks.
    fn masked(&self, a: &Array, mask: &Array, pos: Pos) -> Result<Array, ExprError> {
        if mask.dtype() != DType::Bool {
            return Err(ExprError::new(
                pos,
                format!(
                    "arrays used as indices must be bool masks here, not {}; index with a list of integers or take()",
                    mask.dtype()
                ),
            ));
        }
        let (values, flat_mask) = a.mask_operands(mask).map_err(graph_err(pos))?;
        let Some(count) = &self.options.count_pass else {
            return Err(ExprError::new(pos, "a boolean mask needs a counting pass, which this evaluation cannot run"));
        };
        let counts = count(&flat_mask.block_counts().map_err(graph_err(pos))?).map_err(|m| ExprError::new(pos, m))?;
        values.compress_blocks(&flat_mask, &counts).map_err(graph_err(pos))
    }

    fn name(&self, n: &str, pos: Pos) -> Result<Value, ExprError> {
        if let Some(v) = self.vars.get(n) {
            return Ok(v.clone());
        }
        match n {
            "None" => Ok(Value::None),
            "True" => Ok(Value::Number(Scalar::Bool(true))),
            "False" => Ok(Value::Number(Scalar::Bool(false))),
            "float64" | "float32" | "int64" | "bool" => Ok(Value::Str(n.to_string())),
            _ => constant(n).ok_or_else(|| ExprError::new(pos, format!("unknown name '{n}'"))),
        }
    }

    fn subscript(&mut self, s: &Subscript) -> Result<Index, ExprError> {
        let mut part = |e: &Option<Expr>| -> Result<Option<i64>, ExprError> {
            match e {
                None => Ok(None),
                Some(e) => match self.eval(e)? {
                    Value::None => Ok(None),
                    v => to_int(&v, e.pos, "an integer slice bound").map(Some),
                },
            }
        };
        Ok(match s {
            Subscript::At(e) => match self.eval(e)? {
                Value::None => Index::NewAxis,
                v => Index::At(to_int(&v, e.pos, "an integer index, a slice or None")?),
            },
            Subscript::Slice(a, b, c) => Index::Slice { start: part(a)?, stop: part(b)?, step: part(c)? },
            Subscript::Ellipsis => Index::Ellipsis,
        })
    }

    fn binary(&mut self, op: &str, a: Value, b: Value, lpos: Pos, rpos: Pos, pos: Pos) -> Result<Value, ExprError> {
        if op == "@" {
            let (x, y) = (to_array(a, lpos)?, to_array(b, rpos)?);
            return x.matmul_nd(&y).map(Value::Array).map_err(graph_err(pos));
        }
        let Some(bop) = crate::elementwise::operator(op) else {
            return Err(ExprError::new(pos, format!("unknown operator '{op}'")));
        };
        if let (Value::Number(x), Value::Number(y)) = (&a, &b)
            && let Some(folded) = fold_numbers(op, *x, *y, pos)?
        {
            return Ok(Value::Number(folded));
        }
        self.binary_values(bop, a, b, lpos, rpos, pos)
    }

    /// `a op b` for numbers or arrays (numbers a numpy function gets become 0-d arrays).
    fn binary_values(
        &mut self,
        bop: BinaryOp,
        a: Value,
        b: Value,
        lpos: Pos,
        rpos: Pos,
        pos: Pos,
    ) -> Result<Value, ExprError> {
        let result = match (a, b) {
            (Value::Number(x), Value::Number(y)) => Array::scalar(x, x.natural_dtype()).binary_scalar(bop, y),
            (Value::Array(x), Value::Number(y)) => x.binary_scalar(bop, y),
            (Value::Number(x), Value::Array(y)) => Array::scalar_binary(x, bop, &y),
            (Value::Array(x), Value::Array(y)) => x.binary(bop, &y),
            (Value::Array(_) | Value::Number(_), other) => return Err(expected(rpos, "a number or an array", &other)),
            (other, _) => return Err(expected(lpos, "a number or an array", &other)),
        };
        result.map(Value::Array).map_err(graph_err(pos))
    }

    /// Whether `e` names a namespace of functions: `np`, `da`, `numpy`, `linalg`,
    /// `random`, or `np.linalg` and the like (unless a variable of that name hides it).
    fn is_namespace(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Name(ns) => {
                (NAMESPACES.contains(&ns.as_str()) || matches!(ns.as_str(), "linalg" | "random"))
                    && !self.vars.contains_key(ns)
            }
            ExprKind::Attr(obj, sub) => matches!(sub.as_str(), "linalg" | "random") && self.is_namespace(obj),
            _ => false,
        }
    }

    fn attribute(&mut self, obj: &Expr, name: &str, pos: Pos) -> Result<Value, ExprError> {
        if matches!(&obj.kind, ExprKind::Name(ns) if NAMESPACES.contains(&ns.as_str()) && !self.vars.contains_key(ns))
            && let Some(c) = constant(name)
        {
            return Ok(c);
        }
        let target = self.eval(obj)?;
        let Value::Array(a) = target else {
            return Err(ExprError::new(pos, format!("{} has no attribute '{name}'", target.kind())));
        };
        let ints = |v: &[usize]| Value::Tuple(v.iter().map(|&n| Value::Number(Scalar::Int(n as i64))).collect());
        Ok(match name {
            "T" => Value::Array(a.t()),
            "shape" => ints(a.shape()),
            "chunksize" => ints(&a.chunks().chunksize()),
            "ndim" => Value::Number(Scalar::Int(a.ndim() as i64)),
            "size" => Value::Number(Scalar::Int(a.len() as i64)),
            "dtype" => Value::Str(a.dtype().name().into()),
            _ => return Err(ExprError::new(pos, format!("arrays have no attribute '{name}'"))),
        })
    }

    pub(crate) fn generate(
        &self,
        kind: GenKind,
        shape: &[usize],
        dtype: DType,
        chunks: Option<ChunkSpec>,
        pos: Pos,
    ) -> Result<Value, ExprError> {
        let spec = self.options.chunks.clone().or(chunks).unwrap_or(ChunkSpec::Auto);
        Array::generate(kind, shape, dtype, &spec, self.options.auto_bytes).map(Value::Array).map_err(graph_err(pos))
    }

    fn function(&mut self, name: &str, mut args: Args, pos: Pos) -> Result<Value, ExprError> {
        let opt_chunks = |args: &mut Args| args.take(usize::MAX, "chunks").map(|(v, p)| to_chunks(&v, p)).transpose();
        let opt_dtype = |args: &mut Args, i: usize| args.take(i, "dtype").map(|(v, p)| to_dtype(&v, p)).transpose();
        let value = match name {
            "ones" | "zeros" | "empty" => {
                let (shape, spos) = args.required(0, "shape")?;
                let shape = to_shape(&shape, spos)?;
                let dtype = opt_dtype(&mut args, 1)?.unwrap_or(DType::Float64);
                let chunks = opt_chunks(&mut args)?;
                args.finish()?;
                let fill = if name == "ones" { 1.0 } else { 0.0 };
                self.generate(GenKind::Full(Scalar::Float(fill)), &shape, dtype, chunks, pos)?
            }
            "full" => {
                let (shape, spos) = args.required(0, "shape")?;
                let shape = to_shape(&shape, spos)?;
                let (fill, fpos) = args.required(1, "fill_value")?;
                let Value::Number(fill) = fill else { return Err(expected(fpos, "a number", &fill)) };
                let dtype = opt_dtype(&mut args, 2)?.unwrap_or(fill.natural_dtype());
                let chunks = opt_chunks(&mut args)?;
                args.finish()?;
                self.generate(GenKind::Full(fill), &shape, dtype, chunks, pos)?
            }
            "random" => {
                let (shape, spos) = args.required(0, "shape")?;
                let shape = to_shape(&shape, spos)?;
                let seed = match args.take(1, "seed") {
                    None | Some((Value::None, _)) => 0,
                    Some((v, p)) => {
                        let s = to_int(&v, p, "an integer seed")?;
                        u64::try_from(s).map_err(|_| ExprError::new(p, "seed must be non-negative"))?
                    }
                };
                let dtype = opt_dtype(&mut args, usize::MAX)?.unwrap_or(DType::Float64);
                let chunks = opt_chunks(&mut args)?;
                args.finish()?;
                self.generate(GenKind::Random { seed }, &shape, dtype, chunks, pos)?
            }
            "arange" => {
                let nums: Vec<(Scalar, Pos)> = (0..3)
                    .filter_map(|i| args.take(i, ["start", "stop", "step"][i]))
                    .map(|(v, p)| match v {
                        Value::Number(s) => Ok((s, p)),
                        other => Err(expected(p, "a number", &other)),
                    })
                    .collect::<Result<_, _>>()?;
                let (start, stop, step) = match nums.as_slice() {
                    [(stop, _)] => (Scalar::Int(0), *stop, Scalar::Int(1)),
                    [(a, _), (b, _)] => (*a, *b, Scalar::Int(1)),
                    [(a, _), (b, _), (c, _)] => (*a, *b, *c),
                    _ => {
                        return Err(ExprError::new(
                            pos,
                            "arange() needs stop, or start and stop, and an optional step",
                        ));
                    }
                };
                if step.as_f64() == 0.0 {
                    return Err(ExprError::new(pos, "arange(): step cannot be zero"));
                }
                let any_float = [start, stop, step].iter().any(|s| matches!(s, Scalar::Float(_)));
                let dtype =
                    opt_dtype(&mut args, usize::MAX)?.unwrap_or(if any_float { DType::Float64 } else { DType::Int64 });
                let chunks = opt_chunks(&mut args)?;
                args.finish()?;
                let len = ((stop.as_f64() - start.as_f64()) / step.as_f64()).ceil();
                if !len.is_finite() {
                    // numpy: "arange: cannot compute length" (a NaN or infinite bound).
                    return Err(ExprError::new(
                        pos,
                        "arange: cannot compute length (a bound or the step is NaN or infinite)",
                    )
                    .of_kind(ErrorKind::Value));
                }
                let len = len.max(0.0) as usize;
                self.generate(GenKind::Arange { start, step }, &[len], dtype, chunks, pos)?
            }
            "matmul" => {
                let (a, ap) = args.required(0, "x1")?;
                let (b, bp) = args.required(1, "x2")?;
                args.finish()?;
                Value::Array(to_array(a, ap)?.matmul_nd(&to_array(b, bp)?).map_err(graph_err(pos))?)
            }
            _ if crate::elementwise::binary(name).is_some() => {
                let (a, ap) = args.required(0, "x1")?;
                let (b, bp) = args.required(1, "x2")?;
                args.finish()?;
                let op = crate::elementwise::binary(name).unwrap_or(BinaryOp::Add);
                return self.binary_values(op, a, b, ap, bp, pos);
            }
            _ if crate::elementwise::COMPOSED.contains(&name) => return self.composed(name, args, pos),
            "where" => {
                let (c, cp) = args.required(0, "condition")?;
                let (a, ap) = args.required(1, "x")?;
                let (b, bp) = args.required(2, "y")?;
                args.finish()?;
                let (c, a, b) = (to_array(c, cp)?, to_array(a, ap)?, to_array(b, bp)?);
                Value::Array(Array::where_(&c, &a, &b).map_err(graph_err(pos))?)
            }
            _ if crate::elementwise::unary(name).is_some() => {
                let (x, xp) = args.required(0, "x")?;
                args.finish()?;
                let op = crate::elementwise::unary(name).unwrap_or(UnaryOp::Abs);
                Value::Array(to_array(x, xp)?.unary(op).map_err(graph_err(pos))?)
            }
            _ if crate::storage::FUNCTIONS.contains(&name) => return self.storage(name, args, pos),
            _ if crate::shape::FUNCTIONS.contains(&name) => {
                return crate::shape::function(name, args, pos, self.options.auto_bytes);
            }
            _ if crate::stats::FUNCTIONS.contains(&name) => {
                return crate::stats::function(name, args, pos, self.options.auto_bytes);
            }
            _ if crate::gather::FUNCTIONS.contains(&name) => {
                return crate::gather::function(name, args, pos, self.options.auto_bytes);
            }
            _ if crate::constructors::FUNCTIONS.contains(&name) => return self.constructor(name, args, pos),
            _ if crate::linalg::FUNCTIONS.contains(&name) => {
                return crate::linalg::function(name, args, pos, self.options.auto_bytes);
            }
            _ if REDUCTIONS.contains(&name) || matches!(name, "transpose" | "rechunk" | "astype") => {
                let (x, xp) = args.receiver("a")?;
                let target = Value::Array(to_array(x, xp)?);
                return self.method(target, name, args, pos);
            }
            _ => return Err(ExprError::new(pos, format!("unknown function '{name}'"))),
        };
        Ok(value)
    }

    fn method(&mut self, target: Value, name: &str, mut args: Args, pos: Pos) -> Result<Value, ExprError> {
        let a = match target {
            Value::Array(a) => a,
            Value::Number(s) => Array::scalar(s, s.natural_dtype()),
            other => return Err(ExprError::new(pos, format!("{} has no method '{name}'", other.kind()))),
        };
        let result = match name {
            _ if REDUCTIONS.contains(&name) => {
                let axes = to_axes(args.take(0, "axis"))?;
                let ddof = match args.take(usize::MAX, "ddof") {
                    Some((v, p)) if matches!(name, "var" | "std" | "nanvar" | "nanstd") => {
                        u32::try_from(to_int(&v, p, "an integer ddof")?)
                            .map_err(|_| ExprError::new(p, "ddof must be a non-negative integer below 2^32"))?
                    }
                    Some((_, p)) => return Err(ExprError::new(p, format!("{name}() takes no ddof"))),
                    None => 0,
                };
                let keepdims = flag(args.take(usize::MAX, "keepdims"), "keepdims=True or False")?;
                args.finish()?;
                let axes = axes.as_deref();
                let reduced = match name {
                    "sum" => a.reduce(ReduceOp::Sum, axes),
                    "mean" => a.reduce(ReduceOp::Mean, axes),
                    "min" => a.reduce(ReduceOp::Min, axes),
                    "max" => a.reduce(ReduceOp::Max, axes),
                    "prod" => a.reduce(ReduceOp::Prod, axes),
                    "var" => a.var(axes, ddof),
                    "std" => a.std(axes, ddof),
                    "any" => a.any(axes),
                    "all" => a.all(axes),
                    "count_nonzero" => a.count_nonzero(axes),
                    "argmin" => a.reduce(ReduceOp::ArgMin, axes),
                    "argmax" => a.reduce(ReduceOp::ArgMax, axes),
                    "cumsum" | "cumprod" => {
                        if keepdims {
                            return Err(ExprError::new(pos, format!("{name}() takes no keepdims")));
                        }
                        let op =
                            if name == "cumsum" { tessera_graph::ScanOp::Sum } else { tessera_graph::ScanOp::Prod };
                        match axes {
                            Some([axis]) => a.scan(op, Some(*axis)),
                            Some(_) => Err(GraphError::Shape(format!("{name}() takes one axis"))),
                            None if a.ndim() > 1 => {
                                a.ravel_with(self.options.auto_bytes).and_then(|f| f.scan(op, None))
                            }
                            None => a.scan(op, None),
                        }
                    }
                    nan => a.nan_reduce(nan, axes, ddof),
                };
                match reduced {
                    Ok(r) if keepdims => a.keep_reduced_dims(&r, axes),
                    other => other,
                }
            }
            "rechunk" => {
                let (v, p) = args.required(0, "chunks")?;
                args.finish()?;
                a.rechunk_with(&to_chunks(&v, p)?, self.options.auto_bytes)
            }
            "astype" => {
                let (v, p) = args.required(0, "dtype")?;
                args.finish()?;
                Ok(a.astype(to_dtype(&v, p)?))
            }
            "transpose" => {
                let mut axes = Vec::new();
                let mut i = 0;
                while let Some((v, p)) = args.take(i, "axes") {
                    if let Some(list) = to_axes(Some((v, p)))? {
                        axes.extend(list);
                    }
                    i += 1;
                }
                args.finish()?;
                if axes.is_empty() { a.transpose(None) } else { a.transpose(Some(&axes)) }
            }
            _ if crate::shape::METHODS.contains(&name) => {
                return crate::shape::method(&a, name, args, pos, self.options.auto_bytes);
            }
            _ if crate::gather::METHODS.contains(&name) => {
                return crate::gather::method(&a, name, args, pos, self.options.auto_bytes);
            }
            _ => return Err(ExprError::new(pos, format!("arrays have no method '{name}'"))),
        };
        result.map(Value::Array).map_err(graph_err(pos))
    }
}
