//! Creating a Zarr target before any chunk is written: refused when it exists (unless
//! `overwrite`), the directory made with one `mkdir` so that of two runs creating the
//! same new array one wins and the other is refused, then the metadata written once.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Value, json};
use zarrs::array::{Array, ArrayMetadata};
use zarrs::storage::WritableStorageTraits;

use super::{AtomicStore, node_path};
use crate::{Compressor, StoreError, StoredType, WriteTarget};

fn io(target: &WriteTarget, what: &str) -> impl Fn(std::io::Error) -> StoreError {
    let label = target.label();
    let what = what.to_string();
    move |e| StoreError::io(format!("{what} {label}"), e)
}

/// Creates the target's directory and metadata; on failure removes the store root if
/// this call made it (with one `mkdir`, so never a root another run made).
pub(crate) fn create(target: &WriteTarget) -> Result<(), StoreError> {
    let root = Path::new(&target.path);
    let mut made_root = false;
    if !target.component.is_empty() {
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io(target, "cannot create the directory of"))?;
        }
        made_root = std::fs::create_dir(root).is_ok();
    }
    let made = create_inner(target);
    if made.is_err() && made_root {
        let _ = std::fs::remove_dir_all(root);
    }
    made
}

fn create_inner(target: &WriteTarget) -> Result<(), StoreError> {
    let dir = target.node_dir();
    let label = target.label();
    if dir.exists() {
        if !target.overwrite {
            return Err(StoreError::BadInput(format!("{label} already exists; pass overwrite=True to replace it")));
        }
        if dir.is_dir() { std::fs::remove_dir_all(&dir) } else { std::fs::remove_file(&dir) }
            .map_err(io(target, "cannot remove"))?;
    }
    let root = Path::new(&target.path);
    if !target.component.is_empty() {
        // The root and every group between it and the array.
        let mut group = root.to_path_buf();
        ensure_group(&group, target)?;
        let parts: Vec<&str> = target.component.trim_matches('/').split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            group = group.join(part);
            ensure_group(&group, target)?;
        }
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(target, "cannot create the directory of"))?;
    }
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(StoreError::BadInput(format!(
                "{label} was created by another run while this one started; it is not replaced"
            )));
        }
        Err(e) => return Err(io(target, "cannot create")(e)),
    }
    let written = write_metadata(target);
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    written
}

/// Removes a target this run created (after a failed run).
pub(crate) fn remove(target: &WriteTarget) {
    let _ = std::fs::remove_dir_all(target.node_dir());
}

/// Makes `root` a group (if it does not exist yet); refuses a root that is an array.
fn ensure_group(root: &Path, target: &WriteTarget) -> Result<(), StoreError> {
    let is_array = root.join(".zarray").exists()
        || crate::read_metadata_file(&root.join("zarr.json"))
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|m| m.get("node_type").and_then(Value::as_str) == Some("array"));
    if is_array {
        return Err(StoreError::BadInput(format!(
            "{} is a Zarr array, not a group: write the array to another path",
            root.display()
        )));
    }
    let (key, body) = if target.zarr_format == 2 {
        (".zgroup", json!({"zarr_format": 2}))
    } else {
        ("zarr.json", json!({"zarr_format": 3, "node_type": "group", "attributes": {}}))
    };
    if root.join(key).exists() {
        return Ok(());
    }
    std::fs::create_dir_all(root).map_err(io(target, "cannot create"))?;
    let store = AtomicStore::new(root).map_err(|e| StoreError::BadInput(format!("{}: {e}", root.display())))?;
    let key = zarrs::storage::StoreKey::new(key).map_err(|e| StoreError::BadInput(e.to_string()))?;
    store
        .set(&key, body.to_string().into_bytes().into())
        .map_err(|e| StoreError::BadInput(format!("cannot write the group metadata of {}: {e}", root.display())))
}

fn write_metadata(target: &WriteTarget) -> Result<(), StoreError> {
    let metadata: ArrayMetadata = serde_json::from_value(metadata_json(target))
        .map_err(|e| StoreError::BadInput(format!("cannot describe {}: {e}", target.label())))?;
    let store = Arc::new(
        AtomicStore::new(Path::new(&target.path)).map_err(|e| StoreError::BadInput(format!("{}: {e}", target.path)))?,
    );
    let array = Array::new_with_metadata(store, &node_path(&target.component), metadata)
        .map_err(|e| StoreError::BadInput(format!("cannot create {}: {e}", target.label())))?;
    array
        .store_metadata()
        .map_err(|e| StoreError::BadInput(format!("cannot write the metadata of {}: {e}", target.label())))
}

/// A fill value of zero in the JSON form of the type.
fn zero(t: StoredType) -> Value {
    match t {
        StoredType::Bool => json!(false),
        StoredType::F32 | StoredType::F64 => json!(0.0),
        _ => json!(0),
    }
}

fn metadata_json(target: &WriteTarget) -> Value {
    let t = target.dtype;
    if target.zarr_format == 2 {
        let compressor = match target.compressor {
            Compressor::Zstd => json!({"id": "zstd", "level": 0}),
            Compressor::Blosc => json!({"id": "blosc", "cname": "zstd", "clevel": 5, "shuffle": 1, "blocksize": 0}),
            Compressor::Gzip => json!({"id": "gzip", "level": 5}),
            Compressor::None => Value::Null,
        };
        return json!({
            "zarr_format": 2,
            "shape": target.shape,
            "chunks": target.chunk_shape,
            "dtype": t.npy_descr(),
            "compressor": compressor,
            "fill_value": zero(t),
            "order": "C",
            "filters": null,
            "dimension_separator": ".",
        });
    }
    let mut codecs = vec![json!({"name": "bytes", "configuration": {"endian": "little"}})];
    match target.compressor {
        Compressor::Zstd => codecs.push(json!({"name": "zstd", "configuration": {"level": 0, "checksum": false}})),
        Compressor::Blosc => codecs.push(json!({"name": "blosc", "configuration": {
            "cname": "zstd", "clevel": 5, "shuffle": "shuffle", "typesize": t.itemsize(), "blocksize": 0}})),
        Compressor::Gzip => codecs.push(json!({"name": "gzip", "configuration": {"level": 5}})),
        Compressor::None => {}
    }
    json!({
        "zarr_format": 3,
        "node_type": "array",
        "shape": target.shape,
        "data_type": t.name(),
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": target.chunk_shape}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": zero(t),
        "codecs": codecs,
        "attributes": {},
    })
}
