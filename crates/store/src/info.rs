//! What a path holds (`tessera info`): an array, or a group (a Zarr group, an HDF5
//! file) and its arrays, with what Dask's array repr shows.

use std::path::Path;

use crate::{Format, StoreError, StoredArray, zarr};

/// A stored array or a group of them.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// One array.
    Array(StoredArray),
    /// A group and the arrays under it (components relative to the group's path).
    Group {
        /// The format.
        format: Format,
        /// The path.
        path: String,
        /// The arrays.
        arrays: Vec<StoredArray>,
    },
}

/// The deepest group nesting listed.
const MAX_DEPTH: usize = 8;

/// The format of what is at `path`: a directory is a Zarr store; a file is `.npy` or
/// HDF5 by its magic bytes.
pub fn detect(path: &str) -> Result<Format, StoreError> {
    let p = Path::new(path);
    let meta = std::fs::metadata(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => StoreError::BadInput(format!("{path}: no such file or directory")),
        _ => StoreError::io(format!("cannot read {path}"), e),
    })?;
    if meta.is_dir() {
        return Ok(Format::Zarr);
    }
    let mut magic = [0u8; 8];
    let n = crate::open_regular(p, false)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut magic))
        .map_err(|e| StoreError::io(format!("cannot read {path}"), e))?;
    match &magic[..n] {
        [0x93, b'N', b'U', b'M', b'P', b'Y', ..] => Ok(Format::Npy),
        [0x89, b'H', b'D', b'F', ..] => Ok(Format::Hdf5),
        _ => Err(StoreError::BadInput(format!("{path} is not a Zarr store, a .npy file or an HDF5 file"))),
    }
}

/// Describes what is at `path` (and `component` inside it).
pub fn describe(path: &str, component: &str) -> Result<Node, StoreError> {
    let format = detect(path)?;
    match format {
        Format::Npy => Ok(Node::Array(crate::open(Format::Npy, path, "")?)),
        Format::Hdf5 if !component.is_empty() => Ok(Node::Array(crate::open(Format::Hdf5, path, component)?)),
        Format::Hdf5 => hdf5_group(path),
        Format::Zarr => {
            let dir = crate::node_dir(path, component);
            match zarr_node_type(&dir) {
                Some("array") => Ok(Node::Array(zarr::open(path, component)?.meta().clone())),
                Some("group") => {
                    let mut arrays = Vec::new();
                    list_zarr_arrays(path, component, &dir, 0, &mut arrays);
                    Ok(Node::Group { format, path: path.to_string(), arrays })
                }
                _ => Err(StoreError::BadInput(format!(
                    "{} is not a Zarr store (no zarr.json, .zarray or .zgroup)",
                    dir.display()
                ))),
            }
        }
    }
}

#[cfg(feature = "hdf5")]
fn hdf5_group(path: &str) -> Result<Node, StoreError> {
    let arrays = crate::hdf5::datasets(path)?
        .into_iter()
        .filter_map(|name| crate::open(Format::Hdf5, path, &name).ok())
        .collect();
    Ok(Node::Group { format: Format::Hdf5, path: path.to_string(), arrays })
}

#[cfg(not(feature = "hdf5"))]
fn hdf5_group(_path: &str) -> Result<Node, StoreError> {
    Err(StoreError::BadInput(crate::NO_HDF5.into()))
}

/// `array` or `group` for a Zarr node directory (v3 `zarr.json`, or v2 files).
pub(crate) fn zarr_node_type(dir: &Path) -> Option<&'static str> {
    if let Some(bytes) = crate::read_metadata_file(&dir.join("zarr.json")) {
        let meta: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        return match meta.get("node_type")?.as_str()? {
            "array" => Some("array"),
            "group" => Some("group"),
            _ => None,
        };
    }
    if dir.join(".zarray").exists() {
        Some("array")
    } else if dir.join(".zgroup").exists() {
        Some("group")
    } else {
        None
    }
}

pub(crate) fn list_zarr_arrays(path: &str, base: &str, dir: &Path, depth: usize, out: &mut Vec<StoredArray>) {
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut children: Vec<_> = entries.filter_map(Result::ok).filter(|e| e.path().is_dir()).collect();
    children.sort_by_key(|e| e.file_name());
    for child in children {
        let name = child.file_name().to_string_lossy().into_owned();
        let component = if base.is_empty() { name } else { format!("{}/{name}", base.trim_matches('/')) };
        match zarr_node_type(&child.path()) {
            Some("array") => {
                if let Ok(z) = zarr::open(path, &component) {
                    out.push(z.meta().clone());
                }
            }
            Some("group") => list_zarr_arrays(path, &component, &child.path(), depth + 1, out),
            _ => {}
        }
    }
}
