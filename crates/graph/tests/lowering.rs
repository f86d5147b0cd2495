//! Lowering: fusion, generator inlining, reduction trees, culling and ordering.

use tessera_graph::{Array, ChunkSpec, FNode, Index, Kernel, Leaf, LowerOptions, ReduceStage, TaskGraph, lower};

fn seed(chunks: &str) -> Array {
    let x = Array::ones(&[20000, 20000], &ChunkSpec::parse(chunks).expect("valid")).expect("valid");
    let y = x.slice(&[Index::REVERSED, Index::REVERSED]).expect("valid");
    (&x * &y).expect("ok").sum(None).expect("ok")
}

fn assert_topological(g: &TaskGraph) {
    for (id, t) in g.tasks.iter().enumerate() {
        assert!(t.deps.iter().all(|&d| d < id), "task {id} depends on a later task");
    }
}

#[test]
fn the_seed_fuses_into_one_task_per_block_plus_a_tree() {
    let g = lower(&seed("2000"), &LowerOptions::default()).expect("lowers");
    // 100 partial tasks (generators inlined, elementwise fused into the partial), then
    // a tree with split_every 16 = 4 per axis: 10x10 -> 3x3 (9 combines) -> 1 aggregate.
    assert_eq!(g.tasks.len(), 100 + 9 + 1);
    assert_topological(&g);
    let partial = &g.layers[g.tasks[0].layer];
    let Kernel::Reduce(k) = &partial.kernel else { panic!("first task is a partial") };
    let ReduceStage::Partial { expr, .. } = &k.stage else { panic!("partial stage") };
    let generators = expr.nodes.iter().filter(|(n, _)| matches!(n, FNode::Leaf(Leaf::Gen { .. }))).count();
    assert_eq!(generators, 2, "x and its reversed view are both inlined");
    assert!(expr.inputs().next().is_none(), "nothing is materialized");
    assert_eq!(g.key(0), "('mul-ones-sum-partial-0', 0, 0)");
}

#[test]
fn without_fusion_every_operation_is_a_task() {
    let g = lower(&seed("5000"), &LowerOptions::unfused()).expect("lowers");
    // ones (16), reversed view (16), mul (16), partials (16), aggregate (1)
    assert_eq!(g.tasks.len(), 16 * 4 + 1);
    assert_topological(&g);
}

#[test]
fn depth_first_order_finishes_a_group_before_starting_the_next() {
    let g = lower(&seed("1000"), &LowerOptions::default()).expect("lowers");
    // The first combine task comes right after the 16 partials it merges.
    let first_combine = g.tasks.iter().position(|t| !t.deps.is_empty()).expect("a combine");
    assert_eq!(first_combine, 16);
    assert_eq!(g.tasks[first_combine].deps, (0..16).collect::<Vec<_>>());
}

#[test]
fn projected_memory_grows_with_materialized_blocks_only() {
    let fused = lower(&seed("10000"), &LowerOptions::default()).expect("lowers");
    // A fused task holds tile buffers, not chunks.
    assert!(fused.max_projected_bytes() < 1 << 20, "{}", fused.max_projected_bytes());
    let x = Array::ones(&[4000, 4000], &ChunkSpec::parse("1000").expect("valid")).expect("valid");
    let big = (&x + 1.0).expect("ok").rechunk(&ChunkSpec::parse("4000").expect("valid")).expect("ok");
    let g = lower(&(&big.t() + &big).expect("ok"), &LowerOptions::unfused()).expect("lowers");
    assert!(g.max_projected_bytes() >= 2 * 4000 * 4000 * 8, "{}", g.max_projected_bytes());
}

#[test]
fn absurd_plans_are_refused() {
    // Too many blocks along one axis: refused when the array is built.
    let err = Array::ones(&[1 << 30, 1 << 30], &ChunkSpec::parse("10").expect("valid")).expect_err("too many chunks");
    assert!(err.to_string().contains("use larger chunks"), "{err}");
    // Few per axis, too many in all: refused when the array is built, on numbers.
    let err = Array::ones(&[1_000_000; 3], &ChunkSpec::parse("1000").expect("valid")).expect_err("too many blocks");
    assert!(err.to_string().contains("use larger chunks"), "{err}");
    // Each array within the limit, but the unfused graph's layers add up past it:
    // refused when the graph is planned, before any task is built.
    let x = Array::ones(&[300, 300], &ChunkSpec::parse("1").expect("valid")).expect("valid");
    let y = (&(&x + 1.0).expect("ok") * 2.0).expect("ok");
    let err = lower(&y.sum(None).expect("ok"), &LowerOptions::unfused()).expect_err("too many tasks");
    assert!(err.to_string().contains("tasks, more than the limit"), "{err}");
}

#[test]
fn several_arrays_lower_into_one_graph_that_computes_what_they_share_once() {
    let x = Array::random(&[300, 300], 1, &ChunkSpec::parse("100").expect("valid")).expect("valid");
    let product = x.matmul(&x.t()).expect("a product");
    let total = product.sum(None).expect("a sum");
    let largest = product.reduce(tessera_graph::ReduceOp::Max, None).expect("a max");
    let both = tessera_graph::lower_all(&[total.clone(), largest.clone()], &LowerOptions::default()).expect("lowers");
    let products = |g: &TaskGraph| g.layers.iter().filter(|l| matches!(l.kernel, Kernel::MatMul(_))).count();
    assert_eq!(products(&both), 1, "the product is one layer for both reductions");
    let apart = lower(&total, &LowerOptions::default()).expect("lowers").tasks.len()
        + lower(&largest, &LowerOptions::default()).expect("lowers").tasks.len();
    assert!(both.tasks.len() < apart, "{} tasks together, {apart} apart", both.tasks.len());
    // The outputs: one block of each reduction, then the blocks of x.
    let three = tessera_graph::lower_all(&[total, largest, x.clone()], &LowerOptions::default()).expect("lowers");
    assert_eq!(three.outputs.len(), 1 + 1 + x.chunks().num_blocks());
    assert_eq!(three.more.len(), 2);
    assert_eq!(three.more[1].shape, x.shape());
    assert_topological(&three);
    three.validate().expect("valid");
}
