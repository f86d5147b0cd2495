//! The worker process: an I/O pump around the sans-IO [`WorkerCore`].
//!
//! Frames from the scheduler become core events; the core's commands become a fetch
//! from a peer, a kernel run (on the event loop when tiny, on a blocking thread
//! otherwise) or a frame to the scheduler, and their outcomes become events again.
//! Every decision (queue order, admission within the memory budget, spilling, steal
//! answers, which inputs to gather from whom) is the core's, tested by the simulator.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_graph::TaskGraph;
use tessera_kernels::{Backend, KernelError, Value};
use tessera_metrics::current_rss_bytes;
use tessera_runtime::distributed::{HEARTBEAT_INTERVAL_MS, Report, WorkerCommand, WorkerCore, WorkerEvent};
use tessera_runtime::store::Held;
use tessera_transport::{
    BulkListener, ClusterFile, ClusterIdentity, Role, client_endpoint, connect, read_frame, send_hello,
    server_endpoint, write_batch,
};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::lock;
use crate::peers::{PeerPool, serve_bulk, serve_peers};
use crate::protocol::{FailureKind, FromScheduler, GRAPH_FRAME_LIMIT, Peer, ToScheduler};
use crate::worker_counters::Counters;
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

/// What the worker's tasks share: the core, and the means to carry out its commands.
pub(crate) struct Shared {
    core: Mutex<WorkerCore<Peer>>,
    pub(crate) counters: Counters,
    /// Graphs whose blocks are small enough for tiny tasks to run on the event loop.
    small_blocks: Mutex<HashMap<u64, bool>>,
    backend: Arc<dyn Backend>,
    peers: PeerPool,
    to_scheduler: UnboundedSender<ToScheduler>,
}

impl Shared {
    /// A held value for a peer, read back from disk (outside the lock) if it was
    /// spilled; `None` if it is not here or its file cannot be read.
    pub(crate) fn value(&self, graph: u64, task: u64) -> Option<Arc<Value>> {
        let held = lock(&self.core).value(&(graph, task as usize))?;
        held.load().ok()
    }

    fn beat(&self) -> ToScheduler {
        let (held, spilled) = {
            let core = lock(&self.core);
            (core.held_bytes(), core.spilled_bytes())
        };
        ToScheduler::Heartbeat(self.counters.beat(held, spilled))
    }
}

/// Feeds one event to the core and carries out what it asks.
fn handle(shared: &Arc<Shared>, event: WorkerEvent<Peer>) {
    let commands = lock(&shared.core).handle(event);
    for command in commands {
        match command {
            WorkerCommand::Report(report) => report_to_scheduler(shared, report),
            WorkerCommand::Fetch { graph, task, dep, from } => {
                fetch_then(shared, from, graph, dep, move |value| WorkerEvent::Fetched { graph, task, dep, value })
            }
            WorkerCommand::Copy { graph, task, from } => {
                fetch_then(shared, from, graph, task, move |value| WorkerEvent::Copied { graph, task, value })
            }
            WorkerCommand::Run { graph, tasks, task, inputs } => {
                let shared = shared.clone();
                tokio::spawn(async move { run_task(shared, graph, tasks, task, inputs).await });
            }
        }
    }
}

/// Fetches the value of `(graph, task)` from `from` (counted as a fetch), then hands
/// the core the event `then` makes of it.
fn fetch_then(
    shared: &Arc<Shared>,
    from: Peer,
    graph: u64,
    task: usize,
    then: impl FnOnce(Option<Value>) -> WorkerEvent<Peer> + Send + 'static,
) {
    let shared = shared.clone();
    tokio::spawn(async move {
        shared.counters.fetch_started();
        let value = shared.peers.fetch(&from, graph, task as u64).await;
        shared.counters.fetch_ended(value.as_ref().map_or(0, |v| v.nbytes() as u64));
        handle(&shared, then(value));
    });
}

fn report_to_scheduler(shared: &Shared, report: Report) {
    let message = match report {
        Report::Finished { graph, task, bytes } => {
            shared.counters.done.fetch_add(1, Relaxed);
            let spilled = lock(&shared.core).spilled_bytes();
            ToScheduler::Finished { graph, task: task as u64, bytes, counters: shared.counters.sent(spilled) }
        }
        Report::StealAnswer { graph, task, stolen } => ToScheduler::StealAnswer { graph, task: task as u64, stolen },
        Report::InputsLost { graph, task } => ToScheduler::InputsLost { graph, task: task as u64 },
        Report::Copied { graph, task, copied } => ToScheduler::Copied { graph, task: task as u64, copied },
        Report::Failed { graph, task, error, kind } => ToScheduler::Failed { graph, task: task as u64, error, kind },
    };
    let _ = shared.to_scheduler.send(message);
}

