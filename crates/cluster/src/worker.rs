//! The worker process: computes the tasks the scheduler sends, holds their values, and
//! serves them to peers.

use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use quinn::{Connection, Endpoint};
use tessera_graph::TaskGraph;
use tessera_kernels::{Backend, KernelError, Value, wire};
use tessera_metrics::{TaskSpan, Usage, current_rss_bytes};
use tessera_runtime::distributed::HEARTBEAT_INTERVAL_MS;
use tessera_runtime::store::Store;
use tessera_transport::{
    ClusterFile, ClusterIdentity, MAX_FRAME_BYTES, PendingPeers, Role, accept_hello, client_endpoint, connect,
    read_frame, send_hello, server_endpoint, write_batch, write_frame,
};
use tokio::sync::Semaphore;
use tokio::sync::mpsc::unbounded_channel;

use crate::protocol::{
    Beat, Counters as Sent, FailureKind, Fetch, FetchReply, FromScheduler, GRAPH_FRAME_LIMIT, Peer, ToScheduler,
    VALUE_LIMIT,
};

use crate::{CONNECT_TIMEOUT, ClusterError};

/// Tasks projected to touch at most this many bytes run inline on the event loop...
const INLINE_TASK_BYTES: u64 = 256 << 10;
/// ...if their graph's blocks have at most this many elements: a fused reduction over a
/// big block allocates little but computes long, and must not stall the heartbeats.
const INLINE_BLOCK_ELEMENTS: usize = 1 << 15;

/// How a worker runs.
#[derive(Clone)]
pub struct WorkerOptions {
    /// Its name in logs.
    pub name: String,
    /// Tasks computed at once.
    pub threads: usize,
    /// Its memory limit in bytes.
    pub memory_limit: u64,
    /// What computes its tasks.
    pub backend: Arc<dyn Backend>,
    /// The GPU behind `backend`, if it is one (the scheduler sends GPU work only to
    /// workers that have one).
    pub gpu: Option<String>,
}

/// Counters for the heartbeat.
#[derive(Default)]
struct Counters {
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    running: AtomicU64,
    done: AtomicU64,
    /// Fetches in flight, and since when the count has been above zero.
    fetching: Mutex<(u32, Option<Instant>)>,
    fetch_nanos: AtomicU64,
    /// Which thread slots are busy, so the task stream can draw one lane per thread.
    lanes: Mutex<Vec<bool>>,
    /// Tasks finished since the last beat: layer, slot, end, duration.
    finished: Mutex<Vec<(u32, u32, Instant, Duration)>>,
}

/// At most this many finished tasks go into one beat (the task stream needs no more).
const SPANS_PER_BEAT: usize = 512;

impl Counters {
    fn fetch_started(&self) {
        let mut f = lock(&self.fetching);
        f.0 += 1;
        if f.0 == 1 {
            f.1 = Some(Instant::now());
        }
    }

    fn fetch_ended(&self, bytes: u64) {
        self.bytes_in.fetch_add(bytes, Relaxed);
        let mut f = lock(&self.fetching);
        f.0 = f.0.saturating_sub(1);
        if f.0 == 0
            && let Some(since) = f.1.take()
        {
            self.fetch_nanos.fetch_add(since.elapsed().as_nanos() as u64, Relaxed);
        }
    }

    fn sent(&self, store: &Store<Key>) -> Sent {
        Sent {
            spilled_bytes: store.spilled_bytes(),
            cpu_seconds: Usage::now().cpu.as_secs_f64(),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            fetch_seconds: Duration::from_nanos(self.fetch_nanos.load(Relaxed)).as_secs_f64(),
        }
    }

    fn take_lane(&self) -> u32 {
        let mut lanes = lock(&self.lanes);
        match lanes.iter().position(|busy| !busy) {
            Some(i) => {
                lanes[i] = true;
                i as u32
            }
            None => {
                lanes.push(true);
                (lanes.len() - 1) as u32
            }
        }
    }

    fn task_done(&self, layer: u32, lane: u32, started: Instant) {
        if let Some(busy) = lock(&self.lanes).get_mut(lane as usize) {
            *busy = false;
        }
        let mut finished = lock(&self.finished);
        if finished.len() < SPANS_PER_BEAT {
            finished.push((layer, lane, Instant::now(), started.elapsed()));
        }
    }

