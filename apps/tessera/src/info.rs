//! `tessera info PATH`: what Dask's array repr shows for a stored array (shape, chunk
//! shape, dtype, bytes in total and per chunk, chunk count, codecs), or a group's arrays.

use serde_json::{Value as Json, json};
use tessera::info::{Node, describe};
use tessera::{StoredArray, format_bytes};

use crate::cli::InfoArgs;
use crate::error::CliError;
use crate::output::print_line;

fn array_json(a: &StoredArray) -> Json {
    json!({
        "path": a.path,
        "component": if a.component.is_empty() { Json::Null } else { json!(a.component) },
        "format": a.format.name(),
        "shape": a.shape,
        "dtype": a.dtype.name(),
        "chunks": a.chunk_shape,
        "nchunks": a.chunk_count(),
        "nbytes": a.nbytes(),
        "chunk_nbytes": a.chunk_nbytes(),
        "codecs": a.codecs,
    })
}

fn array_lines(a: &StoredArray, indent: &str) -> Vec<String> {
    let name = if a.component.is_empty() { a.path.clone() } else { a.component.clone() };
    let chunks = match &a.chunk_shape {
        Some(c) => format!("chunks {c:?} ({} each), {} chunks", format_bytes(a.chunk_nbytes()), a.chunk_count()),
        None => "contiguous".into(),
    };
    let codecs = if a.codecs.is_empty() { "none".to_string() } else { a.codecs.join(", ") };
    vec![
        format!(
            "{indent}{name}: {} array, shape {:?}, {}, {}",
            a.format.name(),
            a.shape,
            a.dtype,
            format_bytes(a.nbytes())
        ),
        format!("{indent}  {chunks}; codecs: {codecs}"),
    ]
}

/// Prints what `args.path` holds.
pub fn info(args: &InfoArgs) -> Result<(), CliError> {
    let path = args.path.to_string_lossy();
    let node = describe(&path, args.component.as_deref().unwrap_or("")).map_err(|e| {
        // A file that is not a readable array (truncated, corrupt) is bad input, as
        // `run` reports it when it opens the same file.
        let named_bad = e.is_bad_input() || matches!(e, tessera::StoreError::Corrupt(_));
        if named_bad { CliError::BadInput(e.to_string()) } else { CliError::Failed(e.to_string()) }
    })?;
    if args.json {
        let value = match &node {
            Node::Array(a) => json!({"kind": "array", "array": array_json(a)}),
            Node::Group { format, path, arrays } => json!({
                "kind": "group",
                "format": format.name(),
                "path": path,
                "arrays": arrays.iter().map(array_json).collect::<Vec<_>>(),
            }),
        };
        return print_line(&value.to_string());
    }
    match &node {
        Node::Array(a) => {
            for line in array_lines(a, "") {
                print_line(&line)?;
            }
        }
        Node::Group { format, path, arrays } => {
            print_line(&format!("{path}: {} group with {} arrays", format.name(), arrays.len()))?;
            for a in arrays {
                for line in array_lines(a, "  ") {
                    print_line(&line)?;
                }
            }
        }
    }
    Ok(())
}
