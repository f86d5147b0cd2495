//! The one store of held values, shared by the `threads` scheduler and cluster workers.
//!
//! It owns the memory policy: values held plus the projections of running tasks stay
//! within a budget (admission); past [`SPILL_SHARE`] of the budget the value needed
//! least soon (its next reader comes latest in priority order) goes to disk, unless a
//! running task is reading it; a spilled value is read back for each reader and its
//! file stays until the value is released.
//!
//! The store is a plain state machine without locks: its owner (a scheduler's mutex, a
//! worker's) decides what is shared. Reading a spilled file back is done by the caller
//! through [`Held::load`], outside that lock.

use std::hash::Hash;
use std::path::PathBuf;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use tessera_kernels::Value;

use crate::RuntimeError;
use crate::spill::{self, SPILL_SHARE, SpillDir};

/// Where a held value is.
#[derive(Debug, Clone)]
pub enum Held {
    /// In memory.
    Memory(Arc<Value>),
    /// Spilled to this file.
    Disk(PathBuf),
}

impl Held {
    /// The value, read back from disk if it was spilled.
    pub fn load(self) -> Result<Arc<Value>, RuntimeError> {
        match self {
            Held::Memory(v) => Ok(v),
            Held::Disk(file) => spill::read(&file).map(Arc::new),
        }
    }
}

#[derive(Debug)]
enum Slot {
    Memory {
        value: Arc<Value>,
        /// The priority of its next reader: larger is needed later.
        next_reader: u64,
    },
    Disk(PathBuf),
}

/// Held values and the tasks admitted to run beside them, within a byte budget.
#[derive(Debug)]
pub struct Store<K> {
    /// Keyed by small integers: a fast non-cryptographic hash (keys are ours, not a peer's).
    values: FxHashMap<K, Slot>,
    spill: SpillDir,
    /// Bytes held in memory.
    held: u64,
    /// Bytes the running tasks were admitted with.
    admitted: u64,
    running: usize,
    budget: u64,
    spill_above: u64,
    files: u64,
}

impl<K: Copy + Eq + Hash + Ord> Store<K> {
    /// A store for `budget` bytes of values and running tasks (`u64::MAX`: no limit).
    pub fn new(budget: u64) -> Store<K> {
        Store {
            values: FxHashMap::default(),
            spill: SpillDir::new(),
            held: 0,
            admitted: 0,
            running: 0,
            budget,
            spill_above: if budget == u64::MAX { u64::MAX } else { (budget as f64 * SPILL_SHARE) as u64 },
            files: 0,
        }
    }

    /// Bytes of values held in memory.
    pub fn held_bytes(&self) -> u64 {
        self.held
    }

    /// Bytes written to disk so far.
    pub fn spilled_bytes(&self) -> u64 {
        self.spill.bytes
    }

    /// Values held, in memory or spilled.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether it holds no value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Tasks admitted and not yet done.
    pub fn running(&self) -> usize {
        self.running
    }

    /// Admits a task that will use `bytes` beyond what is held, if that fits the
    /// budget beside the held values and the running tasks. One task always may run:
    /// a plan whose every task fits the budget always progresses.
    pub fn admit(&mut self, bytes: u64) -> bool {
        if self.running > 0 && self.held.saturating_add(self.admitted).saturating_add(bytes) > self.budget {
            return false;
        }
        self.running += 1;
        self.admitted += bytes;
        true
    }

    /// A task admitted with `bytes` ended.
    pub fn done(&mut self, bytes: u64) {
        self.running = self.running.saturating_sub(1);
        self.admitted = self.admitted.saturating_sub(bytes);
    }

    /// Where the value of `key` is, if it is held.
    pub fn get(&self, key: &K) -> Option<Held> {
        self.values.get(key).map(|slot| match slot {
            Slot::Memory { value, .. } => Held::Memory(value.clone()),
            Slot::Disk(file) => Held::Disk(file.clone()),
        })
    }

    /// Holds a value whose next reader has priority `next_reader`, then spills while
    /// memory passes the threshold.
    pub fn insert(&mut self, key: K, value: Value, next_reader: u64) -> Result<(), RuntimeError> {
        self.held += value.nbytes() as u64;
        if let Some(old) = self.values.insert(key, Slot::Memory { value: Arc::new(value), next_reader }) {
            self.forget(old);
        }
        self.spill_over()
    }

    /// A reader of `key` started: the next one has priority `next_reader`.
    pub fn set_next_reader(&mut self, key: &K, next_reader: u64) {
        if let Some(Slot::Memory { next_reader: n, .. }) = self.values.get_mut(key) {
            *n = next_reader;
        }
    }

    /// Drops a value, in memory or on disk.
    pub fn remove(&mut self, key: &K) {
        if let Some(old) = self.values.remove(key) {
            self.forget(old);
        }
    }

