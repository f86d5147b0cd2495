//! WGSL generation: one compute shader per fused kernel.
//!
//! The shader text depends only on the kernel's structure (nodes, dtypes, view maps,
//! constants, seeds), never on which block a task computes: the region's offset and
//! shape and the layout of uploaded inputs arrive in a parameter buffer `P`. So all
//! tasks of a layer share one compiled pipeline, and the text itself is the cache key.
//!
//! Only operations whose results are exactly rounded by IEEE 754 are generated
//! (`+ - * /`, `sqrt`, comparisons, `where`, casts, `min`/`max`), so elementwise results
//! match the CPU bit for bit. Transcendental functions and `**` are not: a kernel that
//! uses them is reported unsupported and runs on the CPU backend.

use std::fmt::Write;

use tessera_chunks::DType;
use tessera_graph::{
    BinaryOp, FNode, FusedExpr, GenKind, Generator, LayerId, Leaf, ReduceOp, Scalar, UnaryOp, ViewMap,
};

use super::library;
use crate::cpu::leaf::row_major_strides;

/// Threads per workgroup.
pub const WORKGROUP: u32 = 256;

/// Parameters after the region's offset and shape: three counts, then the bits of
/// float64 and float32 negative zero (see [`Builder::mul`]).
pub const FIXED_PARAMS: usize = 5;

/// The bit patterns of `-0.0` as parameters: `P[2n + 3]` and `P[2n + 4]`.
pub const NEGATIVE_ZEROS: [i64; 2] = [i64::MIN, 0x8000_0000];

/// The accumulator of a reduction on the GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acc {
    /// float64 (sums, products, min, max of floats).
    F64,
    /// float32, where the adapter has no float64.
    F32,
    /// int64.
    I64,
    /// bool, stored as 0/1 in a `u32`.
    Bool,
}

/// What the shader does with each element's value.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// Writes every element of the region to `OUT`, row-major.
    Block,
    /// Folds the elements of the `axes` (region axes) into one accumulator per
    /// workgroup; `OUT[group]`.
    Reduce {
        /// The reduction.
        op: ReduceOp,
        /// The reduced axes.
        axes: &'a [usize],
        /// The accumulator.
        acc: Acc,
    },
    /// The largest magnitude over the `axes`, as float64, per workgroup (NaN if any
    /// value is NaN): what an exact sum splits its values against.
    Magnitude {
        /// The reduced axes.
        axes: &'a [usize],
    },
    /// An exact float sum over the `axes` in fixed point: each value, scaled against
    /// its kept element's exponent `e` (`P[param_len + kept]`, every value below
    /// `2^e`), is an integer below `2^EXACT_BITS` cut into [`LIMBS`] 32-bit limbs,
    /// each summed in an `i64`; per workgroup `OUT[group * (LIMBS + 1) + l]` holds limb
    /// `l`'s sum, and the last word is nonzero if a value had bits below the fixed
    /// point (its task then runs on the CPU).
    ExactSum {
        /// The reduced axes.
        axes: &'a [usize],
    },
}

/// Limbs of a GPU exact sum's fixed point.
pub const LIMBS: usize = 3;

/// Bits of a GPU exact sum's fixed point below the kept element's exponent: every
/// bit of values down to `2^-96` of the largest. Integers, not floats: shader
/// compilers may simplify float expressions such as `(s + x) - s` (NIR does, for
/// operations not marked exact), but never integer shifts and adds.
pub const EXACT_BITS: i64 = 32 * LIMBS as i64;

/// A materialized input the shader reads, bound at `@binding(2 + index)`.
#[derive(Debug, Clone)]
pub struct InputLeaf {
    /// The layer whose blocks are read.
    pub layer: LayerId,
    /// From region coordinates to the layer's array.
    pub view: ViewMap,
    /// The element type.
    pub dtype: DType,
    /// Where this input's origin (then its strides) start in `P`.
    pub param_base: usize,
}

/// A generated shader and what its dispatch needs.
#[derive(Debug, Clone)]
pub struct Shader {
    /// The WGSL source (also the pipeline cache key).
    pub source: String,
    /// The inputs, in binding order.
    pub inputs: Vec<InputLeaf>,
    /// Number of `i64` parameters.
    pub param_len: usize,
}

/// Why a kernel cannot run on the GPU (it then runs on the CPU backend).
pub type Unsupported = &'static str;

