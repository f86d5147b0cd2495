//! What a process leaves on disk and must remove however it ends: spill folders, a
//! local cluster's folder, the targets of writes still in progress, the processes it
//! started.
//!
//! Everything is registered here while it exists. [`remove_all`] removes it; the
//! binary calls it from its signal handler (SIGINT, SIGTERM, SIGHUP), so an
//! interrupted run leaves nothing behind. Once it has run, writers that check
//! [`writing`] are refused, so no file appears after its folder was removed. SIGKILL
//! runs no code: what it leaves carries the dead process's pid in its name, and
//! [`remove_stale`] removes it the next time tessera starts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// What to remove and stop.
struct Registry {
    paths: Vec<PathBuf>,
    children: Vec<u32>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { paths: Vec::new(), children: Vec::new() });
/// Writers hold it shared; [`remove_all`] takes it exclusively, so it waits for writes
/// in progress and no write starts after it.
static WRITES: RwLock<()> = RwLock::new(());
static CLOSED: AtomicBool = AtomicBool::new(false);

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

/// A folder (or file) to remove when the process ends.
pub fn register(path: &Path) {
    registry().paths.push(path.to_path_buf());
}

/// The folder was removed by its owner.
pub fn unregister(path: &Path) {
    registry().paths.retain(|p| p != path);
}

/// A child process to stop when the process ends.
pub fn register_child(pid: u32) {
    registry().children.push(pid);
}

/// The child was stopped by its owner.
pub fn unregister_child(pid: u32) {
    registry().children.retain(|&p| p != pid);
}

/// Held while writing into a registered folder.
pub struct Writing(#[allow(dead_code)] RwLockReadGuard<'static, ()>);

/// Permission to write into a registered folder, or `None` once [`remove_all`] ran.
pub fn writing() -> Option<Writing> {
    let guard = WRITES.read().unwrap_or_else(|e| e.into_inner());
    (!CLOSED.load(Ordering::Acquire)).then_some(Writing(guard))
}

/// How long children get to clean up after SIGTERM before SIGKILL.
const CHILD_GRACE: Duration = Duration::from_secs(3);

/// Stops every registered child (SIGTERM, then SIGKILL after a grace period) and
/// removes every registered folder and file; later writes are refused. Waits for writes in
/// progress to finish first.
pub fn remove_all() {
    let _no_writes = WRITES.write().unwrap_or_else(|e| e.into_inner());
    CLOSED.store(true, Ordering::Release);
    let mut registry = registry();
    stop_children(&registry.children);
    for path in registry.paths.drain(..) {
        let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    }
}

#[cfg(unix)]
fn stop_children(children: &[u32]) {
    let pids: Vec<libc::pid_t> = children.iter().filter_map(|&p| libc::pid_t::try_from(p).ok()).collect();
    for &pid in &pids {
        // SAFETY: kill only sends a signal to a process this one started.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + CHILD_GRACE;
    let mut left = pids;
    while !left.is_empty() && Instant::now() < deadline {
        // SAFETY: waitpid with WNOHANG only reaps this process's own children.
        left.retain(|&pid| unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } == 0);
        std::thread::sleep(Duration::from_millis(10));
    }
    for pid in left {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

#[cfg(not(unix))]
fn stop_children(_: &[u32]) {}

/// Whether a process with this pid exists.
#[cfg(unix)]
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) }
}

#[cfg(not(unix))]
fn alive(_: u32) -> bool {
    true
}

/// Removes the folders in `dir` named `{prefix}{pid}` or `{prefix}{pid}-...` whose
/// process is gone (left by a SIGKILL), if this user owns them. Returns how many.
pub fn remove_stale(dir: &Path, prefix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else { continue };
        let Ok(pid) = rest.split('-').next().unwrap_or_default().parse::<u32>() else { continue };
        if pid == std::process::id() || alive(pid) || !owned_folder(&entry.path()) {
            continue;
        }
        if std::fs::remove_dir_all(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(unix)]
fn owned_folder(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir() && m.uid() == me)
}

#[cfg(not(unix))]
fn owned_folder(path: &Path) -> bool {
    path.is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_folders_of_dead_processes_go_and_live_ones_stay() {
        let base = std::env::temp_dir().join(format!("tessera-cleanup-test-{}", std::process::id()));
        std::fs::create_dir_all(&base).expect("base");
        // A pid far above pid_max (2^22 on Linux) names no process.
        let dead = base.join("tessera-spill-4999999-0");
        let mine = base.join(format!("tessera-spill-{}-0", std::process::id()));
        let other = base.join("unrelated-4999999");
        for d in [&dead, &mine, &other] {
            std::fs::create_dir_all(d.join("x")).expect("folder");
        }
        assert_eq!(remove_stale(&base, "tessera-spill-"), 1);
        assert!(!dead.exists() && mine.exists() && other.exists());
        let _ = std::fs::remove_dir_all(base);
    }
}