    fn beat(&self, store: &Store<Key>) -> Beat {
        let usage = Usage::now();
        let now = Instant::now();
        let recent = std::mem::take(&mut *lock(&self.finished))
            .into_iter()
            .map(|(layer, slot, end, took)| TaskSpan {
                layer,
                slot,
                ended_ms_ago: now.duration_since(end).as_millis() as u64,
                duration_ms: took.as_millis() as u64,
            })
            .collect();
        Beat {
            cpu_seconds: usage.cpu.as_secs_f64(),
            rss_bytes: current_rss_bytes(),
            peak_rss_bytes: usage.peak_rss_bytes,
            held_bytes: store.held_bytes(),
            spilled_bytes: store.spilled_bytes(),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            fetch_seconds: Duration::from_nanos(self.fetch_nanos.load(Relaxed)).as_secs_f64(),
            tasks_running: self.running.load(Relaxed),
            tasks_done: self.done.load(Relaxed),
            recent,
        }
    }
}

/// A value's key on a worker: graph and task.
type Key = (u64, u64);

/// Everything a worker's tasks share.
struct Shared {
    /// Held values and admitted tasks, within the worker's budget: its memory limit
    /// less what the process used when it started.
    store: Mutex<Store<Key>>,
    counters: Counters,
    /// Tasks received and not started: the ones a steal may still take.
    queued: Mutex<HashSet<Key>>,
    /// Graphs not yet forgotten: a task of another one that was already running when
    /// its graph ended keeps nothing.
    live: Mutex<HashSet<u64>>,
    /// Told when a task ends or a value goes, so that waiting tasks look again.
    freed: tokio::sync::Notify,
}

impl Shared {
    fn new(memory_limit: u64) -> Shared {
        let budget = memory_limit.saturating_sub(current_rss_bytes());
        Shared {
            store: Mutex::new(Store::new(budget)),
            counters: Counters::default(),
            queued: Mutex::new(HashSet::new()),
            live: Mutex::new(HashSet::new()),
            freed: tokio::sync::Notify::new(),
        }
    }

