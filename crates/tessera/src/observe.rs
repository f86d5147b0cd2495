//! Feeding one [`Sink`] from any run: a local run through the runtime's [`Observer`],
//! a cluster run through the client's [`Watch`](crate::cluster::Watch). Progress bars
//! and the UI render the sink ([`RunProgress`]), whatever ran the graph.

use std::time::Instant;

use tessera_graph::{TaskGraph, TaskId};
use tessera_metrics::{Lane, RunProgress, Sink, TaskEvent};
use tessera_runtime::Observer;

/// The aggregation of a graph's progress: its layers by operation name.
pub fn run_progress(graph: &TaskGraph) -> RunProgress {
    let mut tasks = vec![0u64; graph.layers.len()];
    for t in &graph.tasks {
        tasks[t.layer] += 1;
    }
    let names: Vec<&str> = graph.layers.iter().map(|l| l.op_name.as_str()).collect();
    RunProgress::new(&names, &tasks)
}

/// A local run's finished tasks as [`TaskEvent`]s (lanes `thread-N`), timed from
/// `start`.
pub struct SinkObserver<'a> {
    sink: &'a dyn Sink,
    start: Instant,
    thread: std::sync::Arc<str>,
}

impl<'a> SinkObserver<'a> {
    /// Feeds `sink`, with times since `start`.
    pub fn new(sink: &'a dyn Sink, start: Instant) -> SinkObserver<'a> {
        SinkObserver { sink, start, thread: "thread".into() }
    }
}

impl Observer for SinkObserver<'_> {
    fn task_finished(&self, graph: &TaskGraph, task: TaskId, thread: usize, busy: std::time::Duration) {
        let end_s = self.start.elapsed().as_secs_f64();
        let t = &graph.tasks[task];
        self.sink.task(&TaskEvent {
            layer: t.layer,
            lane: Lane { worker: self.thread.clone(), slot: thread as u32 },
            start_s: end_s - busy.as_secs_f64(),
            end_s,
            bytes: t.output_bytes,
        });
    }

    fn cancelled(&self) -> bool {
        self.sink.cancelled()
    }
}

/// A cluster run's counts, worker state and the workers' finished tasks, timed from
/// `start`.
#[cfg(feature = "cluster")]
pub struct SinkWatch<'a> {
    sink: &'a dyn Sink,
    start: Instant,
}

#[cfg(feature = "cluster")]
impl<'a> SinkWatch<'a> {
    /// Feeds `sink`, with times since `start`.
    pub fn new(sink: &'a dyn Sink, start: Instant) -> SinkWatch<'a> {
        SinkWatch { sink, start }
    }
}

#[cfg(feature = "cluster")]
impl crate::cluster::Watch for SinkWatch<'_> {
    fn progress(&self, _done: u64, _total: u64, layers: &[u64]) {
        self.sink.layer_counts(layers);
    }

    fn workers(&self, workers: &[tessera_metrics::WorkerStatus]) {
        self.sink.workers(workers);
        let now_s = self.start.elapsed().as_secs_f64();
        let spans: Vec<TaskEvent> = workers
            .iter()
            .flat_map(|w| {
                let name: std::sync::Arc<str> = w.name.as_str().into();
                w.recent.iter().map(move |s| {
                    let end_s = now_s - s.ended_ms_ago as f64 / 1000.0;
                    TaskEvent {
                        layer: s.layer as usize,
                        lane: Lane { worker: name.clone(), slot: s.slot },
                        start_s: end_s - s.duration_ms as f64 / 1000.0,
                        end_s,
                        bytes: 0,
                    }
                })
            })
            .collect();
        self.sink.spans(&spans);
    }

    fn cancelled(&self) -> bool {
        self.sink.cancelled()
    }
}
