//! The scheduler driven by a simulated cluster that really computes: every worker has
//! its own value store, inputs are fetched from the holders the scheduler names, and a
//! killed worker loses everything it held.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use tessera_graph::{Array, ChunkSpec, Index, LowerOptions, TaskGraph, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, Value};

use super::{ClusterScheduler, Command, Event, FailureKind, WorkerId, WorkerInfo};
use crate::{NoObserver, Scheduler, run};

const INFO: WorkerInfo = WorkerInfo { name: String::new(), threads: 2, memory_limit: 1 << 30, gpu: false };

fn seed_graph() -> Arc<TaskGraph> {
    let x = Array::random(&[60, 50], 7, &ChunkSpec::parse("(7, 9)").expect("valid")).expect("valid");
    let y = x.slice(&[Index::REVERSED, Index::REVERSED]).expect("ok");
    let z = (&x * &y).expect("ok").rechunk(&ChunkSpec::parse("(20, 25)").expect("valid")).expect("ok");
    // A materialized intermediate (the transpose of an unfused product) so values move.
    let total = (&z.t().t() + &z).expect("ok").sum(Some(&[0])).expect("ok").sum(None).expect("ok");
    Arc::new(lower(&total, &LowerOptions::unfused()).expect("lowers"))
}

struct Sim {
    core: ClusterScheduler,
    stores: BTreeMap<WorkerId, HashMap<usize, Value>>,
    queue: VecDeque<Command>,
    computed_on: HashMap<WorkerId, usize>,
    finished: Option<Vec<(usize, WorkerId)>>,
    failed: Option<(String, FailureKind)>,
    /// Workers told to forget the graph.
    forgotten: Vec<WorkerId>,
    /// Workers told they may go.
    retired: Vec<WorkerId>,
    graph: Arc<TaskGraph>,
}

impl Sim {
    fn new(workers: &[WorkerId], graph: Arc<TaskGraph>) -> Sim {
        let mut sim = Sim {
            core: ClusterScheduler::new(),
            stores: BTreeMap::new(),
            queue: VecDeque::new(),
            computed_on: HashMap::new(),
            finished: None,
            failed: None,
            forgotten: Vec::new(),
            retired: Vec::new(),
            graph,
        };
        for &w in workers {
            sim.join(w);
        }
        sim
    }

    fn join(&mut self, w: WorkerId) {
        self.stores.insert(w, HashMap::new());
        let cmds = self.core.handle(Event::WorkerJoined { worker: w, info: INFO });
        self.queue.extend(cmds);
    }

    fn kill(&mut self, w: WorkerId) {
        self.stores.remove(&w);
        let cmds = self.core.handle(Event::WorkerLost { worker: w });
        self.queue.extend(cmds);
    }

    fn submit(&mut self) {
        let cmds =
            self.core.handle(Event::Submitted { client: 1, graph: 9, tasks: self.graph.clone(), gpu_only: false });
        self.queue.extend(cmds);
    }

