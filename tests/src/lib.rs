//! Helpers for end-to-end tests: build the real `tessera` binary once and run it.
//!
//! The tests live in a package of their own (not beside the CLI) because they will also
//! start schedulers, workers and the TUI; they always drive the binary a user runs.

pub mod launcher;
pub mod procs;
pub mod python;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The path of the `tessera` binary, built (in the test's profile) on first use.
pub fn tessera_bin() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test executable lives in <target>/<profile>/deps/.
        let exe = std::env::current_exe().expect("the test knows its own path");
        let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps layout");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "-p", "tessera-cli", "--bin", "tessera"]);
        // Optional features of the binary (CI: `hdf5`, with libhdf5-dev installed).
        if let Ok(features) = std::env::var("TESSERA_FEATURES")
            && !features.trim().is_empty()
        {
            build.args(["--features", features.trim()]);
        }
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo can be started");
        assert!(status.success(), "building the tessera binary failed");
        profile_dir.join("tessera")
    })
}

/// The outcome of one run of the binary.
pub struct Run {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Standard output parsed as one JSON object.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// Runs `tessera` with `args`, without a terminal and with no standard input.
pub fn tessera(args: &[&str]) -> Run {
    let out: Output = Command::new(tessera_bin())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the tessera binary starts");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A run measured from outside: its exit, output, wall time and peak resident memory.
pub struct Measured {
    /// The run.
    pub run: Run,
    /// Peak resident memory, from the kernel's `wait4` account.
    pub peak_rss_bytes: u64,
    /// Wall time from start to exit.
    pub wall: std::time::Duration,
}

/// Runs `tessera` with `args` and `env` and measures its peak RSS from outside (the
/// kernel's `wait4` account, which reaps the child: `Child::wait` would lose it).
#[allow(clippy::zombie_processes)]
pub fn run_measured(args: &[&str], env: &[(&str, &str)]) -> Measured {
    use std::process::Stdio;
    let started = std::time::Instant::now();
    let child = Command::new(tessera_bin())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let pid = child.id() as libc::pid_t;
    // Read the pipes first, so a full pipe never blocks the child.
    let (mut out, mut err) = (child.stdout.expect("piped"), child.stderr.expect("piped"));
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).map(|_| s).unwrap_or_default()
    });
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut out, &mut stdout).expect("stdout");
    let mut status = 0;
    // SAFETY: rusage is plain data, zeroed, and wait4 writes only into it and `status`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    Measured {
        run: Run { code, stdout, stderr: err_reader.join().unwrap_or_default() },
        peak_rss_bytes: usage.ru_maxrss as u64 * 1024,
        wall: started.elapsed(),
    }
}
