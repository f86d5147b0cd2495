//! Workers that leave on purpose (their job's walltime, `scancel`, a scale-down): they
//! give up the tasks they have not started, finish those they have, and copy the
//! values they alone hold that are still needed to workers that stay, before they are
//! told they may go. Nothing is recomputed, unless a copy fails or no worker stays.

use super::{ClusterScheduler, Command, GraphId, Retiring, State, TaskId, WorkerId};

impl ClusterScheduler {
    /// `worker` asked to leave: its queued tasks are taken back (a steal each: those
    /// already started finish there, and their values are handed over).
    pub(super) fn retiring(&mut self, worker: WorkerId, out: &mut Vec<Command>) {
        let Some(w) = self.workers.get_mut(&worker) else { return };
        if w.retiring != Retiring::No {
            return;
        }
        w.retiring = Retiring::HandingOver;
        for (&(graph, task), stealable) in w.assigned.iter_mut() {
            if std::mem::replace(stealable, false) {
                self.stealing.remove(&(graph, task));
                out.push(Command::Steal { worker, graph, task });
            }
        }
    }

    /// A copy asked for with [`Command::Copy`] ended.
    pub(super) fn value_copied(
        &mut self,
        worker: WorkerId,
        graph: GraphId,
        task: TaskId,
        copied: bool,
        out: &mut Vec<Command>,
    ) {
        let asked = self.copying.get(&(graph, task)).copied().filter(|&(copier, _)| copier == worker);
        if let Some((_, holder)) = asked {
            self.copying.remove(&(graph, task));
            if !copied {
                self.not_copied.insert((holder, graph, task));
            }
        }
        if !copied {
            return;
        }
        match self.graphs.get_mut(&graph).map(|g| &mut g.state[task]) {
            Some(State::Memory(holders)) => {
                if !holders.contains(&worker) {
                    holders.push(worker);
                }
            }
            // Released or reset meanwhile: the copy is not needed.
            _ => out.push(Command::Release { worker, graph, task }),
        }
    }

    /// For every worker handing over: copies of what only leaving workers hold and is
    /// still needed, and leave to go once nothing is running there or being copied
    /// from it.
    pub(super) fn hand_over(&mut self, out: &mut Vec<Command>) {
        let leaving: Vec<WorkerId> =
            self.workers.iter().filter(|(_, w)| w.retiring == Retiring::HandingOver).map(|(&id, _)| id).collect();
        for worker in leaving {
            let mut waiting = false;
            for (&graph, g) in &mut self.graphs {
                for task in 0..g.state.len() {
                    let State::Memory(holders) = &g.state[task] else { continue };
                    let needed = g.readers[task] > 0 || g.is_output[task];
                    let only_leaving = holders.iter().all(|h| self.workers.get(h).is_none_or(|w| !w.staying()));
                    if !needed
                        || !holders.contains(&worker)
                        || !only_leaving
                        || self.not_copied.contains(&(worker, graph, task))
                    {
                        continue;
                    }
                    if let Some(&(_, from)) = self.copying.get(&(graph, task)) {
                        waiting |= from == worker;
                        continue;
                    }
                    // The staying worker with the fewest copies coming, then tasks.
                    let incoming = |id: WorkerId| self.copying.values().filter(|&&(c, _)| c == id).count();
                    let copier = self
                        .workers
                        .iter()
                        .filter(|(_, w)| w.staying())
                        .min_by_key(|&(&id, w)| (incoming(id), w.in_flight, id))
                        .map(|(&id, _)| id);
                    let Some(copier) = copier else { continue };
                    if g.shared_with.insert(copier) {
                        out.push(Command::ShareGraph { worker: copier, graph });
                    }
                    self.copying.insert((graph, task), (copier, worker));
                    out.push(Command::Copy { worker: copier, graph, task, from: worker });
                    waiting = true;
                }
            }
            let Some(w) = self.workers.get_mut(&worker) else { continue };
            if !waiting && w.assigned.is_empty() {
                w.retiring = Retiring::Released;
                out.push(Command::Retire { worker });
            }
        }
    }
}
