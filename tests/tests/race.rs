//! The seed's last experiment, done right: several worker processes write one Zarr
//! store and one `.npy` file at once, and a check in numpy finds every element where
//! it belongs; again with a worker killed (SIGKILL) in the middle of writing, which
//! leaves the same bytes and no temporary files.

use std::path::{Path, PathBuf};

use tessera_tests::procs::{Procs, start, wait_for_line};
use tessera_tests::python::py;
use tessera_tests::tessera;

/// 2000 x 1000 int64 holding `1000 * row + column`, in 50 x 25 chunks: 1600 chunks.
fn source(zarr: &Path, npy: &Path) -> String {
    format!(
        "x = arange(2000, chunks=50)[:, None] * 1000 + arange(1000, chunks=25)[None, :]
         to_zarr(x, '{}', chunks=(50, 25))
         to_npy(x, '{}')",
        zarr.display(),
        npy.display()
    )
}

/// The seed's integrity check, in numpy: every element where it belongs.
fn check(zarr: &Path, npy: &Path) {
    let out = py(&format!(
        r#"
import numpy as np, zarr
want = np.arange(2000)[:, None] * 1000 + np.arange(1000)[None, :]
z = zarr.open_array("{}")
assert z.chunks == (50, 25) and z.nchunks == 1600, (z.chunks, z.nchunks)
for name, got in (("zarr", z[:]), ("npy", np.load("{}"))):
    misplaced = int((got != want).sum())
    assert misplaced == 0, f"{{name}}: {{misplaced}} elements out of place"
print("ok")
"#,
        zarr.display(),
        npy.display()
    ));
    assert_eq!(out.trim(), "ok");
}

/// Every file under `dir`, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() { pending.push(e.path()) } else { files.push(e.path()) }
        }
    }
    files.sort();
    files
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    files_under(dir).into_iter().filter(|f| f.to_string_lossy().contains("tessera-tmp")).collect()
}

/// Every chunk file of a store, by key, with its bytes.
fn chunk_files(store: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(store)
        .into_iter()
        .map(|f| {
            let key = f.strip_prefix(store).map(|p| p.display().to_string()).unwrap_or_default();
            let bytes = std::fs::read(&f).unwrap_or_default();
            (key, bytes)
        })
        .collect()
}

#[test]
fn three_workers_write_one_store_and_one_npy_with_every_element_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (zarr, npy) = (dir.path().join("out.zarr"), dir.path().join("out.npy"));
    let run = tessera(&["run", "--json", "--scheduler", "local-cluster", "--workers", "3", &source(&zarr, &npy)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["result"][0]["chunks_written"], 1600);
    let workers = report["cluster_workers"].as_array().cloned().unwrap_or_default();
    assert_eq!(workers.len(), 3);
    let writing = workers.iter().filter(|w| w["bytes_written"].as_u64().unwrap_or(0) > 0).count();
    assert!(writing >= 2, "the workers write the chunks themselves: {workers:?}");
    assert!(report["bytes_written"].as_u64().unwrap_or(0) >= 2000 * 1000 * 8, "{report}");
    check(&zarr, &npy);
    assert!(temporaries(dir.path()).is_empty());
}

#[test]
fn a_worker_killed_mid_write_leaves_the_same_bytes_and_no_temporary_files() {
    let clean = tempfile::tempdir().expect("temp dir");
    let (clean_zarr, clean_npy) = (clean.path().join("out.zarr"), clean.path().join("out.npy"));
    let run = tessera(&["run", &source(&clean_zarr, &clean_npy)]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("cluster.json");
    let f = file.to_str().expect("utf-8").to_string();
    let mut procs = Procs(vec![start(&["scheduler", "--listen", "127.0.0.1:0", "--cluster-file", &f])]);
    wait_for_line(&mut procs.0[0], "listening");
    for i in 0..3 {
        let mut w = start(&["worker", "--cluster-file", &f, "--threads", "1", "--name", &format!("w{i}")]);
        wait_for_line(&mut w, "joined");
        procs.0.push(w);
    }
    let (zarr, npy) = (dir.path().join("out.zarr"), dir.path().join("out.npy"));
    let mut client = start(&["run", "--json", "--progress", "--cluster-file", &f, &source(&zarr, &npy)]);
    wait_for_line(&mut client, "progress:  30%");
    procs.0[3].kill().expect("kill -9 a worker mid-write");
    let out = client.wait_with_output().expect("the client ends");
    assert!(out.status.success(), "the run survives the killed worker");
    check(&zarr, &npy);
    assert_eq!(chunk_files(&zarr), chunk_files(&clean_zarr), "the same chunk files with the same bytes");
    assert_eq!(std::fs::read(&npy).ok(), std::fs::read(&clean_npy).ok(), "the same .npy bytes");
    assert!(temporaries(dir.path()).is_empty(), "no temporary files: {:?}", temporaries(dir.path()));
}
