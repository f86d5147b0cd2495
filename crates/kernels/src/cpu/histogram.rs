//! One block counted into histogram bins, with numpy's rule: bin `k` holds
//! `edges[k] <= x < edges[k + 1]`, the last bin also `x == edges[-1]`; values outside
//! the edges and NaN are not counted. Equal bins find their bin by arithmetic and
//! correct it against the edges (as numpy's fast path does), listed edges by search.

use tessera_graph::{BinEdges, GenKind};

use super::formulas;
use crate::Block;

/// The edges' values, as float64 (float32 edges widen exactly).
pub(crate) fn edge_values(edges: &BinEdges) -> Vec<f64> {
    match edges {
        BinEdges::Listed(e) => e.clone(),
        &BinEdges::Uniform { lo, hi, bins, dtype } => {
            let flat: Vec<i64> = (0..=bins as i64).collect();
            let kind = GenKind::Linspace { start: lo, stop: hi, endpoint: true };
            let col = formulas::values(kind, &[bins + 1], dtype, &flat).to_f64();
            (0..=bins).map(|i| col.at(i)).collect()
        }
    }
}

/// The counts of `block`'s values in the bins.
pub(crate) fn counts(edges: &BinEdges, block: &Block) -> Vec<i64> {
    let e = edge_values(edges);
    let bins = e.len().saturating_sub(1);
    let mut counts = vec![0i64; bins];
    if bins == 0 {
        return counts;
    }
    let (first, last) = (e[0], e[bins]);
    let uniform = matches!(edges, BinEdges::Uniform { .. });
    let scale = bins as f64 / (last - first);
    let mut add = |v: f64| {
        if !(v >= first && v <= last) {
            return;
        }
        let mut k = if uniform {
            (((v - first) * scale) as usize).min(bins - 1)
        } else {
            e.partition_point(|&edge| edge <= v).saturating_sub(1).min(bins - 1)
        };
        while k > 0 && v < e[k] {
            k -= 1;
        }
        while k + 1 < bins && v >= e[k + 1] {
            k += 1;
        }
        counts[k] += 1;
    };
    match block {
        Block::F64(a) => a.iter().for_each(|&v| add(v)),
        Block::F32(a) => a.iter().for_each(|&v| add(f64::from(v))),
        Block::I64(a) => a.iter().for_each(|&v| add(v as f64)),
        Block::Bool(a) => a.iter().for_each(|&v| add(f64::from(u8::from(v)))),
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};
    use tessera_chunks::DType;

    #[test]
    fn bins_are_half_open_but_the_last() {
        let values = ArrayD::from_shape_vec(IxDyn(&[7]), vec![0.0, 0.25, 0.5, 0.99, 1.0, 1.5, f64::NAN]).expect("7");
        let edges = BinEdges::Uniform { lo: 0.0, hi: 1.0, bins: 4, dtype: DType::Float64 };
        assert_eq!(counts(&edges, &Block::F64(values.clone())), vec![1, 1, 1, 2]);
        let listed = BinEdges::Listed(vec![0.0, 0.5, 1.0]);
        assert_eq!(counts(&listed, &Block::F64(values)), vec![2, 3]);
    }
}
