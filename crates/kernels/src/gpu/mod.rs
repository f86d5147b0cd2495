//! The GPU backend: wgpu compute shaders generated per fused kernel.
//!
//! A blockwise kernel or the first stage of a reduction becomes one WGSL shader
//! ([`codegen`]): each thread evaluates the fused expression at one element (generators
//! compute their values in place, Philox exactly as on the CPU; inputs are read through
//! their view maps); a blockwise kernel writes the element, a reduction folds elements
//! into one accumulator per thread and then a workgroup tree, and the host folds the
//! workgroups' results into the partial in a fixed order. Regions larger than the
//! adapter's binding limit are cut into bands along the first axis.
//!
//! What the GPU does not compute exactly like the CPU runs on the CPU backend instead:
//! transcendental functions and `**` (not exactly rounded on GPUs), matrix products,
//! variances (exact moments), and the small merge stages of reductions. [`GpuBackend::counts`] says how many
//! tasks ran where. Float sums and means are exact on the GPU as on the CPU, so every
//! device gives the same bits: a first pass finds each kept element's largest
//! magnitude, a second splits every value onto float64 levels against it (the parts
//! of one level add exactly, in any order; see [`codegen::Mode::ExactSum`]), and the
//! host adds the workgroups' levels into exact accumulators. Adapters without float64
//! run float sums on the CPU. Products add in a different order than on the CPU and
//! may differ in the last place; everything else is bit-identical.

mod codegen;
mod context;
mod exec;
mod library;

use std::sync::atomic::{AtomicU64, Ordering};

use tessera_chunks::DType;
use tessera_graph::{Kernel, PairRole, ReduceStage, TaskGraph, TaskId, pair_role};

pub use context::GpuError;

use crate::cpu::CpuBackend;
use crate::cpu::inputs::Inputs;
use crate::{Backend, KernelError, PartialData, Value};
use codegen::{Acc, Mode};
use context::Context;

/// Computes tasks on a GPU through wgpu; what it cannot compute exactly runs on the CPU.
pub struct GpuBackend {
    ctx: Context,
    max_binding: u64,
    gpu_tasks: AtomicU64,
    cpu_tasks: AtomicU64,
}

/// Where a backend's tasks ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskCounts {
    /// Tasks whose kernel ran on the GPU.
    pub gpu: u64,
    /// Tasks whose kernel the GPU does not compute exactly, computed on the CPU
    /// (merges of reduction partials are not counted: they always run on the host).
    pub cpu: u64,
}

impl GpuBackend {
    /// Opens the best adapter wgpu finds; the error carries wgpu's reason.
    pub fn new() -> Result<GpuBackend, GpuError> {
        let ctx = Context::new()?;
        let max_binding = ctx.max_binding_bytes();
        Ok(GpuBackend { ctx, max_binding, gpu_tasks: AtomicU64::new(0), cpu_tasks: AtomicU64::new(0) })
    }

    /// Caps the bytes one binding may hold (tests use it to exercise band splitting).
    pub fn with_binding_limit(mut self, bytes: u64) -> GpuBackend {
        self.max_binding = bytes.min(self.ctx.max_binding_bytes()).max(8);
        self
    }

    /// The adapter, e.g. `NVIDIA H100 80GB HBM3 (Vulkan)`.
    pub fn describe(&self) -> String {
        self.ctx.describe()
    }

    /// Whether the adapter is a CPU emulating a GPU (Mesa's lavapipe): it computes the
    /// same values, several times slower than the CPU backend.
    pub fn is_emulated(&self) -> bool {
        self.ctx.is_emulated()
    }

    /// One line saying that this adapter only emulates a GPU, if it does.
    pub fn emulation_warning(&self) -> Option<String> {
        self.is_emulated().then(|| {
            format!(
                "{} is a CPU emulating a GPU, not a GPU: it computes the same values several times slower than the CPU backend (device cpu)",
                self.describe()
            )
        })
    }

    /// Whether the adapter computes float64.
    pub fn has_f64(&self) -> bool {
        self.ctx.has_f64()
    }

    /// How many tasks ran on the GPU and on the CPU so far.
    pub fn counts(&self) -> TaskCounts {
        TaskCounts { gpu: self.gpu_tasks.load(Ordering::Relaxed), cpu: self.cpu_tasks.load(Ordering::Relaxed) }
    }

    /// Refuses, before anything runs, a graph this adapter cannot compute: float64
    /// arrays on an adapter without float64.
    pub fn check(&self, graph: &TaskGraph) -> Result<(), GpuError> {
        if !self.has_f64() && graph.layers.iter().any(|l| l.dtype == DType::Float64) {
            return Err(GpuError::Unsuitable {
                adapter: self.ctx.adapter_name().to_string(),
                reason: "it has no float64 (SHADER_F64); use dtype=float32 in the constructors".into(),
            });
        }
        Ok(())
    }

    fn on_cpu(&self, graph: &TaskGraph, task: TaskId, values: &[&Value]) -> Result<Value, KernelError> {
        self.cpu_tasks.fetch_add(1, Ordering::Relaxed);
        CpuBackend.execute(graph, task, values)
    }
}

impl Backend for GpuBackend {
    fn name(&self) -> &str {
        "gpu"
    }

