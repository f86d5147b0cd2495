//! This machine's bounds for the side-by-side benchmark (`bench/vs_dask.sh`): how fast
//! the work every workload must do can go at all, measured with the same code paths
//! tessera uses, so each workload's time can be stated as a multiple of its bound.
//!
//! Prints one JSON object: `philox_per_core_per_s` (float64 `random` values generated
//! per second on one core), `read_gbs` (GB/s summing a 1 GiB float64 array on every
//! core, a STREAM-like read), `copy_gbs` (GB/s copying 1 GiB on every core), and
//! `zstd_decode_gbs_per_core` (decoded GB/s of zstd level 3 over random float64 on one
//! core, zarr-python's default codec) and `zstd_encode_gbs_per_core`. GEMM flops come from numpy in the recipe.
//!
//! Run: `cargo run --release -p tessera-kernels --example machine_bounds`

use std::hint::black_box;
use std::time::{Duration, Instant};

use tessera_kernels::philox;

/// Repeats `f` for at least `min` and returns the best rate of `units` per second.
fn best_rate(units: f64, min: Duration, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut best = f64::INFINITY;
    while start.elapsed() < min || best.is_infinite() {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    units / best
}

fn philox_rate() -> f64 {
    let mut buf = vec![0.0f64; 1 << 16];
    let mut start = 0u64;
    best_rate(buf.len() as f64, Duration::from_millis(500), || {
        philox::fill_f64(42, start, &mut buf);
        start += buf.len() as u64;
        black_box(&buf);
    })
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// GB/s of `work` applied to `threads` equal parts of `data` at once.
fn parallel_gbs(data: &mut [f64], bytes_per_element: f64, work: impl Fn(&mut [f64]) + Sync) -> f64 {
    let part = data.len().div_ceil(threads());
    let bytes = data.len() as f64 * bytes_per_element;
    best_rate(bytes / 1e9, Duration::from_secs(1), || {
        std::thread::scope(|s| {
            for chunk in data.chunks_mut(part) {
                let work = &work;
                s.spawn(move || work(chunk));
            }
        });
    })
}

fn read_and_copy_gbs() -> (f64, f64) {
    let mut data = vec![0.0f64; 1 << 27];
    philox::fill_f64(1, 0, &mut data);
    let read = parallel_gbs(&mut data, 8.0, |part| {
        // Eight independent lanes, as a vectorized reduction reads.
        let mut lanes = [0.0f64; 8];
        for row in part.chunks_exact(8) {
            for (l, x) in lanes.iter_mut().zip(row) {
                *l += x;
            }
        }
        black_box(lanes);
    });
    // Touched before timing, so the copy does not measure page faults.
    let mut target = vec![1.0f64; data.len()];
    let part = data.len().div_ceil(threads());
    let copy = best_rate(data.len() as f64 * 16.0 / 1e9, Duration::from_secs(1), || {
        std::thread::scope(|s| {
            for (dst, src) in target.chunks_mut(part).zip(data.chunks(part)) {
                s.spawn(move || dst.copy_from_slice(src));
            }
        });
    });
    (read, copy)
}

/// (decode, encode) GB/s of raw bytes on one core.
fn zstd_gbs() -> (f64, f64) {
    let mut values = vec![0.0f64; 2000 * 2000];
    philox::fill_f64(3, 0, &mut values);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let Ok(packed) = zstd::bulk::compress(&raw, 3) else { return (f64::NAN, f64::NAN) };
    let decode = best_rate(raw.len() as f64 / 1e9, Duration::from_millis(500), || {
        black_box(zstd::bulk::decompress(&packed, raw.len()).ok());
    });
    let encode = best_rate(raw.len() as f64 / 1e9, Duration::from_millis(500), || {
        black_box(zstd::bulk::compress(&raw, 3).ok());
    });
    (decode, encode)
}

fn main() {
    let philox = philox_rate();
    let (read, copy) = read_and_copy_gbs();
    let (decode, encode) = zstd_gbs();
    println!(
        "{{\"threads\": {}, \"philox_per_core_per_s\": {philox:.4e}, \"read_gbs\": {read:.2}, \"copy_gbs\": {copy:.2}, \"zstd_decode_gbs_per_core\": {decode:.3}, \"zstd_encode_gbs_per_core\": {encode:.3}}}",
        threads()
    );
}
