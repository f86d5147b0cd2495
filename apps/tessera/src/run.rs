//! `tessera run`.

use std::time::Instant;

use tessera::observe::{SinkObserver, SinkWatch};
use tessera::{
    ChunkSpec, LowerOptions, NoObserver, NoSink, Observer, Placement, Plan, PlanError, PlanOptions, Program, Scheduler,
    Sink, Source,
};
use tessera_metrics::Usage;

use crate::limits::{fix_allocator_threshold, memory_limit};

use crate::cli::{Device, RunArgs, SchedulerKind};
use crate::device::Chosen;
use crate::error::CliError;
use crate::progress::Progress;
use crate::report::{Measurements, print_report};
use tessera::cluster::Client;

/// Evaluates, runs and reports one expression.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    crate::output::check_stdout()?;
    let source = match (&args.expr, &args.file) {
        (Some(e), _) => e.clone(),
        (None, Some(path)) => read_source(path)?,
        (None, None) => return Err(CliError::BadInput("give an expression or --file".into())),
    };
    let bad = |e: &dyn std::fmt::Display| CliError::BadInput(e.to_string());
    let auto_bytes = match &args.chunk_size {
        Some(s) => tessera::parse_bytes(s).map_err(|e| bad(&e))?,
        None => tessera::chunk_byte_target().map_err(|e| CliError::BadInput(format!("TESSERA_CHUNK_SIZE: {e}")))?,
    };
    let chunks = args.chunks.as_deref().map(ChunkSpec::parse).transpose().map_err(|e| bad(&e))?;
    let memory_limit = memory_limit(args.place.memory_limit.as_deref())?;
    if args.place.memory_limit.is_some() {
        fix_allocator_threshold();
    }
    check_placement(&args.place)?;
    let placement = args.place.placement();
    let on_cluster = placement.on_cluster();
    // Syntax errors first, before any device is opened.
    let program = Program::parse(&source).map_err(|e| bad(&e))?;
    let options = PlanOptions {
        chunks,
        auto_bytes,
        lower: if args.no_fuse { LowerOptions::unfused() } else { LowerOptions::default() },
        memory_limit,
    };
    // The chunk target follows the device: known before evaluation for `cpu` and `gpu`
    // (so bad input is reported before a GPU is opened), after opening it for `auto`.
    let explicit_size = args.chunk_size.is_some() || std::env::var_os("TESSERA_CHUNK_SIZE").is_some();
    let for_device = |gpu: bool| PlanOptions {
        auto_bytes: if gpu && !explicit_size { crate::device::GPU_CHUNK_BYTES } else { auto_bytes },
        ..options.clone()
    };
    let plan_with = |options: &PlanOptions| tessera::plan(Source::Program(&program), options).map_err(plan_error);
    // Opening a GPU (driver start-up) is timed apart from the run, like starting a process.
    // On a cluster the workers compute: `--device gpu` sends the work to workers with a
    // GPU (a local cluster's workers open theirs; this process only checks there is one).
    let before = Usage::now();
    let io_before = (tessera::bytes_read(), tessera::bytes_written());
    let mut start = Instant::now();
    let (plan, device, device_open) = if !on_cluster && args.device == Device::Auto {
        let device = Chosen::open(Device::Auto)?;
        let device_open = start.elapsed();
        start = Instant::now();
        (plan_with(&for_device(device.name() == "gpu"))?, device, device_open)
    } else {
        let plan = plan_with(&for_device(args.device == Device::Gpu))?;
        let opening = Instant::now();
        let device = if on_cluster {
            if matches!(placement, Placement::LocalCluster { .. }) && args.device == Device::Gpu {
                Chosen::open(Device::Gpu)?;
            }
            Chosen::Cpu
        } else {
            Chosen::open(args.device)?
        };
        let device_open = opening.elapsed();
        // The run's clock leaves the device's opening out.
        start += device_open;
        (plan, device, device_open)
    };
    let Plan { array, graph } = plan;
    let projected = graph.max_projected_bytes();
    device.check(&graph)?;
    let progress = args.progress.then(|| Progress::new(&graph));
    let sink: &dyn Sink = match &progress {
        Some(p) => p,
        None => &NoSink,
    };
    let on_cluster_file = |file: &std::path::Path| -> Result<(tessera::Computed, usize, usize), CliError> {
        let mut client = Client::connect(file)?;
        let watch = SinkWatch::new(sink, start);
        let computed = tessera::run_graph_on_cluster(&graph, &mut client, &watch, start, args.device == Device::Gpu)?;
        // What ran: the worker processes that took part, not what was asked for.
        let (workers, threads) = (computed.workers.len(), computed.workers.iter().map(|w| w.threads as usize).sum());
        Ok((computed, workers, threads))
    };
    let (computed, workers, threads) = match &placement {
        &Placement::LocalCluster { workers, threads_per_worker } => {
            let limit = memory_limit / workers as u64;
            let local = crate::cluster::start_local(workers, threads_per_worker, limit, args.device.as_str())?;
            on_cluster_file(&local.cluster_file())?
        }
        Placement::Cluster(file) => on_cluster_file(file)?,
        Placement::SingleThreaded | Placement::Threads(_) => {
            let scheduler = match placement {
                Placement::Threads(n) => Scheduler::Threads(n),
                _ => Scheduler::SingleThreaded,
            };
            let feeding = SinkObserver::new(sink, start);
            // Without progress nothing listens: no event is made per task.
            let observer: &dyn Observer = if progress.is_some() { &feeding } else { &NoObserver };
            // The process itself (code, runtime, the graph) uses part of the limit already.
            let budget = memory_limit.saturating_sub(tessera_metrics::current_rss_bytes());
            let computed = tessera::run_graph_on(&graph, device.backend(), scheduler, observer, start, budget)?;
            // Locally each thread is a worker (Dask's `num_workers` of the threads scheduler).
            (computed, scheduler.workers(), scheduler.workers())
        }
    };
    let scheduler_name = placement.name();
    if let Some(p) = &progress {
        p.finish();
    }
    let (cpu_percent, peak_memory_bytes) = run_usage(&before, &Usage::now(), &computed);
    let (workers_read, workers_written) =
        computed.workers.iter().fold((0, 0), |(r, w), x| (r + x.bytes_read, w + x.bytes_written));
    let bytes_read = tessera::bytes_read() - io_before.0 + workers_read;
    let bytes_written = tessera::bytes_written() - io_before.1 + workers_written;
    let measurements = Measurements {
        scheduler: scheduler_name,
        workers,
        threads,
        fused: !args.no_fuse,
        cpu_percent,
        peak_memory_bytes,
        projected_task_bytes: projected,
        memory_limit_bytes: memory_limit,
        chunksize: graph.work_chunksize(),
        resource_scope: if computed.workers.is_empty() { "process" } else { "client and workers" },
        device: if on_cluster { args.device.as_str() } else { device.name() },
        adapter: if on_cluster { "the workers' own".into() } else { device.describe() },
        device_tasks: device.task_counts(),
        device_open_s: device_open.as_secs_f64(),
        writes: tessera::summaries(&graph, &computed.block),
        bytes_read,
        bytes_written,
    };
    print_report(&array, &computed, &measurements, args.json)
}

