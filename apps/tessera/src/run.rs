//! `tessera run`.

use std::time::Instant;

use tessera::{Array, ChunkSpec, DType, LowerOptions, NoObserver, Observer, Scheduler, format_bytes, lower};
use tessera_expr::{EvalOptions, Value};
use tessera_metrics::{Usage, available_memory_bytes};

use crate::cli::{Device, RunArgs, SchedulerKind};
use crate::error::CliError;
use crate::progress::Progress;
use crate::report::{Measurements, print_report};

/// Share of available memory used as the default limit.
const DEFAULT_MEMORY_SHARE: f64 = 0.8;

/// Evaluates, runs and reports one expression.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    let source = match (&args.expr, &args.file) {
        (Some(e), _) => e.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| CliError::BadInput(format!("cannot read {}: {e}", path.display())))?,
        (None, None) => return Err(CliError::BadInput("give an expression or --file".into())),
    };
    match args.device {
        Device::Cpu => {}
        Device::Gpu => {
            return Err(CliError::Resources(
                "no GPU adapter: this build of tessera has no GPU backend yet; use --device cpu".into(),
            ));
        }
        Device::Auto => eprintln!("device auto: no GPU backend in this build, using the CPU"),
    }
    let bad = |e: &dyn std::fmt::Display| CliError::BadInput(e.to_string());
    let auto_bytes = match &args.chunk_size {
        Some(s) => tessera::parse_bytes(s).map_err(|e| bad(&e))?,
        None => tessera::chunk_byte_target().map_err(|e| CliError::BadInput(format!("TESSERA_CHUNK_SIZE: {e}")))?,
    };
    let chunks = args.chunks.as_deref().map(ChunkSpec::parse).transpose().map_err(|e| bad(&e))?;
    let memory_limit = match &args.memory_limit {
        Some(s) => tessera::parse_bytes(s).map_err(|e| bad(&e))?,
        None => available_memory_bytes().map_or(u64::MAX, |m| (m as f64 * DEFAULT_MEMORY_SHARE) as u64),
    };
    let scheduler = match (args.scheduler, args.workers) {
        (_, Some(0)) => return Err(CliError::BadInput("--workers must be at least 1".into())),
        (SchedulerKind::SingleThreaded, _) => Scheduler::SingleThreaded,
        (SchedulerKind::Threads, Some(n)) => Scheduler::Threads(n),
        (SchedulerKind::Threads, None) => Scheduler::threads(),
    };

    let value = tessera_expr::evaluate(&source, &EvalOptions { chunks, auto_bytes }).map_err(|e| bad(&e))?;
    let array = match value {
        Value::Array(a) => a,
        Value::Number(s) => Array::scalar(s, s.natural_dtype()),
        other => {
            return Err(CliError::BadInput(format!(
                "the expression's result is {}, not an array or a number",
                other.kind()
            )));
        }
    };

    let options = if args.no_fuse { LowerOptions::unfused() } else { LowerOptions::default() };
    let before = Usage::now();
    let start = Instant::now();
    let graph = lower(&array, &options).map_err(|e| bad(&e))?;
    let projected = graph.max_projected_bytes();
    if projected > memory_limit {
        return Err(CliError::Resources(format!(
            "a task would need about {} of memory, more than the memory limit of {}; use smaller chunks or raise --memory-limit",
            format_bytes(projected),
            format_bytes(memory_limit)
        )));
    }
    let progress = args.progress.then(|| Progress::new(graph.tasks.len()));
    let observer: &dyn Observer = match &progress {
        Some(p) => p,
        None => &NoObserver,
    };
    let computed = tessera::run_graph(&graph, scheduler, observer, start)?;
    if let Some(p) = &progress {
        p.finish();
    }
    let after = Usage::now();
    let measurements = Measurements {
        scheduler: scheduler.name(),
        workers: scheduler.workers(),
        fused: !args.no_fuse,
        cpu_percent: after.cpu_percent_since(&before),
        peak_memory_bytes: after.peak_rss_bytes,
        projected_task_bytes: projected,
        memory_limit_bytes: memory_limit,
        chunksize: graph.work_chunksize(),
    };
    print_report(&array, &computed, &measurements, args.json);
    Ok(())
}

/// numpy's name for a dtype (re-exported for the report).
pub fn dtype_name(d: DType) -> &'static str {
    d.name()
}
