//! Printing a run's result: one JSON object (`--json`), or a result line on stdout and
//! a summary on stderr.

use serde::Serialize;
use serde_json::{Value as Json, json};
use tessera::{Array, Block, Computed, WorkerRun, WriteSummary, format_bytes};

use crate::error::CliError;
use crate::output::print_line;

/// Values shown of an array result.
const SHOWN_VALUES: usize = 10;

/// What the run measured besides the result.
pub struct Measurements {
    /// Scheduler name.
    pub scheduler: &'static str,
    /// Worker processes of the cluster that ran it; threads for a local run.
    pub workers: usize,
    /// Threads that computed tasks, over all workers.
    pub threads: usize,
    /// Whether fusion was on.
    pub fused: bool,
    /// Average CPU use during the run (100 = one core).
    pub cpu_percent: f64,
    /// Peak resident memory of the process.
    pub peak_memory_bytes: u64,
    /// The largest projected task size.
    pub projected_task_bytes: u64,
    /// The memory limit in force.
    pub memory_limit_bytes: u64,
    /// The chunk size of the blocks the computation walks.
    pub chunksize: Vec<usize>,
    /// Whose CPU and memory `cpu_percent` and `peak_memory_bytes` measure.
    pub resource_scope: &'static str,
    /// `cpu` or `gpu`.
    pub device: &'static str,
    /// The adapter's name (`cpu` on the CPU).
    pub adapter: String,
    /// On a GPU: tasks whose kernels ran on it, and tasks it left to the CPU.
    pub device_tasks: Option<(u64, u64)>,
    /// Seconds spent opening the device (not part of `wall_s`).
    pub device_open_s: f64,
    /// For a source that writes: what each write did.
    pub writes: Option<Vec<WriteSummary>>,
    /// Bytes read from and written to stored arrays (this process and its workers).
    pub bytes_read: u64,
    /// See `bytes_read`.
    pub bytes_written: u64,
}

#[derive(Serialize)]
struct RunReport<'a> {
    result: Json,
    shape: &'a [usize],
    dtype: &'static str,
    chunksize: Vec<usize>,
    nchunks: usize,
    tasks: usize,
    scheduler: &'static str,
    workers: usize,
    threads: usize,
    device: &'static str,
    adapter: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    gpu_tasks: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_fallback_tasks: Option<u64>,
    fused: bool,
    device_open_s: f64,
    wall_s: f64,
    cpu_percent: f64,
    peak_memory_bytes: u64,
    projected_task_bytes: u64,
    memory_limit_bytes: u64,
    resource_scope: &'static str,
    spilled_bytes: u64,
    bytes_read: u64,
    bytes_written: u64,
    /// What the plan changed on the user's behalf (e.g. a reshape that rechunked).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    cluster_workers: &'a [WorkerRun],
    #[serde(skip_serializing_if = "Option::is_none")]
    transfer: Option<Transfer>,
}

/// Value bytes moved between workers and how fast they moved.
#[derive(Serialize)]
struct Transfer {
    bytes: u64,
    /// Bytes over the time at least one fetch was in flight, summed over workers.
    gb_per_s: f64,
}

fn transfer(workers: &[WorkerRun]) -> Option<Transfer> {
    let bytes: u64 = workers.iter().map(|w| w.bytes_in).sum();
    let seconds: f64 = workers.iter().map(|w| w.fetch_seconds).sum();
    (bytes > 0 && seconds > 0.0).then(|| Transfer { bytes, gb_per_s: bytes as f64 / seconds / 1e9 })
}

/// A float as JSON: a number, or for the values JSON has no number for, the strings
/// `"inf"`, `"-inf"` and `"nan"` (the contract in ARCHITECTURE.md; never `null`).
fn float_json(v: f64) -> Json {
    if v.is_nan() {
        json!("nan")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(v)
    }
}

fn element(block: &Block, i: usize) -> Json {
    match block {
        Block::F64(a) => a.as_slice().and_then(|s| s.get(i)).map_or(Json::Null, |&v| float_json(v)),
        Block::F32(a) => a.as_slice().and_then(|s| s.get(i)).map_or(Json::Null, |&v| float_json(f64::from(v))),
        Block::I64(a) => a.as_slice().and_then(|s| s.get(i)).map_or(Json::Null, |&v| json!(v)),
        Block::Bool(a) => a.as_slice().and_then(|s| s.get(i)).map_or(Json::Null, |&v| json!(v)),
    }
}

fn result_json(block: &Block) -> Json {
    if block.shape().is_empty() {
        return element(block, 0);
    }
    let n: usize = block.shape().iter().product();
    json!({
        "shape": block.shape(),
        "dtype": block.dtype().name(),
        "values": (0..n.min(SHOWN_VALUES)).map(|i| element(block, i)).collect::<Vec<_>>(),
    })
}

/// The summaries of a source's writes, as JSON.
fn writes_json(writes: &[WriteSummary]) -> Json {
    Json::Array(
        writes
            .iter()
            .map(|w| {
                let t = &w.target;
                json!({
                    "path": t.path,
                    "component": if t.component.is_empty() { Json::Null } else { json!(t.component) },
                    "format": t.format.name(),
                    "shape": t.shape,
                    "dtype": t.dtype.name(),
                    "chunks": if t.format == tessera::Format::Npy { Json::Null } else { json!(t.chunk_shape) },
                    "chunks_written": w.chunks_written,
                    "bytes_written": w.bytes_written,
                })
            })
            .collect(),
    )
}

