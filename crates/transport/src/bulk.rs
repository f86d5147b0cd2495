//! The bulk data plane: TLS 1.3 over TCP for chunk bytes, beside the QUIC control plane.
//!
//! One QUIC connection tops out at 0.4-0.5 GB/s on loopback here (quinn packetizes,
//! encrypts and acknowledges every ~1.4 KB datagram in user space), while the kernel's
//! TCP moves bytes in 64 KiB segments and rustls encrypts 16 KiB records with AES-GCM
//! at several GB/s per core. So values move between workers over TCP, with the same
//! guarantees as the control plane: the server presents its pinned certificate (a
//! different ALPN, so a bulk connection is never mistaken for a control one) and the
//! client proves the cluster secret in a [`Hello`](crate::Hello) before the server
//! reads anything else. Unauthenticated connections are counted by [`PendingPeers`]
//! and get at most the hello's few kilobytes read from them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector, client, server};

use crate::hello::{check_hello, prove_secret};
use crate::{ClusterIdentity, Pending, PendingPeers, Result, Role, TransportError, io, tls};

/// ALPN protocol id of bulk connections.
const BULK_ALPN: &[u8] = b"tessera-bulk/1";

/// A client's end of an authenticated bulk connection.
pub type BulkClientStream = client::TlsStream<TcpStream>;
/// A server's end of an authenticated bulk connection.
pub type BulkServerStream = server::TlsStream<TcpStream>;

/// Listens for bulk connections with the cluster's certificate.
pub struct BulkListener {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    pending: Arc<PendingPeers>,
}

/// A connection accepted but not yet through TLS and the hello.
pub struct BulkIncoming {
    stream: TcpStream,
    acceptor: TlsAcceptor,
    _place: Pending,
}

impl BulkListener {
    /// Binds `address`. Must be called inside a tokio runtime.
    pub async fn bind(identity: &ClusterIdentity, address: SocketAddr) -> Result<BulkListener> {
        let mut config = tls::server_config(identity)?;
        config.alpn_protocols = vec![BULK_ALPN.to_vec()];
        let listener = TcpListener::bind(address).await.map_err(io(format!("cannot listen on {address}")))?;
        Ok(BulkListener {
            listener,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            pending: Arc::new(PendingPeers::default()),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(io("no local address"))
    }

    /// The next connection. Connections past [`crate::MAX_PENDING_PEERS`] waiting for
    /// their hello are closed at once; this waits for one that gets a place.
    pub async fn accept(&self) -> Result<BulkIncoming> {
        loop {
            let (stream, _) = self.listener.accept().await.map_err(io("cannot accept a bulk connection"))?;
            if let Some(place) = self.pending.admit() {
                tune(&stream);
                return Ok(BulkIncoming { stream, acceptor: self.acceptor.clone(), _place: place });
            }
        }
    }
}

impl BulkIncoming {
    /// Runs the TLS handshake and checks the peer's hello (both within the hello
    /// timeout): the stream, ready for requests, or why the peer was refused.
    pub async fn authenticate(self, secret: &[u8; 32]) -> Result<BulkServerStream> {
        let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(self.stream));
        let mut stream = match handshake.await {
            Err(_) => return Err(TransportError::Timeout("no TLS handshake within 5 s".into())),
            Ok(Err(e)) => return Err(TransportError::Tls(e.to_string())),
            Ok(Ok(stream)) => stream,
        };
        let (mut recv, mut send) = tokio::io::split(&mut stream);
        check_hello(&mut send, &mut recv, secret).await.map_err(TransportError::Refused)?;
        Ok(stream)
    }
}

/// No delay for small frames (a request must not wait for more), and keep-alive probes,
/// so a peer that vanishes without a reset is noticed within seconds rather than never.
fn tune(stream: &TcpStream) {
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(5))
        .with_interval(Duration::from_secs(1))
        .with_retries(5);
    let socket = socket2::SockRef::from(stream);
    // Best effort: without them a transfer still works.
    let _ = socket.set_tcp_nodelay(true);
    let _ = socket.set_tcp_keepalive(&keepalive);
}

/// A bulk handshake must finish within this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connects to the bulk listener at `address`, which must present `pinned_certificate`,
/// and proves the secret; fails within `timeout` (plus the hello's answer).
pub async fn bulk_connect(
    pinned_certificate: &[u8],
    address: SocketAddr,
    secret: &[u8; 32],
    timeout: Duration,
) -> Result<BulkClientStream> {
    let mut config = tls::client_config(pinned_certificate)?;
    config.alpn_protocols = vec![BULK_ALPN.to_vec()];
    let connect = async {
        let tcp =
            TcpStream::connect(address).await.map_err(|e| TransportError::Connection(format!("{address}: {e}")))?;
        tune(&tcp);
        let name = rustls::pki_types::ServerName::try_from(tls::SERVER_NAME)
            .map_err(|e| TransportError::Tls(e.to_string()))?;
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| TransportError::Connection(format!("{address}: {e}")))
    };
    let mut stream = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| TransportError::Timeout(format!("no answer from {address} within {timeout:?}")))??;
    let (mut recv, mut send) = tokio::io::split(&mut stream);
    prove_secret(&mut send, &mut recv, secret, Role::Client).await?;
    Ok(stream)
}