    fn execute(&self, graph: &TaskGraph, task: TaskId, values: &[&Value]) -> Result<Value, KernelError> {
        let t = &graph.tasks[task];
        let layer = &graph.layers[t.layer];
        let (expr, mode, off, shape, partner) = match &layer.kernel {
            Kernel::Blockwise(expr) => match &layer.chunks {
                Some(c) => (expr, Mode::Block, c.block_offset(&t.block), c.block_shape(&t.block), None),
                None => return self.on_cpu(graph, task, values),
            },
            Kernel::Reduce(k) => match &k.stage {
                ReduceStage::Partial { expr, input, pairing } => {
                    let role = match pairing {
                        Some(map) => pair_role(map, input, &t.block).ok_or_else(|| KernelError::Internal {
                            task: graph.key(task),
                            message: "its pairing does not pair whole blocks".into(),
                        })?,
                        None => PairRole::Alone,
                    };
                    let partner = match role {
                        // The leader of the pair folded this block's values.
                        PairRole::Follower => {
                            let shape = input.block_shape(&t.block);
                            let kept: Vec<usize> =
                                (0..shape.len()).filter(|a| !k.axes.contains(a)).map(|a| shape[a]).collect();
                            let data = crate::cpu::reduce::empty(k.op, k.input_dtype, kept.iter().product());
                            self.gpu_tasks.fetch_add(1, Ordering::Relaxed);
                            return Ok(Value::Partial(crate::Partial { shape: kept, data }));
                        }
                        PairRole::Leader { partner } => Some(partner),
                        PairRole::Alone => None,
                    };
                    let acc = match crate::cpu::reduce::empty(k.op, k.input_dtype, 0) {
                        PartialData::Exact(_) | PartialData::F64(_) | PartialData::Moments(_) if self.has_f64() => {
                            Acc::F64
                        }
                        PartialData::Exact(_) | PartialData::F64(_) | PartialData::Moments(_) => Acc::F32,
                        PartialData::I64(_) | PartialData::Arg { .. } => Acc::I64,
                        PartialData::Bool(_) => Acc::Bool,
                    };
                    let mode = Mode::Reduce { op: k.op, axes: &k.axes, acc };
                    (expr, mode, input.block_offset(&t.block), input.block_shape(&t.block), partner)
                }
                // Merging partials is a few additions on the host.
                _ => return CpuBackend.execute(graph, task, values),
            },
            Kernel::MatMul(_)
            | Kernel::Write(_)
            | Kernel::Scan(_)
            | Kernel::Gather(_)
            | Kernel::Reshape(_)
            | Kernel::Quantile(_)
            | Kernel::Histogram(_)
            | Kernel::BlockCount(_)
            | Kernel::Compress(_) => {
                return self.on_cpu(graph, task, values);
            }
            Kernel::Collect { .. } => return CpuBackend.execute(graph, task, values),
        };
        if shape.contains(&0) {
            return self.on_cpu(graph, task, values);
        }
        // Float sums are exact, as on the CPU: a magnitude pass, then the levels.
        let exact = match (mode, &layer.kernel) {
            (Mode::Reduce { axes, .. }, Kernel::Reduce(k)) => {
                matches!(crate::cpu::reduce::empty(k.op, k.input_dtype, 0), PartialData::Exact(_)).then_some(axes)
            }
            _ => None,
        };
        let first = exact.map_or(mode, |axes| Mode::Magnitude { axes });
        let Ok(shader) = codegen::generate(expr, shape.len(), first, self.has_f64()) else {
            return self.on_cpu(graph, task, values);
        };
        let sum = match exact.map(|axes| codegen::generate(expr, shape.len(), Mode::ExactSum { axes }, self.has_f64()))
        {
            Some(Err(_)) => return self.on_cpu(graph, task, values),
            Some(Ok(s)) => Some(s),
            None => None,
        };
        let inputs = Inputs::new(graph, task, values)?;
        let run = exec::Task {
            ctx: &self.ctx,
            shader: &shader,
            inputs: &inputs,
            off: &off,
            shape: &shape,
            max_binding: self.max_binding,
        };
        let value = match (mode, &layer.kernel) {
            (Mode::Reduce { acc, .. }, Kernel::Reduce(k)) => {
                let partial = |run: &exec::Task<'_>| match &sum {
                    Some(sum) => run.exact_partial(sum, k),
                    None => run.partial(k, acc).map(Some),
                };
                let Some(own) = partial(&run)? else { return self.on_cpu(graph, task, values) };
                match (&partner, &k.stage) {
                    // A pair's leader adds its partner's partial (the same kept block).
                    (Some(p), ReduceStage::Partial { input, .. }) => {
                        let (p_off, p_shape) = (input.block_offset(p), input.block_shape(p));
                        let Some(theirs) = partial(&exec::Task { off: &p_off, shape: &p_shape, ..run })? else {
                            return self.on_cpu(graph, task, values);
                        };
                        let merged = crate::cpu::reduce::merge(k.op, &[&own, &theirs])
                            .ok_or_else(|| inputs.error("paired partials do not match"))?;
                        Value::Partial(merged)
                    }
                    _ => Value::Partial(own),
                }
            }
            _ => Value::Block(run.block(expr.dtype())?),
        };
        self.gpu_tasks.fetch_add(1, Ordering::Relaxed);
        Ok(value)
    }
}
