//! Compute once: a paired reduction (one task evaluates a block and its mirror or
//! transpose, generating each random value once) gives the same bits as evaluating
//! every block alone, for every chunking, reduction and view the pairing accepts.

use proptest::prelude::*;
use tessera_graph::{Kernel, LowerOptions, ReduceStage, TaskGraph, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, Block, Value};

fn graph(src: &str) -> TaskGraph {
    let options = tessera_expr::EvalOptions { auto_bytes: 1 << 20, ..Default::default() };
    let array = match tessera_expr::evaluate(src, &options).unwrap_or_else(|e| panic!("{src}: {e}")) {
        tessera_expr::Value::Array(a) => a,
        other => panic!("{src}: not an array: {}", other.kind()),
    };
    lower(&array, &LowerOptions::default()).unwrap_or_else(|e| panic!("{src}: {e}"))
}

/// The graph with every pairing removed: each partial task evaluates its own block.
fn unpaired(mut g: TaskGraph) -> TaskGraph {
    let mut removed = false;
    for layer in &mut g.layers {
        if let Kernel::Reduce(k) = &mut layer.kernel
            && let ReduceStage::Partial { pairing, .. } = &mut k.stage
        {
            removed |= pairing.take().is_some();
        }
    }
    assert!(removed, "the graph was paired");
    // Unpaired followers read their own block: they need the leader's inputs (none
    // here: generators are inlined), so the dependencies stay valid.
    g
}

fn compute(graph: &TaskGraph) -> Block {
    let mut values: Vec<Value> = Vec::with_capacity(graph.tasks.len());
    for (id, task) in graph.tasks.iter().enumerate() {
        let inputs: Vec<&Value> = task.deps.iter().map(|&d| &values[d]).collect();
        values.push(CpuBackend.execute(graph, id, &inputs).unwrap_or_else(|e| panic!("{e}")));
    }
    let blocks: Vec<&Block> = graph
        .outputs
        .iter()
        .map(|&o| match &values[o] {
            Value::Block(b) => b,
            Value::Partial(_) => panic!("an output is a partial"),
        })
        .collect();
    Block::assemble(&graph.chunks, blocks.into_iter().cloned().collect()).expect("the outputs form the result")
}

fn bits(b: &Block) -> Vec<u64> {
    (0..b.shape().iter().product()).map(|i| b.get_f64(i).unwrap_or(f64::NAN).to_bits()).collect()
}

fn is_paired(g: &TaskGraph) -> bool {
    g.layers.iter().any(
        |l| matches!(&l.kernel, Kernel::Reduce(k) if matches!(&k.stage, ReduceStage::Partial { pairing: Some(_), .. })),
    )
}

/// The expression paired, and its result equal bit for bit to the unpaired graph's.
fn check(src: &str) {
    let g = graph(src);
    assert!(is_paired(&g), "{src}: not paired");
    let paired = compute(&g);
    let alone = compute(&unpaired(g));
    assert_eq!(bits(&paired), bits(&alone), "{src}");
}

#[test]
fn everyday_mirrors_and_transposes_pair() {
    for src in [
        "x = random((300, 200), seed=7, chunks=50); (x * x[::-1, ::-1]).sum()",
        "x = random((300, 200), seed=7, chunks=(60, 40)); (x * x[::-1, ::-1]).mean()",
        "x = random((120, 120), seed=4, chunks=40); (x + x.T).sum()",
        "x = random((120, 120), seed=4, chunks=30); (x - x.T).max()",
        "x = random((120, 120), seed=4, chunks=30); (x * x.T).min()",
        "x = random((90, 70), seed=1, chunks=(30, 35)); (x * x[::-1]).sum(axis=0)",
        "x = random((90, 70), seed=1, chunks=(45, 14)); (x - x[:, ::-1]).max(axis=1)",
        "x = random((40, 30, 20), seed=2, chunks=(10, 15, 10)); (x * x[::-1, :, ::-1]).sum(axis=(0, 2))",
        "x = random((300, 200), seed=7, dtype='float32', chunks=50); (x * x[::-1, ::-1]).sum()",
        "x = random((300, 200), seed=7, chunks=50); (x > x[::-1, ::-1]).sum()",
        "x = random((300, 200), seed=7, chunks=50); ((x * 1000).astype('int64') - x[::-1, ::-1]).sum()",
        "x = random((300, 200), seed=7, chunks=50); (x + x[::-1, ::-1] > 1.9).max()",
        "x = random((100000,), seed=3, chunks=10000); (x * x[::-1]).sum()",
    ] {
        check(src);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Random shapes and chunkings of the mirrored product and the transposed sum.
    #[test]
    fn pairing_never_changes_the_bits(
        rows in 2usize..130,
        cols in 2usize..130,
        chunk_rows in 1usize..70,
        chunk_cols in 1usize..70,
        seed in 0u64..1000,
        op in prop::sample::select(vec!["sum", "mean", "max", "min"]),
    ) {
        let mirror = format!(
            "x = random(({rows}, {cols}), seed={seed}, chunks=({chunk_rows}, {chunk_cols})); (x * x[::-1, ::-1] - 0.25).{op}()"
        );
        let g = graph(&mirror);
        if is_paired(&g) {
            let paired = compute(&g);
            prop_assert_eq!(bits(&paired), bits(&compute(&unpaired(g))), "{}", mirror);
        }
        let n = rows.max(cols);
        let chunk = chunk_rows.min(n);
        let transpose = format!("x = random(({n}, {n}), seed={seed}, chunks={chunk}); (x + 2 * x.T).{op}()");
        // Square chunks over a square array: blocks (i, j) and (j, i) pair once there
        // are two blocks along each axis.
        if chunk < n {
            check(&transpose);
        }
    }
}
