//! A local cluster: a scheduler and worker processes of a given program on loopback
//! (the `tessera` binary's `scheduler` and `worker` commands), torn down when the run ends — normally, on error, on a signal (through
//! `tessera_runtime::cleanup`), or when this process is killed (children get SIGKILL
//! when their parent dies, so none is ever orphaned). Children are stopped with SIGTERM
//! first, so each removes its own spill folder.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_runtime::cleanup;
use tessera_runtime::spill::SpillDir;

use crate::ClusterError;

/// How long the scheduler may take to write its cluster file.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running local cluster; dropping it stops every process and removes its files.
pub struct LocalCluster {
    dir: PathBuf,
    /// The scheduler first, then the workers.
    children: Vec<Child>,
    threads: usize,
    memory_limit: u64,
    next_worker: usize,
    /// `--device` of its workers.
    device: String,
    /// The program (and its leading arguments) started for the scheduler and each worker.
    command: Vec<OsString>,
}

fn spawn(command: &[OsString], args: &[&str], log: &Path) -> Result<Child, ClusterError> {
    let log = std::fs::File::create(log)
        .map_err(|e| ClusterError::Failed(format!("cannot create {}: {e}", log.display())))?;
    let Some((program, leading)) = command.split_first() else {
        return Err(ClusterError::Failed("no program to start workers with".into()));
    };
    let mut cmd = Command::new(program);
    cmd.args(leading).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        // A process group of its own: a terminal's Ctrl-C reaches only the program that
        // started the cluster, which stops the scheduler and workers in order, instead
        // of each of them at once while a run still talks to them.
        cmd.process_group(0);
        // SAFETY: prctl is async-signal-safe and only changes this child's own settings.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
    }
    let child = cmd
        .spawn()
        .map_err(|e| ClusterError::Failed(format!("cannot start {} {}: {e}", program.to_string_lossy(), args[0])))?;
    cleanup::register_child(child.id());
    Ok(child)
}

impl LocalCluster {
    /// Starts `program scheduler` and `workers` times `program worker` with `threads`
    /// threads each, computing on `device` (`cpu`, `gpu`, `auto`). `program` is the
    /// `tessera` binary, or any program with its `scheduler` and `worker` commands.
    pub fn start(
        program: &Path,
        workers: usize,
        threads: usize,
        memory_limit: u64,
        device: &str,
    ) -> Result<LocalCluster, ClusterError> {
        Self::start_command(&[program.as_os_str().to_owned()], workers, threads, memory_limit, device)
    }

    /// [`LocalCluster::start`] with a program given leading arguments (`python -m
    /// tessera._serve`: a program whose `scheduler` and `worker` follow them).
    pub fn start_command(
        command: &[OsString],
        workers: usize,
        threads: usize,
        memory_limit: u64,
        device: &str,
    ) -> Result<LocalCluster, ClusterError> {
        let dir = std::env::temp_dir().join(format!("tessera-local-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| ClusterError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        cleanup::register(&dir);
        let mut cluster = LocalCluster {
            dir,
            children: Vec::new(),
            threads,
            memory_limit,
            next_worker: 0,
            device: device.to_string(),
            command: command.to_vec(),
        };
        let file = cluster.cluster_file();
        let file_arg = file.to_string_lossy().into_owned();
        cluster.children.push(spawn(
            &cluster.command,
            &["scheduler", "--listen", "127.0.0.1:0", "--cluster-file", &file_arg],
            &cluster.dir.join("scheduler.log"),
        )?);
        let started = Instant::now();
        while tessera_transport::ClusterFile::read(&file).is_err() {
            if let Ok(Some(status)) = cluster.children[0].try_wait() {
                return Err(ClusterError::Failed(format!("the local scheduler exited at start ({status})")));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(ClusterError::Failed("the local scheduler did not start within 15 s".into()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for _ in 0..workers {
            cluster.add_worker()?;
        }
        // A run submitted now is computed by every worker asked for, not the first few.
        crate::Client::connect(&file)?.wait_for_workers(workers, START_TIMEOUT)?;
        Ok(cluster)
    }

    /// Starts one more worker (named `local-N`).
    pub fn add_worker(&mut self) -> Result<(), ClusterError> {
        let name = format!("local-{}", self.next_worker);
        self.next_worker += 1;
        let file = self.cluster_file().to_string_lossy().into_owned();
        let (threads, memory) = (self.threads.to_string(), self.memory_limit.to_string());
        let args = [
            "worker",
            "--cluster-file",
            &file,
            "--threads",
            &threads,
            "--memory-limit",
            &memory,
            "--name",
            &name,
            "--device",
            &self.device,
        ];
        let child = spawn(&self.command, &args, &self.dir.join(format!("{name}.log")))?;
        self.children.push(child);
        Ok(())
    }

    /// Kills the newest worker with SIGKILL (its work is recomputed elsewhere); false if
    /// only one is left.
    pub fn kill_worker(&mut self) -> bool {
        if self.children.len() <= 2 {
            return false;
        }
        if let Some(mut child) = self.children.pop() {
            cleanup::unregister_child(child.id());
            let _ = child.kill();
            let _ = child.wait();
            // A killed worker removes nothing: its spill folder goes now.
            cleanup::remove_stale(&SpillDir::base(), "tessera-spill-");
        }
        true
    }

    /// Workers running.
    pub fn workers(&self) -> usize {
        self.children.len().saturating_sub(1)
    }

    /// The cluster file of the running scheduler.
    pub fn cluster_file(&self) -> PathBuf {
        self.dir.join("cluster.json")
    }
}

/// How long processes get to remove their files after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in &self.children {
            cleanup::unregister_child(child.id());
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill only signals a process this one started and has not reaped.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        for child in &mut self.children {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        cleanup::unregister(&self.dir);
    }
}
