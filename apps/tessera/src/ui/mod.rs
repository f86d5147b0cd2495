//! `tessera ui`: a terminal UI that launches a local cluster (or a thread pool), runs the
//! chunked computation, and shows progress per operation, per-worker utilization and
//! the history of runs.
//!
//! The model ([`model::App`]) is plain data updated by key presses and by events from
//! the job thread; [`view::draw`] only reads it, so screens are tested with ratatui's
//! `TestBackend`. Nothing is printed to the screen but the UI: the cluster's processes
//! log to files, and the UI's own log goes to a file named on screen.

pub mod job;
pub mod model;
pub mod view;

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{
    self, DisableBracketedPaste, EnableBracketedPaste, Event, KeyCode, KeyEventKind, KeyModifiers,
};

use crate::cli::{SchedulerKind, UiArgs};
use crate::error::CliError;
use job::{JobEvent, JobSpec};
use model::{App, Where};
use tessera::cluster::LocalCluster;

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
    let mut memory_limit = default_limit;
    let log_path = std::env::temp_dir().join(format!("tessera-ui-{}.log", std::process::id()));
    let mut log = Log(std::fs::File::create(&log_path).ok());
    if let Some(file) = log.0.as_ref().and_then(|f| f.try_clone().ok()) {
        crate::logging::to_file(file);
    }
    let place = match (&args.cluster_file, args.scheduler) {
        (Some(_), _) => Where::Cluster,
        (None, SchedulerKind::LocalCluster) => Where::LocalCluster,
        (None, _) => Where::Threads,
    };
    let workers = args.workers.unwrap_or(2);
    crate::limits::check_threads("--threads-per-worker", args.threads_per_worker)?;
    match place {
        Where::LocalCluster => crate::limits::check_local_workers(workers)?,
        Where::Threads | Where::Cluster => crate::limits::check_threads("--workers", workers)?,
    }
    let mut app = App::new(expr, place, workers, args.threads_per_worker, &log_path.display().to_string());
    app.memory_limit = memory_limit;
    let mut cluster = match place {
        Where::LocalCluster => {
            Some(crate::cluster::start_local(workers, args.threads_per_worker, memory_limit / workers as u64, "cpu")?)
        }
        Where::Threads | Where::Cluster => None,
    };
    let remote = args.cluster_file.clone();
    let mut terminal = ratatui::init();
    crate::signals::UI_ACTIVE.store(true, std::sync::atomic::Ordering::Relaxed);
    // A paste arrives as one event, not thousands of key presses.
    let _ = ratatui::crossterm::execute!(std::io::stdout(), EnableBracketedPaste);
    let mut job: Option<Receiver<JobEvent>> = None;
    let mut cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if args.run {
        job = Some(start_job(&app, cluster_file(cluster.as_ref(), &remote), memory_limit, &mut log, &mut cancel));
    }
    let mut last_draw = Instant::now() - FRAME;
    let result = loop {
        if let Some(rx) = &job {
            while let Ok(event) = rx.try_recv() {
                match event {
                    JobEvent::Started(ops) => app.started(ops, Instant::now()),
                    JobEvent::Progress(per_op) => app.progress(&per_op),
                    JobEvent::Workers(rows) => app.workers_now(rows),
                    JobEvent::Spans(spans) => app.finished_tasks(spans),
                    JobEvent::Finished(outcome) => {
                        log.line(&format!("run finished: {outcome:?}"));
                        app.finished(outcome);
                    }
                }
            }
        }
        // A sweep runs the next chunk size when the last run is done.
        if !app.running()
            && let Some(choice) = app.sweep.pop_front()
        {
            app.chunk_choice = choice;
            job = Some(start_job(&app, cluster_file(cluster.as_ref(), &remote), memory_limit, &mut log, &mut cancel));
            app.phase = model::Phase::Running(Instant::now());
        }
        if let Some(c) = &cluster {
            app.workers = c.workers();
        }
        let now = Instant::now();
        if (app.dirty || app.running()) && now.duration_since(last_draw) >= FRAME {
            if let Err(e) = terminal.draw(|f| view::draw(f, &app, now)) {
                break Err(CliError::Failed(format!("cannot draw: {e}")));
            }
            app.dirty = false;
            last_draw = now;
        }
        match event::poll(Duration::from_millis(50)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => break Err(CliError::Failed(format!("cannot read the terminal: {e}"))),
        }
        let key = match event::read() {
            Ok(Event::Key(key)) => key,
            Ok(Event::Paste(pasted)) => {
                if let Some(text) = &mut app.editing {
                    let room = tessera_expr::MAX_SOURCE_BYTES.saturating_sub(text.len());
                    text.extend(pasted.chars().filter(|c| !c.is_control()).take(room));
                }
                app.dirty = true;
                continue;
            }
            _ => {
                app.dirty = true;
                continue;
            }
        };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        app.dirty = true;
        if let Some(text) = &mut app.editing {
            match key.code {
                KeyCode::Enter => {
                    app.expr = std::mem::take(text);
                    app.editing = None;
                }
                KeyCode::Esc => app.editing = None,
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char(c) if text.len() < tessera_expr::MAX_SOURCE_BYTES => text.push(c),
                _ => {}
            }
            continue;
        }
        let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            _ if ctrl_c => break Ok(()),
            // Cancels the run in progress and what is left of a sweep.
            KeyCode::Char('x') => {
                app.sweep.clear();
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            // Esc leaves the editor (above); only `q` and Ctrl-C leave the UI.
            KeyCode::Char('q') => break Ok(()),
            KeyCode::Char('r') if !app.running() => {
                job =
                    Some(start_job(&app, cluster_file(cluster.as_ref(), &remote), memory_limit, &mut log, &mut cancel));
            }
            KeyCode::Char('w') if !app.running() => app.sweep = (1..model::CHUNK_CHOICES.len()).collect(),
            KeyCode::Char('e') if !app.running() => app.editing = Some(app.expr.clone()),
            KeyCode::Char('c') if !app.running() => {
                app.chunk_choice = (app.chunk_choice + 1) % model::CHUNK_CHOICES.len()
            }
            KeyCode::Char('s') if !app.running() && app.place != Where::Cluster => {
                (app.place, cluster) = match app.place {
                    Where::Threads => match start_cluster(&app, memory_limit, &mut log) {
                        Some(c) => (Where::LocalCluster, Some(c)),
                        None => (Where::Threads, None),
                    },
                    Where::LocalCluster | Where::Cluster => (Where::Threads, None),
                };
                app.rows.clear();
            }
            KeyCode::Char('t') if !app.running() && app.place == Where::LocalCluster => {
                app.threads_per_worker = if app.threads_per_worker >= 4 { 1 } else { app.threads_per_worker * 2 };
                // The old cluster goes first: both would use the same folder.
                drop(cluster.take());
                cluster = start_cluster(&app, memory_limit, &mut log);
            }
            KeyCode::Char('m') if !app.running() => {
                let choices = [default_limit, 512 << 20, 2 << 30, 8 << 30];
                let at = choices.iter().position(|&c| c == memory_limit).unwrap_or(0);
                memory_limit = choices[(at + 1) % choices.len()];
                app.memory_limit = memory_limit;
                if app.place == Where::LocalCluster {
                    drop(cluster.take());
                    cluster = start_cluster(&app, memory_limit, &mut log);
                }
            }
            KeyCode::Char('+') => match &mut cluster {
                Some(c) => {
                    if let Err(e) =
                        crate::limits::check_local_workers(c.workers() + 1).and_then(|()| Ok(c.add_worker()?))
                    {
                        log.line(&format!("cannot add a worker: {e}"));
                    }
                    app.workers = c.workers();
                }
                None if app.place == Where::Threads => app.workers = (app.workers + 1).min(crate::limits::MAX_THREADS),
                None => log.line("workers of an existing cluster are started on their machines"),
            },
            KeyCode::Char('-') | KeyCode::Char('k') => match &mut cluster {
                Some(c) => {
                    if c.kill_worker() {
                        log.line("killed a worker");
                    }
                }
                None if app.place == Where::Threads => app.workers = (app.workers - 1).max(1),
                None => log.line("workers of an existing cluster are stopped on their machines"),
            },
            _ => {}
        }
    };
    let _ = ratatui::crossterm::execute!(std::io::stdout(), DisableBracketedPaste);
    crate::signals::UI_ACTIVE.store(false, std::sync::atomic::Ordering::Relaxed);
    ratatui::restore();
    // Dropping the cluster stops every process it started.
    drop(cluster);
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