/// The WGSL type of a dtype's values.
fn ty(d: DType) -> &'static str {
    match d {
        DType::Float64 => "f64",
        DType::Float32 => "f32",
        DType::Int64 => "i64",
        DType::Bool => "bool",
    }
}

/// The WGSL type a dtype is stored as in a buffer.
pub fn storage_ty(d: DType) -> &'static str {
    match d {
        DType::Bool => "u32",
        d => ty(d),
    }
}

fn acc_ty(acc: Acc) -> &'static str {
    match acc {
        Acc::F64 => "f64",
        Acc::F32 => "f32",
        Acc::I64 => "i64",
        Acc::Bool => "u32",
    }
}

fn i64_lit(v: i64) -> String {
    if v == i64::MIN { "(-9223372036854775807li - 1li)".into() } else { format!("({v}li)") }
}

/// `value` as a literal of `dtype`, converted the way the CPU converts constants.
fn literal(value: Scalar, dtype: DType) -> Result<String, Unsupported> {
    match dtype {
        DType::Float64 => {
            let v = value.as_f64();
            if v.is_finite() { Ok(format!("({v:?}lf)")) } else { Err("a non-finite float64 constant") }
        }
        DType::Float32 => {
            let v = value.as_f64() as f32;
            if v.is_finite() { Ok(format!("({v:?}f)")) } else { Err("a non-finite float32 constant") }
        }
        DType::Int64 => Ok(i64_lit(value.as_i64())),
        DType::Bool => Ok(value.as_bool().to_string()),
    }
}

/// `x` (of dtype `from`) converted to `to`, as `TileVal::cast` does.
fn cast(x: &str, from: DType, to: DType) -> String {
    use DType::*;
    match (from, to) {
        (a, b) if a == b => x.to_string(),
        (Bool, Float64) => format!("select(0.0lf, 1.0lf, {x})"),
        (Bool, Float32) => format!("select(0.0f, 1.0f, {x})"),
        (Bool, Int64) => format!("select(0li, 1li, {x})"),
        (Float64, Bool) => format!("({x} != 0.0lf)"),
        (Float32, Bool) => format!("({x} != 0.0f)"),
        (Int64, Bool) => format!("({x} != 0li)"),
        (_, to) => format!("{}({x})", ty(to)),
    }
}

/// NaN-propagating `max`/`min`, as the CPU computes them (`a + b` when either is NaN).
/// NaN is tested on the bits: a driver may assume no float is NaN (Vulkan without float
/// controls) and fold `a != a` to false, as lavapipe does.
fn float_extreme(f: &str, a: &str, b: &str, dtype: DType) -> String {
    let (ia, ib) = (is_nan(a, dtype), is_nan(b, dtype));
    format!("select({f}({a}, {b}), {a} + {b}, {ia} || {ib})")
}

/// Whether the float `x` of `dtype` is NaN, from its bits.
fn is_nan(x: &str, dtype: DType) -> String {
    match dtype {
        DType::Float32 => format!("((bitcast<u32>({x}) & 0x7FFFFFFFu) > 0x7F800000u)"),
        _ => format!("((bitcast<u64>({x}) & 0x7FFFFFFFFFFFFFFFlu) > 0x7FF0000000000000lu)"),
    }
}

fn unary(op: UnaryOp, x: &str, dtype: DType, has_f64: bool) -> Result<String, Unsupported> {
    use UnaryOp::*;
    Ok(match (op, dtype) {
        (Not | Invert, DType::Bool) => format!("(!{x})"),
        (Invert, DType::Int64) => format!("(~{x})"),
        // Whole numbers stay what they are (and numpy keeps bools bool).
        (Neg | Abs | Floor | Ceil | Trunc, DType::Bool) | (Floor | Ceil | Trunc, DType::Int64) => x.to_string(),
        (Neg, _) => format!("(-{x})"),
        (Abs, _) => format!("abs({x})"),
        (Sqrt, DType::Float64) => format!("sqrt_rn({x})"),
        (Sqrt, DType::Float32) if has_f64 => format!("f32(sqrt_rn(f64({x})))"),
        (Sqrt, DType::Float32) => return Err("float32 sqrt is approximate on GPUs without float64"),
        _ if op.is_transcendental() => {
            return Err("a transcendental function (exp, log, sin, ...) is not exactly rounded on GPUs");
        }
        _ => return Err("this elementwise function runs on the CPU"),
    })
}

