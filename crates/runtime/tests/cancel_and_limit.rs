//! Stopping a run, and running under a memory limit, on the local schedulers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tessera_graph::{Array, ChunkSpec, LowerOptions, TaskGraph, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, KernelError, Value};
use tessera_runtime::{NoObserver, Observer, RuntimeError, Scheduler, run, run_within};

/// A graph with stored intermediates read in another order: `y + y.T` with `y`
/// materialized (fusion off), 8 x 8 blocks of 100 x 100.
fn materializing() -> TaskGraph {
    let x = Array::random(&[800, 800], 1, &ChunkSpec::parse("100").expect("valid")).expect("valid");
    let y = (&x + 1.0).expect("ok");
    let total = (&y + &y.t()).expect("ok").sum(None).expect("ok");
    lower(&total, &LowerOptions::unfused()).expect("lowers")
}

fn scalar(values: &[Value]) -> f64 {
    match &values[0] {
        Value::Block(b) => b.get_f64(0).expect("scalar"),
        Value::Partial(_) => panic!("a partial"),
    }
}

/// Stops after `after` finished tasks.
struct StopAfter {
    after: usize,
    seen: AtomicUsize,
}

impl Observer for StopAfter {
    fn task_finished(&self, _: &TaskGraph, _: usize, _: usize, _: Duration) {
        self.seen.fetch_add(1, Ordering::Relaxed);
    }
    fn cancelled(&self) -> bool {
        self.seen.load(Ordering::Relaxed) >= self.after
    }
}

#[test]
fn a_cancelled_run_stops_with_an_error() {
    let graph = materializing();
    for scheduler in [Scheduler::SingleThreaded, Scheduler::Threads(2)] {
        let stop = StopAfter { after: 10, seen: AtomicUsize::new(0) };
        let result = run(&graph, &CpuBackend, scheduler, &stop);
        assert!(matches!(result, Err(RuntimeError::Cancelled)), "{:?}", result.err());
        let seen = stop.seen.load(Ordering::Relaxed);
        assert!((10..graph.tasks.len()).contains(&seen), "stopped after {seen} of {} tasks", graph.tasks.len());
    }
}

/// Tracks the largest total of projected bytes of tasks running at once.
struct Watching {
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Backend for Watching {
    fn name(&self) -> &'static str {
        "watching-cpu"
    }

    fn execute(&self, graph: &TaskGraph, task: usize, inputs: &[&Value]) -> Result<Value, KernelError> {
        let bytes = graph.tasks[task].projected_bytes as usize;
        let now = self.running.fetch_add(bytes, Ordering::SeqCst) + bytes;
        self.peak.fetch_max(now, Ordering::SeqCst);
        // Long enough that two threads overlap whenever admission lets them.
        std::thread::sleep(Duration::from_millis(2));
        let out = CpuBackend.execute(graph, task, inputs);
        self.running.fetch_sub(bytes, Ordering::SeqCst);
        out
    }
}

#[test]
fn under_a_limit_running_tasks_fit_it_and_spilling_keeps_the_result() {
    let graph = materializing();
    let want = scalar(&run(&graph, &CpuBackend, Scheduler::SingleThreaded, &NoObserver).expect("runs").outputs);
    let largest = graph.max_projected_bytes() as usize;
    let limit = (largest * 3 / 2) as u64;
    let watching = Watching { running: AtomicUsize::new(0), peak: AtomicUsize::new(0) };
    let done = run_within(&graph, &watching, Scheduler::Threads(4), &NoObserver, limit).expect("runs");
    assert_eq!(scalar(&done.outputs).to_bits(), want.to_bits());
    assert!(done.spilled_bytes > 0, "y (5 MB) does not fit half of {limit} bytes: some of it went to disk");
    let peak = watching.peak.load(Ordering::SeqCst);
    assert!(peak <= limit as usize, "running tasks projected {peak} bytes at once, over the limit of {limit}");
    // Without a limit the same threads do overlap.
    let free = Watching { running: AtomicUsize::new(0), peak: AtomicUsize::new(0) };
    run_within(&graph, &free, Scheduler::Threads(4), &NoObserver, u64::MAX).expect("runs");
    assert!(free.peak.load(Ordering::SeqCst) > largest, "four threads overlap without a limit");
}
