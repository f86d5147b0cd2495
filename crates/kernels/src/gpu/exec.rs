//! Running one task's shader: cutting the region into bands that fit the adapter's
//! binding limit, binding the inputs each band reads, and turning the bytes read back
//! into a block or a partial.

use std::borrow::Cow;

use tessera_chunks::DType;
use tessera_graph::ReduceKernel;

use super::codegen::{Acc, EXACT_BITS, LIMBS, NEGATIVE_ZEROS, Shader, WORKGROUP};
use super::context::{Context, Dispatch, groups_for};
use crate::cpu::inputs::Inputs;
use crate::cpu::leaf::row_major_strides;
use crate::cpu::reduce;
use crate::value::standard;
use crate::{Block, ExactSum, KernelError, Partial, PartialData};

/// Elements one dispatch may cover (indices in shaders are `u32`).
const MAX_ELEMENTS: usize = 1 << 31;
/// Elements each thread of a reduction folds, about.
const PER_THREAD: u64 = 64;

/// A band of a region: rows `[start, start + rows)` of axis 0 (the whole region when
/// it has no axes).
#[derive(Debug, Clone, Copy)]
struct Band {
    start: usize,
    rows: usize,
}

/// A band of a reduction's region with work in it: its region, its kept and reduced
/// element counts, and where its kept elements start in the partial.
struct ReduceBand {
    off: Vec<usize>,
    shape: Vec<usize>,
    kept: usize,
    reduced: usize,
    base: usize,
}

fn block_bytes(block: &Block) -> Cow<'_, [u8]> {
    fn raw<T: bytemuck::Pod>(a: &ndarray::ArrayD<T>) -> Cow<'_, [u8]> {
        // Blocks are always in standard layout, so the slice exists.
        a.as_slice().map_or(Cow::Owned(Vec::new()), |s| Cow::Borrowed(bytemuck::cast_slice(s)))
    }
    match block {
        Block::F64(a) => raw(a),
        Block::F32(a) => raw(a),
        Block::I64(a) => raw(a),
        Block::Bool(a) => Cow::Owned(a.iter().flat_map(|&b| u32::from(b).to_ne_bytes()).collect()),
    }
}

/// Bytes per element as stored on the GPU (bool takes a `u32`).
fn stored_size(dtype: DType) -> usize {
    match dtype {
        DType::Bool => 4,
        d => d.itemsize(),
    }
}

/// The parameter buffer and the inputs' bytes (borrowed where a block is contiguous).
type Bound<'a> = (Vec<i64>, Vec<Cow<'a, [u8]>>);

/// One task on the GPU: the shader, the region, and the task's inputs.
pub struct Task<'a> {
    /// The open device.
    pub ctx: &'a Context,
    /// The shader.
    pub shader: &'a Shader,
    /// The task's inputs.
    pub inputs: &'a Inputs<'a>,
    /// The region's offset in the expression's coordinates.
    pub off: &'a [usize],
    /// The region's shape.
    pub shape: &'a [usize],
    /// Largest bytes for one binding.
    pub max_binding: u64,
}

