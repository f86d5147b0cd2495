//! The state machine.

mod retire;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use tessera_graph::{TaskGraph, TaskId};

use super::{ClientId, Command, Event, FailureKind, GraphId, HEARTBEAT_TIMEOUT_MS, WorkerId, WorkerInfo};

/// Tasks a worker may have in flight per thread: enough queued that tiny tasks do not
/// wait for a round trip to the scheduler between them.
const IN_FLIGHT_PER_THREAD: usize = 8;

/// Tasks whose inputs on their worker pass this size are not stolen: moving them would
/// cost more than waiting.
const STEAL_MAX_INPUT_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Waiting for this many dependencies to be in memory somewhere.
    Waiting(u32),
    /// All inputs available, not assigned.
    Ready,
    /// Assigned to a worker.
    Running(WorkerId),
    /// Computed; held by these workers.
    Memory(Vec<WorkerId>),
    /// Computed, then dropped because no task needs it any more.
    Released,
}

struct GraphState {
    client: ClientId,
    tasks: Arc<TaskGraph>,
    state: Vec<State>,
    bytes: Vec<u64>,
    /// Tasks that still have to read each value (outputs count one extra reader).
    readers: Vec<u32>,
    dependents: Vec<Vec<TaskId>>,
    ready: BTreeSet<TaskId>,
    done: usize,
    /// Tasks done per layer, for progress per operation.
    layer_done: Vec<usize>,
    shared_with: HashSet<WorkerId>,
    is_output: Vec<bool>,
    /// Stolen tasks and the idle worker they were taken for.
    preferred: BTreeMap<TaskId, WorkerId>,
    /// Only workers with a GPU may compute its tasks.
    gpu_only: bool,
}

struct Worker {
    info: WorkerInfo,
    in_flight: usize,
    /// Tasks sent to it and not yet answered; `false` once a steal of it was refused
    /// (it has started) or is pending.
    assigned: BTreeMap<(GraphId, TaskId), bool>,
    /// Its last heartbeat (`None` until the first tick or beat).
    last_seen_ms: Option<u64>,
    /// It is leaving: it takes no tasks, and goes once told [`Command::Retire`].
    retiring: Retiring,
}

/// Where a worker stands in leaving the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retiring {
    /// It stays.
    No,
    /// It asked to leave and is handing over what others still need.
    HandingOver,
    /// It was told it may go.
    Released,
}

impl Worker {
    fn capacity(&self) -> usize {
        self.info.threads.max(1) * IN_FLIGHT_PER_THREAD
    }

    /// It takes tasks (it is not leaving).
    fn staying(&self) -> bool {
        self.retiring == Retiring::No
    }
}

/// The cluster scheduler: feed it events with [`ClusterScheduler::handle`], carry out
/// the commands it returns.
#[derive(Default)]
pub struct ClusterScheduler {
    workers: BTreeMap<WorkerId, Worker>,
    graphs: BTreeMap<GraphId, GraphState>,
    /// Steals asked for: the task and the idle worker that will run it.
    stealing: BTreeMap<(GraphId, TaskId), WorkerId>,
    last_tick_ms: Option<u64>,
    /// Values being copied off retiring workers: the value, its copier and its holder.
    copying: BTreeMap<(GraphId, TaskId), (WorkerId, WorkerId)>,
    /// Values a retiring worker could not hand over (the copy failed): they are not
    /// waited for, and are recomputed if needed once it has gone.
    not_copied: BTreeSet<(WorkerId, GraphId, TaskId)>,
}

impl ClusterScheduler {
    /// An empty scheduler.
    pub fn new() -> ClusterScheduler {
        ClusterScheduler::default()
    }

    /// Number of live workers.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Number of graphs in progress.
    pub fn graphs(&self) -> usize {
        self.graphs.len()
    }

    /// The backlog: tasks ready with no worker to take them, and tasks sent to workers
    /// and not finished (what a launcher scales on).
    pub fn backlog(&self) -> (usize, usize) {
        let ready = self.graphs.values().map(|g| g.ready.len()).sum();
        let in_flight = self.workers.values().map(|w| w.in_flight).sum();
        (ready, in_flight)
    }

