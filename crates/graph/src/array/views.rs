//! Views: slicing, integer indexing, transposes, and rechunking.

use tessera_chunks::{ChunkSpec, Chunks, normalize_index, normalize_slice};

use super::{Array, Op};
use crate::{GraphError, SrcAxis, ViewMap};

/// One entry of an indexing expression (`x[1:10:2, ::-1, 3]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// `start:stop:step`, each part optional.
    Slice {
        /// `start`
        start: Option<i64>,
        /// `stop`
        stop: Option<i64>,
        /// `step` (never zero)
        step: Option<i64>,
    },
    /// An integer: selects one position and drops the axis.
    At(i64),
    /// `None` (numpy's `newaxis`): a new axis of length 1, consuming no axis.
    NewAxis,
    /// `...`: as many `:` as the other entries leave (at most one per index).
    Ellipsis,
}

impl Index {
    /// `:` — the whole axis.
    pub const FULL: Index = Index::Slice { start: None, stop: None, step: None };
    /// `::-1` — the whole axis, reversed.
    pub const REVERSED: Index = Index::Slice { start: None, stop: None, step: Some(-1) };
}

impl Array {
    /// `self[index]` with Python semantics; missing trailing entries mean `:`.
    pub fn slice(&self, index: &[Index]) -> Result<Array, GraphError> {
        let consumed = index.iter().filter(|i| !matches!(i, Index::NewAxis | Index::Ellipsis)).count();
        if consumed > self.ndim() {
            return Err(GraphError::TooManyIndices { ndim: self.ndim(), given: consumed });
        }
        let expanded: Vec<Index>;
        let index = match index.iter().filter(|i| **i == Index::Ellipsis).count() {
            0 => index,
            1 => {
                let at = index.iter().position(|i| *i == Index::Ellipsis).unwrap_or(0);
                let fill = std::iter::repeat_n(Index::FULL, self.ndim() - consumed);
                expanded = index[..at].iter().copied().chain(fill).chain(index[at + 1..].iter().copied()).collect();
                &expanded
            }
            _ => return Err(GraphError::Index("an index can only have a single ellipsis ('...')".into())),
        };
        let mut axes = Vec::with_capacity(self.ndim());
        let mut shape = Vec::new();
        let mut lengths = Vec::new();
        let mut entries = index.iter().copied();
        for axis in 0..self.ndim() {
            let n = self.shape()[axis];
            // New axes before this axis's entry take no source axis.
            let entry = loop {
                match entries.next() {
                    Some(Index::NewAxis) => {
                        shape.push(1);
                        lengths.push(vec![1]);
                    }
                    Some(e) => break e,
                    None => break Index::FULL,
                }
            };
            let (start, stop, step) = match entry {
                Index::At(i) => {
                    let i = normalize_index(i, axis, n)?;
                    axes.push(SrcAxis { out_axis: None, offset: i as i64, step: 0 });
                    continue;
                }
                Index::Slice { start, stop, step } => (start, stop, step),
                Index::NewAxis | Index::Ellipsis => (None, None, None),
            };
            let s = normalize_slice(start, stop, step, n)?;
            axes.push(SrcAxis { out_axis: Some(shape.len()), offset: s.start, step: s.step });
            shape.push(s.len);
            lengths.push(s.chunks(self.chunks().offsets(axis)));
        }
        // New axes after the last consumed entry (`x[:, None]`, `x[None]` of a 0-d array).
        for _ in entries {
            shape.push(1);
            lengths.push(vec![1]);
        }
        let map = ViewMap { out_ndim: shape.len(), axes };
        if map.is_identity() && shape == self.shape() {
            return Ok(self.clone());
        }
        Ok(Array::new(Op::View(self.clone(), map), shape, self.dtype(), Chunks::from_lengths(lengths)))
    }

    /// `self.transpose(perm)`; `None` reverses the axes like numpy.
    pub fn transpose(&self, perm: Option<&[i64]>) -> Result<Array, GraphError> {
        let ndim = self.ndim();
        let perm: Vec<usize> = match perm {
            None => (0..ndim).rev().collect(),
            Some(p) => {
                let axes = p.iter().map(|&a| normalize_axis(a, ndim)).collect::<Result<Vec<_>, _>>()?;
                let mut sorted = axes.clone();
                sorted.sort_unstable();
                if sorted != (0..ndim).collect::<Vec<_>>() {
                    return Err(GraphError::Shape(format!(
                        "transpose: axes {p:?} are not a permutation of the {ndim} axes"
                    )));
                }
                axes
            }
        };
        let mut axes = vec![SrcAxis { out_axis: None, offset: 0, step: 0 }; ndim];
        for (out, &src) in perm.iter().enumerate() {
            axes[src] = SrcAxis { out_axis: Some(out), offset: 0, step: 1 };
        }
        let map = ViewMap { out_ndim: ndim, axes };
        if map.is_identity() {
            return Ok(self.clone());
        }
        let shape = perm.iter().map(|&p| self.shape()[p]).collect();
        Ok(Array::new(Op::View(self.clone(), map), shape, self.dtype(), self.chunks().transpose(&perm)))
    }

    /// `self.T`
    pub fn t(&self) -> Array {
        match self.transpose(None) {
            Ok(a) => a,
            // A reversed permutation of the array's own axes is always valid.
            Err(_) => self.clone(),
        }
    }

    /// `self.rechunk(chunks)` with `auto` axes sized under `auto_bytes`.
    pub fn rechunk_with(&self, chunks: &ChunkSpec, auto_bytes: u64) -> Result<Array, GraphError> {
        Ok(self.with_chunks(chunks.resolve(self.shape(), self.dtype(), auto_bytes)?))
    }

    /// The array with `chunks` (of its shape): itself if it has them, else a rechunk.
    pub(crate) fn with_chunks(&self, chunks: Chunks) -> Array {
        if &chunks == self.chunks() {
            return self.clone();
        }
        Array::new(Op::Rechunk(self.clone()), self.shape().to_vec(), self.dtype(), chunks)
    }

    /// `self.rechunk(chunks)` with the default `auto` byte target.
    pub fn rechunk(&self, chunks: &ChunkSpec) -> Result<Array, GraphError> {
        self.rechunk_with(chunks, tessera_chunks::chunk_byte_target()?)
    }

    /// The reduced array `self` (the result of reducing `axes` of an array of `shape`)
    /// broadcast back to `shape` (length 1 along `axes` for `keepdims`), chunked as
    /// `self` on the kept axes.
    pub(crate) fn expand_reduced(&self, shape: &[usize], axes: &[usize]) -> Array {
        let kept: Vec<usize> = (0..shape.len()).filter(|a| !axes.contains(a)).collect();
        let map = ViewMap {
            out_ndim: shape.len(),
            axes: kept.iter().map(|&o| SrcAxis { out_axis: Some(o), offset: 0, step: 1 }).collect(),
        };
        let lengths = (0..shape.len())
            .map(|o| match kept.iter().position(|&k| k == o) {
                Some(k) => self.chunks().axis(k).to_vec(),
                None => vec![shape[o]],
            })
            .collect();
        Array::new(Op::View(self.clone(), map), shape.to_vec(), self.dtype(), Chunks::from_lengths(lengths))
    }
}

/// A possibly negative axis number, checked against `ndim`.
pub(crate) fn normalize_axis(axis: i64, ndim: usize) -> Result<usize, GraphError> {
    let resolved = if axis < 0 { axis + ndim as i64 } else { axis };
    if resolved < 0 || resolved >= ndim as i64 {
        return Err(GraphError::Axis { axis, ndim });
    }
    Ok(resolved as usize)
}