/// `a * b` rounded once. Drivers may fuse a product with a following addition into
/// one fused multiply-add (one rounding instead of two, so different bits from the
/// CPU); WGSL cannot forbid that. A product written as `fma(a, b, z)` with `z` a
/// negative zero the compiler cannot see (it comes from the parameters) is exactly the
/// rounded product and cannot be fused any further.
fn mul(a: &str, b: &str, dtype: DType) -> String {
    match dtype {
        DType::Float64 => format!("fma({a}, {b}, nz64)"),
        DType::Float32 => format!("fma({a}, {b}, nz32)"),
        _ => format!("({a} * {b})"),
    }
}

fn binary(op: BinaryOp, a: &str, b: &str, operands: DType, has_f64: bool) -> Result<String, Unsupported> {
    use BinaryOp::*;
    let infix = |o: &str| format!("({a} {o} {b})");
    Ok(match (operands, op) {
        (_, Pow) => return Err("`**` is not exactly rounded on GPUs"),
        (DType::Bool, And | BitAnd) => infix("&&"),
        (DType::Bool, Or | BitOr) => infix("||"),
        (DType::Bool, Xor | BitXor) => infix("!="),
        (DType::Int64, BitAnd) => infix("&"),
        (DType::Int64, BitOr) => infix("|"),
        (DType::Int64, BitXor) => infix("^"),
        (_, FloorDiv | Mod | Arctan2 | Hypot | Fmax | Fmin | BitAnd | BitOr | BitXor | And | Or | Xor) => {
            return Err("this elementwise function runs on the CPU");
        }
        // GPUs divide float32 approximately; float64 division rounded to float32 is
        // the correctly rounded float32 quotient (53 >= 2 * 24 + 2 bits).
        (DType::Float32, Div) if has_f64 => format!("f32(div_f64(f64({a}), f64({b})))"),
        (DType::Float32, Div) => return Err("float32 division is approximate on GPUs without float64"),
        (DType::Float32 | DType::Float64, Mul) => mul(a, b, operands),
        (DType::Bool, Maximum | Add) => infix("||"),
        (DType::Bool, Minimum | Mul) => infix("&&"),
        (DType::Bool, Ne | Sub) => infix("!="),
        (DType::Bool, Lt) => format!("(!{a} && {b})"),
        (DType::Bool, Le) => format!("(!{a} || {b})"),
        (DType::Bool, Gt) => format!("({a} && !{b})"),
        (DType::Bool, Ge) => format!("({a} || !{b})"),
        (DType::Bool, Div) => a.to_string(),
        (DType::Int64, Div) if has_f64 => format!("div_f64(f64({a}), f64({b}))"),
        (DType::Int64, Maximum) => format!("max({a}, {b})"),
        (DType::Int64, Minimum) => format!("min({a}, {b})"),
        (_, Maximum) => float_extreme("max", a, b, operands),
        (_, Minimum) => float_extreme("min", a, b, operands),
        (_, Add) => infix("+"),
        (_, Sub) => infix("-"),
        (_, Mul) => infix("*"),
        (DType::Float64, Div) => format!("div_f64({a}, {b})"),
        (_, Div) => infix("/"),
        (_, Eq) => infix("=="),
        (_, Ne) => infix("!="),
        (_, Lt) => infix("<"),
        (_, Le) => infix("<="),
        (_, Gt) => infix(">"),
        (_, Ge) => infix(">="),
    })
}

/// The source coordinate of view axis `k`, as an `i64` expression of `g0, g1, …`.
fn src_coord(view: &ViewMap, k: usize) -> String {
    let s = view.axes[k];
    match s.out_axis {
        Some(o) => format!("({} + {} * g{o})", i64_lit(s.offset), i64_lit(s.step)),
        None => i64_lit(s.offset),
    }
}

/// The flat row-major index into a generator's array, as an `i64` expression (a
/// variable of the value function, so that naga never constant-folds a conversion).
fn generator_flat(generator: &Generator, view: &ViewMap) -> String {
    let strides = row_major_strides(&generator.shape);
    let terms: Vec<String> =
        (0..view.axes.len()).map(|k| format!("{} * {}", src_coord(view, k), i64_lit(strides[k]))).collect();
    if terms.is_empty() { "zero".into() } else { terms.join(" + ") }
}

