//! Workers started over ssh: the system's OpenSSH client with the user's keys and
//! config, `BatchMode=yes` (a password prompt would hang a launcher). Per host: the
//! cluster file is copied into `~/.tessera/` (mode 0600), then one ssh session runs
//! `tessera worker` there, its shell's pid printed first so the worker can be stopped
//! gracefully (`kill -TERM`: it hands over what it holds) and its stderr shown here
//! line by line. A host that cannot be reached is reported with ssh's own reason and
//! the others still start.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_runtime::cleanup;
use tessera_transport::ClusterFile;

use super::record::{Record, SshWorker};
use super::{Elsewhere, Launched, Workers, last_line, note, program, quoted};
use crate::cli::SshArgs;
use crate::error::CliError;

/// How long a worker's ssh session may take to report its pid.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// `tessera launch ssh`
pub fn launch(args: &SshArgs) -> Result<(), CliError> {
    let started = Instant::now();
    let (mut launched, mut workers) = start(args)?;
    launched.foreground(&mut workers, started)
}

/// Starts the scheduler and a worker on every host that can be reached; an error if
/// none can (then nothing is left running).
pub fn start(args: &SshArgs) -> Result<(Launched, SshWorkers), CliError> {
    for host in &args.hosts {
        check_host("--hosts", host)?;
    }
    if let Some(n) = args.threads {
        crate::limits::check_threads("--threads", n)?;
    }
    let memory = match &args.memory {
        Some(m) => Some(tessera::parse_bytes(m).map_err(|e| CliError::BadInput(format!("--memory: {e}")))?),
        None => None,
    };
    let program = program(args.program.as_deref())?;
    let ssh = Ssh { config: args.ssh_config.clone() };
    let remote_file = remote_file();
    let mut launched = match &args.scheduler_host {
        Some(host) => scheduler_over_ssh(&ssh, host, &program, &remote_file, args)?,
        None => Launched::start(&args.place, "ssh")?,
    };
    launched.record.ssh_config = args.ssh_config.clone();
    launched.record.save()?;
    let cluster_file = std::fs::read(launched.file())
        .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", launched.file().display())))?;
    let mut command = format!("exec {} worker --cluster-file {remote_file}", quoted(&program.to_string_lossy()));
    if let Some(n) = args.threads {
        command += &format!(" --threads {n}");
    }
    if let Some(m) = memory {
        command += &format!(" --memory-limit {m}");
    }
    let names = worker_names(&args.hosts);
    let attempts: Vec<Result<HostWorker, String>> = std::thread::scope(|scope| {
        let starts: Vec<_> = args
            .hosts
            .iter()
            .zip(&names)
            .map(|(host, name)| {
                let (ssh, bytes, file) = (&ssh, &cluster_file, &remote_file);
                let command = format!("{command} --name {}", quoted(name));
                scope.spawn(move || ssh.start(host, name, bytes, file, &command))
            })
            .collect();
        starts.into_iter().map(|s| s.join().unwrap_or_else(|_| Err("the start panicked".into()))).collect()
    });
    let mut workers = SshWorkers { workers: Vec::new(), ssh, remote_file: remote_file.clone(), stopped: false };
    for (host, attempt) in args.hosts.iter().zip(attempts) {
        match attempt {
            Ok(w) => {
                launched.record.ssh_workers.push(SshWorker {
                    host: w.host.clone(),
                    pid: w.session.pid,
                    remote_file: remote_file.clone(),
                });
                workers.workers.push(w);
            }
            Err(reason) => note(&format!("host {host}: not started: {reason}")),
        }
    }
    launched.record.save()?;
    if workers.workers.is_empty() {
        return Err(CliError::Failed(format!("no worker started over ssh on {}", args.hosts.join(", "))));
    }
    note(&format!(
        "ssh: started {} workers ({})",
        workers.workers.len(),
        workers.workers.iter().map(|w| w.host.as_str()).collect::<Vec<_>>().join(", ")
    ));
    Ok((launched, workers))
}

/// Refuses what ssh would not take as a host name, or would take as an option.
fn check_host(flag: &str, host: &str) -> Result<(), CliError> {
    if host.is_empty() || host.starts_with('-') || host.contains(char::is_whitespace) {
        return Err(CliError::BadInput(format!("{flag}: {host:?} is not a host name")));
    }
    Ok(())
}

