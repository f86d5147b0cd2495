//! Progress on stderr: in a terminal, indicatif bars (all tasks, then one per
//! operation, like Dask's progress per task prefix); otherwise plain lines. It is a
//! [`Sink`]: local and cluster runs feed it alike, and it renders the shared
//! aggregation ([`RunProgress`]).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tessera::{RunProgress, Sink, TaskEvent, TaskGraph, WorkerStatus};

/// Bars in a terminal.
struct Bars {
    all: ProgressBar,
    per_op: Vec<ProgressBar>,
}

/// Reports finished tasks.
pub struct Progress {
    bars: Option<Bars>,
    counts: RunProgress,
    /// Tasks done when the last plain line was considered.
    shown: AtomicUsize,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("#>-")
}

impl Progress {
    /// Progress over the tasks of `graph`.
    pub fn new(graph: &TaskGraph) -> Progress {
        let total = graph.tasks.len();
        let counts = tessera::observe::run_progress(graph);
        let bars = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
            let all = multi.add(ProgressBar::new(total as u64));
            all.set_style(style(
                "{prefix:>16} [{bar:40}] {percent:>3}% | {pos}/{len} tasks | {elapsed_precise} | ETA {eta}",
            ));
            all.set_prefix("all tasks");
            let per_op = counts
                .ops()
                .iter()
                .map(|(name, n)| {
                    let bar = multi.add(ProgressBar::new(*n));
                    bar.set_style(style("{prefix:>16} [{bar:40}] {percent:>3}% | {pos}/{len} | {per_sec}"));
                    bar.set_prefix(name.clone());
                    bar
                })
                .collect();
            Bars { all, per_op }
        });
        Progress { bars, counts, shown: AtomicUsize::new(0) }
    }

    /// Shows the counts now.
    fn render(&self) {
        let done = self.counts.done() as usize;
        match &self.bars {
            Some(bars) => {
                bars.all.set_position(done as u64);
                for (bar, n) in bars.per_op.iter().zip(self.counts.done_per_op()) {
                    bar.set_position(n);
                }
            }
            None => {
                let before = self.shown.swap(done, Ordering::Relaxed);
                plain_line(before, done, self.counts.total() as usize);
            }
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

impl Sink for Progress {
    fn task(&self, event: &TaskEvent) {
        self.counts.task(event);
        self.render();
    }

    fn layer_counts(&self, done: &[u64]) {
        self.counts.layer_counts(done);
        self.render();
    }

    fn workers(&self, _: &[WorkerStatus]) {}
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
