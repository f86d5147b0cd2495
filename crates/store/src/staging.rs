//! A target appears only when complete: it is built under a hidden name beside its
//! place ([`WriteTarget::staged`]) and renamed over it as the run's last step, so a
//! reader finds the old array, or nothing, or the new array whole — never chunks of a
//! killed run filled in with zeros. `overwrite=True` replaces only what is
//! recognizably an array of the same format; anything else at the path is refused
//! before the run starts.
//!
//! A SIGKILL runs no code: it can leave a `.{name}.tessera-{pid}-...partial` beside the
//! target, never a readable target. The next write of the same target removes those
//! whose process is gone ([`sweep_dead`]).

use std::path::{Path, PathBuf};

use crate::{Format, STAGING_MARKER, STAGING_SUFFIX, StoreError, WriteTarget};

/// Refuses an `overwrite=True` of a path that holds something other than an array of
/// the target's format, or the working directory or one of its parents.
pub(crate) fn check_replaceable(target: &WriteTarget) -> Result<(), StoreError> {
    let place = target.node_dir();
    let Ok(meta) = std::fs::symlink_metadata(&place) else { return Ok(()) };
    let label = target.label();
    let refuse = |what: String| {
        Err(StoreError::BadInput(format!(
            "{label} {what}; overwrite=True replaces only a {} written there before, so nothing was replaced",
            kind(target.format)
        )))
    };
    if let (Ok(cwd), Ok(here)) = (std::env::current_dir(), place.canonicalize())
        && cwd.starts_with(&here)
    {
        return refuse("is the working directory or one of its parents".into());
    }
    if meta.file_type().is_symlink() {
        return refuse("is a symbolic link".into());
    }
    match target.format {
        Format::Npy => {
            if !meta.is_file() {
                return refuse("is not a file".into());
            }
            let mut magic = [0u8; 6];
            let read = std::fs::File::open(&place).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
            if read.is_err() || &magic != b"\x93NUMPY" {
                return refuse("is not a .npy file (no numpy header)".into());
            }
            Ok(())
        }
        _ => {
            if !meta.is_dir() {
                return refuse("is a file, not a Zarr array".into());
            }
            if !["zarr.json", ".zarray"].iter().any(|m| place.join(m).is_file())
                || place.join(".zgroup").exists()
                || is_group(&place)
            {
                return refuse("is not a Zarr array (no array metadata)".into());
            }
            let entries = std::fs::read_dir(&place).map_err(|e| StoreError::io(format!("cannot list {label}"), e))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !is_zarr_entry(&name) {
                    return refuse(format!("holds '{name}', which is not part of a Zarr array"));
                }
            }
            Ok(())
        }
    }
}

fn kind(format: Format) -> &'static str {
    match format {
        Format::Npy => ".npy file",
        _ => "Zarr array",
    }
}

fn is_group(dir: &Path) -> bool {
    crate::read_metadata_file(&dir.join("zarr.json"))
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|m| m.get("node_type").and_then(|t| t.as_str()) != Some("array"))
}

/// The names an array's directory holds: metadata, v3's `c` folder, v2's chunk keys
/// (`0.3.1`, or folders of digits with `/` separators), temporaries of killed writers.
fn is_zarr_entry(name: &str) -> bool {
    let key = name.strip_prefix("c.").unwrap_or(name);
    matches!(name, "zarr.json" | ".zarray" | ".zattrs" | "c")
        || (!key.is_empty() && key.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
        || name.contains(crate::zarr::TEMP_MARKER)
}

/// Removes what dead runs left while building this target (their process is gone).
pub(crate) fn sweep_dead(target: &WriteTarget) -> usize {
    let place = target.node_dir();
    let (Some(dir), Some(name)) = (place.parent(), place.file_name()) else { return 0 };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!(".{}{STAGING_MARKER}", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = entry_name.strip_prefix(&prefix) else { continue };
        if !rest.ends_with(STAGING_SUFFIX) {
            continue;
        }
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !alive(p)) {
            let path = entry.path();
            let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            if gone.is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) }
}

/// Renames the built target over its place: atomically exchanged with an old array
/// (which is then removed), or moved to a free place; if another run took the place
/// meanwhile and this one may not replace it, refused.
pub(crate) fn publish(target: &WriteTarget) -> Result<(), StoreError> {
    let staged = target.staged().node_dir();
    let place = target.node_dir();
    if staged == place {
        return Ok(());
    }
    let io = |e: std::io::Error| StoreError::io(format!("cannot move the finished {} into place", target.label()), e);
    match rename_no_replace(&staged, &place) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(e)),
    }
    if !target.overwrite {
        return Err(StoreError::BadInput(format!(
            "{} was created by another run while this one ran; it is not replaced",
            target.label()
        )));
    }
    check_replaceable(target)?;
    exchange(&staged, &place).map_err(io)?;
    // The old array now has the staged name.
    let removed = if staged.is_dir() { std::fs::remove_dir_all(&staged) } else { std::fs::remove_file(&staged) };
    removed.map_err(|e| StoreError::io(format!("cannot remove the replaced {}", target.label()), e))
}

fn c_path(p: &Path) -> std::io::Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
}

fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    let (from, to) = (c_path(from)?, c_path(to)?);
    // SAFETY: both are NUL-terminated paths that live across the call.
    let r = unsafe { libc::renameat2(libc::AT_FDCWD, from.as_ptr(), libc::AT_FDCWD, to.as_ptr(), flags) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Whether a file system refused a `renameat2` flag (then the plain way is taken).
fn unsupported(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS | libc::ENOTSUP))
}

/// `from` renamed to `to` only if `to` does not exist (`AlreadyExists` otherwise).
fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    match renameat2(from, to, libc::RENAME_NOREPLACE) {
        Err(e) if unsupported(&e) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists));
            }
            std::fs::rename(from, to)
        }
        other => other,
    }
}

/// `a` and `b` swapped in one step (in two renames where the file system cannot).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    match renameat2(a, b, libc::RENAME_EXCHANGE) {
        Err(e) if unsupported(&e) => {
            let aside: PathBuf = a.with_extension("old");
            std::fs::rename(b, &aside)?;
            std::fs::rename(a, b)?;
            std::fs::rename(&aside, a)
        }
        other => other,
    }
}
