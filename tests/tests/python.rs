//! The Python package (`bindings/python`): built into the test venv by maturin (a
//! debug build sharing this workspace's `target/`), then checked by its own pytest
//! suite — hypothesis against numpy, the notebook display, the progress bar, Ctrl-C,
//! schedulers and local clusters that leave no process behind.

use std::path::Path;
use std::process::Command;

#[test]
fn the_python_package_builds_and_passes_its_pytest_suite() {
    let python = tessera_tests::python::python();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the tests crate is in the workspace");
    let venv = python.parent().and_then(Path::parent).expect("the interpreter is in a venv's bin/");
    let path = format!("{}:{}", venv.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let built = Command::new(python)
        .args(["-m", "maturin", "develop", "--quiet", "--manifest-path"])
        .arg(root.join("bindings/python/Cargo.toml"))
        .env("VIRTUAL_ENV", venv)
        .env("PATH", &path)
        .output()
        .expect("maturin starts");
    assert!(
        built.status.success(),
        "maturin develop failed:\n{}\n{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    let tested = Command::new(python)
        .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider"])
        .arg(root.join("bindings/python/tests"))
        .env("PATH", &path)
        .output()
        .expect("pytest starts");
    let report = String::from_utf8_lossy(&tested.stdout);
    eprintln!("{report}");
    assert!(tested.status.success(), "pytest failed:\n{report}\n{}", String::from_utf8_lossy(&tested.stderr));
    assert!(report.contains(" passed"), "pytest ran no test:\n{report}");
}
