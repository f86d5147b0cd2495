//! Writing never loses data: `overwrite=True` replaces only an array of the same
//! format, a target read and rewritten in one run gets the right values, a killed run
//! leaves no target a reader takes for data, concurrent writers leave one complete
//! result, and a file-size limit gives an error, not a silent kill. zarr-python and
//! numpy are the readers.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_tests::python::py_json;
use tessera_tests::{Run, tessera, tessera_bin};

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// `tessera args...` run in `cwd`.
fn tessera_in(cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(tessera_bin()).args(args).current_dir(cwd).stdin(Stdio::null()).output().expect("starts");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn overwrite_replaces_an_array_and_refuses_everything_else() {
    let d = dir();
    let p = d.path();
    std::fs::write(p.join("thesis.txt"), "four years").expect("written");
    std::fs::create_dir(p.join("data")).expect("dir");
    std::fs::write(p.join("data/results.csv"), "1,2").expect("written");
    let before = names(p);
    for (expr, what) in [
        ("to_zarr(ones((10, 10)), '.', overwrite=True)", "working directory"),
        ("to_zarr(ones((10, 10)), '..', overwrite=True)", "working directory"),
        ("to_zarr(ones((10, 10)), 'data', overwrite=True)", "not a Zarr array"),
        ("to_zarr(ones((10, 10)), 'thesis.txt', overwrite=True)", "not a Zarr array"),
        ("to_npy(ones((10, 10)), 'thesis.txt', overwrite=True)", "not a .npy file"),
        ("to_npy(ones((10, 10)), 'data', overwrite=True)", "not a file"),
    ] {
        let run = tessera_in(p, &["run", expr]);
        assert_eq!(run.code, 2, "{expr}: {}", run.stderr);
        assert!(run.stderr.contains(what) && run.stderr.lines().count() == 1, "{expr}: {}", run.stderr);
        assert_eq!(names(p), before, "{expr} changed the directory");
        assert_eq!(std::fs::read_to_string(p.join("thesis.txt")).expect("kept"), "four years");
        assert_eq!(std::fs::read_to_string(p.join("data/results.csv")).expect("kept"), "1,2");
    }
    // A Zarr array with a stray file of the user's inside is not replaced either.
    assert_eq!(tessera_in(p, &["run", "to_zarr(ones((10, 10)), 'a.zarr')"]).code, 0);
    std::fs::write(p.join("a.zarr/notes.txt"), "mine").expect("written");
    let run = tessera_in(p, &["run", "to_zarr(zeros((10, 10)), 'a.zarr', overwrite=True)"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("notes.txt"), "{}", run.stderr);
    std::fs::remove_file(p.join("a.zarr/notes.txt")).expect("removed");
    // Arrays of the same format are replaced, as zarr-python and numpy read them.
    let zarr_by_python = py_json(&format!(
        "import zarr, numpy as np\nz = zarr.create_array('{0}/v2.zarr', shape=(6, 4), chunks=(3, 3), dtype='i4', zarr_format=2)\nz[:] = 7\nnp.save('{0}/b.npy', np.arange(5.0))\nprint(1)",
        p.display()
    ));
    assert_eq!(zarr_by_python, 1);
    for expr in [
        "to_zarr(full((10, 10), 2.0), 'a.zarr', overwrite=True)",
        "to_zarr(arange(12).reshape(3, 4), 'v2.zarr', overwrite=True)",
        "to_npy(full((3,), 9.0), 'b.npy', overwrite=True)",
    ] {
        let run = tessera_in(p, &["run", expr]);
        assert_eq!(run.code, 0, "{expr}: {}", run.stderr);
    }
    let read = py_json(&format!(
        "import zarr, numpy as np, json\nprint(json.dumps([float(zarr.open_array('{0}/a.zarr')[:].sum()), zarr.open_array('{0}/v2.zarr')[:].tolist(), np.load('{0}/b.npy').tolist()]))",
        p.display()
    ));
    assert_eq!(read, serde_json::json!([200.0, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]], [9.0, 9.0, 9.0]]));
    let mut want = before.clone();
    want.extend(["a.zarr".to_string(), "b.npy".to_string(), "v2.zarr".to_string()]);
    want.sort();
    assert_eq!(names(p), want, "only the arrays, nothing staged left over");
}

#[test]
fn a_target_read_and_overwritten_in_one_run_gets_the_values_computed_from_the_old_one() {
    let d = dir();
    let p = d.path().display();
    let made = py_json(&format!(
        "import zarr, numpy as np\na = np.random.default_rng(1).random((60, 40))\nz = zarr.create_array('{p}/src.zarr', shape=a.shape, chunks=(7, 9), dtype='f8')\nz[:] = a\nnp.save('{p}/src.npy', a)\nprint(1)"
    ));
    assert_eq!(made, 1);
    for (read, write) in [
        ("from_zarr('{p}/src.zarr')", "to_zarr(y, '{p}/src.zarr', overwrite=True)"),
        ("from_npy('{p}/src.npy', chunks=7)", "to_npy(y, '{p}/src.npy', overwrite=True)"),
    ] {
        let src = format!("x = {read}; y = x[::-1] * 2 + 1; {write}").replace("{p}", &p.to_string());
        let run = tessera(&["run", &src]);
        assert_eq!(run.code, 0, "{src}: {}", run.stderr);
    }
    let check = py_json(&format!(
        "import zarr, numpy as np, json\na = np.random.default_rng(1).random((60, 40))\nwant = a[::-1] * 2 + 1\nprint(json.dumps([bool(np.array_equal(zarr.open_array('{p}/src.zarr')[:], want)), bool(np.array_equal(np.load('{p}/src.npy'), want))]))"
    ));
    assert_eq!(check, serde_json::json!([true, true]), "the rewritten targets hold old[::-1] * 2 + 1");
}

