//! Workers as Slurm batch jobs: one `sbatch` job per worker running `tessera worker`
//! (its `exec`, so Slurm's SIGTERM at walltime or `scancel` reaches the worker, which
//! hands over what it holds and leaves), watched with `squeue`, cancelled with
//! `scancel`. Slurm's queueing time is reported apart from the worker's start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{Launched, Workers, absolute, last_line, note, program, quoted};
use crate::cli::SlurmArgs;
use crate::error::CliError;
use tessera::cluster::Load;

/// `tessera launch slurm`
pub fn launch(args: &SlurmArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let Some((mut launched, mut jobs)) = start(args)? else { return Ok(()) };
    launched.foreground(&mut jobs, started)
}

/// Starts the scheduler and submits the jobs (`None` after a dry run, which prints
/// the job script and starts nothing); nothing is left running if it fails.
pub fn start(args: &SlurmArgs) -> Result<Option<(Launched, SlurmJobs)>, CliError> {
    crate::limits::check_threads("--cores", args.cores)?;
    if args.jobs == 0 || args.jobs > MAX_JOBS {
        return Err(CliError::BadInput(format!("--jobs {}: expected 1 to {MAX_JOBS}", args.jobs)));
    }
    let adapt = args.adapt.as_deref().map(Adapt::parse).transpose()?;
    let initial = adapt.as_ref().map_or(args.jobs, |a| args.jobs.clamp(a.min, a.max));
    let memory = tessera::parse_bytes(&args.memory).map_err(|e| CliError::BadInput(format!("--memory: {e}")))?;
    let program = program(args.program.as_deref())?;
    if args.dry_run {
        let file = absolute(&args.place.cluster_file)?;
        if args.scheduler_job {
            println!("{}", scheduler_script(args, memory, &program, &file, &log_dir(&file)));
        }
        print!("{}", worker_script(args, memory, &program, &file, &log_dir(&file)));
        return Ok(None);
    }
    let mut launched = if args.scheduler_job {
        scheduler_job(args, memory, &program)?
    } else {
        Launched::start(&args.place, "slurm")?
    };
    let logs = log_dir(launched.file());
    let script = write_script(&logs, "worker.sbatch", &worker_script(args, memory, &program, launched.file(), &logs))?;
    let mut jobs = SlurmJobs { jobs: BTreeMap::new(), logs, script, expected: initial, stopped: false, adapt };
    if let Err(e) = jobs.submit(initial, &mut launched) {
        jobs.stop();
        return Err(e);
    }
    let ids: Vec<String> = jobs.jobs.keys().map(u64::to_string).collect();
    note(&format!("slurm: submitted {} worker jobs ({})", ids.len(), ids.join(", ")));
    Ok(Some((launched, jobs)))
}

/// Writes a job script into `logs` (created if needed); its path.
fn write_script(logs: &Path, name: &str, text: &str) -> Result<PathBuf, CliError> {
    std::fs::create_dir_all(logs).map_err(|e| CliError::BadInput(format!("cannot create {}: {e}", logs.display())))?;
    let script = logs.join(name);
    std::fs::write(&script, text).map_err(|e| CliError::BadInput(format!("cannot write {}: {e}", script.display())))?;
    Ok(script)
}

/// `--scheduler-job`: the scheduler as a job of its own; waits for its cluster file.
fn scheduler_job(args: &SlurmArgs, memory: u64, program: &Path) -> Result<Launched, CliError> {
    let mut launched = Launched::prepare(&args.place, "slurm")?;
    let logs = log_dir(launched.file());
    let script =
        write_script(&logs, "scheduler.sbatch", &scheduler_script(args, memory, program, launched.file(), &logs))?;
    let id = sbatch(&script, "scheduler's job")?;
    launched.record.scheduler_job = Some(id);
    launched.record.save()?;
    launched.elsewhere(Box::new(SchedulerJob(id)));
    note(&format!("slurm: submitted the scheduler's job {id}"));
    let mut last = String::new();
    launched.wait_for_cluster_file(
        || {
            let state = squeue(&[id]).and_then(|s| s.get(&id).cloned()).unwrap_or_default();
            if ended(&state) {
                return Err(CliError::Failed(format!(
                    "the scheduler's job {id} ended ({state}) before it listened: {}",
                    job_output(&logs, id)
                )));
            }
            if !state.is_empty() && state != last {
                note(&format!("job {id}: {state}"));
                last = state;
            }
            Ok(())
        },
        &format!("job {id}"),
    )?;
    Ok(launched)
}

/// The scheduler's own job, cancelled after the workers'.
struct SchedulerJob(u64);

