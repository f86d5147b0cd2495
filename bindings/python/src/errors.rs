//! Failures as the exceptions numpy users expect, each with the CLI's one-line message:
//! `ValueError` (shapes, chunks, values), `TypeError`, `IndexError`, numpy's
//! `AxisError`, `tessera.ResourceError` (a `MemoryError`: a task that cannot fit the
//! memory limit), `tessera.DeviceError` (no GPU) and `tessera.ClusterError`.

use pyo3::create_exception;
use pyo3::exceptions::{PyIndexError, PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use tessera::{GraphError, PlanError, RuntimeError};
use tessera_expr::{ErrorKind, ExprError};

create_exception!(tessera, ResourceError, PyMemoryError, "A computation refused for lack of memory or threads.");
create_exception!(tessera, DeviceError, PyRuntimeError, "The device asked for (a GPU) is not there.");
create_exception!(tessera, ClusterError, PyRuntimeError, "A cluster failed: unreachable, lost, or a worker failed.");

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ResourceError", py.get_type::<ResourceError>())?;
    m.add("DeviceError", py.get_type::<DeviceError>())?;
    m.add("ClusterError", py.get_type::<ClusterError>())?;
    Ok(())
}

/// numpy's exception for `kind`, with `message`.
fn of_kind(kind: ErrorKind, message: String) -> PyErr {
    match kind {
        ErrorKind::Value => PyValueError::new_err(message),
        ErrorKind::Type => PyTypeError::new_err(message),
        ErrorKind::Index => PyIndexError::new_err(message),
        ErrorKind::Axis => Python::attach(|py| {
            // numpy's AxisError is both a ValueError and an IndexError.
            match py.import("numpy.exceptions").and_then(|m| m.getattr("AxisError")) {
                Ok(axis_error) => match axis_error.call1((message.clone(),)) {
                    Ok(e) => PyErr::from_value(e),
                    Err(_) => PyIndexError::new_err(message),
                },
                Err(_) => PyIndexError::new_err(message),
            }
        }),
    }
}

/// An error of an expression: its message without the position (the source is the
/// package's, not the user's).
pub fn from_expr(e: ExprError) -> PyErr {
    of_kind(e.kind, e.message)
}

pub fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

pub fn from_graph(e: GraphError) -> PyErr {
    of_kind(ErrorKind::of(&e), e.to_string())
}

pub fn from_plan(e: PlanError) -> PyErr {
    match e {
        PlanError::BadInput(m) => PyValueError::new_err(m),
        too_big @ PlanError::TooBig { .. } => ResourceError::new_err(too_big.to_string()),
    }
}

/// A failed local run.
pub fn from_run(e: tessera::Error) -> PyErr {
    match e {
        tessera::Error::Graph(g) => from_graph(g),
        tessera::Error::Runtime(RuntimeError::Cancelled) => {
            PyKeyboardInterrupt::new_err("the computation was cancelled")
        }
        tessera::Error::Runtime(RuntimeError::Kernel(k @ tessera::KernelError::Value { .. })) => {
            PyValueError::new_err(k.to_string())
        }
        tessera::Error::Runtime(t @ RuntimeError::Threads { .. }) => ResourceError::new_err(t.to_string()),
        tessera::Error::Storage { message, bad_input: true } => PyValueError::new_err(message),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

/// A failed cluster run.
pub fn from_cluster(e: tessera::cluster::ClusterError) -> PyErr {
    use tessera::cluster::ClusterError as E;
    match e {
        E::BadInput(m) => PyValueError::new_err(m),
        E::Resources(m) => ResourceError::new_err(m),
        E::Cancelled => PyKeyboardInterrupt::new_err("the computation was cancelled"),
        other => ClusterError::new_err(other.to_string()),
    }
}
