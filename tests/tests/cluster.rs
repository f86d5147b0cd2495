//! Clusters of real processes on loopback: a scheduler, workers, clients, and faults.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_tests::procs::{Procs, start, wait_for_line};
use tessera_tests::{tessera, tessera_bin};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Waits until `file` is a readable cluster file.
fn wait_for_file(file: &Path) {
    let start = Instant::now();
    while std::fs::read_to_string(file).map_or(true, |t| !t.contains("secret")) {
        assert!(start.elapsed() < Duration::from_secs(15), "the scheduler did not write {}", file.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn cluster(name: &str, workers: usize) -> (Procs, PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let file = dir.join("cluster.json");
    let f = file.to_str().expect("utf-8").to_string();
    let mut procs = Procs(vec![start(&["scheduler", "--listen", "127.0.0.1:0", "--cluster-file", &f])]);
    wait_for_file(&file);
    for i in 0..workers {
        let name = format!("w{i}");
        let mut w = start(&["worker", "--cluster-file", &f, "--threads", "1", "--name", &name]);
        wait_for_line(&mut w, "joined");
        procs.0.push(w);
    }
    (procs, dir, file)
}

const S2_SMALL: &str = "x = random((1200, 1000), seed=42, chunks=100); (x * x[::-1, ::-1]).sum()";
/// Moves chunks between workers: a materialized product read transposed.
const MOVING: &str = "x = random((600, 600), seed=3, chunks=100); y = (x @ x); (y + y.T).sum()";

fn result_of(args: &[&str]) -> String {
    let run = tessera(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run.json()["result"].to_string()
}

#[test]
fn local_cluster_matches_threads_bit_for_bit_and_leaves_no_process() {
    for expr in [S2_SMALL, MOVING] {
        let local = result_of(&["run", "--json", expr]);
        let run = tessera(&[
            "run",
            "--json",
            "--scheduler",
            "local-cluster",
            "--workers",
            "2",
            "--threads-per-worker",
            "1",
            expr,
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let j = run.json();
        assert_eq!(j["result"].to_string(), local, "{expr}");
        assert_eq!(j["scheduler"], "local-cluster");
        assert_eq!(j["workers"], 2);
        // Every worker reports its share: tasks, CPU and memory, bytes moved.
        let workers = j["cluster_workers"].as_array().expect("per-worker usage");
        assert_eq!(workers.len(), 2, "{j}");
        let tasks: u64 = workers.iter().map(|w| w["tasks"].as_u64().expect("tasks")).sum();
        assert_eq!(tasks, j["tasks"].as_u64().expect("tasks"), "{j}");
        assert!(workers.iter().all(|w| w["peak_rss_bytes"].as_u64() > Some(1 << 20)), "{j}");
        assert!(workers.iter().map(|w| w["cpu_seconds"].as_f64().expect("cpu")).sum::<f64>() > 0.0, "{j}");
        let moved = |key: &str| workers.iter().map(|w| w[key].as_u64().expect("bytes")).sum::<u64>();
        if expr == MOVING {
            assert!(moved("bytes_in") > 0, "{j}");
            assert!(j["transfer"]["gb_per_s"].as_f64() > Some(0.0), "{j}");
        }
    }
    // The launcher's temp directory names its pid; nothing of it may survive.
    let leftovers: Vec<String> = std::fs::read_dir("/proc")
        .expect("procfs")
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("tessera-local-") && c.contains("--cluster-file"))
        .collect();
    assert!(leftovers.is_empty(), "orphan processes: {leftovers:?}");
}

/// Runs a moving workload on 3 workers, does `fault` to the last one once the run is
/// under way, checks the result, and returns the scheduler's log.
fn survive(name: &str, fault: impl FnOnce(&mut Child)) -> String {
    let expr = "x = random((1500, 1500), seed=5, chunks=50); y = (x + 1).rechunk(300); (y * y.T).sum()";
    let want = result_of(&["run", "--json", expr]);
    let (mut procs, _dir, file) = cluster(name, 3);
    let f = file.to_str().expect("utf-8");
    let mut client = Command::new(tessera_bin())
        .args(["run", "--json", "--progress", "--no-fuse", "--cluster-file", f, expr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client starts");
    let log = wait_for_line(&mut client, "progress:  20%");
    fault(&mut procs.0[2]);
    let out = client.wait_with_output().expect("client ends");
    let log = log.join().expect("log reader");
    assert!(out.status.success(), "{log:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(j["result"].to_string(), want);
    let mut scheduler_log = String::new();
    procs.0[0].kill().expect("stop scheduler");
    use std::io::Read;
    procs.0[0].stderr.take().expect("piped").read_to_string(&mut scheduler_log).expect("log");
    scheduler_log
}

#[test]
fn a_worker_killed_mid_run_is_recovered_with_the_same_result() {
    let log = survive("kill", |w| w.kill().expect("kill -9"));
    // A dead process sends nothing: its silence (or the dropped connection) gives it away.
    assert!(log.contains("worker w1 missed its heartbeats") || log.contains("lost worker w1"), "{log}");
}

#[test]
fn a_frozen_worker_misses_its_heartbeats_and_is_replaced() {
    // SIGSTOP keeps its sockets open: only the missing heartbeats give it away.
    let log = survive("freeze", |w| {
        // SAFETY: kill only sends a signal to our own child, which is still running.
        let stopped = unsafe { libc::kill(w.id() as libc::pid_t, libc::SIGSTOP) };
        assert_eq!(stopped, 0, "SIGSTOP delivered");
    });
    assert!(log.contains("worker w1 missed its heartbeats"), "{log}");
}

#[test]
fn a_killed_scheduler_stops_clients_and_workers_quickly() {
    let (mut procs, _dir, file) = cluster("sched", 1);
    let f = file.to_str().expect("utf-8").to_string();
    let mut client = Command::new(tessera_bin())
        .args(["run", "--cluster-file", &f, "--progress", "x = random((8000, 8000), chunks=100); (x * 2).sum()"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client starts");
    wait_for_line(&mut client, "progress:");
    procs.0[0].kill().expect("kill scheduler");
    let killed = Instant::now();
    let status = client.wait().expect("client ends");
    assert!(!status.success());
    assert!(killed.elapsed() < Duration::from_secs(10), "client took {:?}", killed.elapsed());
    let worker_status = procs.0[1].wait().expect("worker ends");
    assert!(!worker_status.success());
    assert!(killed.elapsed() < Duration::from_secs(10), "worker took {:?}", killed.elapsed());
}

#[test]
fn a_client_with_the_wrong_secret_is_refused_and_others_are_served() {
    let (_procs, dir, file) = cluster("secret", 1);
    let text = std::fs::read_to_string(&file).expect("cluster file");
    let j: serde_json::Value = serde_json::from_str(&text).expect("json");
    let secret = j["secret"].as_str().expect("secret").to_string();
    let flipped: String = secret.chars().map(|c| if c == '0' { '1' } else { '0' }).collect();
    let forged = dir.join("forged.json");
    std::fs::write(&forged, text.replace(&secret, &flipped)).expect("write");
    // Written with the default umask, others can read it: refused as ssh refuses such keys.
    let open = tessera(&["run", "--cluster-file", forged.to_str().expect("utf-8"), "ones(10).sum()"]);
    assert_eq!(open.code, 2, "{}", open.stderr);
    assert!(open.stderr.contains("others can read it") && open.stderr.contains("chmod 600"), "{}", open.stderr);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&forged, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let run = tessera(&["run", "--cluster-file", forged.to_str().expect("utf-8"), "ones(10).sum()"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("wrong cluster secret"), "{}", run.stderr);
    let ok = tessera(&["run", "--cluster-file", file.to_str().expect("utf-8"), "ones(10).sum()"]);
    assert_eq!((ok.code, ok.stdout.trim()), (0, "10.0"), "{}", ok.stderr);
    let missing = tessera(&["run", "--cluster-file", "/nonexistent/cluster.json", "ones(10).sum()"]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
}

#[test]
fn a_worker_that_joins_mid_run_gets_work() {
    let (mut procs, _dir, file) = cluster("join", 1);
    let f = file.to_str().expect("utf-8").to_string();
    let expr = "x = random((4000, 4000), seed=9, chunks=100); (x * x.T).sum()";
    let want = result_of(&["run", "--json", expr]);
    let mut client = Command::new(tessera_bin())
        .args(["run", "--json", "--progress", "--cluster-file", &f, expr])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("client starts");
    let log = wait_for_line(&mut client, "progress:  10%");
    let mut late = start(&["worker", "--cluster-file", &f, "--threads", "1", "--name", "late"]);
    let late_log = wait_for_line(&mut late, "joined");
    procs.0.push(late);
    let out = client.wait_with_output().expect("client ends");
    assert!(out.status.success(), "{:?}", log.join());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(j["result"].to_string(), want);
    // The scheduler's summary names the late worker with a share of the tasks
    // (a worker appears there only once it finished tasks).
    procs.0[0].kill().expect("stop scheduler");
    wait_for_line(&mut procs.0[0], " tasks on late");
    drop(late_log);
}

#[test]
fn several_clients_share_one_cluster() {
    let (_procs, _dir, file) = cluster("clients", 2);
    let f = file.to_str().expect("utf-8").to_string();
    let exprs = [S2_SMALL, MOVING, "arange(1000, chunks=7).sum()"];
    let wants: Vec<String> = exprs.iter().map(|e| result_of(&["run", "--json", e])).collect();
    let clients: Vec<Child> = exprs
        .iter()
        .map(|e| {
            Command::new(tessera_bin())
                .args(["run", "--json", "--cluster-file", &f, e])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("client starts")
        })
        .collect();
    for (client, want) in clients.into_iter().zip(wants) {
        let out = client.wait_with_output().expect("client ends");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(j["result"].to_string(), want);
    }
}

#[test]
fn gpu_work_goes_only_to_workers_with_a_gpu() {
    let probe = tessera(&["run", "--device", "gpu", "ones((4, 4)).sum()"]);
    if probe.code == 3 {
        eprintln!("skipped: {}", probe.stderr.trim());
        return;
    }
    let (mut procs, _dir, file) = cluster("gpu", 1);
    let f = file.to_str().expect("utf-8").to_string();
    let mut gpu = start(&["worker", "--cluster-file", &f, "--threads", "1", "--name", "gpu0", "--device", "gpu"]);
    let gpu_log = wait_for_line(&mut gpu, "joined");
    procs.0.push(gpu);

    let want: f64 = result_of(&["run", "--json", S2_SMALL]).parse().expect("number");
    let run = tessera(&["run", "--json", "--device", "gpu", "--cluster-file", &f, S2_SMALL]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let got = j["result"].as_f64().expect("number");
    assert!((got - want).abs() <= 1e-12 * want.abs(), "{got} vs {want}");
    let tasks_of = |name: &str| {
        j["cluster_workers"]
            .as_array()
            .expect("workers")
            .iter()
            .find(|w| w["name"] == name)
            .map_or(0, |w| w["tasks"].as_u64().expect("tasks"))
    };
    assert!(tasks_of("gpu0") > 0, "{j}");
    assert_eq!(tasks_of("w0"), 0, "the CPU worker got GPU work: {j}");

    // Without a GPU worker, a GPU run is refused as a resource problem.
    let mut gpu = procs.0.pop().expect("gpu worker");
    gpu.kill().expect("kill");
    let _ = gpu.wait();
    drop(gpu_log);
    let start_time = Instant::now();
    let refused = loop {
        let r = tessera(&["run", "--device", "gpu", "--cluster-file", &f, S2_SMALL]);
        // The scheduler notices the dead worker within its heartbeat timeout.
        if r.code != 0 || start_time.elapsed() > Duration::from_secs(20) {
            break r;
        }
    };
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("GPU"), "{}", refused.stderr);
}

/// CPU seconds a process has used so far (user + system, from /proc).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| f.iter().filter_map(|t| t.parse::<f64>().ok()).sum());
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[test]
fn a_killed_clients_graph_stops_on_the_workers() {
    let (mut procs, _dir, file) = cluster("client-killed", 1);
    let f = file.to_str().expect("utf-8").to_string();
    let scheduler_log = wait_for_line(&mut procs.0[0], "listening");
    let worker = procs.0[1].id();
    // Minutes of work on one thread: it can only stop early by being cancelled.
    let long = "x = random((20000, 20000), seed=5, chunks=500); (x * x.T).sum()";
    let idle = cpu_seconds(worker);
    let mut client = Command::new(tessera_bin())
        .args(["run", "--cluster-file", &f, long])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("client starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while cpu_seconds(worker) - idle < 0.5 {
        assert!(Instant::now() < deadline, "the worker never started on the graph");
        std::thread::sleep(Duration::from_millis(50));
    }
    client.kill().expect("kill the client");
    let _ = client.wait();
    let killed = Instant::now();
    // The scheduler notices the lost connection (idle timeout) and the worker drops
    // the graph's queued tasks: its CPU use falls to nothing.
    loop {
        let before = cpu_seconds(worker);
        std::thread::sleep(Duration::from_millis(1000));
        if cpu_seconds(worker) - before < 0.1 {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(20), "the worker still computes the dead client's graph");
    }
    // The worker is free for the next client at once.
    let start = Instant::now();
    let want = result_of(&["run", "--json", S2_SMALL]);
    assert_eq!(result_of(&["run", "--json", "--cluster-file", &f, S2_SMALL]), want);
    assert!(start.elapsed() < Duration::from_secs(30), "took {:?}", start.elapsed());
    drop(procs);
    let log = scheduler_log.join().unwrap_or_default();
    assert!(log.iter().any(|l| l.contains("left; cancelled its 1 graph")), "{log:?}");
}

#[test]
fn errors_name_the_worker_as_its_user_named_it() {
    let dir = temp_dir("named");
    let file = dir.join("cluster.json");
    let f = file.to_str().expect("utf-8").to_string();
    let mut procs = Procs(vec![start(&["scheduler", "--listen", "127.0.0.1:0", "--cluster-file", &f])]);
    wait_for_file(&file);
    let mut w = start(&["worker", "--cluster-file", &f, "--threads", "2", "--name", "A"]);
    wait_for_line(&mut w, "joined");
    procs.0.push(w);
    // numpy raises for this when it meets the values; so does the worker.
    let run = tessera(&["run", "--json", "--cluster-file", &f, "(arange(10) ** (arange(10) - 5)).sum()"]);
    assert_ne!(run.code, 0);
    let line = run.stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_default();
    assert!(line.contains("on worker A:") && line.contains("negative integer powers"), "{}", run.stderr);
    // The run's report counts the one worker that ran, with its two threads.
    let j = tessera(&["run", "--json", "--cluster-file", &f, "ones(100, chunks=10).sum()"]).json();
    assert_eq!((j["workers"].as_u64(), j["threads"].as_u64()), (Some(1), Some(2)), "{j}");
}

#[test]
fn a_second_scheduler_does_not_take_the_cluster_file_of_a_live_one() {
    let (_procs, dir, file) = cluster("second-scheduler", 1);
    let f = file.to_str().expect("utf-8").to_string();
    let before = std::fs::read_to_string(&file).expect("the cluster file");
    let second = tessera(&["scheduler", "--listen", "127.0.0.1:0", "--cluster-file", &f]);
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(second.stderr.contains("still running at"), "{}", second.stderr);
    assert_eq!(std::fs::read_to_string(&file).expect("kept"), before, "the live scheduler's file was replaced");
    // Its clients are still served.
    assert_eq!(result_of(&["run", "--json", "--cluster-file", &f, "arange(10).sum()"]), "45");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fifty_clients_connecting_at_once_are_all_served() {
    let (_procs, dir, file) = cluster("fifty-clients", 1);
    let f = file.to_str().expect("utf-8").to_string();
    let clients: Vec<Child> = (0..50)
        .map(|k| {
            Command::new(tessera_bin())
                .args(["run", "--json", "--cluster-file", &f, &format!("arange({k}).sum()")])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("client starts")
        })
        .collect();
    for (k, client) in clients.into_iter().enumerate() {
        let out = client.wait_with_output().expect("client ends");
        assert!(out.status.success(), "client {k}: {}", String::from_utf8_lossy(&out.stderr));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(j["result"].as_i64(), Some((0..k as i64).sum()), "client {k}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_killed_clients_graph_is_cancelled_within_about_a_second() {
    let dir = temp_dir("killed-client");
    let file = dir.join("cluster.json");
    let f = file.to_str().expect("utf-8").to_string();
    let mut scheduler = start(&["scheduler", "--listen", "127.0.0.1:0", "--cluster-file", &f]);
    let stderr = scheduler.stderr.take().expect("piped");
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut procs = Procs(vec![scheduler]);
    wait_for_file(&file);
    let mut worker = start(&["worker", "--cluster-file", &f, "--threads", "1", "--name", "w0"]);
    let _worker_lines = wait_for_line(&mut worker, "joined");
    procs.0.push(worker);
    let wait_for = |needle: &str| loop {
        match lines.recv_timeout(Duration::from_secs(120)) {
            Ok(line) if line.contains(needle) => return,
            Ok(_) => {}
            Err(_) => panic!("the scheduler never said {needle:?}"),
        }
    };
    // Minutes of work for one worker thread.
    let long = "x = random((40000, 40000), seed=1, chunks=1000); (sin(x) * x.T).sum()";
    let mut client = Command::new(tessera_bin())
        .args(["run", "--cluster-file", &f, long])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("client starts");
    wait_for("from client");
    std::thread::sleep(Duration::from_millis(300));
    client.kill().expect("SIGKILL");
    let killed = Instant::now();
    let _ = client.wait();
    wait_for("cancelled its 1 graph");
    let noticed = killed.elapsed();
    assert!(noticed < Duration::from_millis(2500), "the killed client's graph ran on for {noticed:?}");
    let _ = std::fs::remove_dir_all(dir);
}
