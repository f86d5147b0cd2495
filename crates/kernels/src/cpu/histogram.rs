//! One block counted into histogram bins, with numpy's rule: bin `k` holds
//! `edges[k] <= x < edges[k + 1]`, the last bin also `x == edges[-1]`; values outside
//! the edges and NaN are not counted. Equal bins find their bin by arithmetic and
//! correct it against the edges (as numpy's fast path does), listed edges by search.

use tessera_graph::{BinEdges, GenKind};

use super::formulas;
use super::tile::{Col, TileVal};
#[cfg(test)]
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

/// Counts values into the bins, a tile or a block at a time.
pub(crate) struct Counter {
    edges: Vec<f64>,
    uniform: bool,
    scale: f64,
    counts: Vec<i64>,
}

impl Counter {
    pub(crate) fn new(edges: &BinEdges) -> Counter {
        let e = edge_values(edges);
        let bins = e.len().saturating_sub(1);
        let scale = if bins > 0 { bins as f64 / (e[bins] - e[0]) } else { 0.0 };
        Counter { uniform: matches!(edges, BinEdges::Uniform { .. }), scale, counts: vec![0; bins], edges: e }
    }

    /// The bin of `v`, if it falls in one.
    #[inline]
    fn bin(&self, v: f64) -> Option<usize> {
        let (e, bins) = (&self.edges, self.counts.len());
        if bins == 0 || !(v >= e[0] && v <= e[bins]) {
            return None;
        }
        let mut k = if self.uniform {
            (((v - e[0]) * self.scale) as usize).min(bins - 1)
        } else {
            e.partition_point(|&edge| edge <= v).saturating_sub(1).min(bins - 1)
        };
        while k > 0 && v < e[k] {
            k -= 1;
        }
        while k + 1 < bins && v >= e[k + 1] {
            k += 1;
        }
        Some(k)
    }

    #[inline]
    fn add(&mut self, v: f64, times: i64) {
        if let Some(k) = self.bin(v) {
            self.counts[k] += times;
        }
    }

    fn add_col<T: Copy>(&mut self, col: &Col<T>, n: usize, f64_of: impl Fn(T) -> f64) {
        match col {
            Col::Const(v) => self.add(f64_of(*v), n as i64),
            Col::Vec(values) => values.iter().for_each(|&v| self.add(f64_of(v), 1)),
        }
    }

    /// Counts the `n` values of one tile.
    pub(crate) fn add_tile(&mut self, tile: &TileVal, n: usize) {
        match tile {
            TileVal::F64(c) => self.add_col(c, n, |v| v),
            TileVal::F32(c) => self.add_col(c, n, f64::from),
            TileVal::I64(c) => self.add_col(c, n, |v| v as f64),
            TileVal::Bool(c) => self.add_col(c, n, |v| f64::from(u8::from(v))),
        }
    }

    /// The counts per bin.
    pub(crate) fn finish(self) -> Vec<i64> {
        self.counts
    }
}

/// The counts of `block`'s values in the bins.
#[cfg(test)]
fn counts(edges: &BinEdges, block: &Block) -> Vec<i64> {
    let mut counter = Counter::new(edges);
    match block {
        Block::F64(a) => a.iter().for_each(|&v| counter.add(v, 1)),
        Block::F32(a) => a.iter().for_each(|&v| counter.add(f64::from(v), 1)),
        Block::I64(a) => a.iter().for_each(|&v| counter.add(v as f64, 1)),
        Block::Bool(a) => a.iter().for_each(|&v| counter.add(f64::from(u8::from(v)), 1)),
    }
    counter.finish()
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
