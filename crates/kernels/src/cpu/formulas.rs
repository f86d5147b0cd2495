//! Generators computed element by element from the flat index into their array:
//! `arange`, `linspace`, `eye`, `tri`, `normal` and `integers`. (`random` has its own
//! vectorized fills, and constants never become elements.)

use tessera_chunks::DType;
use tessera_graph::{GenKind, Scalar};

use super::tile::{Col, TileVal};
use crate::philox;

/// The generator's values at the flat indices `flat` of its array of `shape`, as
/// `dtype`.
pub(crate) fn values(kind: GenKind, shape: &[usize], dtype: DType, flat: &[i64]) -> TileVal {
    let cols = shape.get(1).copied().unwrap_or(1).max(1) as i64;
    let floats = |f: &dyn Fn(i64) -> f64| TileVal::F64(Col::Vec(flat.iter().map(|&i| f(i)).collect()));
    let v = match kind {
        GenKind::Arange { start, step } => {
            if dtype.is_float() || matches!(start, Scalar::Float(_)) || matches!(step, Scalar::Float(_)) {
                let (s, d) = (start.as_f64(), step.as_f64());
                floats(&|i| s + d * i as f64)
            } else {
                let (s, d) = (start.as_i64(), step.as_i64());
                TileVal::I64(Col::Vec(flat.iter().map(|&i| s.wrapping_add(d.wrapping_mul(i))).collect()))
            }
        }
        GenKind::Linspace { start, stop, endpoint } => {
            // numpy's arithmetic, step by step (no fused multiply-add).
            let n = shape.first().copied().unwrap_or(0) as i64;
            let div = if endpoint { n - 1 } else { n };
            let delta = stop - start;
            let step = delta / div as f64;
            floats(&|i| {
                if endpoint && n > 1 && i == n - 1 {
                    stop
                } else if div > 0 && step == 0.0 {
                    (i as f64 / div as f64) * delta + start
                } else if div > 0 {
                    i as f64 * step + start
                } else {
                    i as f64 * delta + start
                }
            })
        }
        GenKind::Eye { k } => TileVal::Bool(Col::Vec(flat.iter().map(|&i| i % cols - i / cols == k).collect())),
        GenKind::Tri { k } => TileVal::Bool(Col::Vec(flat.iter().map(|&i| i % cols - i / cols <= k).collect())),
        GenKind::Normal { seed, loc, scale } => floats(&|i| loc + scale * philox::normal_f64(seed, i as u64)),
        GenKind::Integers { seed, low, high } => {
            let range = high.wrapping_sub(low) as u64;
            TileVal::I64(Col::Vec(flat.iter().map(|&i| philox::integer(seed, i as u64, low, range)).collect()))
        }
        GenKind::Full(v) => TileVal::constant(v, dtype),
        GenKind::Random { seed } => floats(&|i| philox::uniform_f64(seed, i as u64)),
    };
    v.cast(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64s(v: TileVal) -> Vec<f64> {
        match v {
            TileVal::F64(Col::Vec(v)) => v,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn linspace_follows_numpy() {
        let kind = GenKind::Linspace { start: 0.0, stop: 1.0, endpoint: true };
        // np.linspace(0, 1, 7)
        let got = f64s(values(kind, &[7], DType::Float64, &[0, 1, 2, 3, 4, 5, 6]));
        let want = [0.0, 1.0 / 6.0, 2.0 / 6.0, 0.5, 4.0 / 6.0, 5.0 / 6.0, 1.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= f64::EPSILON, "{got:?}");
        }
        assert_eq!(got[6], 1.0, "the endpoint is exact");
        let open = GenKind::Linspace { start: 2.0, stop: 3.0, endpoint: false };
        assert_eq!(f64s(values(open, &[4], DType::Float64, &[0, 1, 2, 3])), [2.0, 2.25, 2.5, 2.75]);
    }

    #[test]
    fn eye_tri_and_the_random_families() {
        let eye = values(GenKind::Eye { k: 1 }, &[3, 4], DType::Int64, &(0..12).collect::<Vec<_>>());
        assert_eq!(eye, TileVal::I64(Col::Vec(vec![0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1])));
        let tri = values(GenKind::Tri { k: 0 }, &[2, 3], DType::Bool, &(0..6).collect::<Vec<_>>());
        assert_eq!(tri, TileVal::Bool(Col::Vec(vec![true, false, false, true, true, false])));
        let ints = values(
            GenKind::Integers { seed: 1, low: -3, high: 4 },
            &[1000],
            DType::Int64,
            &(0..1000).collect::<Vec<_>>(),
        );
        let TileVal::I64(Col::Vec(ints)) = ints else { panic!("ints") };
        assert!(ints.iter().all(|v| (-3..4).contains(v)) && (-3..4).all(|v| ints.contains(&v)));
        let normal = f64s(values(
            GenKind::Normal { seed: 1, loc: 10.0, scale: 2.0 },
            &[4000],
            DType::Float64,
            &(0..4000).collect::<Vec<_>>(),
        ));
        let mean = normal.iter().sum::<f64>() / 4000.0;
        let sd = (normal.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 4000.0).sqrt();
        assert!((mean - 10.0).abs() < 0.15 && (sd - 2.0).abs() < 0.15, "mean {mean}, sd {sd}");
    }
}
