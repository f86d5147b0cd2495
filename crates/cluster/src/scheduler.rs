//! The scheduler process: accepts workers and clients, drives the sans-IO core.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quinn::{Connection, Endpoint, RecvStream, SendStream};
use tessera_graph::TaskGraph;
use tessera_metrics::{WorkerRun, WorkerStatus};
use tessera_runtime::distributed::{ClusterScheduler, Command, Event, HEARTBEAT_INTERVAL_MS, WorkerInfo};
use tessera_transport::{MAX_FRAME_BYTES, PendingPeers, Role, accept_hello, read_frame, write_batch};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::protocol::{
    Beat, Counters, FailureKind, FromScheduler, GRAPH_FRAME_LIMIT, Load, Peer, Sender, SharedBytes, ToScheduler,
};

enum Input {
    Joined {
        id: u64,
        role: Role,
        tx: UnboundedSender<FromScheduler>,
        conn: Connection,
    },
    Message {
        id: u64,
        message: ToScheduler,
    },
    /// A client's graph, decoded and validated on its connection's task (a big graph
    /// takes a while, and the event loop must not wait for it).
    Submitted {
        id: u64,
        request: u64,
        graph: Result<Arc<TaskGraph>, String>,
        bytes: Arc<[u8]>,
        gpu_only: bool,
    },
    Lost {
        id: u64,
    },
    Tick,
}

/// A connected worker and what its heartbeats said.
struct Worker {
    peer: Peer,
    tx: UnboundedSender<FromScheduler>,
    conn: Connection,
    status: WorkerStatus,
    beat: Beat,
    beat_at: Instant,
    /// CPU seconds in the last heartbeat (finished tasks raise `beat` in between).
    beat_cpu: f64,
    /// Finished tasks heard of since the last status sent, with when they were heard.
    recent: Vec<(tessera_metrics::TaskSpan, Instant)>,
    /// It was told it may leave: its going is not a loss.
    retired: bool,
    /// It said it is leaving (it may go before being told to, holding nothing).
    leaving: bool,
}

struct Graph {
    client: u64,
    request: u64,
    bytes: Arc<[u8]>,
    last_progress: u64,
    /// Tasks finished per worker, for the log line and the client's usage report.
    finished_by: BTreeMap<u64, u64>,
    /// Each worker's counters when the graph arrived.
    baseline: HashMap<u64, Beat>,
}

impl Graph {
    /// Each worker's share of this graph, measured against the baseline.
    fn usage(&self, workers: &HashMap<u64, Worker>) -> Vec<WorkerRun> {
        let mut usage: Vec<WorkerRun> = workers
            .iter()
            .map(|(id, w)| {
                let base = self.baseline.get(id).cloned().unwrap_or_default();
                WorkerRun {
                    name: w.status.name.clone(),
                    threads: w.status.threads,
                    cpu_seconds: (w.beat.cpu_seconds - base.cpu_seconds).max(0.0),
                    peak_rss_bytes: w.beat.peak_rss_bytes,
                    bytes_in: w.beat.bytes_in.saturating_sub(base.bytes_in),
                    bytes_out: w.beat.bytes_out.saturating_sub(base.bytes_out),
                    fetch_seconds: (w.beat.fetch_seconds - base.fetch_seconds).max(0.0),
                    spilled_bytes: w.beat.spilled_bytes.saturating_sub(base.spilled_bytes),
                    bytes_read: w.beat.bytes_read.saturating_sub(base.bytes_read),
                    bytes_written: w.beat.bytes_written.saturating_sub(base.bytes_written),
                    tasks: self.finished_by.get(id).copied().unwrap_or(0),
                }
            })
            .collect();
        usage.sort_by(|a, b| a.name.cmp(&b.name));
        usage
    }
}

