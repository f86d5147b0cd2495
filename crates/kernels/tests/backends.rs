//! The shared kernel suite: the same expressions computed by every backend this build
//! has (`cpu`, and `gpu` with the `gpu` feature and an adapter), fused and unfused
//! (unfused graphs make every operation read materialized inputs through views).
//!
//! [`suite!`] makes one named test per case per backend, so a failure names its case
//! (`gpu::reversed_product`, `cpu::std`). Generators and elementwise results must be
//! identical bit for bit to the CPU backend's (which the facade's `properties.rs`
//! checks against direct ndarray references), and so must sums and means (exact on
//! every backend), minima and maxima; only products may differ, within
//! [`REDUCTION_TOLERANCE`] (relative): the GPU multiplies in another order. On the CPU
//! each case checks that fused and unfused graphs agree.
//!
//! Where no GPU adapter exists the GPU tests print `skipped: …` with wgpu's reason.

use tessera_graph::{LowerOptions, TaskGraph, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, Block, Value};

/// Largest relative difference allowed between a GPU and a CPU reduction.
const REDUCTION_TOLERANCE: f64 = 1e-12;

/// Boolean masks are counted on the CPU backend, as the facade counts them.
fn count_on_cpu(counts: &tessera_graph::Array) -> Result<Vec<u64>, String> {
    let g = lower(counts, &LowerOptions::default()).map_err(|e| e.to_string())?;
    match compute(&g, &CpuBackend) {
        Block::I64(c) => Ok(c.iter().map(|&n| n as u64).collect()),
        other => Err(format!("counts of dtype {}", other.dtype())),
    }
}

fn graph(src: &str, fused: bool) -> TaskGraph {
    let options = tessera_expr::EvalOptions {
        auto_bytes: 1 << 20,
        count_pass: Some(std::sync::Arc::new(count_on_cpu)),
        ..Default::default()
    };
    let array = match tessera_expr::evaluate(src, &options).unwrap_or_else(|e| panic!("{src}: {e}")) {
        tessera_expr::Value::Array(a) => a,
        other => panic!("{src}: not an array: {}", other.kind()),
    };
    let lower_options = if fused { LowerOptions::default() } else { LowerOptions::unfused() };
    lower(&array, &lower_options).unwrap_or_else(|e| panic!("{src}: {e}"))
}

