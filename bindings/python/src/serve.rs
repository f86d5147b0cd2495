//! The scheduler and worker commands for `python -m tessera._serve`: the processes of
//! a `tessera.distributed.LocalCluster`, the same loops as `tessera scheduler` and
//! `tessera worker`.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tessera::cluster::{Retirement, WorkerOptions, scheduler_until_stopped, worker_until_stopped};
use tessera::{Backend, CpuBackend};

use crate::errors;

/// Serves a scheduler on `listen` (host:port) until SIGINT or SIGTERM, writing its
/// cluster file first.
#[pyfunction]
pub fn serve_scheduler(py: Python<'_>, listen: &str, cluster_file: PathBuf) -> PyResult<()> {
    let listen = listen
        .parse()
        .map_err(|_| PyValueError::new_err(format!("--listen {listen}: expected host:port such as 0.0.0.0:7878")))?;
    py.detach(|| scheduler_until_stopped(listen, &cluster_file, |_| {})).map_err(errors::from_cluster)
}

/// Runs a worker of the cluster in `cluster_file` until the scheduler goes away.
#[pyfunction]
pub fn serve_worker(
    py: Python<'_>,
    cluster_file: PathBuf,
    threads: usize,
    memory_limit: u64,
    name: String,
    device: &str,
) -> PyResult<()> {
    let file = tessera_transport::ClusterFile::read(&cluster_file).map_err(errors::value_error)?;
    let (backend, gpu): (Arc<dyn Backend>, Option<String>) = match device {
        "gpu" => {
            let gpu = tessera::gpu::GpuBackend::new()
                .map_err(|e| errors::DeviceError::new_err(format!("no GPU adapter: {e}")))?;
            let adapter = gpu.describe();
            (Arc::new(gpu), Some(adapter))
        }
        _ => (Arc::new(CpuBackend), None),
    };
    let options = WorkerOptions { name, threads: threads.max(1), memory_limit, backend, gpu };
    py.detach(|| worker_until_stopped(file, options, Retirement::new(), |_| {})).map_err(errors::from_cluster)
}