impl super::Elsewhere for SchedulerJob {
    fn stop(&mut self) {
        cancel(&[self.0]);
    }
}

/// Submits `script` (`what` it is, for the message if sbatch refuses it); the job's id.
fn sbatch(script: &Path, what: &str) -> Result<u64, CliError> {
    let output = Command::new("sbatch").arg("--parsable").arg(script).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            CliError::BadInput(
                "sbatch not found: Slurm's commands must be on PATH to launch workers through Slurm".into(),
            )
        } else {
            CliError::Failed(format!("cannot run sbatch: {e}"))
        }
    })?;
    if !output.status.success() {
        let said = last_line(&String::from_utf8_lossy(&output.stderr));
        return Err(CliError::BadInput(format!("sbatch refused the {what}: {said}")));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .split(';')
        .next()
        .and_then(|id| id.parse::<u64>().ok())
        .ok_or_else(|| CliError::Failed(format!("sbatch answered {:?} instead of a job id", text.trim())))
}

/// Most worker jobs one launch submits.
const MAX_JOBS: usize = 10_000;

/// How long tasks must wait for a free worker before `--adapt` submits a job.
const BUSY_FOR: Duration = Duration::from_secs(1);
/// How long the cluster must be idle before `--adapt` cancels a job.
const IDLE_FOR: Duration = Duration::from_secs(10);

/// `--adapt MIN:MAX`: the bounds, and since when the cluster has been short of workers
/// or idle.
pub struct Adapt {
    min: usize,
    max: usize,
    busy_since: Option<Instant>,
    idle_since: Option<Instant>,
}

impl Adapt {
    fn parse(text: &str) -> Result<Adapt, CliError> {
        let bad = || CliError::BadInput(format!("--adapt {text}: expected MIN:MAX such as 1:10"));
        let (min, max) = text.split_once(':').ok_or_else(bad)?;
        let (min, max) =
            (min.trim().parse::<usize>().map_err(|_| bad())?, max.trim().parse::<usize>().map_err(|_| bad())?);
        if min == 0 || min > max || max > MAX_JOBS {
            return Err(bad());
        }
        Ok(Adapt { min, max, busy_since: None, idle_since: None })
    }
}

/// Where the job script and the jobs' output go: beside the cluster file, where the
/// jobs can read and write too.
fn log_dir(cluster_file: &Path) -> PathBuf {
    let stem = cluster_file.file_stem().map_or_else(|| "tessera".into(), |s| s.to_string_lossy().into_owned());
    cluster_file.with_file_name(format!("{stem}-jobs"))
}

/// The batch script of one worker job.
pub fn worker_script(args: &SlurmArgs, memory: u64, program: &Path, cluster_file: &Path, logs: &Path) -> String {
    let command = format!(
        "exec {} worker --cluster-file {} --threads {} --memory-limit {memory} --name \"slurm-$SLURM_JOB_ID\"",
        quoted(&program.to_string_lossy()),
        quoted(&cluster_file.to_string_lossy()),
        args.cores,
    );
    job_script(args, "tessera-worker", args.cores, memory, logs, &command)
}

/// The batch script of the scheduler's job (`--scheduler-job`): one core, and the
/// scheduler listens on its node's address.
pub fn scheduler_script(args: &SlurmArgs, memory: u64, program: &Path, cluster_file: &Path, logs: &Path) -> String {
    let command = format!(
        "exec {} scheduler --listen auto --cluster-file {}",
        quoted(&program.to_string_lossy()),
        quoted(&cluster_file.to_string_lossy()),
    );
    job_script(args, "tessera-scheduler", 1, memory, logs, &command)
}

/// A batch script running `command` with the launch's resources and directives.
fn job_script(args: &SlurmArgs, name: &str, cores: usize, memory: u64, logs: &Path, command: &str) -> String {
    let mut lines = vec![
        "#!/usr/bin/env bash".to_string(),
        format!("#SBATCH --job-name={name}"),
        "#SBATCH --nodes=1".into(),
        "#SBATCH --ntasks=1".into(),
        format!("#SBATCH --cpus-per-task={cores}"),
        format!("#SBATCH --mem={}M", memory.div_ceil(1 << 20)),
        format!("#SBATCH --output={}/slurm-%j.out", logs.display()),
    ];
    let optional = [("time", &args.walltime), ("partition", &args.partition), ("account", &args.account)];
    lines.extend(optional.iter().filter_map(|(flag, value)| value.as_ref().map(|v| format!("#SBATCH --{flag}={v}"))));
    lines.extend(args.job_extra.iter().map(|extra| format!("#SBATCH {extra}")));
    lines.push(String::new());
    lines.push(command.to_string());
    lines.join("\n") + "\n"
}

