//! `tessera launch slurm|ssh|stop`: a scheduler in this process and workers started
//! through the site's own launcher, Slurm batch jobs or ssh sessions, watched in the
//! foreground until Ctrl-C or `tessera launch stop`, which stop everything launched.
//!
//! Both launchers have one shape ([`Workers`]): start the workers, look at them
//! again every [`POLL`] (printing each change as one line: a job's state, a worker
//! that joined or left), stop them. What was started is written to a record next to
//! the cluster file ([`record`]) as soon as it exists, so `tessera launch stop` finds
//! it even if this process is gone.

mod record;
pub mod slurm;
pub mod ssh;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tessera::cluster::{Client, EmbeddedScheduler, Load};
use tessera_metrics::WorkerStatus;

use crate::cli::{LaunchArgs, LaunchPlace, Launcher};
use crate::error::CliError;

pub use record::Record;

/// How often the launcher looks at its workers.
const POLL: Duration = Duration::from_millis(200);

/// How long stopped workers get to hand over and leave before the scheduler stops.
const LEAVE_WAIT: Duration = Duration::from_secs(25);

/// Where the launchers' lines go instead of stderr (the UI's log while it owns the
/// terminal).
static NOTES: OnceLock<NoteSink> = OnceLock::new();

/// Something that takes the launchers' lines.
type NoteSink = Box<dyn Fn(&str) + Send + Sync>;

/// Sends the launchers' lines to `sink` from now on.
pub fn notes_to(sink: impl Fn(&str) + Send + Sync + 'static) {
    let _ = NOTES.set(Box::new(sink));
}

/// One line about what a launcher did: on stderr, or where [`notes_to`] says.
pub fn note(line: &str) {
    match NOTES.get() {
        Some(sink) => sink(line),
        None => warn!("{line}"),
    }
}

/// `tessera launch ...`
pub fn launch(args: &LaunchArgs) -> Result<(), CliError> {
    match &args.how {
        Launcher::Slurm(a) => slurm::launch(a),
        Launcher::Ssh(a) => ssh::launch(a),
        Launcher::Stop(a) => record::stop(&a.cluster_file),
    }
}

/// Workers a launcher started, as the foreground loop drives them.
pub trait Workers {
    /// How many workers were asked for.
    fn expected(&self) -> usize;
    /// Looks at them again, given the names of the workers the scheduler has now:
    /// prints what changed; an error ends the launch.
    fn poll(&mut self, joined: &[String]) -> Result<(), CliError>;
    /// Stops every one of them (they leave gracefully); safe to call twice.
    fn stop(&mut self);
    /// Those that have not joined (yet), with their state (`PENDING (Resources)`).
    fn pending(&self) -> Vec<(String, String)>;
    /// Starts one more worker.
    fn add(&mut self, launched: &mut Launched) -> Result<(), CliError>;
    /// Stops the newest running worker (it leaves gracefully); false if none is left.
    fn remove(&mut self) -> bool;
    /// Scales on the cluster's backlog, if the launcher was asked to.
    fn adapt(&mut self, _load: &Load, _launched: &mut Launched) -> Result<(), CliError> {
        Ok(())
    }
}

/// A scheduler the launcher started elsewhere (a Slurm job, an ssh session).
pub trait Elsewhere {
    /// Stops it (after the workers).
    fn stop(&mut self);
}

/// A scheduler (in this process or elsewhere), its cluster file and the record of what
/// was launched for it; dropping it stops the scheduler and removes both files.
pub struct Launched {
    scheduler: Option<EmbeddedScheduler>,
    elsewhere: Option<Box<dyn Elsewhere>>,
    file: PathBuf,
    pub record: Record,
    stop: Arc<AtomicBool>,
}

impl Launched {
    /// Starts the scheduler in this process as `place` says and prints its one line.
    pub fn start(place: &LaunchPlace, kind: &str) -> Result<Launched, CliError> {
        let listen = listen_address(place.listen.as_deref())?;
        let mut launched = Launched::prepare(place, kind)?;
        let scheduler = EmbeddedScheduler::start(listen, &launched.file)?;
        note(&format!("scheduler: listening on {}; cluster file {}", scheduler.address(), launched.file.display()));
        launched.scheduler = Some(scheduler);
        Ok(launched)
    }

    /// A launch whose scheduler is started elsewhere ([`Launched::elsewhere`]): the
    /// record, and a stale cluster file at `place` removed.
    pub fn prepare(place: &LaunchPlace, kind: &str) -> Result<Launched, CliError> {
        // From here, Ctrl-C and SIGTERM stop what was launched instead of ending the process.
        let stop = Arc::new(AtomicBool::new(false));
        let asked = stop.clone();
        crate::signals::on_first_stop(move || asked.store(true, Ordering::Relaxed));
        let file = absolute(&place.cluster_file)?;
        let _ = std::fs::remove_file(&file);
        let record = Record::new(&file, kind);
        record.save()?;
        Ok(Launched { scheduler: None, elsewhere: None, file, record, stop })
    }

