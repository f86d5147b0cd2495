//! How many threads and worker processes one machine is asked to hold, checked before
//! any is started: a typo such as `--workers 100000000` gets one line, not thousands of
//! processes or a failed spawn.

use tessera_metrics::available_memory_bytes;

use crate::error::CliError;

/// Threads one process may compute with. A thread per core is what speeds a run up;
/// past this the threads' stacks alone take gigabytes of address space.
pub const MAX_THREADS: usize = 1024;
/// Worker processes a local cluster may start.
pub const MAX_LOCAL_WORKERS: usize = 256;
/// The smallest `--memory-limit`: below it not even the process's own code and
/// buffers fit, so a plan is refused at once instead of searched for chunks that fit.
pub const MIN_MEMORY_LIMIT: u64 = 1 << 20;
/// Memory a worker process needs to start and hold its runtime.
const WORKER_START_BYTES: u64 = 64 << 20;

/// Refuses `n` threads for `flag` unless 1 <= n <= [`MAX_THREADS`].
pub fn check_threads(flag: &str, n: usize) -> Result<(), CliError> {
    match n {
        0 => Err(CliError::BadInput(format!("{flag} must be at least 1"))),
        n if n > MAX_THREADS => Err(CliError::BadInput(format!(
            "{flag} {n} is more threads than one process may run (the limit is {MAX_THREADS}; one per core is usually best)"
        ))),
        _ => Ok(()),
    }
}

/// Refuses a local cluster of `n` workers that this machine cannot hold: more than
/// [`MAX_LOCAL_WORKERS`], or more than its available memory can start.
pub fn check_local_workers(n: usize) -> Result<(), CliError> {
    if n == 0 {
        return Err(CliError::BadInput("--workers must be at least 1".into()));
    }
    if n > MAX_LOCAL_WORKERS {
        return Err(CliError::BadInput(format!(
            "--workers {n} is more worker processes than a local cluster may start (the limit is {MAX_LOCAL_WORKERS})"
        )));
    }
    if let Some(available) = available_memory_bytes() {
        let fit = (available / WORKER_START_BYTES).max(1) as usize;
        if n > fit {
            return Err(CliError::Resources(format!(
                "--workers {n}: this machine has memory to start about {fit} worker processes (each needs about {}); ask for fewer",
                tessera::format_bytes(WORKER_START_BYTES)
            )));
        }
    }
    Ok(())
}
