//! A `tessera launch` process watched by a test: every stderr line kept, lines waited
//! for, and on drop everything it launched stopped (`tessera launch stop`, then
//! SIGKILL), so a failing test leaves no Slurm job or remote worker behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{tessera, tessera_bin};

/// A running launcher.
pub struct Launch {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    cluster_file: PathBuf,
}

impl Launch {
    /// Starts `tessera launch <args> --cluster-file <cluster_file>`.
    pub fn start(args: &[&str], cluster_file: &Path) -> Launch {
        let mut child = Command::new(tessera_bin())
            .arg("launch")
            .args(args)
            .arg("--cluster-file")
            .arg(cluster_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tessera launch starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped");
        let kept = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        Launch { child, lines, cluster_file: cluster_file.to_path_buf() }
    }

    /// The launcher's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for a line containing `needle`; panics with the log after `timeout` or if
    /// the launcher exits first.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || start.elapsed() > timeout {
                // The reader may still hold the last lines: give it a moment.
                std::thread::sleep(Duration::from_millis(200));
                if let Some(line) = self.lines().into_iter().find(|l| l.contains(needle)) {
                    return line;
                }
                panic!("never saw {needle:?} (launcher exit: {exited:?}):\n{}", self.lines().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the launcher to exit; its exit code.
    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// `tessera launch stop` for its cluster file.
    pub fn stop(&self) -> crate::Run {
        tessera(&["launch", "stop", &self.cluster_file.to_string_lossy()])
    }
}

impl Drop for Launch {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.stop();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Process ids whose command line contains `needle` (other than this test's).
pub fn processes_with(needle: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            (pid != std::process::id() && text.contains(needle)).then(|| format!("{pid}: {text}"))
        })
        .collect()
}