    /// The scheduler was started elsewhere: stopped with the launch.
    pub fn elsewhere(&mut self, scheduler: Box<dyn Elsewhere>) {
        self.elsewhere = Some(scheduler);
    }

    /// Waits until the cluster file of a scheduler started elsewhere is there;
    /// `started` says whether that scheduler still runs (an error if it ended). Prints
    /// the scheduler's one line.
    pub fn wait_for_cluster_file(
        &self,
        mut started: impl FnMut() -> Result<(), CliError>,
        at: &str,
    ) -> Result<(), CliError> {
        loop {
            if let Ok(file) = tessera_transport::ClusterFile::read(&self.file) {
                note(&format!("scheduler: listening on {} ({at}); cluster file {}", file.address, self.file.display()));
                return Ok(());
            }
            if self.stopping() {
                return Err(CliError::Failed("stopped before the scheduler started".into()));
            }
            started()?;
            std::thread::sleep(POLL);
        }
    }

    /// The cluster file, as an absolute path.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Whether Ctrl-C, SIGTERM or `tessera launch stop` asked to stop.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Watches `workers` until asked to stop or one fails for good, then stops them
    /// and waits (up to [`LEAVE_WAIT`]) until they have left the scheduler.
    pub fn foreground(&mut self, workers: &mut dyn Workers, started: Instant) -> Result<(), CliError> {
        let result = self.watch(workers, started);
        self.shut_down(workers);
        result
    }

    /// Stops `workers` and waits (up to [`LEAVE_WAIT`]) until they have left the scheduler.
    pub fn shut_down(&self, workers: &mut dyn Workers) {
        workers.stop();
        if let Ok(mut client) = Client::connect(&self.file) {
            let deadline = Instant::now() + LEAVE_WAIT;
            while client.workers().is_ok_and(|w| !w.is_empty()) && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
        }
    }

    /// One look at the workers, as the foreground loop and the UI take it: the
    /// scheduler's list, the launcher's view (job states, joins, ends), then `--adapt`'s
    /// scaling on the backlog; the scheduler's list for the caller.
    pub fn look(&mut self, client: &mut Client, workers: &mut dyn Workers) -> Result<Vec<WorkerStatus>, CliError> {
        let statuses = client.workers()?;
        let joined: Vec<String> = statuses.iter().map(|w| w.name.clone()).collect();
        workers.poll(&joined)?;
        workers.adapt(&client.load()?, self)?;
        Ok(statuses)
    }

    fn watch(&mut self, workers: &mut dyn Workers, started: Instant) -> Result<(), CliError> {
        let mut client = Client::connect(&self.file)?;
        let mut ready = false;
        while !self.stopping() {
            let joined = self.look(&mut client, workers)?.len();
            if !ready && joined >= workers.expected() {
                ready = true;
                let file = self.file.display();
                note(&format!(
                    "cluster ready: {} workers in {:.1} s; run with --cluster-file {file}; stop with Ctrl-C or `tessera launch stop {file}`",
                    joined,
                    started.elapsed().as_secs_f64()
                ));
            }
            std::thread::sleep(POLL);
        }
        Ok(())
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        drop(self.scheduler.take());
        if let Some(mut elsewhere) = self.elsewhere.take() {
            elsewhere.stop();
        }
        let _ = std::fs::remove_file(&self.file);
        self.record.remove();
    }
}

/// The tessera program the workers run: `given`, or this one's path (a shared install).
pub fn program(given: Option<&Path>) -> Result<PathBuf, CliError> {
    match given {
        Some(p) => Ok(p.to_path_buf()),
        None => std::env::current_exe().map_err(|e| CliError::Failed(format!("cannot find the tessera binary: {e}"))),
    }
}

/// Single quotes for a shell word (a path in a job script or a remote command).
fn quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// `path` made absolute: workers elsewhere read it by this name.
fn absolute(path: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(path).map_err(|e| CliError::BadInput(format!("{}: {e}", path.display())))
}

/// Where the scheduler listens: `--listen` (an address, with or without a port), or
/// (`auto`, or nothing given) this host's address on its default route (loopback if it
/// has none).
pub fn listen_address(given: Option<&str>) -> Result<SocketAddr, CliError> {
    let Some(text) = given.filter(|t| *t != "auto") else {
        // Towards an address of the documentation range: no packet is sent, the route
        // is only looked up; with no default route, it is loopback.
        let nowhere = SocketAddr::from(([192, 0, 2, 1], 9));
        let ip = tessera::cluster::local_ip_towards(nowhere);
        let ip = if ip == nowhere.ip() { IpAddr::from([127, 0, 0, 1]) } else { ip };
        return Ok(SocketAddr::new(ip, 0));
    };
    text.parse::<SocketAddr>().or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0))).map_err(|_| {
        CliError::BadInput(format!("--listen {text}: expected an address such as 10.0.0.5 or 10.0.0.5:7878"))
    })
}

/// The last non-empty line of `text`, for one-line reports of a tool's stderr.
pub fn last_line(text: &str) -> String {
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(no output)").to_string()
}
