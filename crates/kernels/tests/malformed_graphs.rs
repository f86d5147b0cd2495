//! Graphs as a peer could send them: real lowered graphs with one or more numbers
//! changed (an index, a length, an offset, a step). The validator must refuse each one
//! a kernel could not compute safely: every graph it accepts runs on the CPU backend
//! to a value or an error, never a panic.

use std::panic::{AssertUnwindSafe, catch_unwind};

use proptest::prelude::*;
use serde_json::Value as Json;
use tessera_graph::{Array, ChunkSpec, Index, LowerOptions, TaskGraph, UnaryOp, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, Value};

fn chunks(spec: &str) -> ChunkSpec {
    ChunkSpec::parse(spec).expect("valid chunks")
}

/// Small graphs that use every kind of layer, view and leaf.
fn seeds() -> Vec<TaskGraph> {
    let x = Array::random(&[12, 10], 3, &chunks("4")).expect("valid");
    let reversed = x.slice(&[Index::REVERSED, Index::REVERSED]).expect("valid");
    let y = Array::arange(10, &chunks("3")).expect("valid").astype(tessera_graph::DType::Float64);
    let fused = (&x * &reversed).expect("valid").sum(None).expect("valid");
    let root = (&x + &y).expect("valid").unary(UnaryOp::Sqrt).expect("valid").t();
    let unfused = (&root + &Array::ones(&[10, 12], &chunks("5")).expect("valid"))
        .expect("valid")
        .mean(Some(&[0]))
        .expect("valid");
    let product = x.matmul(&x.t()).expect("valid");
    let mut graphs = vec![lower(&fused, &LowerOptions::default()).expect("lowers")];
    graphs.push(lower(&unfused, &LowerOptions::unfused()).expect("lowers"));
    graphs.push(lower(&unfused, &LowerOptions::default()).expect("lowers"));
    graphs.push(lower(&product, &LowerOptions::default()).expect("lowers"));
    // Gathers, reshapes, order statistics and histograms.
    let padded = x.pad(&[(1, 2), (0, 1)], tessera_graph::PadMode::Reflect).expect("valid");
    let joined = Array::concatenate(
        &[
            padded.take(&[3, 0, 14, 2], 0).expect("valid"),
            x.roll(5, 1)
                .expect("valid")
                .slice(&[Index::Slice { start: Some(0), stop: Some(4), step: None }])
                .expect("valid")
                .pad(&[(0, 0), (0, 1)], tessera_graph::PadMode::Edge)
                .expect("valid"),
        ],
        0,
    )
    .expect("valid");
    let shaped = x.reshape(&[4, 3, 10]).expect("valid").sum(Some(&[1])).expect("valid");
    let ranked = x.quantile(&[0.25, 0.5], true, Some(0), false, 1 << 20).expect("valid");
    let counted = x
        .histogram(tessera_graph::BinEdges::Uniform { lo: 0.0, hi: 1.0, bins: 5, dtype: tessera_graph::DType::Float64 })
        .expect("valid");
    // Both passes of a boolean mask (counts made up: they need not be true to lower).
    let mask = x.binary_scalar(tessera_graph::BinaryOp::Gt, tessera_graph::Scalar::Float(0.5)).expect("valid");
    let (values, flat_mask) = x.mask_operands(&mask).expect("valid");
    let block_counts = flat_mask.block_counts().expect("valid");
    let made_up: Vec<u64> = (0..flat_mask.chunks().num_blocks() as u64).map(|b| b % 3).collect();
    let selected = values.compress_blocks(&flat_mask, &made_up).expect("valid");
    for a in [joined, shaped, ranked, counted, block_counts, selected] {
        graphs.push(lower(&a, &LowerOptions::default()).expect("lowers"));
    }
    graphs
}