/// Starts a long write, kills it with SIGKILL once its chunks are being written, and
/// returns what is left in `dir`.
fn kill_while_writing(dir: &Path, write: &str) -> Vec<String> {
    let mut child = Command::new(tessera_bin())
        .args(["run", "--scheduler", "single-threaded", write])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    // Wait until the staged target holds some data.
    loop {
        let staged = names(dir).into_iter().find(|n| n.ends_with(".partial"));
        let bytes = staged.map_or(0, |s| du(&dir.join(s)));
        if bytes > 1 << 20 {
            break;
        }
        assert!(child.try_wait().expect("alive").is_none(), "the write ended before it was killed");
        assert!(Instant::now() < deadline, "the write never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    names(dir)
}

fn du(p: &Path) -> u64 {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p).map_or(0, |d| d.flatten().map(|e| du(&e.path())).sum()),
        // Blocks written, not the length: a `.npy` is created at its full size.
        Ok(m) => std::os::unix::fs::MetadataExt::blocks(&m) * 512,
        Err(_) => 0,
    }
}

#[test]
fn a_killed_write_leaves_no_target_a_reader_would_take_for_data() {
    let d = dir();
    let p = d.path();
    // Transcendental functions on one thread keep the run writing for seconds.
    let values = "x = random((6000, 4000), seed=3, chunks=100); y = arctan(sinh(x)) ** 1.1 + log1p(x) * exp(x)";
    let zarr = format!("{values}; to_zarr(y, 'out.zarr', compressor=None)");
    let left = kill_while_writing(p, &zarr);
    assert!(!left.contains(&"out.zarr".to_string()), "a killed to_zarr left a readable target: {left:?}");
    assert!(left.iter().all(|n| n.starts_with(".out.zarr.tessera-") && n.ends_with(".partial")), "{left:?}");
    let left = kill_while_writing(p, &format!("{values}; to_npy(y, 'out.npy')"));
    assert!(!left.contains(&"out.npy".to_string()), "a killed to_npy left a readable target: {left:?}");
    // Readers find nothing.
    let read = py_json(&format!(
        "import zarr, numpy as np, json\nr = []\nfor f in (lambda: zarr.open_array('{0}/out.zarr', mode='r'), lambda: np.load('{0}/out.npy')):\n    try:\n        f(); r.append('read')\n    except Exception as e:\n        r.append('refused')\nprint(json.dumps(r))",
        p.display()
    ));
    assert_eq!(read, serde_json::json!(["refused", "refused"]));
    assert_eq!(tessera_in(p, &["run", "from_zarr('out.zarr').sum()"]).code, 2);
    // The next write of each target sweeps what the dead runs left.
    for small in ["to_zarr(ones((4, 4)), 'out.zarr')", "to_npy(ones((4, 4)), 'out.npy')"] {
        let run = tessera_in(p, &["run", small]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(names(p), vec!["out.npy".to_string(), "out.zarr".to_string()]);
}

#[test]
fn concurrent_overwriting_writers_leave_one_complete_result() {
    let d = dir();
    let p = d.path();
    assert_eq!(tessera_in(p, &["run", "to_zarr(zeros((2000, 2000), chunks=100), 't.zarr')"]).code, 0);
    for _ in 0..3 {
        let writers: Vec<_> = [1.0, 2.0]
            .iter()
            .map(|v| {
                Command::new(tessera_bin())
                    .args(["run", &format!("to_zarr(full((2000, 2000), {v}, chunks=100), 't.zarr', overwrite=True)")])
                    .current_dir(p)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("starts")
            })
            .collect();
        for w in writers {
            let out = w.wait_with_output().expect("ends");
            assert!(out.status.success(), "a writer failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let values = py_json(&format!(
            "import zarr, numpy as np, json\nz = zarr.open_array('{}/t.zarr')[:]\nprint(json.dumps(np.unique(z).tolist()))",
            p.display()
        ));
        let values: Vec<f64> = values.as_array().into_iter().flatten().filter_map(|v| v.as_f64()).collect();
        let one = values == [1.0] || values == [2.0];
        assert!(one, "one writer's values throughout, not zeros or a mix: {values:?}");
        assert_eq!(names(p), vec!["t.zarr".to_string()], "nothing staged left over");
    }
}

#[test]
fn a_file_size_limit_is_an_error_and_leaves_nothing() {
    use std::os::unix::process::CommandExt;
    let d = dir();
    let p = d.path();
    for expr in [
        "to_npy(random((1000, 1000)), 'big.npy')",
        "to_zarr(random((1000, 1000), chunks=500), 'big.zarr', compressor=None)",
    ] {
        let mut cmd = Command::new(tessera_bin());
        cmd.args(["run", expr]).current_dir(p).stdin(Stdio::null());
        // SAFETY: setrlimit only changes the child's own limit before it runs.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit { rlim_cur: 1 << 20, rlim_max: 1 << 20 };
                libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
                Ok(())
            });
        }
        let out = cmd.output().expect("starts");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code().is_some(), "{expr}: killed by a signal ({:?})", out.status);
        assert_ne!(out.status.code(), Some(0), "{expr}");
        assert!(stderr.contains("File too large"), "{expr}: {stderr}");
        assert_eq!(names(p), Vec::<String>::new(), "{expr} left a file");
    }
}
