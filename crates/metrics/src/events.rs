//! Task events and their aggregation: what progress bars, the UI's progress per
//! operation, its per-lane utilization and its task stream all read.
//!
//! A run feeds one [`Sink`]: a local run a [`TaskEvent`] per finished task, a cluster
//! run the scheduler's counts per layer and the workers' spans from their heartbeats.
//! [`RunProgress`] is the aggregation every renderer shares: tasks done per operation
//! (layers grouped by their operation's name, as Dask groups task prefixes), busy time
//! per lane, and the spans finished since the last look.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::WorkerStatus;

/// Where a task ran: a worker (a thread pool counts as one, named `thread`) and its
/// thread slot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lane {
    /// The worker's name (shared: one allocation per worker, not per task).
    pub worker: std::sync::Arc<str>,
    /// Its thread slot.
    pub slot: u32,
}

impl Lane {
    /// The lane's label: `thread-0` for a local thread, `local-1:0` on a cluster.
    pub fn label(&self) -> String {
        if &*self.worker == "thread" {
            format!("thread-{}", self.slot)
        } else {
            format!("{}:{}", self.worker, self.slot)
        }
    }
}

/// One finished task.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEvent {
    /// The layer of the graph it belongs to.
    pub layer: usize,
    /// Where it ran.
    pub lane: Lane,
    /// When it started, in seconds since the run began.
    pub start_s: f64,
    /// When it ended, in seconds since the run began.
    pub end_s: f64,
    /// Bytes of its result.
    pub bytes: u64,
}

/// Hears what a run is doing while it runs.
pub trait Sink: Sync {
    /// A task finished (local runs: every task, counted).
    fn task(&self, _event: &TaskEvent) {}
    /// Tasks done per layer so far (cluster runs report counts, not every task).
    fn layer_counts(&self, _done: &[u64]) {}
    /// Tasks that ran, for the task stream only: the counts come with
    /// [`Sink::layer_counts`] (cluster runs, from the workers' heartbeats).
    fn spans(&self, _events: &[TaskEvent]) {}
    /// The workers' state now (cluster runs).
    fn workers(&self, _workers: &[WorkerStatus]) {}
    /// Whether to stop the run.
    fn cancelled(&self) -> bool {
        false
    }
}

/// A sink that hears nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSink;
impl Sink for NoSink {}

/// Progress per operation and per lane, fed as a [`Sink`], read by renderers.
#[derive(Debug)]
pub struct RunProgress {
    ops: Vec<(String, u64)>,
    op_of_layer: Vec<usize>,
    done_per_layer: Vec<AtomicU64>,
    busy: Mutex<BTreeMap<Lane, f64>>,
    spans: Mutex<Vec<(TaskEvent, usize)>>,
    workers: Mutex<Vec<WorkerStatus>>,
}

/// At most this many spans wait for a renderer (the task stream needs no more).
const MAX_SPANS: usize = 20_000;

impl RunProgress {
    /// Progress over layers named by their operations (`op_names[layer]`), with
    /// `tasks_per_layer[layer]` tasks each.
    pub fn new(op_names: &[&str], tasks_per_layer: &[u64]) -> RunProgress {
        let mut ops: Vec<(String, u64)> = Vec::new();
        let op_of_layer = op_names
            .iter()
            .zip(tasks_per_layer)
            .map(|(name, &n)| {
                let op = match ops.iter().position(|o| o.0 == *name) {
                    Some(i) => i,
                    None => {
                        ops.push(((*name).to_string(), 0));
                        ops.len() - 1
                    }
                };
                ops[op].1 += n;
                op
            })
            .collect();
        let done_per_layer = op_names.iter().map(|_| AtomicU64::new(0)).collect();
        RunProgress {
            ops,
            op_of_layer,
            done_per_layer,
            busy: Mutex::new(BTreeMap::new()),
            spans: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
        }
    }

    /// The operations in order of first appearance, with their task counts.
    pub fn ops(&self) -> &[(String, u64)] {
        &self.ops
    }