    /// Applies one event and returns what must be done. Events about tasks that do not
    /// exist (a confused or hostile peer) change nothing.
    pub fn handle(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        // Only a worker that joined reports work: anything else (a client's
        // connection, a worker already declared lost) would otherwise be recorded as
        // the holder of a value.
        if let Event::TaskFinished { worker, .. }
        | Event::InputsLost { worker, .. }
        | Event::TaskFailed { worker, .. }
        | Event::StealAnswered { worker, .. }
        | Event::ValueCopied { worker, .. }
        | Event::WorkerRetiring { worker }
        | Event::Heartbeat { worker, .. } = &event
            && !self.workers.contains_key(worker)
        {
            return out;
        }
        if let Event::TaskFinished { graph, task, .. }
        | Event::InputsLost { graph, task, .. }
        | Event::TaskFailed { graph, task, .. }
        | Event::StealAnswered { graph, task, .. }
        | Event::ValueCopied { graph, task, .. } = &event
            && self.graphs.get(graph).is_some_and(|g| *task >= g.state.len())
        {
            return out;
        }
        match event {
            Event::WorkerJoined { worker, info } => {
                let last_seen_ms = self.last_tick_ms;
                let retiring = Retiring::No;
                let w = Worker { info, in_flight: 0, assigned: BTreeMap::new(), last_seen_ms, retiring };
                self.workers.insert(worker, w);
            }
            Event::WorkerLost { worker } => self.worker_lost(worker),
            Event::WorkerRetiring { worker } => self.retiring(worker, &mut out),
            Event::ValueCopied { worker, graph, task, copied } => {
                self.value_copied(worker, graph, task, copied, &mut out)
            }
            Event::Heartbeat { worker, at_ms } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.last_seen_ms = Some(at_ms);
                }
            }
            Event::Tick { at_ms } => self.tick(at_ms, &mut out),
            Event::StealAnswered { worker, graph, task, stolen } => self.steal_answered(worker, graph, task, stolen),
            Event::Submitted { client, graph, tasks, gpu_only } => {
                self.submit(client, graph, tasks, gpu_only, &mut out)
            }
            Event::TaskFinished { worker, graph, task, bytes } => self.finished(worker, graph, task, bytes, &mut out),
            Event::InputsLost { worker, graph, task } => {
                self.task_returned(worker, graph, task);
                if let Some(g) = self.graphs.get_mut(&graph)
                    && g.state[task] == State::Running(worker)
                {
                    requeue(g, task);
                }
            }
            Event::TaskFailed { worker, graph, task, error, kind } => {
                self.task_returned(worker, graph, task);
                if let Some(g) = self.graphs.remove(&graph) {
                    let key = g.tasks.key(task);
                    out.push(Command::Failed {
                        client: g.client,
                        graph,
                        error: format!("task {key} failed on worker {}: {error}", self.name_of(worker)),
                        kind,
                    });
                    self.forget(graph, &g, &mut out);
                }
            }
            Event::ResultsDelivered { graph } => {
                if let Some(g) = self.graphs.remove(&graph) {
                    self.forget(graph, &g, &mut out);
                }
            }
            Event::ClientLeft { client } => {
                let gone: Vec<GraphId> =
                    self.graphs.iter().filter(|(_, g)| g.client == client).map(|(&id, _)| id).collect();
                for id in gone {
                    if let Some(g) = self.graphs.remove(&id) {
                        self.forget(id, &g, &mut out);
                    }
                }
            }
        }
        self.fail_gpu_graphs_without_gpu(&mut out);
        self.assign(&mut out);
        self.steal(&mut out);
        self.hand_over(&mut out);
        out
    }

    /// A graph for the GPU whose last GPU worker left can never finish: it fails
    /// (rather than waiting forever) and says why.
    fn fail_gpu_graphs_without_gpu(&mut self, out: &mut Vec<Command>) {
        if self.workers.is_empty() || self.workers.values().any(|w| w.info.gpu) {
            return;
        }
        let orphaned: Vec<GraphId> = self.graphs.iter().filter(|(_, g)| g.gpu_only).map(|(&id, _)| id).collect();
        for id in orphaned {
            if let Some(g) = self.graphs.remove(&id) {
                out.push(Command::Failed {
                    client: g.client,
                    graph: id,
                    error: "the last worker with a GPU left the cluster".into(),
                    kind: FailureKind::Resources,
                });
                self.forget(id, &g, out);
            }
        }
    }

    /// A worker's name, for messages.
    fn name_of(&self, worker: WorkerId) -> String {
        self.workers.get(&worker).map_or_else(|| format!("#{worker}"), |w| w.info.name.clone())
    }

    /// A graph that ended (delivered, failed, cancelled, its client gone): every value
    /// of it is released, and every worker it was shared with forgets it, dropping the
    /// tasks it has queued, so that none of its work goes on.
    fn forget(&mut self, graph: GraphId, g: &GraphState, out: &mut Vec<Command>) {
        self.copying.retain(|&(gid, _), _| gid != graph);
        self.not_copied.retain(|&(_, gid, _)| gid != graph);
        for (task, s) in g.state.iter().enumerate() {
            if let State::Memory(holders) = s {
                for &worker in holders {
                    out.push(Command::Release { worker, graph, task });
                }
            }
        }
        let mut shared: Vec<WorkerId> = g.shared_with.iter().copied().collect();
        shared.sort_unstable();
        for worker in shared {
            if let Some(w) = self.workers.get_mut(&worker) {
                let before = w.assigned.len();
                w.assigned.retain(|(gid, _), _| *gid != graph);
                w.in_flight = w.in_flight.saturating_sub(before - w.assigned.len());
                out.push(Command::Forget { worker, graph });
            }
        }
    }

    fn task_returned(&mut self, worker: WorkerId, graph: GraphId, task: TaskId) {
        if let Some(w) = self.workers.get_mut(&worker)
            && w.assigned.remove(&(graph, task)).is_some()
        {
            w.in_flight = w.in_flight.saturating_sub(1);
        }
    }

    /// Declares workers that stopped beating dead. A gap between ticks longer than the
    /// timeout means this process itself stalled (a huge graph being decoded): then
    /// nobody's silence is held against them.
    fn tick(&mut self, at_ms: u64, out: &mut Vec<Command>) {
        let stalled = self.last_tick_ms.is_some_and(|t| at_ms.saturating_sub(t) > HEARTBEAT_TIMEOUT_MS / 2);
        self.last_tick_ms = Some(at_ms);
        let mut dead = Vec::new();
        for (&id, w) in &mut self.workers {
            match w.last_seen_ms {
                Some(seen) if !stalled && at_ms.saturating_sub(seen) > HEARTBEAT_TIMEOUT_MS => dead.push(id),
                Some(_) if !stalled => {}
                _ => w.last_seen_ms = Some(at_ms),
            }
        }
        for worker in dead {
            out.push(Command::Disconnect { worker });
            self.worker_lost(worker);
        }
    }

    fn steal_answered(&mut self, worker: WorkerId, graph: GraphId, task: TaskId, stolen: bool) {
        let thief = self.stealing.remove(&(graph, task));
        if !stolen {
            return;
        }
        self.task_returned(worker, graph, task);
        let Some(g) = self.graphs.get_mut(&graph) else { return };
        if g.state[task] != State::Running(worker) {
            return;
        }
        requeue(g, task);
        if let Some(thief) = thief
            && g.state[task] == State::Ready
        {
            g.preferred.insert(task, thief);
        }
    }

    /// Idle workers take tasks that busy workers have queued but not started, when no
    /// task is ready for them.
    fn steal(&mut self, out: &mut Vec<Command>) {
        if self.graphs.values().any(|g| !g.ready.is_empty()) {
            return;
        }
        let pending = |thief: WorkerId, stealing: &BTreeMap<(GraphId, TaskId), WorkerId>| {
            stealing.values().filter(|&&t| t == thief).count()
        };
        let thieves: Vec<(WorkerId, usize)> = self
            .workers
            .iter()
            .filter(|(_, w)| w.staying())
            .map(|(&id, w)| (id, w.info.threads.max(1).saturating_sub(w.in_flight + pending(id, &self.stealing))))
            .filter(|&(_, want)| want > 0)
            .collect();
        for (thief, want) in thieves {
            for _ in 0..want {
                // The victim with the longest queue beyond its threads; its newest task.
                let queued = |w: &Worker| w.assigned.values().filter(|&&stealable| stealable).count();
                let victim = self
                    .workers
                    .iter()
                    .filter(|&(&id, w)| id != thief && queued(w) > w.info.threads.max(1))
                    .max_by_key(|(_, w)| queued(w))
                    .map(|(&id, _)| id);
                let Some(victim) = victim else { return };
                let graphs = &self.graphs;
                let thief_has_gpu = self.workers.get(&thief).is_some_and(|w| w.info.gpu);
                let Some(w) = self.workers.get_mut(&victim) else { return };
                let candidate = w.assigned.iter().rev().find(|&(&(graph, task), &stealable)| {
                    stealable
                        && graphs.get(&graph).is_some_and(|g| {
                            (thief_has_gpu || !g.gpu_only)
                                && g.tasks.tasks[task].deps.iter().map(|&d| g.bytes[d]).sum::<u64>()
                                    <= STEAL_MAX_INPUT_BYTES
                        })
                });
                let Some((&(graph, task), _)) = candidate else { return };
                w.assigned.insert((graph, task), false);
                self.stealing.insert((graph, task), thief);
                out.push(Command::Steal { worker: victim, graph, task });
            }
        }
    }

    fn submit(&mut self, client: ClientId, id: GraphId, tasks: Arc<TaskGraph>, gpu_only: bool, out: &mut Vec<Command>) {
        // With no worker at all yet, the graph waits for workers, as any graph does.
        if gpu_only && !self.workers.is_empty() && !self.workers.values().any(|w| w.info.gpu) {
            out.push(Command::Failed {
                client,
                graph: id,
                error: "no worker of this cluster has a GPU (start workers with --device gpu)".into(),
                kind: FailureKind::Resources,
            });
            return;
        }
        let need = tasks.max_projected_bytes();
        let largest = self.workers.values().filter(|w| w.info.gpu || !gpu_only).map(|w| w.info.memory_limit).max();
        if let Some(limit) = largest.filter(|&l| need > l) {
            out.push(Command::Failed {
                client,
                graph: id,
                error: format!(
                    "a task would need about {need} bytes of memory, more than any worker's limit ({limit} bytes); use smaller chunks"
                ),
                kind: FailureKind::Resources,
            });
            return;
        }
        let n = tasks.tasks.len();
        let mut dependents = vec![Vec::new(); n];
        let mut state = Vec::with_capacity(n);
        let mut ready = BTreeSet::new();
        for (id, t) in tasks.tasks.iter().enumerate() {
            for &d in &t.deps {
                dependents[d].push(id);
            }
            if t.deps.is_empty() {
                state.push(State::Ready);
                ready.insert(id);
            } else {
                state.push(State::Waiting(t.deps.len() as u32));
            }
        }
        let mut is_output = vec![false; n];
        for &o in &tasks.outputs {
            is_output[o] = true;
        }
        let readers = tasks.dependents_count();
        let layer_done = vec![0; tasks.layers.len()];
        self.graphs.insert(
            id,
            GraphState {
                client,
                tasks,
                state,
                bytes: vec![0; n],
                readers,
                dependents,
                ready,
                done: 0,
                layer_done,
                shared_with: HashSet::new(),
                is_output,
                preferred: BTreeMap::new(),
                gpu_only,
            },
        );
    }

    fn finished(&mut self, worker: WorkerId, graph: GraphId, task: TaskId, bytes: u64, out: &mut Vec<Command>) {
        self.task_returned(worker, graph, task);
        let Some(g) = self.graphs.get_mut(&graph) else {
            out.push(Command::Release { worker, graph, task });
            return;
        };
        match &mut g.state[task] {
            State::Running(w) if *w == worker => {}
            State::Memory(holders) => {
                if !holders.contains(&worker) {
                    holders.push(worker);
                }
                return;
            }
            _ => {
                // A stale result (the task was reset meanwhile): drop it.
                out.push(Command::Release { worker, graph, task });
                return;
            }
        }
        g.state[task] = State::Memory(vec![worker]);
        g.bytes[task] = bytes;
        g.done += 1;
        g.layer_done[g.tasks.tasks[task].layer] += 1;
        let deps = g.tasks.tasks[task].deps.clone();
        for d in deps {
            g.readers[d] = g.readers[d].saturating_sub(1);
            if g.readers[d] == 0
                && let State::Memory(holders) = std::mem::replace(&mut g.state[d], State::Released)
            {
                for h in holders {
                    out.push(Command::Release { worker: h, graph, task: d });
                }
            }
        }
        for &next in &g.dependents[task] {
            if let State::Waiting(n) = &mut g.state[next] {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    g.state[next] = State::Ready;
                    g.ready.insert(next);
                }
            }
        }
        let total = g.tasks.tasks.len();
        out.push(Command::Progress { client: g.client, graph, done: g.done, total, layers: g.layer_done.clone() });
        if g.done == total {
            let outputs = g
                .tasks
                .outputs
                .iter()
                .map(|&o| match &g.state[o] {
                    State::Memory(h) => (o, h[0]),
                    _ => (o, worker),
                })
                .collect();
            out.push(Command::Finished { client: g.client, graph, outputs });
        }
    }

    fn worker_lost(&mut self, worker: WorkerId) {
        if let Some(w) = self.workers.remove(&worker) {
            for key in w.assigned.keys() {
                self.stealing.remove(key);
            }
        }
        self.stealing.retain(|_, thief| *thief != worker);
        // Copies to it failed; copies from it end with its connection (a copy that
        // arrives anyway is released: its task is being recomputed).
        self.copying.retain(|_, &mut (copier, holder)| copier != worker && holder != worker);
        self.not_copied.retain(|&(holder, ..)| holder != worker);
        for g in self.graphs.values_mut() {
            g.shared_with.remove(&worker);
            g.preferred.retain(|_, thief| *thief != worker);
            let mut lost = Vec::new();
            for t in 0..g.state.len() {
                match &mut g.state[t] {
                    State::Running(w) if *w == worker => {
                        g.state[t] = State::Waiting(0);
                        lost.push((t, false));
                    }
                    State::Memory(holders) if holders.contains(&worker) => {
                        holders.retain(|&h| h != worker);
                        if holders.is_empty() {
                            lost.push((t, true));
                        }
                    }
                    _ => {}
                }
            }
            for (t, was_done) in lost {
                if was_done {
                    let needed = g.readers[t] > 0 || g.is_output[t];
                    if needed {
                        recompute(g, t, true);
                    } else {
                        g.state[t] = State::Released;
                    }
                } else {
                    requeue(g, t);
                }
            }
        }
    }

    /// Hands ready tasks to workers with free slots, preferring the worker that already
    /// holds the most input bytes.
    fn assign(&mut self, out: &mut Vec<Command>) {
        let graph_ids: Vec<GraphId> = self.graphs.keys().copied().collect();
        for id in graph_ids {
            loop {
                if self.workers.values().filter(|w| w.staying()).all(|w| w.in_flight >= w.capacity()) {
                    return;
                }
                let Some(g) = self.graphs.get_mut(&id) else { break };
                let Some(task) = g.ready.pop_first() else { break };
                let need = g.tasks.tasks[task].projected_bytes;
                let deps = &g.tasks.tasks[task].deps;
                let local_bytes = |w: WorkerId| -> u64 {
                    deps.iter()
                        .filter(|&&d| matches!(&g.state[d], State::Memory(h) if h.contains(&w)))
                        .map(|&d| g.bytes[d])
                        .sum()
                };
                // The worker holding the most input bytes may queue a little deeper than
                // the others: moving data costs more than waiting for a slot.
                let candidates: Vec<(WorkerId, u64, usize, bool)> = self
                    .workers
                    .iter()
                    .filter(|(_, w)| w.staying() && (w.info.gpu || !g.gpu_only))
                    .filter(|(_, w)| w.info.memory_limit >= need && w.in_flight < 2 * w.capacity())
                    .map(|(&id, w)| (id, local_bytes(id), w.in_flight, w.in_flight < w.capacity()))
                    .collect();
                let thief = g.preferred.remove(&task);
                let stolen_for = candidates.iter().find(|c| Some(c.0) == thief && c.3);
                let best_local = candidates.iter().filter(|c| c.1 > 0).max_by_key(|c| (c.1, std::cmp::Reverse(c.2)));
                let best_free = candidates.iter().filter(|c| c.3).min_by_key(|c| (c.2, c.0));
                let Some(&(worker, ..)) = stolen_for.or(best_local).or(best_free) else {
                    // No worker has room for it now: try again when one frees up.
                    g.ready.insert(task);
                    break;
                };
                let inputs: Vec<(TaskId, WorkerId)> = deps
                    .iter()
                    .map(|&d| match &g.state[d] {
                        State::Memory(h) => (d, if h.contains(&worker) { worker } else { h[0] }),
                        _ => (d, worker),
                    })
                    .collect();
                if g.shared_with.insert(worker) {
                    out.push(Command::ShareGraph { worker, graph: id });
                }
                g.state[task] = State::Running(worker);
                out.push(Command::Compute { worker, graph: id, task, inputs });
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.in_flight += 1;
                    w.assigned.insert((id, task), true);
                }
            }
        }
    }
}

