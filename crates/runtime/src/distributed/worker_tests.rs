//! Scheduler and worker cores driven together by a deterministic simulator that really
//! computes: messages, fetches and kernel runs are carried out in an order drawn from a
//! seeded generator, so tasks overlap, steals race with starts, and workers die, freeze
//! or join at chosen points. Every run must end with the local result, bit for bit.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use tessera_graph::{Array, ChunkSpec, Index, LowerOptions, TaskGraph, TaskId, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, Value};

use super::{
    ClusterScheduler, Command, Event, FailureKind, HEARTBEAT_INTERVAL_MS, Report, WorkerCommand, WorkerCore,
    WorkerEvent, WorkerId, WorkerInfo,
};
use crate::{NoObserver, Scheduler, run};

const GRAPH: u64 = 9;
/// Simulated time per step.
const STEP_MS: u64 = 5;

fn graph() -> Arc<TaskGraph> {
    let x = Array::random(&[60, 50], 7, &ChunkSpec::parse("(7, 9)").expect("valid")).expect("valid");
    let y = x.slice(&[Index::REVERSED, Index::REVERSED]).expect("ok");
    let z = (&x * &y).expect("ok").rechunk(&ChunkSpec::parse("(20, 25)").expect("valid")).expect("ok");
    let total = (&z.t().t() + &z).expect("ok").sum(Some(&[0])).expect("ok");
    Arc::new(lower(&total, &LowerOptions::unfused()).expect("lowers"))
}

fn local(graph: &TaskGraph) -> Vec<Value> {
    run(graph, &CpuBackend, Scheduler::SingleThreaded, &NoObserver).expect("runs").outputs
}

/// One thing that may happen next.
enum Pending {
    ToWorker(WorkerId, WorkerEvent<WorkerId>),
    ToScheduler(Event),
    /// A fetch or a kernel run a worker asked for.
    Work(WorkerId, WorkerCommand<WorkerId>),
}

struct Sim {
    scheduler: ClusterScheduler,
    workers: BTreeMap<WorkerId, WorkerCore<WorkerId>>,
    /// Frozen workers: nothing reaches them or leaves them, and they stop beating.
    frozen: BTreeSet<WorkerId>,
    pending: VecDeque<Pending>,
    graph: Arc<TaskGraph>,
    outputs: Option<Vec<(TaskId, WorkerId)>>,
    failed: Option<(String, FailureKind)>,
    runs: BTreeMap<WorkerId, usize>,
    stolen: usize,
    /// Workers told they may go.
    retired: Vec<WorkerId>,
    now_ms: u64,
    rng: u64,
    budget: u64,
}

impl Sim {
    fn new(workers: &[WorkerId], seed: u64, budget: u64) -> Sim {
        let mut sim = Sim {
            scheduler: ClusterScheduler::new(),
            workers: BTreeMap::new(),
            frozen: BTreeSet::new(),
            pending: VecDeque::new(),
            graph: graph(),
            outputs: None,
            failed: None,
            runs: BTreeMap::new(),
            stolen: 0,
            retired: Vec::new(),
            now_ms: 0,
            rng: seed | 1,
            budget,
        };
        for &w in workers {
            sim.join(w);
        }
        sim
    }

