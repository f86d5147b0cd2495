//! What the terminal UI shows, updated by events and keys; drawing reads it only.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub use tessera::Placement;

/// Chunk sizes the chunk field cycles through; the first keeps the expression's own.
pub const CHUNK_CHOICES: [&str; 7] = [AS_WRITTEN, "auto", "1000", "2000", "4000", "10000", "20000"];
/// The chunk choice that overrides nothing.
pub const AS_WRITTEN: &str = "as written";
/// CPU samples kept per worker for its sparkline.
const HISTORY: usize = 60;

/// One operation's progress (tasks of the graph's layers with the same name).
#[derive(Debug, Clone, PartialEq)]
pub struct OpProgress {
    /// E.g. `random-mul`, `sum-partial`.
    pub name: String,
    /// Tasks finished.
    pub done: u64,
    /// Tasks in all.
    pub total: u64,
}

/// One row of the workers table: a worker process, or a thread of the local pool.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerRow {
    /// Its name.
    pub name: String,
    /// CPU use now (100 = one core).
    pub cpu_percent: f64,
    /// Recent CPU use, oldest first.
    pub cpu_history: VecDeque<u64>,
    /// Resident memory.
    pub memory_bytes: u64,
    /// Its memory limit.
    pub memory_limit: u64,
    /// Tasks computing now.
    pub running: u64,
    /// Tasks finished.
    pub done: u64,
    /// Value bytes fetched from peers.
    pub bytes_in: u64,
    /// Value bytes served.
    pub bytes_out: u64,
    /// Value bytes spilled to disk (cluster workers).
    pub spilled_bytes: u64,
    /// Bytes read from stored arrays (Zarr, .npy, HDF5).
    pub bytes_read: u64,
    /// Bytes written to stored arrays.
    pub bytes_written: u64,
}

/// One finished task on a lane (a worker's thread slot, or a local thread), in seconds
/// since the run started.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// E.g. `thread-0` or `local-1:0`.
    pub lane: String,
    /// Index into the run's operations.
    pub op: usize,
    /// When it started.
    pub start_s: f64,
    /// When it ended.
    pub end_s: f64,
}

/// Spans kept for the task stream.
const MAX_SPANS: usize = 20_000;

/// A finished run, for the history table and chart.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The chunk size asked for.
    pub chunks: String,
    /// The result, as shown.
    pub result: String,
    /// Wall time.
    pub wall_s: f64,
    /// Tasks.
    pub tasks: u64,
    /// CPU use over the run.
    pub cpu_percent: f64,
    /// Peak memory.
    pub peak_memory_bytes: u64,
    /// Bytes spilled to disk.
    pub spilled_bytes: u64,
    /// Where it ran.
    pub scheduler: &'static str,
}

/// The state of the current run.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Nothing running.
    Idle,
    /// Running since then.
    Running(Instant),
    /// Finished with this result line.
    Done(String),
    /// Failed with this message.
    Failed(String),
}

/// Everything on screen.
#[derive(Debug, Clone)]
pub struct App {
    /// The expression.
    pub expr: String,
    /// Index into [`CHUNK_CHOICES`].
    pub chunk_choice: usize,
    /// Where runs go: threads here, a local cluster the UI started, or the cluster of
    /// `--cluster-file` (the facade's one placement type).
    pub place: Placement,
    /// The memory limit of runs (split among local-cluster workers).
    pub memory_limit: u64,
    /// The run's phase.
    pub phase: Phase,
    /// Tasks done and in all.
    pub done: u64,
    /// Tasks in all.
    pub total: u64,
    /// Per operation.
    pub ops: Vec<OpProgress>,
    /// Per worker or thread.
    pub rows: Vec<WorkerRow>,
    /// Workers a launcher started that have not joined yet, with their state (a Slurm
    /// job's `PENDING (Resources)`).
    pub pending: Vec<(String, String)>,
    /// Finished runs, oldest first.
    pub history: Vec<RunRecord>,
    /// The expression being edited (`Some` while the editor is open).
    pub editing: Option<String>,
    /// Where the log goes.
    pub log_path: String,
    /// The task stream of the current run.
    pub spans: VecDeque<Span>,
    /// Chunk choices a sweep (`w`) still has to run.
    pub sweep: VecDeque<usize>,
    /// Set when the screen must be drawn again.
    pub dirty: bool,
}

impl App {
    /// A fresh UI.
    pub fn new(expr: &str, place: Placement, log_path: &str) -> App {
        App {
            expr: expr.to_string(),
            chunk_choice: 0,
            place,
            memory_limit: u64::MAX,
            phase: Phase::Idle,
            done: 0,
            total: 0,
            ops: Vec::new(),
            rows: Vec::new(),
            pending: Vec::new(),
            history: Vec::new(),
            editing: None,
            log_path: log_path.to_string(),
            spans: VecDeque::new(),
            sweep: VecDeque::new(),
            dirty: true,
        }
    }

