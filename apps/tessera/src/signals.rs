//! SIGINT, SIGTERM and SIGHUP end the process cleanly: the terminal is restored if the
//! UI has it, the processes it started are stopped, the folders it wrote are removed
//! (see `tessera_runtime::cleanup`), one line says so, and it exits with 128 + the
//! signal's number, as a shell reports a process killed by it. SIGXFSZ is ignored, so
//! a file-size limit fails a write with an error instead of killing the process. A
//! worker asks to hear the first SIGTERM or SIGINT instead ([`on_first_stop`]): it
//! leaves gracefully, and a second one ends it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tessera_runtime::cleanup;
use tessera_runtime::spill::SpillDir;

/// Set while the UI holds the terminal in raw mode.
pub static UI_ACTIVE: AtomicBool = AtomicBool::new(false);

/// Set by the signal thread before it stops anything: the process is ending by a signal.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Whether a signal is ending the process: an error that its stopping causes (a local
/// cluster's scheduler gone) is not the run's outcome.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// Heard instead of exiting on the first SIGTERM or SIGINT.
static FIRST_STOP: OnceLock<Box<dyn Fn() + Send + Sync>> = OnceLock::new();

/// Makes the first SIGTERM or SIGINT call `hook` instead of ending the process.
pub fn on_first_stop(hook: impl Fn() + Send + Sync + 'static) {
    let _ = FIRST_STOP.set(Box::new(hook));
}

/// Installs the handler (a thread that waits for the signals) and removes what
/// processes killed with SIGKILL left behind.
pub fn install() {
    // A file-size limit (`ulimit -f`) would kill a write with SIGXFSZ and no word;
    // ignored, the write fails with EFBIG ("File too large"), reported and cleaned up
    // as a full disk is.
    // SAFETY: setting a signal's disposition to SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    cleanup::remove_stale(&SpillDir::base(), "tessera-spill-");
    cleanup::remove_stale(&std::env::temp_dir(), "tessera-local-");
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
    let _ = std::thread::Builder::new().name("tessera-signals".into()).spawn(move || {
        let mut heard = false;
        for signal in signals.forever() {
            if let Some(hook) = FIRST_STOP.get()
                && !heard
                && signal != SIGHUP
            {
                heard = true;
                hook();
                continue;
            }
            STOPPING.store(true, Ordering::SeqCst);
            if UI_ACTIVE.load(Ordering::Relaxed) {
                ratatui::restore();
            }
            cleanup::remove_all();
            let name = match signal {
                SIGINT => "SIGINT",
                SIGTERM => "SIGTERM",
                _ => "SIGHUP",
            };
            warn!("tessera: stopped by {name}; the processes it started and the files it was writing are removed");
            std::process::exit(128 + signal);
        }
    });
}