    fn random(&mut self, n: usize) -> usize {
        // xorshift64*: deterministic for a seed.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }

    fn join(&mut self, w: WorkerId) {
        self.workers.insert(w, WorkerCore::new(2, self.budget));
        let info = WorkerInfo { name: format!("w{w}"), threads: 2, memory_limit: 1 << 30, gpu: false };
        self.tell_scheduler(Event::WorkerJoined { worker: w, info });
    }

    fn kill(&mut self, w: WorkerId) {
        self.workers.remove(&w);
        self.tell_scheduler(Event::WorkerLost { worker: w });
    }

    fn submit(&mut self) {
        let tasks = self.graph.clone();
        self.tell_scheduler(Event::Submitted { client: 1, graph: GRAPH, tasks, gpu_only: false });
    }

    fn tell_scheduler(&mut self, event: Event) {
        for command in self.scheduler.handle(event) {
            self.command(command);
        }
    }

    fn command(&mut self, command: Command) {
        let to = |w, e| Pending::ToWorker(w, e);
        let item = match command {
            Command::ShareGraph { worker, graph } => {
                to(worker, WorkerEvent::Graph { graph, tasks: self.graph.clone() })
            }
            Command::Compute { worker, graph, task, inputs } => {
                let inputs = inputs.into_iter().map(|(dep, h)| (dep, (h != worker).then_some(h))).collect();
                to(worker, WorkerEvent::Compute { graph, task, inputs })
            }
            Command::Release { worker, graph, task } => to(worker, WorkerEvent::Release { graph, task }),
            Command::Steal { worker, graph, task } => to(worker, WorkerEvent::Steal { graph, task }),
            Command::Forget { worker, graph } => to(worker, WorkerEvent::Forget { graph }),
            Command::Copy { worker, graph, task, from } => to(worker, WorkerEvent::Copy { graph, task, from }),
            Command::Retire { worker } => {
                // It goes once told: what it still held leaves with it.
                self.retired.push(worker);
                self.kill(worker);
                return;
            }
            Command::Disconnect { worker } => {
                // Cut off: nothing more reaches it or comes from it.
                self.workers.remove(&worker);
                self.frozen.remove(&worker);
                self.pending.retain(|p| match p {
                    Pending::ToWorker(w, _) | Pending::Work(w, _) => *w != worker,
                    Pending::ToScheduler(e) => sender(e) != worker,
                });
                return;
            }
            Command::Finished { outputs, .. } => {
                self.outputs = Some(outputs);
                return;
            }
            Command::Failed { error, kind, .. } => {
                self.failed = Some((error, kind));
                return;
            }
            Command::Progress { .. } => return,
        };
        self.pending.push_back(item);
    }

    fn worker_commands(&mut self, w: WorkerId, commands: Vec<WorkerCommand<WorkerId>>) {
        for command in commands {
            match command {
                WorkerCommand::Report(report) => {
                    let event = match report {
                        Report::Finished { graph, task, bytes } => {
                            Event::TaskFinished { worker: w, graph, task, bytes }
                        }
                        Report::StealAnswer { graph, task, stolen } => {
                            self.stolen += usize::from(stolen);
                            Event::StealAnswered { worker: w, graph, task, stolen }
                        }
                        Report::InputsLost { graph, task } => Event::InputsLost { worker: w, graph, task },
                        Report::Copied { graph, task, copied } => Event::ValueCopied { worker: w, graph, task, copied },
                        Report::Failed { graph, task, error, kind } => {
                            Event::TaskFailed { worker: w, graph, task, error, kind }
                        }
                    };
                    self.pending.push_back(Pending::ToScheduler(event));
                }
                work => self.pending.push_back(Pending::Work(w, work)),
            }
        }
    }

    fn deliver(&mut self, w: WorkerId, event: WorkerEvent<WorkerId>) {
        if let Some(core) = self.workers.get_mut(&w) {
            let commands = core.handle(event);
            self.worker_commands(w, commands);
        }
    }

    /// Carries out a fetch or a kernel run, as the worker process would.
    fn work(&mut self, w: WorkerId, command: WorkerCommand<WorkerId>) {
        let event = match command {
            WorkerCommand::Fetch { graph, task, dep, from } => {
                let value = self
                    .workers
                    .get(&from)
                    .filter(|_| !self.frozen.contains(&from))
                    .and_then(|core| core.value(&(graph, dep)))
                    .and_then(|held| held.load().ok())
                    .map(|v| (*v).clone());
                WorkerEvent::Fetched { graph, task, dep, value }
            }
            WorkerCommand::Copy { graph, task, from } => {
                let value = self
                    .workers
                    .get(&from)
                    .filter(|_| !self.frozen.contains(&from))
                    .and_then(|core| core.value(&(graph, task)))
                    .and_then(|held| held.load().ok())
                    .map(|v| (*v).clone());
                WorkerEvent::Copied { graph, task, value }
            }
            WorkerCommand::Run { graph, tasks, task, inputs } => {
                *self.runs.entry(w).or_default() += 1;
                let loaded: Result<Vec<Arc<Value>>, _> = inputs.into_iter().map(|h| h.load()).collect();
                match loaded {
                    Ok(values) => {
                        let refs: Vec<&Value> = values.iter().map(|v| v.as_ref()).collect();
                        let result =
                            CpuBackend.execute(&tasks, task, &refs).map_err(|e| (e.to_string(), FailureKind::Failed));
                        WorkerEvent::Computed { graph, task, result }
                    }
                    Err(_) => WorkerEvent::InputUnreadable { graph, task },
                }
            }
            WorkerCommand::Report(_) => return,
        };
        self.deliver(w, event);
    }

    /// One thing happens: time passes, and a pending item drawn at random (among the
    /// first few, so order is mostly kept) is carried out. False when nothing is left.
    fn step(&mut self) -> bool {
        self.now_ms += STEP_MS;
        if self.now_ms.is_multiple_of(HEARTBEAT_INTERVAL_MS) {
            let alive: Vec<WorkerId> = self.workers.keys().copied().filter(|w| !self.frozen.contains(w)).collect();
            for worker in alive {
                self.tell_scheduler(Event::Heartbeat { worker, at_ms: self.now_ms });
            }
            self.tell_scheduler(Event::Tick { at_ms: self.now_ms });
        }
        // Messages on one connection keep their order (QUIC streams are ordered);
        // fetches and kernel runs finish in any order.
        let mut channels = BTreeSet::new();
        let mut ready = Vec::new();
        for i in 0..self.pending.len().min(8) {
            let (channel, blocked) = match &self.pending[i] {
                Pending::ToWorker(w, _) => (Some((0, *w)), self.frozen.contains(w)),
                Pending::ToScheduler(e) => (Some((1, sender(e))), self.frozen.contains(&sender(e))),
                Pending::Work(w, _) => (None, self.frozen.contains(w)),
            };
            let first_on_channel = channel.is_none_or(|c| channels.insert(c));
            if first_on_channel && !blocked {
                ready.push(i);
            }
        }
        if ready.is_empty() {
            return self.outputs.is_none() && self.failed.is_none() && !self.frozen.is_empty();
        }
        let pick = ready[self.random(ready.len())];
        let Some(item) = self.pending.remove(pick) else { return false };
        match item {
            Pending::ToWorker(w, event) => self.deliver(w, event),
            Pending::ToScheduler(event) => self.tell_scheduler(event),
            Pending::Work(w, command) => self.work(w, command),
        }
        true
    }

    fn run_to_end(&mut self) {
        let mut steps = 0;
        while self.outputs.is_none() && self.failed.is_none() && self.step() {
            steps += 1;
            assert!(steps < 200_000, "the run does not finish");
        }
        assert!(self.failed.is_none(), "{:?}", self.failed);
    }

    fn tasks_run(&self) -> usize {
        self.runs.values().sum()
    }

    /// The outputs, fetched from their holders.
    fn result(&self) -> Vec<Value> {
        let outputs = self.outputs.as_ref().expect("finished");
        outputs
            .iter()
            .map(|(task, holder)| {
                let held = self.workers[holder].value(&(GRAPH, *task)).expect("the holder has it");
                (*held.load().expect("reads")).clone()
            })
            .collect()
    }
}

/// The worker a message to the scheduler comes from (0: none).
fn sender(event: &Event) -> WorkerId {
    match event {
        Event::TaskFinished { worker, .. }
        | Event::InputsLost { worker, .. }
        | Event::TaskFailed { worker, .. }
        | Event::StealAnswered { worker, .. }
        | Event::ValueCopied { worker, .. }
        | Event::WorkerRetiring { worker } => *worker,
        _ => 0,
    }
}

#[test]
fn workers_compute_the_local_result_in_any_order() {
    let want = local(&graph());
    for seed in 1..6 {
        let mut sim = Sim::new(&[1, 2, 3], seed, 1 << 30);
        sim.submit();
        sim.run_to_end();
        assert_eq!(sim.result(), want, "seed {seed}");
        assert!(sim.runs.len() == 3, "every worker computed: {:?}", sim.runs);
    }
}

#[test]
fn a_killed_worker_is_recovered_with_the_same_result() {
    let want = local(&graph());
    let n = graph().tasks.len();
    for (seed, kill_after) in [(1, 3), (2, n / 3), (3, n / 2), (4, n - 5)] {
        let mut sim = Sim::new(&[1, 2, 3], seed, 1 << 30);
        sim.submit();
        while sim.tasks_run() < kill_after && sim.step() {}
        sim.kill(2);
        sim.run_to_end();
        assert_eq!(sim.result(), want, "killed after {kill_after} tasks");
    }
}

#[test]
fn a_frozen_worker_is_declared_lost_and_its_work_redone() {
    let want = local(&graph());
    let mut sim = Sim::new(&[1, 2], 7, 1 << 30);
    sim.submit();
    while sim.tasks_run() < graph().tasks.len() / 3 && sim.step() {}
    sim.frozen.insert(2);
    sim.run_to_end();
    assert!(!sim.workers.contains_key(&2), "the frozen worker was disconnected");
    assert_eq!(sim.result(), want);
}

#[test]
fn a_worker_that_joins_mid_run_takes_work() {
    let want = local(&graph());
    let mut sim = Sim::new(&[1], 3, 1 << 30);
    sim.submit();
    while sim.tasks_run() < 10 && sim.step() {}
    sim.join(2);
    sim.run_to_end();
    assert_eq!(sim.result(), want);
    assert!(sim.runs.get(&2).is_some_and(|&n| n > 5), "{:?}", sim.runs);
}

#[test]
fn idle_workers_steal_queued_tasks_and_the_result_stays() {
    let want = local(&graph());
    let mut stolen = 0;
    for seed in 1..6 {
        let mut sim = Sim::new(&[1], seed, 1 << 30);
        sim.submit();
        // Worker 1 has a long queue when the others join.
        while sim.tasks_run() < 4 && sim.step() {}
        sim.join(2);
        sim.join(3);
        sim.run_to_end();
        assert_eq!(sim.result(), want, "seed {seed}");
        stolen += sim.stolen;
    }
    assert!(stolen > 0, "no steal was granted");
}

#[test]
fn under_a_small_budget_workers_spill_and_read_back() {
    let want = local(&graph());
    let mut sim = Sim::new(&[1, 2], 5, 16 << 10);
    sim.submit();
    sim.run_to_end();
    assert_eq!(sim.result(), want);
    let spilled: u64 = sim.workers.values().map(WorkerCore::spilled_bytes).sum();
    assert!(spilled > 0, "nothing was spilled under a 16 KiB budget");
}

#[test]
fn a_client_that_leaves_stops_the_work_on_every_worker() {
    let mut sim = Sim::new(&[1, 2], 11, 1 << 30);
    sim.submit();
    while sim.tasks_run() < 20 && sim.step() {}
    sim.tell_scheduler(Event::ClientLeft { client: 1 });
    // Drain: every message, fetch and run already under way is carried out.
    let mut steps = 0;
    while sim.step() {
        steps += 1;
        assert!(steps < 100_000);
    }
    let ran = sim.tasks_run();
    assert!(ran < graph().tasks.len(), "the whole graph ran anyway");
    for (w, core) in &sim.workers {
        assert_eq!((core.queued(), core.held_bytes()), (0, 0), "worker {w} kept work or values");
    }
}

#[test]
fn a_retiring_worker_hands_its_values_over_and_nothing_is_recomputed() {
    let want = local(&graph());
    let n = graph().tasks.len();
    for (seed, retire_after) in [(1, 3), (2, n / 3), (3, n / 2), (4, n - 5)] {
        let mut sim = Sim::new(&[1, 2, 3], seed, 1 << 30);
        sim.submit();
        while sim.tasks_run() < retire_after && sim.step() {}
        sim.pending.push_back(Pending::ToScheduler(Event::WorkerRetiring { worker: 2 }));
        sim.run_to_end();
        assert_eq!(sim.result(), want, "retired after {retire_after} tasks");
        assert_eq!(sim.retired, [2], "worker 2 was let go");
        assert!(!sim.workers.contains_key(&2));
        assert_eq!(sim.tasks_run(), n, "a value was recomputed (retired after {retire_after} tasks)");
    }
}

#[test]
fn a_retiring_worker_takes_no_new_tasks_and_a_lone_one_waits_for_newcomers() {
    let want = local(&graph());
    let mut sim = Sim::new(&[1], 9, 1 << 30);
    sim.submit();
    while sim.tasks_run() < 10 && sim.step() {}
    sim.tell_scheduler(Event::WorkerRetiring { worker: 1 });
    // Nobody stays to take its values: it goes, and the run waits for workers.
    let mut steps = 0;
    while sim.step() {
        steps += 1;
        assert!(steps < 100_000);
    }
    assert_eq!(sim.retired, [1]);
    assert!(sim.outputs.is_none());
    let before = sim.tasks_run();
    sim.join(2);
    sim.run_to_end();
    assert_eq!(sim.result(), want);
    assert!(sim.tasks_run() > before);
}