/// Refuses thread and worker counts the machine cannot hold, before anything starts.
pub fn check_placement(place: &crate::cli::PlacementArgs) -> Result<(), CliError> {
    crate::limits::check_threads("--threads-per-worker", place.threads_per_worker)?;
    match (place.scheduler, place.workers) {
        (SchedulerKind::LocalCluster, Some(n)) if place.cluster_file.is_none() => crate::limits::check_local_workers(n),
        (_, Some(n)) => crate::limits::check_threads("--workers", n),
        (_, None) => Ok(()),
    }
}

/// Reads a program file, at most [`tessera_expr::MAX_SOURCE_BYTES`] of it (`--file
/// /dev/zero` must not read until memory runs out).
fn read_source(path: &std::path::Path) -> Result<String, CliError> {
    use std::io::Read as _;
    let cannot = |e: std::io::Error| CliError::BadInput(format!("cannot read {}: {e}", path.display()));
    let limit = tessera_expr::MAX_SOURCE_BYTES;
    let mut bytes = Vec::new();
    tessera::open_regular(path, false)
        .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes))
        .map_err(cannot)?;
    if bytes.len() > limit {
        return Err(CliError::BadInput(format!(
            "{} is larger than the limit of {} for a program",
            path.display(),
            tessera::format_bytes(limit as u64)
        )));
    }
    String::from_utf8(bytes).map_err(|_| CliError::BadInput(format!("{} is not UTF-8 text", path.display())))
}

/// A run's CPU use (100 = one core) and peak memory: this process's, plus every
/// worker's on a cluster.
pub fn run_usage(before: &Usage, after: &Usage, computed: &tessera::Computed) -> (f64, u64) {
    let worker_cpu: f64 = computed.workers.iter().map(|w| w.cpu_seconds).sum();
    let worker_peaks: u64 = computed.workers.iter().map(|w| w.peak_rss_bytes).sum();
    let wall = after.at.duration_since(before.at).as_secs_f64().max(1e-9);
    (after.cpu_percent_since(before) + 100.0 * worker_cpu / wall, after.peak_rss_bytes + worker_peaks)
}

/// A plan refused: bad input (exit 2), or a task that cannot fit (exit 3).
pub fn plan_error(e: PlanError) -> CliError {
    match e {
        PlanError::BadInput(m) => CliError::BadInput(m),
        too_big @ PlanError::TooBig { .. } => CliError::Resources(too_big.to_string()),
    }
}
