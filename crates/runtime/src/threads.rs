//! The threaded scheduler: a fixed pool taking the lowest-id ready task.
//!
//! Memory admission: a task starts only while the values held plus what the running
//! tasks will add (each task's projection minus the inputs it reads, which are already
//! held) stay under the memory limit; otherwise its thread waits for a task to finish.
//! One task always may run, so a plan whose every task fits the limit (checked before
//! the run) always progresses.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tessera_graph::{TaskGraph, TaskId};
use tessera_kernels::{Backend, Value};

use crate::spill::{self, SPILL_SHARE, SpillDir};
use crate::{Computed, Observer, RuntimeError, execute};

/// Where a computed value is.
#[derive(Clone)]
enum Slot {
    Empty,
    Memory(Arc<Value>),
    Disk(PathBuf),
}

struct State {
    ready: BinaryHeap<Reverse<TaskId>>,
    waiting_on: Vec<u32>,
    readers: Vec<u32>,
    values: Vec<Slot>,
    /// Tasks whose values are in memory.
    in_memory: HashSet<TaskId>,
    started: Vec<bool>,
    spill: SpillDir,
    finished: usize,
    error: Option<RuntimeError>,
    /// Bytes of the values held.
    held_bytes: u64,
    /// Bytes the running tasks will add beyond their inputs.
    admitted_bytes: u64,
    running: usize,
    /// A thread waits for memory: wake everyone when a task finishes.
    memory_waiters: bool,
}

struct Shared<'g> {
    graph: &'g TaskGraph,
    memory_limit: u64,
    dependents: Vec<Vec<TaskId>>,
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared<'_> {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a thread panicked outside a kernel; the state is still
        // consistent enough to stop the run and report.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn run(
    graph: &TaskGraph,
    backend: &dyn Backend,
    threads: usize,
    observer: &dyn Observer,
    memory_limit: u64,
) -> Result<Computed, RuntimeError> {
    let n = graph.tasks.len();
    let mut dependents = vec![Vec::new(); n];
    let mut waiting_on = vec![0u32; n];
    let mut ready = BinaryHeap::new();
    for (id, task) in graph.tasks.iter().enumerate() {
        waiting_on[id] = task.deps.len() as u32;
        for &d in &task.deps {
            dependents[d].push(id);
        }
        if task.deps.is_empty() {
            ready.push(Reverse(id));
        }
    }
    let shared = Shared {
        graph,
        memory_limit,
        dependents,
        state: Mutex::new(State {
            ready,
            waiting_on,
            readers: graph.dependents_count(),
            values: vec![Slot::Empty; n],
            in_memory: HashSet::new(),
            started: vec![false; n],
            spill: SpillDir::new(),
            finished: 0,
            error: None,
            held_bytes: 0,
            admitted_bytes: 0,
            running: 0,
            memory_waiters: false,
        }),
        wake: Condvar::new(),
    };
    let busy: Vec<Duration> = std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads);
        for thread in 0..threads {
            let shared = &shared;
            let spawned = std::thread::Builder::new()
                .name(format!("tessera-{thread}"))
                .spawn_scoped(scope, move || worker(shared, backend, thread, observer));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    // The threads already started see the error and stop.
                    shared.lock().error.get_or_insert(RuntimeError::Threads {
                        asked: threads,
                        started: thread,
                        error: e.to_string(),
                    });
                    shared.wake.notify_all();
                    break;
                }
            }
        }
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut state = shared.state.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(error) = state.error.take() {
        return Err(error);
    }
    let mut outputs = Vec::with_capacity(graph.outputs.len());
    for &o in &graph.outputs {
        match std::mem::replace(&mut state.values[o], Slot::Empty) {
            Slot::Memory(v) => outputs.push(Arc::try_unwrap(v).unwrap_or_else(|a| (*a).clone())),
            Slot::Disk(file) => outputs.push(spill::read(&file)?),
            Slot::Empty => {}
        }
    }
    Ok(Computed { outputs, busy, tasks: n, spilled_bytes: state.spill.bytes })
}