impl Task<'_> {
    /// The region's shape without the reduced `axes`.
    fn kept_shape(&self, axes: &[usize]) -> Vec<usize> {
        (0..self.shape.len()).filter(|a| !axes.contains(a)).map(|a| self.shape[a]).collect()
    }

    /// The bands a reduction over `axes` dispatches, those with nothing to reduce left out.
    fn reduce_bands(&self, axes: &[usize]) -> Result<Vec<ReduceBand>, KernelError> {
        let ndim = self.shape.len();
        let axis0_kept = ndim > 0 && !axes.contains(&0);
        let mut out = Vec::new();
        for band in self.bands(0)? {
            let (off, shape) = self.band_region(band);
            let kept: usize = (0..ndim).filter(|a| !axes.contains(a)).map(|a| shape[a]).product();
            let reduced: usize = (0..ndim).filter(|a| axes.contains(a)).map(|a| shape[a]).product();
            if kept == 0 || reduced == 0 {
                continue;
            }
            let base = if axis0_kept { band.start * (kept / band.rows) } else { 0 };
            out.push(ReduceBand { off, shape, kept, reduced, base });
        }
        Ok(out)
    }

    fn band_region(&self, band: Band) -> (Vec<usize>, Vec<usize>) {
        let (mut off, mut shape) = (self.off.to_vec(), self.shape.to_vec());
        if !shape.is_empty() {
            off[0] += band.start;
            shape[0] = band.rows;
        }
        (off, shape)
    }

    /// Bytes each input of the shader reads over a region.
    fn input_bytes(&self, off: &[usize], shape: &[usize]) -> u64 {
        self.shader
            .inputs
            .iter()
            .map(|i| {
                let elements: usize = i.view.src_box(off, shape).iter().map(|b| b.1).product();
                (elements * stored_size(i.dtype)) as u64
            })
            .max()
            .unwrap_or(0)
    }

    /// Bands along axis 0 whose output (`out_bytes_per_element` each, 0 for
    /// reductions) and inputs fit one binding.
    fn bands(&self, out_bytes_per_element: usize) -> Result<Vec<Band>, KernelError> {
        let total_rows = self.shape.first().copied().unwrap_or(1);
        let mut rows = total_rows.max(1);
        loop {
            let (off, shape) = self.band_region(Band { start: 0, rows });
            let elements: usize = shape.iter().product();
            let fits = elements <= MAX_ELEMENTS
                && (elements * out_bytes_per_element) as u64 <= self.max_binding
                && self.input_bytes(&off, &shape) <= self.max_binding;
            if fits || self.shape.is_empty() {
                break;
            }
            if rows == 1 {
                return Err(self.inputs.error("one row of this chunk is larger than the GPU's binding limit"));
            }
            rows = rows.div_ceil(2);
        }
        Ok((0..total_rows).step_by(rows).map(|start| Band { start, rows: rows.min(total_rows - start) }).collect())
    }

    /// Parameters and input bytes for the region `off`, `shape`; `counts` are the
    /// three mode-specific words (elements, or kept, reduced and groups per kept).
    fn bind(&self, off: &[usize], shape: &[usize], counts: [i64; 3]) -> Result<Bound<'_>, KernelError> {
        let mut params: Vec<i64> = Vec::with_capacity(self.shader.param_len);
        params.extend(off.iter().map(|&o| o as i64));
        params.extend(shape.iter().map(|&s| s as i64));
        params.extend(counts);
        params.extend(NEGATIVE_ZEROS);
        let mut uploads = Vec::with_capacity(self.shader.inputs.len());
        for input in &self.shader.inputs {
            let bounds = input.view.src_box(off, shape);
            let (block, origin) = self.inputs.region(input.layer, &bounds)?;
            if block.dtype() != input.dtype {
                return Err(self.inputs.error("input block dtype does not match the expression"));
            }
            debug_assert_eq!(params.len(), input.param_base);
            params.extend(origin.iter().map(|&o| o as i64));
            params.extend(row_major_strides(block.shape()));
            uploads.push(match block {
                Cow::Borrowed(b) => block_bytes(b),
                Cow::Owned(b) => Cow::Owned(block_bytes(&b).into_owned()),
            });
        }
        Ok((params, uploads))
    }

    fn dispatch(
        &self,
        params: &[i64],
        uploads: &[Cow<'_, [u8]>],
        out_bytes: u64,
        groups: u64,
    ) -> Result<Vec<u8>, KernelError> {
        let inputs: Vec<&[u8]> = uploads.iter().map(|u| u.as_ref()).collect();
        self.ctx
            .run(&self.shader.source, &Dispatch { params, inputs: &inputs, out_bytes, groups })
            .map_err(|message| KernelError::Device { task: self.inputs.key(), message })
    }

    /// The region's values as a dense block of `dtype`.
    pub fn block(&self, dtype: DType) -> Result<Block, KernelError> {
        let size = stored_size(dtype);
        let mut bytes: Vec<u8> = Vec::with_capacity(self.shape.iter().product::<usize>() * size);
        for band in self.bands(size)? {
            let (off, shape) = self.band_region(band);
            let n: usize = shape.iter().product();
            let (params, uploads) = self.bind(&off, &shape, [n as i64, 0, 0])?;
            bytes.extend(self.dispatch(&params, &uploads, (n * size) as u64, groups_for(n as u64))?);
        }
        let shape = self.shape;
        Ok(match dtype {
            DType::Float64 => Block::F64(standard(shape, bytemuck::pod_collect_to_vec(&bytes))),
            DType::Float32 => Block::F32(standard(shape, bytemuck::pod_collect_to_vec(&bytes))),
            DType::Int64 => Block::I64(standard(shape, bytemuck::pod_collect_to_vec(&bytes))),
            DType::Bool => {
                let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
                Block::Bool(standard(shape, words.into_iter().map(|w| w != 0).collect()))
            }
        })
    }

    /// Workgroups folding each kept element's `reduced` values, about [`PER_THREAD`]
    /// per thread, within the dispatch's limits.
    fn groups_per_kept(&self, kept: usize, reduced: usize) -> u64 {
        let per_group = u64::from(WORKGROUP) * PER_THREAD;
        let most = (u64::from(u32::MAX) / kept as u64).max(1);
        (reduced as u64).div_ceil(per_group).clamp(1, most.min(65_535))
    }

    /// The region reduced over `k.axes` into a partial, with `acc` accumulators.
    pub fn partial(&self, k: &ReduceKernel, acc: Acc) -> Result<Partial, KernelError> {
        let kept_shape = self.kept_shape(&k.axes);
        let mut data = reduce::empty(k.op, k.input_dtype, kept_shape.iter().product());
        for ReduceBand { off, shape, kept, reduced, base } in self.reduce_bands(&k.axes)? {
            let g = self.groups_per_kept(kept, reduced);
            let (params, uploads) = self.bind(&off, &shape, [kept as i64, reduced as i64, g as i64])?;
            let groups = kept as u64 * g;
            let size: u64 = match acc {
                Acc::F64 | Acc::I64 => 8,
                Acc::F32 | Acc::Bool => 4,
            };
            let bytes = self.dispatch(&params, &uploads, groups * size, groups)?;
            fold(k, acc, &mut data, &bytes, base, g as usize);
        }
        Ok(Partial { shape: kept_shape, data })
    }
}