/// Runs one admitted task: spilled inputs read back, then the kernel; tiny tasks on
/// the event loop (handing them to a thread costs more than they do).
async fn run_task(shared: Arc<Shared>, graph: u64, tasks: Arc<TaskGraph>, task: usize, inputs: Vec<Held>) {
    let inline = lock(&shared.small_blocks).get(&graph).copied().unwrap_or(false)
        && tasks.tasks[task].projected_bytes <= INLINE_TASK_BYTES;
    let layer = tasks.tasks[task].layer as u32;
    let counters = &shared.counters;
    counters.running.fetch_add(1, Relaxed);
    let (lane, started) = (counters.take_lane(), Instant::now());
    let backend = shared.backend.clone();
    let run = move || -> Option<Result<Value, KernelError>> {
        let values: Vec<Arc<Value>> = inputs.into_iter().map(Held::load).collect::<Result<_, _>>().ok()?;
        let refs: Vec<&Value> = values.iter().map(|v| v.as_ref()).collect();
        Some(backend.execute(&tasks, task, &refs))
    };
    let outcome = if inline {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).map_err(|_| "the task panicked".to_string())
    } else {
        tokio::task::spawn_blocking(run).await.map_err(|e| format!("the task panicked: {e}"))
    };
    counters.running.fetch_sub(1, Relaxed);
    counters.task_done(layer, lane, started);
    let event = match outcome {
        Ok(None) => WorkerEvent::InputUnreadable { graph, task },
        Ok(Some(result)) => WorkerEvent::Computed {
            graph,
            task,
            result: result.map_err(|e| {
                // Values numpy refuses are the input's fault, here as in a local run.
                let kind =
                    if matches!(e, KernelError::Value { .. }) { FailureKind::BadInput } else { FailureKind::Failed };
                (e.to_string(), kind)
            }),
        },
        Err(error) => WorkerEvent::Computed { graph, task, result: Err((error, FailureKind::Failed)) },
    };
    handle(&shared, event);
}

/// The local address this machine uses to reach `target` (what peers should dial;
/// `target`'s own address if there is no route to it).
pub fn local_ip_towards(target: SocketAddr) -> std::net::IpAddr {
    UdpSocket::bind(("0.0.0.0", 0))
        .and_then(|s| s.connect(target).and_then(|_| s.local_addr()))
        .map(|a| a.ip())
        .unwrap_or(target.ip())
}

/// Asks a running worker to leave gracefully: it stops taking tasks, hands the values
/// others still need to workers that stay, and returns once the scheduler lets it go
/// (or after [`RETIRE_GRACE`]). What SIGTERM means to `tessera worker`: a batch job's
/// end (walltime, `scancel`, preemption) or a Kubernetes pod's stop.
#[derive(Clone, Default)]
pub struct Retirement(Arc<(tokio::sync::Notify, AtomicBool)>);

impl Retirement {
    /// A retirement nobody has asked for yet.
    pub fn new() -> Retirement {
        Retirement::default()
    }

    /// Asks the worker to leave (from any thread, before or after it joined).
    pub fn request(&self) {
        self.0.1.store(true, Relaxed);
        self.0.0.notify_one();
    }

    /// Whether leaving was asked for.
    fn requested(&self) -> bool {
        self.0.1.load(Relaxed)
    }
}

/// How long a leaving worker waits to be let go before it leaves anyway (under Slurm's
/// default `KillWait` and Kubernetes' default grace period, both 30 s); what it still
/// holds is then recomputed.
pub const RETIRE_GRACE: Duration = Duration::from_secs(20);

/// How long a leaving worker that holds nothing waits to be let go.
const IDLE_RETIRE_GRACE: Duration = Duration::from_secs(2);

/// Closes the connection to the scheduler so that it hears at once that this worker
/// left (a process that just exits is noticed only when its heartbeats stop).
async fn leave(conn: &quinn::Connection, endpoint: &quinn::Endpoint) -> Result<(), ClusterError> {
    conn.close(0u32.into(), b"left");
    let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
    Ok(())
}

/// Joins the cluster and works until the scheduler goes away (which is an error).
pub async fn run_worker(file: ClusterFile, options: WorkerOptions) -> Result<(), ClusterError> {
    run_worker_until(file, options, Retirement::new(), |_| {}).await
}

