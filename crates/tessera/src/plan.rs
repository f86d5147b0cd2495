//! The plan: from a program or an [`Array`] to a task graph that fits, and where it
//! runs. `tessera run`, `tessera sweep` (through `run`) and the UI all plan through
//! here; the binary keeps only argument parsing and rendering.
//!
//! The order is fixed: the chunk target is chosen for the device before anything is
//! evaluated (so the program is evaluated once), then the graph is lowered and checked
//! against the memory limit. A plan that cannot fit is refused with the largest chunks
//! that would, found by evaluating the parsed program again with other chunks (never
//! by formatting and re-parsing text).

use std::path::PathBuf;

use tessera_chunks::{AxisChunks, ChunkSpec, format_bytes};
use tessera_expr::{EvalOptions, Program, Value};
use tessera_graph::{Array, LowerOptions, TaskGraph, lower, lower_all};

/// Where a graph runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Every task on the calling thread.
    SingleThreaded,
    /// A pool of this many threads.
    Threads(usize),
    /// A scheduler and worker processes started for this run on loopback.
    LocalCluster {
        /// Worker processes.
        workers: usize,
        /// Threads of each.
        threads_per_worker: usize,
    },
    /// The running cluster of this cluster file.
    Cluster(PathBuf),
}

impl Placement {
    /// The scheduler's name as `--json` reports it.
    pub fn name(&self) -> &'static str {
        match self {
            Placement::SingleThreaded => "single-threaded",
            Placement::Threads(_) => "threads",
            Placement::LocalCluster { .. } => "local-cluster",
            Placement::Cluster(_) => "cluster",
        }
    }

    /// Whether workers in other processes compute.
    pub fn on_cluster(&self) -> bool {
        matches!(self, Placement::LocalCluster { .. } | Placement::Cluster(_))
    }
}

/// What a plan is made from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A parsed program; `--chunks` and the `auto` target apply to its constructors.
    Program(&'a Program),
    /// An array built through the API, with the chunks it was given.
    Array(&'a Array),
}

/// How to plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Replaces the chunks of every constructor of a program (`--chunks`).
    pub chunks: Option<ChunkSpec>,
    /// The byte target of `auto` chunks, for the device that computes.
    pub auto_bytes: u64,
    /// Optimizer switches.
    pub lower: LowerOptions,
    /// Bytes one task may use.
    pub memory_limit: u64,
}

/// A graph ready to run.
#[derive(Debug)]
pub struct Plan {
    /// The array it computes.
    pub array: Array,
    /// Its tasks.
    pub graph: TaskGraph,
}

/// Why there is no plan.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The program or the array is wrong (syntax, shapes, chunks, limits).
    #[error("{0}")]
    BadInput(String),
    /// A task cannot fit the memory limit.
    #[error(
        "a task would need about {} of memory, more than the memory limit of {}; {}",
        format_bytes(*projected),
        format_bytes(*limit),
        match fits {
            Some(c) => format!("the largest chunks that fit are --chunks {c}; or raise --memory-limit"),
            None => "no chunk size fits; raise --memory-limit".to_string(),
        }
    )]
    TooBig {
        /// The largest task's projection.
        projected: u64,
        /// The limit.
        limit: u64,
        /// The largest square chunk edge at which every task fits, if any.
        fits: Option<usize>,
    },
}

/// Evaluates `source` once and lowers it; refuses a graph whose largest task does not
/// fit the memory limit, naming the largest chunks that would.
pub fn plan(source: Source<'_>, options: &PlanOptions) -> Result<Plan, PlanError> {
    let array = build(source, options.chunks.clone(), options)?;
    let graph = lower(&array, &options.lower).map_err(|e| PlanError::BadInput(e.to_string()))?;
    let projected = graph.max_projected_bytes();
    if projected > options.memory_limit {
        let edge = graph.work_chunksize().into_iter().max().unwrap_or(1);
        let fits = largest_fitting_chunks(source, edge, options);
        return Err(PlanError::TooBig { projected, limit: options.memory_limit, fits });
    }
    Ok(Plan { array, graph })
}

/// Lowers several arrays built through the API into one graph (what they share is
/// computed once); refuses it if its largest task does not fit the memory limit.
pub fn plan_arrays(arrays: &[Array], options: &PlanOptions) -> Result<TaskGraph, PlanError> {
    let graph = lower_all(arrays, &options.lower).map_err(|e| PlanError::BadInput(e.to_string()))?;
    let projected = graph.max_projected_bytes();
    if projected > options.memory_limit {
        return Err(PlanError::TooBig { projected, limit: options.memory_limit, fits: None });
    }
    Ok(graph)
}

/// The array `source` computes with these chunks (a number becomes a 0-d array).
/// Boolean masks are counted on this process's threads, within the memory limit.
fn build(source: Source<'_>, chunks: Option<ChunkSpec>, options: &PlanOptions) -> Result<Array, PlanError> {
    let program = match source {
        Source::Array(a) => return Ok(a.clone()),
        Source::Program(p) => p,
    };
    let eval = EvalOptions {
        chunks,
        auto_bytes: options.auto_bytes,
        count_pass: Some(crate::mask::local_count_pass(options.memory_limit)),
    };
    match program.evaluate(&eval).map_err(|e| PlanError::BadInput(e.to_string()))? {
        Value::Array(a) => Ok(a),
        Value::Number(s) => Ok(Array::scalar(s, s.natural_dtype())),
        other => {
            Err(PlanError::BadInput(format!("the expression's result is {}, not an array or a number", other.kind())))
        }
    }
}

