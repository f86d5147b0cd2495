//! The language's storage functions: `from_zarr`, `from_npy`, `from_hdf5` (which read
//! the stored array's metadata as they are evaluated, like Dask's) and the write
//! statements `to_zarr`, `to_npy`, which record a write; a source that writes has the
//! writes' summary as its result.

use std::path::Path;

use tessera_chunks::ChunkSpec;
use tessera_graph::{Array, Op};
use tessera_store::{Compressor, Format, StoredType, WriteTarget};

use crate::error::{ExprError, Pos};
use crate::eval::{Args, Env, expected, flag, to_chunks};
use crate::value::Value;

/// The storage functions' names.
pub(crate) const FUNCTIONS: [&str; 5] = ["from_zarr", "from_npy", "from_hdf5", "to_zarr", "to_npy"];

fn string(v: Value, pos: Pos, what: &str) -> Result<String, ExprError> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(expected(pos, what, &other)),
    }
}

fn optional_string(arg: Option<(Value, Pos)>, what: &str) -> Result<Option<String>, ExprError> {
    match arg {
        None | Some((Value::None, _)) => Ok(None),
        Some((v, p)) => string(v, p, what).map(Some),
    }
}

/// An absolute path, so that workers started elsewhere find the same file.
fn absolute(path: &str, pos: Pos) -> Result<String, ExprError> {
    if path.trim().is_empty() {
        return Err(ExprError::new(pos, "the path is empty"));
    }
    std::path::absolute(Path::new(path))
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| ExprError::new(pos, format!("{path}: {e}")))
}

/// The stored type an array keeps when written without `dtype=`: a stored array seen
/// only through views and rechunks keeps its stored type (an int16 array is written
/// as int16); anything computed is written in the type it computes in.
fn natural_stored_type(a: &Array) -> StoredType {
    let mut x = a.clone();
    loop {
        let next = match x.op() {
            Op::View(y, _) | Op::Rechunk(y) => y.clone(),
            Op::Stored(s) => return s.dtype,
            _ => return StoredType::of(a.dtype()),
        };
        x = next;
    }
}

impl Env<'_> {
    /// Evaluates a storage function call.
    pub(crate) fn storage(&mut self, name: &str, mut args: Args, pos: Pos) -> Result<Value, ExprError> {
        let opt_chunks = |args: &mut Args| -> Result<Option<ChunkSpec>, ExprError> {
            match args.take(usize::MAX, "chunks") {
                None | Some((Value::None, _)) => Ok(None),
                Some((v, p)) => to_chunks(&v, p).map(Some),
            }
        };
        match name {
            "from_zarr" | "from_npy" | "from_hdf5" => {
                let (path, ppos) = args.required(0, if name == "from_zarr" { "url" } else { "path" })?;
                let path = absolute(&string(path, ppos, "a path (a string)")?, ppos)?;
                let (format, component) = match name {
                    "from_zarr" => {
                        (Format::Zarr, optional_string(args.take(1, "component"), "a component (a string)")?)
                    }
                    "from_hdf5" => {
                        let (d, dp) = args.required(1, "dataset")?;
                        (Format::Hdf5, Some(string(d, dp, "a dataset name (a string)")?))
                    }
                    _ => (Format::Npy, None),
                };
                let chunks = opt_chunks(&mut args)?;
                args.finish()?;
                let stored = tessera_store::open(format, &path, component.as_deref().unwrap_or(""))
                    .map_err(|e| ExprError::new(ppos, e.to_string()))?;
                let chunks = self.options.chunks.clone().or(chunks);
                let label = stored.label();
                let a = Array::stored(stored, chunks.as_ref(), self.options.auto_bytes)
                    .map_err(|e| ExprError::new(ppos, format!("{label}: {e}")).of_kind(crate::ErrorKind::of(&e)))?;
                Ok(Value::Array(a))
            }
            _ => {
                let (array, apos) = args.required(0, "arr")?;
                let Value::Array(array) = array else { return Err(expected(apos, "an array to write", &array)) };
                let (path, ppos) = args.required(1, if name == "to_zarr" { "url" } else { "path" })?;
                let path = absolute(&string(path, ppos, "a path (a string)")?, ppos)?;
                let zarr = name == "to_zarr";
                let component = if zarr {
                    optional_string(args.take(2, "component"), "a component (a string)")?.unwrap_or_default()
                } else {
                    String::new()
                };
                let chunk_shape = match if zarr { opt_chunks(&mut args)? } else { None } {
                    Some(spec) => spec
                        .resolve(array.shape(), array.dtype(), self.options.auto_bytes)
                        .map_err(|e| ExprError::new(pos, e.to_string()))?
                        .chunksize(),
                    None if zarr => array.chunks().chunksize(),
                    None => array.shape().to_vec(),
                };
                let chunk_shape = chunk_shape.into_iter().map(|c| c.max(1)).collect();
                let dtype = match if zarr { args.take(usize::MAX, "dtype") } else { None } {
                    None | Some((Value::None, _)) => natural_stored_type(&array),
                    Some((v, p)) => {
                        let s = string(v, p, "a dtype such as \"int16\"")?;
                        StoredType::parse(&s).ok_or_else(|| {
                            ExprError::new(p, format!("dtype '{s}' is not one tessera writes (bool, int8-int64, uint8-uint64, float32, float64)"))
                        })?
                    }
                };
                let compressor = match if zarr { args.take(usize::MAX, "compressor") } else { None } {
                    None => Compressor::Zstd,
                    Some((Value::None, _)) => Compressor::None,
                    Some((v, p)) => {
                        let s = string(v, p, "a compressor name")?;
                        Compressor::parse(&s).ok_or_else(|| {
                            ExprError::new(
                                p,
                                format!("unknown compressor '{s}' (use \"zstd\", \"blosc\", \"gzip\" or None)"),
                            )
                        })?
                    }
                };
                let zarr_format = match if zarr { args.take(usize::MAX, "zarr_format") } else { None } {
                    None | Some((Value::None, _)) => 3,
                    Some((Value::Number(tessera_graph::Scalar::Int(v @ (2 | 3))), _)) => v as u8,
                    Some((v, p)) => return Err(expected(p, "zarr_format 2 or 3", &v)),
                };
                let overwrite = flag(args.take(usize::MAX, "overwrite"), "overwrite=True or False")?;
                args.finish()?;
                tessera_store::check_component(&component).map_err(|e| ExprError::new(pos, e.to_string()))?;
                let format = if zarr { Format::Zarr } else { Format::Npy };
                let target = WriteTarget {
                    format,
                    path,
                    component,
                    shape: array.shape().to_vec(),
                    dtype,
                    chunk_shape,
                    compressor,
                    zarr_format,
                    overwrite,
                    staging: tessera_store::staging_token(),
                };
                if !overwrite && target.node_dir().exists() {
                    return Err(ExprError::new(
                        ppos,
                        format!("{} already exists; pass overwrite=True to replace it", target.label()),
                    ));
                }
                if self.writes.iter().any(|(_, t)| t.path == target.path && t.component == target.component) {
                    return Err(ExprError::new(ppos, format!("{} is written twice in this source", target.label())));
                }
                self.writes.push((array, target));
                Ok(Value::Written)
            }
        }
    }
}