/// Builds the WGSL for `expr` over regions of `ndim` axes.
pub struct Builder {
    ndim: usize,
    has_f64: bool,
    body: String,
    inputs: Vec<InputLeaf>,
    /// One function per random leaf.
    random_fns: String,
}

impl Builder {
    fn new(ndim: usize, has_f64: bool) -> Builder {
        Builder { ndim, has_f64, body: String::new(), inputs: Vec::new(), random_fns: String::new() }
    }

    /// Parameters so far: the region, the fixed words, and each bound input's origin
    /// and strides (the next input's start in `P`).
    fn params(&self) -> usize {
        2 * self.ndim + FIXED_PARAMS + self.inputs.iter().map(|i| 2 * i.view.axes.len()).sum::<usize>()
    }

    fn node(&mut self, node: &FNode, dtype: DType, dtypes: &[DType]) -> Result<String, Unsupported> {
        let n = |j: &usize| format!("n{j}");
        Ok(match node {
            FNode::Leaf(Leaf::Const(s)) => literal(*s, dtype)?,
            FNode::Leaf(Leaf::Gen { generator, view }) => match generator.kind {
                GenKind::Full(v) => literal(v, dtype)?,
                GenKind::Random { seed } => {
                    let key = format!("vec2<u32>({}u, {}u)", seed as u32, (seed >> 32) as u32);
                    let template = match dtype {
                        DType::Float32 => library::RANDOM_F32,
                        DType::Float64 => library::RANDOM_F64,
                        _ => return Err("random values of a non-float dtype"),
                    };
                    let leaf = self.random_fns.matches("fn random").count();
                    self.random_fns.push_str(&template.replace('@', &leaf.to_string()).replace("KEY", &key));
                    format!("random{leaf}(u64({}))", generator_flat(generator, view))
                }
                GenKind::Eye { k } | GenKind::Tri { k } => {
                    let i = generator_flat(generator, view);
                    let cols = i64_lit(generator.shape.get(1).copied().unwrap_or(1).max(1) as i64);
                    let test = if matches!(generator.kind, GenKind::Eye { .. }) { "==" } else { "<=" };
                    let on = format!("((({i}) % {cols}) - (({i}) / {cols}) {test} {})", i64_lit(k));
                    cast(&on, DType::Bool, dtype)
                }
                GenKind::Normal { .. } | GenKind::Integers { .. } | GenKind::Linspace { .. } => {
                    return Err("normal, integers and linspace values are computed on the host");
                }
                GenKind::Arange { start, step } => {
                    let i = generator_flat(generator, view);
                    if dtype.is_float() || matches!(start, Scalar::Float(_)) || matches!(step, Scalar::Float(_)) {
                        let (s, d) = (literal(start, DType::Float64)?, literal(step, DType::Float64)?);
                        let step = mul(&d, &format!("f64({i})"), DType::Float64);
                        cast(&format!("({s} + {step})"), DType::Float64, dtype)
                    } else {
                        let (s, d) = (i64_lit(start.as_i64()), i64_lit(step.as_i64()));
                        cast(&format!("({s} + {d} * ({i}))"), DType::Int64, dtype)
                    }
                }
            },
            // Stored data is read on the host: the task runs on the CPU backend (counted).
            FNode::Leaf(Leaf::Stored { .. }) => return Err("stored arrays are read on the host"),
            FNode::Leaf(Leaf::Input { layer, view }) => {
                let j = self.inputs.len();
                let m = view.axes.len();
                let param_base = self.params();
                self.inputs.push(InputLeaf { layer: *layer, view: view.clone(), dtype, param_base });
                let terms: Vec<String> = (0..m)
                    .map(|k| format!("({} - P[{}]) * P[{}]", src_coord(view, k), param_base + k, param_base + m + k))
                    .collect();
                // naga will not convert a constant i64 to u32: index 0 is written as u32.
                let idx = if terms.is_empty() { "0u".into() } else { format!("u32({})", terms.join(" + ")) };
                let load = format!("IN{j}[{idx}]");
                if dtype == DType::Bool { format!("({load} != 0u)") } else { load }
            }
            FNode::Unary(op, a) => unary(*op, &n(a), dtypes[*a], self.has_f64)?,
            FNode::Binary(op, a, b) => binary(*op, &n(a), &n(b), dtypes[*a], self.has_f64)?,
            FNode::Where(c, a, b) => format!("select({}, {}, {})", n(b), n(a), cast(&n(c), dtypes[*c], DType::Bool)),
            FNode::Cast(a) => cast(&n(a), dtypes[*a], dtype),
        })
    }

