//! Values between Python and the expression language: numbers, strings, tuples,
//! `None` and array handles.

use pyo3::exceptions::{PyOverflowError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};
use tessera::{Array, Scalar};
use tessera_expr::Value;

/// Tuples nest at most this deep (a shape of shapes is 2): nothing a user passes
/// recurses without bound.
const MAX_NESTING: usize = 32;

/// A lazy array, opaque to Python (`tessera.Array` wraps one).
#[pyclass(name = "Handle", module = "tessera._core", frozen)]
pub struct Handle {
    pub(crate) array: Array,
}

#[pymethods]
impl Handle {
    /// The shape.
    #[getter]
    fn shape(&self) -> Vec<usize> {
        self.array.shape().to_vec()
    }

    /// The dtype's numpy name.
    #[getter]
    fn dtype(&self) -> &'static str {
        self.array.dtype().name()
    }

    /// The chunk lengths along each axis.
    #[getter]
    fn chunks(&self) -> Vec<Vec<usize>> {
        (0..self.array.ndim()).map(|a| self.array.chunks().axis(a).to_vec()).collect()
    }

    /// The tasks its graph has (lowered, not run): the notebook's "Count".
    #[getter]
    fn tasks(&self) -> PyResult<usize> {
        tessera::lower(&self.array, &tessera::LowerOptions::default())
            .map(|g| g.tasks.len())
            .map_err(crate::errors::from_graph)
    }

    /// What building the array warned about (a reshape that rechunked first).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.array.warnings()
    }
}

/// A Python value as a language value.
pub fn from_py(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if let Ok(h) = value.cast::<Handle>() {
        return Ok(Value::Array(h.get().array.clone()));
    }
    if value.is_none() {
        return Ok(Value::None);
    }
    if value.is_instance_of::<PyBool>() {
        return Ok(Value::Number(Scalar::Bool(value.extract()?)));
    }
    if value.is_instance_of::<PyInt>() {
        let i: i64 = value.extract().map_err(|_| PyOverflowError::new_err("integer too large for int64"))?;
        return Ok(Value::Number(Scalar::Int(i)));
    }
    if value.is_instance_of::<PyFloat>() {
        return Ok(Value::Number(Scalar::Float(value.extract()?)));
    }
    if value.is_instance_of::<PyString>() {
        return Ok(Value::Str(value.extract()?));
    }
    if value.is_instance_of::<PyTuple>() || value.is_instance_of::<PyList>() {
        if depth >= MAX_NESTING {
            return Err(PyValueError::new_err(format!("sequences nested more than {MAX_NESTING} deep")));
        }
        let items = value.try_iter()?.map(|item| from_py(&item?, depth + 1)).collect::<PyResult<Vec<_>>>()?;
        return Ok(Value::Tuple(items));
    }
    let kind = value.get_type().name()?;
    Err(PyTypeError::new_err(format!("a {kind} cannot be used in a tessera expression")))
}

/// A language value as a Python value (arrays as handles).
pub fn to_py(py: Python<'_>, value: Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Array(array) => Py::new(py, Handle { array })?.into_any(),
        Value::Number(Scalar::Bool(b)) => PyBool::new(py, b).to_owned().into_any().unbind(),
        Value::Number(Scalar::Int(i)) => i.into_pyobject(py)?.into_any().unbind(),
        Value::Number(Scalar::Float(x)) => x.into_pyobject(py)?.into_any().unbind(),
        Value::Str(s) => s.into_pyobject(py)?.into_any().unbind(),
        Value::Tuple(items) => {
            let items = items.into_iter().map(|v| to_py(py, v)).collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any().unbind()
        }
        Value::None | Value::Written => py.None(),
    })
}
