//! Stored arrays with real clients: zarr-python, numpy and h5py write what tessera
//! reads, and read what tessera writes; bad stored input gets one line and its exit
//! code and leaves nothing behind.

use std::path::Path;

use serde_json::Value;
use tessera_tests::python::{py, py_json};
use tessera_tests::tessera;

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

/// The `result` of `tessera run --json EXPR`, which must succeed.
fn result(expr: &str) -> Value {
    let run = tessera(&["run", "--json", expr]);
    assert_eq!(run.code, 0, "{expr}\nstderr: {}", run.stderr);
    run.json()["result"].clone()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn arrays_zarr_python_writes_compute_as_numpy_computes_them() {
    let d = dir();
    let p = d.path().display();
    // Each line: a name, a tessera expression over the array, and numpy's answer.
    let expected = py_json(&format!(
        r#"
import json, numpy as np, zarr, numcodecs
rng = np.random.default_rng(7)
a = rng.normal(size=(100, 60))
z = zarr.create_array("{p}/v3.zarr", shape=a.shape, chunks=(30, 25), dtype="f8")  # zstd by default
z[:] = a
s = (rng.integers(-3000, 3000, size=(90, 70))).astype("i2")
zs = zarr.create_array("{p}/sharded.zarr", shape=s.shape, chunks=(10, 10), shards=(30, 40), dtype="i2")
zs[:] = s
g = zarr.open_group("{p}/group.zarr", mode="w", zarr_format=2)
u = rng.integers(0, 256, size=(50, 40)).astype("u1")
f = rng.random(size=(50, 40)).astype("f4")
g.create_array("u", shape=u.shape, chunks=(16, 16), dtype="u1", compressors=numcodecs.Blosc())[:] = u
g.create_array("f", shape=f.shape, chunks=(16, 16), dtype="f4", compressors=numcodecs.Blosc())[:] = f
m = zarr.create_array("{p}/fill.zarr", shape=(40,), chunks=(10,), dtype="f4", fill_value=-1.5)
m[10:20] = np.arange(10, dtype="f4")
full = np.full(40, -1.5, dtype="f4"); full[10:20] = np.arange(10)
print(json.dumps({{
  "sum": float(a.sum()),
  "mean0max": float(a.mean(axis=0).max()),
  "mirror": float((a * a[::-1, ::-1]).sum()),
  "sharded_sum": int(s.astype("i8").sum()),
  "sharded_tmin": int(s.T[5:, ::-2].min()),
  "u_sum": int(u.astype("i8").sum()),
  "f_max": float(f.max()),
  "uf": float((u.astype("i8") * f).sum()),  # integers compute as int64 (README)
  "fill_sum": float(full.sum()),
}}))
"#
    ));
    let f = |k: &str| expected[k].as_f64().expect("numpy's number");
    let got = |e: &str| result(e).as_f64().unwrap_or_else(|| panic!("{e} gives no number"));
    let v3 = format!("from_zarr('{p}/v3.zarr')");
    assert!(close(got(&format!("{v3}.sum()")), f("sum")));
    assert!(close(got(&format!("{v3}.mean(axis=0).max()")), f("mean0max")));
    assert!(close(got(&format!("x = {v3}; (x * x[::-1, ::-1]).sum()")), f("mirror")));
    let sh = format!("from_zarr('{p}/sharded.zarr')");
    assert_eq!(got(&format!("{sh}.sum()")), f("sharded_sum"));
    assert_eq!(got(&format!("{sh}.T[5:, ::-2].min()")), f("sharded_tmin"));
    let (u, fl) = (format!("from_zarr('{p}/group.zarr', component='u')"), format!("from_zarr('{p}/group.zarr', 'f')"));
    assert_eq!(got(&format!("{u}.sum()")), f("u_sum"));
    assert_eq!(got(&format!("{fl}.max()")), f("f_max"));
    assert!(close(got(&format!("({u} * {fl}).sum()")), f("uf")));
    assert_eq!(got(&format!("from_zarr('{p}/fill.zarr').sum()")), f("fill_sum"));
    // Task chunks follow the stored chunks (shards), and `chunks=` regroups them.
    let run = tessera(&["run", "--json", &format!("{sh}.sum()")]);
    assert_eq!(run.json()["chunksize"], serde_json::json!([30, 40]));
    let run = tessera(&["run", "--json", &format!("from_zarr('{p}/sharded.zarr', chunks='auto').sum()")]);
    let chunks = run.json()["chunksize"].clone();
    assert_eq!(chunks, serde_json::json!([90, 70]), "auto takes whole multiples of the shards, at most the array");
}

#[test]
fn arrays_tessera_writes_read_back_equal_in_zarr_python_and_numpy() {
    let d = dir();
    let p = d.path().display();
    py(&format!("import numpy as np\nnp.save('{p}/a.npy', np.random.default_rng(3).normal(size=(97, 53)) * 50)"));
    // Task chunks of 30 do not line up with stored chunks of 40: the plan regroups them.
    let src = format!(
        "x = from_npy('{p}/a.npy', chunks=30)
         to_zarr(x * 2 - 1, '{p}/out.zarr', chunks=(40, 40))
         to_zarr(x, '{p}/i16.zarr', dtype='int16', zarr_format=2, compressor='blosc')
         to_npy(x.T, '{p}/t.npy')
         to_zarr(x[::-1], '{p}/g.zarr', component='grp/y', dtype='float32', compressor='gzip')
         to_zarr(x > 0, '{p}/b.zarr', compressor=None)"
    );
    let run = tessera(&["run", "--json", &src]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let writes = run.json()["result"].clone();
    assert_eq!(writes.as_array().map(Vec::len), Some(5), "{writes}");
    assert_eq!(writes[0]["chunks_written"], 6, "3 x 2 stored chunks of 40: {writes}");
    assert!(writes[0]["bytes_written"].as_u64().is_some_and(|b| b > 0));
    let checks = py(&format!(
        r#"
import numpy as np, zarr
a = np.load("{p}/a.npy")
out = zarr.open_array("{p}/out.zarr")
assert out.chunks == (40, 40) and out.dtype == np.float64, (out.chunks, out.dtype)
assert np.array_equal(out[:], a * 2 - 1)
i16 = zarr.open_array("{p}/i16.zarr")
assert i16.metadata.zarr_format == 2 and i16.dtype == np.int16
assert np.array_equal(i16[:], a.astype(np.int16)), "astype semantics"
t = np.load("{p}/t.npy")
assert t.dtype == np.float64 and np.array_equal(t, a.T)
y = zarr.open_group("{p}/g.zarr")["grp/y"]
assert y.dtype == np.float32 and np.array_equal(y[:], a[::-1].astype(np.float32))
b = zarr.open_array("{p}/b.zarr")
assert b.dtype == np.bool_ and np.array_equal(b[:], a > 0)
print("ok")
"#
    ));
    assert_eq!(checks.trim(), "ok");
    // tessera reads its own output back, and the info command describes it.
    let sum = result(&format!("from_zarr('{p}/out.zarr').sum()")).as_f64().expect("a number");
    let expected = py_json(&format!("import numpy as np; print(float((np.load('{p}/a.npy') * 2 - 1).sum()))"));
    assert!(close(sum, expected.as_f64().expect("a number")));
    let info = tessera(&["info", "--json", &format!("{p}/g.zarr")]);
    assert_eq!(info.code, 0, "{}", info.stderr);
    let info = info.json();
    assert_eq!(info["kind"], "group");
    assert_eq!(info["arrays"][0]["component"], "grp/y");
    assert_eq!(info["arrays"][0]["dtype"], "float32");
}

#[test]
fn hdf5_datasets_written_by_h5py_read_the_same() {
    let d = dir();
    let p = d.path().display();
    std::fs::write(format!("{p}/probe.h5"), b"\x89HDF\r\n\x1a\n").expect("probe file");
    let probe_run = tessera(&["info", &format!("{p}/probe.h5")]);
    if probe_run.stderr.contains("built without HDF5") {
        println!(
            "skipped: this tessera is built without the hdf5 feature (TESSERA_FEATURES=hdf5 with libhdf5-dev builds it)"
        );
        return;
    }
    let expected = py_json(&format!(
        r#"
import json, numpy as np, h5py
rng = np.random.default_rng(5)
a = rng.normal(size=(80, 45))
i = rng.integers(-1000, 1000, size=(33, 17)).astype("i4")
with h5py.File("{p}/data.h5", "w") as f:
    f.create_dataset("grid/a", data=a, chunks=(16, 15), compression="gzip")
    f.create_dataset("i", data=i)
    f.create_dataset("flags", data=a[:10, :10] > 0)
print(json.dumps({{"a": float(a.mean(axis=1).sum()), "i": int(i[::-1, 3:].astype("i8").sum()), "flags": int((a[:10, :10] > 0).sum())}}))
"#
    ));
    let got = |e: &str| result(e).as_f64().unwrap_or_else(|| panic!("{e} gives no number"));
    assert!(close(
        got(&format!("from_hdf5('{p}/data.h5', 'grid/a').mean(axis=1).sum()")),
        expected["a"].as_f64().unwrap_or(0.0)
    ));
    assert_eq!(got(&format!("from_hdf5('{p}/data.h5', 'i')[::-1, 3:].sum()")), expected["i"].as_f64().unwrap_or(0.0));
    assert_eq!(
        got(&format!("from_hdf5('{p}/data.h5', 'flags').astype(int64).sum()")),
        expected["flags"].as_f64().unwrap_or(0.0)
    );
    let missing = tessera(&["run", &format!("from_hdf5('{p}/data.h5', 'nope').sum()")]);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("no dataset 'nope'"), "{}", missing.stderr);
}

#[test]
fn npy_of_any_byte_order_reads_and_fortran_order_is_refused_clearly() {
    let d = dir();
    let p = d.path().display();
    let expected = py_json(&format!(
        r#"
import json, numpy as np
a = np.arange(600, dtype=">i4").reshape(20, 30) - 300
np.save("{p}/big.npy", a)
np.save("{p}/f.npy", np.asfortranarray(np.ones((4, 5))))
np.save("{p}/c.npy", np.ones(3, dtype=complex))
print(json.dumps(int((a[:, ::3] * 2).sum())))
"#
    ));
    assert_eq!(result(&format!("(from_npy('{p}/big.npy')[:, ::3] * 2).sum()")), expected);
    let fortran = tessera(&["run", &format!("from_npy('{p}/f.npy').sum()")]);
    assert_eq!(fortran.code, 2);
    assert!(fortran.stderr.contains("Fortran order"), "{}", fortran.stderr);
    let complex = tessera(&["run", &format!("from_npy('{p}/c.npy').sum()")]);
    assert_eq!(complex.code, 2);
    assert!(complex.stderr.contains("<c16"), "{}", complex.stderr);
}

/// Runs `expr`, which must fail with `code` and one line naming `needle`.
fn refused(expr: &str, code: i32, needle: &str) {
    let run = tessera(&["run", expr]);
    assert_eq!(run.code, code, "{expr}: {}", run.stderr);
    assert!(run.stderr.contains(needle), "{expr}: expected '{needle}' in: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "one line: {}", run.stderr);
}

#[test]
fn bad_stored_input_gets_one_line_and_leaves_no_output() {
    let d = dir();
    let p = d.path().display();
    py(&format!(
        r#"
import numpy as np, zarr, os, numcodecs
zarr.create_array("{p}/lzma.zarr", shape=(4,), chunks=(2,), dtype="f8", zarr_format=2, compressors=numcodecs.LZMA())[:] = np.ones(4)
zarr.create_array("{p}/ok.zarr", shape=(40, 40), chunks=(10, 10), dtype="f8")[:] = np.ones((40, 40))
zarr.create_array("{p}/c.zarr", shape=(4,), chunks=(2,), dtype="c16")[:] = np.ones(4)
zarr.create_array("{p}/s.zarr", shape=(4,), chunks=(2,), dtype=str)[:] = np.array(["a", "b", "c", "d"])
os.makedirs("{p}/empty.zarr")
os.makedirs("{p}/garbage.zarr")
open("{p}/garbage.zarr/zarr.json", "w").write('{{"zarr_format": 3, "node_type": "arr')
zarr.create_array("{p}/broken.zarr", shape=(40,), chunks=(10,), dtype="f8")[:] = np.arange(40.0)
open("{p}/broken.zarr/c/2", "wb").write(b"not zstd at all")
np.save("{p}/short.npy", np.ones(1000))
with open("{p}/short.npy", "r+b") as f: f.truncate(500)
"#
    ));
    refused(&format!("from_zarr('{p}/nothing.zarr').sum()"), 2, "no such file or directory");
    refused(&format!("from_zarr('{p}/empty.zarr').sum()"), 2, "not a Zarr");
    refused(&format!("from_zarr('{p}/garbage.zarr').sum()"), 2, "garbage.zarr");
    refused(&format!("from_zarr('{p}/c.zarr').sum()"), 2, "complex128");
    refused(&format!("from_zarr('{p}/s.zarr').sum()"), 2, "string");
    refused(&format!("from_zarr('{p}/lzma.zarr').sum()"), 2, "lzma");
    refused(&format!("to_zarr(ones(4), '{p}/e.zarr', component='../../out')"), 2, "not a path inside the store");
    assert!(!Path::new(&format!("{p}/e.zarr")).exists(), "nothing created");
    refused(&format!("from_npy('{p}/short.npy').sum()"), 2, "truncated");
    refused(&format!("from_npy('{p}/ok.zarr/zarr.json').sum()"), 2, "not a .npy file");
    // A corrupt chunk fails the run, naming the chunk; the write it fed leaves nothing.
    refused(&format!("from_zarr('{p}/broken.zarr').sum()"), 1, "chunk c/2");
    refused(&format!("to_zarr(from_zarr('{p}/broken.zarr') + 1, '{p}/never.zarr')"), 1, "chunk c/2");
    assert!(!Path::new(&format!("{p}/never.zarr")).exists(), "a failed run leaves no partial output");
    // An existing target is refused before anything runs, and stays as it was.
    let before = std::fs::read(format!("{p}/ok.zarr/zarr.json")).expect("metadata");
    refused(&format!("to_zarr(ones((5, 5)), '{p}/ok.zarr')"), 2, "already exists; pass overwrite=True");
    assert_eq!(std::fs::read(format!("{p}/ok.zarr/zarr.json")).expect("metadata"), before);
    refused(&format!("to_zarr(ones((5, 5)), '{p}/new.zarr', dtype='complex64')"), 2, "complex64");
    refused(&format!("to_zarr(ones(5), '{p}/x.zarr'); ones(3).sum()"), 2, "ends with its writes");
    // With overwrite=True it is replaced.
    let run = tessera(&["run", &format!("to_zarr(ones((5, 5)), '{p}/ok.zarr', overwrite=True)")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(result(&format!("from_zarr('{p}/ok.zarr').sum()")), 25.0);
}

#[test]
fn a_write_that_runs_out_of_space_fails_cleanly_and_removes_its_output() {
    use std::os::unix::process::CommandExt;
    let d = dir();
    let out = d.path().join("big.npy");
    let expr = format!("to_npy(random((2000, 1000), seed=1, chunks=500), '{}')", out.display());
    let mut cmd = std::process::Command::new(tessera_tests::tessera_bin());
    cmd.args(["run", &expr]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // A file-size limit of 4 MiB stands for a full disk: writes past it fail
            // with EFBIG (SIGXFSZ ignored) as they would with ENOSPC.
            let limit = libc::rlimit { rlim_cur: 4 << 20, rlim_max: 4 << 20 };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let run = cmd.output().expect("tessera starts");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("big.npy") && stderr.to_lowercase().contains("too large"), "{stderr}");
    assert!(!out.exists(), "the partial file is removed");
}

#[test]
fn two_runs_writing_one_new_path_at_once_one_wins_and_its_output_is_complete() {
    let d = dir();
    let target = d.path().join("race.zarr");
    let expr = format!("to_zarr(arange(400000, chunks=1000) * 3, '{}', chunks=1000)", target.display());
    let spawn = || {
        std::process::Command::new(tessera_tests::tessera_bin())
            .args(["run", &expr])
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("tessera starts")
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().expect("ends"), b.wait_with_output().expect("ends")];
    let codes: Vec<Option<i32>> = outs.iter().map(|o| o.status.code()).collect();
    assert!(codes.contains(&Some(0)) && codes.contains(&Some(2)), "one wins, one is refused: {codes:?}");
    let loser =
        outs.iter().find(|o| o.status.code() == Some(2)).map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
    let loser = loser.unwrap_or_default();
    assert!(loser.contains("already exists") || loser.contains("another run"), "{loser}");
    let check = py(&format!(
        "import numpy as np, zarr\nz = zarr.open_array('{}')\nassert np.array_equal(z[:], np.arange(400000) * 3)\nprint('ok')",
        target.display()
    ));
    assert_eq!(check.trim(), "ok");
}

#[test]
fn a_write_stopped_by_sigint_removes_its_targets() {
    use tessera_tests::procs::{start, wait_for_line};
    let d = dir();
    let (zarr, npy) = (d.path().join("stopped.zarr"), d.path().join("stopped.npy"));
    let expr = format!(
        "x = random((12000, 12000), seed=2, chunks=250); to_zarr(x, '{}'); to_npy(x * 2, '{}')",
        zarr.display(),
        npy.display()
    );
    let mut run = start(&["run", "--progress", &expr]);
    let _rest = wait_for_line(&mut run, "progress:");
    // Stopped at its first progress line (of 2304 writes), the run cannot finish before
    // the SIGINT that is waiting for it when it continues.
    let pid = run.id() as libc::pid_t;
    // SAFETY: kill only sends signals to our own child, which is still running.
    let sent = unsafe { [libc::kill(pid, libc::SIGSTOP), libc::kill(pid, libc::SIGINT)] };
    assert_eq!(sent, [0, 0]);
    // While the run writes, the targets are being built under hidden names beside
    // their places; the places themselves stay empty until the run finishes.
    let names: Vec<String> = std::fs::read_dir(d.path())
        .expect("the folder")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let staged = |n: &str| names.iter().any(|x| x.starts_with(&format!(".{n}.tessera-")) && x.ends_with(".partial"));
    assert!(staged("stopped.zarr") && staged("stopped.npy"), "the targets are built beside their places: {names:?}");
    assert!(!zarr.exists() && !npy.exists(), "no target appears before it is complete");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let status = run.wait().expect("the run ends");
    assert_eq!(status.code(), Some(128 + libc::SIGINT), "{status:?}");
    assert!(!zarr.exists() && !npy.exists(), "an interrupted run leaves no partial output");
    let left: Vec<_> = std::fs::read_dir(d.path()).expect("the folder").flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "an interrupted run leaves nothing: {left:?}");
}