/// Starts a local cluster with the UI's workers, threads and memory limit.
fn start_cluster(app: &App, memory_limit: u64, log: &mut Log) -> Option<LocalCluster> {
    match crate::cluster::start_local(
        app.workers,
        app.threads_per_worker,
        memory_limit / app.workers.max(1) as u64,
        "cpu",
    ) {
        Ok(c) => Some(c),
        Err(e) => {
            log.line(&format!("cannot start a local cluster: {e}"));
            None
        }
    }
}

/// The cluster file runs go to: the local cluster's, or the one given.
fn cluster_file(local: Option<&LocalCluster>, remote: &Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    local.map(LocalCluster::cluster_file).or_else(|| remote.clone())
}

fn start_job(
    app: &App,
    cluster_file: Option<std::path::PathBuf>,
    memory_limit: u64,
    log: &mut Log,
    cancel: &mut std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Receiver<JobEvent> {
    // Each run has its own flag: `x` stops the one in progress only.
    *cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spec = JobSpec {
        expr: app.expr.clone(),
        chunks: app.chunks().to_string(),
        threads: app.workers,
        cluster_file,
        memory_limit,
        cancel: cancel.clone(),
        label: match app.place {
            Where::Threads => "threads",
            Where::LocalCluster => "local-cluster",
            Where::Cluster => "cluster",
        },
    };
    log.line(&format!("run: {spec:?}"));
    let (tx, rx) = channel();
    std::thread::spawn(move || job::run(spec, tx));
    rx
}
