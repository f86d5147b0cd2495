//! Several hosts on one machine: the scheduler and two workers each in a network
//! namespace of its own, joined by veth pairs to a bridge, the client outside them.
//! Values cross real (virtual) links between hosts, not loopback.
//!
//! Creating namespaces needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and iproute2; where
//! they are missing the test says why it is skipped and passes.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_tests::{tessera, tessera_bin};

/// Runs `ip` with `args`; the error output on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The namespaces, bridge and processes of one test, removed on drop.
struct Hosts {
    bridge: String,
    namespaces: Vec<String>,
    procs: Vec<Child>,
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}

/// A bridge with address `<net>.1/24` and one namespace per name, each reachable at
/// `<net>.<2 + i>` through a veth pair plugged into the bridge.
fn build_hosts(tag: &str, net: &str, names: &[&str]) -> Result<Hosts, String> {
    let mut hosts = Hosts { bridge: format!("tb{tag}"), namespaces: Vec::new(), procs: Vec::new() };
    ip(&["link", "add", &hosts.bridge, "type", "bridge"])?;
    ip(&["addr", "add", &format!("{net}.1/24"), "dev", &hosts.bridge])?;
    ip(&["link", "set", &hosts.bridge, "up"])?;
    for (i, name) in names.iter().enumerate() {
        let ns = format!("t{name}{tag}");
        ip(&["netns", "add", &ns])?;
        hosts.namespaces.push(ns.clone());
        let (outer, inner) = (format!("v{name}{tag}"), format!("e{name}{tag}"));
        ip(&["link", "add", &outer, "type", "veth", "peer", "name", &inner])?;
        ip(&["link", "set", &inner, "netns", &ns])?;
        ip(&["link", "set", &outer, "master", &hosts.bridge])?;
        ip(&["link", "set", &outer, "up"])?;
        let exec = |args: &[&str]| ip(&[&["netns", "exec", &ns, "ip"], args].concat());
        exec(&["addr", "add", &format!("{net}.{}/24", i + 2), "dev", &inner])?;
        exec(&["link", "set", &inner, "up"])?;
        exec(&["link", "set", "lo", "up"])?;
    }
    Ok(hosts)
}

fn start_in(ns: &str, args: &[&str]) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(tessera_bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ip netns exec starts")
}

#[test]
fn scheduler_and_workers_on_separate_hosts_compute_the_same_result() {
    let pid = std::process::id();
    let tag = format!("{}", pid % 100_000);
    let net = format!("10.{}.{}", 200 + pid % 50, pid % 250);
    let mut hosts = match build_hosts(&tag, &net, &["s", "a", "b"]) {
        Ok(h) => h,
        Err(reason) => {
            eprintln!("skipped: cannot create network namespaces here ({reason})");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("tessera-netns-{pid}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("cluster.json");
    let f = file.to_str().expect("utf-8");
    let listen = format!("{net}.2:7700");
    let ns = hosts.namespaces.clone();
    hosts.procs.push(start_in(&ns[0], &["scheduler", "--listen", &listen, "--cluster-file", f]));
    let start = Instant::now();
    while std::fs::read_to_string(&file).map_or(true, |t| !t.contains("secret")) {
        assert!(start.elapsed() < Duration::from_secs(15), "the scheduler did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    for (ns, name) in [(&ns[1], "host-a"), (&ns[2], "host-b")] {
        hosts.procs.push(start_in(ns, &["worker", "--cluster-file", f, "--threads", "1", "--name", name]));
    }
    // A product read transposed: chunks must cross from one host to the other.
    let expr = "x = random((600, 600), seed=3, chunks=100); y = (x @ x); (y + y.T).sum()";
    let want = tessera(&["run", "--json", expr]).json()["result"].to_string();
    // Workers join in the background; retry until both took part.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = tessera(&["run", "--json", "--cluster-file", f, expr]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let j = run.json();
        assert_eq!(j["result"].to_string(), want, "the same bits as on one machine");
        let workers = j["cluster_workers"].as_array().cloned().unwrap_or_default();
        let both_worked = workers.len() == 2 && workers.iter().all(|w| w["tasks"].as_u64() > Some(0));
        if both_worked {
            let fetched: u64 = workers.iter().map(|w| w["bytes_in"].as_u64().unwrap_or(0)).sum();
            assert!(fetched > 0, "values crossed between hosts: {j}");
            break;
        }
        assert!(Instant::now() < deadline, "both workers never took part: {j}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
