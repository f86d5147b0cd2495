//! Tunes glibc's allocator for chunked evaluation.
//!
//! Kernels allocate and free tile and block buffers of a few hundred KiB to tens of
//! MiB at a high rate. glibc serves those above its mmap threshold with a fresh
//! `mmap` each and returns them with `munmap`, so every tile paid page faults and TLB
//! shootdowns (measured: over a third of an elementwise chain's time in the kernel).
//! A fixed 256 MiB threshold keeps them in the heap for reuse, chunks of a few
//! thousand squared included (a fetched or generated 64 MB block faulted in its pages
//! afresh each time with 64 MiB: a rechunk moving 2 GB between two workers went from
//! 4.1 s to 2.7 s); the trim threshold still hands memory back to the system once more
//! than 256 MiB sits free at the top.

/// Applies the settings (glibc on Linux only; elsewhere the system allocator's
/// defaults stay).
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const LIMIT: libc::c_int = 256 << 20;
        // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, LIMIT);
            libc::mallopt(libc::M_TRIM_THRESHOLD, LIMIT);
        }
    }
}
