//! The shared kernel suite: the same expressions computed by every backend this build
//! has (`cpu`, and `gpu` with the `gpu` feature and an adapter), fused and unfused
//! (unfused graphs make every operation read materialized inputs through views).
//!
//! Generators and elementwise results must be identical bit for bit to the CPU
//! backend's (which `properties.rs` checks against direct ndarray references); the
//! generators are also checked against Philox's definition. Reductions must agree
//! within [`REDUCTION_TOLERANCE`] (relative): the GPU adds rounded workgroup sums
//! where the CPU sums exactly.
//!
//! Where no GPU adapter exists the GPU half prints `skipped: …` with wgpu's reason.

use std::time::Instant;

use tessera::prelude::*;
use tessera::{Backend, CpuBackend, LowerOptions, NoObserver, TaskGraph, lower};
use tessera_expr::{EvalOptions, Value};

/// Largest relative difference allowed between a GPU and a CPU reduction.
const REDUCTION_TOLERANCE: f64 = 1e-12;

/// Expressions whose results must match bit for bit.
const ELEMENTWISE: &[&str] = &[
    "random((300, 200), seed=7, chunks=(128, 64))",
    "random((300, 200), seed=7, dtype='float32', chunks=(100, 64))",
    "x = random((300, 200), seed=7, chunks=100); x * x[::-1, ::-1] + 2.5",
    "x = random((257, 129), seed=3, chunks=(64, 50)); (x - 0.5) / (x + 1.0)",
    "x = random((100, 80), seed=1, chunks=40); sqrt(x) * abs(x - 0.5) - x",
    "x = random((100, 80), seed=1, chunks=40); where(x > 0.5, x, -x)",
    "x = random((100, 80), seed=1, chunks=40); maximum(x, 0.3) + minimum(x, 0.6)",
    "x = random((40, 30, 7), seed=9, chunks=(16, 25, 7)); x.T[::2, 3:, ::-1] * 3",
    "x = random((64, 48), seed=5, dtype='float32', chunks=20); x * 2.0 - x[::-1] / 3.0",
    "arange(1000, chunks=128) * 3 - 7",
    "arange(0.5, 100.5, 0.25, chunks=64) * 2",
    "x = random((64, 64), seed=2, chunks=30); x > 0.25",
    "x = random((64, 64), seed=2, chunks=30); (x * 100).astype('int64') * 7 - (x < 0.5)",
    "x = random((120, 120), seed=4, chunks=50); x.rechunk(35) + x.T",
    "x = random((90, 60), seed=8, chunks=(25, 60)); y = x * 2; y[10:80:3, ::-2] - x[:70:3, 30:]",
    "full((33, 17), 2.5, chunks=10) * ones((33, 17), chunks=(11, 5))",
];

/// Expressions whose results must match within the tolerance.
const REDUCTIONS: &[&str] = &[
    "ones((1000, 1000), chunks=300).sum()",
    "x = random((500, 300), seed=42, chunks=128); (x * x[::-1, ::-1]).sum()",
    "x = random((500, 300), seed=42, chunks=128); x.sum(axis=0)",
    "x = random((500, 300), seed=42, chunks=128); x.sum(axis=1)",
    "x = random((500, 300), seed=42, chunks=128); x.mean()",
    "x = random((500, 300), seed=42, chunks=128); x.max() + x.min()",
    "x = random((50, 30, 20), seed=3, chunks=(16, 30, 7)); x.min(axis=(0, 2))",
    "x = random((60, 40), seed=3, chunks=16); (x + 0.5).prod(axis=1)",
    "x = random((200, 100), seed=6, dtype='float32', chunks=64); x.sum()",
    "arange(100000, chunks=1000).sum()",
    "x = random((300, 200), seed=7, chunks=100); (x > 0.5).sum()",
    "x = random((300, 200), seed=7, chunks=100); (x > 0.999).max(axis=0)",
    "x = random((300, 200), seed=7, chunks=100); x.std()",
];

fn graph(src: &str, fused: bool) -> TaskGraph {
    let options = EvalOptions { chunks: None, auto_bytes: 1 << 20 };
    let array = match tessera_expr::evaluate(src, &options).unwrap_or_else(|e| panic!("{src}: {e}")) {
        Value::Array(a) => a,
        other => panic!("{src}: not an array: {}", other.kind()),
    };
    let lower_options = if fused { LowerOptions::default() } else { LowerOptions::unfused() };
    lower(&array, &lower_options).unwrap_or_else(|e| panic!("{src}: {e}"))
}

fn compute(graph: &TaskGraph, backend: &dyn Backend) -> Block {
    tessera::run_graph_on(graph, backend, Scheduler::Threads(2), &NoObserver, Instant::now(), u64::MAX)
        .unwrap_or_else(|e| panic!("{}: {e}", backend.name()))
        .block
}

fn as_f64(b: &Block) -> Vec<f64> {
    (0..b.shape().iter().product()).map(|i| b.get_f64(i).unwrap_or(f64::NAN)).collect()
}

