//! The writes of a run: targets created once by the planning process before any task
//! runs (under a hidden name beside their place), finished after the run (temporary
//! files of killed writers swept, each moved into place), and removed again if the
//! run fails, so a failed run leaves no partial output and an old array stays whole. Until a target is
//! finished it is registered with `tessera_runtime::cleanup`, so a run stopped by a
//! signal removes it too.

use tessera_graph::{TaskGraph, WriteTarget};
use tessera_store::StoreError;

use crate::Block;

/// The targets of one run, created. Dropped unfinished (the run failed), it removes
/// them.
#[derive(Debug)]
pub struct Writes {
    targets: Vec<WriteTarget>,
    finished: bool,
}

impl Writes {
    /// Creates every target `graph` writes; on the first refusal removes those already
    /// created and returns the refusal.
    pub fn prepare(graph: &TaskGraph) -> Result<Writes, StoreError> {
        let mut writes = Writes { targets: Vec::new(), finished: false };
        for target in graph.write_targets() {
            tessera_store::create_target(target)?;
            tessera_runtime::cleanup::register(&tessera_store::staged_place(target));
            writes.targets.push(target.clone());
        }
        Ok(writes)
    }

    /// Whether the run writes anything.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Keeps the targets: the run succeeded. Sweeps the temporary files writers killed
    /// mid-write left behind and moves each target into place. If one cannot be
    /// moved (or the process is being stopped), it and those not yet moved are removed.
    pub fn finish(mut self) -> Result<(), StoreError> {
        while !self.targets.is_empty() {
            // A signal's cleanup waits for this; none starts once it has begun.
            let Some(_writing) = tessera_runtime::cleanup::writing() else {
                return Err(StoreError::BadInput("the run was stopped before its writes were moved into place".into()));
            };
            let target = self.targets.remove(0);
            let swept = tessera_store::finish_target(&target);
            tessera_runtime::cleanup::unregister(&tessera_store::staged_place(&target));
            if swept.is_err() {
                tessera_store::remove_target(&target);
            }
            let swept = swept?;
            if swept > 0 {
                tracing::info!(target = %target.label(), swept, "removed temporary chunk files of killed writers");
            }
        }
        self.finished = true;
        Ok(())
    }
}

impl Drop for Writes {
    fn drop(&mut self) {
        if !self.finished {
            for target in &self.targets {
                tessera_store::remove_target(target);
                tessera_runtime::cleanup::unregister(&tessera_store::staged_place(target));
            }
        }
    }
}

/// What one write did, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteSummary {
    /// The target.
    pub target: WriteTarget,
    /// Stored chunks written.
    pub chunks_written: u64,
    /// Bytes written, as stored.
    pub bytes_written: u64,
}

/// The summaries of a graph's writes from its result block (chunks and bytes per
/// target); `None` if the graph writes nothing.
pub fn summaries(graph: &TaskGraph, result: &Block) -> Option<Vec<WriteSummary>> {
    let targets = graph.write_targets();
    if targets.is_empty() {
        return None;
    }
    let Block::I64(values) = result else { return None };
    let values = values.as_slice()?;
    Some(
        targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| WriteSummary {
                target: t.clone(),
                chunks_written: values.get(2 * i).copied().unwrap_or(0).max(0) as u64,
                bytes_written: values.get(2 * i + 1).copied().unwrap_or(0).max(0) as u64,
            })
            .collect(),
    )
}