    fn value_fn(&mut self, expr: &FusedExpr) -> Result<(), Unsupported> {
        let dtypes: Vec<DType> = expr.nodes.iter().map(|n| n.1).collect();
        if !self.has_f64 && dtypes.contains(&DType::Float64) {
            return Err("float64 needs an adapter with SHADER_F64");
        }
        let args: Vec<String> = (0..self.ndim).map(|a| format!("g{a}: i64")).collect();
        let mut body =
            format!("fn value({}) -> {} {{\n    let zero = P[0] - P[0];\n", args.join(", "), ty(expr.dtype()));
        let z = 2 * self.ndim + FIXED_PARAMS - NEGATIVE_ZEROS.len();
        if self.has_f64 {
            let _ = writeln!(body, "    let nz64 = bitcast<f64>(P[{z}]);");
        }
        let _ = writeln!(body, "    let nz32 = bitcast<f32>(u32(P[{}]));", z + 1);
        for (i, (node, dtype)) in expr.nodes.iter().enumerate() {
            let code = self.node(node, *dtype, &dtypes)?;
            let _ = writeln!(body, "    let n{i}: {} = {code};", ty(*dtype));
        }
        let _ = writeln!(body, "    return n{};\n}}", expr.root());
        self.body = body;
        Ok(())
    }

    /// The shared header: Philox functions, parameter, output and input bindings.
    fn header(&self, out_ty: &str) -> String {
        let mut s = String::new();
        if !self.random_fns.is_empty() {
            s.push_str(library::PHILOX);
            s.push_str(&self.random_fns);
        }
        if self.has_f64 {
            s.push_str(library::SQRT_RN);
            s.push_str(library::DIV_F64);
        }
        s.push_str("\n@group(0) @binding(0) var<storage, read> P: array<i64>;\n");
        let _ = writeln!(s, "@group(0) @binding(1) var<storage, read_write> OUT: array<{out_ty}>;");
        for (j, input) in self.inputs.iter().enumerate() {
            let _ = writeln!(
                s,
                "@group(0) @binding({}) var<storage, read> IN{j}: array<{}>;",
                2 + j,
                storage_ty(input.dtype)
            );
        }
        s
    }

    /// Statements that split `index` (a `u32` expression) into coordinates `c{a}` of
    /// the region axes `axes` (row-major).
    fn split(&self, index: &str, axes: &[usize], var: &str, indent: &str) -> String {
        let mut s = format!("{indent}var {var} = {index};\n");
        for (pos, &a) in axes.iter().enumerate().rev() {
            if pos == 0 {
                let _ = writeln!(s, "{indent}let c{a} = {var};");
            } else {
                let _ = writeln!(s, "{indent}let c{a} = {var} % u32(P[{}]);", self.ndim + a);
                let _ = writeln!(s, "{indent}{var} = {var} / u32(P[{}]);", self.ndim + a);
            }
        }
        s
    }

    fn call_value(&self) -> String {
        let args: Vec<String> = (0..self.ndim).map(|a| format!("P[{a}] + i64(c{a})")).collect();
        format!("value({})", args.join(", "))
    }
}

const ENTRY: &str = "@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, \
@builtin(local_invocation_index) lid: u32) {
    let group = wid.x + wid.y * nwg.x;\n";

/// The identity of `op` for `acc`.
fn identity(op: ReduceOp, acc: Acc) -> &'static str {
    use ReduceOp::*;
    match (acc, op) {
        (Acc::F64, Sum | Mean | Var { .. } | NanMean | NanVar { .. }) => "0.0lf",
        (Acc::F64, Prod) => "1.0lf",
        (Acc::F64, Min | NanMin | ArgMin) => "bitcast<f64>(0x7FF0000000000000lu)",
        (Acc::F64, Max | NanMax | ArgMax) => "bitcast<f64>(0xFFF0000000000000lu)",
        (Acc::F32, Sum | Mean | Var { .. } | NanMean | NanVar { .. }) => "0.0f",
        (Acc::F32, Prod) => "1.0f",
        (Acc::F32, Min | NanMin | ArgMin) => "bitcast<f32>(0x7F800000u)",
        (Acc::F32, Max | NanMax | ArgMax) => "bitcast<f32>(0xFF800000u)",
        (Acc::I64, Sum | Mean | Var { .. } | NanMean | NanVar { .. }) => "0li",
        (Acc::I64, Prod) => "1li",
        (Acc::I64, Min | NanMin | ArgMin) => "9223372036854775807li",
        (Acc::I64, Max | NanMax | ArgMax) => "(-9223372036854775807li - 1li)",
        (Acc::Bool, Min | NanMin | ArgMin | Prod) => "1u",
        (Acc::Bool, _) => "0u",
    }
}