/// `--scheduler-host`: the scheduler started over ssh on `host`, its cluster file
/// fetched back to the launcher's.
fn scheduler_over_ssh(
    ssh: &Ssh,
    host: &str,
    program: &std::path::Path,
    remote_file: &str,
    args: &SshArgs,
) -> Result<Launched, CliError> {
    check_host("--scheduler-host", host)?;
    let mut launched = Launched::prepare(&args.place, "ssh")?;
    let command = format!(
        "umask 077 && mkdir -p ~/.tessera && rm -f {remote_file} && exec {} scheduler --listen auto --cluster-file {remote_file}",
        quoted(&program.to_string_lossy())
    );
    let session = ssh
        .session(host, &command)
        .map_err(|e| CliError::Failed(format!("host {host}: the scheduler did not start: {e}")))?;
    launched.record.scheduler_host =
        Some(SshWorker { host: host.to_string(), pid: session.pid, remote_file: remote_file.to_string() });
    launched.record.save()?;
    let mut scheduler =
        SchedulerSession { ssh: ssh.clone(), host: host.to_string(), remote_file: remote_file.to_string(), session };
    let deadline = Instant::now() + START_TIMEOUT;
    let text = loop {
        if let Ok(text) = ssh.run(host, &format!("cat {remote_file}"), &[])
            && !text.is_empty()
        {
            break text;
        }
        if let Ok(Some(status)) = scheduler.session.child.try_wait() {
            let said = scheduler.session.said();
            scheduler.stop();
            return Err(CliError::Failed(format!(
                "host {host}: the scheduler ended ({status}) before it listened: {said}"
            )));
        }
        if Instant::now() > deadline || launched.stopping() {
            scheduler.stop();
            return Err(CliError::Failed(format!(
                "host {host}: the scheduler wrote no cluster file within {} s",
                START_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    launched.elsewhere(Box::new(scheduler));
    let origin = format!("{host}:{remote_file}");
    let file =
        ClusterFile::parse(&String::from_utf8_lossy(&text), &origin).map_err(|e| CliError::Failed(e.to_string()))?;
    file.write(launched.file()).map_err(|e| CliError::BadInput(e.to_string()))?;
    launched.wait_for_cluster_file(|| Ok(()), &format!("on {host}"))?;
    Ok(launched)
}

/// Where each host keeps its copy of this launch's cluster file.
fn remote_file() -> String {
    format!("~/.tessera/cluster-{}.json", std::process::id())
}

/// A scheduler running on a host in an ssh session, stopped after the workers.
struct SchedulerSession {
    ssh: Ssh,
    host: String,
    remote_file: String,
    session: Session,
}

impl Elsewhere for SchedulerSession {
    fn stop(&mut self) {
        if let Err(e) = self.ssh.stop(&self.host, self.session.pid, &self.remote_file) {
            note(&format!("host {}: could not stop the scheduler: {e}", self.host));
        }
        self.session.close(Duration::from_secs(5));
    }
}

/// `ssh-HOST` for each host, numbered where a host is given twice.
fn worker_names(hosts: &[String]) -> Vec<String> {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if hosts.iter().filter(|other| *other == h).count() > 1 {
                format!("ssh-{h}-{i}")
            } else {
                format!("ssh-{h}")
            }
        })
        .collect()
}

/// The ssh client as the launcher runs it.
#[derive(Clone)]
struct Ssh {
    config: Option<std::path::PathBuf>,
}

impl Ssh {
    fn command(&self, host: &str, remote: &str) -> Command {
        let mut ssh = Command::new("ssh");
        ssh.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]);
        if let Some(config) = &self.config {
            ssh.arg("-F").arg(config);
        }
        ssh.arg("--").arg(host).arg(remote);
        ssh
    }

    /// Runs `remote` on `host` with `input` on its stdin; its stdout, or ssh's or the
    /// command's last stderr line if it fails.
    fn run(&self, host: &str, remote: &str, input: &[u8]) -> Result<Vec<u8>, String> {
        let mut child = self
            .command(host, remote)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    "ssh not found on PATH".to_string()
                } else {
                    format!("cannot run ssh: {e}")
                }
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(input);
        }
        let out = child.wait_with_output().map_err(|e| format!("ssh: {e}"))?;
        if out.status.success() { Ok(out.stdout) } else { Err(last_line(&String::from_utf8_lossy(&out.stderr))) }
    }

    /// Copies the cluster file to `host` and starts its worker.
    fn start(
        &self,
        host: &str,
        name: &str,
        cluster_file: &[u8],
        remote_file: &str,
        command: &str,
    ) -> Result<HostWorker, String> {
        self.run(host, &format!("umask 077 && mkdir -p ~/.tessera && cat > {remote_file}"), cluster_file)?;
        let session = self.session(host, command)?;
        Ok(HostWorker {
            host: host.to_string(),
            name: name.to_string(),
            session,
            started: Instant::now(),
            joined: false,
            ended: false,
        })
    }

    /// Runs `command` on `host` in a session that stays open, its stderr shown here
    /// line by line; the pid its shell reports first.
    fn session(&self, host: &str, command: &str) -> Result<Session, String> {
        let mut child = self
            .command(host, &format!("echo $$ && {command}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run ssh: {e}"))?;
        cleanup::register_child(child.id());
        let said = Arc::new(Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let (said, host) = (said.clone(), host.to_string());
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    note(&format!("[{host}] {line}"));
                    *said.lock().unwrap_or_else(|e| e.into_inner()) = line;
                }
            });
        }
        let pid = child
            .stdout
            .take()
            .map(first_line)
            .and_then(|rx| rx.recv_timeout(START_TIMEOUT).ok())
            .and_then(|l| l.trim().parse::<u32>().ok());
        let Some(pid) = pid else {
            let _ = child.kill();
            let _ = child.wait();
            cleanup::unregister_child(child.id());
            std::thread::sleep(Duration::from_millis(100));
            let said = said.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Err(if said.is_empty() { "its ssh session did not report a pid".into() } else { said });
        };
        Ok(Session { child, pid, said })
    }

    /// Asks the worker `pid` on `host` to leave (SIGTERM) and removes its cluster file.
    fn stop(&self, host: &str, pid: u32, remote_file: &str) -> Result<(), String> {
        self.run(host, &format!("kill -TERM {pid} 2>/dev/null; rm -f {remote_file}"), &[]).map(drop)
    }
}

