//! Processes of the real binary started by tests: killed when the test ends, and their
//! stderr watched for the lines they print (`joined`, `listening`, `progress: 30%`).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::tessera_bin;

/// Processes killed when the test ends, whatever happens.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `tessera` with `args`: no stdin, stdout discarded, stderr piped.
pub fn start(args: &[&str]) -> Child {
    Command::new(tessera_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts")
}

/// Reads a child's stderr until a line contains `needle`; the rest keeps being read in
/// the background (so the child never writes into a closed pipe) and is returned by
/// the handle.
pub fn wait_for_line(child: &mut Child, needle: &str) -> std::thread::JoinHandle<Vec<String>> {
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            lines.push(line);
        }
        lines
    });
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(needle) => return handle,
            Ok(line) => seen.push(line),
            Err(_) => panic!("never saw {needle:?} in {seen:?}"),
        }
    }
}

/// Processes whose command line (arguments joined by spaces) contains `needle`, other
/// than this test's own, as `pid: command line`.
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
