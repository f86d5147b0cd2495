//! Resource use of the current process.

use std::time::{Duration, Instant};

/// A snapshot of the process's resource use.
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// When it was taken.
    pub at: Instant,
    /// User plus system CPU time of all threads so far.
    pub cpu: Duration,
    /// Peak resident set size so far, in bytes.
    pub peak_rss_bytes: u64,
}

impl Usage {
    /// The process's usage now.
    pub fn now() -> Usage {
        // SAFETY: getrusage only writes into the struct we pass, which is zeroed and
        // of the right type.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0;
        let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
        Usage {
            at: Instant::now(),
            cpu: if ok { tv(ru.ru_utime) + tv(ru.ru_stime) } else { Duration::ZERO },
            // ru_maxrss is in KiB on Linux.
            peak_rss_bytes: if ok { ru.ru_maxrss as u64 * 1024 } else { 0 },
        }
    }

    /// Average CPU use between `earlier` and this snapshot, in percent of one core.
    pub fn cpu_percent_since(&self, earlier: &Usage) -> f64 {
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        if wall <= 0.0 {
            return 0.0;
        }
        100.0 * self.cpu.saturating_sub(earlier.cpu).as_secs_f64() / wall
    }
}

/// The process's resident memory now, in bytes (`/proc/self/statm`; 0 where unreadable).
pub fn current_rss_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages: u64 = text.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// Memory available to new allocations (`MemAvailable`), if the system reports it.
pub fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_loop_shows_cpu_and_allocation_shows_memory() {
        let before = Usage::now();
        let data = vec![1u8; 64 << 20];
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(200) {
            x = x.wrapping_add(data[(x as usize) % data.len()] as u64);
        }
        let after = Usage::now();
        assert!(x > 0);
        assert!(after.cpu_percent_since(&before) > 50.0, "one busy thread should use most of a core");
        assert!(after.peak_rss_bytes >= 64 << 20, "64 MiB touched must show in the peak");
        assert!(available_memory_bytes().is_some_and(|m| m > 0));
        let now = current_rss_bytes();
        assert!(now >= 64 << 20 && now <= after.peak_rss_bytes + (16 << 20), "rss {now}");
        drop(data);
    }
}