/// A job's life as the launcher sees it.
struct Job {
    submitted: Instant,
    /// Its last state from `squeue`, with the reason it gives.
    state: String,
    running_since: Option<Instant>,
    joined: bool,
    ended: bool,
}

/// The jobs of one launch.
pub struct SlurmJobs {
    jobs: BTreeMap<u64, Job>,
    logs: PathBuf,
    /// The job script every job runs.
    script: PathBuf,
    /// Bounds and clocks of `--adapt`.
    adapt: Option<Adapt>,
    expected: usize,
    stopped: bool,
}

/// States of a job that has ended.
const ENDED: [&str; 10] = [
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
    "GONE",
];

impl SlurmJobs {
    /// Submits `n` jobs of `script`, recording each one as soon as it exists.
    fn submit(&mut self, n: usize, launched: &mut Launched) -> Result<(), CliError> {
        for _ in 0..n {
            if launched.stopping() {
                return Ok(());
            }
            let id = sbatch(&self.script, "worker job")?;
            let job = Job {
                submitted: Instant::now(),
                state: String::new(),
                running_since: None,
                joined: false,
                ended: false,
            };
            self.jobs.insert(id, job);
            launched.record.jobs.push(id);
            launched.record.save()?;
        }
        Ok(())
    }

    /// The states of the jobs that have not ended.
    fn states(&self) -> Option<BTreeMap<u64, String>> {
        let ids: Vec<u64> = self.jobs.iter().filter(|(_, j)| !j.ended).map(|(&id, _)| id).collect();
        squeue(&ids)
    }
}