/// [`run_worker`] that leaves gracefully when `retirement` is requested (returning
/// `Ok`), and tells `on_joined` the scheduler's address once it has joined.
pub async fn run_worker_until(
    file: ClusterFile,
    options: WorkerOptions,
    retirement: Retirement,
    on_joined: impl FnOnce(SocketAddr),
) -> Result<(), ClusterError> {
    // The peer endpoint has its own certificate; peers prove the cluster secret to it.
    let mut identity = ClusterIdentity::generate()?;
    identity.secret = file.secret;
    let ip = local_ip_towards(file.address);
    let bind_ip = if ip.is_loopback() { ip } else { [0, 0, 0, 0].into() };
    let peer_endpoint = server_endpoint(&identity, SocketAddr::new(bind_ip, 0))?;
    let port = peer_endpoint.local_addr().map_err(|e| ClusterError::Failed(e.to_string()))?.port();
    let listen = SocketAddr::new(ip, port);
    // Values go out on the bulk plane; QUIC stays for peers that cannot reach it.
    let bulk_listener = BulkListener::bind(&identity, SocketAddr::new(bind_ip, 0)).await?;
    let bulk = Some(SocketAddr::new(ip, bulk_listener.local_addr()?.port()));

    let endpoint = client_endpoint(&file.certificate)?;
    let conn = connect(&endpoint, file.address, CONNECT_TIMEOUT).await?;
    let role = Role::Worker {
        name: options.name.clone(),
        threads: options.threads as u32,
        memory_limit: options.memory_limit,
        listen,
        bulk,
        certificate: identity.certificate.clone(),
        gpu: options.gpu.clone(),
    };
    let (mut send, mut recv) = send_hello(&conn, &file.secret, role).await?;
    let device = options.gpu.as_deref().map_or_else(|| "CPU".to_string(), |g| format!("GPU {g}"));
    tracing::debug!("worker {}: joined {} ({} threads, {device})", options.name, file.address, options.threads);
    on_joined(file.address);

    let (out_tx, mut out_rx) = unbounded_channel::<ToScheduler>();
    tokio::spawn(async move { while let Ok(true) = write_batch(&mut send, &mut out_rx).await {} });
    // The budget for values and running tasks: the limit less what the process uses now
    // and an eighth of the limit for what the process itself grows by while it runs
    // (code paged in, network buffers, the allocator's slack).
    let budget = options.memory_limit.saturating_sub(current_rss_bytes()).saturating_sub(options.memory_limit / 8);
    let shared = Arc::new(Shared {
        core: Mutex::new(WorkerCore::new(options.threads, budget)),
        counters: Counters::default(),
        small_blocks: Mutex::new(HashMap::new()),
        backend: options.backend.clone(),
        peers: PeerPool::new(file.secret),
        to_scheduler: out_tx.clone(),
    });
    tokio::spawn(serve_peers(peer_endpoint, file.secret, shared.clone()));
    tokio::spawn(serve_bulk(bulk_listener, file.secret, shared.clone()));
    let beats = shared.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(HEARTBEAT_INTERVAL_MS));
        loop {
            every.tick().await;
            if beats.to_scheduler.send(beats.beat()).is_err() {
                break;
            }
        }
    });
    // Frames are read on a task of their own: a frame read half-way must not be dropped
    // when a retirement request wakes the loop.
    let (frames_tx, mut frames) = unbounded_channel();
    tokio::spawn(async move {
        loop {
            let frame = read_frame::<_, FromScheduler>(&mut recv, GRAPH_FRAME_LIMIT).await;
            let failed = frame.is_err();
            if frames_tx.send(frame).is_err() || failed {
                break;
            }
        }
    });
    let mut leaving: Option<tokio::time::Instant> = None;
    loop {
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
        let message = tokio::select! {
            frame = frames.recv() => match frame {
                Some(Ok(message)) => message,
                // A leaving worker whose scheduler stopped has nothing left to hand over.
                _ if leaving.is_some() || retirement.requested() => return leave(&conn, &endpoint).await,
                Some(Err(e)) => return Err(ClusterError::SchedulerLost(e.to_string())),
                None => return Err(ClusterError::SchedulerLost("the connection closed".into())),
            },
            () = retirement.0.0.notified(), if leaving.is_none() => {
                let _ = out_tx.send(ToScheduler::Retiring);
                // Nothing held, queued or running: only the scheduler's answer to wait
                // for, briefly (it may be stopping too, silently).
                let grace = if lock(&shared.core).idle() { IDLE_RETIRE_GRACE } else { RETIRE_GRACE };
                tracing::info!("worker {}: leaving; handing over what it holds", options.name);
                leaving = Some(tokio::time::Instant::now() + grace);
                continue;
            }
            () = tokio::time::sleep_until(leaving.unwrap_or(far)), if leaving.is_some() => {
                tracing::warn!("worker {}: not let go in time; leaving (what it holds is recomputed)", options.name);
                return leave(&conn, &endpoint).await;
            }
        };
        let event = match message {
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
                let small = decoded.work_chunksize().iter().product::<usize>() <= INLINE_BLOCK_ELEMENTS;
                lock(&shared.small_blocks).insert(graph, small);
                WorkerEvent::Graph { graph, tasks: Arc::new(decoded) }
            }
            FromScheduler::Compute { graph, task, inputs } => WorkerEvent::Compute {
                graph,
                task: task as usize,
                inputs: inputs.into_iter().map(|(dep, peer)| (dep as usize, peer)).collect(),
            },
            FromScheduler::Steal { graph, task } => WorkerEvent::Steal { graph, task: task as usize },
            FromScheduler::Release { graph, task } => WorkerEvent::Release { graph, task: task as usize },
            FromScheduler::Copy { graph, task, from } => WorkerEvent::Copy { graph, task: task as usize, from },
            FromScheduler::Retire => {
                tracing::info!("worker {}: handed everything over; leaving", options.name);
                return leave(&conn, &endpoint).await;
            }
            FromScheduler::Forget { graph } => {
                lock(&shared.small_blocks).remove(&graph);
                WorkerEvent::Forget { graph }
            }
            FromScheduler::Progress { .. }
            | FromScheduler::Result { .. }
            | FromScheduler::Failed { .. }
            | FromScheduler::Workers(_)
            | FromScheduler::Load(_) => continue,
        };
        handle(&shared, event);
    }
}