    /// Waits until the store admits a task projected at `bytes`.
    async fn admit(&self, bytes: u64) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if lock(&self.store).admit(bytes) {
                return;
            }
            freed.await;
        }
    }

    fn release(&self, bytes: u64) {
        lock(&self.store).done(bytes);
        self.freed.notify_waiters();
    }

    /// A held value, read back from disk (outside the lock) if it was spilled; `None`
    /// if it is not here or its file cannot be read (the scheduler then has it
    /// recomputed).
    fn value(&self, key: &Key) -> Option<Arc<Value>> {
        let held = lock(&self.store).get(key)?;
        held.load().ok()
    }
}

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
    let shared = Arc::new(Shared::new(options.memory_limit));
    tokio::spawn(serve_peers(peer_endpoint, file.secret, shared.clone()));

    let endpoint = client_endpoint(&file.certificate)?;
    let conn = connect(&endpoint, file.address, CONNECT_TIMEOUT).await?;
    let role = Role::Worker {
        name: options.name.clone(),
        threads: options.threads as u32,
        memory_limit: options.memory_limit,
        listen,
        certificate: identity.certificate.clone(),
        gpu: options.gpu.clone(),
    };
    let (mut send, mut recv) = send_hello(&conn, &file.secret, role).await?;
    let device = options.gpu.as_deref().map_or_else(|| "CPU".to_string(), |g| format!("GPU {g}"));
    tracing::info!("worker {}: joined {} ({} threads, {device})", options.name, file.address, options.threads);

    let (out_tx, mut out_rx) = unbounded_channel::<ToScheduler>();
    tokio::spawn(async move { while let Ok(true) = write_batch(&mut send, &mut out_rx).await {} });
    let beats = (out_tx.clone(), shared.clone());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(HEARTBEAT_INTERVAL_MS));
        loop {
            every.tick().await;
            let beat = beats.1.counters.beat(&lock(&beats.1.store));
            if beats.0.send(ToScheduler::Heartbeat(beat)).is_err() {
                break;
            }
        }
    });
    type Known = (Arc<TaskGraph>, bool, Arc<Vec<u64>>);
    let mut graphs: HashMap<u64, Known> = HashMap::new();
    let slots = Arc::new(Semaphore::new(options.threads.max(1)));
    let peers = Arc::new(PeerPool::new(file.secret));
    loop {
        let message = read_frame::<_, FromScheduler>(&mut recv, GRAPH_FRAME_LIMIT)
            .await
            .map_err(|e| ClusterError::SchedulerLost(e.to_string()))?;
        match message {
            FromScheduler::Graph { graph, tasks } => {
                // A big graph takes a while to decode: off the event loop, so heartbeats go on.
                let decoded = tokio::task::spawn_blocking(move || {
                    rmp_serde::from_slice::<TaskGraph>(&tasks.0)
                        .map_err(|e| e.to_string())
                        .and_then(|g| g.validate().map(|()| g))
                })
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r)
                .map_err(|e| ClusterError::Failed(format!("malformed graph: {e}")))?;
                let small_blocks = decoded.work_chunksize().iter().product::<usize>() <= INLINE_BLOCK_ELEMENTS;
                let first_readers = Arc::new(first_readers(&decoded));
                graphs.insert(graph, (Arc::new(decoded), small_blocks, first_readers));
                lock(&shared.live).insert(graph);
            }
            FromScheduler::Compute { graph, task, inputs } => {
                let Some((tasks, small_blocks, first_readers)) = graphs.get(&graph).cloned() else {
                    let error = "unknown graph".into();
                    let _ = out_tx.send(ToScheduler::Failed { graph, task, error, kind: FailureKind::Failed });
                    continue;
                };
                lock(&shared.queued).insert((graph, task));
                let (shared, out_tx, slots, peers) = (shared.clone(), out_tx.clone(), slots.clone(), peers.clone());
                let backend = options.backend.clone();
                tokio::spawn(async move {
                    let inline = small_blocks
                        && tasks.tasks.get(task as usize).is_none_or(|t| t.projected_bytes <= INLINE_TASK_BYTES);
                    let next_reader = first_readers.get(task as usize).copied().unwrap_or(u64::MAX);
                    let job = Job { tasks, graph, task, inputs, inline, backend, next_reader };
                    if let Some(reply) = compute(job, &shared, &slots, &peers).await {
                        let _ = out_tx.send(reply);
                    }
                });
            }
            FromScheduler::Steal { graph, task } => {
                let stolen = lock(&shared.queued).remove(&(graph, task));
                let _ = out_tx.send(ToScheduler::StealAnswer { graph, task, stolen });
            }
            FromScheduler::Release { graph, task } => {
                lock(&shared.store).remove(&(graph, task));
                shared.freed.notify_waiters();
            }
            FromScheduler::Forget { graph } => {
                graphs.remove(&graph);
                lock(&shared.live).remove(&graph);
                // Tasks waiting for a slot or memory find themselves gone and never run.
                lock(&shared.queued).retain(|(g, _)| *g != graph);
                lock(&shared.store).remove_where(|k| k.0 == graph);
                shared.freed.notify_waiters();
            }
            FromScheduler::Progress { .. }
            | FromScheduler::Result { .. }
            | FromScheduler::Failed { .. }
            | FromScheduler::Workers(_) => {}
        }
    }
}

/// A task to run.
struct Job {
    tasks: Arc<TaskGraph>,
    graph: u64,
    task: u64,
    inputs: Vec<(u64, Option<Peer>)>,
    /// Small enough to run on the event loop.
    inline: bool,
    /// What computes it.
    backend: Arc<dyn Backend>,
    /// When its value is first read (a task's priority; outputs last), for spilling.
    next_reader: u64,
}

/// For each task, the priority of the first task that reads its value (tasks are in
/// priority order); results the client fetches count as read last.
fn first_readers(graph: &TaskGraph) -> Vec<u64> {
    let mut first = vec![u64::MAX; graph.tasks.len()];
    for (id, t) in graph.tasks.iter().enumerate() {
        for &d in &t.deps {
            first[d] = first[d].min(id as u64);
        }
    }
    first
}

