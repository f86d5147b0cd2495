//! `tessera launch slurm` against a real one-node Slurm (slurmctld, slurmd and munge
//! started by `tests/launchers/slurm-up.sh`, as root; Debian's slurm-wlm and munge
//! installed by `.ci/run`). Where Slurm cannot start, the Slurm tests print `skipped:`
//! with the reason and pass; the job script and the refusals are checked everywhere.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_tests::launcher::{Launch, result, result_while, temp_dir};
use tessera_tests::procs::processes_with;
use tessera_tests::{tessera, tessera_bin};

/// S2 at CI size: the seed's expression.
const S2: &str = "x = random((2000, 2000), seed=42, chunks=500); (x * x[::-1, ::-1]).sum()";
/// A few seconds of work whose values move between workers.
const MOVING: &str = "x = random((2000, 2000), seed=3, chunks=500); y = x @ x; (y + y.T).sum()";

/// Starts the one-node Slurm; `Err` says why it cannot. The guard keeps the tests that
/// submit jobs apart: on a two-core node, one test's jobs would queue behind another's.
fn slurm() -> Result<std::sync::MutexGuard<'static, ()>, String> {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("launchers/slurm-up.sh");
    let out =
        Command::new("bash").arg(&script).output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if out.status.success() { Ok(guard) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
}