/// One line per write: where, what, how much.
fn writes_lines(writes: &[WriteSummary]) -> Vec<String> {
    writes
        .iter()
        .map(|w| {
            let t = &w.target;
            let pieces = match t.format {
                tessera::Format::Npy => format!("{} regions written in parallel", w.chunks_written),
                _ => format!("{} chunks of {:?}", w.chunks_written, t.chunk_shape),
            };
            format!(
                "wrote {}: shape {:?}, {}, {pieces}, {}",
                t.label(),
                t.shape,
                t.dtype,
                format_bytes(w.bytes_written)
            )
        })
        .collect()
}

/// A value as numpy prints it: `1.5`, `inf`, `-inf`, `nan`, `True`.
fn human(v: &Json) -> String {
    match v {
        Json::Number(n) if n.is_f64() => format!("{:?}", n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => s.clone(),
        Json::Bool(b) => if *b { "True" } else { "False" }.into(),
        other => other.to_string(),
    }
}

/// The result in one short line: the number, or the shape and dtype of an array.
pub fn short_result(block: &Block) -> String {
    if block.shape().is_empty() {
        human(&element(block, 0))
    } else {
        format!("array(shape={:?}, dtype={})", block.shape(), block.dtype().name())
    }
}

/// Prints the report; a result that cannot be written is an error.
pub fn print_report(array: &Array, computed: &Computed, m: &Measurements, as_json: bool) -> Result<(), CliError> {
    let result = match &m.writes {
        Some(w) => writes_json(w),
        None => result_json(&computed.block),
    };
    if as_json {
        let report = RunReport {
            result,
            shape: array.shape(),
            dtype: array.dtype().name(),
            chunksize: m.chunksize.clone(),
            nchunks: array.chunks().num_blocks(),
            tasks: computed.tasks,
            scheduler: m.scheduler,
            workers: m.workers,
            threads: m.threads,
            device: m.device,
            adapter: &m.adapter,
            gpu_tasks: m.device_tasks.map(|t| t.0),
            cpu_fallback_tasks: m.device_tasks.map(|t| t.1),
            fused: m.fused,
            device_open_s: (m.device_open_s * 1e3).round() / 1e3,
            wall_s: computed.wall.as_secs_f64(),
            cpu_percent: (m.cpu_percent * 10.0).round() / 10.0,
            peak_memory_bytes: m.peak_memory_bytes,
            projected_task_bytes: m.projected_task_bytes,
            memory_limit_bytes: m.memory_limit_bytes,
            resource_scope: m.resource_scope,
            spilled_bytes: computed.spilled_bytes,
            bytes_read: m.bytes_read,
            bytes_written: m.bytes_written,
            warnings: array.warnings(),
            cluster_workers: &computed.workers,
            transfer: transfer(&computed.workers),
        };
        let text = serde_json::to_string(&report)
            .map_err(|e| CliError::Failed(format!("cannot encode the report as JSON: {e}")))?;
        return print_line(&text);
    }
    if let Some(w) = &m.writes {
        for line in writes_lines(w) {
            print_line(&line)?;
        }
    } else if array.shape().is_empty() {
        print_line(&human(&result))?;
    } else {
        let n = array.len();
        let values: Vec<String> = result["values"].as_array().map_or(Vec::new(), |v| v.iter().map(human).collect());
        let more = if n > SHOWN_VALUES { ", ..." } else { "" };
        print_line(&format!(
            "array(shape={:?}, dtype={}): [{}{more}]",
            array.shape(),
            array.dtype().name(),
            values.join(", ")
        ))?;
    }
    for w in array.warnings() {
        warn!("warning: {w}");
    }
    let unit = if computed.workers.is_empty() { "threads" } else { "workers" };
    warn!(
        "{} tasks in {:.3} s on {} ({} {unit}), cpu {:.0}%, peak memory {}",
        computed.tasks,
        computed.wall.as_secs_f64(),
        m.scheduler,
        m.workers,
        m.cpu_percent,
        format_bytes(m.peak_memory_bytes)
    );
    if let Some((gpu, cpu)) = m.device_tasks {
        warn!("  on {}: {gpu} tasks computed on the GPU, {cpu} left to the CPU", m.adapter);
    }
    if m.bytes_read > 0 || m.bytes_written > 0 {
        warn!("  read {} and wrote {} of stored arrays", format_bytes(m.bytes_read), format_bytes(m.bytes_written));
    }
    if computed.spilled_bytes > 0 {
        warn!("  spilled {} to disk to stay under the memory limit", format_bytes(computed.spilled_bytes));
    }
    for w in &computed.workers {
        warn!(
            "  {}: {} tasks, cpu {:.1} s, peak memory {}, fetched {}, served {}",
            w.name,
            w.tasks,
            w.cpu_seconds,
            format_bytes(w.peak_rss_bytes),
            format_bytes(w.bytes_in),
            format_bytes(w.bytes_out)
        );
    }
    if let Some(t) = transfer(&computed.workers) {
        warn!("  moved {} between workers at {:.2} GB/s", format_bytes(t.bytes), t.gb_per_s);
    }
    Ok(())
}