/// Runs one task; `None` when it was stolen before it started.
async fn compute(job: Job, shared: &Shared, slots: &Semaphore, peers: &PeerPool) -> Option<ToScheduler> {
    let Job { tasks, graph, task, inputs, inline, backend, next_reader } = job;
    let Ok(_permit) = slots.acquire().await else {
        let error = "worker is shutting down".into();
        return Some(ToScheduler::Failed { graph, task, error, kind: FailureKind::Failed });
    };
    let projected = tasks.tasks.get(task as usize).map_or(0, |t| t.projected_bytes);
    shared.admit(projected).await;
    if !lock(&shared.queued).remove(&(graph, task)) {
        shared.release(projected);
        return None;
    }
    // Inputs are gathered only once admitted: values fetched or read back from disk for
    // tasks still waiting would take memory the limit does not see.
    let mut values = Vec::with_capacity(inputs.len());
    for (dep, holder) in inputs {
        let value = match (shared.value(&(graph, dep)), holder) {
            (Some(v), _) => Some(v),
            (None, Some(peer)) => {
                shared.counters.fetch_started();
                let fetched = peers.fetch(&peer, graph, dep).await;
                shared.counters.fetch_ended(fetched.as_ref().map_or(0, |v| v.nbytes() as u64));
                fetched.map(Arc::new)
            }
            (None, None) => None,
        };
        match value {
            Some(v) => values.push(v),
            None => {
                shared.release(projected);
                return Some(ToScheduler::InputsLost { graph, task });
            }
        }
    }
    let counters = &shared.counters;
    counters.running.fetch_add(1, Relaxed);
    let layer = tasks.tasks.get(task as usize).map_or(0, |t| t.layer as u32);
    let (lane, started) = (counters.take_lane(), Instant::now());
    let run = move || {
        let refs: Vec<&Value> = values.iter().map(|v| v.as_ref()).collect();
        backend.execute(&tasks, task as usize, &refs)
    };
    // Tiny tasks run on the event loop: handing them to a thread costs more than they do.
    let result = if inline {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).map_err(|_| "the task panicked".to_string())
    } else {
        tokio::task::spawn_blocking(run).await.map_err(|e| format!("the task panicked: {e}"))
    };
    counters.running.fetch_sub(1, Relaxed);
    counters.task_done(layer, lane, started);
    let reply = match result {
        Ok(Ok(_)) if !lock(&shared.live).contains(&graph) => {
            shared.release(projected);
            return None;
        }
        Ok(Ok(value)) => {
            let bytes = value.nbytes() as u64;
            let mut store = lock(&shared.store);
            match store.insert((graph, task), value, next_reader) {
                Ok(()) => {
                    counters.done.fetch_add(1, Relaxed);
                    ToScheduler::Finished { graph, task, bytes, counters: counters.sent(&store) }
                }
                Err(e) => {
                    let error = format!("cannot spill to disk: {e}");
                    ToScheduler::Failed { graph, task, error, kind: FailureKind::Failed }
                }
            }
        }
        Ok(Err(e)) => {
            // Values numpy refuses are the input's fault, here as in a local run.
            let kind = if matches!(e, KernelError::Value { .. }) { FailureKind::BadInput } else { FailureKind::Failed };
            ToScheduler::Failed { graph, task, error: e.to_string(), kind }
        }
        Err(error) => ToScheduler::Failed { graph, task, error, kind: FailureKind::Failed },
    };
    shared.release(projected);
    Some(reply)
}

/// Serves values to authenticated peers: one request per bidirectional stream.
async fn serve_peers(endpoint: Endpoint, secret: [u8; 32], shared: Arc<Shared>) {
    let pending = Arc::new(PendingPeers::default());
    while let Some(incoming) = endpoint.accept().await {
        let Some(place) = pending.admit() else {
            incoming.refuse();
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            let proved = accept_hello(&conn, &secret).await;
            drop(place);
            if proved.is_err() {
                return;
            }
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Ok(req) = read_frame::<_, Fetch>(&mut recv, MAX_FRAME_BYTES).await else { return };
                    match shared.value(&(req.graph, req.task)) {
                        Some(v) => {
                            let bytes = wire::encode(&v);
                            if write_frame(&mut send, &FetchReply::Found(bytes.len() as u64)).await.is_ok()
                                && send.write_all(&bytes).await.is_ok()
                            {
                                shared.counters.bytes_out.fetch_add(v.nbytes() as u64, Relaxed);
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