/// `op(a, b)` on accumulators.
fn combine(op: ReduceOp, acc: Acc, a: &str, b: &str) -> String {
    use ReduceOp::*;
    match (acc, op) {
        (Acc::Bool, Min | NanMin | ArgMin | Prod) => format!("({a} & {b})"),
        (Acc::Bool, _) => format!("({a} | {b})"),
        (_, Sum | Mean | Var { .. } | NanMean | NanVar { .. }) => format!("({a} + {b})"),
        (_, Prod) => format!("({a} * {b})"),
        (Acc::I64, Min | NanMin | ArgMin) => format!("min({a}, {b})"),
        (Acc::I64, Max | NanMax | ArgMax) => format!("max({a}, {b})"),
        // The NaN-skipping extremes are refused on floats by `generate`.
        (Acc::F32, Min | NanMin | ArgMin) => float_extreme("min", a, b, DType::Float32),
        (Acc::F32, Max | NanMax | ArgMax) => float_extreme("max", a, b, DType::Float32),
        (_, Min | NanMin | ArgMin) => float_extreme("min", a, b, DType::Float64),
        (_, Max | NanMax | ArgMax) => float_extreme("max", a, b, DType::Float64),
    }
}

/// The root value converted to the accumulator.
fn to_acc(x: &str, dtype: DType, acc: Acc) -> String {
    match acc {
        Acc::F64 => cast(x, dtype, DType::Float64),
        Acc::F32 => cast(x, dtype, DType::Float32),
        Acc::I64 => cast(x, dtype, DType::Int64),
        Acc::Bool => format!("select(0u, 1u, {})", cast(x, dtype, DType::Bool)),
    }
}

/// How a reduction shader accumulates: per-thread state, the fold of one value `v`,
/// the workgroup's shared arrays and their pairwise merge, and what a workgroup
/// writes.
struct Fold {
    /// The element type of `OUT`.
    out_ty: &'static str,
    /// Shared arrays, at module scope.
    shared: String,
    /// Per-thread state, declared and initialized.
    init: String,
    /// Statements folding `v` (the element's value) into the state.
    update: String,
    /// The state into the shared arrays at `lid`.
    store: String,
    /// `lid` merged with `lid + half` in the shared arrays.
    merge: String,
    /// The workgroup's result from the shared arrays at 0 into `OUT`.
    write: String,
}

impl Fold {
    /// `op` with one accumulator of type `acc`.
    fn plain(op: ReduceOp, acc: Acc, dtype: DType) -> Fold {
        let t = acc_ty(acc);
        Fold {
            out_ty: t,
            shared: format!("var<workgroup> SH: array<{t}, {WORKGROUP}>;\n"),
            init: format!("    var acc: {t} = {};\n", identity(op, acc)),
            update: format!(
                "            acc = {};\n",
                combine(op, acc, "acc", &format!("({})", to_acc("v", dtype, acc)))
            ),
            store: "    SH[lid] = acc;\n".into(),
            merge: format!(
                "        if (lid < half) {{ SH[lid] = {}; }}\n",
                combine(op, acc, "SH[lid]", "SH[lid + half]")
            ),
            write: "OUT[group] = SH[0];".into(),
        }
    }

    /// The largest `|v|` as float64, NaN-propagating.
    fn magnitude(dtype: DType) -> Fold {
        let v = format!("abs({})", cast("v", dtype, DType::Float64));
        Fold {
            out_ty: "f64",
            shared: format!("var<workgroup> SH: array<f64, {WORKGROUP}>;\n"),
            init: "    var acc: f64 = 0.0lf;\n".into(),
            update: format!("            acc = {};\n", float_extreme("max", "acc", &v, DType::Float64)),
            store: "    SH[lid] = acc;\n".into(),
            merge: format!(
                "        if (lid < half) {{ SH[lid] = {}; }}\n",
                float_extreme("max", "SH[lid]", "SH[lid + half]", DType::Float64)
            ),
            write: "OUT[group] = SH[0];".into(),
        }
    }