    /// Carries out one command; returns false when there is none.
    fn step(&mut self) -> bool {
        let Some(cmd) = self.queue.pop_front() else { return false };
        let event = match cmd {
            Command::Compute { worker, graph, task, inputs } => {
                if !self.stores.contains_key(&worker) {
                    return true;
                }
                let mut values = Vec::new();
                for (dep, holder) in &inputs {
                    match self.stores.get(holder).and_then(|s| s.get(dep)) {
                        Some(v) => values.push(v.clone()),
                        None => {
                            let cmds = self.core.handle(Event::InputsLost { worker, graph, task });
                            self.queue.extend(cmds);
                            return true;
                        }
                    }
                }
                let refs: Vec<&Value> = values.iter().collect();
                let value = CpuBackend.execute(&self.graph, task, &refs).expect("kernel runs");
                let bytes = value.nbytes() as u64;
                self.stores.get_mut(&worker).expect("alive").insert(task, value);
                *self.computed_on.entry(worker).or_default() += 1;
                Event::TaskFinished { worker, graph, task, bytes }
            }
            Command::Release { worker, task, .. } => {
                if let Some(s) = self.stores.get_mut(&worker) {
                    s.remove(&task);
                }
                return true;
            }
            Command::Finished { outputs, .. } => {
                self.finished = Some(outputs);
                return true;
            }
            Command::Failed { error, kind, .. } => {
                self.failed = Some((error, kind));
                return true;
            }
            // Commands run in order here, so a task asked for has always started.
            Command::Steal { worker, graph, task } => Event::StealAnswered { worker, graph, task, stolen: false },
            Command::Disconnect { worker } => {
                self.stores.remove(&worker);
                return true;
            }
            Command::Progress { done, layers, .. } => {
                assert_eq!(layers.iter().sum::<usize>(), done, "progress per layer adds up");
                return true;
            }
            Command::ShareGraph { .. } => return true,
            Command::Copy { worker, graph, task, from } => {
                let value = self.stores.get(&from).and_then(|s| s.get(&task)).cloned();
                let copied = value.is_some();
                match (self.stores.get_mut(&worker), value) {
                    (Some(store), Some(v)) => {
                        store.insert(task, v);
                    }
                    (None, _) => return true,
                    _ => {}
                }
                Event::ValueCopied { worker, graph, task, copied }
            }
            Command::Retire { worker } => {
                // It goes: its connection closes.
                self.retired.push(worker);
                self.kill(worker);
                return true;
            }
            Command::Forget { worker, .. } => {
                // The graph is gone: queued computes for it are dropped by the worker.
                if let Some(s) = self.stores.get_mut(&worker) {
                    s.clear();
                }
                self.queue.retain(|c| !matches!(c, Command::Compute { worker: w, .. } if *w == worker));
                self.forgotten.push(worker);
                return true;
            }
        };
        let cmds = self.core.handle(event);
        self.queue.extend(cmds);
        true
    }

    fn result(&self) -> f64 {
        let outputs = self.finished.as_ref().expect("finished");
        let (task, holder) = outputs[0];
        match &self.stores[&holder][&task] {
            Value::Block(b) => b.get_f64(0).expect("scalar"),
            Value::Partial(_) => panic!("output is a partial"),
        }
    }
}

fn local_result(graph: &TaskGraph) -> f64 {
    let done = run(graph, &CpuBackend, Scheduler::SingleThreaded, &NoObserver).expect("runs");
    match &done.outputs[0] {
        Value::Block(b) => b.get_f64(0).expect("scalar"),
        Value::Partial(_) => panic!("output is a partial"),
    }
}

#[test]
fn two_workers_share_the_work_and_match_the_local_result() {
    let graph = seed_graph();
    let mut sim = Sim::new(&[1, 2], graph.clone());
    sim.submit();
    while sim.step() {}
    assert_eq!(sim.result().to_bits(), local_result(&graph).to_bits());
    assert!(sim.computed_on.values().all(|&n| n > graph.tasks.len() / 4), "{:?}", sim.computed_on);
    // Everything but the output was released.
    let held: usize = sim.stores.values().map(HashMap::len).sum();
    assert_eq!(held, 1);
    sim.queue.extend(sim.core.handle(Event::ResultsDelivered { graph: 9 }));
    while sim.step() {}
    assert_eq!(sim.stores.values().map(HashMap::len).sum::<usize>(), 0);
    assert_eq!(sim.core.graphs(), 0);
}

