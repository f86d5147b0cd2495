//! Exact reductions along any axis: the vectorized paths (slice sums, column strips,
//! variance moments) give the bits of adding every value into its own exact
//! accumulator, and the same bits for every chunking.

use tessera_graph::{LowerOptions, TaskGraph, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, Block, ExactSum, Value, philox};

fn graph(src: &str) -> TaskGraph {
    let options = tessera_expr::EvalOptions { auto_bytes: 1 << 20, ..Default::default() };
    let array = match tessera_expr::evaluate(src, &options).unwrap_or_else(|e| panic!("{src}: {e}")) {
        tessera_expr::Value::Array(a) => a,
        other => panic!("{src}: not an array: {}", other.kind()),
    };
    lower(&array, &LowerOptions::default()).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn compute(src: &str) -> Vec<u64> {
    let g = graph(src);
    let mut values: Vec<Value> = Vec::with_capacity(g.tasks.len());
    for (id, task) in g.tasks.iter().enumerate() {
        let inputs: Vec<&Value> = task.deps.iter().map(|&d| &values[d]).collect();
        values.push(CpuBackend.execute(&g, id, &inputs).unwrap_or_else(|e| panic!("{src}: {e}")));
    }
    let blocks: Vec<&Block> = g
        .outputs
        .iter()
        .map(|&o| match &values[o] {
            Value::Block(b) => b,
            Value::Partial(_) => panic!("an output is a partial"),
        })
        .collect();
    let b = Block::assemble(&g.chunks, blocks.into_iter().cloned().collect()).expect("the outputs form the result");
    (0..b.shape().iter().product()).map(|i| b.get_f64(i).unwrap_or(f64::NAN).to_bits()).collect()
}

/// `(x - 0.5) * scale` of `random(shape, seed)`, summed along `axis` one value at a
/// time into exact accumulators: the reference.
fn reference_sums(shape: [usize; 2], seed: u64, scale: f64, axis: usize) -> Vec<u64> {
    let [rows, cols] = shape;
    let n = if axis == 0 { cols } else { rows };
    let mut acc = vec![ExactSum::new(); n];
    for r in 0..rows {
        for c in 0..cols {
            let x = (philox::uniform_f64(seed, (r * cols + c) as u64) - 0.5) * scale;
            acc[if axis == 0 { c } else { r }].add(x);
        }
    }
    acc.iter().map(|a| a.value().to_bits()).collect()
}

#[test]
fn sums_along_each_axis_are_the_exact_sums_for_every_chunking() {
    for (scale, chunks) in [(1.0, "(40, 700)"), (1e-3, "(23, 1100)"), (7.0, "(100, 64)")] {
        for axis in [0, 1] {
            let src =
                format!("x = random((100, 1100), seed=3, chunks={chunks}); ((x - 0.5) * {scale}).sum(axis={axis})");
            assert_eq!(compute(&src), reference_sums([100, 1100], 3, scale, axis), "{src}");
        }
    }
}

#[test]
fn means_and_variances_do_not_depend_on_chunking() {
    for expr in [
        "x.mean(axis=0)",
        "x.var(axis=0)",
        "x.std(axis=1, ddof=1)",
        "x.var()",
        "(x * 1e6 + 3e9).var(axis=(0, 2))",
        "(x * 1e6 + 3e9).var(axis=1)",
    ] {
        let with = |chunks: &str| compute(&format!("x = random((10, 20, 600), seed=9, chunks={chunks}); {expr}"));
        let want = with("(10, 20, 600)");
        for chunks in ["(3, 20, 600)", "(10, 7, 130)", "(4, 5, 513)"] {
            assert_eq!(with(chunks), want, "{expr} with chunks {chunks}");
        }
    }
}

#[test]
fn random_families_do_not_depend_on_chunking() {
    for make in [
        "normal(2.0, 0.5, size=(50, 40), seed=3, chunks={c})",
        "integers(-5, 9, size=(50, 40), seed=3, chunks={c})",
        "random((50, 40), seed=3, chunks={c})",
        "linspace(-1, 7, 2000, chunks={c})",
    ] {
        let with = |c: &str| {
            let c = if make.starts_with("linspace") {
                c.trim_matches(['(', ')']).split(',').next().unwrap_or(c)
            } else {
                c
            };
            compute(&make.replace("{c}", c))
        };
        assert_eq!(with("(7, 13)"), with("(50, 40)"), "{make}");
    }
}
