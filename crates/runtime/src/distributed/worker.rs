//! The worker's logic, without any I/O: what a worker process decides.
//!
//! [`WorkerCore`] is fed [`WorkerEvent`]s (the scheduler's messages, a fetched input, a
//! computed task) and returns [`WorkerCommand`]s (fetch this input from that peer,
//! run this task on these inputs, tell the scheduler this). It owns the worker's
//! queue (tasks received and not started, in arrival order), the thread slots, the
//! memory admission and the held values (the shared [`Store`], which decides what is
//! spilled), the answers to steals, and which inputs to gather from whom. The process
//! around it only moves bytes: it fetches, runs kernels on threads and sends frames,
//! so every decision here is tested by a simulator that drives scheduler and worker
//! cores together.
//!
//! Inputs are gathered only once a task is admitted: values fetched or read back from
//! disk for tasks still waiting would take memory the limit does not see.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tessera_graph::{TaskGraph, TaskId};
use tessera_kernels::Value;

use super::{FailureKind, GraphId};
use crate::RuntimeError;
use crate::store::{Held, Store};

/// A value's key on a worker: graph and task.
pub type ValueKey = (GraphId, TaskId);

/// Something that happened to a worker; `P` names a peer that holds a value.
#[derive(Debug)]
pub enum WorkerEvent<P> {
    /// The scheduler shared a graph (decoded and validated by the process).
    Graph {
        /// Its id.
        graph: GraphId,
        /// The tasks.
        tasks: Arc<TaskGraph>,
    },
    /// The scheduler asks for a task; each input with the peer holding it (`None`:
    /// this worker).
    Compute {
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
        /// Its inputs, in dependency order.
        inputs: Vec<(TaskId, Option<P>)>,
    },
    /// The scheduler asks to give a task up if it has not started.
    Steal {
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
    },
    /// The scheduler releases a value.
    Release {
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
    },
    /// The graph ended: drop its queued tasks, its values and the graph.
    Forget {
        /// The graph.
        graph: GraphId,
    },
    /// An input asked for with [`WorkerCommand::Fetch`] arrived (`None`: its holder
    /// did not have it or could not be reached).
    Fetched {
        /// The graph.
        graph: GraphId,
        /// The task that reads it.
        task: TaskId,
        /// The input.
        dep: TaskId,
        /// Its value.
        value: Option<Value>,
    },
    /// A task asked for with [`WorkerCommand::Run`] ended.
    Computed {
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
        /// Its value, or why it failed.
        result: Result<Value, (String, FailureKind)>,
    },
    /// The scheduler asks to copy a value from a worker that is leaving, and hold it.
    Copy {
        /// The graph.
        graph: GraphId,
        /// The task whose value it is.
        task: TaskId,
        /// The leaving worker.
        from: P,
    },
    /// A value asked for with [`WorkerCommand::Copy`] arrived (`None`: it could not
    /// be had).
    Copied {
        /// The graph.
        graph: GraphId,
        /// The task whose value it is.
        task: TaskId,
        /// The value.
        value: Option<Value>,
    },
    /// A local input of a [`WorkerCommand::Run`] could not be read back from disk.
    InputUnreadable {
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
    },
}

/// What the scheduler is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A task is computed and held.
    Finished {
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
        /// Bytes of its value.
        bytes: u64,
    },
    /// The answer to a steal.
    StealAnswer {
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
        /// It had not started and will not run here.
        stolen: bool,
    },
    /// An input could not be had: the scheduler runs the task again later.
    InputsLost {
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
    },
    /// A value asked for with [`WorkerEvent::Copy`] is held here now (or not).
    Copied {
        /// The graph.
        graph: GraphId,
        /// The task whose value it is.
        task: TaskId,
        /// It is held here.
        copied: bool,
    },
    /// The task failed for good.
    Failed {
        /// The graph.
        graph: GraphId,
        /// The task.
        task: TaskId,
        /// Why.
        error: String,
        /// The class of failure.
        kind: FailureKind,
    },
}

/// Something the worker process must do.
#[derive(Debug)]
pub enum WorkerCommand<P> {
    /// Fetch `dep` of `(graph, task)` from `from`; answer with [`WorkerEvent::Fetched`].
    Fetch {
        /// The graph.
        graph: GraphId,
        /// The task that reads it.
        task: TaskId,
        /// The input.
        dep: TaskId,
        /// Its holder.
        from: P,
    },
    /// Fetch the value of `(graph, task)` from `from`; answer with
    /// [`WorkerEvent::Copied`].
    Copy {
        /// The graph.
        graph: GraphId,
        /// The task whose value it is.
        task: TaskId,
        /// Its holder.
        from: P,
    },
    /// Compute a task; answer with [`WorkerEvent::Computed`].
    Run {
        /// The graph.
        graph: GraphId,
        /// Its tasks.
        tasks: Arc<TaskGraph>,
        /// The task.
        task: TaskId,
        /// Its inputs in dependency order (spilled ones to be read back first).
        inputs: Vec<Held>,
    },
    /// Tell the scheduler.
    Report(Report),
}

