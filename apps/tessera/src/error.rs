//! The CLI's failure classes and their exit codes.

use std::fmt;

/// Why a command failed, classified by exit code.
#[derive(Debug)]
pub enum CliError {
    /// The user's input is wrong (syntax, shapes, chunks, flags): exit code 2.
    BadInput(String),
    /// The computation was refused for lack of resources: exit code 3.
    Resources(String),
    /// Anything else: exit code 1.
    Failed(String),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::BadInput(_) => 2,
            CliError::Resources(_) => 3,
            CliError::Failed(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::BadInput(m) | CliError::Resources(m) | CliError::Failed(m) => f.write_str(m),
        }
    }
}

impl From<tessera::Error> for CliError {
    fn from(e: tessera::Error) -> Self {
        use tessera::RuntimeError;
        match e {
            tessera::Error::Graph(g) => CliError::BadInput(g.to_string()),
            // Values numpy raises ValueError for: the input's fault, as a wrong shape is.
            tessera::Error::Runtime(RuntimeError::Kernel(k @ tessera::KernelError::Value { .. })) => {
                CliError::BadInput(k.to_string())
            }
            tessera::Error::Runtime(t @ RuntimeError::Threads { .. }) => CliError::Resources(t.to_string()),
            tessera::Error::Storage { message, bad_input: true } => CliError::BadInput(message),
            other => CliError::Failed(other.to_string()),
        }
    }
}