/// The job ids of `squeue` that are still queued or running.
fn live_jobs(ids: &[&str]) -> String {
    let out = Command::new("squeue")
        .args(["--noheader", "--format=%i %T", "--jobs", &ids.join(",")])
        .output()
        .expect("squeue runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Waits until `squeue` lists none of `ids` (a cancelled job is COMPLETING for a moment).
fn wait_until_gone(ids: &[&str]) {
    let start = Instant::now();
    while !live_jobs(ids).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(30), "jobs left in squeue: {}", live_jobs(ids));
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_job_script_carries_every_option_and_is_valid_bash() {
    let dir = temp_dir("slurm-script");
    let file = dir.join("c.json");
    let run = tessera(&[
        "launch",
        "slurm",
        "--jobs",
        "3",
        "--cores",
        "2",
        "--memory",
        "3GiB",
        "--walltime",
        "0:30:00",
        "--partition",
        "short",
        "--account",
        "lab",
        "--job-extra=--qos=debug",
        "--cluster-file",
        &file.to_string_lossy(),
        "--dry-run",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let script = &run.stdout;
    for line in [
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=3072M",
        "#SBATCH --time=0:30:00",
        "#SBATCH --partition=short",
        "#SBATCH --account=lab",
        "#SBATCH --qos=debug",
    ] {
        assert!(script.lines().any(|l| l == line), "no {line:?} in\n{script}");
    }
    let exec = script.lines().last().expect("a command");
    let want = format!(
        "exec '{}' worker --cluster-file '{}' --threads 2 --memory-limit 3221225472 --name \"slurm-$SLURM_JOB_ID\"",
        tessera_bin().display(),
        file.display()
    );
    assert_eq!(exec, want);
    assert!(!file.exists(), "a dry run started a scheduler");
    let mut bash = Command::new("bash").arg("-n").stdin(Stdio::piped()).spawn().expect("bash");
    std::io::Write::write_all(bash.stdin.as_mut().expect("stdin"), script.as_bytes()).expect("writes");
    assert!(bash.wait().expect("bash ends").success(), "bash -n refused the script");
}

#[test]
fn without_sbatch_the_launcher_says_so_and_leaves_nothing() {
    let dir = temp_dir("slurm-missing");
    let file = dir.join("c.json");
    let out = Command::new(tessera_bin())
        .args(["launch", "slurm", "--memory", "1GiB", "--cluster-file", &file.to_string_lossy()])
        .env("PATH", dir.join("no-bin"))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.lines().last().is_some_and(|l| l.contains("sbatch not found")), "{stderr}");
    assert!(!file.exists(), "the cluster file was left behind");
    assert!(
        std::fs::read_dir(&dir).expect("dir").flatten().all(|e| !e.file_name().to_string_lossy().contains("launch"))
    );
    let bad = tessera(&["launch", "slurm", "--memory", "lots", "--cluster-file", &file.to_string_lossy()]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("--memory"), "{}", bad.stderr);
    let stop = tessera(&["launch", "stop", &file.to_string_lossy()]);
    assert_eq!(stop.code, 2, "{}", stop.stderr);
    assert!(stop.stderr.contains("no cluster launched"), "{}", stop.stderr);
}

#[test]
fn slurm_refusals_are_one_line_and_leave_no_job() {
    let _slurm = match slurm() {
        Ok(guard) => guard,
        Err(reason) => {
            println!("skipped: Slurm cannot start here: {reason}");
            return;
        }
    };
    let dir = temp_dir("slurm-refused");
    let file = dir.join("c.json");
    let f = file.to_string_lossy().into_owned();
    let partition = tessera(&["launch", "slurm", "--memory", "1GiB", "--partition", "nope", "--cluster-file", &f]);
    assert_eq!(partition.code, 2, "{}", partition.stderr);
    let last = partition.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("sbatch refused the worker job") && last.contains("partition"), "{}", partition.stderr);

    // A job that fails at once: its own error is shown, and nothing stays queued.
    let failing =
        tessera(&["launch", "slurm", "--memory", "1GiB", "--program", "/nonexistent/tessera", "--cluster-file", &f]);
    assert_eq!(failing.code, 1, "{}", failing.stderr);
    let last = failing.stderr.lines().last().unwrap_or_default();
    assert!(last.contains("before its worker joined") && last.contains("/nonexistent/tessera"), "{}", failing.stderr);
    assert!(!file.exists(), "the cluster file was left behind");
    let queued = Command::new("squeue").args(["--noheader", "--name=tessera-worker"]).output().expect("squeue");
    assert_eq!(String::from_utf8_lossy(&queued.stdout).trim(), "", "a job was left queued");
}

#[test]
fn slurm_workers_compute_like_threads_and_survive_scancel_and_walltime() {
    let _slurm = match slurm() {
        Ok(guard) => guard,
        Err(reason) => {
            println!("skipped: Slurm cannot start here: {reason}");
            return;
        }
    };
    let dir = temp_dir("slurm-launch");
    let file = dir.join("cluster.json");
    let (s2, moving) = (result(S2, None), result(MOVING, None));

    // Three one-core jobs on a two-core node: two run, the third waits for a core.
    let started = Instant::now();
    let mut launch =
        Launch::start(&["slurm", "--jobs", "3", "--cores", "1", "--memory", "2GiB", "--walltime", "10"], &file);
    let submitted = launch.wait_for("worker jobs (", Duration::from_secs(30));
    let ids: Vec<String> = submitted
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .expect("job ids in parentheses")
        .split(", ")
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 3, "{submitted}");
    let (first, second, third) = (&ids[0], &ids[1], &ids[2]);
    launch.wait_for(&format!("worker slurm-{first} joined"), Duration::from_secs(60));
    launch.wait_for(&format!("worker slurm-{second} joined"), Duration::from_secs(60));
    println!("launch to 2 workers joined: {:.1} s", started.elapsed().as_secs_f64());
    assert!(launch.lines().iter().any(|l| l.contains(&format!("job {third}: PENDING"))), "{:?}", launch.lines());
    // The second job will reach its walltime (one minute) while the runs below go on.
    let limit = Command::new("scontrol")
        .args(["update", &format!("JobId={second}"), "TimeLimit=1"])
        .status()
        .expect("scontrol");
    assert!(limit.success());

    assert_eq!(result(S2, Some(&file)), s2, "S2 on Slurm workers differs from threads");
    // A storage write on the cluster writes the same bytes.
    let (here, there) = (dir.join("threads.npy"), dir.join("cluster.npy"));
    let write = |path: &Path, cluster: bool| {
        let expr = format!("x = random((1000, 800), seed=5, chunks=200); to_npy(x * 2 + 1, \"{}\")", path.display());
        let f = file.to_string_lossy().into_owned();
        let mut args = vec!["run", &expr];
        if cluster {
            args.extend(["--cluster-file", &f]);
        }
        let run = tessera(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
    };
    write(&here, false);
    write(&there, true);
    assert_eq!(std::fs::read(&here).expect("written"), std::fs::read(&there).expect("written"));

    // scancel mid-run: the worker hands over and leaves; the run's result is the same.
    let cancelled = result_while(MOVING, &file, || {
        assert!(Command::new("scancel").arg(first).status().expect("scancel").success());
    });
    assert_eq!(cancelled, moving, "a cancelled job changed the result");
    launch.wait_for(&format!("job {first} ended (CANCELLED)"), Duration::from_secs(60));
    launch.wait_for(&format!("worker slurm-{first} has handed everything over"), Duration::from_secs(5));
    // Its core goes to the waiting job.
    launch.wait_for(&format!("worker slurm-{third} joined"), Duration::from_secs(60));

    // A job reaching its walltime (shortened to one minute) leaves the same way.
    let deadline = Instant::now() + Duration::from_secs(150);
    let timed_out = format!("job {second} ended (TIMEOUT)");
    let mut runs = 0;
    while !launch.lines().iter().any(|l| l.contains(&timed_out)) {
        assert!(Instant::now() < deadline, "the job never reached its walltime:\n{}", launch.lines().join("\n"));
        assert_eq!(result(MOVING, Some(&file)), moving, "a run around the walltime differs");
        runs += 1;
    }
    assert_eq!(result(MOVING, Some(&file)), moving);
    println!("{runs} runs until the walltime");
    assert!(
        launch.lines().iter().any(|l| l.contains(&format!("worker slurm-{second} is leaving"))),
        "the worker at its walltime did not leave gracefully:\n{}",
        launch.lines().join("\n")
    );

    // Stop: every job cancelled, no worker process, no cluster file.
    let stop = launch.stop();
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(stop.stderr.contains("stopped the slurm cluster"), "{}", stop.stderr);
    assert_eq!(launch.wait(Duration::from_secs(30)), Some(0), "{}", launch.lines().join("\n"));
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    wait_until_gone(&ids);
    for id in &ids {
        assert_eq!(processes_with(&format!("slurm-{id}")), Vec::<String>::new(), "a worker process was left");
    }
    assert!(!file.exists(), "the cluster file was left behind");
}

#[test]
fn adapt_submits_a_job_while_tasks_wait_and_cancels_it_when_idle() {
    let _slurm = match slurm() {
        Ok(guard) => guard,
        Err(reason) => {
            println!("skipped: Slurm cannot start here: {reason}");
            return;
        }
    };
    let dir = temp_dir("slurm-adapt");
    let file = dir.join("cluster.json");
    // Many small tasks: more than one one-thread worker has room for.
    let many = "x = random((2000, 2000), seed=3, chunks=250); y = x @ x; (y + y.T).sum()";
    let want = result(many, None);
    let mut launch = Launch::start(&["slurm", "--adapt", "1:2", "--cores", "1", "--memory", "1GiB"], &file);
    launch.wait_for("cluster ready: 1 workers", Duration::from_secs(60));
    assert_eq!(result(many, Some(&file)), want);
    let grew = launch.wait_for("adapt: ", Duration::from_secs(5));
    assert!(grew.contains("submitting a job (2 of at most 2)"), "{grew}");
    let joins =
        |l: &Launch| l.lines().iter().filter(|l| l.starts_with("worker slurm-") && l.contains(" joined:")).count();
    let start = Instant::now();
    while joins(&launch) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the second job's worker never joined:\n{}",
            launch.lines().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let shrunk = launch.wait_for("adapt: idle", Duration::from_secs(40));
    let job = shrunk.split("cancelling job ").nth(1).and_then(|r| r.split_whitespace().next()).expect("a job id");
    launch.wait_for(&format!("worker slurm-{job} has handed everything over"), Duration::from_secs(30));
    assert_eq!(result(many, Some(&file)), want, "the remaining worker computes the same");
    let stop = launch.stop();
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert_eq!(launch.wait(Duration::from_secs(30)), Some(0));
}

#[test]
fn the_scheduler_runs_as_a_job_of_its_own_when_asked() {
    let _slurm = match slurm() {
        Ok(guard) => guard,
        Err(reason) => {
            println!("skipped: Slurm cannot start here: {reason}");
            return;
        }
    };
    let dir = temp_dir("slurm-scheduler-job");
    let file = dir.join("cluster.json");
    let mut launch = Launch::start(&["slurm", "--scheduler-job", "--jobs", "1", "--memory", "1GiB"], &file);
    let listening = launch.wait_for("scheduler: listening on", Duration::from_secs(60));
    let job =
        listening.split("(job ").nth(1).and_then(|r| r.split(')').next()).expect("the scheduler's job").to_string();
    launch.wait_for("cluster ready: 1 workers", Duration::from_secs(60));
    assert_eq!(result(S2, Some(&file)), result(S2, None));
    let stop = launch.stop();
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert_eq!(launch.wait(Duration::from_secs(30)), Some(0));
    wait_until_gone(&[&job]);
}
