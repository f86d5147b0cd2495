//! The first exchange on every connection (QUIC control or TLS bulk): the peer proves the secret.

use std::time::Duration;

use quinn::Connection;
use serde::{Deserialize, Serialize};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::{Result, TransportError, read_frame, write_frame};

/// The protocol version; peers with another version are refused.
pub const PROTOCOL_VERSION: u32 = 3;
/// A peer must finish its hello within this time.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Hello frames are tiny; anything larger is hostile.
const HELLO_LIMIT: usize = 4096;
/// QUIC application close code for a refused peer.
const REFUSED: u32 = 0x5e;

/// Who is connecting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// A worker with a name, its threads and memory limit.
    Worker {
        /// Its name.
        name: String,
        /// Threads it computes with.
        threads: u32,
        /// Its memory limit in bytes.
        memory_limit: u64,
        /// Where its peers fetch values from it over QUIC.
        listen: std::net::SocketAddr,
        /// Where its peers fetch values from it over TLS/TCP, the bulk plane (absent:
        /// QUIC only).
        #[serde(default)]
        bulk: Option<std::net::SocketAddr>,
        /// The certificate its peer endpoint presents (pinned by whoever fetches).
        #[serde(with = "serde_bytes")]
        certificate: Vec<u8>,
        /// The GPU it computes with (`None`: the CPU).
        gpu: Option<String>,
    },
    /// A client that submits computations.
    Client,
}

/// The first message a peer sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the peer.
    pub protocol: u32,
    /// The cluster secret.
    #[serde(with = "serde_bytes")]
    pub secret: Vec<u8>,
    /// Who the peer is.
    pub role: Role,
}

/// The scheduler's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Accepted.
    Welcome,
    /// Refused, with the reason.
    Refused(String),
}

/// Peer side: opens the control stream, proves the secret and waits for the verdict.
/// Returns the control stream for further messages.
pub async fn send_hello(
    conn: &Connection,
    secret: &[u8; 32],
    role: Role,
) -> Result<(quinn::SendStream, quinn::RecvStream)> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| TransportError::Connection(e.to_string()))?;
    match prove_secret(&mut send, &mut recv, secret, role).await {
        Err(TransportError::Connection(_)) => {
            Err(TransportError::Refused(conn.close_reason().map_or("connection closed".into(), |r| r.to_string())))
        }
        other => other.map(|()| (send, recv)),
    }
}

/// Writes the hello on `send` and waits for the verdict on `recv` (any stream: the
/// QUIC control stream, or a TLS-over-TCP bulk connection).
pub(crate) async fn prove_secret<W, R>(send: &mut W, recv: &mut R, secret: &[u8; 32], role: Role) -> Result<()>
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let hello = Hello { protocol: PROTOCOL_VERSION, secret: secret.to_vec(), role };
    write_frame(send, &hello).await?;
    send.flush().await.map_err(|e| TransportError::Connection(e.to_string()))?;
    let verdict = tokio::time::timeout(HELLO_TIMEOUT, read_frame::<_, Verdict>(recv, HELLO_LIMIT))
        .await
        .map_err(|_| TransportError::Timeout("the peer did not answer the hello".into()))?;
    match verdict? {
        Verdict::Welcome => Ok(()),
        Verdict::Refused(reason) => Err(TransportError::Refused(reason)),
    }
}

/// Reads a hello from `recv` within the hello timeout and checks its version and
/// secret; answers the verdict on `send`. Returns the peer's role, or why it was refused.
pub(crate) async fn check_hello<W, R>(
    send: &mut W,
    recv: &mut R,
    secret: &[u8; 32],
) -> std::result::Result<Role, String>
where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, read_frame::<_, Hello>(recv, HELLO_LIMIT)).await {
        Err(_) => return Err("no hello within 5 s".into()),
        Ok(Err(e)) => return Err(format!("bad hello: {e}")),
        Ok(Ok(hello)) => hello,
    };
    let refusal = if hello.protocol != PROTOCOL_VERSION {
        Some(format!("protocol version {} is not {PROTOCOL_VERSION}", hello.protocol))
    } else if !constant_time_eq(&hello.secret, secret) {
        Some("wrong cluster secret".to_string())
    } else {
        None
    };
    if let Some(reason) = refusal {
        let _ = write_frame(send, &Verdict::Refused(reason.clone())).await;
        let _ = send.flush().await;
        return Err(reason);
    }
    write_frame(send, &Verdict::Welcome).await.map_err(|e| e.to_string())?;
    send.flush().await.map_err(|e| e.to_string())?;
    Ok(hello.role)
}

/// Scheduler side: reads the hello on the first stream and checks version and secret.
/// On failure the connection is closed with the reason and an error is returned; no
/// other message from this peer is read.
pub async fn accept_hello(
    conn: &Connection,
    secret: &[u8; 32],
) -> Result<(Role, quinn::SendStream, quinn::RecvStream)> {
    let refuse = |reason: String| {
        conn.close(REFUSED.into(), reason.as_bytes());
        TransportError::Refused(reason)
    };
    let (mut send, mut recv) = match tokio::time::timeout(HELLO_TIMEOUT, conn.accept_bi()).await {
        Err(_) => return Err(refuse("no hello within 5 s".into())),
        Ok(Err(e)) => return Err(refuse(format!("bad hello: {e}"))),
        Ok(Ok(streams)) => streams,
    };
    match check_hello(&mut send, &mut recv, secret).await {
        Ok(role) => {
            // Proven: the connection may now carry chunk transfers.
            conn.set_receive_window(quinn::VarInt::from_u32(crate::endpoint::AUTHENTICATED_WINDOW));
            Ok((role, send, recv))
        }
        Err(reason) => {
            let _ = send.finish();
            // Give the verdict a moment to leave before the close overtakes it.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(refuse(reason))
        }
    }
}

/// Peers connected and not yet through their hello, at most: past it new connections
/// are refused at once, so unauthenticated peers cannot pile up (each may take up to
/// the hello timeout, and its small window of memory).
pub const MAX_PENDING_PEERS: usize = 32;

/// Counts the peers between connecting and proving the secret.
#[derive(Debug, Default)]
pub struct PendingPeers(std::sync::atomic::AtomicUsize);

/// One pending peer; dropping it (hello done, or failed) frees its place.
#[derive(Debug)]
pub struct Pending(std::sync::Arc<PendingPeers>);

impl PendingPeers {
    /// A place for one more pending peer, or `None` when [`MAX_PENDING_PEERS`] wait.
    pub fn admit(self: &std::sync::Arc<Self>) -> Option<Pending> {
        use std::sync::atomic::Ordering;
        let taken =
            self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < MAX_PENDING_PEERS).then_some(n + 1));
        taken.is_ok().then(|| Pending(self.clone()))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