#[test]
fn a_killed_worker_is_recovered_with_the_same_result() {
    let graph = seed_graph();
    let want = local_result(&graph).to_bits();
    for kill_after in [5, graph.tasks.len() / 3, graph.tasks.len() / 2, graph.tasks.len() - 3] {
        let mut sim = Sim::new(&[1, 2, 3], graph.clone());
        sim.submit();
        let mut steps = 0;
        let mut finished_tasks = 0;
        while finished_tasks < kill_after && sim.step() {
            steps += 1;
            finished_tasks = sim.computed_on.values().sum();
        }
        sim.kill(2);
        while sim.step() {
            steps += 1;
            assert!(steps < 100_000, "the run does not finish");
        }
        assert!(sim.failed.is_none(), "{:?}", sim.failed);
        assert_eq!(sim.result().to_bits(), want, "killed after {kill_after} tasks");
    }
}

#[test]
fn a_worker_that_joins_mid_run_gets_work() {
    let graph = seed_graph();
    let mut sim = Sim::new(&[1], graph.clone());
    sim.submit();
    for _ in 0..10 {
        sim.step();
    }
    sim.join(5);
    while sim.step() {}
    assert!(sim.computed_on.get(&5).is_some_and(|&n| n > 0), "{:?}", sim.computed_on);
    assert_eq!(sim.result().to_bits(), local_result(&graph).to_bits());
}

#[test]
fn tasks_run_where_their_inputs_are() {
    let graph = seed_graph();
    let mut sim = Sim::new(&[1, 2], graph.clone());
    sim.submit();
    let mut local = 0;
    let mut remote = 0;
    while let Some(cmd) = sim.queue.front().cloned() {
        if let Command::Compute { worker, inputs, .. } = &cmd {
            for (_, holder) in inputs {
                if holder == worker { local += 1 } else { remote += 1 }
            }
        }
        sim.step();
    }
    assert!(local > 2 * remote, "local {local}, remote {remote}");
}

#[test]
fn plans_larger_than_every_worker_are_refused() {
    let graph = seed_graph();
    let mut core = ClusterScheduler::new();
    core.handle(Event::WorkerJoined {
        worker: 1,
        info: WorkerInfo { name: String::new(), threads: 1, memory_limit: 10, gpu: false },
    });
    let cmds = core.handle(Event::Submitted { client: 3, graph: 1, tasks: graph, gpu_only: false });
    assert!(
        matches!(&cmds[..], [Command::Failed { kind: FailureKind::Resources, error, .. }] if error.contains("memory")),
        "{cmds:?}"
    );
    assert_eq!(core.graphs(), 0);
}

#[test]
fn a_client_that_leaves_cancels_its_graph() {
    let graph = seed_graph();
    let mut sim = Sim::new(&[1, 2], graph.clone());
    sim.submit();
    for _ in 0..30 {
        sim.step();
    }
    let cmds = sim.core.handle(Event::ClientLeft { client: 1 });
    assert!(cmds.iter().all(|c| matches!(c, Command::Release { .. } | Command::Forget { .. })), "{cmds:?}");
    sim.queue.extend(cmds);
    while sim.step() {}
    assert_eq!(sim.core.graphs(), 0);
    assert!(sim.finished.is_none());
    assert_eq!(sim.stores.values().map(HashMap::len).sum::<usize>(), 0, "every held value was released");
    sim.forgotten.sort_unstable();
    assert_eq!(sim.forgotten, vec![1, 2], "every worker that had the graph drops its queued tasks");
    // Their slots were freed: a new graph runs to the end on them.
    sim.submit();
    while sim.step() {}
    assert_eq!(sim.result().to_bits(), local_result(&graph).to_bits());
}

#[test]
fn events_about_unknown_tasks_change_nothing() {
    let graph = seed_graph();
    let mut sim = Sim::new(&[1], graph.clone());
    sim.submit();
    let n = graph.tasks.len();
    assert!(sim.core.handle(Event::TaskFinished { worker: 1, graph: 9, task: n + 5, bytes: 1 }).is_empty());
    assert!(sim.core.handle(Event::InputsLost { worker: 1, graph: 9, task: n }).is_empty());
    assert!(
        sim.core
            .handle(Event::TaskFailed {
                worker: 1,
                graph: 9,
                task: usize::MAX,
                error: "x".into(),
                kind: FailureKind::Failed
            })
            .is_empty()
    );
    while sim.step() {}
    assert_eq!(sim.result().to_bits(), local_result(&graph).to_bits());
}

