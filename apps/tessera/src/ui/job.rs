//! One computation started from the UI, on a thread of its own; it reports progress,
//! the workers' (or threads') state and its outcome as [`JobEvent`]s.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use tessera::cluster::{Client, Watch};
use tessera::{ChunkSpec, LowerOptions, Observer, Scheduler, TaskGraph, WorkerStatus, lower};
use tessera_expr::EvalOptions;
use tessera_metrics::{Usage, current_rss_bytes};

use super::model::{AS_WRITTEN, RunRecord, Span, WorkerRow};
use crate::evaluate::evaluate_array;
use crate::fit::check_fits;
use crate::ops::Ops;
use crate::report::short_result;
use crate::run::run_usage;

/// How often a local run samples its threads.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// What a job tells the UI.
#[derive(Debug)]
pub enum JobEvent {
    /// The graph is lowered: its operations and their task counts.
    Started(Vec<(String, u64)>),
    /// Tasks done per operation.
    Progress(Vec<u64>),
    /// The workers' or threads' state now.
    Workers(Vec<WorkerRow>),
    /// Tasks that finished, for the task stream.
    Spans(Vec<Span>),
    /// The run ended.
    Finished(Result<RunRecord, String>),
}

/// What to run and where.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The expression.
    pub expr: String,
    /// `--chunks`, or [`AS_WRITTEN`].
    pub chunks: String,
    /// Threads for a local run (without a cluster file).
    pub threads: usize,
    /// The cluster file, for cluster runs.
    pub cluster_file: Option<PathBuf>,
    /// The memory limit.
    pub memory_limit: u64,
    /// Where it runs, for the history.
    pub label: &'static str,
    /// Set by the UI to stop the run.
    pub cancel: std::sync::Arc<AtomicBool>,
}

/// Runs the job to the end, sending events; never panics into the UI.
pub fn run(spec: JobSpec, tx: Sender<JobEvent>) {
    let outcome = execute(&spec, &tx);
    let _ = tx.send(JobEvent::Finished(outcome));
}

fn execute(spec: &JobSpec, tx: &Sender<JobEvent>) -> Result<RunRecord, String> {
    let chunks = match spec.chunks.as_str() {
        AS_WRITTEN => None,
        c => Some(ChunkSpec::parse(c).map_err(|e| e.to_string())?),
    };
    let auto_bytes = tessera::chunk_byte_target().map_err(|e| e.to_string())?;
    let array = evaluate_array(&spec.expr, &EvalOptions { chunks, auto_bytes }).map_err(|e| e.to_string())?;
    let before = Usage::now();
    let start = Instant::now();
    let options = LowerOptions::default();
    let graph = lower(&array, &options).map_err(|e| e.to_string())?;
    check_fits(&graph, &spec.expr, auto_bytes, &options, spec.memory_limit).map_err(|e| e.to_string())?;
    let ops = Ops::of(&graph);
    let _ = tx.send(JobEvent::Started(ops.names.clone()));
    let (computed, scheduler) = match &spec.cluster_file {
        Some(file) => {
            let mut client = Client::connect(file).map_err(|e| e.to_string())?;
            let watch = ClusterWatch { ops: &ops, tx, start, cancel: &spec.cancel };
            (
                tessera::run_graph_on_cluster(&graph, &mut client, &watch, start, false).map_err(|e| e.to_string())?,
                spec.label,
            )
        }
        None => (run_threads(&graph, &ops, spec, start, tx)?, "threads"),
    };
    let (cpu_percent, peak_memory_bytes) = run_usage(&before, &Usage::now(), &computed);
    let chunksize: Vec<String> = graph.work_chunksize().iter().map(usize::to_string).collect();
    Ok(RunRecord {
        chunks: chunksize.join("x"),
        result: short_result(&computed.block),
        wall_s: computed.wall.as_secs_f64(),
        tasks: computed.tasks as u64,
        cpu_percent,
        peak_memory_bytes,
        spilled_bytes: computed.spilled_bytes,
        scheduler,
    })
}

/// Counts finished tasks per layer and busy time per thread, and keeps the tasks
/// finished since the last sample.
struct Counting<'a> {
    cancel: &'a AtomicBool,
    per_layer: Vec<AtomicU64>,
    busy_nanos: Vec<AtomicU64>,
    finished: std::sync::Mutex<Vec<(usize, usize, Instant, Duration)>>,
}

