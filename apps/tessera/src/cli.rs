//! Command-line flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// tessera: chunked n-dimensional arrays, fused and scheduled.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, long_about = None)]
pub struct Cli {
    /// What to do; without a command, the seed's computation runs with a progress bar.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate an expression and print its result.
    Run(RunArgs),
    /// Run an expression once per chunk size and compare wall time, CPU and memory.
    Sweep(SweepArgs),
    /// Watch a computation in the terminal: progress, workers, history.
    Ui(UiArgs),
    /// Start a cluster scheduler and write its cluster file.
    Scheduler(SchedulerArgs),
    /// Start a worker that joins the cluster described by a cluster file.
    Worker(WorkerArgs),
    /// Show what a stored array (Zarr, .npy, HDF5) or group holds, as Dask's repr does.
    Info(InfoArgs),
    /// Start a scheduler here and workers through Slurm or over SSH; stop them again.
    Launch(LaunchArgs),
}

/// `tessera launch`
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// Which launcher.
    #[command(subcommand)]
    pub how: Launcher,
}

/// The launchers.
#[derive(Debug, Subcommand)]
pub enum Launcher {
    /// Workers as Slurm batch jobs (one `sbatch` job per worker), like dask-jobqueue's SLURMCluster.
    Slurm(SlurmArgs),
    /// Workers started over ssh on the given hosts, like Dask's SSHCluster.
    Ssh(SshArgs),
    /// Stop what `tessera launch` started for a cluster file: cancel its jobs, stop its
    /// workers and its scheduler.
    Stop(StopArgs),
}

/// Where the launcher's scheduler listens and writes its cluster file.
#[derive(Debug, Clone, Args)]
pub struct LaunchPlace {
    /// Where to write the cluster file (mode 0600); workers must be able to read it.
    #[arg(long, default_value = "tessera-cluster.json")]
    pub cluster_file: PathBuf,
    /// Address the scheduler listens on (default: this host's address on its default
    /// route, port chosen by the system).
    #[arg(long)]
    pub listen: Option<String>,
}

/// `tessera launch slurm`
#[derive(Debug, Clone, Args)]
pub struct SlurmArgs {
    /// Worker jobs to submit.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Cores per job (the worker's threads).
    #[arg(long, default_value_t = 1)]
    pub cores: usize,
    /// Memory per job (`--mem`; the worker's memory limit), e.g. 4GiB.
    #[arg(long)]
    pub memory: String,
    /// Walltime per job (`--time`), e.g. 1:00:00.
    #[arg(long)]
    pub walltime: Option<String>,
    /// Slurm partition (`--partition`).
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm account (`--account`).
    #[arg(long)]
    pub account: Option<String>,
    /// Another `#SBATCH` line for the job script (repeatable), e.g. "--qos=debug".
    #[arg(long, allow_hyphen_values = true)]
    pub job_extra: Vec<String>,
    /// The tessera program on the compute nodes (default: this one's path).
    #[arg(long)]
    pub program: Option<PathBuf>,
    /// Scale between MIN and MAX worker jobs: one more while tasks wait for a free
    /// worker, one fewer after 10 s with nothing to do (its worker hands over first).
    #[arg(long, value_name = "MIN:MAX")]
    pub adapt: Option<String>,
    /// Run the scheduler as a Slurm job of its own instead of in this process.
    #[arg(long)]
    pub scheduler_job: bool,
    /// Print the job script and submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Scheduler address and cluster file.
    #[command(flatten)]
    pub place: LaunchPlace,
}

/// `tessera launch ssh`
#[derive(Debug, Clone, Args)]
pub struct SshArgs {
    /// Hosts to start one worker on each, comma-separated (names from your ssh config work).
    #[arg(long, value_delimiter = ',', required = true)]
    pub hosts: Vec<String>,
    /// Threads per worker (default: one per core of its host).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Memory limit per worker (default: 80% of its host's available memory).
    #[arg(long)]
    pub memory: Option<String>,
    /// The tessera program on the hosts (default: this one's path).
    #[arg(long)]
    pub program: Option<PathBuf>,
    /// Run the scheduler on this host (over ssh) instead of in this process.
    #[arg(long)]
    pub scheduler_host: Option<String>,
    /// An ssh config file to use instead of ~/.ssh/config (`ssh -F`).
    #[arg(long)]
    pub ssh_config: Option<PathBuf>,
    /// Scheduler address and cluster file.
    #[command(flatten)]
    pub place: LaunchPlace,
}

