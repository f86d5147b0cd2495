//! The scheduler and worker commands as blocking calls, for every program that offers
//! them: the `tessera` binary and the Python package (`python -m tessera._serve`), so
//! both start, listen and stop the same way.

use std::net::SocketAddr;
use std::path::Path;

use tessera_transport::{ClusterFile, ClusterIdentity, server_endpoint};

use crate::{ClusterError, WorkerOptions, run_worker, serve_scheduler};

/// One event-loop thread: scheduler and worker loops are message pumps, and on a small
/// machine extra runtime threads only add context switches. Kernels run on blocking
/// threads of their own.
fn runtime() -> Result<tokio::runtime::Runtime, ClusterError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClusterError::Failed(format!("cannot start the network runtime: {e}")))
}

/// Serves a scheduler on `listen` until SIGINT or SIGTERM, after writing its cluster
/// file to `cluster_file`; `on_listening` hears its address once it listens.
pub fn scheduler_until_stopped(
    listen: SocketAddr,
    cluster_file: &Path,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ClusterError> {
    runtime()?.block_on(async {
        let identity = ClusterIdentity::generate()?;
        let endpoint = server_endpoint(&identity, listen)?;
        let address = endpoint
            .local_addr()
            .map_err(|e| ClusterError::Failed(format!("cannot read the scheduler's address: {e}")))?;
        identity.cluster_file(address).write(cluster_file)?;
        on_listening(address);
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| ClusterError::Failed(format!("cannot watch for SIGTERM: {e}")))?;
        tokio::select! {
            _ = serve_scheduler(endpoint, identity.secret) => {}
            _ = tokio::signal::ctrl_c() => tracing::info!("scheduler: interrupted, shutting down"),
            _ = terminate.recv() => tracing::info!("scheduler: terminated, shutting down"),
        }
        Ok(())
    })
}

/// Runs a worker of the cluster in `file` until the scheduler goes away.
pub fn worker_until_stopped(file: ClusterFile, options: WorkerOptions) -> Result<(), ClusterError> {
    runtime()?.block_on(run_worker(file, options))
}