struct Queued<P> {
    key: ValueKey,
    inputs: Vec<(TaskId, Option<P>)>,
}

/// A task admitted to run: its admitted bytes, and while it gathers, its inputs.
struct Admitted {
    bytes: u64,
    /// `None` while an input is still being fetched; emptied when the task runs.
    inputs: Vec<Option<Held>>,
}

impl Admitted {
    /// Whether an input is still being fetched.
    fn gathering(&self) -> bool {
        self.inputs.iter().any(Option::is_none)
    }
}

struct KnownGraph {
    tasks: Arc<TaskGraph>,
    /// For each task, the priority of the first task that reads its value.
    first_readers: Vec<u64>,
}

/// A worker's decisions: feed it events, carry out its commands.
pub struct WorkerCore<P> {
    threads: usize,
    store: Store<ValueKey>,
    graphs: HashMap<GraphId, KnownGraph>,
    queue: VecDeque<Queued<P>>,
    admitted: HashMap<ValueKey, Admitted>,
}

impl<P: Clone> WorkerCore<P> {
    /// A worker that runs `threads` tasks at once within `budget` bytes of values and
    /// running tasks.
    pub fn new(threads: usize, budget: u64) -> WorkerCore<P> {
        WorkerCore {
            threads: threads.max(1),
            store: Store::new(budget),
            graphs: HashMap::new(),
            queue: VecDeque::new(),
            admitted: HashMap::new(),
        }
    }

    /// A held value, for a peer's fetch (read a spilled one back with [`Held::load`]).
    pub fn value(&self, key: &ValueKey) -> Option<Held> {
        self.store.get(key)
    }

    /// Bytes of values held in memory.
    pub fn held_bytes(&self) -> u64 {
        self.store.held_bytes()
    }

    /// Bytes written to the spill folder so far.
    pub fn spilled_bytes(&self) -> u64 {
        self.store.spilled_bytes()
    }

    /// Tasks received and not started.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether it has nothing to hand over: no value held, no task queued or running.
    pub fn idle(&self) -> bool {
        self.store.is_empty() && self.queue.is_empty() && self.admitted.is_empty()
    }

    /// Applies one event and returns what must be done.
    pub fn handle(&mut self, event: WorkerEvent<P>) -> Vec<WorkerCommand<P>> {
        let mut out = Vec::new();
        match event {
            WorkerEvent::Graph { graph, tasks } => {
                let first_readers = first_readers(&tasks);
                self.graphs.insert(graph, KnownGraph { tasks, first_readers });
            }
            WorkerEvent::Compute { graph, task, inputs } => {
                let known = self.graphs.get(&graph).is_some_and(|g| task < g.tasks.tasks.len());
                if known {
                    self.queue.push_back(Queued { key: (graph, task), inputs });
                } else {
                    let error = "a task of a graph this worker does not have".to_string();
                    out.push(WorkerCommand::Report(Report::Failed { graph, task, error, kind: FailureKind::Failed }));
                }
            }
            WorkerEvent::Steal { graph, task } => {
                let before = self.queue.len();
                self.queue.retain(|q| q.key != (graph, task));
                let stolen = self.queue.len() < before;
                out.push(WorkerCommand::Report(Report::StealAnswer { graph, task, stolen }));
            }
            WorkerEvent::Release { graph, task } => self.store.remove(&(graph, task)),
            WorkerEvent::Forget { graph } => {
                self.graphs.remove(&graph);
                self.queue.retain(|q| q.key.0 != graph);
                self.store.remove_where(|k| k.0 == graph);
                // Tasks still gathering inputs end now; running ones end when they do.
                let gathering: Vec<ValueKey> =
                    self.admitted.iter().filter(|(k, a)| k.0 == graph && a.gathering()).map(|(k, _)| *k).collect();
                for key in gathering {
                    self.end(&key);
                }
            }
            WorkerEvent::Fetched { graph, task, dep, value } => self.fetched((graph, task), dep, value, &mut out),
            WorkerEvent::Computed { graph, task, result } => self.computed((graph, task), result, &mut out),
            WorkerEvent::Copy { graph, task, from } => {
                if self.store.get(&(graph, task)).is_some() {
                    out.push(WorkerCommand::Report(Report::Copied { graph, task, copied: true }));
                } else if self.graphs.get(&graph).is_some_and(|g| task < g.tasks.tasks.len()) {
                    out.push(WorkerCommand::Copy { graph, task, from });
                } else {
                    out.push(WorkerCommand::Report(Report::Copied { graph, task, copied: false }));
                }
            }
            WorkerEvent::Copied { graph, task, value } => {
                let copied = self.keep_copy((graph, task), value);
                out.push(WorkerCommand::Report(Report::Copied { graph, task, copied }));
            }
            WorkerEvent::InputUnreadable { graph, task } => {
                if self.end(&(graph, task)) {
                    out.push(WorkerCommand::Report(Report::InputsLost { graph, task }));
                }
            }
        }
        self.start(&mut out);
        out
    }

