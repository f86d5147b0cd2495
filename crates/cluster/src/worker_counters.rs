//! A worker's counters for its heartbeats: bytes moved, tasks running and done, and
//! the finished tasks the UI's task stream draws.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tessera_metrics::{TaskSpan, Usage, current_rss_bytes};

use crate::lock;
use crate::protocol::{Beat, Counters as Sent};

/// Counters for the heartbeat.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) running: AtomicU64,
    pub(crate) done: AtomicU64,
    /// Fetches in flight, and since when the count has been above zero.
    fetching: Mutex<(u32, Option<Instant>)>,
    fetch_nanos: AtomicU64,
    /// Which thread slots are busy, so the task stream can draw one lane per thread.
    lanes: Mutex<Vec<bool>>,
    /// Tasks finished since the last beat: layer, slot, end, duration.
    finished: Mutex<Vec<(u32, u32, Instant, Duration)>>,
}

/// At most this many finished tasks go into one beat (the task stream needs no more).
const SPANS_PER_BEAT: usize = 512;

impl Counters {
    pub(crate) fn fetch_started(&self) {
        let mut f = lock(&self.fetching);
        f.0 += 1;
        if f.0 == 1 {
            f.1 = Some(Instant::now());
        }
    }

    pub(crate) fn fetch_ended(&self, bytes: u64) {
        self.bytes_in.fetch_add(bytes, Relaxed);
        let mut f = lock(&self.fetching);
        f.0 = f.0.saturating_sub(1);
        if f.0 == 0
            && let Some(since) = f.1.take()
        {
            self.fetch_nanos.fetch_add(since.elapsed().as_nanos() as u64, Relaxed);
        }
    }

    /// The cumulative counters sent with a finished task.
    pub(crate) fn sent(&self, spilled_bytes: u64) -> Sent {
        Sent {
            spilled_bytes,
            cpu_seconds: Usage::now().cpu.as_secs_f64(),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            fetch_seconds: Duration::from_nanos(self.fetch_nanos.load(Relaxed)).as_secs_f64(),
            bytes_read: tessera_store::bytes_read(),
            bytes_written: tessera_store::bytes_written(),
        }
    }

    pub(crate) fn take_lane(&self) -> u32 {
        let mut lanes = lock(&self.lanes);
        match lanes.iter().position(|busy| !busy) {
            Some(i) => {
                lanes[i] = true;
                i as u32
            }
            None => {
                lanes.push(true);
                (lanes.len() - 1) as u32
            }
        }
    }

    pub(crate) fn task_done(&self, layer: u32, lane: u32, started: Instant) {
        if let Some(busy) = lock(&self.lanes).get_mut(lane as usize) {
            *busy = false;
        }
        let mut finished = lock(&self.finished);
        if finished.len() < SPANS_PER_BEAT {
            finished.push((layer, lane, Instant::now(), started.elapsed()));
        }
    }

    /// A heartbeat, with the bytes the worker holds and has spilled.
    pub(crate) fn beat(&self, held_bytes: u64, spilled_bytes: u64) -> Beat {
        let usage = Usage::now();
        let now = Instant::now();
        let recent = std::mem::take(&mut *lock(&self.finished))
            .into_iter()
            .map(|(layer, slot, end, took)| TaskSpan {
                layer,
                slot,
                ended_ms_ago: now.duration_since(end).as_millis() as u64,
                duration_ms: took.as_millis() as u64,
            })
            .collect();
        Beat {
            cpu_seconds: usage.cpu.as_secs_f64(),
            rss_bytes: current_rss_bytes(),
            peak_rss_bytes: usage.peak_rss_bytes,
            held_bytes,
            spilled_bytes,
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            fetch_seconds: Duration::from_nanos(self.fetch_nanos.load(Relaxed)).as_secs_f64(),
            bytes_read: tessera_store::bytes_read(),
            bytes_written: tessera_store::bytes_written(),
            tasks_running: self.running.load(Relaxed),
            tasks_done: self.done.load(Relaxed),
            recent,
        }
    }
}
