//! The scheduler and worker commands as blocking calls, for every program that offers
//! them: the `tessera` binary and the Python package (`python -m tessera._serve`), so
//! both start, listen and stop the same way.

use std::net::SocketAddr;
use std::path::Path;

use tessera_transport::{ClusterFile, ClusterIdentity, server_endpoint};

use crate::{ClusterError, Retirement, WorkerOptions, run_worker_until, serve_scheduler};

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
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| ClusterError::Failed(format!("cannot watch for SIGTERM: {e}")))?;
        let signalled = async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => tracing::info!("scheduler: interrupted, shutting down"),
                _ = terminate.recv() => tracing::info!("scheduler: terminated, shutting down"),
            }
        };
        serve_until(listen, cluster_file, on_listening, signalled).await
    })
}

/// Serves a scheduler on `listen` until `stop` completes, after writing its cluster
/// file (a fresh identity) to `cluster_file` and telling `on_listening` its address;
/// then closes its connections.
async fn serve_until(
    listen: SocketAddr,
    cluster_file: &Path,
    on_listening: impl FnOnce(SocketAddr),
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ClusterError> {
    if let Some(address) = live_scheduler(cluster_file).await {
        return Err(ClusterError::BadInput(format!(
            "{} belongs to a scheduler that is still running at {address}; stop it first, or give this one another --cluster-file",
            cluster_file.display()
        )));
    }
    let identity = ClusterIdentity::generate()?;
    let endpoint = server_endpoint(&identity, listen)?;
    let address =
        endpoint.local_addr().map_err(|e| ClusterError::Failed(format!("cannot read the scheduler's address: {e}")))?;
    identity.cluster_file(address).write(cluster_file)?;
    on_listening(address);
    let closer = endpoint.clone();
    tokio::select! {
        _ = serve_scheduler(endpoint, identity.secret) => {}
        () = stop => {}
    }
    close(&closer).await;
    Ok(())
}

/// The address of the scheduler a cluster file names, if it still answers there (a
/// QUIC handshake against the file's pinned certificate, at most a second).
async fn live_scheduler(cluster_file: &Path) -> Option<SocketAddr> {
    let file = ClusterFile::read(cluster_file).ok()?;
    let endpoint = tessera_transport::client_endpoint(&file.certificate).ok()?;
    let conn = tessera_transport::connect(&endpoint, file.address, std::time::Duration::from_secs(1)).await.ok()?;
    conn.close(0u32.into(), b"only checking that this scheduler runs");
    Some(file.address)
}

/// Closes every connection of a stopping scheduler, so its workers and clients hear at
/// once that it is gone (a process that just exits is noticed only when their
/// connections time out).
async fn close(endpoint: &quinn::Endpoint) {
    endpoint.close(0u32.into(), b"the scheduler stopped");
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), endpoint.wait_idle()).await;
}

/// Runs a worker of the cluster in `file` until the scheduler goes away (an error) or
/// `retirement` is requested and it has handed over what it holds (`Ok`);
/// `on_joined` hears the scheduler's address once the worker has joined.
pub fn worker_until_stopped(
    file: ClusterFile,
    options: WorkerOptions,
    retirement: Retirement,
    on_joined: impl FnOnce(SocketAddr),
) -> Result<(), ClusterError> {
    runtime()?.block_on(run_worker_until(file, options, retirement, on_joined))
}

/// A scheduler served by a thread of this process (a launcher's: dask-jobqueue's
/// scheduler lives in the launching process too), stopped when dropped.
pub struct EmbeddedScheduler {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedScheduler {
    /// Listens on `listen` and writes the cluster file to `cluster_file` (mode 0600).
    pub fn start(listen: SocketAddr, cluster_file: &Path) -> Result<EmbeddedScheduler, ClusterError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let file = cluster_file.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("tessera-scheduler".into())
            .spawn(move || {
                let listening = ready_tx.clone();
                let served = runtime().and_then(|rt| {
                    rt.block_on(serve_until(
                        listen,
                        &file,
                        move |address| {
                            let _ = listening.send(Ok(address));
                        },
                        async {
                            let _ = stopped.await;
                        },
                    ))
                });
                if let Err(e) = served {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| ClusterError::Failed(format!("cannot start the scheduler's thread: {e}")))?;
        let address =
            ready_rx.recv().map_err(|_| ClusterError::Failed("the scheduler's thread ended at start".into()))??;
        Ok(EmbeddedScheduler { address, stop: Some(stop), thread: Some(thread) })
    }

    /// The address workers and clients reach it at.
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for EmbeddedScheduler {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
