//! `tessera scheduler` and `tessera worker`, and local clusters of this binary.

use std::net::SocketAddr;

use tessera::cluster::{ClusterError, LocalCluster, WorkerOptions, run_worker, serve_scheduler};
use tessera_transport::{ClusterFile, ClusterIdentity, server_endpoint};

use crate::cli::{SchedulerArgs, WorkerArgs};
use crate::device::Chosen;
use crate::error::CliError;

/// One event-loop thread: scheduler and worker loops are message pumps, and on a small
/// machine extra runtime threads only add context switches. Kernels run on blocking
/// threads of their own.
fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the network runtime: {e}")))
}

/// Runs a scheduler until it is interrupted.
pub fn scheduler(args: &SchedulerArgs) -> Result<(), CliError> {
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        CliError::BadInput(format!("--listen {}: expected host:port such as 0.0.0.0:7878", args.listen))
    })?;
    let rt = runtime()?;
    rt.block_on(async {
        let identity = ClusterIdentity::generate().map_err(|e| CliError::Failed(e.to_string()))?;
        let endpoint = server_endpoint(&identity, listen).map_err(|e| CliError::Failed(e.to_string()))?;
        let address = endpoint.local_addr().map_err(|e| CliError::Failed(e.to_string()))?;
        identity.cluster_file(address).write(&args.cluster_file).map_err(|e| CliError::Failed(e.to_string()))?;
        warn!("scheduler: listening on {address}; cluster file {}", args.cluster_file.display());
        tokio::select! {
            _ = serve_scheduler(endpoint, identity.secret) => Ok(()),
            _ = tokio::signal::ctrl_c() => {
                warn!("scheduler: interrupted, shutting down");
                Ok(())
            }
        }
    })
}

/// Runs a worker until the scheduler goes away.
pub fn worker(args: &WorkerArgs) -> Result<(), CliError> {
    let file = ClusterFile::read(&args.cluster_file).map_err(|e| CliError::BadInput(e.to_string()))?;
    let threads = match args.threads {
        Some(n) => {
            crate::limits::check_threads("--threads", n)?;
            n
        }
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let memory_limit = crate::limits::memory_limit(args.memory_limit.as_deref())?;
    if args.memory_limit.is_some() {
        crate::limits::fix_allocator_threshold();
    }
    let name = args.name.clone().unwrap_or_else(|| format!("worker-{}", std::process::id()));
    let device = Chosen::open(args.device)?;
    let options = WorkerOptions { name, threads, memory_limit, backend: device.shared(), gpu: device.gpu() };
    let rt = runtime()?;
    rt.block_on(run_worker(file, options)).map_err(|e| CliError::Failed(format!("worker stopped: {e}")))
}

/// Starts a local cluster of this binary: a scheduler and `workers` workers of
/// `threads` threads and `memory_limit` bytes each, computing on `device`.
pub fn start_local(workers: usize, threads: usize, memory_limit: u64, device: &str) -> Result<LocalCluster, CliError> {
    let program =
        std::env::current_exe().map_err(|e| CliError::Failed(format!("cannot find the tessera binary: {e}")))?;
    Ok(LocalCluster::start(&program, workers, threads, memory_limit, device)?)
}

impl From<ClusterError> for CliError {
    fn from(e: ClusterError) -> Self {
        use tessera_transport::TransportError;
        match e {
            ClusterError::Resources(m) => CliError::Resources(m),
            ClusterError::BadInput(m) => CliError::BadInput(m),
            ClusterError::Transport(t @ (TransportError::ClusterFile { .. } | TransportError::Io { .. })) => {
                CliError::BadInput(t.to_string())
            }
            other => CliError::Failed(other.to_string()),
        }
    }
}
