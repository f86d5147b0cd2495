//! Property tests: random shapes, chunkings and expressions, computed by tessera and
//! compared with a direct ndarray evaluation of the same numbers.

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use tessera::philox::uniform_f64;
use tessera::prelude::*;

/// A shape of 1 to 3 axes and a chunk length for each axis.
fn shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    proptest::collection::vec(1usize..9, 1..4).prop_flat_map(|shape| {
        let chunks: Vec<_> = shape.iter().map(|&n| 1..=n).collect();
        (Just(shape), chunks)
    })
}

fn spec(chunks: &[usize]) -> ChunkSpec {
    let parts: Vec<String> = chunks.iter().map(|c| c.to_string()).collect();
    ChunkSpec::parse(&format!("({},)", parts.join(", "))).expect("valid chunks")
}

/// `random(shape, seed)` evaluated directly from the generator's definition.
fn reference_random(shape: &[usize], seed: u64) -> ArrayD<f64> {
    let mut k = 0u64;
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        k += 1;
        uniform_f64(seed, k - 1)
    })
}

fn values(a: &Array, scheduler: Scheduler) -> ArrayD<f64> {
    let computed = a.compute(scheduler).expect("computes");
    match computed.block {
        Block::F64(x) => x,
        Block::F32(x) => x.mapv(f64::from),
        Block::I64(x) => x.mapv(|v| v as f64),
        Block::Bool(x) => x.mapv(|v| f64::from(u8::from(v))),
    }
}

fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>, rel: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.shape(), want.shape());
    for (g, w) in got.iter().zip(want.iter()) {
        let ok = (g.is_nan() && w.is_nan()) || (g - w).abs() <= rel * w.abs().max(1.0);
        prop_assert!(ok, "got {} want {}", g, w);
    }
    Ok(())
}

