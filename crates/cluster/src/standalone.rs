//! A standalone cluster: a scheduler and N workers as tasks of this process, talking
//! real QUIC over loopback, as separate processes would (Ballista's `standalone` mode).
//!
//! It is the whole cluster path (authentication, graphs shared with workers, values
//! fetched worker to worker, heartbeats, steals) without starting a process, so a
//! library user, a test or a notebook can have one with a function call. Clients reach
//! it through its cluster file, like any other cluster.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tessera_runtime::cleanup;
use tessera_transport::{ClusterFile, ClusterIdentity, server_endpoint};

use crate::{Client, ClusterError, WorkerOptions, run_worker, serve_scheduler};

/// A scheduler and workers running inside this process; dropping it stops them and
/// removes its cluster file.
pub struct Standalone {
    runtime: Option<tokio::runtime::Runtime>,
    dir: PathBuf,
    file: PathBuf,
    template: WorkerOptions,
    workers: usize,
}

impl Standalone {
    /// Starts a scheduler and `workers` workers configured as `options` (each named
    /// `{options.name}-{i}`).
    pub fn start(workers: usize, options: WorkerOptions) -> Result<Standalone, ClusterError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tessera-standalone")
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Failed(format!("cannot start the network runtime: {e}")))?;
        let dir = unique_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| ClusterError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        cleanup::register(&dir);
        let file = dir.join("cluster.json");
        let mut cluster = Standalone { runtime: None, dir, file: file.clone(), template: options, workers: 0 };
        runtime.block_on(async {
            let identity = ClusterIdentity::generate()?;
            let endpoint = server_endpoint(&identity, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
            let address = endpoint.local_addr().map_err(|e| ClusterError::Failed(e.to_string()))?;
            identity.cluster_file(address).write(&file)?;
            tokio::spawn(serve_scheduler(endpoint, identity.secret));
            Ok::<_, ClusterError>(())
        })?;
        cluster.runtime = Some(runtime);
        for _ in 0..workers {
            cluster.add_worker()?;
        }
        cluster.client()?.wait_for_workers(workers, Duration::from_secs(15))?;
        Ok(cluster)
    }

    /// Starts one more worker.
    pub fn add_worker(&mut self) -> Result<(), ClusterError> {
        let file = ClusterFile::read(&self.file)?;
        let mut options = self.template.clone();
        options.name = format!("{}-{}", self.template.name, self.workers);
        self.workers += 1;
        let runtime = self.runtime.as_ref().ok_or_else(|| ClusterError::Failed("the cluster is stopped".into()))?;
        runtime.spawn(async move {
            let name = options.name.clone();
            if let Err(e) = run_worker(file, options).await {
                tracing::warn!("standalone worker {name} stopped: {e}");
            }
        });
        Ok(())
    }

    /// Workers started.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The cluster file clients connect with.
    pub fn cluster_file(&self) -> &Path {
        &self.file
    }

    /// A client of this cluster.
    pub fn client(&self) -> Result<Client, ClusterError> {
        Client::connect(&self.file)
    }
}

/// A folder of this process for the cluster file (it holds the secret); several
/// standalone clusters may live in one process.
fn unique_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("tessera-local-{}-standalone-{n}", std::process::id()))
}

impl Drop for Standalone {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        cleanup::unregister(&self.dir);
    }
}