/// Each job's state and reason from `squeue` (`RUNNING on node17`, `PENDING
/// (Resources)`); jobs it no longer knows are `GONE`. `None` if squeue failed.
fn squeue(ids: &[u64]) -> Option<BTreeMap<u64, String>> {
    if ids.is_empty() {
        return Some(BTreeMap::new());
    }
    let list: Vec<String> = ids.iter().map(u64::to_string).collect();
    let output = Command::new("squeue")
        .args(["--noheader", "--states=all", "--format=%i|%T|%r|%N", "--jobs", &list.join(",")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() && !String::from_utf8_lossy(&output.stderr).contains("Invalid job id") {
        return None;
    }
    let mut states: BTreeMap<u64, String> = ids.iter().map(|&id| (id, "GONE".into())).collect();
    for line in text.lines() {
        let mut fields = line.split('|');
        let (Some(id), Some(state), reason, node) = (fields.next(), fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        let Ok(id) = id.trim().parse::<u64>() else { continue };
        let detail = match (state, reason.unwrap_or("None"), node.unwrap_or("")) {
            ("RUNNING", _, node) if !node.is_empty() => format!("RUNNING on {node}"),
            (state, "None", _) => state.to_string(),
            (state, reason, _) => format!("{state} ({reason})"),
        };
        states.insert(id, detail);
    }
    Some(states)
}

/// A job state's name without what [`squeue`] adds (`PENDING (Resources)`: `PENDING`).
fn state_name(state: &str) -> &str {
    state.split([' ', '(']).next().unwrap_or("")
}

/// Whether a job state (as [`squeue`] gives it) means the job has ended.
fn ended(state: &str) -> bool {
    ENDED.contains(&state_name(state))
}

/// The last line job `id` wrote (its worker's error, when it failed at once).
fn job_output(logs: &Path, id: u64) -> String {
    std::fs::read_to_string(logs.join(format!("slurm-{id}.out")))
        .map(|text| last_line(&text))
        .unwrap_or_else(|_| "(it wrote no output)".into())
}

impl Workers for SlurmJobs {
    fn expected(&self) -> usize {
        self.expected
    }

    fn poll(&mut self, joined: &[String]) -> Result<(), CliError> {
        // Joins are read first (a worker that joined and left between two looks has
        // joined), reported after the states (whose first RUNNING starts the clock).
        let newly: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(id, job)| !job.joined && joined.iter().any(|name| *name == format!("slurm-{id}")))
            .map(|(&id, _)| id)
            .collect();
        for id in &newly {
            if let Some(job) = self.jobs.get_mut(id) {
                job.joined = true;
            }
        }
        let states = self.states().unwrap_or_default();
        for (id, state) in states {
            let Some(job) = self.jobs.get_mut(&id) else { continue };
            if state == job.state {
                continue;
            }
            let name = state_name(&state).to_string();
            let is_over = ENDED.contains(&name.as_str());
            if name == "RUNNING" && job.running_since.is_none() {
                job.running_since = Some(Instant::now());
            }
            job.state = state.clone();
            if !is_over {
                note(&format!("job {id}: {state}"));
                continue;
            }
            job.ended = true;
            if !job.joined {
                let said = job_output(&self.logs, id);
                return Err(CliError::Failed(format!("job {id} ended ({name}) before its worker joined: {said}")));
            }
            note(&format!("job {id} ended ({name}): its worker left"));
        }
        let now = Instant::now();
        for id in newly {
            let Some(job) = self.jobs.get(&id) else { continue };
            let running = job.running_since.unwrap_or(now);
            note(&format!(
                "worker slurm-{id} joined: {:.1} s in Slurm's queue, then {:.1} s to start and join",
                running.duration_since(job.submitted).as_secs_f64(),
                now.duration_since(running).as_secs_f64()
            ));
        }
        Ok(())
    }

    fn pending(&self) -> Vec<(String, String)> {
        let waiting = self.jobs.iter().filter(|(_, j)| !j.joined && !j.ended);
        waiting
            .map(|(id, j)| {
                (format!("slurm-{id}"), if j.state.is_empty() { "SUBMITTED".into() } else { j.state.clone() })
            })
            .collect()
    }

    fn add(&mut self, launched: &mut Launched) -> Result<(), CliError> {
        if self.jobs.len() >= MAX_JOBS {
            return Err(CliError::BadInput(format!("at most {MAX_JOBS} jobs")));
        }
        self.submit(1, launched)?;
        self.expected += 1;
        if let Some(id) = self.jobs.keys().next_back() {
            note(&format!("slurm: submitted worker job {id}"));
        }
        Ok(())
    }

    fn remove(&mut self) -> bool {
        let Some((&id, job)) = self.jobs.iter_mut().rev().find(|(_, j)| !j.ended) else { return false };
        job.ended = true;
        self.expected = self.expected.saturating_sub(1);
        note(&format!("slurm: cancelling job {id}; its worker hands over what it holds"));
        cancel(&[id]) == 1
    }

    fn adapt(&mut self, load: &Load, launched: &mut Launched) -> Result<(), CliError> {
        let Some(adapt) = &mut self.adapt else { return Ok(()) };
        let now = Instant::now();
        let live = self.jobs.values().filter(|j| !j.ended).count();
        let waiting = self.jobs.values().filter(|j| !j.ended && !j.joined).count();
        let busy = load.ready > 0;
        let idle = load.ready == 0 && load.in_flight == 0;
        adapt.busy_since = if busy { adapt.busy_since.or(Some(now)) } else { None };
        adapt.idle_since = if idle { adapt.idle_since.or(Some(now)) } else { None };
        // One job at a time: the next only once the last one's worker has joined.
        if adapt.busy_since.is_some_and(|t| now - t >= BUSY_FOR) && waiting == 0 && live < adapt.max {
            adapt.busy_since = None;
            note(&format!(
                "adapt: {} tasks wait for a worker; submitting a job ({} of at most {})",
                load.ready,
                live + 1,
                adapt.max
            ));
            self.submit(1, launched)?;
        } else if adapt.idle_since.is_some_and(|t| now - t >= IDLE_FOR) && live > adapt.min {
            adapt.idle_since = None;
            // The newest job: a pending one first (it holds nothing), else a running one,
            // whose worker hands over what it holds before it leaves.
            let newest =
                self.jobs.iter_mut().rev().filter(|(_, j)| !j.ended).min_by_key(|(_, j)| j.joined).map(|(&id, j)| {
                    j.ended = true;
                    id
                });
            if let Some(id) = newest {
                note(&format!("adapt: idle for {} s; cancelling job {id} ({} left)", IDLE_FOR.as_secs(), live - 1));
                cancel(&[id]);
            }
        }
        Ok(())
    }

    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let live: Vec<u64> = self.jobs.iter().filter(|(_, j)| !j.ended).map(|(&id, _)| id).collect();
        let n = cancel(&live);
        if n > 0 {
            note(&format!("slurm: cancelled {n} worker jobs"));
        }
    }
}

/// Cancels `jobs` with `scancel` (SIGTERM to their workers, which hand over and leave);
/// the number asked to cancel.
pub fn cancel(jobs: &[u64]) -> usize {
    if jobs.is_empty() {
        return 0;
    }
    let ids: Vec<String> = jobs.iter().map(u64::to_string).collect();
    match Command::new("scancel").args(&ids).output() {
        Ok(out) if out.status.success() => jobs.len(),
        Ok(out) => {
            note(&format!("scancel: {}", last_line(&String::from_utf8_lossy(&out.stderr))));
            0
        }
        Err(e) => {
            note(&format!("cannot run scancel: {e}"));
            0
        }
    }
}
