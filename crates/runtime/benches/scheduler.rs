//! Scheduler overhead: O1 (`random((200000,), chunks=10); (x + 1).sum()`), fused and
//! unfused, on both schedulers. The graph is lowered once; only the run is timed.

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_graph::{Array, BinaryOp, ChunkSpec, LowerOptions, Scalar, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_runtime::{NoObserver, Scheduler, run};

fn overhead(c: &mut Criterion) {
    let x = Array::random(&[200_000], 0, &ChunkSpec::parse("10").expect("valid")).expect("valid");
    let total = x.binary_scalar(BinaryOp::Add, Scalar::Float(1.0)).expect("ok").sum(None).expect("ok");
    let mut g = c.benchmark_group("o1_scheduler_overhead");
    g.sample_size(10);
    for (label, options) in [("fused", LowerOptions::default()), ("unfused", LowerOptions::unfused())] {
        let graph = lower(&total, &options).expect("lowers");
        for scheduler in [Scheduler::SingleThreaded, Scheduler::Threads(2)] {
            g.bench_function(format!("{label} {} ({} tasks)", scheduler.name(), graph.tasks.len()), |b| {
                b.iter(|| run(&graph, &CpuBackend, scheduler, &NoObserver).expect("runs"))
            });
        }
    }
    g.bench_function("lowering, unfused", |b| b.iter(|| lower(&total, &LowerOptions::unfused()).expect("lowers")));
    g.finish();
}

criterion_group!(benches, overhead);
criterion_main!(benches);