/// `tessera launch stop`
#[derive(Debug, Args)]
pub struct StopArgs {
    /// The cluster file of the launched cluster.
    pub cluster_file: PathBuf,
}

/// `tessera info`
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A Zarr store (directory), a .npy file or an HDF5 file.
    pub path: PathBuf,
    /// An array inside: a Zarr array path or an HDF5 dataset.
    #[arg(long)]
    pub component: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `tessera scheduler`
#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// Address to listen on (use a LAN address for workers on other machines; `auto`:
    /// this host's address on its default route).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Where to write the cluster file (address, certificate, secret; mode 0600).
    #[arg(long, default_value = "tessera-cluster.json")]
    pub cluster_file: PathBuf,
}

/// `tessera worker`
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The scheduler's cluster file.
    #[arg(long)]
    pub cluster_file: PathBuf,
    /// Tasks computed at once (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Memory this worker may use (default: 80% of available memory).
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// The worker's name in logs.
    #[arg(long)]
    pub name: Option<String>,
    /// The device that computes.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,
}

/// Schedulers available in this build.
/// `tessera ui`: the terminal UI.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The expression (default: the seed's computation).
    pub expr: Option<String>,
    /// Where runs go: `threads` or `local-cluster`.
    #[arg(long, value_enum, default_value_t = SchedulerKind::LocalCluster)]
    pub scheduler: SchedulerKind,
    /// Workers of the local cluster (or threads).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Threads per local-cluster worker.
    #[arg(long, default_value_t = 1)]
    pub threads_per_worker: usize,
    /// Memory limit.
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// Run on an existing cluster instead of starting one.
    #[arg(long, conflicts_with = "scheduler")]
    pub cluster_file: Option<PathBuf>,
    /// Start the computation at once.
    #[arg(long)]
    pub run: bool,
    /// Start the workers through a launcher instead of a local cluster; its flags
    /// follow `--`, as for `tessera launch slurm|ssh` (e.g. `--launcher slurm -- --jobs 2
    /// --memory 4GiB`). Pending jobs show as worker rows until they join; `+`/`-` add
    /// and remove workers; `q` stops everything launched.
    #[arg(long, value_enum, conflicts_with = "cluster_file")]
    pub launcher: Option<LauncherKind>,
    /// The launcher's flags (after `--`).
    #[arg(last = true)]
    pub launcher_args: Vec<String>,
}

/// Launchers the UI can start workers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LauncherKind {
    /// Slurm batch jobs (`tessera launch slurm`).
    Slurm,
    /// ssh sessions (`tessera launch ssh`).
    Ssh,
}

/// A launcher's flags on their own, as `tessera ui --launcher` takes them after `--`.
#[derive(Debug, Parser)]
#[command(no_binary_name = true)]
pub struct LauncherFlags {
    /// Which launcher and its flags.
    #[command(subcommand)]
    pub how: Launcher,
}

/// `tessera sweep`: the seed's chunk-size experiment in one command.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// The expression (as for `tessera run`).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub expr: Option<String>,
    /// Read the expression from a file.
    #[arg(long, short)]
    pub file: Option<PathBuf>,
    /// Chunk sizes to try, comma-separated: `1000,2000,4000,10000,auto` (a tuple such as
    /// `(1000, 500)` counts as one).
    #[arg(long, allow_hyphen_values = true)]
    pub chunks: String,
    /// Runs per chunk size (1 to 1000); the median wall time is reported.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    pub repeat: usize,
    /// Where every run goes, and its memory limit.
    #[command(flatten)]
    pub place: PlacementArgs,
    /// Write an SVG plot of wall time and peak memory against chunk size.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print a JSON array, one `tessera run --json` object per chunk size.
    #[arg(long)]
    pub json: bool,
    /// Lower without fusion.
    #[arg(long)]
    pub no_fuse: bool,
}

