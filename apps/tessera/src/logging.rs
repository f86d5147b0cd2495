//! Where the libraries' `tracing` events go: one plain line each on stderr (the
//! scheduler's and workers' logs), or into the UI's log file while the UI owns the
//! terminal.

use std::sync::Mutex;

use tracing_subscriber::fmt::MakeWriter;

/// Sends events at INFO and above to stderr, as `LEVEL message` lines.
pub fn to_stderr() {
    init(std::io::stderr);
}

/// Sends events to `file` (the UI's log) instead of the terminal.
pub fn to_file(file: std::fs::File) {
    init(Mutex::new(file));
}

fn init<W>(writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_max_level(tracing::Level::INFO)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}