fn reversed_all(a: &ArrayD<f64>) -> ArrayD<f64> {
    let mut v = a.view();
    for ax in 0..a.ndim() {
        v.invert_axis(Axis(ax));
    }
    v.to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Elementwise chains with reversed views are bit-identical to ndarray.
    #[test]
    fn elementwise_chain_with_reversal((shape, chunks) in shape_and_chunks(), seed in 0u64..1000) {
        let x = Array::random(&shape, seed, &spec(&chunks)).expect("valid");
        let rev: Vec<Index> = shape.iter().map(|_| Index::REVERSED).collect();
        let y = x.slice(&rev).expect("valid");
        let expr = (&(&x * &y).expect("ok") * 3.0).expect("ok")
            .binary_scalar(BinaryOp::Sub, Scalar::Float(0.25)).expect("ok")
            .unary(UnaryOp::Abs).expect("ok")
            .unary(UnaryOp::Sqrt).expect("ok");
        let rx = reference_random(&shape, seed);
        let want = (&rx * &reversed_all(&rx) * 3.0 - 0.25).mapv(|v| v.abs().sqrt());
        let got = values(&expr, Scheduler::Threads(3));
        prop_assert_eq!(got, want);
    }

    /// Strided and offset slices with negative steps follow Python's rules.
    #[test]
    fn strided_slices(n in 1usize..30, c in 1usize..10, start in -35i64..35, stop in -35i64..35,
                      step in prop_oneof![-4i64..0, 1i64..5], seed in 0u64..100) {
        let x = Array::random(&[n], seed, &spec(&[c.min(n)])).expect("valid");
        let idx = Index::Slice { start: Some(start), stop: Some(stop), step: Some(step) };
        let y = x.slice(&[idx]).expect("valid");
        let rx = reference_random(&[n], seed);
        // Python's slice, written out directly.
        let len = n as i64;
        let norm = |v: i64, lo: i64, hi: i64| (if v < 0 { v + len } else { v }).clamp(lo, hi);
        let (s, e) = if step > 0 { (norm(start, 0, len), norm(stop, 0, len)) } else { (norm(start, -1, len - 1), norm(stop, -1, len - 1)) };
        let mut picked = Vec::new();
        let mut i = s;
        while (step > 0 && i < e) || (step < 0 && i > e) {
            picked.push(rx[[i as usize]]);
            i += step;
        }
        let got = values(&(&y + 0.0).expect("ok"), Scheduler::SingleThreaded);
        prop_assert_eq!(got.iter().copied().collect::<Vec<_>>(), picked);
    }

    /// Broadcasting a row against a matrix, and transposes.
    #[test]
    fn broadcasting_and_transpose(rows in 1usize..9, cols in 1usize..9, cr in 1usize..9, cc in 1usize..9, seed in 0u64..100) {
        let (cr, cc) = (cr.min(rows), cc.min(cols));
        let m = Array::random(&[rows, cols], seed, &spec(&[cr, cc])).expect("valid");
        let v = Array::random(&[rows], seed + 1, &spec(&[cr])).expect("valid");
        let expr = m.t().binary(BinaryOp::Maximum, &v).expect("broadcasts");
        let rm = reference_random(&[rows, cols], seed);
        let rv = reference_random(&[rows], seed + 1);
        let want = ArrayD::from_shape_fn(IxDyn(&[cols, rows]), |i| rm[[i[1], i[0]]].max(rv[[i[1]]]));
        prop_assert_eq!(values(&expr, Scheduler::Threads(2)), want);
    }

    /// Reductions along any axis agree with ndarray; float sums are exact, so only the
    /// reference's rounding differs.
    #[test]
    fn reductions_along_axes((shape, chunks) in shape_and_chunks(), axis_pick in 0usize..3, seed in 0u64..100) {
        let axis = axis_pick % shape.len();
        let x = Array::random(&shape, seed, &spec(&chunks)).expect("valid");
        let rx = reference_random(&shape, seed);
        let ax = [axis as i64];
        let cases: Vec<(Array, ArrayD<f64>)> = vec![
            (x.sum(Some(&ax)).expect("ok"), rx.sum_axis(Axis(axis))),
            (x.mean(Some(&ax)).expect("ok"), rx.mean_axis(Axis(axis)).expect("non-empty")),
            (x.reduce(ReduceOp::Max, Some(&ax)).expect("ok"), rx.fold_axis(Axis(axis), f64::NEG_INFINITY, |a, &b| a.max(b))),
            (x.reduce(ReduceOp::Min, Some(&ax)).expect("ok"), rx.fold_axis(Axis(axis), f64::INFINITY, |a, &b| a.min(b))),
            (x.reduce(ReduceOp::Prod, Some(&ax)).expect("ok"), rx.fold_axis(Axis(axis), 1.0, |a, &b| a * b)),
            (x.var(Some(&ax), 0).expect("ok"), rx.var_axis(Axis(axis), 0.0)),
            (x.std(Some(&ax), 0).expect("ok"), rx.std_axis(Axis(axis), 0.0)),
        ];
        for (got, want) in cases {
            assert_close(&values(&got, Scheduler::Threads(2)), &want, 1e-12)?;
        }
        let total = values(&x.sum(None).expect("ok"), Scheduler::SingleThreaded);
        assert_close(&total, &ArrayD::from_elem(IxDyn(&[]), rx.sum()), 1e-12)?;
    }

    /// Sums do not depend on the chunking, bit for bit.
    #[test]
    fn sums_are_chunking_independent(n in 1usize..300, c1 in 1usize..300, c2 in 1usize..300, seed in 0u64..100) {
        let sum_with = |c: usize| {
            let x = Array::random(&[n], seed, &spec(&[c.min(n)])).expect("valid");
            let y = (&x * &x.slice(&[Index::REVERSED]).expect("ok")).expect("ok");
            values(&y.sum(None).expect("ok"), Scheduler::Threads(2))[[]].to_bits()
        };
        prop_assert_eq!(sum_with(c1), sum_with(c2));
    }

    /// Matrix products of chunked operands, one of them materialized.
    #[test]
    fn matmul(n in 1usize..8, k in 1usize..8, m in 1usize..8, c in 1usize..8, seed in 0u64..100) {
        let a = Array::random(&[n, k], seed, &spec(&[c.min(n), c.min(k)])).expect("valid");
        let b = (&Array::random(&[k, m], seed + 7, &spec(&[c.min(k), c.min(m)])).expect("valid") + 1.0).expect("ok");
        let got = values(&a.matmul(&b).expect("aligned"), Scheduler::Threads(2));
        let ra = reference_random(&[n, k], seed).into_dimensionality::<ndarray::Ix2>().expect("2-D");
        let rb = (reference_random(&[k, m], seed + 7) + 1.0).into_dimensionality::<ndarray::Ix2>().expect("2-D");
        assert_close(&got, &ra.dot(&rb).into_dyn(), 1e-12)?;
    }
}