impl Task<'_> {
    /// The region's exact float sum over `k.axes`, with `self` running the magnitude
    /// shader and `sum` the exact-sum shader of the same expression (see
    /// [`super::codegen::Mode::ExactSum`]): the first pass finds each kept element's
    /// exponent, the second adds every value in fixed point, and the host adds the
    /// limbs' sums (each exact in a float64) into exact accumulators, so the partial
    /// is the CPU's, bit for bit. `None` when the CPU must compute it: a value that is
    /// not finite, bits below the fixed point, or magnitudes out of its range.
    pub fn exact_partial(&self, sum: &Shader, k: &ReduceKernel) -> Result<Option<Partial>, KernelError> {
        let kept_shape = self.kept_shape(&k.axes);
        let mut states = vec![ExactSum::new(); kept_shape.iter().product()];
        let words = LIMBS + 1;
        for ReduceBand { off, shape, kept, reduced, base } in self.reduce_bands(&k.axes)? {
            let g = self.groups_per_kept(kept, reduced);
            // A limb adds terms below 2^32 in an i64: at most 2^31 of them.
            if (reduced as u64).div_ceil(g) > 1 << 31 {
                return Ok(None);
            }
            let (mut params, uploads) = self.bind(&off, &shape, [kept as i64, reduced as i64, g as i64])?;
            let groups = kept as u64 * g;
            let largest: Vec<f64> =
                bytemuck::pod_collect_to_vec(&self.dispatch(&params, &uploads, groups * 8, groups)?);
            let mut exponents = Vec::with_capacity(kept);
            for per_kept in largest.chunks(g as usize) {
                let m = per_kept.iter().fold(0.0f64, |a, &b| if b.is_nan() { b } else { a.max(b) });
                if !m.is_finite() {
                    return Ok(None);
                }
                // Every value below 2^e (any e when all are zero).
                let e = if m == 0.0 { 0 } else { ((m.to_bits() >> 52) as i64) - 1022 };
                if !(-900..=1000).contains(&e) {
                    return Ok(None);
                }
                exponents.push(e);
            }
            params.extend(&exponents);
            let run = Task { shader: sum, ..*self };
            let bytes = run.dispatch(&params, &uploads, groups * words as u64 * 8, groups)?;
            let parts: Vec<i64> = bytemuck::pod_collect_to_vec(&bytes);
            for (i, per_kept) in parts.chunks(g as usize * words).enumerate() {
                let e = exponents[i];
                for group in per_kept.chunks(words) {
                    if group[LIMBS] != 0 {
                        return Ok(None);
                    }
                    for (l, &limb) in group[..LIMBS].iter().enumerate() {
                        // A limb sum is exact as a float64 below 2^53 (a workgroup adds
                        // about 2^14 terms below 2^32 each).
                        if limb.unsigned_abs() >= 1 << 53 {
                            return Ok(None);
                        }
                        let scale = 32 * l as i64 + e - EXACT_BITS;
                        states[base + i].add(limb as f64 * pow2(scale));
                    }
                }
            }
        }
        Ok(Some(Partial { shape: kept_shape, data: PartialData::Exact(states) }))
    }
}

