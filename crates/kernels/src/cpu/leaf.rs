//! Leaves: filling tile buffers from generators and input blocks.

use std::borrow::Cow;
use std::sync::Arc;

use tessera_chunks::DType;
use tessera_graph::{GenKind, Generator, Leaf, Scalar, StoredArray, ViewMap};
use tessera_store::{ArrayReader, Buffer, ChunkCache, MappedElements, MappedRegion};

use super::formulas;
use super::inputs::Inputs;
use super::tile::{Col, Tile, TileVal};
use crate::{Block, KernelError, philox};

/// A leaf prepared for one task's region.
pub enum Source<'a> {
    /// A constant.
    Const(TileVal),
    /// `random`: values keyed by the flat index into the generator's shape.
    Random { seed: u64, dtype: DType, addr: Addressing<'a> },
    /// A generator computed element by element (`arange`, `linspace`, `eye`, ...).
    Formula { kind: GenKind, shape: &'a [usize], dtype: DType, addr: Addressing<'a> },
    /// Data gathered from input blocks.
    Data { block: Cow<'a, Block>, addr: Addressing<'a> },
    /// A box of data held by the task: read from a stored array (shared with the
    /// task's chunk cache, not copied), or generated once for two readers.
    Buffer { buffer: Arc<Buffer>, addr: Addressing<'a> },
    /// A region of a stored file mapped in place, addressed with the file's strides.
    Mapped { region: MappedRegion, addr: Addressing<'a> },
}

/// How an expression position maps to a flat position in a source's data:
/// `flat = sum_k (src_k - origin_k) * stride_k`, `src = view(position)`.
pub struct Addressing<'a> {
    view: &'a ViewMap,
    origin: Vec<usize>,
    strides: Vec<i64>,
}

/// Element strides of a row-major array of `shape`.
pub(crate) fn row_major_strides(shape: &[usize]) -> Vec<i64> {
    let mut strides = vec![1i64; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1] as i64;
    }
    strides
}

impl Addressing<'_> {
    /// The flat position of a row's first column and the step per column. `global` is
    /// the expression coordinate of the row's first element.
    fn row(&self, global: &[usize]) -> (i64, i64) {
        let last = global.len().checked_sub(1);
        let mut base = 0;
        let mut delta = 0;
        for (k, s) in self.view.axes.iter().enumerate() {
            let src = match s.out_axis {
                Some(o) => s.offset + s.step * global[o] as i64,
                None => s.offset,
            };
            base += (src - self.origin[k] as i64) * self.strides[k];
            if s.out_axis.is_some() && s.out_axis == last {
                delta += s.step * self.strides[k];
            }
        }
        (base, delta)
    }
}

/// The stored arrays one task reads, each opened once, with the chunks it has decoded:
/// several leaves reading one array (through different views) decode each chunk once.
#[derive(Default)]
pub struct StoredReads<'a> {
    arrays: Vec<(&'a StoredArray, Arc<dyn ArrayReader>, ChunkCache)>,
}

impl<'a> StoredReads<'a> {
    /// The index of `array`'s reader, opening it on first use.
    fn open(&mut self, array: &'a StoredArray, inputs: &Inputs<'_>) -> Result<usize, KernelError> {
        if let Some(i) = self.arrays.iter().position(|(a, ..)| *a == array) {
            return Ok(i);
        }
        let reader = tessera_store::reader(array).map_err(storage(inputs))?;
        self.arrays.push((array, reader, ChunkCache::default()));
        Ok(self.arrays.len() - 1)
    }

    /// The box `bounds` of `array` mapped in place from its file, where its format
    /// allows (see [`tessera_store::ArrayReader::map`]).
    fn map(
        &mut self,
        array: &'a StoredArray,
        bounds: &[(usize, usize)],
        inputs: &Inputs<'_>,
    ) -> Result<Option<MappedRegion>, KernelError> {
        let i = self.open(array, inputs)?;
        let (off, shape): (Vec<usize>, Vec<usize>) = bounds.iter().copied().unzip();
        self.arrays[i].1.map(&off, &shape).map_err(storage(inputs))
    }

