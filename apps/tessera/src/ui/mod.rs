//! `tessera ui`: a terminal UI that launches a local cluster (or a thread pool), runs the
//! chunked computation, and shows progress per operation, per-worker utilization and
//! the history of runs.
//!
//! One [`AppEvent`] enum carries everything that happens: terminal input (polled by
//! the event loop between frames) and the job threads' progress, tagged with the run
//! they belong to. The model ([`model::App`]) is plain data; keys change it in [`keys`], which
//! returns the [`Action`]s that need the outside world (runs, clusters, workers) for
//! the [`Session`] to carry out; [`view::draw`] only reads it, so screens are tested
//! with ratatui's `TestBackend`. Nothing is printed to the screen but the UI: the
//! cluster's processes log to files, and the UI's own log goes to a file named on
//! screen.

pub mod job;
pub mod keys;
pub mod model;
pub mod view;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};

use clap::Parser;
use ratatui::crossterm::event::{self, DisableBracketedPaste, EnableBracketedPaste, Event};

use crate::cli::{Launcher, LauncherFlags, LauncherKind, SchedulerKind, UiArgs};
use crate::error::CliError;
use crate::launch::{Launched, Workers};
use job::{JobEvent, JobSpec};
use keys::Action;
use model::{App, Placement};
use tessera::cluster::{Client, LocalCluster};

/// Everything the UI hears.
#[derive(Debug)]
pub enum AppEvent {
    /// Terminal input: a key, a paste, a resize.
    Input(Event),
    /// The terminal could not be read.
    InputFailed(String),
    /// Progress of run number `run`.
    Job {
        /// Which run (events of an earlier one are dropped).
        run: u64,
        /// What happened.
        event: JobEvent,
    },
}

/// At most this many frames per second.
const FRAME: Duration = Duration::from_millis(100);

/// The UI's log file.
struct Log(Option<std::fs::File>);

impl Log {
    fn line(&mut self, text: &str) {
        if let Some(f) = &mut self.0 {
            let _ = writeln!(f, "{text}");
        }
    }
}