/// Serves the cluster on `endpoint` until the endpoint is closed. `secret` is the
/// cluster secret every peer must prove.
pub async fn serve_scheduler(endpoint: Endpoint, secret: [u8; 32]) {
    let (tx, mut rx) = unbounded_channel::<Input>();
    let accept_tx = tx.clone();
    let tick_tx = tx.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(HEARTBEAT_INTERVAL_MS));
        while tick_tx.send(Input::Tick).is_ok() {
            every.tick().await;
        }
    });
    tokio::spawn(async move {
        let mut next_id = 1u64;
        let pending = Arc::new(PendingPeers::default());
        while let Some(incoming) = endpoint.accept().await {
            let Some(place) = pending.admit() else {
                tracing::warn!(
                    "scheduler: refused a peer from {}: too many peers in their hello",
                    incoming.remote_address()
                );
                incoming.refuse();
                continue;
            };
            let id = next_id;
            next_id += 1;
            let tx = accept_tx.clone();
            tokio::spawn(async move {
                let hello = async {
                    let conn = incoming.await.ok()?;
                    let proved = accept_hello(&conn, &secret).await;
                    Some((conn, proved))
                };
                let Some((conn, proved)) = hello.await else { return };
                drop(place);
                match proved {
                    Ok((role, send, recv)) => connection(id, conn, role, send, recv, tx).await,
                    Err(e) => tracing::warn!("scheduler: refused a peer from {}: {e}", conn.remote_address()),
                }
            });
        }
    });
    let started = Instant::now();
    let mut core = ClusterScheduler::new();
    let mut workers: HashMap<u64, Worker> = HashMap::new();
    let mut clients: HashMap<u64, UnboundedSender<FromScheduler>> = HashMap::new();
    let mut graphs: HashMap<u64, Graph> = HashMap::new();
    let mut next_graph = 1u64;
    while let Some(input) = rx.recv().await {
        let events = match input {
            Input::Joined {
                id,
                role: Role::Worker { name, threads, memory_limit, listen, bulk, certificate, gpu },
                tx,
                conn,
            } => {
                let device = gpu.as_deref().map_or_else(|| "CPU".to_string(), |g| format!("GPU {g}"));
                tracing::info!("scheduler: worker {name} joined from {listen} ({threads} threads, {device})");
                let status = WorkerStatus { name: name.clone(), threads, memory_limit, ..WorkerStatus::default() };
                let peer = Peer { listen, certificate, bulk };
                workers.insert(
                    id,
                    Worker {
                        peer,
                        tx,
                        conn,
                        status,
                        beat: Beat::default(),
                        beat_at: Instant::now(),
                        beat_cpu: 0.0,
                        recent: Vec::new(),
                        retired: false,
                        leaving: false,
                    },
                );
                let info = WorkerInfo { name, threads: threads as usize, memory_limit, gpu: gpu.is_some() };
                vec![Event::WorkerJoined { worker: id, info }]
            }
            Input::Joined { id, role: Role::Client, tx, .. } => {
                clients.insert(id, tx);
                vec![]
            }
            Input::Tick => {
                if !graphs.is_empty() {
                    let status = statuses(&mut workers, true);
                    for c in graphs.values().map(|g| g.client).collect::<std::collections::BTreeSet<_>>() {
                        if let Some(tx) = clients.get(&c) {
                            let _ = tx.send(FromScheduler::Workers(status.clone()));
                        }
                    }
                }
                vec![Event::Tick { at_ms: started.elapsed().as_millis() as u64 }]
            }
            Input::Lost { id } => {
                if let Some(w) = workers.remove(&id) {
                    if w.left_on_purpose() {
                        tracing::info!("scheduler: worker {} left", w.status.name);
                    } else {
                        tracing::warn!("scheduler: lost worker {}; recomputing what it held", w.status.name);
                    }
                    vec![Event::WorkerLost { worker: id }]
                } else if clients.remove(&id).is_some() {
                    let before = graphs.len();
                    graphs.retain(|_, g| g.client != id);
                    if graphs.len() < before {
                        tracing::info!("scheduler: client {id} left; cancelled its {} graph(s)", before - graphs.len());
                    }
                    vec![Event::ClientLeft { client: id }]
                } else {
                    vec![]
                }
            }
            Input::Submitted { id, request, graph: Ok(decoded), bytes, gpu_only } => {
                let graph = next_graph;
                next_graph += 1;
                let baseline = workers.iter().map(|(&w, worker)| (w, worker.beat.clone())).collect();
                graphs.insert(
                    graph,
                    Graph { client: id, request, bytes, last_progress: 0, finished_by: Default::default(), baseline },
                );
                tracing::info!("scheduler: graph {graph} from client {id} ({} tasks)", decoded.tasks.len());
                vec![Event::Submitted { client: id, graph, tasks: decoded, gpu_only }]
            }
            Input::Submitted { id, request, graph: Err(e), .. } => {
                tracing::warn!("scheduler: refused a malformed graph from client {id}: {e}");
                if let Some(c) = clients.get(&id) {
                    let error = format!("malformed graph: {e}");
                    let _ = c.send(FromScheduler::Failed { request, error, kind: FailureKind::BadInput });
                }
                vec![]
            }
            Input::Message { id, message } => match message {
                ToScheduler::Finished { graph, task, bytes, counters } => {
                    if let Some(g) = graphs.get_mut(&graph) {
                        *g.finished_by.entry(id).or_default() += 1;
                    }
                    if let Some(w) = workers.get_mut(&id) {
                        w.counted(counters);
                    }
                    vec![Event::TaskFinished { worker: id, graph, task: task as usize, bytes }]
                }
                ToScheduler::Heartbeat(beat) => {
                    if let Some(w) = workers.get_mut(&id) {
                        w.heard(beat);
                    }
                    vec![Event::Heartbeat { worker: id, at_ms: started.elapsed().as_millis() as u64 }]
                }
                ToScheduler::StealAnswer { graph, task, stolen } => {
                    vec![Event::StealAnswered { worker: id, graph, task: task as usize, stolen }]
                }
                ToScheduler::InputsLost { graph, task } => {
                    vec![Event::InputsLost { worker: id, graph, task: task as usize }]
                }
                ToScheduler::Failed { graph, task, error, kind } => {
                    vec![Event::TaskFailed { worker: id, graph, task: task as usize, error, kind }]
                }
                ToScheduler::Retiring => {
                    if let Some(w) = workers.get_mut(&id) {
                        tracing::info!("scheduler: worker {} is leaving; handing over what it holds", w.status.name);
                        w.leaving = true;
                    }
                    vec![Event::WorkerRetiring { worker: id }]
                }
                ToScheduler::Copied { graph, task, copied } => {
                    vec![Event::ValueCopied { worker: id, graph, task: task as usize, copied }]
                }
                // Decoded on the connection's task: it arrives as `Input::Submitted`.
                ToScheduler::Submit { .. } => vec![],
                ToScheduler::Load => {
                    let (ready, in_flight) = core.backlog();
                    let load = Load { ready: ready as u64, in_flight: in_flight as u64, workers: workers.len() as u64 };
                    if let Some(c) = clients.get(&id) {
                        let _ = c.send(FromScheduler::Load(load));
                    }
                    vec![]
                }
                ToScheduler::Status => {
                    // A snapshot: the finished tasks stay for the clients watching runs.
                    if let Some(c) = clients.get(&id) {
                        let _ = c.send(FromScheduler::Workers(statuses(&mut workers, false)));
                    }
                    vec![]
                }
                ToScheduler::Delivered { request } | ToScheduler::Cancel { request } => {
                    let done: Vec<u64> = graphs
                        .iter()
                        .filter(|(_, g)| g.client == id && g.request == request)
                        .map(|(&k, _)| k)
                        .collect();
                    done.into_iter()
                        .inspect(|k| {
                            graphs.remove(k);
                        })
                        .map(|graph| Event::ResultsDelivered { graph })
                        .collect()
                }
            },
        };
        for event in events {
            for command in core.handle(event) {
                dispatch(command, &mut workers, &clients, &mut graphs);
            }
        }
    }
}

