//! QUIC transport for tessera clusters.
//!
//! A scheduler creates a [`ClusterIdentity`] when it starts: a self-signed certificate
//! and a random 32-byte secret, written with its address to a cluster file readable by
//! its owner only. Workers and clients read that file, **pin** the certificate (the TLS
//! handshake fails for any other certificate, whoever signed it) and **prove the
//! secret** in a [`Hello`] on the first stream before the scheduler accepts anything
//! else. A peer that fails is told why and dropped; nothing it sent changes any state.
//!
//! Messages are length-prefixed MessagePack frames (`rmp-serde`, named fields so they
//! survive field changes) with a hard size limit: a frame over the limit or one that
//! does not decode closes that connection only. The crate knows nothing of arrays.
//!
//! Chunk bytes between workers travel on a second plane, TLS over TCP ([`bulk`]), with
//! the same pinned certificates and secret: one QUIC connection cannot carry them at
//! wire speed here.
//!
//! quinn uses rustls with the `ring` provider only (with `aws-lc-rs` also compiled in,
//! rustls refuses to pick one), and the transport is tuned for bulk transfers on
//! loopback and LANs: larger flow-control windows, keep-alive, an idle timeout.

mod bulk;
mod endpoint;
mod frame;
mod hello;
mod identity;
mod tls;

pub use bulk::{BulkClientStream, BulkIncoming, BulkListener, BulkServerStream, bulk_connect};
pub use endpoint::{CLIENT_IDLE_TIMEOUT, client_endpoint, connect, server_endpoint, watched_client_endpoint};
pub use frame::{MAX_FRAME_BYTES, encode_frame, read_frame, write_batch, write_frame};
pub use hello::{
    Hello, MAX_PENDING_PEERS, PROTOCOL_VERSION, Pending, PendingPeers, Role, Verdict, accept_hello, send_hello,
};
pub use identity::{ClusterFile, ClusterIdentity};

/// Why a transport operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Reading or writing the cluster file, or binding a socket.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The cluster file exists but is not valid.
    #[error("invalid cluster file {path}: {reason}")]
    ClusterFile {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Creating the certificate or the TLS configuration failed.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The connection could not be made or was lost.
    #[error("connection failed: {0}")]
    Connection(String),
    /// A frame larger than the limit.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// Announced size.
        size: u64,
        /// The limit.
        limit: usize,
    },
    /// A frame that does not decode as the expected message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The peer refused us (wrong secret, protocol version) or we refused it.
    #[error("refused: {0}")]
    Refused(String),
    /// The peer did not answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, TransportError>;

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> TransportError {
    let context = context.into();
    move |source| TransportError::Io { context, source }
}
