//! The worker process: computes the tasks the scheduler sends, holds their values, and
//! serves them to peers.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use quinn::{Connection, Endpoint};
use tessera_graph::TaskGraph;
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, Value, wire};
use tessera_transport::{
    ClusterFile, ClusterIdentity, MAX_FRAME_BYTES, Role, accept_hello, client_endpoint, connect, read_frame,
    send_hello, server_endpoint, write_batch, write_frame,
};
use tokio::sync::Semaphore;
use tokio::sync::mpsc::unbounded_channel;

use super::protocol::{Fetch, FetchReply, FromScheduler, GRAPH_FRAME_LIMIT, Peer, ToScheduler, VALUE_LIMIT};
use super::{CONNECT_TIMEOUT, ClusterError};

/// Tasks projected to touch at most this many bytes run inline on the event loop.
const INLINE_TASK_BYTES: u64 = 256 << 10;

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Its name in logs.
    pub name: String,
    /// Tasks computed at once.
    pub threads: usize,
    /// Its memory limit in bytes.
    pub memory_limit: u64,
}

type Store = Arc<Mutex<HashMap<(u64, u64), Arc<Value>>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The local address this machine uses to reach `target` (what peers should dial).
fn local_ip_towards(target: SocketAddr) -> std::net::IpAddr {
    UdpSocket::bind(("0.0.0.0", 0))
        .and_then(|s| s.connect(target).and_then(|_| s.local_addr()))
        .map(|a| a.ip())
        .unwrap_or(target.ip())
}

/// Joins the cluster and works until the scheduler goes away (which is an error).
pub async fn run_worker(file: ClusterFile, options: WorkerOptions) -> Result<(), ClusterError> {
    // The peer endpoint has its own certificate; peers prove the cluster secret to it.
    let mut identity = ClusterIdentity::generate()?;
    identity.secret = file.secret;
    let ip = local_ip_towards(file.address);
    let peer_endpoint =
        server_endpoint(&identity, SocketAddr::new(if ip.is_loopback() { ip } else { [0, 0, 0, 0].into() }, 0))?;
    let port = peer_endpoint.local_addr().map_err(|e| ClusterError::Failed(e.to_string()))?.port();
    let listen = SocketAddr::new(ip, port);
    let store: Store = Arc::default();
    tokio::spawn(serve_peers(peer_endpoint, file.secret, store.clone()));

    let endpoint = client_endpoint(&file.certificate)?;
    let conn = connect(&endpoint, file.address, CONNECT_TIMEOUT).await?;
    let role = Role::Worker {
        name: options.name.clone(),
        threads: options.threads as u32,
        memory_limit: options.memory_limit,
        listen,
        certificate: identity.certificate.clone(),
    };
    let (mut send, mut recv) = send_hello(&conn, &file.secret, role).await?;
    eprintln!("worker {}: joined {} ({} threads)", options.name, file.address, options.threads);

    let (out_tx, mut out_rx) = unbounded_channel::<ToScheduler>();
    tokio::spawn(async move { while let Ok(true) = write_batch(&mut send, &mut out_rx).await {} });
    let graphs: Arc<Mutex<HashMap<u64, Arc<TaskGraph>>>> = Arc::default();
    let slots = Arc::new(Semaphore::new(options.threads.max(1)));
    let peers = Arc::new(PeerPool::new(file.secret));
    loop {
        let message = read_frame::<_, FromScheduler>(&mut recv, GRAPH_FRAME_LIMIT)
            .await
            .map_err(|e| ClusterError::SchedulerLost(e.to_string()))?;
        match message {
            FromScheduler::Graph { graph, tasks } => {
                let decoded: TaskGraph = rmp_serde::from_slice(&tasks)
                    .map_err(|e| e.to_string())
                    .and_then(|g: TaskGraph| g.validate().map(|()| g))
                    .map_err(|e| ClusterError::Failed(format!("malformed graph: {e}")))?;
                lock(&graphs).insert(graph, Arc::new(decoded));
            }
            FromScheduler::Compute { graph, task, inputs } => {
                let Some(tasks) = lock(&graphs).get(&graph).cloned() else {
                    let _ = out_tx.send(ToScheduler::Failed { graph, task, error: "unknown graph".into() });
                    continue;
                };
                let (store, out_tx, slots, peers) = (store.clone(), out_tx.clone(), slots.clone(), peers.clone());
                tokio::spawn(async move {
                    let reply = compute(tasks, graph, task, inputs, &store, &slots, &peers).await;
                    let _ = out_tx.send(reply);
                });
            }
            FromScheduler::Release { graph, task } => {
                lock(&store).remove(&(graph, task));
            }
            FromScheduler::Progress { .. } | FromScheduler::Result { .. } | FromScheduler::Failed { .. } => {}
        }
    }
}