/// Every worker's status, by name; with `take_recent`, with the tasks each finished
/// since the last such call (the task stream's spans, handed out once).
fn statuses(workers: &mut HashMap<u64, Worker>, take_recent: bool) -> Vec<WorkerStatus> {
    let now = Instant::now();
    let mut status: Vec<WorkerStatus> =
        workers.values_mut().map(|w| if take_recent { w.status_now(now) } else { w.status.clone() }).collect();
    status.sort_by(|a, b| a.name.cmp(&b.name));
    status
}

impl Worker {
    /// It said it is leaving, or was told it may: its going is not a loss.
    fn left_on_purpose(&self) -> bool {
        self.retired || self.leaving
    }

    /// Its status, with the tasks finished since the last one (ages counted from `now`).
    fn status_now(&mut self, now: Instant) -> WorkerStatus {
        let mut status = self.status.clone();
        status.recent = self
            .recent
            .drain(..)
            .map(|(span, heard)| tessera_metrics::TaskSpan {
                ended_ms_ago: span.ended_ms_ago + now.duration_since(heard).as_millis() as u64,
                ..span
            })
            .collect();
        status
    }

    /// Counters that came with a finished task: newer than the last heartbeat.
    fn counted(&mut self, c: Counters) {
        let b = &mut self.beat;
        b.cpu_seconds = b.cpu_seconds.max(c.cpu_seconds);
        b.bytes_in = b.bytes_in.max(c.bytes_in);
        b.bytes_out = b.bytes_out.max(c.bytes_out);
        b.fetch_seconds = b.fetch_seconds.max(c.fetch_seconds);
        b.spilled_bytes = b.spilled_bytes.max(c.spilled_bytes);
        b.bytes_read = b.bytes_read.max(c.bytes_read);
        b.bytes_written = b.bytes_written.max(c.bytes_written);
    }

