//! The threaded scheduler: a fixed pool taking the lowest-id ready task.
//!
//! Memory admission: a task starts only while the values held plus what the running
//! tasks will add (each task's projection minus the inputs it reads, which are already
//! held) stay under the memory limit; otherwise its thread waits for a task to finish.
//! One task always may run, so a plan whose every task fits the limit (checked before
//! the run) always progresses. Held values, admission and spilling are the shared
//! [`Store`]'s.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tessera_graph::{TaskGraph, TaskId};
use tessera_kernels::{Backend, Value};

use crate::store::{Held, Store};
use crate::{Computed, Observer, RuntimeError, execute};

struct State {
    ready: BinaryHeap<Reverse<TaskId>>,
    waiting_on: Vec<u32>,
    readers: Vec<u32>,
    store: Store<TaskId>,
    started: Vec<bool>,
    finished: usize,
    error: Option<RuntimeError>,
    /// A thread waits for memory: wake everyone when a task finishes.
    memory_waiters: bool,
}

struct Shared<'g> {
    graph: &'g TaskGraph,
    dependents: Vec<Vec<TaskId>>,
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared<'_> {
    /// The priority of the first reader of `task`'s value that has not started.
    fn next_reader(&self, state: &State, task: TaskId) -> u64 {
        self.dependents[task].iter().copied().filter(|&r| !state.started[r]).min().map_or(u64::MAX, |r| r as u64)
    }

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
        dependents,
        state: Mutex::new(State {
            ready,
            waiting_on,
            readers: graph.dependents_count(),
            store: Store::new(memory_limit),
            started: vec![false; n],
            finished: 0,
            error: None,
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
        if let Some(held) = state.store.take(&o) {
            let value = held.load()?;
            outputs.push(Arc::try_unwrap(value).unwrap_or_else(|a| (*a).clone()));
        }
    }
    Ok(Computed { outputs, busy, tasks: n, spilled_bytes: state.store.spilled_bytes() })
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
        let deps = &graph.tasks[id].deps;
        let held: Vec<Option<Held>> = deps.iter().map(|d| state.store.get(d)).collect();
        let input_bytes: u64 =
            held.iter().map(|h| if let Some(Held::Memory(v)) = h { v.nbytes() as u64 } else { 0 }).sum();
        let extra = graph.tasks[id].projected_bytes.saturating_sub(input_bytes);
        if !state.store.admit(extra) {
            drop(held);
            state.memory_waiters = true;
            state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            continue;
        }
        state.ready.pop();
        state.started[id] = true;
        for &d in deps {
            let next = shared.next_reader(&state, d);
            state.store.set_next_reader(&d, next);
        }
        drop(state);
        let start = Instant::now();
        // Spilled inputs are read back for this task only (their files stay until the
        // last reader is done); their bytes count in this task's admitted share.
        let inputs: Result<Vec<Arc<Value>>, RuntimeError> = held
            .into_iter()
            .map(|h| h.ok_or_else(|| RuntimeError::Spill("an input is missing".into()))?.load())
            .collect();
        let result = inputs.and_then(|inputs| {
            let refs: Vec<&Value> = inputs.iter().map(|v| v.as_ref()).collect();
            execute(graph, backend, id, &refs)
        });
        let elapsed = start.elapsed();
        busy += elapsed;
        state = shared.lock();
        state.store.done(extra);
        match result {
            Err(e) => {
                state.error.get_or_insert(e);
                shared.wake.notify_all();
                return busy;
            }
            Ok(value) => {
                for &d in &graph.tasks[id].deps {
                    state.readers[d] -= 1;
                    if state.readers[d] == 0 {
                        state.store.remove(&d);
                    }
                }
                let next = shared.next_reader(&state, id);
                if let Err(e) = state.store.insert(id, value, next) {
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