/// Every task in priority order on `backend`, then the output blocks joined.
fn compute(graph: &TaskGraph, backend: &dyn Backend) -> Block {
    let mut values: Vec<Value> = Vec::with_capacity(graph.tasks.len());
    for (id, task) in graph.tasks.iter().enumerate() {
        let inputs: Vec<&Value> = task.deps.iter().map(|&d| &values[d]).collect();
        let value = backend.execute(graph, id, &inputs).unwrap_or_else(|e| panic!("{}: {e}", backend.name()));
        values.push(value);
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

fn as_f64(b: &Block) -> Vec<f64> {
    (0..b.shape().iter().product()).map(|i| b.get_f64(i).unwrap_or(f64::NAN)).collect()
}

fn assert_identical(src: &str, got: &Block, want: &Block) {
    assert_eq!(got.dtype(), want.dtype(), "{src}: dtype");
    assert_eq!(got.shape(), want.shape(), "{src}: shape");
    for (i, (a, b)) in as_f64(got).iter().zip(as_f64(want)).enumerate() {
        // Bit for bit, except that a NaN is a NaN (numpy does not tell payloads apart).
        let same = a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
        assert!(same, "{src}: element {i}: got {a:e}, want {b:e} (bit for bit)");
    }
}

fn assert_close(src: &str, got: &Block, want: &Block) {
    assert_eq!(got.dtype(), want.dtype(), "{src}: dtype");
    assert_eq!(got.shape(), want.shape(), "{src}: shape");
    for (i, (a, b)) in as_f64(got).iter().zip(as_f64(want)).enumerate() {
        let ok = (a - b).abs() <= REDUCTION_TOLERANCE * b.abs().max(f64::MIN_POSITIVE);
        assert!(ok, "{src}: element {i}: got {a:e}, want {b:e} (relative tolerance {REDUCTION_TOLERANCE:e})");
    }
}

/// How a case's results must agree.
#[derive(Clone, Copy)]
enum Agree {
    /// Bit for bit.
    Exactly,
    /// Within [`REDUCTION_TOLERANCE`].
    Closely,
}

fn agree(how: Agree, src: &str, got: &Block, want: &Block) {
    match how {
        Agree::Exactly => assert_identical(src, got, want),
        Agree::Closely => assert_close(src, got, want),
    }
}

/// On the CPU: the fused and the unfused graph give the same answer.
fn check_cpu(src: &str, how: Agree) {
    agree(how, src, &compute(&graph(src, false), &CpuBackend), &compute(&graph(src, true), &CpuBackend));
}

/// One test per case per backend.
macro_rules! suite {
    ($($how:ident { $($name:ident: $src:expr,)+ })+) => {
        mod cpu {
            $($(
                #[test]
                fn $name() {
                    super::check_cpu($src, super::Agree::$how);
                }
            )+)+
        }

        #[cfg(feature = "gpu")]
        mod gpu {
            $($(
                #[test]
                fn $name() {
                    super::gpu_backend::check($src, super::Agree::$how);
                }
            )+)+
        }
    };
}

suite! {
    Exactly {
        random_float64: "random((300, 200), seed=7, chunks=(128, 64))",
        random_float32: "random((300, 200), seed=7, dtype='float32', chunks=(100, 64))",
        reversed_product: "x = random((300, 200), seed=7, chunks=100); x * x[::-1, ::-1] + 2.5",
        ratio: "x = random((257, 129), seed=3, chunks=(64, 50)); (x - 0.5) / (x + 1.0)",
        sqrt_abs: "x = random((100, 80), seed=1, chunks=40); sqrt(x) * abs(x - 0.5) - x",
        where_select: "x = random((100, 80), seed=1, chunks=40); where(x > 0.5, x, -x)",
        maximum_minimum: "x = random((100, 80), seed=1, chunks=40); maximum(x, 0.3) + minimum(x, 0.6)",
        transposed_strided_3d: "x = random((40, 30, 7), seed=9, chunks=(16, 25, 7)); x.T[::2, 3:, ::-1] * 3",
        float32_arithmetic: "x = random((64, 48), seed=5, dtype='float32', chunks=20); x * 2.0 - x[::-1] / 3.0",
        arange_int: "arange(1000, chunks=128) * 3 - 7",
        arange_float: "arange(0.5, 100.5, 0.25, chunks=64) * 2",
        comparison: "x = random((64, 64), seed=2, chunks=30); x > 0.25",
        int_and_bool: "x = random((64, 64), seed=2, chunks=30); (x * 100).astype('int64') * 7 - (x < 0.5)",
        rechunk_plus_transpose: "x = random((120, 120), seed=4, chunks=50); x.rechunk(35) + x.T",
        strided_views: "x = random((90, 60), seed=8, chunks=(25, 60)); y = x * 2; y[10:80:3, ::-2] - x[:70:3, 30:]",
        constants: "full((33, 17), 2.5, chunks=10) * ones((33, 17), chunks=(11, 5))",
        newaxis_broadcast: "x = random((30, 20), seed=2, chunks=10); x[:, None] * x[None, :, :1].T[0]",
        rounding_family: "x = (random((40, 30), seed=5, chunks=16) - 0.5) * 9; floor(x) + ceil(x) * 2 + trunc(x) * 3 + rint(x) * 5 + sign(x) + square(x)",
        floor_division_and_mod: "x = (random((40, 30), seed=5, chunks=16) - 0.5) * 9; i = (x * 3).astype('int64'); x // 1.5 + x % -2.0 + (i // 3) * (i % -4)",
        predicates_and_logic: "x = random((40, 30), seed=5, chunks=16); y = where(x > 0.9, x / 0, x); isfinite(y) & ~isinf(y) | logical_xor(x > 0.5, isnan(where(x < 0.1, nan, x)))",
        division_by_zero: "x = random((40, 30), seed=5, chunks=16) - 0.5; y = where(abs(x) < 0.1, 0.0, x); x / y",
        zero_by_zero: "x = random((40, 30), seed=5, chunks=16) - 0.5; y = where(abs(x) < 0.1, 0.0, x); y / y",
        float32_by_zero: "x = random((40, 30), seed=5, chunks=16) - 0.5; -x.astype('float32') / 0",
        bitwise_integers: "i = (random((40, 30), seed=5, chunks=16) * 1000).astype('int64'); (i & 255) ^ (i | 3) ^ ~i",
        fmax_fmin_clip: "x = where(random((40, 30), seed=6, chunks=16) > 0.8, nan, random((40, 30), seed=5, chunks=16)); fmax(x, 0.3) + fmin(x, 0.6) + clip(x, 0.2, 0.7) + nan_to_num(x)",
        more_functions: "x = random((40, 30), seed=5, chunks=16); arcsin(x) + arccos(x) + arctan(x) + sinh(x) + cosh(x) + arcsinh(x) + log1p(x) + expm1(x) + log2(x + 1) + log10(x + 1) + tan(x) + arctan2(x, x.T.T + 1) + hypot(x, 2)",
        // Sums and means are exact on every backend: the same bits.
        sum_of_ones: "ones((1000, 1000), chunks=300).sum()",
        sum_of_reversed_product: "x = random((500, 300), seed=42, chunks=128); (x * x[::-1, ::-1]).sum()",
        sum_of_transposed_sum: "x = random((200, 200), seed=42, chunks=50); (x + x.T).sum()",
        sum_axis_0: "x = random((500, 300), seed=42, chunks=128); x.sum(axis=0)",
        sum_axis_1: "x = random((500, 300), seed=42, chunks=128); x.sum(axis=1)",
        sum_wide_range: "x = random((300, 200), seed=5, chunks=100); (x * 1e12 - 3e11 + x[::-1] * 1e-9).sum(axis=1)",
        mean: "x = random((500, 300), seed=42, chunks=128); x.mean()",
        mean_3d: "x = random((50, 30, 20), seed=3, chunks=(16, 30, 7)); x.mean(axis=(0, 2))",
        max_plus_min: "x = random((500, 300), seed=42, chunks=128); x.max() + x.min()",
        min_over_two_axes: "x = random((50, 30, 20), seed=3, chunks=(16, 30, 7)); x.min(axis=(0, 2))",
        sum_float32: "x = random((200, 100), seed=6, dtype='float32', chunks=64); x.sum()",
        sum_arange: "arange(100000, chunks=1000).sum()",
        count_of_bools: "x = random((300, 200), seed=7, chunks=100); (x > 0.5).sum()",
        // Constant tiles: a fused generator reduced along its rows counts every column.
        sum_of_constant_ints: "ones((60, 50), dtype='int64', chunks=(16, 20)).sum(axis=1) + (zeros((60, 50), dtype='int64', chunks=16) + 3).sum()",
        count_of_constant_bools: "ones((60, 50), dtype='bool', chunks=(16, 20)).sum() + count_nonzero(full((60, 50), 2.0, chunks=16), axis=1)",
        product_of_constants: "full((6, 5), 2.0, chunks=(4, 2)).prod(axis=1) + full((6, 5), 3, dtype='int64', chunks=(4, 2)).prod() + full((6, 5), 2.0, chunks=(4, 2)).prod()",
        extremes_of_constants: "full((60, 50), 4, dtype='int64', chunks=(16, 20)).max(axis=1) - full((60, 50), 1.5, chunks=16).min() + ones((60, 50), dtype='bool', chunks=16).all(axis=1)",
        max_of_bools: "x = random((300, 200), seed=7, chunks=100); (x > 0.999).max(axis=0)",
        std: "x = random((300, 200), seed=7, chunks=100); x.std()",
        var_axis_0: "x = random((300, 200), seed=7, chunks=100); x.var(axis=0, ddof=1)",
        nan_reductions: "x = where(random((90, 70), seed=8, chunks=30) > 0.8, nan, random((90, 70), seed=7, chunks=30)); nanmean(x, axis=0) + nanvar(x, axis=0, ddof=1) + nanmax(x, axis=0) + nanmin(x, axis=0) + nansum(x, axis=0) + nanstd(x[:, :1], axis=1).sum()",
        arg_extremes: "x = where(random((90, 70), seed=8, chunks=30) > 0.97, nan, random((90, 70), seed=7, chunks=(20, 30))); x.argmax(axis=0) + x.argmin(axis=1).sum() + x[::-1].argmax()",
        cumulative: "x = random((90, 70), seed=7, chunks=(20, 30)); x.cumsum(axis=0) + cumprod(x + 0.5, axis=1)",
        any_all_count: "x = random((90, 70), seed=7, chunks=30); (x > 0.99).any(axis=0) & (x > 0.001).all(axis=0) | (count_nonzero(x > 0.5, axis=0) > 30)",
        joins_and_pads: "x = random((60, 50), seed=3, chunks=(16, 20)); concatenate([pad(x, ((2, 3), (1, 0)), mode='reflect'), pad(roll(x, 7, axis=1)[:5], ((0, 0), (0, 1)), mode='edge')], axis=0)[[4, 0, 69, 3]] * 2",
        stacks: "x = random((30, 20), seed=3, chunks=(16, 7)); stack([x, x.T[:20, :30].T, take(x, [29, 0, 1], axis=0)[0] + x * 0], axis=1)",
        reshapes: "x = random((60, 50), seed=3, chunks=(16, 20)); x.reshape(10, 6, 25, 2).sum(axis=(1, 3)) + x.T.ravel().reshape(50, 60)[:10, :25]",
        medians_and_quantiles: "x = random((60, 50), seed=3, chunks=(16, 20)); median(x, axis=0)[:40] + quantile(x[:, :40], [0.1, 0.9], axis=0).sum(axis=0) + nanpercentile(x, 90)",
        histograms: "x = random((60, 50), seed=3, chunks=(16, 20)); histogram(x, 7, range=(0.1, 0.9))[0] + histogram(x * 3, [0, 0.5, 1, 2, 2.5, 3, 4, 5])[0]",
        boolean_masks: "x = random((60, 50), seed=3, chunks=(16, 20)); concatenate([x[x > 0.7], x.T[(x < 0.1).T] * 2, x[x > 2]])",
        einsum_with_batch_letters: "x = random((20, 30, 10), seed=3, chunks=(8, 16, 10)); einsum('bij,bkj->bik', x, x)",
    }
    Closely {
        prod_axis_1: "x = random((60, 40), seed=3, chunks=16); (x + 0.5).prod(axis=1)",
    }
}

/// `random` against Philox's definition, element by element, on every backend.
fn check_random_definition(backend: &dyn Backend) {
    let g = graph("x = random((37, 53), seed=11, chunks=(10, 20)); x[::-1]", true);
    let got = as_f64(&compute(&g, backend));
    for (i, v) in got.iter().enumerate() {
        let (r, c) = (36 - i / 53, i % 53);
        let want = tessera_kernels::philox::uniform_f64(11, (r * 53 + c) as u64);
        assert_eq!(v.to_bits(), want.to_bits(), "element {i}");
    }
}

#[test]
fn cpu_random_is_philox() {
    check_random_definition(&CpuBackend);
}

#[cfg(feature = "gpu")]
mod gpu_backend {
    use std::sync::OnceLock;

    use tessera_kernels::gpu::GpuBackend;

    use super::*;

    /// The GPU backend, opened once for all tests, or `None` after printing why the
    /// GPU tests are skipped.
    pub fn open() -> Option<&'static GpuBackend> {
        static GPU: OnceLock<Option<GpuBackend>> = OnceLock::new();
        GPU.get_or_init(|| match GpuBackend::new() {
            Ok(b) => {
                eprintln!("GPU tests on {}", b.describe());
                Some(b)
            }
            Err(e) => {
                eprintln!("skipped: {e}");
                None
            }
        })
        .as_ref()
    }

    /// A case on the GPU against the CPU, fused and unfused.
    pub fn check(src: &str, how: Agree) {
        let Some(gpu) = open() else { return };
        for fused in [true, false] {
            let g = graph(src, fused);
            agree(how, src, &compute(&g, gpu), &compute(&g, &CpuBackend));
        }
    }

    #[test]
    fn random_is_philox() {
        let Some(gpu) = open() else { return };
        check_random_definition(gpu);
    }

    #[test]
    fn elementwise_work_runs_on_the_gpu() {
        let Ok(gpu) = GpuBackend::new() else { return eprintln!("skipped: no GPU adapter") };
        let src = "x = random((300, 200), seed=7, chunks=100); x * x[::-1, ::-1] + 2.5";
        compute(&graph(src, true), &gpu);
        let counts = gpu.counts();
        assert!(counts.gpu >= 6 && counts.cpu == 0, "{counts:?}");
    }

    #[test]
    fn float_sums_run_on_the_gpu_with_the_cpus_bits() {
        let Ok(gpu) = GpuBackend::new() else { return eprintln!("skipped: no GPU adapter") };
        if !gpu.has_f64() {
            return eprintln!("skipped: exact sums need float64 on the adapter");
        }
        for src in [
            "x = random((300, 200), seed=3, chunks=100); (x - 0.5).sum(axis=0)",
            "x = random((300, 200), seed=3, chunks=100); (x * 1e6 - x[::-1, ::-1]).mean()",
        ] {
            let g = graph(src, true);
            let before = gpu.counts();
            assert_identical(src, &compute(&g, &gpu), &compute(&g, &CpuBackend));
            let after = gpu.counts();
            assert!(after.gpu > before.gpu && after.cpu == before.cpu, "{src}: {before:?} -> {after:?}");
        }
        // Elements 2^200 apart: bits below the GPU's fixed point, so the CPU sums them.
        let src = "x = random((100, 100), seed=3, chunks=50); where(x > 0.5, x * 1e30, x * 1e-30).sum()";
        let before = gpu.counts().cpu;
        assert_identical(src, &compute(&graph(src, true), &gpu), &compute(&graph(src, true), &CpuBackend));
        assert!(gpu.counts().cpu > before, "the residue sent the task to the CPU");
    }

    #[test]
    fn chunks_over_the_binding_limit_are_split_into_bands() {
        let Ok(gpu) = GpuBackend::new() else { return eprintln!("skipped: no GPU adapter") };
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
    fn layouts_and_order_statistics_run_on_the_cpu_counted() {
        let Ok(gpu) = GpuBackend::new() else { return eprintln!("skipped: no GPU adapter") };
        let src = "x = random((60, 50), seed=3, chunks=(16, 20)); concatenate([pad(x, 1)[1:-1, :-2], x.reshape(50, 60).T]).sum() + median(x, axis=1).sum() + histogram(x, 4, range=(0, 1))[0].sum() + x[x > 0.5].sum()";
        let g = graph(src, true);
        let fallbacks = g
            .tasks
            .iter()
            .filter(|t| {
                use tessera_graph::Kernel;
                matches!(
                    g.layers[t.layer].kernel,
                    Kernel::Gather(_)
                        | Kernel::Reshape(_)
                        | Kernel::Quantile(_)
                        | Kernel::Histogram(_)
                        | Kernel::Compress(_)
                )
            })
            .count() as u64;
        let before = gpu.counts().cpu;
        assert_close(src, &compute(&g, &gpu), &compute(&g, &CpuBackend));
        assert!(fallbacks > 10, "{fallbacks}");
        assert!(gpu.counts().cpu - before >= fallbacks, "{fallbacks} expected, {:?}", gpu.counts());
    }

    #[test]
    fn kernels_the_gpu_cannot_round_exactly_run_on_the_cpu() {
        let Ok(gpu) = GpuBackend::new() else { return eprintln!("skipped: no GPU adapter") };
        let src = "x = random((100, 100), seed=1, chunks=50); (exp(x) + x ** 2).sum()";
        let g = graph(src, true);
        let got = compute(&g, &gpu);
        assert_identical(src, &got, &compute(&g, &CpuBackend));
        assert_eq!(gpu.counts().gpu, 0, "{:?}", gpu.counts());
        assert_eq!(gpu.counts().cpu, 4, "the four partial tasks ran on the CPU: {:?}", gpu.counts());
    }
}