    fn heard(&mut self, beat: Beat) {
        let now = Instant::now();
        let wall = now.duration_since(self.beat_at).as_secs_f64();
        if wall > 0.0 {
            self.status.cpu_percent = 100.0 * (beat.cpu_seconds - self.beat_cpu).max(0.0) / wall;
        }
        self.beat_cpu = beat.cpu_seconds;
        self.status.rss_bytes = beat.rss_bytes;
        self.status.held_bytes = beat.held_bytes;
        self.status.spilled_bytes = beat.spilled_bytes;
        self.status.bytes_in = beat.bytes_in;
        self.status.bytes_out = beat.bytes_out;
        self.status.bytes_read = beat.bytes_read;
        self.status.bytes_written = beat.bytes_written;
        self.status.tasks_running = beat.tasks_running;
        self.status.tasks_done = beat.tasks_done;
        // Kept only until the next status goes out; bounded when nobody is watching.
        if self.recent.len() < 4096 {
            self.recent.extend(beat.recent.iter().map(|span| (*span, now)));
        }
        // A finished task may have brought newer counters than this beat: keep the larger.
        let newer = Counters {
            cpu_seconds: self.beat.cpu_seconds,
            bytes_in: self.beat.bytes_in,
            bytes_out: self.beat.bytes_out,
            fetch_seconds: self.beat.fetch_seconds,
            spilled_bytes: self.beat.spilled_bytes,
            bytes_read: self.beat.bytes_read,
            bytes_written: self.beat.bytes_written,
        };
        self.beat = beat;
        self.counted(newer);
        self.beat_at = now;
    }
}

fn dispatch(
    command: Command,
    workers: &mut HashMap<u64, Worker>,
    clients: &HashMap<u64, UnboundedSender<FromScheduler>>,
    graphs: &mut HashMap<u64, Graph>,
) {
    if let Command::Disconnect { worker } = command {
        if let Some(w) = workers.remove(&worker) {
            if w.left_on_purpose() {
                tracing::info!("scheduler: worker {} left", w.status.name);
            } else {
                tracing::warn!("scheduler: worker {} missed its heartbeats; recomputing what it held", w.status.name);
            }
            w.conn.close(2u32.into(), b"missed heartbeats");
        }
        return;
    }
    if let Command::Retire { worker } = command {
        if let Some(w) = workers.get_mut(&worker) {
            tracing::info!("scheduler: worker {} has handed everything over and may go", w.status.name);
            w.retired = true;
            let _ = w.tx.send(FromScheduler::Retire);
        }
        return;
    }
    let workers = &*workers;
    let to_worker = |w: u64, m: FromScheduler| {
        if let Some(worker) = workers.get(&w) {
            let _ = worker.tx.send(m);
        }
    };
    match command {
        Command::ShareGraph { worker, graph } => {
            if let Some(g) = graphs.get(&graph) {
                to_worker(worker, FromScheduler::Graph { graph, tasks: SharedBytes(g.bytes.clone()) });
            }
        }
        Command::Compute { worker, graph, task, inputs } => {
            let inputs = inputs
                .into_iter()
                .map(|(dep, holder)| {
                    (dep as u64, (holder != worker).then(|| workers.get(&holder).map(|w| w.peer.clone())).flatten())
                })
                .collect();
            to_worker(worker, FromScheduler::Compute { graph, task: task as u64, inputs });
        }
        Command::Release { worker, graph, task } => {
            to_worker(worker, FromScheduler::Release { graph, task: task as u64 })
        }
        Command::Steal { worker, graph, task } => to_worker(worker, FromScheduler::Steal { graph, task: task as u64 }),
        Command::Forget { worker, graph } => to_worker(worker, FromScheduler::Forget { graph }),
        Command::Copy { worker, graph, task, from } => {
            if let Some(from) = workers.get(&from).map(|w| w.peer.clone()) {
                to_worker(worker, FromScheduler::Copy { graph, task: task as u64, from });
            }
        }
        Command::Disconnect { .. } | Command::Retire { .. } => {}
        Command::Progress { client, graph, done, total, layers } => {
            if let (Some(c), Some(g)) = (clients.get(&client), graphs.get_mut(&graph)) {
                // At most ~200 progress messages per graph.
                let step = (done as u64 * 200) / total.max(1) as u64;
                if step != g.last_progress || done == total {
                    g.last_progress = step;
                    let layers = layers.into_iter().map(|n| n as u64).collect();
                    let (request, done, total) = (g.request, done as u64, total as u64);
                    let _ = c.send(FromScheduler::Progress { request, done, total, layers });
                }
            }
        }
        Command::Finished { client, graph, outputs } => {
            let Some(g) = graphs.get(&graph) else { return };
            let usage = g.usage(workers);
            let shares: Vec<String> = usage.iter().map(|u| format!("{} tasks on {}", u.tasks, u.name)).collect();
            tracing::info!("scheduler: graph {graph} finished: {}", shares.join(", "));
            if let Some(c) = clients.get(&client) {
                let outputs = outputs
                    .into_iter()
                    .filter_map(|(task, holder)| workers.get(&holder).map(|w| (task as u64, w.peer.clone())))
                    .collect();
                let _ = c.send(FromScheduler::Result { request: g.request, graph, outputs, usage });
            }
        }
        Command::Failed { client, graph, error, kind } => {
            let request = graphs.remove(&graph).map_or(0, |g| g.request);
            if let Some(c) = clients.get(&client) {
                let _ = c.send(FromScheduler::Failed { request, error, kind });
            }
        }
    }
}