    /// Threads (on threads) or worker processes (on a local cluster); 0 on an existing
    /// cluster, whose workers are started on their machines.
    pub fn workers(&self) -> usize {
        match self.place {
            Placement::Threads(n) | Placement::LocalCluster { workers: n, .. } => n,
            Placement::SingleThreaded => 1,
            Placement::Cluster(_) => 0,
        }
    }

    /// Sets the thread or worker count (at least 1).
    pub fn set_workers(&mut self, n: usize) {
        match &mut self.place {
            Placement::Threads(w) | Placement::LocalCluster { workers: w, .. } => *w = n.max(1),
            Placement::SingleThreaded | Placement::Cluster(_) => {}
        }
    }

    /// The chunk size field.
    pub fn chunks(&self) -> &'static str {
        CHUNK_CHOICES[self.chunk_choice % CHUNK_CHOICES.len()]
    }

    /// Whether a run is in progress.
    pub fn running(&self) -> bool {
        matches!(self.phase, Phase::Running(_))
    }

    /// A run started with these operations (name and task count, in graph order).
    pub fn started(&mut self, ops: Vec<(String, u64)>, now: Instant) {
        self.total = ops.iter().map(|o| o.1).sum();
        self.done = 0;
        self.ops = ops.into_iter().map(|(name, total)| OpProgress { name, done: 0, total }).collect();
        self.rows.clear();
        self.spans.clear();
        self.phase = Phase::Running(now);
        self.dirty = true;
    }

    /// Tasks done per operation.
    pub fn progress(&mut self, per_op: &[u64]) {
        for (op, &d) in self.ops.iter_mut().zip(per_op) {
            op.done = d.min(op.total);
        }
        self.done = self.ops.iter().map(|o| o.done).sum();
        self.dirty = true;
    }

    /// New state of the workers (or threads); keeps each one's CPU history by name.
    pub fn workers_now(&mut self, mut rows: Vec<WorkerRow>) {
        for row in &mut rows {
            let mut history =
                self.rows.iter().find(|r| r.name == row.name).map(|r| r.cpu_history.clone()).unwrap_or_default();
            history.push_back(row.cpu_percent.round().max(0.0) as u64);
            while history.len() > HISTORY {
                history.pop_front();
            }
            row.cpu_history = history;
        }
        self.rows = rows;
        self.dirty = true;
    }

    /// Tasks that finished, for the task stream (the oldest go past [`MAX_SPANS`]).
    pub fn finished_tasks(&mut self, spans: Vec<Span>) {
        self.spans.extend(spans);
        while self.spans.len() > MAX_SPANS {
            self.spans.pop_front();
        }
        self.dirty = true;
    }

    /// The task stream's lanes, sorted.
    pub fn lanes(&self) -> Vec<&str> {
        let mut lanes: Vec<&str> = self.spans.iter().map(|s| s.lane.as_str()).collect();
        lanes.sort_unstable();
        lanes.dedup();
        lanes
    }

    /// The run ended.
    pub fn finished(&mut self, outcome: Result<RunRecord, String>) {
        match outcome {
            Ok(record) => {
                self.done = self.total;
                for op in &mut self.ops {
                    op.done = op.total;
                }
                self.phase = Phase::Done(format!("{} in {:.3} s", record.result, record.wall_s));
                self.history.push(record);
            }
            Err(e) => self.phase = Phase::Failed(e),
        }
        self.dirty = true;
    }

    /// Seconds since the run started (or 0).
    pub fn elapsed(&self, now: Instant) -> Duration {
        match self.phase {
            Phase::Running(t) => now.duration_since(t),
            _ => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_and_history_follow_the_events() {
        let mut app = App::new("ones((10,)).sum()", Placement::Threads(2), "log");
        app.started(vec![("ones-sum-partial".into(), 8), ("sum-aggregate".into(), 1)], Instant::now());
        assert!(app.running());
        app.progress(&[5, 0]);
        assert_eq!((app.done, app.total), (5, 9));
        app.workers_now(vec![WorkerRow { name: "thread-0".into(), cpu_percent: 97.4, ..WorkerRow::default() }]);
        app.workers_now(vec![WorkerRow { name: "thread-0".into(), cpu_percent: 50.0, ..WorkerRow::default() }]);
        assert_eq!(app.rows[0].cpu_history, VecDeque::from(vec![97, 50]));
        let record = RunRecord {
            chunks: "auto".into(),
            result: "10.0".into(),
            wall_s: 0.5,
            tasks: 9,
            cpu_percent: 150.0,
            peak_memory_bytes: 1 << 20,
            spilled_bytes: 0,
            scheduler: "threads",
        };
        app.finished(Ok(record));
        assert_eq!(app.done, 9);
        assert_eq!(app.history.len(), 1);
        assert!(matches!(&app.phase, Phase::Done(line) if line.starts_with("10.0")));
    }
}
