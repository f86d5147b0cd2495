//! The terminal UI in a real terminal (tmux): a 2-worker local cluster runs S2 to the
//! end on screen, and `q` leaves no process behind.

use std::process::Command;
use std::time::{Duration, Instant};

use tessera_tests::procs::processes_with;
use tessera_tests::tessera_bin;

/// tmux on a server of this test's own, apart from any the user runs.
fn tmux(args: &[&str]) -> Option<String> {
    let socket = format!("tessera-test-{}", std::process::id());
    let out = Command::new("tmux").args(["-L", &socket]).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stops the test's tmux session, whatever happens (the server ends with its last
/// session; tests running at once share it, so none kills the others').
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = tmux(&["kill-session", "-t", &self.0]);
    }
}

/// Whether a process is gone (or dead and waiting to be reaped).
fn gone(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |stat| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
}

/// The CPU % shown in a worker's row, e.g. `local-0     98% ───…`.
fn cpu_of(screen: &str, worker: &str) -> Option<f64> {
    let line = screen.lines().find(|l| l.starts_with(worker))?;
    line[worker.len()..].split('%').next()?.trim().parse().ok()
}

#[test]
fn the_ui_runs_s2_on_two_workers_and_quits_cleanly() {
    if tmux(&["-V"]).is_none() {
        eprintln!("skipped: tmux is not installed (apt-get install tmux)");
        return;
    }
    let bin = tessera_bin().display().to_string();
    let name = format!("tessera-ui-test-{}", std::process::id());
    let expr = "x = random((2500, 2500), seed=42, chunks=250); (x * x[::-1, ::-1]).sum()";
    let command = format!("{bin} ui '{expr}' --scheduler local-cluster --workers 2 --run");
    tmux(&["new-session", "-d", "-s", &name, "-x", "140", "-y", "40", &command]).expect("tmux starts");
    let session = Session(name.clone());
    let pane_pid = tmux(&["display-message", "-p", "-t", &name, "#{pane_pid}"]).expect("pane pid").trim().to_string();
    let mut busy = [false, false];
    let mut screen = String::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !screen.contains("result: ") {
        assert!(Instant::now() < deadline, "no result on screen:\n{screen}");
        std::thread::sleep(Duration::from_millis(100));
        screen = tmux(&["capture-pane", "-p", "-t", &name]).unwrap_or_default();
        for (i, w) in ["local-0", "local-1"].iter().enumerate() {
            busy[i] |= cpu_of(&screen, w).is_some_and(|c| c > 0.0);
        }
    }
    assert!(busy.iter().all(|&b| b), "both workers showed CPU use during the run");
    let all = screen.lines().find(|l| l.starts_with("all tasks")).expect("overall bar");
    assert!(all.contains("100%"), "{all}");
    let result = screen.lines().find(|l| l.contains("result: ")).expect("result line");
    let want = tessera_tests::tessera(&["run", "--json", expr]).json()["result"].to_string();
    assert!(result.contains(&want), "{result} shows {want}");
    // The local cluster's processes carry the UI's pid in their temp dir name.
    let cluster = format!("tessera-local-{pane_pid}");
    assert_eq!(processes_with(&cluster).len(), 3, "a scheduler and two workers while it runs");
    tmux(&["send-keys", "-t", &name, "q"]).expect("keys");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(&pane_pid) || !processes_with(&cluster).is_empty() {
        assert!(Instant::now() < deadline, "after q: the UI or {:?} still runs", processes_with(&cluster));
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(session);
}

/// Waits until the pane shows `needle`; returns the screen.
fn wait_for_screen(name: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let screen = tmux(&["capture-pane", "-p", "-t", name]).unwrap_or_default();
        if screen.contains(needle) {
            return screen;
        }
        assert!(Instant::now() < deadline, "never showed {needle:?}:\n{screen}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `n` backspaces, a few hundred per tmux call.
fn backspaces(name: &str, n: usize) {
    for batch in (0..n).collect::<Vec<_>>().chunks(200) {
        let mut args = vec!["send-keys", "-t", name];
        args.extend(std::iter::repeat_n("BSpace", batch.len()));
        tmux(&args).expect("keys");
    }
}

#[test]
fn keys_after_a_long_paste_act_at_once_esc_stays_and_worker_counts_are_right() {
    if tmux(&["-V"]).is_none() {
        eprintln!("skipped: tmux is not installed (apt-get install tmux)");
        return;
    }
    let bin = tessera_bin().display().to_string();
    let name = format!("tessera-ui-keys-{}", std::process::id());
    let command = format!("{bin} ui 'ones(10).sum()' --scheduler local-cluster --workers 1");
    tmux(&["new-session", "-d", "-s", &name, "-x", "160", "-y", "40", &command]).expect("tmux starts");
    let session = Session(name.clone());
    wait_for_screen(&name, "local-cluster (1 worker x 1 thread)");
    tmux(&["send-keys", "-t", &name, "+"]).expect("keys");
    wait_for_screen(&name, "local-cluster (2 workers x 1 thread)");
    // Esc outside the editor does not quit: the next key still reaches the UI.
    tmux(&["send-keys", "-t", &name, "Escape"]).expect("keys");
    tmux(&["send-keys", "-t", &name, "e"]).expect("keys");
    wait_for_screen(&name, "expr> ones(10).sum()_");
    backspaces(&name, "ones(10).sum()".len());
    wait_for_screen(&name, "expr> _");
    // A paste of over 3000 characters, then Enter and r, and no key after them.
    let pasted = format!("ones(10).sum(){}+ 1", " ".repeat(3000));
    tmux(&["set-buffer", "-b", "long", &pasted]).expect("buffer");
    tmux(&["paste-buffer", "-p", "-b", "long", "-t", &name]).expect("paste");
    tmux(&["send-keys", "-t", &name, "Enter", "r"]).expect("keys");
    wait_for_screen(&name, "result: 11.0");
    // The same typed key by key (no bracketed paste).
    tmux(&["send-keys", "-t", &name, "e"]).expect("keys");
    backspaces(&name, pasted.len());
    wait_for_screen(&name, "expr> _");
    let typed = format!("ones(20).sum(){}+ 2", " ".repeat(3000));
    tmux(&["send-keys", "-t", &name, "-l", &typed]).expect("keys");
    tmux(&["send-keys", "-t", &name, "Enter", "r"]).expect("keys");
    wait_for_screen(&name, "result: 22.0");
    drop(session);
}

#[test]
fn the_ui_launches_slurm_jobs_shows_the_pending_one_and_cancels_all_on_q() {
    if tmux(&["-V"]).is_none() {
        eprintln!("skipped: tmux is not installed (apt-get install tmux)");
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("launchers/slurm-up.sh");
    let up = Command::new("bash").arg(&script).output().expect("bash runs");
    if !up.status.success() {
        println!("skipped: Slurm cannot start here: {}", String::from_utf8_lossy(&up.stderr).trim());
        return;
    }
    let dir = std::env::temp_dir().join(format!("tessera-test-ui-slurm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("cluster.json");
    let bin = tessera_bin().display().to_string();
    let name = format!("tessera-ui-slurm-{}", std::process::id());
    // Three one-core jobs on a two-core node: the third waits for a core.
    let command =
        format!("{bin} ui --launcher slurm -- --jobs 3 --cores 1 --memory 1GiB --cluster-file {}", file.display());
    tmux(&["new-session", "-d", "-s", &name, "-x", "140", "-y", "40", &command]).expect("tmux starts");
    let _session = Session(name.clone());
    let screen = wait_for_screen(&name, "PENDING");
    let pending = screen.lines().find(|l| l.contains("PENDING")).expect("a pending row");
    assert!(pending.starts_with("slurm-"), "the pending job is a worker row: {pending}");
    let joined = screen.lines().filter(|l| l.starts_with("slurm-") && l.contains('%')).count();
    let screen = if joined < 2 {
        let start = Instant::now();
        loop {
            let s = tmux(&["capture-pane", "-p", "-t", &name]).unwrap_or_default();
            if s.lines().filter(|l| l.starts_with("slurm-") && l.contains('%')).count() == 2 {
                break s;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "two workers never joined:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    } else {
        screen
    };
    let jobs: Vec<String> = screen
        .lines()
        .filter(|l| l.starts_with("slurm-"))
        .filter_map(|l| l.split_whitespace().next())
        .map(|n| n["slurm-".len()..].to_string())
        .collect();
    assert_eq!(jobs.len(), 3, "{screen}");
    tmux(&["send-keys", "-t", &name, "q"]).expect("q");
    let start = Instant::now();
    loop {
        let queued = Command::new("squeue").args(["--noheader", "--jobs", &jobs.join(",")]).output().expect("squeue");
        let live = String::from_utf8_lossy(&queued.stdout).trim().to_string();
        if live.is_empty() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(40), "jobs left after q: {live}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let start = Instant::now();
    while jobs.iter().any(|id| !processes_with(&format!("slurm-{id}")).is_empty()) {
        assert!(start.elapsed() < Duration::from_secs(30), "a worker process outlived its job");
        std::thread::sleep(Duration::from_millis(100));
    }
}
