//! The chunk grid of an array.

use serde::{Deserialize, Serialize};

/// Arrays hold at most this many elements (flat indices stay far from overflowing).
pub const MAX_ELEMENTS: u64 = 1 << 62;

/// The chunk lengths of every axis of an array, with their offsets precomputed.
///
/// On the wire only the lengths travel; the offsets are recomputed on decoding, and a
/// grid whose axes sum past [`MAX_ELEMENTS`] is refused, so a grid from a peer is
/// always consistent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ChunkLengths", into = "ChunkLengths")]
pub struct Chunks {
    lengths: Vec<Vec<usize>>,
    offsets: Vec<Vec<usize>>,
}

/// How [`Chunks`] are encoded: the lengths per axis.
#[derive(Serialize, Deserialize)]
struct ChunkLengths {
    lengths: Vec<Vec<usize>>,
}

impl From<Chunks> for ChunkLengths {
    fn from(c: Chunks) -> ChunkLengths {
        ChunkLengths { lengths: c.lengths }
    }
}

impl TryFrom<ChunkLengths> for Chunks {
    type Error = String;

    fn try_from(c: ChunkLengths) -> Result<Chunks, String> {
        let mut total: u64 = 1;
        for axis in &c.lengths {
            let len = axis
                .iter()
                .try_fold(0u64, |acc, &l| acc.checked_add(l as u64))
                .filter(|&n| n <= MAX_ELEMENTS)
                .ok_or("a chunk grid's axis is longer than an array may be")?;
            total = total.saturating_mul(len);
        }
        if total > MAX_ELEMENTS {
            return Err("a chunk grid holds more elements than an array may".into());
        }
        Ok(Chunks::from_lengths(c.lengths))
    }
}

impl Chunks {
    /// A grid from per-axis chunk lengths. An empty axis is written `[0]`.
    pub fn from_lengths(lengths: Vec<Vec<usize>>) -> Chunks {
        let offsets = lengths
            .iter()
            .map(|axis| {
                let mut acc = 0;
                let mut offs = Vec::with_capacity(axis.len() + 1);
                offs.push(0);
                for &l in axis {
                    acc += l;
                    offs.push(acc);
                }
                offs
            })
            .collect();
        Chunks { lengths, offsets }
    }

    /// Regular chunks of `size[a]` along every axis `a` (the last block shorter).
    pub fn regular(shape: &[usize], size: &[usize]) -> Chunks {
        Chunks::from_lengths(shape.iter().zip(size).map(|(&len, &s)| regular(len, s.max(1))).collect())
    }

    /// [`Chunks::regular`] for sizes that come from outside (a stored array's
    /// metadata): refused, before anything is allocated, when the grid would have more
    /// blocks than a graph may, as a chunk spec's grid is.
    pub fn checked_regular(shape: &[usize], size: &[usize]) -> Result<Chunks, crate::ChunkError> {
        let counts = shape.iter().zip(size).map(|(&len, &s)| (len, s, len.div_ceil(s.max(1)).max(1)));
        check_block_counts(shape, counts)?;
        Ok(Chunks::regular(shape, size))
    }

    /// The grid of a 0-d array: one block.
    pub fn scalar() -> Chunks {
        Chunks::from_lengths(Vec::new())
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.lengths.len()
    }

    /// The chunk lengths along `axis`.
    pub fn axis(&self, axis: usize) -> &[usize] {
        &self.lengths[axis]
    }

    /// The block start offsets along `axis`, with the axis length appended.
    pub fn offsets(&self, axis: usize) -> &[usize] {
        &self.offsets[axis]
    }

    /// The array's shape.
    pub fn shape(&self) -> Vec<usize> {
        self.offsets.iter().map(|o| *o.last().unwrap_or(&0)).collect()
    }

    /// The largest chunk along each axis (Dask's `chunksize`).
    pub fn chunksize(&self) -> Vec<usize> {
        self.lengths.iter().map(|l| l.iter().copied().max().unwrap_or(0)).collect()
    }

    /// The number of blocks along each axis.
    pub fn grid_shape(&self) -> Vec<usize> {
        self.lengths.iter().map(Vec::len).collect()
    }

    /// The total number of blocks.
    pub fn num_blocks(&self) -> usize {
        self.lengths.iter().map(Vec::len).product()
    }

    /// The shape of the block at grid index `block`.
    pub fn block_shape(&self, block: &[usize]) -> Vec<usize> {
        block.iter().enumerate().map(|(a, &b)| self.lengths[a][b]).collect()
    }

    /// The global offset of the block at grid index `block`.
    pub fn block_offset(&self, block: &[usize]) -> Vec<usize> {
        block.iter().enumerate().map(|(a, &b)| self.offsets[a][b]).collect()
    }

    /// Elements in the block at grid index `block`.
    pub fn block_len(&self, block: &[usize]) -> usize {
        self.block_shape(block).iter().product()
    }

    /// Elements in the largest block.
    pub fn max_block_len(&self) -> usize {
        self.chunksize().iter().product()
    }

    /// The grid index of the block that holds element `index` along `axis`.
    pub fn block_of(&self, axis: usize, index: usize) -> usize {
        let offs = &self.offsets[axis];
        match offs.binary_search(&index) {
            Ok(i) => i.min(self.lengths[axis].len().saturating_sub(1)),
            Err(i) => i - 1,
        }
    }