    /// Exact sums in fixed point: `v` scaled against the kept element's exponent
    /// `P[exponents + kk]` and cut into 32-bit limbs added into `i64`s.
    fn exact(dtype: DType, exponents: usize) -> Fold {
        let mut init = format!("    let e = select(0li, P[{exponents}u + kk], kk < K);\n");
        for l in 0..LIMBS {
            let _ = writeln!(init, "    var l{l}: i64 = 0li;");
        }
        init.push_str("    var left: u32 = 0u;\n");
        let mut update = format!("            let bits = bitcast<u64>({});\n", cast("v", dtype, DType::Float64));
        update.push_str(concat!(
            "            let biased = i64((bits >> 52u) & 0x7FFlu);\n",
            "            let frac = bits & 0xFFFFFFFFFFFFFlu;\n",
            "            let m = select(frac, frac | 0x10000000000000lu, biased != 0li);\n",
            "            let neg = (bits >> 63u) != 0lu;\n",
        ));
        // v = m * 2^(max(biased, 1) - 1075); scaled by 2^(EXACT_BITS - e).
        let _ = writeln!(update, "            let shift = max(biased, 1li) - 1075li + {EXACT_BITS}li - e;");
        for l in 0..LIMBS {
            let _ = writeln!(update, "            let s{l} = shift - {}li;", 32 * l);
            let _ = writeln!(
                update,
                "            let p{l} = i64(select(select(0lu, m >> u32(clamp(-s{l}, 0li, 63li)), -s{l} < 64li), m << u32(clamp(s{l}, 0li, 63li)), s{l} >= 0li) & 0xFFFFFFFFlu);"
            );
            let _ = writeln!(update, "            l{l} = l{l} + select(p{l}, -p{l}, neg);");
        }
        update.push_str(concat!(
            "            let below = select(select(m, m & ((1lu << u32(clamp(-shift, 0li, 63li))) - 1lu), -shift < 64li), 0lu, shift >= 0li);\n",
            "            left = left | select(0u, 1u, below != 0lu);\n",
        ));
        let mut shared = String::new();
        let (mut store, mut merge, mut write) = (String::new(), String::new(), String::new());
        for l in 0..LIMBS {
            let _ = writeln!(shared, "var<workgroup> SH{l}: array<i64, {WORKGROUP}>;");
            let _ = writeln!(store, "    SH{l}[lid] = l{l};");
            let _ = writeln!(merge, "        if (lid < half) {{ SH{l}[lid] = SH{l}[lid] + SH{l}[lid + half]; }}");
            let _ = write!(write, "OUT[group * {}u + {l}u] = SH{l}[0]; ", LIMBS + 1);
        }
        let _ = writeln!(shared, "var<workgroup> SHL: array<u32, {WORKGROUP}>;");
        store.push_str("    SHL[lid] = left;\n");
        merge.push_str("        if (lid < half) { SHL[lid] = SHL[lid] | SHL[lid + half]; }\n");
        let _ = write!(write, "OUT[group * {}u + {LIMBS}u] = i64(SHL[0]);", LIMBS + 1);
        Fold { out_ty: "i64", shared, init, update, store, merge, write }
    }
}

