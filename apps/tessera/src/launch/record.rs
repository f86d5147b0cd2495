//! What a launcher started, written next to the cluster file (`<file>.launch.json`) as
//! soon as it exists: `tessera launch stop <file>` reads it to stop the launcher, or,
//! if the launcher is gone, to cancel its jobs and stop its workers itself.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// A worker started over ssh: where, and the pid its shell reported.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshWorker {
    /// The host, as given.
    pub host: String,
    /// The worker's pid there.
    pub pid: u32,
    /// The cluster file's copy there.
    pub remote_file: String,
}

/// The record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// `slurm` or `ssh`.
    pub kind: String,
    /// The launching process.
    pub launcher: u32,
    /// Slurm jobs submitted.
    #[serde(default)]
    pub jobs: Vec<u64>,
    /// Workers started over ssh.
    #[serde(default)]
    pub ssh_workers: Vec<SshWorker>,
    /// The scheduler's own Slurm job (`--scheduler-job`).
    #[serde(default)]
    pub scheduler_job: Option<u64>,
    /// The scheduler started over ssh (`--scheduler-host`).
    #[serde(default)]
    pub scheduler_host: Option<SshWorker>,
    /// The ssh config the launcher used, if not the user's.
    #[serde(default)]
    pub ssh_config: Option<PathBuf>,
    /// Where this record lives.
    #[serde(skip)]
    path: PathBuf,
}

/// The record's path for a cluster file.
fn path_for(cluster_file: &Path) -> PathBuf {
    let mut name = cluster_file.as_os_str().to_owned();
    name.push(".launch.json");
    PathBuf::from(name)
}

impl Record {
    /// An empty record of this process for `cluster_file`.
    pub fn new(cluster_file: &Path, kind: &str) -> Record {
        Record {
            kind: kind.to_string(),
            launcher: std::process::id(),
            jobs: Vec::new(),
            ssh_workers: Vec::new(),
            scheduler_job: None,
            scheduler_host: None,
            ssh_config: None,
            path: path_for(cluster_file),
        }
    }

    /// Writes it (after every change: it must outlive a crash of this process).
    pub fn save(&self) -> Result<(), CliError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| CliError::Failed(e.to_string()))?;
        std::fs::write(&self.path, text)
            .map_err(|e| CliError::BadInput(format!("cannot write {}: {e}", self.path.display())))
    }

    /// Removes it (everything it lists was stopped).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether process `pid` is alive: it exists and has not exited (an exited process
/// its parent has not reaped yet still answers signals).
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    let exists = libc::pid_t::try_from(pid).is_ok_and(|p| unsafe { libc::kill(p, 0) } == 0);
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])))
        .unwrap_or(false);
    exists && !zombie
}

/// How long `stop` waits for the launcher to stop what it launched.
const LAUNCHER_WAIT: Duration = Duration::from_secs(40);

/// `tessera launch stop FILE`: asks the launcher to stop (SIGTERM) and waits for it; if
/// it is gone or does not stop, cancels the jobs and stops the workers it recorded.
pub fn stop(cluster_file: &Path) -> Result<(), CliError> {
    let path = path_for(cluster_file);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CliError::BadInput(format!(
            "{}: no cluster launched with this cluster file ({}: {e})",
            cluster_file.display(),
            path.display()
        ))
    })?;
    let mut record: Record = serde_json::from_str(&text)
        .map_err(|e| CliError::BadInput(format!("{}: not a launch record: {e}", path.display())))?;
    record.path = path.clone();
    if record.launcher != std::process::id() && alive(record.launcher) {
        if let Ok(pid) = libc::pid_t::try_from(record.launcher) {
            // SAFETY: signals the launcher recorded; it stops what it launched on SIGTERM.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + LAUNCHER_WAIT;
        while alive(record.launcher) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if !alive(record.launcher) {
            warn!("stopped the {} cluster of {} (launcher {})", record.kind, cluster_file.display(), record.launcher);
            return Ok(());
        }
        warn!(
            "the launcher ({}) did not stop within {} s; stopping its workers here",
            record.launcher,
            LAUNCHER_WAIT.as_secs()
        );
    }
    let jobs = super::slurm::cancel(&record.jobs) + super::slurm::cancel(record.scheduler_job.as_slice());
    let hosts = super::ssh::stop_recorded(&record);
    record.remove();
    let _ = std::fs::remove_file(cluster_file);
    warn!("stopped what the launcher left: {jobs} jobs cancelled, {hosts} ssh workers stopped");
    Ok(())
}