/// Where `run` and `sweep` compute, and under which memory limit.
#[derive(Debug, Clone, Args)]
pub struct PlacementArgs {
    /// Where to run the tasks.
    #[arg(long, value_enum, default_value_t = SchedulerKind::Threads)]
    pub scheduler: SchedulerKind,
    /// Threads of the threads scheduler, or worker processes of local-cluster (default: one per core / 2).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Threads of each local-cluster worker.
    #[arg(long, default_value_t = 1)]
    pub threads_per_worker: usize,
    /// Run on an existing cluster (see `tessera scheduler`).
    #[arg(long, conflicts_with = "scheduler")]
    pub cluster_file: Option<PathBuf>,
    /// Refuse plans with a task projected to need more memory than this (default: 80% of available memory).
    #[arg(long)]
    pub memory_limit: Option<String>,
}

impl PlacementArgs {
    /// Where the flags say to run: `--workers` threads (one per core by default), a
    /// local cluster of `--workers` processes (2 by default), or the cluster of
    /// `--cluster-file`.
    pub fn placement(&self) -> tessera::Placement {
        use tessera::Placement;
        match (&self.cluster_file, self.scheduler) {
            (Some(file), _) => Placement::Cluster(file.clone()),
            (None, SchedulerKind::SingleThreaded) => Placement::SingleThreaded,
            (None, SchedulerKind::Threads) => {
                Placement::Threads(self.workers.unwrap_or_else(|| tessera::Scheduler::threads().workers()))
            }
            (None, SchedulerKind::LocalCluster) => Placement::LocalCluster {
                workers: self.workers.unwrap_or(2),
                threads_per_worker: self.threads_per_worker,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedulerKind {
    /// Every task on one thread, in priority order.
    SingleThreaded,
    /// A thread pool (one thread per core unless --workers says otherwise).
    Threads,
    /// A scheduler and --workers worker processes started on this machine for the run.
    LocalCluster,
}

/// Devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Device {
    /// The CPU backend.
    Cpu,
    /// A GPU through wgpu.
    Gpu,
    /// A GPU when there is one, else the CPU.
    Auto,
}

impl Device {
    /// The flag's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Gpu => "gpu",
            Device::Auto => "auto",
        }
    }
}

/// `tessera run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The expression, e.g. "x = ones((20000, 20000), chunks=2000); (x * x[::-1, ::-1]).sum()".
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub expr: Option<String>,
    /// Read the expression from a file.
    #[arg(long, short)]
    pub file: Option<PathBuf>,
    /// Chunks for every constructor, overriding their chunks= (e.g. 2000, "(1000, -1)", auto, 64MiB).
    #[arg(long, allow_hyphen_values = true)]
    pub chunks: Option<String>,
    /// Target size of an "auto" chunk (default 128MiB, or TESSERA_CHUNK_SIZE).
    #[arg(long)]
    pub chunk_size: Option<String>,
    /// Where and under which memory limit.
    #[command(flatten)]
    pub place: PlacementArgs,
    /// The device that computes.
    #[arg(long, value_enum, default_value_t = Device::Cpu)]
    pub device: Device,
    /// Print one JSON object with the result and the run's measurements.
    #[arg(long)]
    pub json: bool,
    /// Show progress on stderr.
    #[arg(long)]
    pub progress: bool,
    /// Switch off fusion and generator inlining: one task per operation and block.
    #[arg(long)]
    pub no_fuse: bool,
}

impl RunArgs {
    /// The arguments for running `expr` on a 2-worker local cluster with a progress bar.
    pub fn demo(expr: &str) -> RunArgs {
        RunArgs {
            expr: Some(expr.to_string()),
            file: None,
            chunks: None,
            chunk_size: None,
            place: PlacementArgs {
                scheduler: SchedulerKind::LocalCluster,
                workers: Some(2),
                threads_per_worker: 1,
                cluster_file: None,
                memory_limit: None,
            },
            device: Device::Cpu,
            json: false,
            progress: true,
            no_fuse: false,
        }
    }
}
