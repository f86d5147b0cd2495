//! Kernel throughput: random generation, exact sums against plain and pairwise sums,
//! tile elementwise evaluation, each reduction along each axis, matrix products, the
//! wire encoding, and the fused S2 task (paired: one task, two blocks).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera_chunks::ChunkSpec;
use tessera_graph::{Array, Index, LowerOptions, ReduceOp, TaskGraph, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, ExactSum, Value, philox, wire};

fn generators(c: &mut Criterion) {
    let mut g = c.benchmark_group("philox");
    let mut buf = vec![0.0f64; 1 << 16];
    g.throughput(Throughput::Elements(buf.len() as u64));
    g.bench_function("fill_f64 64Ki", |b| b.iter(|| philox::fill_f64(42, black_box(12345), &mut buf)));
    g.bench_function("fill_f64_strided 64Ki (transposed read)", |b| {
        b.iter(|| philox::fill_f64_strided(42, black_box(12345), 20_000, &mut buf))
    });
    g.bench_function("uniform_f64 64Ki (one value at a time)", |b| {
        b.iter(|| buf.iter_mut().enumerate().for_each(|(i, v)| *v = philox::uniform_f64(42, black_box(i as u64))))
    });
    let mut buf32 = vec![0.0f32; 1 << 16];
    g.bench_function("fill_f32 64Ki", |b| b.iter(|| philox::fill_f32(42, black_box(12345), &mut buf32)));
    g.finish();
}

fn exact_sums(c: &mut Criterion) {
    let mut g = c.benchmark_group("exact_sum");
    let mut xs = vec![0.0f64; 1 << 16];
    philox::fill_f64(1, 0, &mut xs);
    let products: Vec<f64> = xs.iter().zip(xs.iter().rev()).map(|(a, b)| a * b).collect();
    g.throughput(Throughput::Elements(xs.len() as u64));
    g.bench_function("add_slice uniform 64Ki", |b| {
        b.iter(|| {
            let mut s = ExactSum::new();
            s.add_slice(black_box(&xs));
            s.value()
        })
    });
    g.bench_function("add_slice products 64Ki", |b| {
        b.iter(|| {
            let mut s = ExactSum::new();
            s.add_slice(black_box(&products));
            s.value()
        })
    });
    g.bench_function("naive f64 sum 64Ki (reference)", |b| b.iter(|| black_box(&xs).iter().sum::<f64>()));
    g.bench_function("pairwise f64 sum 64Ki (numpy's algorithm, reference)", |b| b.iter(|| pairwise(black_box(&xs))));
    g.finish();
}

/// numpy's pairwise summation: blocks of 128 summed with eight accumulators, halves
/// above that.
fn pairwise(xs: &[f64]) -> f64 {
    if xs.len() <= 128 {
        let mut acc = [0.0f64; 8];
        let mut chunks = xs.chunks_exact(8);
        for c in &mut chunks {
            for l in 0..8 {
                acc[l] += c[l];
            }
        }
        let tail: f64 = chunks.remainder().iter().sum();
        ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
    } else {
        let half = xs.len() / 2 / 8 * 8;
        pairwise(&xs[..half]) + pairwise(&xs[half..])
    }
}

/// `array` lowered with its generators materialized (one layer of blocks; unfused,
/// so that a reduction reads its input too), so a task reading them measures its own
/// kernel, not Philox; and the first block's value.
fn materialized(array: &Array, fuse: bool) -> (TaskGraph, Value) {
    let options = if fuse {
        LowerOptions { inline_generators: false, ..LowerOptions::default() }
    } else {
        LowerOptions::unfused()
    };
    let graph = lower(array, &options).expect("lowers");
    let block = CpuBackend.execute(&graph, 0, &[]).expect("generates");
    (graph, block)
}

/// The first task that reads the materialized block (task 0).
fn reader(graph: &TaskGraph) -> usize {
    graph.tasks.iter().position(|t| t.deps == [0]).expect("a task reads the block")
}