/// Every number in a JSON tree, as paths to them.
fn numbers(json: &Json, path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    match json {
        Json::Number(_) => out.push(path.clone()),
        Json::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i);
                numbers(item, path, out);
                path.pop();
            }
        }
        Json::Object(fields) => {
            for (i, (_, item)) in fields.iter().enumerate() {
                path.push(i);
                numbers(item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(json: &'a mut Json, path: &[usize]) -> &'a mut Json {
    path.iter().fold(json, |node, &i| match node {
        Json::Array(items) => &mut items[i],
        Json::Object(fields) => fields.values_mut().nth(i).expect("path from numbers()"),
        other => other,
    })
}

/// The seed with the chosen numbers replaced (small values, negative ones too, so
/// that blocks stay small enough to compute).
fn mutated(seed: &TaskGraph, changes: &[(usize, i64)]) -> Option<TaskGraph> {
    let mut json = serde_json::to_value(seed).expect("encodes");
    let mut paths = Vec::new();
    numbers(&json, &mut Vec::new(), &mut paths);
    for &(pick, value) in changes {
        let path = &paths[pick % paths.len()];
        *at(&mut json, path) = Json::from(value);
    }
    serde_json::from_value(json).ok()
}

/// Runs every task in order; `Err` if a kernel panicked.
fn run_all(graph: &TaskGraph) -> Result<(), String> {
    let backend = CpuBackend;
    let mut values: Vec<Option<Value>> = Vec::with_capacity(graph.tasks.len());
    for (id, task) in graph.tasks.iter().enumerate() {
        let inputs: Option<Vec<&Value>> = task.deps.iter().map(|&d| values[d].as_ref()).collect();
        let value = match inputs {
            Some(inputs) => catch_unwind(AssertUnwindSafe(|| backend.execute(graph, id, &inputs)))
                .map_err(|_| format!("task {id} ({}) panicked", graph.key(id)))?
                .ok(),
            None => None,
        };
        values.push(value);
    }
    Ok(())
}

#[test]
fn the_seeds_are_valid_and_run() {
    for graph in seeds() {
        graph.validate().expect("a lowered graph is valid");
        run_all(&graph).expect("runs");
    }
}

#[test]
fn out_of_range_indices_are_refused_with_a_message() {
    let graph = seeds().remove(1);
    let mut bad = graph.clone();
    bad.outputs.push(bad.tasks.len());
    assert!(bad.validate().is_err());
    let mut bad = graph.clone();
    let last = bad.tasks.len() - 1;
    bad.tasks[0].deps.push(last);
    assert!(bad.validate().expect_err("refused").contains("later task"));
    let mut bad = graph;
    let last_layer = bad.layers.len() - 1;
    if let tessera_graph::Kernel::Blockwise(expr) = &mut bad.layers[last_layer].kernel {
        expr.nodes.push((tessera_graph::FNode::Unary(UnaryOp::Sqrt, 99), tessera_graph::DType::Float64));
        assert!(bad.validate().expect_err("refused").contains("not before it"));
    }
}

fn changes() -> impl Strategy<Value = (usize, Vec<(usize, i64)>)> {
    (0..8usize, proptest::collection::vec((any::<usize>(), -3i64..40), 1..4))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A mutated graph is refused, or it computes without a panic.
    #[test]
    fn mutated_graphs_are_refused_or_compute((seed, changes) in changes()) {
        let seeds = seeds();
        if let Some(graph) = mutated(&seeds[seed], &changes)
            && graph.validate().is_ok()
        {
            prop_assert!(run_all(&graph).is_ok(), "{:?}", run_all(&graph));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    /// The same with many more cases: `cargo test -- --ignored fuzz` (run by CI).
    #[test]
    #[ignore = "long: run with --ignored fuzz"]
    fn fuzz_malformed_graphs((seed, changes) in changes()) {
        let seeds = seeds();
        if let Some(graph) = mutated(&seeds[seed], &changes)
            && graph.validate().is_ok()
        {
            prop_assert!(run_all(&graph).is_ok(), "{:?}", run_all(&graph));
        }
    }
}

/// The property above is not vacuous: over a fixed sweep of single changes, some
/// graphs are refused, and some pass and compute (a seed, a constant, a projection).
#[test]
fn single_changes_are_both_refused_and_accepted() {
    let (mut refused, mut accepted) = (0, 0);
    for seed in seeds() {
        for pick in 0..400 {
            for value in [-1, 0, 1, 7, 39] {
                match mutated(&seed, &[(pick, value)]) {
                    Some(graph) if graph.validate().is_ok() => {
                        run_all(&graph).expect("an accepted graph computes");
                        accepted += 1;
                    }
                    _ => refused += 1,
                }
            }
        }
    }
    eprintln!("refused {refused}, accepted {accepted}");
    assert!(refused > 100 && accepted > 100, "refused {refused}, accepted {accepted}");
}