fn assert_identical(src: &str, got: &Block, want: &Block) {
    assert_eq!(got.dtype(), want.dtype(), "{src}: dtype");
    assert_eq!(got.shape(), want.shape(), "{src}: shape");
    let (g, w) = (as_f64(got), as_f64(want));
    for (i, (a, b)) in g.iter().zip(&w).enumerate() {
        assert!(a.to_bits() == b.to_bits(), "{src}: element {i}: got {a:e}, want {b:e} (bit for bit)");
    }
    assert_eq!(got, want, "{src}");
}

fn assert_close(src: &str, got: &Block, want: &Block) {
    assert_eq!(got.dtype(), want.dtype(), "{src}: dtype");
    assert_eq!(got.shape(), want.shape(), "{src}: shape");
    for (i, (a, b)) in as_f64(got).iter().zip(as_f64(want)).enumerate() {
        let ok = (a - b).abs() <= REDUCTION_TOLERANCE * b.abs().max(f64::MIN_POSITIVE);
        assert!(ok, "{src}: element {i}: got {a:e}, want {b:e} (relative tolerance {REDUCTION_TOLERANCE:e})");
    }
}

/// Every case on `backend` against the CPU backend, fused and unfused.
fn check_suite(backend: &dyn Backend) {
    for fused in [true, false] {
        for src in ELEMENTWISE {
            let g = graph(src, fused);
            assert_identical(src, &compute(&g, backend), &compute(&g, &CpuBackend));
        }
        for src in REDUCTIONS {
            let g = graph(src, fused);
            assert_close(src, &compute(&g, backend), &compute(&g, &CpuBackend));
        }
    }
}

/// `random` against Philox's definition, element by element.
fn check_random_definition(backend: &dyn Backend) {
    let g = graph("x = random((37, 53), seed=11, chunks=(10, 20)); x[::-1]", true);
    let got = as_f64(&compute(&g, backend));
    for (i, v) in got.iter().enumerate() {
        let (r, c) = (36 - i / 53, i % 53);
        assert_eq!(v.to_bits(), tessera::philox::uniform_f64(11, (r * 53 + c) as u64).to_bits(), "element {i}");
    }
}

#[test]
fn cpu_backend_suite() {
    check_random_definition(&CpuBackend);
    // The suite compares against the CPU itself here; what it checks on the CPU is that
    // every case lowers and runs fused and unfused with the same answer.
    for src in ELEMENTWISE.iter().chain(REDUCTIONS) {
        assert_close(src, &compute(&graph(src, false), &CpuBackend), &compute(&graph(src, true), &CpuBackend));
    }
}

#[cfg(feature = "gpu")]
mod gpu {
    use super::*;
    use tessera::gpu::GpuBackend;

    /// The GPU backend, or `None` after printing why the GPU tests are skipped.
    fn open() -> Option<GpuBackend> {
        match GpuBackend::new() {
            Ok(b) => {
                eprintln!("GPU tests on {}", b.describe());
                Some(b)
            }
            Err(e) => {
                eprintln!("skipped: {e}");
                None
            }
        }
    }

    #[test]
    fn gpu_backend_suite() {
        let Some(gpu) = open() else { return };
        check_random_definition(&gpu);
        check_suite(&gpu);
        let counts = gpu.counts();
        assert!(counts.gpu > 100, "most tasks ran on the GPU: {counts:?}");
    }

    #[test]
    fn chunks_over_the_binding_limit_are_split_into_bands() {
        let Some(gpu) = open() else { return };
        // 8 KiB per binding: every 300 x 200 float64 block (480 KB) needs ~60 bands.
        let gpu = gpu.with_binding_limit(8 << 10);
        for src in [
            "x = random((300, 200), seed=7, chunks=(300, 200)); x * x[::-1, ::-1]",
            "x = random((300, 200), seed=7, chunks=(150, 200)); x.T + 1",
        ] {
            for fused in [true, false] {
                let g = graph(src, fused);
                assert_identical(src, &compute(&g, &gpu), &compute(&g, &CpuBackend));
            }
        }
        for src in [
            "x = random((300, 200), seed=7, chunks=(300, 200)); x.sum(axis=1)",
            "x = random((300, 200), seed=7, chunks=(300, 200)); x.sum(axis=0)",
        ] {
            let g = graph(src, false);
            assert_close(src, &compute(&g, &gpu), &compute(&g, &CpuBackend));
        }
    }

    #[test]
    fn kernels_the_gpu_cannot_round_exactly_run_on_the_cpu() {
        let Some(gpu) = open() else { return };
        let src = "x = random((100, 100), seed=1, chunks=50); (exp(x) + x ** 2).sum()";
        let g = graph(src, true);
        let got = compute(&g, &gpu);
        assert_identical(src, &got, &compute(&g, &CpuBackend));
        assert_eq!(gpu.counts().gpu, 0, "{:?}", gpu.counts());
        assert_eq!(gpu.counts().cpu, 4, "the four partial tasks ran on the CPU: {:?}", gpu.counts());
    }
}
