//! `tessera._core`: the native half of tessera's Python package.
//!
//! The package is a thin layer: Python builds no graphs and computes nothing. Every
//! function, method, operator and index of `tessera.array` is one call of the
//! expression language ([`evaluate`]: a short source such as `v0 + v1` or
//! `sum(v0, axis=v1)` with the Python values bound to its variables), so Python gets
//! exactly the language's numpy semantics, dtype rules and one-line errors, and a
//! function added to the language is in Python at once. Arrays cross as opaque
//! handles ([`Handle`]); results come back as numpy arrays that own the result's
//! buffer (no copy). Computing releases the GIL and polls for Ctrl-C, so
//! `KeyboardInterrupt` cancels a run within a fraction of a second.

use std::collections::HashMap;

use pyo3::prelude::*;

mod compute;
mod errors;
mod serve;
mod values;

use values::Handle;

/// Evaluates `source` with `vars` bound (names to numbers, strings, tuples, `None` and
/// array handles); returns the value, arrays as handles.
#[pyfunction]
fn evaluate(py: Python<'_>, source: &str, vars: HashMap<String, Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
    let program = tessera::Program::parse(source).map_err(errors::from_expr)?;
    let mut bound = HashMap::with_capacity(vars.len());
    for (name, value) in vars {
        bound.insert(name, values::from_py(&value, 0)?);
    }
    let options = tessera::EvalOptions {
        chunks: None,
        auto_bytes: tessera::chunk_byte_target().map_err(errors::value_error)?,
        count_pass: Some(tessera::mask::local_count_pass(tessera::default_memory_limit())),
    };
    // A boolean mask's counting pass computes: without the GIL.
    let value = py.detach(|| program.evaluate_with(&options, bound)).map_err(errors::from_expr)?;
    values::to_py(py, value)
}

/// The default chunk byte target (`TESSERA_CHUNK_SIZE`, else 128 MiB), as `auto` uses.
#[pyfunction]
fn chunk_byte_target() -> PyResult<u64> {
    tessera::chunk_byte_target().map_err(errors::value_error)
}

/// A byte size such as `"4GiB"`, `"500MB"` or `"1e9"`, in bytes.
#[pyfunction]
fn parse_bytes(text: &str) -> PyResult<u64> {
    tessera::parse_bytes(text).map_err(errors::value_error)
}

/// The memory limit when none is given: 80 % of the memory available now.
#[pyfunction]
fn default_memory_limit() -> u64 {
    tessera::default_memory_limit()
}

/// Closes every array this process opened from `path`, before the file is removed.
#[pyfunction]
fn release_file(path: &str) {
    tessera::release(path)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Handle>()?;
    m.add_class::<compute::Cluster>()?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(chunk_byte_target, m)?)?;
    m.add_function(wrap_pyfunction!(parse_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(default_memory_limit, m)?)?;
    m.add_function(wrap_pyfunction!(release_file, m)?)?;
    m.add_function(wrap_pyfunction!(compute::compute, m)?)?;
    m.add_function(wrap_pyfunction!(compute::gpu_available, m)?)?;
    m.add_function(wrap_pyfunction!(serve::serve_scheduler, m)?)?;
    m.add_function(wrap_pyfunction!(serve::serve_worker, m)?)?;
    errors::register(m)?;
    Ok(())
}
