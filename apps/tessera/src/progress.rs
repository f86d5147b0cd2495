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
            None => {
                // Plain lines at every tenth, for logs and pipes.
                let tenth = |n: usize| n * 10 / self.total.max(1);
                if tenth(done) != tenth(done - 1) {
                    eprintln!("progress: {:>3}% ({done}/{} tasks)", done * 100 / self.total.max(1), self.total);
                }
            }
        }
    }
}
