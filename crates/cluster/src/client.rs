//! A client: submits graphs to a scheduler and fetches their results from workers.

use std::path::Path;

use quinn::{Endpoint, RecvStream, SendStream};
use tessera_graph::TaskGraph;
use tessera_kernels::Value;
use tessera_metrics::{WorkerRun, WorkerStatus};
use tessera_transport::{ClusterFile, Role, connect, read_frame, send_hello, watched_client_endpoint, write_frame};

use crate::peers::PeerPool;
use crate::protocol::{FailureKind, FromScheduler, GRAPH_FRAME_LIMIT, Load, ToScheduler};
use crate::{CONNECT_TIMEOUT, ClusterError};

/// Hears what a cluster run is doing while it runs.
pub trait Watch {
    /// Tasks done out of the total, and done per layer of the graph.
    fn progress(&self, _done: u64, _total: u64, _layers: &[u64]) {}
    /// The workers' latest state (several times a second).
    fn workers(&self, _workers: &[WorkerStatus]) {}
    /// Whether to cancel the run (asked whenever the scheduler reports).
    fn cancelled(&self) -> bool {
        false
    }
}

/// Watches nothing.
pub struct NoWatch;
impl Watch for NoWatch {}

/// What a cluster run returns.
pub struct ClusterRun {
    /// The values of the graph's outputs, in order.
    pub values: Vec<Value>,
    /// Each worker's share of the run.
    pub workers: Vec<WorkerRun>,
}

/// A connection to a cluster's scheduler.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    _endpoint: Endpoint,
    send: SendStream,
    recv: RecvStream,
    peers: PeerPool,
    next_request: u64,
    /// A cancelled run left a message half read: the stream cannot be read again.
    desynchronized: bool,
}

/// How often a run's watcher is asked whether to cancel, between messages.
const CANCEL_POLL: std::time::Duration = std::time::Duration::from_millis(50);
/// How long a cancelled run waits for the message being read to finish.
const CANCEL_DRAIN: std::time::Duration = std::time::Duration::from_millis(200);