/// `2^p` for `p` in the normal range.
fn pow2(p: i64) -> f64 {
    f64::from_bits(((p + 1023) as u64) << 52)
}

/// Folds the per-workgroup results (`per_kept` consecutive ones per kept element) into
/// the partial's states from `base` on, in a fixed order.
fn fold(k: &ReduceKernel, acc: Acc, data: &mut PartialData, bytes: &[u8], base: usize, per_kept: usize) {
    let floats = || -> Vec<f64> {
        match acc {
            Acc::F32 => bytemuck::pod_collect_to_vec::<u8, f32>(bytes).into_iter().map(f64::from).collect(),
            _ => bytemuck::pod_collect_to_vec::<u8, f64>(bytes),
        }
    };
    match data {
        PartialData::Exact(states) => {
            for (i, chunk) in floats().chunks(per_kept).enumerate() {
                chunk.iter().for_each(|&v| states[base + i].add(v));
            }
        }
        PartialData::F64(states) => {
            let f = reduce::f64_op(k.op);
            for (i, chunk) in floats().chunks(per_kept).enumerate() {
                chunk.iter().for_each(|&v| states[base + i] = f(states[base + i], v));
            }
        }
        PartialData::I64(states) => {
            let f = reduce::i64_op(k.op);
            let values: Vec<i64> = bytemuck::pod_collect_to_vec(bytes);
            for (i, chunk) in values.chunks(per_kept).enumerate() {
                chunk.iter().for_each(|&v| states[base + i] = f(states[base + i], v));
            }
        }
        // `codegen::generate` refuses variances and arg reductions: they run on the CPU.
        PartialData::Moments(_) | PartialData::Arg { .. } => {}
        PartialData::Bool(states) => {
            let f = reduce::bool_op(k.op);
            let values: Vec<u32> = bytemuck::pod_collect_to_vec(bytes);
            for (i, chunk) in values.chunks(per_kept).enumerate() {
                chunk.iter().for_each(|&v| states[base + i] = f(states[base + i], v != 0));
            }
        }
    }
}