    /// The operation a layer belongs to.
    pub fn op_of_layer(&self, layer: usize) -> Option<usize> {
        self.op_of_layer.get(layer).copied()
    }

    /// Tasks in all.
    pub fn total(&self) -> u64 {
        self.ops.iter().map(|o| o.1).sum()
    }

    /// Tasks done in all.
    pub fn done(&self) -> u64 {
        self.done_per_layer.iter().map(|d| d.load(Relaxed)).sum()
    }

    /// Tasks done per operation.
    pub fn done_per_op(&self) -> Vec<u64> {
        let mut done = vec![0; self.ops.len()];
        for (layer, d) in self.done_per_layer.iter().enumerate() {
            done[self.op_of_layer[layer]] += d.load(Relaxed);
        }
        done
    }

    /// Seconds each lane spent computing so far.
    pub fn busy_per_lane(&self) -> BTreeMap<Lane, f64> {
        lock(&self.busy).clone()
    }

    /// The tasks finished since the last call, each with its operation.
    pub fn take_spans(&self) -> Vec<(TaskEvent, usize)> {
        std::mem::take(&mut *lock(&self.spans))
    }

    /// The workers' latest state (cluster runs).
    pub fn workers_now(&self) -> Vec<WorkerStatus> {
        lock(&self.workers).clone()
    }

    fn span(&self, event: &TaskEvent) {
        let Some(op) = self.op_of_layer(event.layer) else { return };
        *lock(&self.busy).entry(event.lane.clone()).or_default() += (event.end_s - event.start_s).max(0.0);
        let mut spans = lock(&self.spans);
        if spans.len() < MAX_SPANS {
            spans.push((event.clone(), op));
        }
    }
}

impl Sink for RunProgress {
    fn task(&self, event: &TaskEvent) {
        if let Some(d) = self.done_per_layer.get(event.layer) {
            d.fetch_add(1, Relaxed);
        }
        self.span(event);
    }

    fn layer_counts(&self, done: &[u64]) {
        for (d, &n) in self.done_per_layer.iter().zip(done) {
            d.store(n, Relaxed);
        }
    }

    fn spans(&self, events: &[TaskEvent]) {
        for event in events {
            self.span(event);
        }
    }

    fn workers(&self, workers: &[WorkerStatus]) {
        *lock(&self.workers) = workers.to_vec();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(layer: usize, slot: u32, start_s: f64, end_s: f64) -> TaskEvent {
        TaskEvent { layer, lane: Lane { worker: "thread".into(), slot }, start_s, end_s, bytes: 8 }
    }

    #[test]
    fn layers_of_one_operation_count_together() {
        let p = RunProgress::new(&["sum-partial", "sum-combine", "sum-partial", "sum-aggregate"], &[4, 2, 4, 1]);
        assert_eq!(p.ops(), &[("sum-partial".into(), 8), ("sum-combine".into(), 2), ("sum-aggregate".into(), 1)]);
        p.task(&event(0, 0, 0.0, 1.0));
        p.task(&event(2, 1, 0.5, 1.0));
        p.task(&event(1, 0, 1.0, 1.25));
        assert_eq!(p.done_per_op(), vec![2, 1, 0]);
        assert_eq!((p.done(), p.total()), (3, 11));
        let busy = p.busy_per_lane();
        assert_eq!(busy[&Lane { worker: "thread".into(), slot: 0 }], 1.25);
        assert_eq!(p.take_spans().len(), 3);
        assert!(p.take_spans().is_empty(), "spans are handed out once");
    }

    #[test]
    fn counts_from_a_cluster_replace_the_tally() {
        let p = RunProgress::new(&["add", "add"], &[3, 3]);
        p.layer_counts(&[2, 1]);
        p.layer_counts(&[3, 2]);
        assert_eq!(p.done_per_op(), vec![5]);
        assert_eq!(Lane { worker: "local-1".into(), slot: 2 }.label(), "local-1:2");
        assert_eq!(Lane { worker: "thread".into(), slot: 2 }.label(), "thread-2");
    }
}
