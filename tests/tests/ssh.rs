//! `tessera launch ssh` through a real OpenSSH server (Debian's openssh-server, started
//! by the test on a loopback port with key authentication only) and the system's ssh
//! client. Host names are aliases in an ssh config file: two that accept the key,
//! one that refuses it, one where nothing listens. Needs root (sshd's privilege
//! separation) and sshd; where they are missing the test prints `skipped:` and passes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_tests::launcher::{Launch, result, result_while, temp_dir};
use tessera_tests::procs::processes_with;
use tessera_tests::tessera;

const S2: &str = "x = random((2000, 2000), seed=42, chunks=500); (x * x[::-1, ::-1]).sum()";
const MOVING: &str = "x = random((1600, 1600), seed=3, chunks=400); y = x @ x; (y + y.T).sum()";

/// An sshd on a loopback port, killed on drop.
struct Sshd {
    child: Child,
    config: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The home folder sshd logs this user into (from the password database, not $HOME).
fn login_home() -> String {
    // SAFETY: getpwuid returns a pointer to static storage or null; it is read at once.
    unsafe {
        let entry = libc::getpwuid(libc::geteuid());
        if entry.is_null() || (*entry).pw_dir.is_null() {
            return std::env::var("HOME").unwrap_or_default();
        }
        std::ffi::CStr::from_ptr((*entry).pw_dir).to_string_lossy().into_owned()
    }
}

fn keygen(path: &Path) -> Result<(), String> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .map_err(|e| format!("ssh-keygen: {e}"))?;
    out.status.success().then_some(()).ok_or_else(|| String::from_utf8_lossy(&out.stderr).to_string())
}

/// Starts sshd in `dir` and writes the client's config; `Err` says why it cannot.
fn sshd(dir: &Path) -> Result<Sshd, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not root: sshd needs root for privilege separation".into());
    }
    let program = Path::new("/usr/sbin/sshd");
    if !program.exists() {
        return Err("sshd is not installed (apt-get install openssh-server)".into());
    }
    for key in ["host_key", "user_key", "other_key"] {
        keygen(&dir.join(key))?;
    }
    std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).map_err(|e| e.to_string())?;
    let free_port = || TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
    let (port, closed) = (free_port().map_err(|e| e.to_string())?, free_port().map_err(|e| e.to_string())?);
    let d = dir.display();
    std::fs::write(
        dir.join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nPidFile {d}/sshd.pid\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let config = dir.join("ssh_config");
    std::fs::write(
        &config,
        format!(
            "Host alpha beta\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {d}/user_key\n\
             Host refusing\n  HostName 127.0.0.1\n  Port {port}\n  IdentityFile {d}/other_key\n\
             Host unreachable\n  HostName 127.0.0.1\n  Port {closed}\n\
             Host *\n  IdentitiesOnly yes\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  LogLevel ERROR\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::create_dir_all("/run/sshd").map_err(|e| format!("/run/sshd: {e}"))?;
    let child = Command::new(program)
        .arg("-f")
        .arg(dir.join("sshd_config"))
        .args(["-D", "-e"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start sshd: {e}"))?;
    let sshd = Sshd { child, config };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err("sshd did not listen within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(sshd)
}

#[test]
fn ssh_workers_compute_like_threads_survive_a_killed_host_and_stop_cleanly() {
    let dir = temp_dir("ssh-launch");
    let sshd = match sshd(&dir) {
        Ok(s) => s,
        Err(reason) => {
            println!("skipped: no sshd here: {reason}");
            return;
        }
    };
    let config = sshd.config.to_string_lossy().into_owned();
    let file = dir.join("cluster.json");
    let (s2, moving) = (result(S2, None), result(MOVING, None));

    let hosts = ["ssh", "--hosts", "alpha,beta,refusing", "--ssh-config", &config, "--listen", "127.0.0.1"];
    let mut launch = Launch::start(&[&hosts[..], &["--threads", "1", "--memory", "1GiB"]].concat(), &file);
    let refused = launch.wait_for("host refusing: not started", Duration::from_secs(30));
    assert!(refused.contains("Permission denied (publickey)"), "not ssh's reason: {refused}");
    launch.wait_for("cluster ready: 2 workers", Duration::from_secs(60));
    let remote_file = format!("{}/.tessera/cluster-{}.json", login_home(), launch.id());
    let mode = std::fs::metadata(&remote_file).map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    assert_eq!(mode.ok().map(|m| m & 0o777), Some(0o600), "the copied cluster file {remote_file}");

    assert_eq!(result(S2, Some(&file)), s2, "S2 on ssh workers differs from threads");

    // One host's worker dies mid-run (SIGKILL: no hand-over): its work is recomputed.
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cluster.json.launch.json")).expect("a launch record"))
            .expect("json");
    let alpha = record["ssh_workers"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["host"] == "alpha"))
        .and_then(|w| w["pid"].as_u64())
        .expect("alpha's worker pid");
    let killed = result_while(MOVING, &file, || {
        // SAFETY: kills the worker this test's launcher started.
        assert_eq!(unsafe { libc::kill(alpha as libc::pid_t, libc::SIGKILL) }, 0);
    });
    assert_eq!(killed, moving, "a killed worker changed the result");
    launch.wait_for("host alpha: its worker ended", Duration::from_secs(30));

    let stop = launch.stop();
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(stop.stderr.contains("stopped the ssh cluster"), "{}", stop.stderr);
    assert_eq!(launch.wait(Duration::from_secs(30)), Some(0), "{}", launch.lines().join("\n"));
    assert!(
        launch.lines().iter().any(|l| l.contains("worker ssh-beta has handed everything over")),
        "beta did not leave gracefully:\n{}",
        launch.lines().join("\n")
    );
    assert_eq!(processes_with("--name 'ssh-"), Vec::<String>::new(), "a worker process was left");
    assert_eq!(processes_with("ssh-beta"), Vec::<String>::new(), "a worker process was left");
    assert!(!Path::new(&remote_file).exists(), "the copied cluster file was left on the host");
    assert!(!file.exists(), "the cluster file was left behind");

    // The scheduler on a host of its own (`--scheduler-host`): the same bits, and
    // stopped with the workers.
    let mut launch = Launch::start(
        &["ssh", "--hosts", "beta", "--scheduler-host", "alpha", "--ssh-config", &config, "--threads", "1"],
        &file,
    );
    launch.wait_for("(on alpha); cluster file", Duration::from_secs(30));
    launch.wait_for("cluster ready: 1 workers", Duration::from_secs(60));
    assert_eq!(result(S2, Some(&file)), s2, "S2 with the scheduler on a host differs from threads");
    let stop = launch.stop();
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert_eq!(launch.wait(Duration::from_secs(30)), Some(0), "{}", launch.lines().join("\n"));
    assert_eq!(processes_with("scheduler --listen auto"), Vec::<String>::new(), "the scheduler was left running");

    // A host where nothing listens: ssh's reason, exit 1, nothing left running.
    let alone = tessera(&[
        "launch",
        "ssh",
        "--hosts",
        "unreachable",
        "--ssh-config",
        &config,
        "--listen",
        "127.0.0.1",
        "--cluster-file",
        &file.to_string_lossy(),
    ]);
    assert_eq!(alone.code, 1, "{}", alone.stderr);
    assert!(alone.stderr.contains("host unreachable: not started: ssh: connect to host"), "{}", alone.stderr);
    assert!(alone.stderr.lines().last().is_some_and(|l| l.contains("no worker started")), "{}", alone.stderr);
    assert!(!file.exists());
}
