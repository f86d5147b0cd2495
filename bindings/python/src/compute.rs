//! Computing arrays from Python: planned against the memory limit, run off the GIL on
//! a thread of its own while the calling thread reports progress and polls for Ctrl-C
//! (which cancels the run), and returned as numpy arrays that own the result's buffer.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use numpy::IntoPyArray;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tessera::cluster::{Client, LocalCluster, Standalone, WorkerOptions};
use tessera::observe::{SinkObserver, SinkWatch};
use tessera::{Backend, Block, CpuBackend, LowerOptions, PlanOptions, Scheduler, Sink, TaskEvent, TaskGraph};

use crate::errors;
use crate::values::Handle;

/// How often the waiting thread reports progress and checks for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);

/// Tasks done, and whether to stop: fed by the run, read by the waiting thread.
#[derive(Default)]
struct Progress {
    done: AtomicU64,
    cancel: AtomicBool,
}

impl Sink for Progress {
    fn task(&self, _event: &TaskEvent) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    fn layer_counts(&self, done: &[u64]) {
        self.done.store(done.iter().sum::<u64>(), Ordering::Relaxed);
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

/// Where graphs run.
enum Placement {
    Local { scheduler: Scheduler, backend: Arc<dyn Backend> },
    Cluster { file: PathBuf, gpu_only: bool },
}

/// The most threads one run may ask for (as the CLI's `--threads`): past a thread per
/// core nothing is faster, and the stacks alone take gigabytes.
const MAX_THREADS: usize = 1024;

/// The GPU backend, opened once per process (opening a device takes a fraction of a
/// second), or why there is none.
fn gpu_backend(py: Python<'_>) -> PyResult<Arc<dyn Backend>> {
    type Opened = Result<(Arc<dyn Backend>, Option<String>), String>;
    static GPU: std::sync::OnceLock<Opened> = std::sync::OnceLock::new();
    let (backend, emulated) = GPU
        .get_or_init(|| {
            tessera::gpu::GpuBackend::new()
                .map(|b| {
                    let emulated = b.emulation_warning();
                    (Arc::new(b) as Arc<dyn Backend>, emulated)
                })
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| errors::DeviceError::new_err(format!("no GPU adapter: {e}")))?;
    if let Some(why) = emulated {
        let category = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
        PyErr::warn(py, &category, &std::ffi::CString::new(why).unwrap_or_default(), 1)?;
    }
    Ok(backend)
}

/// Whether a GPU adapter can be opened here (and if not, why).
#[pyfunction]
pub fn gpu_available() -> (bool, String) {
    match tessera::gpu::GpuBackend::new() {
        Ok(_) => (true, String::new()),
        Err(e) => (false, e.to_string()),
    }
}

fn placement(
    py: Python<'_>,
    scheduler: &str,
    threads: Option<usize>,
    cluster_file: Option<PathBuf>,
    device: &str,
) -> PyResult<Placement> {
    if !matches!(device, "cpu" | "gpu") {
        return Err(PyValueError::new_err(format!("device must be 'cpu' or 'gpu', not {device:?}")));
    }
    if let Some(file) = cluster_file {
        return Ok(Placement::Cluster { file, gpu_only: device == "gpu" });
    }
    let scheduler = match (scheduler, threads) {
        ("single-threaded" | "sync" | "synchronous", _) => Scheduler::SingleThreaded,
        ("threads" | "threading", Some(n)) if n == 0 || n > MAX_THREADS => {
            return Err(PyValueError::new_err(format!("num_workers must be between 1 and {MAX_THREADS}, not {n}")));
        }
        ("threads" | "threading", Some(n)) => Scheduler::Threads(n),
        ("threads" | "threading", None) => Scheduler::threads(),
        (other, _) => {
            return Err(PyValueError::new_err(format!(
                "unknown scheduler {other:?}: 'single-threaded', 'threads', or a tessera.distributed.Client"
            )));
        }
    };
    let backend: Arc<dyn Backend> = if device == "gpu" { gpu_backend(py)? } else { Arc::new(CpuBackend) };
    Ok(Placement::Local { scheduler, backend })
}

/// Runs the graph; its results' blocks, or the failure.
fn run(graph: &TaskGraph, placement: &Placement, progress: &Progress, limit: u64) -> PyResult<Vec<Block>> {
    let start = Instant::now();
    let computed = match placement {
        Placement::Cluster { file, gpu_only } => {
            let mut client = Client::connect(file).map_err(errors::from_cluster)?;
            let watch = SinkWatch::new(progress, start);
            tessera::run_graph_on_cluster(graph, &mut client, &watch, start, *gpu_only).map_err(errors::from_cluster)?
        }
        Placement::Local { scheduler, backend } => {
            let observer = SinkObserver::new(progress, start);
            let budget = limit.saturating_sub(tessera::current_rss_bytes());
            tessera::run_graph_on(graph, backend.as_ref(), *scheduler, &observer, start, budget)
                .map_err(errors::from_run)?
        }
    };
    Ok(std::iter::once(computed.block).chain(computed.more).collect())
}

/// A result block as a numpy array that owns its buffer.
fn to_numpy(py: Python<'_>, block: Block) -> Py<PyAny> {
    match block {
        Block::F64(a) => a.into_pyarray(py).into_any().unbind(),
        Block::F32(a) => a.into_pyarray(py).into_any().unbind(),
        Block::I64(a) => a.into_pyarray(py).into_any().unbind(),
        Block::Bool(a) => a.into_pyarray(py).into_any().unbind(),
    }
}

/// Computes `arrays` in one graph (what they share is computed once) and returns
/// numpy arrays.
/// `progress(done, total, seconds, finished)` is called from this thread while it runs
/// and once when it has finished;
/// Ctrl-C (or an exception from `progress`) cancels the run and is raised.
#[pyfunction]
#[pyo3(signature = (arrays, scheduler="threads", num_workers=None, cluster_file=None, device="cpu", progress=None, memory_limit=None))]
#[allow(clippy::too_many_arguments)]
pub fn compute(
    py: Python<'_>,
    arrays: Vec<Py<Handle>>,
    scheduler: &str,
    num_workers: Option<usize>,
    cluster_file: Option<PathBuf>,
    device: &str,
    progress: Option<Bound<'_, PyAny>>,
    memory_limit: Option<u64>,
) -> PyResult<Vec<Py<PyAny>>> {
    let limit = memory_limit.unwrap_or_else(tessera::default_memory_limit);
    let options = PlanOptions { chunks: None, auto_bytes: 0, lower: LowerOptions::default(), memory_limit: limit };
    if arrays.is_empty() {
        return Ok(Vec::new());
    }
    let arrays: Vec<tessera::Array> = arrays.iter().map(|h| h.get().array.clone()).collect();
    let graph = py.detach(|| tessera::plan_arrays(&arrays, &options)).map_err(errors::from_plan)?;
    let placement = placement(py, scheduler, num_workers, cluster_file, device)?;
    let total = graph.tasks.len() as u64;
    let state = Progress::default();
    let start = Instant::now();
    let (sender, receiver) = mpsc::channel();
    // Waited on without the GIL, so shared with the detached closure.
    let receiver = Mutex::new(receiver);
    let wait = |timeout: Duration| receiver.lock().unwrap_or_else(|e| e.into_inner()).recv_timeout(timeout);
    let outcome = std::thread::scope(|scope| -> PyResult<Vec<Block>> {
        let (graph, placement, state) = (&graph, &placement, &state);
        scope.spawn(move || {
            let _ = sender.send(run(graph, placement, state, limit));
        });
        loop {
            match py.detach(|| wait(POLL)) {
                Ok(result) => return result,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(errors::ClusterError::new_err("the run's thread ended without a result"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            let report = || -> PyResult<()> {
                if let Some(p) = &progress {
                    let done = state.done.load(Ordering::Relaxed).min(total);
                    p.call1((done, total, start.elapsed().as_secs_f64(), false))?;
                }
                py.check_signals()
            };
            if let Err(interrupt) = report() {
                state.cancel.store(true, Ordering::Relaxed);
                // The run stops before its next task; wait for it, then raise.
                let _ = py.detach(|| wait(Duration::MAX));
                return Err(interrupt);
            }
        }
    });
    let blocks = outcome?;
    if let Some(p) = &progress {
        p.call1((total, total, start.elapsed().as_secs_f64(), true))?;
    }
    Ok(blocks.into_iter().map(|b| to_numpy(py, b)).collect())
}

/// A cluster started from Python: worker processes (`processes=True`, like Dask's
/// `LocalCluster`) or workers inside this process, talking QUIC on loopback either way.
#[pyclass(module = "tessera._core", frozen)]
pub struct Cluster {
    inner: Mutex<Option<Running>>,
    file: PathBuf,
}

enum Running {
    Processes(LocalCluster),
    InProcess(Standalone),
}

#[pymethods]
impl Cluster {
    /// Starts `n_workers` workers of `threads` threads and `memory_limit` bytes each;
    /// with `command`, as processes of that program (`python -m tessera._serve`).
    #[new]
    #[pyo3(signature = (n_workers, threads, memory_limit, command=None))]
    fn new(
        py: Python<'_>,
        n_workers: usize,
        threads: usize,
        memory_limit: u64,
        command: Option<Vec<String>>,
    ) -> PyResult<Cluster> {
        if n_workers == 0 || threads == 0 {
            return Err(PyValueError::new_err("n_workers and threads_per_worker must be at least 1"));
        }
        let running = py
            .detach(|| match &command {
                Some(command) => {
                    let command: Vec<std::ffi::OsString> = command.iter().map(Into::into).collect();
                    LocalCluster::start_command(&command, n_workers, threads, memory_limit, "cpu")
                        .map(Running::Processes)
                }
                None => {
                    let options = WorkerOptions {
                        name: "worker".into(),
                        threads,
                        memory_limit,
                        backend: Arc::new(CpuBackend),
                        gpu: None,
                    };
                    Standalone::start(n_workers, options).map(Running::InProcess)
                }
            })
            .map_err(errors::from_cluster)?;
        let file = match &running {
            Running::Processes(c) => c.cluster_file(),
            Running::InProcess(c) => c.cluster_file().to_path_buf(),
        };
        Ok(Cluster { inner: Mutex::new(Some(running)), file })
    }

    /// The cluster file clients connect with.
    #[getter]
    fn cluster_file(&self) -> PathBuf {
        self.file.clone()
    }

    /// Stops every worker and the scheduler (processes get SIGTERM, then SIGKILL).
    fn close(&self, py: Python<'_>) {
        let running = self.inner.lock().unwrap_or_else(|e| e.into_inner()).take();
        py.detach(move || drop(running));
    }
}
