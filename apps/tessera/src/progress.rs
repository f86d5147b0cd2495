//! Progress on stderr: in a terminal, indicatif bars (all tasks, then one per
//! operation, like Dask's progress per task prefix); otherwise plain lines.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tessera::{Observer, TaskGraph};

use crate::ops::Ops;

/// Bars in a terminal.
struct Bars {
    all: ProgressBar,
    per_op: Vec<ProgressBar>,
    of_layer: Vec<usize>,
}

/// Reports finished tasks.
pub struct Progress {
    bars: Option<Bars>,
    total: usize,
    done: AtomicUsize,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("#>-")
}

impl Progress {
    /// Progress over the tasks of `graph`.
    pub fn new(graph: &TaskGraph) -> Progress {
        let total = graph.tasks.len();
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            let all = multi.add(ProgressBar::new(total as u64));
            all.set_style(style(
                "{prefix:>16} [{bar:40}] {percent:>3}% | {pos}/{len} tasks | {elapsed_precise} | ETA {eta}",
            ));
            all.set_prefix("all tasks");
            let ops = Ops::of(graph);
            let per_op = ops
                .names
                .iter()
                .map(|(name, n)| {
                    let bar = multi.add(ProgressBar::new(*n));
                    bar.set_style(style("{prefix:>16} [{bar:40}] {percent:>3}% | {pos}/{len} | {per_sec}"));
                    bar.set_prefix(name.clone());
                    bar
                })
                .collect();
            Bars { all, per_op, of_layer: ops.of_layer }
        });
        Progress { bars, total, done: AtomicUsize::new(0) }
    }

    /// Sets the counts (cluster runs report counts, not events): done in all and per layer.
    pub fn set(&self, done: usize, total: usize, layers: &[u64]) {
        let before = self.done.swap(done, Ordering::Relaxed);
        match &self.bars {
            Some(bars) => {
                bars.all.set_position(done as u64);
                let mut per_op = vec![0; bars.per_op.len()];
                for (layer, n) in layers.iter().enumerate() {
                    if let Some(&op) = bars.of_layer.get(layer) {
                        per_op[op] += n;
                    }
                }
                for (bar, n) in bars.per_op.iter().zip(per_op) {
                    bar.set_position(n);
                }
            }
            None => plain_line(before, done, total),
        }
    }

    /// Ends the bars.
    pub fn finish(&self) {
        if let Some(bars) = &self.bars {
            bars.all.finish();
            for bar in &bars.per_op {
                bar.finish();
            }
        }
    }
}

impl Observer for Progress {
    fn task_finished(&self, graph: &TaskGraph, task: usize, _: usize, _: Duration) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bars {
            Some(bars) => {
                bars.all.inc(1);
                if let Some(bar) = bars.of_layer.get(graph.tasks[task].layer).and_then(|&op| bars.per_op.get(op)) {
                    bar.inc(1);
                }
            }
            None => plain_line(done - 1, done, self.total),
        }
    }
}

/// Prints a plain progress line when the count moves from `before` into a new tenth of
/// `total` (or reaches it), for logs and pipes. A closed stderr is not worth failing
/// the run for.
fn plain_line(before: usize, done: usize, total: usize) {
    use std::io::Write;
    let tenth = |n: usize| n * 10 / total.max(1);
    if tenth(done) != tenth(before) || (done == total && before != total) {
        let _ = writeln!(std::io::stderr(), "progress: {:>3}% ({done}/{total} tasks)", done * 100 / total.max(1));
    }
}