    /// Ends an admitted task, returning its bytes to the budget; false if it was not
    /// admitted (a stale answer).
    fn end(&mut self, key: &ValueKey) -> bool {
        match self.admitted.remove(key) {
            Some(a) => {
                self.store.done(a.bytes);
                true
            }
            None => false,
        }
    }

    /// Admits queued tasks, in arrival order, while a thread is free and memory fits.
    fn start(&mut self, out: &mut Vec<WorkerCommand<P>>) {
        while self.admitted.len() < self.threads {
            let Some(next) = self.queue.front() else { return };
            let (graph, task) = next.key;
            let Some(known) = self.graphs.get(&graph) else {
                self.queue.pop_front();
                continue;
            };
            if self.admitted.contains_key(&next.key) {
                // Asked again while it runs here: the running one answers.
                self.queue.pop_front();
                continue;
            }
            let bytes = known.tasks.tasks[task].projected_bytes;
            if !self.store.admit(bytes) {
                return;
            }
            let Some(Queued { key, inputs }) = self.queue.pop_front() else { return };
            let mut gathered = Vec::with_capacity(inputs.len());
            let mut fetches = Vec::new();
            let mut lost = false;
            for (dep, holder) in inputs {
                match (self.store.get(&(graph, dep)), holder) {
                    (Some(held), _) => gathered.push(Some(held)),
                    (None, Some(peer)) => {
                        gathered.push(None);
                        fetches.push(WorkerCommand::Fetch { graph, task, dep, from: peer });
                    }
                    (None, None) => lost = true,
                }
            }
            if lost {
                self.store.done(bytes);
                out.push(WorkerCommand::Report(Report::InputsLost { graph, task }));
                continue;
            }
            let gathering = !fetches.is_empty();
            self.admitted.insert(key, Admitted { bytes, inputs: gathered });
            out.extend(fetches);
            if !gathering {
                self.run(key, out);
            }
        }
    }

    fn fetched(&mut self, key: ValueKey, dep: TaskId, value: Option<Value>, out: &mut Vec<WorkerCommand<P>>) {
        let (Some(known), Some(admitted)) = (self.graphs.get(&key.0), self.admitted.get_mut(&key)) else { return };
        if !admitted.gathering() {
            return;
        }
        let Some(value) = value else {
            self.end(&key);
            out.push(WorkerCommand::Report(Report::InputsLost { graph: key.0, task: key.1 }));
            return;
        };
        let value = Arc::new(value);
        let deps = &known.tasks.tasks[key.1].deps;
        for (slot, _) in admitted.inputs.iter_mut().zip(deps).filter(|(s, d)| s.is_none() && **d == dep) {
            *slot = Some(Held::Memory(value.clone()));
        }
        if !admitted.gathering() {
            self.run(key, out);
        }
    }

    fn run(&mut self, key: ValueKey, out: &mut Vec<WorkerCommand<P>>) {
        let (Some(known), Some(admitted)) = (self.graphs.get(&key.0), self.admitted.get_mut(&key)) else { return };
        let inputs = std::mem::take(&mut admitted.inputs).into_iter().flatten().collect();
        out.push(WorkerCommand::Run { graph: key.0, tasks: known.tasks.clone(), task: key.1, inputs });
    }

    /// Holds a copied value (spilled if the budget is full); false if it did not come,
    /// its graph ended meanwhile, or it cannot be kept.
    fn keep_copy(&mut self, key: ValueKey, value: Option<Value>) -> bool {
        let (Some(value), Some(known)) = (value, self.graphs.get(&key.0)) else { return false };
        let Some(&next_reader) = known.first_readers.get(key.1) else { return false };
        self.store.insert(key, value, next_reader).is_ok()
    }

    fn computed(
        &mut self,
        key: ValueKey,
        result: Result<Value, (String, FailureKind)>,
        out: &mut Vec<WorkerCommand<P>>,
    ) {
        if !self.end(&key) {
            return;
        }
        let (graph, task) = key;
        let Some(next_reader) = self.graphs.get(&graph).map(|g| g.first_readers[task]) else {
            // Its graph ended while it ran: it keeps nothing.
            return;
        };
        let report = match result {
            Ok(value) => {
                let bytes = value.nbytes() as u64;
                match self.store.insert(key, value, next_reader) {
                    Ok(()) => Report::Finished { graph, task, bytes },
                    Err(RuntimeError::Spill(e)) => Report::Failed {
                        graph,
                        task,
                        error: format!("cannot spill to disk: {e}"),
                        kind: FailureKind::Failed,
                    },
                    Err(e) => Report::Failed { graph, task, error: e.to_string(), kind: FailureKind::Failed },
                }
            }
            Err((error, kind)) => Report::Failed { graph, task, error, kind },
        };
        out.push(WorkerCommand::Report(report));
    }
}

/// For each task, the priority of the first task that reads its value (tasks are in
/// priority order); results the client fetches count as read last.
fn first_readers(graph: &TaskGraph) -> Vec<u64> {
    let mut first = vec![u64::MAX; graph.tasks.len()];
    for (id, t) in graph.tasks.iter().enumerate() {
        for &d in &t.deps {
            first[d] = first[d].min(id as u64);
        }
    }
    first
}
