//! Kernel throughput: random generation, exact sums, and the fused S2 task.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera_chunks::ChunkSpec;
use tessera_graph::{Array, Index, LowerOptions, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, ExactSum, philox};

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
        // The first task is a partial over one 1000x1000 block.
        g.throughput(Throughput::Elements(1_000_000));
        g.bench_function(format!("x * x[::-1, ::-1] partial sum, {name}, 1000x1000"), |b| {
            b.iter(|| CpuBackend.execute(&graph, 0, &[]).expect("runs"))
        });
    }
    g.finish();
}

criterion_group!(benches, generators, exact_sums, fused_task);
criterion_main!(benches);