async fn compute(
    tasks: Arc<TaskGraph>,
    graph: u64,
    task: u64,
    inputs: Vec<(u64, Option<Peer>)>,
    store: &Store,
    slots: &Semaphore,
    peers: &PeerPool,
) -> ToScheduler {
    let small = tasks.tasks.get(task as usize).is_none_or(|t| t.projected_bytes <= INLINE_TASK_BYTES);
    let mut values = Vec::with_capacity(inputs.len());
    for (dep, holder) in inputs {
        let local = lock(store).get(&(graph, dep)).cloned();
        let value = match (local, holder) {
            (Some(v), _) => Some(v),
            (None, Some(peer)) => peers.fetch(&peer, graph, dep).await.map(Arc::new),
            (None, None) => None,
        };
        match value {
            Some(v) => values.push(v),
            None => return ToScheduler::InputsLost { graph, task },
        }
    }
    let Ok(_permit) = slots.acquire().await else {
        return ToScheduler::Failed { graph, task, error: "worker is shutting down".into() };
    };
    let run = move || {
        let refs: Vec<&Value> = values.iter().map(|v| v.as_ref()).collect();
        CpuBackend.execute(&tasks, task as usize, &refs)
    };
    // Tiny tasks run on the event loop: handing them to a thread costs more than they do.
    let result = if small {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).map_err(|_| "the task panicked".to_string())
    } else {
        tokio::task::spawn_blocking(run).await.map_err(|e| format!("the task panicked: {e}"))
    };
    match result {
        Ok(Ok(value)) => {
            let bytes = value.nbytes() as u64;
            lock(store).insert((graph, task), Arc::new(value));
            ToScheduler::Finished { graph, task, bytes }
        }
        Ok(Err(e)) => ToScheduler::Failed { graph, task, error: e.to_string() },
        Err(error) => ToScheduler::Failed { graph, task, error },
    }
}

/// Serves values to authenticated peers: one request per bidirectional stream.
async fn serve_peers(endpoint: Endpoint, secret: [u8; 32], store: Store) {
    while let Some(incoming) = endpoint.accept().await {
        let store = store.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            if accept_hello(&conn, &secret).await.is_err() {
                return;
            }
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let Ok(req) = read_frame::<_, Fetch>(&mut recv, MAX_FRAME_BYTES).await else { return };
                    let value = lock(&store).get(&(req.graph, req.task)).cloned();
                    match value {
                        Some(v) => {
                            let bytes = wire::encode(&v);
                            if write_frame(&mut send, &FetchReply::Found(bytes.len() as u64)).await.is_ok() {
                                let _ = send.write_all(&bytes).await;
                            }
                        }
                        None => {
                            let _ = write_frame(&mut send, &FetchReply::Missing).await;
                        }
                    }
                    let _ = send.finish();
                });
            }
        });
    }
}

/// Connections to other workers (and, for clients, to workers), authenticated once.
pub(crate) struct PeerPool {
    secret: [u8; 32],
    connections: tokio::sync::Mutex<HashMap<SocketAddr, (Endpoint, Connection)>>,
}

impl PeerPool {
    pub(crate) fn new(secret: [u8; 32]) -> PeerPool {
        PeerPool { secret, connections: tokio::sync::Mutex::new(HashMap::new()) }
    }

    async fn connection(&self, peer: &Peer) -> Option<Connection> {
        if let Some((_, c)) = self.connections.lock().await.get(&peer.listen)
            && c.close_reason().is_none()
        {
            return Some(c.clone());
        }
        // Connect without holding the pool: an unreachable peer must not stall fetches
        // from the others while its connection attempt times out.
        let endpoint = client_endpoint(&peer.certificate).ok()?;
        let conn = connect(&endpoint, peer.listen, CONNECT_TIMEOUT).await.ok()?;
        // The control stream of a peer connection carries only the hello.
        send_hello(&conn, &self.secret, Role::Client).await.ok()?;
        self.connections.lock().await.insert(peer.listen, (endpoint, conn.clone()));
        Some(conn)
    }

    /// Fetches a value from a peer; `None` if it is unreachable or does not have it.
    pub(crate) async fn fetch(&self, peer: &Peer, graph: u64, task: u64) -> Option<Value> {
        let conn = self.connection(peer).await?;
        let (mut send, mut recv) = conn.open_bi().await.ok()?;
        write_frame(&mut send, &Fetch { graph, task }).await.ok()?;
        let _ = send.finish();
        let FetchReply::Found(len) = read_frame::<_, FetchReply>(&mut recv, 1024).await.ok()? else { return None };
        if len > VALUE_LIMIT {
            return None;
        }
        let mut bytes = vec![0u8; len as usize];
        recv.read_exact(&mut bytes).await.ok()?;
        wire::decode(&bytes)
    }
}