/// Only workers that joined report work: events naming any other id (a client's
/// connection, a worker already lost) neither fail a graph nor make a holder.
#[test]
fn events_from_ids_that_are_not_workers_change_nothing() {
    let graph = seed_graph();
    let mut sim = Sim::new(&[1], graph.clone());
    sim.submit();
    for task in 0..graph.tasks.len() {
        let lies = [
            Event::TaskFinished { worker: 77, graph: 9, task, bytes: 1 },
            Event::StealAnswered { worker: 77, graph: 9, task, stolen: true },
            Event::InputsLost { worker: 77, graph: 9, task },
            Event::TaskFailed { worker: 77, graph: 9, task, error: "lie".into(), kind: FailureKind::Failed },
            Event::Heartbeat { worker: 77, at_ms: 0 },
        ];
        for lie in lies {
            assert!(sim.core.handle(lie).is_empty());
        }
    }
    while sim.step() {}
    assert!(sim.failed.is_none(), "{:?}", sim.failed);
    assert_eq!(sim.result().to_bits(), local_result(&graph).to_bits());
}

/// Twelve independent tasks, each its own output.
fn independent_tasks() -> Arc<TaskGraph> {
    let x = Array::ones(&[12], &ChunkSpec::parse("1").expect("valid")).expect("valid");
    Arc::new(lower(&x, &LowerOptions::unfused()).expect("lowers"))
}

fn computes_on(cmds: &[Command], on: WorkerId) -> Vec<usize> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Compute { worker, task, .. } if *worker == on => Some(*task),
            _ => None,
        })
        .collect()
}

#[test]
fn an_idle_worker_steals_tasks_queued_on_a_busy_one() {
    let mut core = ClusterScheduler::new();
    core.handle(Event::WorkerJoined { worker: 1, info: INFO });
    let cmds = core.handle(Event::Submitted { client: 1, graph: 4, tasks: independent_tasks(), gpu_only: false });
    assert_eq!(computes_on(&cmds, 1).len(), 12, "one worker with room for 16 queues all 12");
    let cmds = core.handle(Event::WorkerJoined { worker: 2, info: INFO });
    let asked: Vec<usize> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::Steal { worker: 1, graph: 4, task } => Some(*task),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 2, "the newcomer asks for one task per idle thread: {cmds:?}");
    // The first had not started: it moves. The second had: it stays.
    let moved = core.handle(Event::StealAnswered { worker: 1, graph: 4, task: asked[0], stolen: true });
    assert_eq!(computes_on(&moved, 2), vec![asked[0]]);
    let refused = core.handle(Event::StealAnswered { worker: 1, graph: 4, task: asked[1], stolen: false });
    assert!(computes_on(&refused, 2).is_empty());
    let again: Vec<usize> = refused
        .iter()
        .filter_map(|c| match c {
            Command::Steal { task, .. } => Some(*task),
            _ => None,
        })
        .collect();
    assert_eq!(again.len(), 1, "the thread left idle asks for another task: {refused:?}");
    assert!(!again.contains(&asked[1]) && !again.contains(&asked[0]), "a task is asked for once");
    // A result from the victim for the stolen task is stale: it is released.
    let stale = core.handle(Event::TaskFinished { worker: 1, graph: 4, task: asked[0], bytes: 8 });
    assert!(stale.iter().any(|c| matches!(c, Command::Release { worker: 1, task, .. } if *task == asked[0])));
}