    /// The elements of `array` in the box `bounds` (start, length per axis).
    fn read(
        &mut self,
        array: &'a StoredArray,
        bounds: &[(usize, usize)],
        inputs: &Inputs<'_>,
    ) -> Result<Arc<Buffer>, KernelError> {
        let storage = storage(inputs);
        let i = self.open(array, inputs)?;
        let (off, shape): (Vec<usize>, Vec<usize>) = bounds.iter().copied().unzip();
        let (_, reader, cache) = &mut self.arrays[i];
        let buffer = reader.read(&off, &shape, cache).map_err(storage)?;
        if buffer.len() != shape.iter().product::<usize>() {
            return Err(inputs.error("a stored region has the wrong number of elements"));
        }
        Ok(buffer)
    }
}

/// A storage error of the task `inputs` belongs to.
fn storage(inputs: &Inputs<'_>) -> impl Fn(tessera_store::StoreError) -> KernelError {
    let task = inputs.key();
    move |e| KernelError::Storage { task: task.clone(), message: e.to_string() }
}

/// Boxes of `random` values a task has generated, so that the two regions of a paired
/// partial (see [`tessera_graph::pair_role`]) generate each value once: a leaf that
/// needs a box already here reads it instead.
#[derive(Default)]
pub struct Generated<'a> {
    boxes: Vec<GeneratedBox<'a>>,
    /// Buffers of boxes no longer read, refilled by the next boxes instead of
    /// allocating and zeroing new ones.
    spare: Vec<Buffer>,
}

/// One generated box: whose values, where, and the values.
struct GeneratedBox<'a> {
    generator: &'a Generator,
    bounds: Vec<(usize, usize)>,
    buffer: Arc<Buffer>,
}

impl<'a> Generated<'a> {
    /// Forgets the boxes (keeping the buffers nothing reads any more for reuse).
    pub fn clear(&mut self) {
        for b in self.boxes.drain(..) {
            if let Ok(buffer) = Arc::try_unwrap(b.buffer) {
                self.spare.push(buffer);
            }
        }
    }

    /// The values of `generator` (a `random` of `seed`) over `bounds`, as a box of its
    /// own with its origin, generated now unless a box held here contains it.
    fn get(
        &mut self,
        generator: &'a Generator,
        seed: u64,
        dtype: DType,
        bounds: &[(usize, usize)],
    ) -> (Arc<Buffer>, Vec<(usize, usize)>) {
        let inside =
            |outer: &[(usize, usize)]| outer.iter().zip(bounds).all(|(&(o, ol), &(b, bl))| o <= b && b + bl <= o + ol);
        let held =
            self.boxes.iter().find(|b| b.generator == generator && b.buffer.dtype() == dtype && inside(&b.bounds));
        if let Some(b) = held {
            return (b.buffer.clone(), b.bounds.clone());
        }
        let spare = self.spare.iter().position(|b| b.dtype() == dtype).map(|i| self.spare.swap_remove(i));
        let buffer = Arc::new(generate_box(generator, seed, dtype, bounds, spare));
        self.boxes.push(GeneratedBox { generator, bounds: bounds.to_vec(), buffer: buffer.clone() });
        (buffer, bounds.to_vec())
    }
}

/// The `random` values of `generator` over `bounds` as `dtype` (float32 or float64),
/// row by row: each row of the box is contiguous in the generator's flat index, so it
/// takes the vectorized fill, and the values are those of [`Source::Random`]. `spare`
/// is a buffer of that dtype to fill instead of a new one.
fn generate_box(
    generator: &Generator,
    seed: u64,
    dtype: DType,
    bounds: &[(usize, usize)],
    spare: Option<Buffer>,
) -> Buffer {
    let strides = row_major_strides(&generator.shape);
    let shape: Vec<usize> = bounds.iter().map(|b| b.1).collect();
    let row = shape.last().copied().unwrap_or(1).max(1);
    let n: usize = shape.iter().product();
    let start_of = |r: usize| {
        let mut rest = r;
        let mut flat = bounds.last().map_or(0, |b| b.0 as i64);
        for a in (0..shape.len().saturating_sub(1)).rev() {
            flat += (bounds[a].0 + rest % shape[a]) as i64 * strides[a];
            rest /= shape[a];
        }
        flat as u64
    };
    match (dtype, spare) {
        (DType::Float32, spare) => {
            let mut out = match spare {
                Some(Buffer::F32(v)) => v,
                _ => Vec::new(),
            };
            out.resize(n, 0.0);
            out.chunks_mut(row).enumerate().for_each(|(r, slot)| philox::fill_f32(seed, start_of(r), slot));
            Buffer::F32(out)
        }
        (_, spare) => {
            let mut out = match spare {
                Some(Buffer::F64(v)) => v,
                _ => Vec::new(),
            };
            out.resize(n, 0.0);
            out.chunks_mut(row).enumerate().for_each(|(r, slot)| philox::fill_f64(seed, start_of(r), slot));
            Buffer::F64(out)
        }
    }
}