/// The first line of `stdout`, read on a thread of its own.
fn first_line(stdout: std::process::ChildStdout) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        if BufReader::new(stdout).read_line(&mut line).is_ok() {
            let _ = tx.send(line);
        }
    });
    rx
}

/// A command running on a host in an ssh session.
struct Session {
    /// The local ssh client.
    child: Child,
    /// The command's pid on the host.
    pid: u32,
    /// The last line it wrote to stderr.
    said: Arc<Mutex<String>>,
}

impl Session {
    /// Its last stderr line.
    fn said(&self) -> String {
        self.said.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits up to `wait` for the session to end, then ends the local client.
    fn close(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        cleanup::unregister_child(self.child.id());
    }
}

/// A worker's ssh session.
struct HostWorker {
    host: String,
    name: String,
    session: Session,
    started: Instant,
    joined: bool,
    ended: bool,
}

/// The workers of one ssh launch.
pub struct SshWorkers {
    workers: Vec<HostWorker>,
    ssh: Ssh,
    /// Each host's copy of the cluster file.
    remote_file: String,
    stopped: bool,
}

impl Workers for SshWorkers {
    fn expected(&self) -> usize {
        self.workers.len()
    }

    fn poll(&mut self, joined: &[String]) -> Result<(), CliError> {
        for w in &mut self.workers {
            if !w.joined && joined.contains(&w.name) {
                w.joined = true;
                note(&format!(
                    "worker {} joined: {:.1} s after its ssh session started",
                    w.name,
                    w.started.elapsed().as_secs_f64()
                ));
            }
            if w.ended {
                continue;
            }
            let Ok(Some(status)) = w.session.child.try_wait() else { continue };
            w.ended = true;
            cleanup::unregister_child(w.session.child.id());
            std::thread::sleep(Duration::from_millis(50));
            let said = w.session.said();
            if !w.joined {
                return Err(CliError::Failed(format!(
                    "host {}: the worker ended ({status}) before it joined: {said}",
                    w.host
                )));
            }
            note(&format!("host {}: its worker ended ({status}): {said}", w.host));
        }
        Ok(())
    }

    fn pending(&self) -> Vec<(String, String)> {
        self.workers.iter().filter(|w| !w.joined && !w.ended).map(|w| (w.name.clone(), "starting".into())).collect()
    }

    fn add(&mut self, _: &mut Launched) -> Result<(), CliError> {
        Err(CliError::BadInput("the ssh launcher starts one worker per host given with --hosts".into()))
    }

    fn remove(&mut self) -> bool {
        let Some(w) = self.workers.iter_mut().rev().find(|w| !w.ended) else { return false };
        note(&format!("host {}: stopping its worker; it hands over what it holds", w.host));
        match self.ssh.stop(&w.host, w.session.pid, &self.remote_file) {
            Ok(()) => true,
            Err(e) => {
                note(&format!("host {}: could not stop its worker: {e}", w.host));
                false
            }
        }
    }

    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        std::thread::scope(|scope| {
            for w in self.workers.iter().filter(|w| !w.ended) {
                let (ssh, file) = (&self.ssh, &self.remote_file);
                scope.spawn(move || {
                    if let Err(e) = ssh.stop(&w.host, w.session.pid, file) {
                        note(&format!("host {}: could not stop its worker: {e}", w.host));
                    }
                });
            }
        });
        let deadline = Instant::now() + super::LEAVE_WAIT;
        for w in &mut self.workers {
            w.session.close(deadline.saturating_duration_since(Instant::now()));
        }
    }
}

/// Stops the ssh workers a record lists (for `tessera launch stop` when the launcher
/// is gone); how many were asked to stop.
pub fn stop_recorded(record: &Record) -> usize {
    let ssh = Ssh { config: record.ssh_config.clone() };
    let stopped = record.ssh_workers.iter().chain(&record.scheduler_host);
    stopped.filter(|w| ssh.stop(&w.host, w.pid, &w.remote_file).is_ok()).count()
}