#[test]
fn schedulers_and_fusion_agree_bit_for_bit() {
    let x = Array::random(&[300, 200], 42, &ChunkSpec::parse("(64, 50)").expect("valid")).expect("valid");
    let y = (&x * &x.slice(&[Index::REVERSED, Index::REVERSED]).expect("ok")).expect("ok");
    let total = y
        .sum(None)
        .expect("ok")
        .binary(BinaryOp::Add, &y.mean(Some(&[0])).expect("ok").sum(None).expect("ok"))
        .expect("ok");
    let single = values(&total, Scheduler::SingleThreaded);
    for threads in [1, 2, 3, 8] {
        assert_eq!(values(&total, Scheduler::Threads(threads)), single, "{threads} threads");
    }
    let unfused = ComputeOptions { scheduler: Scheduler::Threads(2), lower: tessera::LowerOptions::unfused() };
    let got = total.compute_with(&unfused, &tessera::NoObserver).expect("computes");
    assert_eq!(got.scalar(), single.first().copied());
    assert!(got.tasks > total.compute(Scheduler::SingleThreaded).expect("computes").tasks);
}

#[test]
fn dtypes_follow_numpy() {
    let i = Array::arange(10, &ChunkSpec::parse("3").expect("valid")).expect("valid");
    assert_eq!(i.dtype(), DType::Int64);
    let s = i.sum(None).expect("ok");
    assert_eq!(s.dtype(), DType::Int64);
    assert_eq!(s.compute(Scheduler::SingleThreaded).expect("ok").scalar(), Some(45.0));
    let half = (&i / 2.0).expect("ok");
    assert_eq!(half.dtype(), DType::Float64);
    let f = Array::random(&[10], 1, &ChunkSpec::Auto).expect("valid").astype(DType::Float32);
    assert_eq!((&f * 2.0).expect("ok").dtype(), DType::Float32, "python floats are weak scalars");
    let cmp = i.binary_scalar(BinaryOp::Gt, Scalar::Int(4)).expect("ok");
    assert_eq!(cmp.dtype(), DType::Bool);
    assert_eq!(cmp.sum(None).expect("ok").compute(Scheduler::SingleThreaded).expect("ok").scalar(), Some(5.0));
}

#[test]
fn culling_computes_only_what_a_slice_reads() {
    // A materialized reduction result sliced to one element needs one aggregate block.
    let x = Array::random(&[1000, 1000], 3, &ChunkSpec::parse("100").expect("valid")).expect("valid");
    let col_sums = x.sum(Some(&[0])).expect("ok");
    let one = col_sums.slice(&[Index::At(5)]).expect("ok");
    let graph = tessera::lower(&one, &tessera::LowerOptions::default()).expect("lowers");
    let full = tessera::lower(&col_sums, &tessera::LowerOptions::default()).expect("lowers");
    // One column of 10 partial blocks, its combine, aggregate, and the slice.
    assert!(graph.tasks.len() * 5 < full.tasks.len(), "{} vs {}", graph.tasks.len(), full.tasks.len());
    let got = one.compute(Scheduler::Threads(2)).expect("ok").scalar().expect("scalar");
    let want = col_sums.compute(Scheduler::Threads(2)).expect("ok").block.get_f64(5).expect("value");
    assert_eq!(got, want);
}
