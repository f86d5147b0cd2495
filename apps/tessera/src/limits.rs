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

/// The memory limit: the given size, or 80% of available memory.
pub fn memory_limit(given: Option<&str>) -> Result<u64, CliError> {
    match given {
        Some(s) => {
            let limit = tessera::parse_bytes(s).map_err(|e| CliError::BadInput(e.to_string()))?;
            // A value no run fits under is a bad flag (exit 2), as `0` is.
            if limit < MIN_MEMORY_LIMIT {
                return Err(CliError::BadInput(format!(
                    "--memory-limit {s} is below the smallest limit anything runs under ({}): the process itself needs more",
                    tessera::format_bytes(MIN_MEMORY_LIMIT)
                )));
            }
            Ok(limit)
        }
        None => Ok(tessera::default_memory_limit()),
    }
}

/// glibc raises its mmap threshold after each freed large block (up to 32 MiB), after
/// which freed chunk buffers stay in the heap and count in RSS. A fixed threshold keeps
/// every chunk-sized buffer in its own mapping, returned to the system when freed, so
/// the memory limit holds for the process as the system sees it. It costs page faults
/// on every chunk-sized allocation (~35 % on a small-chunk matmul), so it applies only
/// when a limit is given explicitly.
pub fn fix_allocator_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before the run starts its threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