/// Pumps one authenticated connection: frames in become inputs, messages out become frames.
async fn connection(
    id: u64,
    conn: Connection,
    role: Role,
    mut send: SendStream,
    mut recv: RecvStream,
    tx: UnboundedSender<Input>,
) {
    let (out_tx, mut out_rx) = unbounded_channel::<FromScheduler>();
    let proved = if matches!(role, Role::Client) { Sender::Client } else { Sender::Worker };
    let limit = if proved == Sender::Client { GRAPH_FRAME_LIMIT } else { MAX_FRAME_BYTES };
    if tx.send(Input::Joined { id, role, tx: out_tx, conn: conn.clone() }).is_err() {
        return;
    }
    let writer = tokio::spawn(async move { while let Ok(true) = write_batch(&mut send, &mut out_rx).await {} });
    loop {
        match read_frame::<_, ToScheduler>(&mut recv, limit).await {
            Ok(message) if message.sender() != proved => {
                tracing::warn!(
                    "scheduler: ignored {} from {} {id}: only a {} may send it",
                    message.name(),
                    if proved == Sender::Client { "client" } else { "worker" },
                    if proved == Sender::Client { "worker" } else { "client" },
                );
            }
            Ok(ToScheduler::Submit { request, tasks, gpu_only }) => {
                let bytes: Arc<[u8]> = Arc::from(tasks);
                let shared = bytes.clone();
                let graph = tokio::task::spawn_blocking(move || decode_graph(&shared))
                    .await
                    .unwrap_or_else(|e| Err(format!("decoding failed: {e}")));
                if tx.send(Input::Submitted { id, request, graph, bytes, gpu_only }).is_err() {
                    break;
                }
            }
            Ok(message) => {
                if tx.send(Input::Message { id, message }).is_err() {
                    break;
                }
            }
            Err(e) => {
                if conn.close_reason().is_none() {
                    tracing::warn!("scheduler: dropping peer {id}: {e}");
                    conn.close(1u32.into(), b"protocol error");
                }
                break;
            }
        }
    }
    writer.abort();
    let _ = tx.send(Input::Lost { id });
}

/// A graph from a client, decoded and fully validated before any task of it runs.
fn decode_graph(bytes: &[u8]) -> Result<Arc<TaskGraph>, String> {
    let graph = rmp_serde::from_slice::<TaskGraph>(bytes).map_err(|e| e.to_string())?;
    graph.validate()?;
    Ok(Arc::new(graph))
}