impl Client {
    /// Reads the cluster file, connects, and proves the secret.
    pub fn connect(cluster_file: &Path) -> Result<Client, ClusterError> {
        let file = ClusterFile::read(cluster_file)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Failed(format!("cannot start the network runtime: {e}")))?;
        let (endpoint, send, recv) = runtime.block_on(async {
            let endpoint = watched_client_endpoint(&file.certificate)?;
            // A scheduler busy with many peers in their hello refuses more for a moment
            // (it caps pending handshakes): try again with growing, jittered waits.
            let mut wait = std::time::Duration::from_millis(50);
            let mut tries: u64 = 0;
            loop {
                let attempt = async {
                    let conn = connect(&endpoint, file.address, CONNECT_TIMEOUT).await?;
                    Ok::<_, ClusterError>(send_hello(&conn, &file.secret, Role::Client).await?)
                };
                match attempt.await {
                    Ok((send, recv)) => break Ok::<_, ClusterError>((endpoint, send, recv)),
                    Err(e) if tries < 10 && e.to_string().contains("refused") => {
                        tries += 1;
                        let jitter = u64::from(std::process::id() % 50) + tries * 7 % 50;
                        tokio::time::sleep(wait + std::time::Duration::from_millis(jitter)).await;
                        wait = (wait * 2).min(std::time::Duration::from_secs(1));
                    }
                    Err(e) => break Err(e),
                }
            }
        })?;
        Ok(Client {
            runtime,
            _endpoint: endpoint,
            send,
            recv,
            peers: PeerPool::new(file.secret),
            next_request: 1,
            desynchronized: false,
        })
    }

    /// The workers connected now, as the scheduler knows them.
    pub fn workers(&mut self) -> Result<Vec<WorkerStatus>, ClusterError> {
        self.ask(&ToScheduler::Status, |m| match m {
            FromScheduler::Workers(status) => Some(status),
            _ => None,
        })
    }

    /// The cluster's backlog now.
    pub fn load(&mut self) -> Result<Load, ClusterError> {
        self.ask(&ToScheduler::Load, |m| match m {
            FromScheduler::Load(load) => Some(load),
            _ => None,
        })
    }

    /// Sends `question` and waits for the first message `answer` picks.
    fn ask<T>(
        &mut self,
        question: &ToScheduler,
        answer: impl Fn(FromScheduler) -> Option<T>,
    ) -> Result<T, ClusterError> {
        let Client { runtime, send, recv, .. } = self;
        runtime.block_on(async {
            write_frame(send, question).await?;
            loop {
                let message = read_frame::<_, FromScheduler>(recv, GRAPH_FRAME_LIMIT)
                    .await
                    .map_err(|e| ClusterError::SchedulerLost(e.to_string()))?;
                if let Some(found) = answer(message) {
                    return Ok(found);
                }
            }
        })
    }

    /// Waits until at least `n` workers have joined, for at most `timeout`.
    pub fn wait_for_workers(&mut self, n: usize, timeout: std::time::Duration) -> Result<(), ClusterError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let joined = self.workers()?.len();
            if joined >= n {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(ClusterError::Failed(format!(
                    "only {joined} of {n} workers joined within {} s",
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Computes `graph` on the cluster; `watch` hears about progress and the workers.
    pub fn compute(&mut self, graph: &TaskGraph, watch: &dyn Watch) -> Result<ClusterRun, ClusterError> {
        self.compute_on(graph, watch, false)
    }

    /// [`Client::compute`]; with `gpu_only`, only workers with a GPU compute it (the
    /// run fails with a resource error if the cluster has none).
    pub fn compute_on(
        &mut self,
        graph: &TaskGraph,
        watch: &dyn Watch,
        gpu_only: bool,
    ) -> Result<ClusterRun, ClusterError> {
        if self.desynchronized {
            return Err(ClusterError::Failed(
                "this client's connection was cut by a cancelled run; connect again".into(),
            ));
        }
        let request = self.next_request;
        self.next_request += 1;
        let tasks = rmp_serde::to_vec_named(graph).map_err(|e| ClusterError::Failed(e.to_string()))?;
        let Client { runtime, send, recv, peers, desynchronized, .. } = self;
        runtime.block_on(async {
            write_frame(send, &ToScheduler::Submit { request, tasks, gpu_only }).await?;
            let mut poll = tokio::time::interval(CANCEL_POLL);
            loop {
                // Cancellation is checked between messages and every CANCEL_POLL while
                // one is awaited; a message being read is finished first, so the
                // stream stays whole for the client's next run.
                let read = read_frame::<_, FromScheduler>(recv, GRAPH_FRAME_LIMIT);
                tokio::pin!(read);
                let message = loop {
                    tokio::select! {
                        message = &mut read => break message,
                        _ = poll.tick() => if watch.cancelled() {
                            write_frame(send, &ToScheduler::Cancel { request }).await?;
                            if tokio::time::timeout(CANCEL_DRAIN, &mut read).await.is_err() {
                                *desynchronized = true;
                            }
                            return Err(ClusterError::Cancelled);
                        },
                    }
                };
                let message = message.map_err(|e| ClusterError::SchedulerLost(e.to_string()))?;
                if watch.cancelled() {
                    write_frame(send, &ToScheduler::Cancel { request }).await?;
                    return Err(ClusterError::Cancelled);
                }
                match message {
                    FromScheduler::Progress { request: r, done, total, layers } if r == request => {
                        watch.progress(done, total, &layers)
                    }
                    FromScheduler::Workers(status) => watch.workers(&status),
                    FromScheduler::Failed { request: r, error, kind } if r == request => {
                        return Err(match kind {
                            FailureKind::BadInput => ClusterError::BadInput(error),
                            FailureKind::Resources => ClusterError::Resources(error),
                            FailureKind::Cancelled => ClusterError::Cancelled,
                            FailureKind::Failed => ClusterError::Failed(error),
                        });
                    }
                    FromScheduler::Result { request: r, graph: id, outputs, usage } if r == request => {
                        let mut values = Vec::with_capacity(outputs.len());
                        for (task, peer) in outputs {
                            let v = peers.fetch(&peer, id, task).await.ok_or_else(|| {
                                ClusterError::Failed(format!(
                                    "could not fetch result block {task} from {}",
                                    peer.listen
                                ))
                            })?;
                            values.push(v);
                        }
                        write_frame(send, &ToScheduler::Delivered { request }).await?;
                        return Ok(ClusterRun { values, workers: usage });
                    }
                    _ => {}
                }
            }
        })
    }
}