    /// The block at position `flat` of the row-major order of blocks (wrapping on
    /// each axis, so never out of the grid).
    pub fn block_at(&self, flat: usize) -> Vec<usize> {
        let grid = self.grid_shape();
        let mut rest = flat;
        let mut block = vec![0; grid.len()];
        for (b, &g) in block.iter_mut().zip(&grid).rev() {
            *b = rest % g.max(1);
            rest /= g.max(1);
        }
        block
    }

    /// All block grid indices in row-major order.
    pub fn blocks(&self) -> BlockIter {
        BlockIter::new(self.grid_shape())
    }

    /// The grid with its axes permuted: axis `i` of the result is axis `perm[i]` here.
    pub fn transpose(&self, perm: &[usize]) -> Chunks {
        Chunks::from_lengths(perm.iter().map(|&p| self.lengths[p].clone()).collect())
    }

    /// The grid with `axis` replaced by the given lengths.
    pub fn with_axis(&self, axis: usize, lengths: Vec<usize>) -> Chunks {
        let mut all = self.lengths.clone();
        all[axis] = lengths;
        Chunks::from_lengths(all)
    }

    /// The grid with the given axes removed.
    pub fn without_axes(&self, axes: &[usize]) -> Chunks {
        Chunks::from_lengths(
            self.lengths.iter().enumerate().filter(|(a, _)| !axes.contains(a)).map(|(_, l)| l.clone()).collect(),
        )
    }

    /// The coarsest grid whose boundaries include both grids' boundaries, axis by axis
    /// (Dask's `unify_chunks`). Both grids must have the same shape.
    pub fn refine(&self, other: &Chunks) -> Chunks {
        Chunks::from_lengths(
            self.offsets
                .iter()
                .zip(&other.offsets)
                .map(|(a, b)| {
                    let mut cuts: Vec<usize> = a.iter().chain(b.iter()).copied().collect();
                    cuts.sort_unstable();
                    cuts.dedup();
                    if cuts.len() < 2 {
                        return vec![0];
                    }
                    cuts.windows(2).map(|w| w[1] - w[0]).collect()
                })
                .collect(),
        )
    }
}

/// Refuses a grid of `(axis length, chunk length, blocks)` per axis with more blocks
/// along one axis, or in all, than [`crate::MAX_BLOCKS`]: checked on the counts, before
/// any grid is built.
pub(crate) fn check_block_counts(
    shape: &[usize],
    counts: impl Iterator<Item = (usize, usize, usize)>,
) -> Result<(), crate::ChunkError> {
    let mut total: u128 = 1;
    for (axis, (len, size, count)) in counts.enumerate() {
        if count > crate::MAX_BLOCKS {
            return Err(crate::ChunkError::TooManyChunks { axis, len, size, count });
        }
        total = total.saturating_mul(count as u128);
    }
    if total > crate::MAX_BLOCKS as u128 {
        return Err(crate::ChunkError::TooManyBlocks { shape: shape.to_vec(), count: total });
    }
    Ok(())
}

/// Regular chunks of `size` covering `len`, the last one shorter; `[0]` for an empty axis.
pub(crate) fn regular(len: usize, size: usize) -> Vec<usize> {
    if len == 0 {
        return vec![0];
    }
    let mut v = vec![size; len / size];
    if !len.is_multiple_of(size) {
        v.push(len % size);
    }
    v
}

/// Iterates over the grid indices of a block grid in row-major order.
#[derive(Debug, Clone)]
pub struct BlockIter {
    grid: Vec<usize>,
    next: Option<Vec<usize>>,
}

impl BlockIter {
    /// An iterator over every index of a grid of this shape.
    pub fn new(grid: Vec<usize>) -> BlockIter {
        let next = if grid.contains(&0) { None } else { Some(vec![0; grid.len()]) };
        BlockIter { grid, next }
    }
}

impl Iterator for BlockIter {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let current = self.next.take()?;
        let mut following = current.clone();
        let mut axis = self.grid.len();
        loop {
            if axis == 0 {
                break;
            }
            axis -= 1;
            following[axis] += 1;
            if following[axis] < self.grid[axis] {
                self.next = Some(following);
                break;
            }
            following[axis] = 0;
        }
        Some(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry() {
        let c = Chunks::regular(&[10, 7], &[4, 7]);
        assert_eq!(c.axis(0), &[4, 4, 2]);
        assert_eq!(c.shape(), vec![10, 7]);
        assert_eq!(c.num_blocks(), 3);
        assert_eq!(c.block_offset(&[2, 0]), vec![8, 0]);
        assert_eq!(c.block_of(0, 7), 1);
        assert_eq!(c.block_of(0, 8), 2);
        assert_eq!(c.blocks().count(), 3);
        assert_eq!(c.transpose(&[1, 0]).axis(0), &[7]);
    }

    #[test]
    fn scalar_grid_has_one_block() {
        let c = Chunks::scalar();
        assert_eq!(c.num_blocks(), 1);
        assert_eq!(c.blocks().collect::<Vec<_>>(), vec![Vec::<usize>::new()]);
    }

    #[test]
    fn refinement_unions_boundaries() {
        let a = Chunks::from_lengths(vec![vec![4, 4, 2]]);
        let b = Chunks::from_lengths(vec![vec![2, 4, 4]]);
        assert_eq!(a.refine(&b).axis(0), &[2, 2, 2, 2, 2]);
    }
}