/// A buffer holding a block's elements (no copy for standard-layout blocks).
pub(crate) fn buffer_of(block: Block) -> Buffer {
    fn raw<T: Clone>(a: ndarray::ArrayD<T>) -> Vec<T> {
        if a.is_standard_layout() { a.into_raw_vec_and_offset().0 } else { a.iter().cloned().collect() }
    }
    match block {
        Block::Bool(a) => Buffer::Bool(raw(a)),
        Block::I64(a) => Buffer::I64(raw(a)),
        Block::F32(a) => Buffer::F32(raw(a)),
        Block::F64(a) => Buffer::F64(raw(a)),
    }
}

impl<'a> Source<'a> {
    /// Prepares `leaf` for evaluation over the region `off`, `shape`.
    pub fn prepare(
        leaf: &'a Leaf,
        dtype: DType,
        off: &[usize],
        shape: &[usize],
        inputs: &Inputs<'a>,
        stored: &mut StoredReads<'a>,
        generated: Option<&mut Generated<'a>>,
    ) -> Result<Source<'a>, KernelError> {
        Ok(match leaf {
            Leaf::Const(s) => Source::Const(TileVal::constant(*s, dtype)),
            Leaf::Gen { generator, view } => {
                let gshape = &generator.shape;
                let addr = Addressing { view, origin: vec![0; gshape.len()], strides: row_major_strides(gshape) };
                match (generator.kind, generated) {
                    (GenKind::Full(v), _) => Source::Const(TileVal::constant(v, dtype)),
                    (GenKind::Random { seed }, Some(held)) if !shape.contains(&0) && dtype.is_float() => {
                        let (buffer, bounds) = held.get(generator, seed, dtype, &view.src_box(off, shape));
                        let region: Vec<usize> = bounds.iter().map(|b| b.1).collect();
                        let origin = bounds.iter().map(|b| b.0).collect();
                        Source::Buffer {
                            buffer,
                            addr: Addressing { view, origin, strides: row_major_strides(&region) },
                        }
                    }
                    (GenKind::Random { seed }, _) => Source::Random { seed, dtype, addr },
                    (kind, _) => Source::Formula { kind, shape: gshape, dtype, addr },
                }
            }
            Leaf::Stored { array, view } => {
                if shape.contains(&0) {
                    return Ok(Source::Const(TileVal::constant(Scalar::Int(0), dtype)));
                }
                let bounds = view.src_box(off, shape);
                if let Some(region) = stored.map(array, &bounds, inputs)? {
                    let origin = region.origin().to_vec();
                    let strides = region.strides().iter().map(|&s| s as i64).collect();
                    return Ok(Source::Mapped { region, addr: Addressing { view, origin, strides } });
                }
                let buffer = stored.read(array, &bounds, inputs)?;
                if buffer.dtype() != dtype {
                    return Err(inputs.error("stored data does not have the leaf's dtype"));
                }
                let region: Vec<usize> = bounds.iter().map(|b| b.1).collect();
                let strides = row_major_strides(&region);
                let origin = bounds.iter().map(|b| b.0).collect();
                Source::Buffer { buffer, addr: Addressing { view, origin, strides } }
            }
            Leaf::Input { layer, view } => {
                let bounds = view.src_box(off, shape);
                if shape.contains(&0) {
                    return Ok(Source::Const(TileVal::constant(Scalar::Int(0), dtype)));
                }
                let (block, origin) = inputs.region(*layer, &bounds)?;
                let strides = row_major_strides(block.shape());
                Source::Data { block, addr: Addressing { view, origin, strides } }
            }
        })
    }

    /// The leaf's values over `tile` of the region at `off` with `shape`.
    pub fn fill(&self, tile: Tile, off: &[usize], shape: &[usize]) -> TileVal {
        let addr = match self {
            Source::Const(v) => return v.clone(),
            Source::Random { addr, .. }
            | Source::Formula { addr, .. }
            | Source::Data { addr, .. }
            | Source::Buffer { addr, .. }
            | Source::Mapped { addr, .. } => addr,
        };
        let mut rows = Vec::with_capacity(tile.nrows);
        let mut global = off.to_vec();
        let n = shape.len();
        for r in tile.row0..tile.row0 + tile.nrows {
            let mut rest = r;
            for a in (0..n.saturating_sub(1)).rev() {
                global[a] = off[a] + rest % shape[a];
                rest /= shape[a];
            }
            if n > 0 {
                global[n - 1] = off[n - 1] + tile.col0;
            }
            rows.push(addr.row(&global));
        }
        let len = tile.elements();
        let cols = tile.ncols;
        // One row that does not move along the last axis is a constant.
        let constant = rows.len() == 1 && (rows[0].1 == 0 || cols == 1);
        match self {
            Source::Const(_) => unreachable!("handled above"),
            Source::Random { seed, dtype: DType::Float32, .. } => {
                let seed = *seed;
                if constant {
                    return TileVal::F32(Col::Const(philox::uniform_f32(seed, rows[0].0 as u64)));
                }
                let mut out = vec![0f32; len];
                for (row, &(base, delta)) in out.chunks_mut(cols).zip(&rows) {
                    if delta == 1 {
                        philox::fill_f32(seed, base as u64, row);
                        continue;
                    }
                    for (j, slot) in row.iter_mut().enumerate() {
                        *slot = philox::uniform_f32(seed, (base + delta * j as i64) as u64);
                    }
                }
                TileVal::F32(Col::Vec(out))
            }
            Source::Random { seed, .. } => {
                let seed = *seed;
                if constant {
                    return TileVal::F64(Col::Const(philox::uniform_f64(seed, rows[0].0 as u64)));
                }
                let mut out = vec![0f64; len];
                for (row, &(base, delta)) in out.chunks_mut(cols).zip(&rows) {
                    fill_random_row(seed, base, delta, row);
                }
                TileVal::F64(Col::Vec(out))
            }
            Source::Formula { kind, shape, dtype, .. } => {
                let flat: Vec<i64> =
                    rows.iter().flat_map(|&(base, delta)| (0..cols as i64).map(move |j| base + delta * j)).collect();
                formulas::values(*kind, shape, *dtype, &flat)
            }
            Source::Data { block, .. } => match block.as_ref() {
                Block::F64(a) => TileVal::F64(gather(a.as_slice(), &rows, cols, constant)),
                Block::F32(a) => TileVal::F32(gather(a.as_slice(), &rows, cols, constant)),
                Block::I64(a) => TileVal::I64(gather(a.as_slice(), &rows, cols, constant)),
                Block::Bool(a) => TileVal::Bool(gather(a.as_slice(), &rows, cols, constant)),
            },
            Source::Mapped { region, .. } => match region.elements() {
                MappedElements::F64(v) => TileVal::F64(gather(Some(v), &rows, cols, constant)),
                MappedElements::F32(v) => TileVal::F32(gather(Some(v), &rows, cols, constant)),
                MappedElements::I64(v) => TileVal::I64(gather(Some(v), &rows, cols, constant)),
            },
            Source::Buffer { buffer, .. } => match buffer.as_ref() {
                Buffer::F64(v) => TileVal::F64(gather(Some(v), &rows, cols, constant)),
                Buffer::F32(v) => TileVal::F32(gather(Some(v), &rows, cols, constant)),
                Buffer::I64(v) => TileVal::I64(gather(Some(v), &rows, cols, constant)),
                Buffer::Bool(v) => TileVal::Bool(gather(Some(v), &rows, cols, constant)),
            },
        }
    }
}

fn fill_random_row(seed: u64, base: i64, delta: i64, row: &mut [f64]) {
    let n = row.len() as i64;
    match delta {
        1 => philox::fill_f64(seed, base as u64, row),
        -1 => {
            philox::fill_f64(seed, (base - n + 1) as u64, row);
            row.reverse();
        }
        _ => philox::fill_f64_strided(seed, base, delta, row),
    }
}

fn gather<T: Copy + Default>(data: Option<&[T]>, rows: &[(i64, i64)], cols: usize, constant: bool) -> Col<T> {
    // Blocks are always in standard layout; an empty slice only happens for empty blocks.
    let data = data.unwrap_or(&[]);
    if constant {
        return Col::Const(data.get(rows[0].0 as usize).copied().unwrap_or_default());
    }
    let mut out = Vec::with_capacity(rows.len() * cols);
    for &(base, delta) in rows {
        let b = base as usize;
        match delta {
            1 => out.extend_from_slice(&data[b..b + cols]),
            -1 => out.extend(data[b + 1 - cols..=b].iter().rev()),
            _ => out.extend((0..cols as i64).map(|j| data[(base + delta * j) as usize])),
        }
    }
    Col::Vec(out)
}
