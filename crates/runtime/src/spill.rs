//! Spilling held values to disk when they crowd the memory limit.
//!
//! Files go to `$TESSERA_SPILL_DIR` (default: the system temp directory), in a folder of
//! their own (`tessera-spill-PID-N`) that is removed when the run ends, whether it
//! succeeded or not, and by [`crate::cleanup`] when the process is stopped by a signal.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use tessera_kernels::{Value, wire};

use crate::{RuntimeError, cleanup};

/// Held values past this share of the memory limit are spilled.
pub const SPILL_SHARE: f64 = 0.5;

/// A run's (or a worker's) spill folder, created on first use and removed on drop.
#[derive(Debug)]
pub struct SpillDir {
    path: PathBuf,
    created: bool,
    /// Bytes written so far.
    pub bytes: u64,
}

impl Default for SpillDir {
    fn default() -> Self {
        SpillDir::new()
    }
}

impl SpillDir {
    /// Where spill folders go: `$TESSERA_SPILL_DIR`, else the system temp directory.
    pub fn base() -> PathBuf {
        std::env::var_os("TESSERA_SPILL_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
    }

    /// A new folder under [`SpillDir::base`].
    pub fn new() -> SpillDir {
        static RUN: AtomicU64 = AtomicU64::new(0);
        let base = SpillDir::base();
        let name = format!("tessera-spill-{}-{}", std::process::id(), RUN.fetch_add(1, Ordering::Relaxed));
        SpillDir { path: base.join(name), created: false, bytes: 0 }
    }

    /// Writes a value under `name`; returns where.
    pub fn write(&mut self, name: &str, value: &Value) -> Result<PathBuf, RuntimeError> {
        let fail = |e: std::io::Error| RuntimeError::Spill(format!("{}: {e}", self.path.display()));
        // Nothing is written once the process is stopping and its folders are removed.
        let Some(_writing) = cleanup::writing() else {
            return Err(RuntimeError::Spill("the process is stopping".into()));
        };
        if !self.created {
            std::fs::create_dir_all(&self.path).map_err(fail)?;
            cleanup::register(&self.path);
            self.created = true;
        }
        let file = self.path.join(format!("{name}.bin"));
        let bytes = wire::encode(value);
        std::fs::write(&file, &bytes).map_err(fail)?;
        self.bytes += bytes.len() as u64;
        Ok(file)
    }
}

/// Reads a spilled value back.
pub fn read(file: &PathBuf) -> Result<Value, RuntimeError> {
    let bytes = std::fs::read(file).map_err(|e| RuntimeError::Spill(format!("{}: {e}", file.display())))?;
    wire::decode(&bytes).ok_or_else(|| RuntimeError::Spill(format!("{}: corrupt spill file", file.display())))
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_dir_all(&self.path);
            cleanup::unregister(&self.path);
        }
    }
}
