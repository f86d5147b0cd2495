//! The values a worker holds: in memory, or on disk once they pass half of what its
//! memory limit leaves for values.
//!
//! Values are spilled least soon needed first (the one whose first reader comes latest
//! in the graph's priority order), and only when no running task is reading them. A
//! spilled value is read back for every reader (a task here or a peer's fetch) and
//! stays on disk; its file goes when the scheduler releases it, and the whole folder
//! when the worker ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use tessera_kernels::Value;
use tessera_runtime::spill::{self, SPILL_SHARE, SpillDir};

/// A value's key: graph and task.
pub(crate) type Key = (u64, u64);

enum Slot {
    Memory {
        value: Arc<Value>,
        /// The priority of its first reader: larger is needed later.
        next_reader: u64,
    },
    Disk(PathBuf),
}

#[derive(Default)]
struct Inner {
    values: HashMap<Key, Slot>,
    spill: SpillDir,
}

/// The values a worker holds.
#[derive(Default)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    /// Bytes held in memory.
    bytes: AtomicU64,
    /// Bytes held in memory above which values are spilled (`u64::MAX`: never).
    spill_above: AtomicU64,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    /// A store that spills past [`SPILL_SHARE`] of `budget` bytes.
    pub(crate) fn new(budget: u64) -> Store {
        let store = Store::default();
        store.spill_above.store((budget as f64 * SPILL_SHARE) as u64, Relaxed);
        store
    }

    /// Bytes held in memory.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    /// Bytes written to disk so far.
    pub(crate) fn spilled_bytes(&self) -> u64 {
        lock(&self.inner).spill.bytes
    }

    /// The value, read back from disk if it was spilled; `None` if it is not here (or
    /// its file cannot be read: the scheduler then has it recomputed).
    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Value>> {
        let file = match lock(&self.inner).values.get(key)? {
            Slot::Memory { value, .. } => return Some(value.clone()),
            Slot::Disk(file) => file.clone(),
        };
        spill::read(&file).ok().map(Arc::new)
    }

    /// Holds a value, spilling others (or it) if memory passes the threshold.
    pub(crate) fn insert(&self, key: Key, value: Value, next_reader: u64) -> Result<(), String> {
        let size = value.nbytes() as u64;
        let mut inner = lock(&self.inner);
        self.bytes.fetch_add(size, Relaxed);
        if let Some(old) = inner.values.insert(key, Slot::Memory { value: Arc::new(value), next_reader }) {
            self.forget(old);
        }
        self.spill_over(&mut inner)
    }

    /// Drops a value.
    pub(crate) fn remove(&self, key: &Key) {
        if let Some(old) = lock(&self.inner).values.remove(key) {
            self.forget(old);
        }
    }

    /// Drops every value of `graph`.
    pub(crate) fn remove_graph(&self, graph: u64) {
        let mut inner = lock(&self.inner);
        let keys: Vec<Key> = inner.values.keys().filter(|k| k.0 == graph).copied().collect();
        for key in keys {
            if let Some(old) = inner.values.remove(&key) {
                self.forget(old);
            }
        }
    }

    fn forget(&self, slot: Slot) {
        match slot {
            Slot::Memory { value, .. } => {
                self.bytes.fetch_sub(value.nbytes() as u64, Relaxed);
            }
            Slot::Disk(file) => {
                let _ = std::fs::remove_file(file);
            }
        }
    }

    fn spill_over(&self, inner: &mut Inner) -> Result<(), String> {
        let threshold = self.spill_above.load(Relaxed);
        while self.bytes() > threshold {
            // Least soon needed first, among values no running task is reading.
            let victim = inner
                .values
                .iter()
                .filter_map(|(key, slot)| match slot {
                    Slot::Memory { value, next_reader } if Arc::strong_count(value) == 1 => Some((*next_reader, *key)),
                    _ => None,
                })
                .max();
            let Some((_, key)) = victim else { return Ok(()) };
            let Some(Slot::Memory { value, .. }) = inner.values.get(&key) else { return Ok(()) };
            let value = value.clone();
            let file = inner.spill.write(&format!("{}-{}", key.0, key.1), &value).map_err(|e| e.to_string())?;
            inner.values.insert(key, Slot::Disk(file));
            self.bytes.fetch_sub(value.nbytes() as u64, Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_kernels::Block;

    fn value(n: usize, fill: f64) -> Value {
        Value::Block(Block::F64(ndarray::ArrayD::from_elem(ndarray::IxDyn(&[n]), fill)))
    }

    #[test]
    fn values_past_half_the_budget_go_to_disk_least_soon_needed_first() {
        let store = Store::new(2 * 8000);
        store.insert((1, 0), value(500, 1.0), 10).expect("holds");
        store.insert((1, 1), value(500, 2.0), 99).expect("holds");
        // 8000 bytes held: at the threshold, nothing spilled yet.
        assert_eq!((store.bytes(), store.spilled_bytes()), (8000, 0));
        store.insert((1, 2), value(500, 3.0), 50).expect("holds");
        // Over: the value read last (first reader 99) went to disk.
        assert_eq!(store.bytes(), 8000);
        assert!(store.spilled_bytes() >= 4000);
        assert_eq!(store.get(&(1, 1)), Some(Arc::new(value(500, 2.0))), "read back intact");
        store.remove(&(1, 1));
        assert_eq!(store.get(&(1, 1)), None);
        // A value in use by a running task is not spilled.
        let busy = store.get(&(1, 0)).expect("held");
        store.insert((1, 3), value(1000, 4.0), 60).expect("holds");
        assert!(store.get(&(1, 0)).is_some());
        assert_eq!(Arc::strong_count(&busy), 2, "(1, 0) stayed in memory");
    }
}