fn worker(shared: &Shared<'_>, backend: &dyn Backend, thread: usize, observer: &dyn Observer) -> Duration {
    let graph = shared.graph;
    let total = graph.tasks.len();
    let mut busy = Duration::ZERO;
    let mut state = shared.lock();
    loop {
        if state.error.is_none() && observer.cancelled() {
            state.error = Some(RuntimeError::Cancelled);
        }
        if state.error.is_some() || state.finished == total {
            shared.wake.notify_all();
            return busy;
        }
        let Some(&Reverse(id)) = state.ready.peek() else {
            state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            continue;
        };
        let slots: Vec<Slot> = graph.tasks[id].deps.iter().map(|&d| state.values[d].clone()).collect();
        let input_bytes: u64 = slots.iter().map(|s| if let Slot::Memory(v) = s { v.nbytes() as u64 } else { 0 }).sum();
        let extra = graph.tasks[id].projected_bytes.saturating_sub(input_bytes);
        let in_use = state.held_bytes + state.admitted_bytes;
        if state.running > 0 && in_use.saturating_add(extra) > shared.memory_limit {
            state.memory_waiters = true;
            state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        state.ready.pop();
        state.started[id] = true;
        state.running += 1;
        state.admitted_bytes += extra;
        drop(state);
        let start = Instant::now();
        // Spilled inputs are read back for this task only (their files stay until the
        // last reader is done); their bytes count in this task's admitted share.
        let inputs: Result<Vec<Arc<Value>>, RuntimeError> = slots
            .into_iter()
            .map(|s| match s {
                Slot::Memory(v) => Ok(v),
                Slot::Disk(file) => spill::read(&file).map(Arc::new),
                Slot::Empty => Err(RuntimeError::Spill("an input is missing".into())),
            })
            .collect();
        let result = inputs.and_then(|inputs| {
            let refs: Vec<&Value> = inputs.iter().map(|v| v.as_ref()).collect();
            execute(graph, backend, id, &refs)
        });
        let elapsed = start.elapsed();
        busy += elapsed;
        state = shared.lock();
        state.running -= 1;
        state.admitted_bytes -= extra;
        match result {
            Err(e) => {
                state.error.get_or_insert(e);
                shared.wake.notify_all();
                return busy;
            }
            Ok(value) => {
                state.held_bytes += value.nbytes() as u64;
                state.values[id] = Slot::Memory(Arc::new(value));
                state.in_memory.insert(id);
                for &d in &graph.tasks[id].deps {
                    state.readers[d] -= 1;
                    if state.readers[d] == 0 {
                        release(&mut state, d);
                    }
                }
                if let Err(e) = spill_over(shared, &mut state) {
                    state.error.get_or_insert(e);
                    shared.wake.notify_all();
                    return busy;
                }
                let mut woke = 0;
                for &next in &shared.dependents[id] {
                    state.waiting_on[next] -= 1;
                    if state.waiting_on[next] == 0 {
                        state.ready.push(Reverse(next));
                        woke += 1;
                    }
                }
                state.finished += 1;
                if woke > 1 || state.finished == total || state.memory_waiters {
                    state.memory_waiters = false;
                    shared.wake.notify_all();
                } else if woke == 1 {
                    shared.wake.notify_one();
                }
            }
        }
        drop(state);
        observer.task_finished(graph, id, thread, elapsed);
        state = shared.lock();
    }
}

/// Drops a value nobody needs any more, in memory or on disk.
fn release(state: &mut State, task: TaskId) {
    match std::mem::replace(&mut state.values[task], Slot::Empty) {
        Slot::Memory(v) => {
            state.held_bytes -= v.nbytes() as u64;
            state.in_memory.remove(&task);
        }
        Slot::Disk(file) => {
            let _ = std::fs::remove_file(file);
        }
        Slot::Empty => {}
    }
}

/// While held values pass [`SPILL_SHARE`] of the limit, writes the one needed last (its
/// first unstarted reader has the latest priority) to disk. Values a running task is
/// reading stay.
fn spill_over(shared: &Shared<'_>, state: &mut State) -> Result<(), RuntimeError> {
    let threshold = (shared.memory_limit as f64 * SPILL_SHARE) as u64;
    while state.held_bytes > threshold {
        let next_use = |t: TaskId| {
            shared.dependents[t].iter().copied().filter(|&r| !state.started[r]).min().unwrap_or(TaskId::MAX)
        };
        let victim = state
            .in_memory
            .iter()
            .copied()
            .filter(|&t| {
                state.readers[t] > 0 && matches!(&state.values[t], Slot::Memory(v) if Arc::strong_count(v) == 1)
            })
            .max_by_key(|&t| (next_use(t), t));
        let Some(task) = victim else { return Ok(()) };
        let Slot::Memory(value) = std::mem::replace(&mut state.values[task], Slot::Empty) else { return Ok(()) };
        let file = state.spill.write(&task.to_string(), &value)?;
        state.held_bytes -= value.nbytes() as u64;
        state.in_memory.remove(&task);
        state.values[task] = Slot::Disk(file);
    }
    Ok(())
}