/// Runs the UI until `q`.
pub fn ui(args: &UiArgs, expr: &str) -> Result<(), CliError> {
    if !std::io::stdout().is_terminal() {
        return Err(CliError::BadInput(
            "tessera ui needs a terminal; in scripts use `tessera run --progress EXPR`".into(),
        ));
    }
    let default_limit = crate::limits::memory_limit(args.memory_limit.as_deref())?;
    let memory_limit = default_limit;
    let log_path = std::env::temp_dir().join(format!("tessera-ui-{}.log", std::process::id()));
    let log = Log(std::fs::File::create(&log_path).ok());
    if let Some(file) = log.0.as_ref().and_then(|f| f.try_clone().ok()) {
        crate::logging::to_file(file);
    }
    let workers = args.workers.unwrap_or(2);
    crate::limits::check_threads("--threads-per-worker", args.threads_per_worker)?;
    let launched = match args.launcher {
        Some(kind) => Some(launch(kind, &args.launcher_args, &log)?),
        None => None,
    };
    let place = match (&args.cluster_file, args.scheduler) {
        _ if launched.is_some() => {
            Placement::Cluster(launched.as_ref().map(|l| l.launched.file().to_path_buf()).unwrap_or_default())
        }
        (Some(file), _) => Placement::Cluster(file.clone()),
        (None, SchedulerKind::LocalCluster) => {
            crate::limits::check_local_workers(workers)?;
            Placement::LocalCluster { workers, threads_per_worker: args.threads_per_worker }
        }
        (None, _) => {
            crate::limits::check_threads("--workers", workers)?;
            Placement::Threads(workers)
        }
    };
    let cluster = match place {
        Placement::LocalCluster { workers, threads_per_worker } => {
            Some(crate::cluster::start_local(workers, threads_per_worker, memory_limit / workers as u64, "cpu")?)
        }
        _ => None,
    };
    let mut app = App::new(expr, place, &log_path.display().to_string());
    app.memory_limit = memory_limit;
    let (tx, events) = channel::<AppEvent>();
    let mut session = Session {
        app,
        cluster,
        launched,
        memory_limit,
        default_limit,
        log,
        cancel: Arc::new(AtomicBool::new(false)),
        run: 0,
        tx: tx.clone(),
    };
    let mut terminal = ratatui::init();
    crate::signals::UI_ACTIVE.store(true, std::sync::atomic::Ordering::Relaxed);
    // A paste arrives as one event, not thousands of key presses.
    let _ = ratatui::crossterm::execute!(std::io::stdout(), EnableBracketedPaste);
    drop(tx);
    if args.run {
        session.start_run();
    }
    let mut last_draw = Instant::now() - FRAME;
    let result = 'ui: loop {
        // The runs' events first, then what was drawn, then at most 50 ms for a key.
        while let Ok(event) = events.try_recv() {
            match session.handle(event) {
                Ok(Flow::Go) => {}
                Ok(Flow::Quit) => break 'ui Ok(()),
                Err(e) => break 'ui Err(e),
            }
        }
        // A sweep runs the next chunk size when the last run is done.
        if !session.app.running()
            && let Some(choice) = session.app.sweep.pop_front()
        {
            session.app.chunk_choice = choice;
            session.start_run();
            session.app.phase = model::Phase::Running(Instant::now());
        }
        if let Some(c) = &session.cluster {
            session.app.set_workers(c.workers());
        }
        if let Some(l) = &mut session.launched {
            if l.launched.stopping() {
                break Ok(());
            }
            l.refresh(&mut session.app, &mut session.log);
        }
        let now = Instant::now();
        if (session.app.dirty || session.app.running()) && now.duration_since(last_draw) >= FRAME {
            if let Err(e) = terminal.draw(|f| view::draw(f, &session.app, now)) {
                break Err(CliError::Failed(format!("cannot draw: {e}")));
            }
            session.app.dirty = false;
            last_draw = now;
        }
        let event = match event::poll(Duration::from_millis(50)).and_then(|ready| ready.then(event::read).transpose()) {
            Ok(Some(input)) => AppEvent::Input(input),
            Ok(None) => continue,
            Err(e) => AppEvent::InputFailed(e.to_string()),
        };
        match session.handle(event) {
            Ok(Flow::Go) => {}
            Ok(Flow::Quit) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    let Session { app, cluster, launched, .. } = session;
    let _ = ratatui::crossterm::execute!(std::io::stdout(), DisableBracketedPaste);
    crate::signals::UI_ACTIVE.store(false, std::sync::atomic::Ordering::Relaxed);
    ratatui::restore();
    // Dropping the cluster stops every process it started.
    drop(cluster);
    if let Some(mut l) = launched {
        warn!("stopping the workers the UI launched (they hand over and leave)...");
        l.launched.shut_down(l.workers.as_mut());
    }
    match app.history.last() {
        Some(last) => {
            let printed = crate::output::print_line(&format!(
                "last result: {} ({} s, chunks {})",
                last.result, last.wall_s, last.chunks
            ));
            result.and(printed)
        }
        None => result,
    }
}

/// Whether the UI goes on.
enum Flow {
    Go,
    Quit,
}

/// Starts the scheduler and the workers of `tessera ui --launcher KIND -- FLAGS`; the
/// launcher's lines go to the UI's log.
fn launch(kind: LauncherKind, flags: &[String], log: &Log) -> Result<LaunchedWorkers, CliError> {
    if let Some(file) = log.0.as_ref().and_then(|f| f.try_clone().ok()) {
        let file = std::sync::Mutex::new(file);
        crate::launch::notes_to(move |line| {
            let _ = writeln!(file.lock().unwrap_or_else(|e| e.into_inner()), "{line}");
        });
    }
    let name = match kind {
        LauncherKind::Slurm => "slurm",
        LauncherKind::Ssh => "ssh",
    };
    let parsed = LauncherFlags::try_parse_from(std::iter::once(name.to_string()).chain(flags.iter().cloned()))
        .map_err(|e| {
            CliError::BadInput(format!("--launcher {name}: {}", e.to_string().lines().next().unwrap_or("")))
        })?;
    let (launched, workers): (Launched, Box<dyn Workers>) = match parsed.how {
        Launcher::Slurm(a) if a.dry_run => {
            return Err(CliError::BadInput(
                "--dry-run prints a job script: use `tessera launch slurm --dry-run`".into(),
            ));
        }
        Launcher::Slurm(a) => match crate::launch::slurm::start(&a)? {
            Some((launched, jobs)) => (launched, Box::new(jobs)),
            None => return Err(CliError::BadInput("nothing was launched".into())),
        },
        Launcher::Ssh(a) => {
            let (launched, workers) = crate::launch::ssh::start(&a)?;
            (launched, Box::new(workers))
        }
        Launcher::Stop(_) => return Err(CliError::BadInput("--launcher takes slurm or ssh flags".into())),
    };
    Ok(LaunchedWorkers { launched, workers, client: None, polled: Instant::now() - LAUNCH_POLL })
}

/// How often the UI looks at the workers it launched.
const LAUNCH_POLL: Duration = Duration::from_millis(500);

/// Workers a launcher started for the UI, and the scheduler they join.
struct LaunchedWorkers {
    launched: Launched,
    workers: Box<dyn Workers>,
    /// Asks the scheduler which workers have joined.
    client: Option<Client>,
    polled: Instant,
}

impl LaunchedWorkers {
    /// Every [`LAUNCH_POLL`]: the launcher's look at its workers (pending jobs become
    /// rows with their state; `--adapt` scales), and between runs the joined workers' rows.
    fn refresh(&mut self, app: &mut App, log: &mut Log) {
        if self.polled.elapsed() < LAUNCH_POLL {
            return;
        }
        self.polled = Instant::now();
        if self.client.is_none() {
            self.client = Client::connect(self.launched.file()).ok();
        }
        let Some(client) = &mut self.client else { return };
        let statuses = match self.launched.look(client, self.workers.as_mut()) {
            Ok(statuses) => statuses,
            Err(e) => {
                log.line(&format!("launcher: {e}"));
                // Connected again at the next look, if the scheduler is there.
                self.client = None;
                return;
            }
        };
        let pending = self.workers.pending();
        if pending != app.pending {
            app.pending = pending;
            app.dirty = true;
        }
        if !app.running() {
            app.workers_now(statuses.iter().map(job::worker_row).collect());
        }
    }
}

/// The UI's state and the processes and runs it started.
struct Session {
    app: App,
    cluster: Option<LocalCluster>,
    /// Workers started through `--launcher`.
    launched: Option<LaunchedWorkers>,
    memory_limit: u64,
    default_limit: u64,
    log: Log,
    /// The current run's cancel flag: `x` stops the one in progress only.
    cancel: Arc<AtomicBool>,
    /// The current run's number.
    run: u64,
    tx: Sender<AppEvent>,
}

impl Session {
    fn handle(&mut self, event: AppEvent) -> Result<Flow, CliError> {
        match event {
            AppEvent::Input(Event::Key(key)) => {
                if let Some(action) = self.app.key(key) {
                    return Ok(self.act(action));
                }
            }
            AppEvent::Input(Event::Paste(text)) => self.app.paste(&text),
            AppEvent::Input(_) => self.app.dirty = true,
            AppEvent::InputFailed(e) => return Err(CliError::Failed(format!("cannot read the terminal: {e}"))),
            AppEvent::Job { run, event } if run == self.run => match event {
                JobEvent::Started(ops) => self.app.started(ops, Instant::now()),
                JobEvent::Progress(per_op) => self.app.progress(&per_op),
                JobEvent::Workers(rows) => self.app.workers_now(rows),
                JobEvent::Spans(spans) => self.app.finished_tasks(spans),
                JobEvent::Finished(outcome) => {
                    self.log.line(&format!("run finished: {outcome:?}"));
                    self.app.finished(outcome);
                }
            },
            AppEvent::Job { .. } => {}
        }
        Ok(Flow::Go)
    }

    /// Carries out what a key asked for.
    fn act(&mut self, action: Action) -> Flow {
        let app = &mut self.app;
        match action {
            Action::Quit => return Flow::Quit,
            Action::Cancel => self.cancel.store(true, std::sync::atomic::Ordering::Relaxed),
            Action::Run => self.start_run(),
            Action::SwitchScheduler => {
                let workers = app.workers();
                match app.place {
                    Placement::Threads(_) | Placement::SingleThreaded => {
                        let before = std::mem::replace(
                            &mut app.place,
                            Placement::LocalCluster { workers, threads_per_worker: 1 },
                        );
                        self.cluster = self.start_cluster();
                        if self.cluster.is_none() {
                            self.app.place = before;
                        }
                    }
                    Placement::LocalCluster { .. } => {
                        self.cluster = None;
                        app.place = Placement::Threads(workers);
                    }
                    Placement::Cluster(_) => {}
                }
                self.app.rows.clear();
            }
            Action::RestartCluster => {
                // The old cluster goes first: both would use the same folder.
                drop(self.cluster.take());
                self.cluster = self.start_cluster();
            }
            Action::NextMemoryLimit => {
                let choices = [self.default_limit, 512 << 20, 2 << 30, 8 << 30];
                let at = choices.iter().position(|&c| c == self.memory_limit).unwrap_or(0);
                self.memory_limit = choices[(at + 1) % choices.len()];
                app.memory_limit = self.memory_limit;
                if matches!(app.place, Placement::LocalCluster { .. }) {
                    drop(self.cluster.take());
                    self.cluster = self.start_cluster();
                }
            }
            Action::AddWorker if self.launched.is_some() => {
                if let Some(l) = &mut self.launched
                    && let Err(e) = l.workers.add(&mut l.launched)
                {
                    self.log.line(&format!("cannot add a worker: {e}"));
                }
            }
            Action::RemoveWorker if self.launched.is_some() => {
                if let Some(l) = &mut self.launched
                    && !l.workers.remove()
                {
                    self.log.line("no launched worker left to stop");
                }
            }
            Action::AddWorker => match &mut self.cluster {
                Some(c) => {
                    if let Err(e) =
                        crate::limits::check_local_workers(c.workers() + 1).and_then(|()| Ok(c.add_worker()?))
                    {
                        self.log.line(&format!("cannot add a worker: {e}"));
                    }
                    app.set_workers(c.workers());
                }
                None if matches!(app.place, Placement::Threads(_)) => {
                    app.set_workers((app.workers() + 1).min(crate::limits::MAX_THREADS))
                }
                None => self.log.line("workers of an existing cluster are started on their machines"),
            },
            Action::RemoveWorker => match &mut self.cluster {
                Some(c) => {
                    if c.kill_worker() {
                        self.log.line("killed a worker");
                    }
                }
                None if matches!(app.place, Placement::Threads(_)) => app.set_workers(app.workers() - 1),
                None => self.log.line("workers of an existing cluster are stopped on their machines"),
            },
        }
        Flow::Go
    }

    /// Starts a local cluster with the UI's workers, threads and memory limit.
    fn start_cluster(&mut self) -> Option<LocalCluster> {
        let Placement::LocalCluster { workers, threads_per_worker } = self.app.place else { return None };
        let limit = self.memory_limit / workers.max(1) as u64;
        match crate::cluster::start_local(workers, threads_per_worker, limit, "cpu") {
            Ok(c) => Some(c),
            Err(e) => {
                self.log.line(&format!("cannot start a local cluster: {e}"));
                None
            }
        }
    }

    /// Starts a run of the current expression; its events come back tagged with its
    /// number.
    fn start_run(&mut self) {
        self.run += 1;
        self.cancel = Arc::new(AtomicBool::new(false));
        let app = &self.app;
        let spec = JobSpec {
            expr: app.expr.clone(),
            chunks: app.chunks().to_string(),
            threads: app.workers(),
            // The local cluster's file, or the one given.
            cluster_file: match &app.place {
                Placement::Cluster(file) => Some(file.clone()),
                _ => self.cluster.as_ref().map(LocalCluster::cluster_file),
            },
            memory_limit: self.memory_limit,
            cancel: self.cancel.clone(),
            label: app.place.name(),
        };
        self.log.line(&format!("run: {spec:?}"));
        let (job_tx, job_rx) = channel();
        let (tx, run) = (self.tx.clone(), self.run);
        std::thread::spawn(move || job::run(spec, job_tx));
        std::thread::spawn(move || {
            while let Ok(event) = job_rx.recv() {
                if tx.send(AppEvent::Job { run, event }).is_err() {
                    return;
                }
            }
        });
    }
}
