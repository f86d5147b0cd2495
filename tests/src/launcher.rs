//! A `tessera launch` process watched by a test: every stderr line kept, lines waited
//! for, and on drop everything it launched stopped (`tessera launch stop`, then
//! SIGKILL), so a failing test leaves no Slurm job or remote worker behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{tessera, tessera_bin};

/// A fresh folder for test `name` of this process.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The result of `expr` (as `--json` prints it) with the threads scheduler, or on the
/// cluster of `file`.
pub fn result(expr: &str, file: Option<&Path>) -> String {
    let mut args = vec!["run", "--json", expr];
    let file = file.map(|f| f.to_string_lossy().into_owned());
    if let Some(f) = &file {
        args.extend(["--cluster-file", f]);
    }
    let run = tessera(&args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run.json()["result"].to_string()
}

/// Runs `expr` on the cluster of `file`, does `meanwhile` once the run has shown
/// progress and before it ends, and returns the run's result.
pub fn result_while(expr: &str, file: &Path, meanwhile: impl FnOnce()) -> String {
    let mut run = Command::new(tessera_bin())
        .args(["run", "--json", "--progress", expr, "--cluster-file", &file.to_string_lossy()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run starts");
    let mut lines = BufReader::new(run.stderr.take().expect("piped")).lines();
    assert!(lines.any(|l| l.is_ok_and(|l| l.starts_with("progress:"))), "the run showed no progress");
    assert!(run.try_wait().expect("status").is_none(), "the run ended too soon");
    meanwhile();
    std::thread::spawn(move || lines.for_each(drop));
    let out = run.wait_with_output().expect("run ends");
    assert!(out.status.success(), "the run failed");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    json["result"].to_string()
}

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
