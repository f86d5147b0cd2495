//! `tessera`: run chunked array expressions from the command line.
//!
//! The binary is thin: clap parses the flags (the contract in ARCHITECTURE.md), the
//! expression crate builds the lazy array, the facade lowers and runs it, and this
//! crate reports. Every failure becomes one line on stderr and an exit code: 2 for bad
//! input, 3 for refused resources, 1 for anything else.

/// `eprintln!` that ignores a closed stderr instead of panicking.
macro_rules! warn {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod allocator;
mod cli;
mod cluster;
mod device;
mod error;
mod info;
mod launch;
mod limits;
mod logging;
mod output;
mod progress;
mod report;
mod run;
mod signals;
mod sweep;
mod sweep_plot;
mod sweep_row;
mod ui;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// The seed's computation, run when `tessera` is started without a command.
const SEED_DEMO: &str = "x = random((20000, 20000), seed=42, chunks=2000)\n(x * x[::-1, ::-1]).sum()";

fn main() -> ExitCode {
    allocator::tune();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    signals::install();
    if !matches!(cli.command, Some(Command::Ui(_)) | None) {
        logging::to_stderr();
    }
    let result = match cli.command {
        Some(Command::Run(args)) => run::run(&args),
        Some(Command::Sweep(args)) => sweep::sweep(&args),
        Some(Command::Ui(args)) => ui::ui(&args, args.expr.as_deref().unwrap_or(SEED_DEMO)),
        Some(Command::Scheduler(args)) => cluster::scheduler(&args),
        Some(Command::Worker(args)) => cluster::worker(&args),
        Some(Command::Info(args)) => info::info(&args),
        Some(Command::Launch(args)) => launch::launch(&args),
        None if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            let args = cli::UiArgs {
                expr: None,
                scheduler: cli::SchedulerKind::LocalCluster,
                workers: Some(2),
                threads_per_worker: 1,
                memory_limit: None,
                cluster_file: None,
                run: true,
                launcher: None,
                launcher_args: Vec::new(),
            };
            ui::ui(&args, SEED_DEMO)
        }
        None => {
            warn!(
                "tessera: no terminal, so no UI (run `tessera ui` in one); running the seed's computation on a 2-worker local cluster"
            );
            warn!("  {}   (see `tessera --help`)", SEED_DEMO.replace('\n', "; "));
            run::run(&cli::RunArgs::demo(SEED_DEMO))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A signal is stopping the process: what its stopping broke (the local
        // cluster's connection) is not the outcome; the signal's thread exits with
        // 128 + its number once everything is stopped and removed (children get a few
        // seconds to stop; past a minute the error is reported after all).
        Err(e) if signals::stopping() => {
            std::thread::sleep(std::time::Duration::from_secs(60));
            warn!("error: {e}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            warn!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
