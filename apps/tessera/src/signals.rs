//! SIGINT, SIGTERM and SIGHUP end the process cleanly: the terminal is restored if the
//! UI has it, the processes it started are stopped, the folders it wrote are removed
//! (see `tessera_runtime::cleanup`), and it exits with 128 + the signal's number, as a
//! shell reports a process killed by it.

use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tessera_runtime::cleanup;
use tessera_runtime::spill::SpillDir;

/// Set while the UI holds the terminal in raw mode.
pub static UI_ACTIVE: AtomicBool = AtomicBool::new(false);

/// Installs the handler (a thread that waits for the signals) and removes what
/// processes killed with SIGKILL left behind.
pub fn install() {
    cleanup::remove_stale(&SpillDir::base(), "tessera-spill-");
    cleanup::remove_stale(&std::env::temp_dir(), "tessera-local-");
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM, SIGHUP]) else { return };
    let _ = std::thread::Builder::new().name("tessera-signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            if UI_ACTIVE.load(Ordering::Relaxed) {
                ratatui::restore();
            }
            cleanup::remove_all();
            std::process::exit(128 + signal);
        }
    });
}
