//! The wgpu device: adapter choice, pipelines cached by shader text, and one
//! synchronous step that uploads inputs, dispatches a shader and reads its output back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, mpsc};

use wgpu::util::DeviceExt;

use super::codegen::WORKGROUP;

/// Why no GPU can be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// wgpu found no adapter; the text is wgpu's reason.
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),
    /// The adapter exists but lacks something tessera's kernels need.
    #[error("the GPU {adapter} cannot run this: {reason}")]
    Unsuitable {
        /// The adapter's name.
        adapter: String,
        /// What is missing.
        reason: String,
    },
}

/// An open device with its pipeline cache.
pub struct Context {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    has_f64: bool,
    limits: wgpu::Limits,
    pipelines: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
    uncaptured: Arc<Mutex<Option<String>>>,
}

/// One dispatch: the parameters, the input bytes in binding order, the output size and
/// how many workgroups to run.
pub struct Dispatch<'a> {
    /// The parameter buffer `P`.
    pub params: &'a [i64],
    /// The inputs' bytes, bound at 2, 3, …
    pub inputs: &'a [&'a [u8]],
    /// Bytes of `OUT`.
    pub out_bytes: u64,
    /// Workgroups, laid out 2-D past the per-dimension limit.
    pub groups: u64,
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

impl Context {
    /// Opens the highest-performance adapter wgpu finds (`WGPU_BACKEND` and friends
    /// are honoured). Needs `SHADER_INT64` (64-bit indices and Philox products);
    /// uses `SHADER_F64` where the adapter has it.
    pub fn new() -> Result<Context, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: false,
            compatible_surface: None,
            apply_limit_buckets: false,
        }))
        .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let features = adapter.features();
        if !features.contains(wgpu::Features::SHADER_INT64) {
            return Err(GpuError::Unsuitable {
                adapter: info.name.clone(),
                reason: "it has no 64-bit integers in shaders (SHADER_INT64), which tessera's kernels need".into(),
            });
        }
        let required_features = wgpu::Features::SHADER_INT64 | (features & wgpu::Features::SHADER_F64);
        let limits = adapter.limits();
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("tessera"),
            required_features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::default(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| GpuError::Unsuitable { adapter: info.name.clone(), reason: e.to_string() })?;
        let uncaptured = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&uncaptured);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut s) = slot.lock() {
                *s = Some(e.to_string());
            }
        }));
        Ok(Context {
            device,
            queue,
            has_f64: features.contains(wgpu::Features::SHADER_F64),
            info,
            limits,
            pipelines: Mutex::new(HashMap::new()),
            uncaptured,
        })
    }

    /// The adapter's name and backend, e.g. `NVIDIA H100 (Vulkan)`.
    pub fn describe(&self) -> String {
        format!("{} ({:?})", self.info.name, self.info.backend)
    }

    /// Whether the adapter is a CPU that emulates a GPU (Mesa's lavapipe, SwiftShader).
    pub fn is_emulated(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The adapter's name.
    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }

    /// Whether shaders may use float64.
    pub fn has_f64(&self) -> bool {
        self.has_f64
    }

    /// The largest buffer one binding may cover.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    fn pipeline(&self, source: &str) -> Result<Arc<wgpu::ComputePipeline>, String> {
        if let Some(p) = self.pipelines.lock().map_err(|_| "pipeline cache poisoned")?.get(source) {
            return Ok(Arc::clone(p));
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("tessera kernel"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("tessera kernel"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions::default(),
            cache: None,
        });
        if let Some(e) = block_on(scope.pop()) {
            return Err(format!("the generated shader was rejected: {e}"));
        }
        let pipeline = Arc::new(pipeline);
        self.pipelines.lock().map_err(|_| "pipeline cache poisoned")?.insert(source.to_string(), Arc::clone(&pipeline));
        Ok(pipeline)
    }

    /// Runs `source` once and returns the bytes of `OUT`.
    pub fn run(&self, source: &str, d: &Dispatch<'_>) -> Result<Vec<u8>, String> {
        let pipeline = self.pipeline(source)?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let storage = |label: &str, bytes: &[u8]| {
            // A binding may not be empty.
            let contents: &[u8] = if bytes.is_empty() { &[0; 8] } else { bytes };
            self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::STORAGE,
            })
        };
        let params = storage("params", bytemuck::cast_slice(d.params));
        let inputs: Vec<wgpu::Buffer> = d.inputs.iter().map(|b| storage("input", b)).collect();
        let out_bytes = d.out_bytes.max(8).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let out = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("out"),
            size: out_bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: out_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut entries = vec![
            wgpu::BindGroupEntry { binding: 0, resource: params.as_entire_binding() },
            wgpu::BindGroupEntry { binding: 1, resource: out.as_entire_binding() },
        ];
        for (j, b) in inputs.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: 2 + j as u32, resource: b.as_entire_binding() });
        }
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("tessera kernel"),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let per_dim = u64::from(self.limits.max_compute_workgroups_per_dimension.max(1));
        let x = d.groups.clamp(1, per_dim);
        let y = d.groups.div_ceil(x).max(1);
        if y > per_dim {
            return Err(format!("{} workgroups exceed the adapter's dispatch limit", d.groups));
        }
        let mut encoder = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        {
            let mut pass =
                encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            pass.dispatch_workgroups(x as u32, y as u32, 1);
        }
        encoder.copy_buffer_to_buffer(&out, 0, &staging, 0, out_bytes);
        let index = self.queue.submit([encoder.finish()]);
        let (tx, rx) = mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let errors = [block_on(validation.pop()), block_on(oom.pop())];
        if let Some(e) = errors.into_iter().flatten().next() {
            return Err(e.to_string());
        }
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: None })
            .map_err(|e| format!("waiting for the GPU: {e}"))?;
        rx.recv()
            .map_err(|_| "the GPU readback was dropped".to_string())?
            .map_err(|e| format!("reading back from the GPU: {e}"))?;
        if let Some(e) = self.uncaptured.lock().ok().and_then(|mut s| s.take()) {
            return Err(e);
        }
        let bytes = {
            let view = staging.get_mapped_range(..).map_err(|e| format!("reading back from the GPU: {e}"))?;
            view[..d.out_bytes as usize].to_vec()
        };
        staging.unmap();
        Ok(bytes)
    }
}

/// Workgroups needed for `n` threads.
pub fn groups_for(n: u64) -> u64 {
    n.div_ceil(u64::from(WORKGROUP))
}
