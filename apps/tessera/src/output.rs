//! Standard output for results, where a failed write is an error (exit 1 with one line
//! on stderr), never silence: a script must not record success with an empty file.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::CliError;

/// Whether standard output was closed when the process started.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Notes a closed standard output. It has to run before Rust's runtime starts: that
/// puts `/dev/null` on a closed descriptor 1 (so no file opened later receives the
/// result by mistake), after which a closed stdout looks like `> /dev/null`. Functions
/// in `.init_array` run before `main`, and so before that.
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static NOTE_CLOSED_STDOUT: extern "C" fn() = {
    extern "C" fn note() {
        // SAFETY: fcntl(F_GETFD) only asks whether descriptor 1 is open.
        if unsafe { libc::fcntl(1, libc::F_GETFD) } == -1 {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
    }
    note
};

/// Fails when standard output was closed: checked before a run starts, so no work is
/// done for a result that cannot be written.
pub fn check_stdout() -> Result<(), CliError> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Err(CliError::Failed("cannot write the result: standard output is closed".into()));
    }
    Ok(())
}

/// Writes `text` and a newline to standard output and flushes it.
pub fn print_line(text: &str) -> Result<(), CliError> {
    check_stdout()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::Failed(format!("cannot write the result to standard output: {e}")))
}
