//! One computation started from the UI, on a thread of its own; it reports progress,
//! the workers' (or threads') state and its outcome as [`JobEvent`]s.
//!
//! Local and cluster runs feed the same [`RunProgress`] sink; a sampler turns it into
//! events four times a second, whatever ran the graph.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use tessera::cluster::Client;
use tessera::observe::{SinkObserver, SinkWatch};
use tessera::{
    ChunkSpec, Lane, LowerOptions, Plan, PlanOptions, Program, RunProgress, Scheduler, Sink, Source, TaskEvent,
    WorkerStatus,
};
use tessera_metrics::{Usage, current_rss_bytes};

use super::model::{AS_WRITTEN, RunRecord, Span, WorkerRow};
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
    let program = Program::parse(&spec.expr).map_err(|e| e.to_string())?;
    let before = Usage::now();
    let start = Instant::now();
    let options = PlanOptions { chunks, auto_bytes, lower: LowerOptions::default(), memory_limit: spec.memory_limit };
    let Plan { graph, .. } = tessera::plan(Source::Program(&program), &options).map_err(|e| e.to_string())?;
    let sink = JobSink { progress: tessera::observe::run_progress(&graph), cancel: &spec.cancel };
    let _ = tx.send(JobEvent::Started(sink.progress.ops().to_vec()));
    let done = AtomicBool::new(false);
    let local_threads = spec.cluster_file.is_none().then_some(spec.threads.max(1));
    let (computed, scheduler) = std::thread::scope(|scope| {
        scope.spawn(|| sample(&sink.progress, local_threads, spec.memory_limit, &done, tx));
        let ran = match &spec.cluster_file {
            Some(file) => Client::connect(file).map_err(|e| e.to_string()).and_then(|mut client| {
                let watch = SinkWatch::new(&sink, start);
                tessera::run_graph_on_cluster(&graph, &mut client, &watch, start, false).map_err(|e| e.to_string())
            }),
            None => {
                let observer = SinkObserver::new(&sink, start);
                let budget = spec.memory_limit.saturating_sub(current_rss_bytes());
                let threads = Scheduler::Threads(spec.threads.max(1));
                tessera::run_graph_within(&graph, threads, &observer, start, budget).map_err(|e| e.to_string())
            }
        };
        done.store(true, Relaxed);
        ran.map(|c| (c, spec.label))
    })?;
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

/// The job's sink: the shared aggregation, and the UI's cancel flag.
struct JobSink<'a> {
    progress: RunProgress,
    cancel: &'a AtomicBool,
}

impl Sink for JobSink<'_> {
    fn task(&self, event: &TaskEvent) {
        self.progress.task(event);
    }
    fn layer_counts(&self, done: &[u64]) {
        self.progress.layer_counts(done);
    }
    fn spans(&self, events: &[TaskEvent]) {
        self.progress.spans(events);
    }
    fn workers(&self, workers: &[WorkerStatus]) {
        self.progress.workers(workers);
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(Relaxed)
    }
}

/// Sends the run's progress, its workers (or, locally, its threads: CPU is their busy
/// share of the interval) and its finished tasks every [`SAMPLE_EVERY`] until `done`.
fn sample(
    progress: &RunProgress,
    local_threads: Option<usize>,
    memory_limit: u64,
    done: &AtomicBool,
    tx: &Sender<JobEvent>,
) {
    let mut last_busy: BTreeMap<Lane, f64> = BTreeMap::new();
    let mut last = Instant::now();
    while !done.load(Relaxed) {
        std::thread::sleep(SAMPLE_EVERY);
        let now = Instant::now();
        let interval = now.duration_since(last).as_secs_f64().max(1e-9);
        last = now;
        let _ = tx.send(JobEvent::Progress(progress.done_per_op()));
        let rows = match local_threads {
            Some(threads) => {
                let busy = progress.busy_per_lane();
                let rss = current_rss_bytes();
                (0..threads)
                    .map(|t| {
                        let lane = Lane { worker: "thread".into(), slot: t as u32 };
                        let now_busy = busy.get(&lane).copied().unwrap_or(0.0);
                        let delta = now_busy - last_busy.get(&lane).copied().unwrap_or(0.0);
                        last_busy.insert(lane.clone(), now_busy);
                        WorkerRow {
                            name: lane.label(),
                            cpu_percent: (100.0 * delta / interval).clamp(0.0, 100.0),
                            memory_bytes: rss,
                            memory_limit,
                            ..WorkerRow::default()
                        }
                    })
                    .collect()
            }
            None => progress.workers_now().iter().map(worker_row).collect(),
        };
        let _ = tx.send(JobEvent::Workers(rows));
        let spans = progress
            .take_spans()
            .into_iter()
            .map(|(e, op)| Span { lane: e.lane.label(), op, start_s: e.start_s, end_s: e.end_s })
            .collect();
        let _ = tx.send(JobEvent::Spans(spans));
    }
}

pub fn worker_row(w: &WorkerStatus) -> WorkerRow {
    WorkerRow {
        name: w.name.clone(),
        cpu_percent: w.cpu_percent,
        memory_bytes: w.rss_bytes,
        memory_limit: w.memory_limit,
        running: w.tasks_running,
        done: w.tasks_done,
        bytes_in: w.bytes_in,
        bytes_out: w.bytes_out,
        spilled_bytes: w.spilled_bytes,
        bytes_read: w.bytes_read,
        bytes_written: w.bytes_written,
        ..WorkerRow::default()
    }
}
