//! Progress on stderr: an indicatif bar in a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tessera::{Observer, TaskGraph};

/// Reports finished tasks.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    done: AtomicUsize,
}

impl Progress {
    /// Progress over `total` tasks.
    pub fn new(total: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr_with_hz(10));
            let style = ProgressStyle::with_template(
                "[{bar:40}] {percent:>3}% | {pos}/{len} tasks | {elapsed_precise} | ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-");
            bar.set_style(style);
            bar
        });
        Progress { bar, total, done: AtomicUsize::new(0) }
    }

    /// Sets the count of finished tasks (cluster runs report counts, not events).
    pub fn set(&self, done: usize, total: usize) {
        let before = self.done.swap(done, Ordering::Relaxed);
        match &self.bar {
            Some(bar) => bar.set_position(done as u64),
            None => plain_line(before, done, total),
        }
    }

    /// Ends the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

impl Observer for Progress {
    fn task_finished(&self, _: &TaskGraph, _: usize, _: usize, _: Duration) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(bar) => bar.inc(1),
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
