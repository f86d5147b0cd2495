//! The single-threaded scheduler.

use std::time::{Duration, Instant};

use tessera_graph::TaskGraph;
use tessera_kernels::{Backend, Value};

use crate::{Computed, Observer, RuntimeError, execute};

pub(crate) fn run(graph: &TaskGraph, backend: &dyn Backend, observer: &dyn Observer) -> Result<Computed, RuntimeError> {
    let mut readers = graph.dependents_count();
    let mut values: Vec<Option<Value>> = vec![None; graph.tasks.len()];
    let mut busy = Duration::ZERO;
    for (id, task) in graph.tasks.iter().enumerate() {
        if observer.cancelled() {
            return Err(RuntimeError::Cancelled);
        }
        let start = Instant::now();
        let value = {
            let inputs: Vec<&Value> = task.deps.iter().filter_map(|&d| values[d].as_ref()).collect();
            execute(graph, backend, id, &inputs)?
        };
        let elapsed = start.elapsed();
        busy += elapsed;
        values[id] = Some(value);
        for &d in &task.deps {
            readers[d] -= 1;
            if readers[d] == 0 {
                values[d] = None;
            }
        }
        observer.task_finished(graph, id, 0, elapsed);
    }
    let outputs = graph.outputs.iter().map(|&o| values[o].clone()).collect::<Option<Vec<_>>>();
    Ok(Computed { outputs: outputs.unwrap_or_default(), busy: vec![busy], tasks: graph.tasks.len(), spilled_bytes: 0 })
}