/// A reduction of `expr` over the region `axes`, folded as `fold` says: a thread walks
/// part of one kept element's reduced elements, then the workgroup merges its threads.
fn reduction(b: &Builder, axes: &[usize], fold: &Fold) -> String {
    let all: Vec<usize> = (0..b.ndim).collect();
    let kept: Vec<usize> = all.iter().copied().filter(|a| !axes.contains(a)).collect();
    let reduced: Vec<usize> = all.iter().copied().filter(|a| axes.contains(a)).collect();
    let mut s = b.header(fold.out_ty);
    s.push_str(&fold.shared);
    s.push_str(&b.body);
    s.push_str(ENTRY);
    let p = 2 * b.ndim;
    let _ = writeln!(s, "    let K = u32(P[{p}]);\n    let R = u32(P[{}]);\n    let G = u32(P[{}]);", p + 1, p + 2);
    let _ = writeln!(s, "    let kk = group / G;\n    let seg = group % G;");
    s.push_str(&fold.init);
    s.push_str("    if (kk < K) {\n");
    s.push_str(&b.split("kk", &kept, "krest", "        "));
    if b.random_fns.is_empty() || !b.inputs.is_empty() {
        // Neighbouring threads read neighbouring elements (coalesced loads).
        let _ = writeln!(s, "        let stride = G * {WORKGROUP}u;");
        let _ = writeln!(s, "        for (var r = seg * {WORKGROUP}u + lid; r < R; r = r + stride) {{");
    } else {
        // Generators only: each thread walks an even run of consecutive elements,
        // so each Philox block serves two (float64) or four (float32) of them.
        let _ = writeln!(s, "        let threads = G * {WORKGROUP}u;");
        s.push_str("        let per = ((R + threads - 1u) / threads + 1u) & 0xFFFFFFFEu;\n");
        let _ = writeln!(s, "        let first = (seg * {WORKGROUP}u + lid) * per;");
        s.push_str("        let last = min(first + per, R);\n");
        s.push_str("        for (var r = first; r < last; r = r + 1u) {\n");
    }
    s.push_str(&b.split("r", &reduced, "rrest", "            "));
    let _ = writeln!(s, "            let v = {};", b.call_value());
    s.push_str(&fold.update);
    s.push_str("        }\n    }\n");
    s.push_str(&fold.store);
    s.push_str("    workgroupBarrier();\n");
    let _ = writeln!(s, "    for (var half = {}u; half > 0u; half = half >> 1u) {{", WORKGROUP / 2);
    s.push_str(&fold.merge);
    s.push_str("        workgroupBarrier();\n    }\n");
    let _ = writeln!(s, "    if (lid == 0u && kk < K) {{ {} }}\n}}", fold.write);
    s
}

/// Generates the shader for `expr` over regions of `ndim` axes in `mode`.
pub fn generate(expr: &FusedExpr, ndim: usize, mode: Mode<'_>, has_f64: bool) -> Result<Shader, Unsupported> {
    if let Mode::Reduce { op: ReduceOp::Var { .. } | ReduceOp::NanMean | ReduceOp::NanVar { .. }, .. } = mode {
        return Err("variances and NaN-skipping means sum exact moments, on the host");
    }
    if let Mode::Reduce { op: ReduceOp::NanMin | ReduceOp::NanMax, acc: Acc::F64 | Acc::F32, .. } = mode {
        return Err("NaN-skipping extremes of floats run on the host");
    }
    if let Mode::Reduce { op: ReduceOp::ArgMin | ReduceOp::ArgMax, .. } = mode {
        return Err("argmin and argmax keep positions, on the host");
    }
    let mut b = Builder::new(ndim, has_f64);
    b.value_fn(expr)?;
    let all: Vec<usize> = (0..ndim).collect();
    let mut source = match mode {
        Mode::Block => {
            let mut s = b.header(storage_ty(expr.dtype()));
            s.push_str(&b.body);
            s.push_str(ENTRY);
            let _ = writeln!(s, "    let e = group * {WORKGROUP}u + lid;");
            let _ = writeln!(s, "    if (e >= u32(P[{}])) {{ return; }}", 2 * ndim);
            s.push_str(&b.split("e", &all, "rest", "    "));
            let v = b.call_value();
            let store = if expr.dtype() == DType::Bool { format!("select(0u, 1u, {v})") } else { v };
            let _ = writeln!(s, "    OUT[e] = {store};\n}}");
            s
        }
        Mode::Reduce { op, axes, acc } => {
            if acc == Acc::F64 && !has_f64 {
                return Err("float64 needs an adapter with SHADER_F64");
            }
            reduction(&b, axes, &Fold::plain(op, acc, expr.dtype()))
        }
        Mode::Magnitude { axes } => {
            if !has_f64 {
                return Err("exact sums need an adapter with SHADER_F64");
            }
            reduction(&b, axes, &Fold::magnitude(expr.dtype()))
        }
        Mode::ExactSum { axes } => {
            if !has_f64 {
                return Err("exact sums need an adapter with SHADER_F64");
            }
            reduction(&b, axes, &Fold::exact(expr.dtype(), b.params()))
        }
    };
    source.shrink_to_fit();
    Ok(Shader { source, param_len: b.params(), inputs: b.inputs })
}