fn elementwise_and_reductions(c: &mut Criterion) {
    let mut g = c.benchmark_group("tiles");
    let one = ChunkSpec::parse("2000").expect("valid");
    let x = Array::random(&[2000, 2000], 7, &one).expect("valid");
    g.throughput(Throughput::Elements(4_000_000));
    let chain = (&(&x * 2.0).expect("ok") + &(&x + 0.5).expect("ok").unary(tessera_graph::UnaryOp::Sqrt).expect("ok"))
        .expect("ok");
    let (graph, block) = materialized(&chain, true);
    let task = reader(&graph);
    g.bench_function("elementwise x * 2 + sqrt(x + 0.5), 2000x2000", |b| {
        b.iter(|| CpuBackend.execute(&graph, task, &[&block]).expect("runs"))
    });
    for (name, op) in [("sum", ReduceOp::Sum), ("max", ReduceOp::Max), ("var", ReduceOp::Var { ddof: 0 })] {
        for axis in [0i64, 1] {
            let reduced = x.reduce(op, Some(&[axis])).expect("ok");
            let (graph, block) = materialized(&reduced, false);
            let task = reader(&graph);
            g.bench_function(format!("{name}(axis={axis}) partial, 2000x2000"), |b| {
                b.iter(|| CpuBackend.execute(&graph, task, &[&block]).expect("runs"))
            });
        }
    }
    g.finish();

    let mut g = c.benchmark_group("matmul");
    let chunks = ChunkSpec::parse("500").expect("valid");
    let a = Array::random(&[500, 500], 1, &chunks).expect("valid");
    // One block, read as both operands (the task has one dependency).
    let (graph, block) = materialized(&a.matmul(&a).expect("aligned"), false);
    let task = reader(&graph);
    g.throughput(Throughput::Elements(2 * 500 * 500 * 500));
    g.bench_function("500x500 @ 500x500 (flops)", |b| {
        b.iter(|| CpuBackend.execute(&graph, task, &[&block]).expect("runs"))
    });
    g.finish();
}

fn wire_values(c: &mut Criterion) {
    let mut g = c.benchmark_group("wire");
    let x = Array::random(&[2000, 2000], 3, &ChunkSpec::parse("2000").expect("valid")).expect("valid");
    let (_, block) = materialized(&x, false);
    let bytes = wire::encode(&block);
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("encode 2000x2000 float64", |b| b.iter(|| wire::encode(black_box(&block))));
    g.bench_function("decode 2000x2000 float64", |b| b.iter(|| wire::decode(black_box(&bytes)).expect("decodes")));
    g.finish();
}

fn fused_task(c: &mut Criterion) {
    let mut g = c.benchmark_group("fused_task");
    let chunks = ChunkSpec::parse("1000").expect("valid");
    for (name, x) in [
        ("ones", Array::ones(&[4000, 4000], &chunks).expect("valid")),
        ("random", Array::random(&[4000, 4000], 42, &chunks).expect("valid")),
    ] {
        let y = x.slice(&[Index::REVERSED, Index::REVERSED]).expect("valid");
        let total = (&x * &y).expect("ok").sum(None).expect("ok");
        let graph = lower(&total, &LowerOptions::default()).expect("lowers");
        // The first task is the partial of block (0, 0); over random data it is paired
        // with block (3, 3) and evaluates both.
        let blocks = if name == "random" { 2 } else { 1 };
        g.throughput(Throughput::Elements(blocks * 1_000_000));
        g.bench_function(format!("x * x[::-1, ::-1] partial sum, {name}, {blocks} x 1000x1000"), |b| {
            b.iter(|| CpuBackend.execute(&graph, 0, &[]).expect("runs"))
        });
    }
    g.finish();
}

criterion_group!(benches, generators, exact_sums, elementwise_and_reductions, wire_values, fused_task);
criterion_main!(benches);
