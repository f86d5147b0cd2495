//! `--device`: which backend computes the tasks.

use std::sync::Arc;

use tessera::{Backend, CpuBackend};

use crate::cli::Device;
use crate::error::CliError;

/// The `auto` chunk byte target on a GPU (unless `--chunk-size` or
/// `TESSERA_CHUNK_SIZE` says otherwise): a GPU needs about 10^8 elements per dispatch to
/// stay busy, where the CPU's 32 MiB chunks give 4 x 10^6 and the run is then dominated
/// by the cost of each dispatch and readback.
pub const GPU_CHUNK_BYTES: u64 = 1 << 30;

/// The backend a run uses.
pub enum Chosen {
    /// The CPU backend.
    Cpu,
    /// A GPU through wgpu.
    #[cfg(feature = "gpu")]
    Gpu(Arc<tessera::gpu::GpuBackend>),
}

impl Chosen {
    /// Opens the backend `device` asks for. `gpu` without an adapter is refused
    /// (exit 3) with wgpu's reason, and on an adapter that only emulates a GPU on the
    /// CPU runs with one warning line; `auto` takes only a real GPU, and otherwise the
    /// CPU, and says which.
    pub fn open(device: Device) -> Result<Chosen, CliError> {
        match device {
            Device::Cpu => Ok(Chosen::Cpu),
            Device::Gpu => {
                let chosen = open_gpu().map_err(CliError::Resources)?;
                if let Some(why) = chosen.emulation() {
                    warn!("warning: {why}");
                }
                Ok(chosen)
            }
            Device::Auto => match open_gpu() {
                // `auto` never picks an emulation: it is slower than the CPU backend.
                Ok(chosen) if chosen.emulation().is_some() => {
                    warn!("device auto: using the CPU ({})", chosen.emulation().unwrap_or_default());
                    Ok(Chosen::Cpu)
                }
                Ok(chosen) => {
                    warn!("device auto: using the GPU, {}", chosen.describe());
                    Ok(chosen)
                }
                Err(why) => {
                    warn!("device auto: using the CPU ({why})");
                    Ok(Chosen::Cpu)
                }
            },
        }
    }

    /// Why the GPU chosen is only an emulation on the CPU, if it is one.
    fn emulation(&self) -> Option<String> {
        match self {
            Chosen::Cpu => None,
            #[cfg(feature = "gpu")]
            Chosen::Gpu(g) => g.emulation_warning(),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Backend {
        match self {
            Chosen::Cpu => &CpuBackend,
            #[cfg(feature = "gpu")]
            Chosen::Gpu(g) => g.as_ref(),
        }
    }

    /// The backend, to share with a worker's tasks.
    pub fn shared(&self) -> Arc<dyn Backend> {
        match self {
            Chosen::Cpu => Arc::new(CpuBackend),
            #[cfg(feature = "gpu")]
            Chosen::Gpu(g) => g.clone(),
        }
    }

    /// The GPU's name, when it is one.
    pub fn gpu(&self) -> Option<String> {
        (self.name() == "gpu").then(|| self.describe())
    }

    /// `cpu` or `gpu`.
    pub fn name(&self) -> &'static str {
        match self {
            Chosen::Cpu => "cpu",
            #[cfg(feature = "gpu")]
            Chosen::Gpu(_) => "gpu",
        }
    }

    /// The adapter, for reports (`cpu` on the CPU).
    pub fn describe(&self) -> String {
        match self {
            Chosen::Cpu => "cpu".into(),
            #[cfg(feature = "gpu")]
            Chosen::Gpu(g) => g.describe(),
        }
    }

    /// Refuses a graph the device cannot compute, before anything runs.
    pub fn check(&self, graph: &tessera::TaskGraph) -> Result<(), CliError> {
        match self {
            Chosen::Cpu => Ok(()),
            #[cfg(feature = "gpu")]
            Chosen::Gpu(g) => g.check(graph).map_err(|e| CliError::Resources(e.to_string())),
        }
    }

    /// Tasks whose kernels ran on the GPU and on the CPU instead, for reports.
    pub fn task_counts(&self) -> Option<(u64, u64)> {
        match self {
            Chosen::Cpu => None,
            #[cfg(feature = "gpu")]
            Chosen::Gpu(g) => {
                let counts = g.counts();
                Some((counts.gpu, counts.cpu))
            }
        }
    }
}

#[cfg(feature = "gpu")]
fn open_gpu() -> Result<Chosen, String> {
    tessera::gpu::GpuBackend::new().map(|g| Chosen::Gpu(Arc::new(g))).map_err(|e| e.to_string())
}

#[cfg(not(feature = "gpu"))]
fn open_gpu() -> Result<Chosen, String> {
    Err("no GPU adapter: this build of tessera has no GPU backend (built without the `gpu` feature)".into())
}