impl Observer for Counting<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.load(Relaxed)
    }

    fn task_finished(&self, graph: &TaskGraph, task: usize, thread: usize, busy: Duration) {
        let layer = graph.tasks[task].layer;
        if let Some(c) = self.per_layer.get(layer) {
            c.fetch_add(1, Relaxed);
        }
        if let Ok(mut f) = self.finished.lock() {
            f.push((thread, layer, Instant::now(), busy));
        }
        if let Some(b) = self.busy_nanos.get(thread) {
            b.fetch_add(busy.as_nanos() as u64, Relaxed);
        }
    }
}

fn run_threads(
    graph: &TaskGraph,
    ops: &Ops,
    spec: &JobSpec,
    start: Instant,
    tx: &Sender<JobEvent>,
) -> Result<tessera::Computed, String> {
    let threads = spec.threads.max(1);
    let counting = Counting {
        cancel: &spec.cancel,
        per_layer: graph.layers.iter().map(|_| AtomicU64::new(0)).collect(),
        busy_nanos: (0..threads).map(|_| AtomicU64::new(0)).collect(),
        finished: std::sync::Mutex::new(Vec::new()),
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut last_busy = vec![0u64; threads];
            let mut last = Instant::now();
            while !done.load(Relaxed) {
                std::thread::sleep(SAMPLE_EVERY);
                let now = Instant::now();
                let interval = now.duration_since(last).as_nanos().max(1) as f64;
                last = now;
                let per_layer = counting.per_layer.iter().enumerate().map(|(l, c)| (l, c.load(Relaxed)));
                let _ = tx.send(JobEvent::Progress(ops.per_op(per_layer)));
                let rss = current_rss_bytes();
                let rows = (0..threads)
                    .map(|t| {
                        let busy = counting.busy_nanos[t].load(Relaxed);
                        let delta = busy.saturating_sub(last_busy[t]);
                        last_busy[t] = busy;
                        WorkerRow {
                            name: format!("thread-{t}"),
                            cpu_percent: (100.0 * delta as f64 / interval).min(100.0),
                            memory_bytes: rss,
                            memory_limit: spec.memory_limit,
                            ..WorkerRow::default()
                        }
                    })
                    .collect();
                let _ = tx.send(JobEvent::Workers(rows));
                let finished = counting.finished.lock().map(|mut f| std::mem::take(&mut *f)).unwrap_or_default();
                let spans = finished
                    .into_iter()
                    .map(|(thread, layer, end, busy)| {
                        let end_s = end.duration_since(start).as_secs_f64();
                        Span {
                            lane: format!("thread-{thread}"),
                            op: ops.of_layer[layer],
                            start_s: end_s - busy.as_secs_f64(),
                            end_s,
                        }
                    })
                    .collect();
                let _ = tx.send(JobEvent::Spans(spans));
            }
        });
        let budget = spec.memory_limit.saturating_sub(current_rss_bytes());
        let result = tessera::run_graph_within(graph, Scheduler::Threads(threads), &counting, start, budget);
        done.store(true, Relaxed);
        result.map_err(|e| e.to_string())
    })
}

/// Forwards a cluster run's progress and worker state.
struct ClusterWatch<'a> {
    ops: &'a Ops,
    tx: &'a Sender<JobEvent>,
    start: Instant,
    cancel: &'a AtomicBool,
}

impl Watch for ClusterWatch<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.load(Relaxed)
    }

    fn progress(&self, _done: u64, _total: u64, layers: &[u64]) {
        let _ = self.tx.send(JobEvent::Progress(self.ops.per_op(layers.iter().copied().enumerate())));
    }

    fn workers(&self, workers: &[WorkerStatus]) {
        let rows = workers
            .iter()
            .map(|w| WorkerRow {
                name: w.name.clone(),
                cpu_percent: w.cpu_percent,
                memory_bytes: w.rss_bytes,
                memory_limit: w.memory_limit,
                running: w.tasks_running,
                done: w.tasks_done,
                bytes_in: w.bytes_in,
                bytes_out: w.bytes_out,
                spilled_bytes: w.spilled_bytes,
                ..WorkerRow::default()
            })
            .collect();
        let _ = self.tx.send(JobEvent::Workers(rows));
        let now_s = self.start.elapsed().as_secs_f64();
        let spans = workers
            .iter()
            .flat_map(|w| w.recent.iter().map(move |s| (w, s)))
            .filter_map(|(w, s)| {
                // Spans of another client's graph may name layers this graph lacks.
                let op = *self.ops.of_layer.get(s.layer as usize)?;
                let end_s = now_s - s.ended_ms_ago as f64 / 1000.0;
                let start_s = end_s - s.duration_ms as f64 / 1000.0;
                Some(Span { lane: format!("{}:{}", w.name, s.slot), op, start_s, end_s })
            })
            .collect();
        let _ = self.tx.send(JobEvent::Spans(spans));
    }
}