#[test]
fn a_silent_worker_is_disconnected_and_its_work_moves() {
    let mut core = ClusterScheduler::new();
    core.handle(Event::WorkerJoined { worker: 1, info: INFO });
    core.handle(Event::WorkerJoined { worker: 2, info: INFO });
    core.handle(Event::Submitted { client: 1, graph: 4, tasks: independent_tasks(), gpu_only: false });
    let mut disconnected_at = None;
    let mut moved = Vec::new();
    for step in 0..30u64 {
        let now = step * super::HEARTBEAT_INTERVAL_MS;
        core.handle(Event::Heartbeat { worker: 1, at_ms: now });
        if now <= 1000 {
            core.handle(Event::Heartbeat { worker: 2, at_ms: now });
        }
        let cmds = core.handle(Event::Tick { at_ms: now });
        if cmds.iter().any(|c| matches!(c, Command::Disconnect { worker: 2 })) {
            disconnected_at = Some(now);
            moved = computes_on(&cmds, 1);
        }
        assert!(!cmds.iter().any(|c| matches!(c, Command::Disconnect { worker: 1 })), "worker 1 kept beating");
    }
    let at = disconnected_at.expect("worker 2 stopped beating at 1000 ms");
    assert!(at > 1000 + super::HEARTBEAT_TIMEOUT_MS && at <= 1000 + super::HEARTBEAT_TIMEOUT_MS + 250, "{at}");
    assert_eq!(core.workers(), 1);
    assert_eq!(moved.len(), 6, "worker 2's tasks went to worker 1: {moved:?}");
}

#[test]
fn a_stalled_scheduler_does_not_blame_its_workers() {
    let mut core = ClusterScheduler::new();
    core.handle(Event::WorkerJoined { worker: 1, info: INFO });
    core.handle(Event::Tick { at_ms: 0 });
    core.handle(Event::Heartbeat { worker: 1, at_ms: 0 });
    // The scheduler's own loop was blocked for 10 s: beats queued up unread.
    assert!(core.handle(Event::Tick { at_ms: 10_000 }).is_empty());
    assert!(core.handle(Event::Tick { at_ms: 10_250 }).is_empty());
    assert_eq!(core.workers(), 1);
}

#[test]
fn graphs_for_the_gpu_go_only_to_workers_with_a_gpu() {
    let gpu = WorkerInfo { gpu: true, ..INFO };
    let mut core = ClusterScheduler::new();
    core.handle(Event::WorkerJoined { worker: 1, info: INFO });
    // No GPU in the cluster: refused at once, as a resource problem.
    let cmds = core.handle(Event::Submitted { client: 1, graph: 3, tasks: independent_tasks(), gpu_only: true });
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::Failed { graph: 3, kind: FailureKind::Resources, error, .. } if error.contains("GPU"))),
        "{cmds:?}"
    );
    core.handle(Event::WorkerJoined { worker: 2, info: gpu });
    let cmds = core.handle(Event::Submitted { client: 1, graph: 4, tasks: independent_tasks(), gpu_only: true });
    assert!(computes_on(&cmds, 1).is_empty(), "the CPU worker gets no GPU work: {cmds:?}");
    assert_eq!(computes_on(&cmds, 2).len(), 12, "the GPU worker queues all of it");
    // The CPU worker is idle, but it does not steal GPU work either.
    let cmds = core.handle(Event::Tick { at_ms: 0 });
    assert!(!cmds.iter().any(|c| matches!(c, Command::Steal { .. })), "{cmds:?}");
    // A graph for any device still uses both.
    let cmds = core.handle(Event::Submitted { client: 1, graph: 5, tasks: independent_tasks(), gpu_only: false });
    assert!(!computes_on(&cmds, 1).is_empty(), "{cmds:?}");
    // The GPU worker leaves: its GPU graph cannot finish and fails; the other goes on.
    let cmds = core.handle(Event::WorkerLost { worker: 2 });
    assert!(
        cmds.iter().any(|c| matches!(c, Command::Failed { graph: 4, kind: FailureKind::Resources, .. })),
        "{cmds:?}"
    );
    assert!(!cmds.iter().any(|c| matches!(c, Command::Failed { graph: 5, .. })), "{cmds:?}");
}