    /// Takes a value out of the store (a result handed to its user).
    pub fn take(&mut self, key: &K) -> Option<Held> {
        let slot = self.values.remove(key)?;
        Some(match slot {
            Slot::Memory { value, .. } => {
                self.held = self.held.saturating_sub(value.nbytes() as u64);
                Held::Memory(value)
            }
            Slot::Disk(file) => Held::Disk(file),
        })
    }

    /// Drops every value whose key matches.
    pub fn remove_where(&mut self, matches: impl Fn(&K) -> bool) {
        let keys: Vec<K> = self.values.keys().filter(|k| matches(k)).copied().collect();
        for key in keys {
            self.remove(&key);
        }
    }

    fn forget(&mut self, slot: Slot) {
        match slot {
            Slot::Memory { value, .. } => self.held = self.held.saturating_sub(value.nbytes() as u64),
            Slot::Disk(file) => {
                let _ = std::fs::remove_file(file);
            }
        }
    }

    /// While memory passes the threshold, writes the value needed least soon to disk;
    /// values a running task is reading (shared) stay.
    fn spill_over(&mut self) -> Result<(), RuntimeError> {
        while self.held > self.spill_above {
            let victim = self
                .values
                .iter()
                .filter_map(|(key, slot)| match slot {
                    Slot::Memory { value, next_reader } if Arc::strong_count(value) == 1 => Some((*next_reader, *key)),
                    _ => None,
                })
                .max();
            let Some((_, key)) = victim else { return Ok(()) };
            let Some(Slot::Memory { value, .. }) = self.values.get(&key) else { return Ok(()) };
            let value = value.clone();
            self.files += 1;
            let file = self.spill.write(&self.files.to_string(), &value)?;
            self.values.insert(key, Slot::Disk(file));
            self.held = self.held.saturating_sub(value.nbytes() as u64);
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

    fn load(store: &Store<(u64, u64)>, key: (u64, u64)) -> Option<Arc<Value>> {
        store.get(&key).map(|h| h.load().expect("reads back"))
    }

    #[test]
    fn values_past_half_the_budget_go_to_disk_least_soon_needed_first() {
        let mut store = Store::new(2 * 8000);
        store.insert((1, 0), value(500, 1.0), 10).expect("holds");
        store.insert((1, 1), value(500, 2.0), 99).expect("holds");
        // 8000 bytes held: at the threshold, nothing spilled yet.
        assert_eq!((store.held_bytes(), store.spilled_bytes()), (8000, 0));
        store.insert((1, 2), value(500, 3.0), 50).expect("holds");
        // Over: the value read last (next reader 99) went to disk.
        assert_eq!(store.held_bytes(), 8000);
        assert!(store.spilled_bytes() >= 4000);
        assert_eq!(load(&store, (1, 1)), Some(Arc::new(value(500, 2.0))), "read back intact");
        store.remove(&(1, 1));
        assert!(store.get(&(1, 1)).is_none());
        // A value in use by a running task is not spilled.
        let busy = load(&store, (1, 0)).expect("held");
        store.insert((1, 3), value(1000, 4.0), 60).expect("holds");
        assert!(matches!(store.get(&(1, 0)), Some(Held::Memory(_))), "(1, 0) stayed in memory");
        drop(busy);
        // Values of one graph go together.
        store.remove_where(|k| k.0 == 1);
        assert_eq!(store.held_bytes(), 0);
    }

    #[test]
    fn admission_keeps_running_tasks_and_values_within_the_budget() {
        let mut store: Store<(u64, u64)> = Store::new(10_000);
        assert!(store.admit(20_000), "one task always may run");
        assert!(!store.admit(1), "nothing beside a task over the budget");
        store.done(20_000);
        assert!(store.admit(6_000) && store.admit(4_000));
        assert!(!store.admit(1));
        store.done(4_000);
        store.insert((1, 0), value(250, 0.0), 0).expect("holds");
        assert!(!store.admit(2_001), "held values count");
        assert!(store.admit(2_000));
        assert_eq!(store.running(), 2);
    }

    #[test]
    fn a_later_next_reader_makes_a_value_the_first_to_spill() {
        let mut store = Store::new(2 * 4000);
        store.insert((1, 0), value(250, 1.0), 5).expect("holds");
        store.insert((1, 1), value(250, 2.0), 9).expect("holds");
        store.set_next_reader(&(1, 0), 50);
        store.insert((1, 2), value(250, 3.0), 7).expect("holds");
        assert!(matches!(store.get(&(1, 0)), Some(Held::Disk(_))));
        assert!(matches!(store.get(&(1, 1)), Some(Held::Memory(_))));
        assert!(matches!(store.get(&(1, 2)), Some(Held::Memory(_))));
    }
}