/// Whether every task fits when the program's constructors take square chunks of `edge`.
fn fits(source: Source<'_>, edge: usize, options: &PlanOptions) -> bool {
    let chunks = ChunkSpec::Uniform(AxisChunks::Size(edge));
    let Ok(array) = build(source, Some(chunks), options) else { return false };
    lower(&array, &options.lower).is_ok_and(|g| g.max_projected_bytes() <= options.memory_limit)
}

/// The largest chunk edge below `edge` at which every task fits (to within 2 %), or
/// `None` if even tiny chunks do not, or the source's chunks cannot be changed.
fn largest_fitting_chunks(source: Source<'_>, edge: usize, options: &PlanOptions) -> Option<usize> {
    if matches!(source, Source::Array(_)) {
        return None;
    }
    let fit = |e: usize| fits(source, e, options);
    // Halve until it fits, then search between the last size that did not and it.
    let (mut hi, mut lo) = (edge, edge / 2);
    while lo >= 1 && !fit(lo) {
        hi = lo;
        lo /= 2;
    }
    if lo == 0 {
        return None;
    }
    while hi - lo > (lo / 50).max(1) {
        let mid = lo + (hi - lo) / 2;
        if fit(mid) { lo = mid } else { hi = mid }
    }
    Some(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(memory_limit: u64) -> PlanOptions {
        PlanOptions { chunks: None, auto_bytes: 1 << 20, lower: LowerOptions::default(), memory_limit }
    }

    #[test]
    fn a_program_is_planned_with_the_chunks_asked_for() {
        let program = Program::parse("x = ones((1000, 1000)); (x + x.T).sum()").expect("parses");
        let mut opts = options(u64::MAX);
        opts.chunks = Some(ChunkSpec::Uniform(AxisChunks::Size(250)));
        let plan = plan(Source::Program(&program), &opts).expect("plans");
        assert_eq!(plan.graph.work_chunksize(), vec![250, 250]);
        assert_eq!(plan.array.shape(), &[] as &[usize]);
        // A histogram's chunks are its input's, not those of its rows of counts.
        let counted = Program::parse("histogram(random((1000, 1000)), 10, range=(0, 1))[0]").expect("parses");
        let plan = super::plan(Source::Program(&counted), &opts).expect("plans");
        assert_eq!(plan.graph.work_chunksize(), vec![250, 250]);
    }

    #[test]
    fn a_plan_that_cannot_fit_names_the_largest_chunks_that_do() {
        let program = Program::parse("x = random((2000, 2000), chunks=2000); (x @ x).sum()").expect("parses");
        match plan(Source::Program(&program), &options(8 << 20)) {
            Err(PlanError::TooBig { fits: Some(edge), projected, limit }) => {
                assert!(projected > limit);
                assert!((100..2000).contains(&edge), "{edge}");
                // And at that edge it does fit.
                let mut at = options(8 << 20);
                at.chunks = Some(ChunkSpec::Uniform(AxisChunks::Size(edge)));
                assert!(plan(Source::Program(&program), &at).is_ok());
            }
            other => panic!("expected a refusal with advice, got {:?}", other.map(|p| p.graph.tasks.len())),
        }
        let err = plan(Source::Program(&program), &options(8 << 20)).map(|_| ()).expect_err("refused");
        assert!(err.to_string().contains("the largest chunks that fit are --chunks"), "{err}");
    }

    #[test]
    fn bad_programs_and_results_are_bad_input() {
        let program = Program::parse("ones((3, 4)) + ones((5,))").expect("parses");
        assert!(matches!(plan(Source::Program(&program), &options(u64::MAX)), Err(PlanError::BadInput(_))));
        let program = Program::parse("ones((3, 4)).shape").expect("parses");
        let err = plan(Source::Program(&program), &options(u64::MAX)).map(|_| ()).expect_err("a tuple");
        assert!(err.to_string().contains("not an array or a number"), "{err}");
    }

    #[test]
    fn an_array_from_the_api_is_planned_as_built() {
        let x = Array::ones(&[100], &ChunkSpec::Uniform(AxisChunks::Size(10))).expect("valid");
        let plan = plan(Source::Array(&x), &options(u64::MAX)).expect("plans");
        assert_eq!(plan.graph.tasks.len(), 10);
        assert_eq!(Placement::LocalCluster { workers: 2, threads_per_worker: 1 }.name(), "local-cluster");
    }

    #[test]
    fn several_arrays_are_planned_and_computed_as_one_graph() {
        use crate::Compute;
        let x = Array::random(&[200, 100], 3, &ChunkSpec::Uniform(AxisChunks::Size(30))).expect("valid");
        let sum = x.sum(None).expect("a sum");
        let column = x.slice(&[crate::Index::FULL, crate::Index::At(7)]).expect("a column");
        let graph = plan_arrays(&[sum.clone(), column.clone(), x.clone()], &options(u64::MAX)).expect("plans");
        let run = crate::run_graph(&graph, crate::Scheduler::threads(), &crate::NoObserver, std::time::Instant::now())
            .expect("runs");
        assert_eq!(run.block, sum.compute(crate::Scheduler::SingleThreaded).expect("computes").block);
        assert_eq!(run.more.len(), 2);
        assert_eq!(run.more[0], column.compute(crate::Scheduler::SingleThreaded).expect("computes").block);
        assert_eq!(run.more[1].shape(), &[200, 100]);
        let refused = plan_arrays(&[x.matmul(&x.t()).expect("a product")], &options(1 << 10));
        assert!(matches!(refused, Err(PlanError::TooBig { fits: None, .. })));
    }
}