/// Puts a task that was running back in line: its inputs that are gone are recomputed
/// first, and it waits for them.
fn requeue(g: &mut GraphState, task: TaskId) {
    let missing = unavailable_deps(g, task);
    for &d in &missing {
        recompute(g, d, false);
    }
    if missing.is_empty() {
        g.state[task] = State::Ready;
        g.ready.insert(task);
    } else {
        g.state[task] = State::Waiting(missing.len() as u32);
    }
}

/// Dependencies of `task` that are not in memory anywhere.
fn unavailable_deps(g: &GraphState, task: TaskId) -> Vec<TaskId> {
    g.tasks.tasks[task].deps.iter().copied().filter(|&d| !matches!(g.state[d], State::Memory(_))).collect()
}

/// Makes `task`, whose value is gone, computable again: its unavailable inputs are
/// recomputed first, recursively. `was_done` says the task had finished (its inputs
/// were released by it and must be read again); its dependents now wait for it.
fn recompute(g: &mut GraphState, task: TaskId, was_done: bool) {
    if matches!(g.state[task], State::Waiting(_) | State::Ready | State::Running(_)) && !was_done {
        return;
    }
    if matches!(g.state[task], State::Memory(_) | State::Released) || was_done {
        g.done = g.done.saturating_sub(1);
        let layer = g.tasks.tasks[task].layer;
        g.layer_done[layer] = g.layer_done[layer].saturating_sub(1);
    }
    // Dependents that counted this value as available must wait for it again.
    for i in 0..g.dependents[task].len() {
        let next = g.dependents[task][i];
        match g.state[next] {
            State::Waiting(n) => g.state[next] = State::Waiting(n + 1),
            State::Ready => {
                g.ready.remove(&next);
                g.state[next] = State::Waiting(1);
            }
            _ => {}
        }
    }
    let deps = g.tasks.tasks[task].deps.clone();
    let mut missing = 0;
    for d in deps {
        g.readers[d] += 1;
        if !matches!(g.state[d], State::Memory(_)) {
            missing += 1;
            if matches!(g.state[d], State::Released) {
                recompute(g, d, false);
            }
        }
    }
    if missing == 0 {
        g.state[task] = State::Ready;
        g.ready.insert(task);
    } else {
        g.state[task] = State::Waiting(missing);
    }
}
