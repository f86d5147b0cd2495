//! A graph's operations: layers grouped by their op name, for progress per operation.

use tessera::TaskGraph;

/// Operations of a graph: each layer's op name, grouped in order of first appearance.
pub struct Ops {
    /// Each operation's name and task count.
    pub names: Vec<(String, u64)>,
    /// The operation of each layer.
    pub of_layer: Vec<usize>,
}

impl Ops {
    /// The operations of `graph`.
    pub fn of(graph: &TaskGraph) -> Ops {
        let mut names: Vec<(String, u64)> = Vec::new();
        let of_layer = graph
            .layers
            .iter()
            .map(|l| match names.iter().position(|n| n.0 == l.op_name) {
                Some(i) => i,
                None => {
                    names.push((l.op_name.clone(), 0));
                    names.len() - 1
                }
            })
            .collect::<Vec<_>>();
        for t in &graph.tasks {
            names[of_layer[t.layer]].1 += 1;
        }
        Ops { names, of_layer }
    }

    /// Sums per-layer counts into per-operation counts.
    pub fn per_op(&self, per_layer: impl Iterator<Item = (usize, u64)>) -> Vec<u64> {
        let mut done = vec![0; self.names.len()];
        for (layer, n) in per_layer {
            done[self.of_layer[layer]] += n;
        }
        done
    }
}
