//! `tessera scheduler` and `tessera worker`, and local clusters of this binary.

use tessera::cluster::{
    ClusterError, LocalCluster, Retirement, WorkerOptions, scheduler_until_stopped, worker_until_stopped,
};
use tessera_transport::ClusterFile;

use crate::cli::{SchedulerArgs, WorkerArgs};
use crate::device::Chosen;
use crate::error::CliError;

/// Runs a scheduler until it is interrupted (then it closes its connections and exits 0).
pub fn scheduler(args: &SchedulerArgs) -> Result<(), CliError> {
    let listen = crate::launch::listen_address(Some(&args.listen))?;
    // The first SIGTERM or Ctrl-C stops the scheduler's loop, which closes every
    // connection so workers and clients hear at once that it is gone (a second one
    // ends the process).
    crate::signals::on_first_stop(|| {});
    scheduler_until_stopped(listen, &args.cluster_file, |address| {
        warn!("scheduler: listening on {address}; cluster file {}", args.cluster_file.display());
    })
    .map_err(CliError::from)
}

/// Runs a worker until the scheduler goes away, or until SIGTERM or SIGINT and it has
/// handed over what it holds (exit 0; a second signal ends it at once).
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
    let options =
        WorkerOptions { name: name.clone(), threads, memory_limit, backend: device.shared(), gpu: device.gpu() };
    let retirement = Retirement::new();
    let asked = retirement.clone();
    crate::signals::on_first_stop(move || asked.request());
    let joined = |scheduler| warn!("worker {name}: joined {scheduler} ({threads} threads, {})", device.describe());
    let outcome = worker_until_stopped(file, options, retirement, joined);
    // Its spill folder goes whether it left gracefully or lost its scheduler.
    tessera_runtime::cleanup::remove_all();
    outcome.map_err(|e| CliError::Failed(format!("worker stopped: {e}")))
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
