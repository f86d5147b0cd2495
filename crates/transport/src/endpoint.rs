//! QUIC endpoints tuned for bulk transfers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{Connection, Endpoint, IdleTimeout, TransportConfig, VarInt};

use crate::{ClusterIdentity, Result, TransportError, io, tls};

/// Keep-alive interval: well below the idle timeout, so quiet connections stay open.
const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// A peer silent this long is gone.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes a connection may have in flight towards us once its peer proved the secret.
pub(crate) const AUTHENTICATED_WINDOW: u32 = 64 << 20;
/// ...and before: a hello is tiny, so a peer that has not proved the secret can make a
/// server buffer no more than this, however many streams it opens.
const UNAUTHENTICATED_WINDOW: u32 = 64 << 10;

/// A client's connection to its scheduler: a client killed outright (SIGKILL sends no
/// close) is noticed within this, so its graphs stop taking the workers' time. The
/// connection's idle timeout is the smaller of both ends', so this end decides.
pub const CLIENT_IDLE_TIMEOUT: Duration = Duration::from_secs(1);
/// ...with keep-alives several times within it.
const CLIENT_KEEP_ALIVE: Duration = Duration::from_millis(200);

fn transport_config(receive_window: u32) -> Arc<TransportConfig> {
    transport_config_with(receive_window, KEEP_ALIVE, IDLE_TIMEOUT)
}

fn transport_config_with(receive_window: u32, keep_alive: Duration, idle: Duration) -> Arc<TransportConfig> {
    let mut t = TransportConfig::default();
    t.keep_alive_interval(Some(keep_alive));
    t.max_idle_timeout(Some(IdleTimeout::from(VarInt::from_u32(idle.as_millis() as u32))));
    // Windows sized for chunk transfers: 64 MiB per connection (servers open it after
    // the hello, see `accept_hello`), 16 MiB per stream.
    t.receive_window(VarInt::from_u32(receive_window));
    t.stream_receive_window(VarInt::from_u32(16 << 20));
    t.send_window(64 << 20);
    t.max_concurrent_bidi_streams(VarInt::from_u32(1024));
    t.max_concurrent_uni_streams(VarInt::from_u32(1024));
    Arc::new(t)
}

/// UDP socket buffers: bursts of a bulk transfer must not overflow the kernel's
/// default ~200 KiB and turn into losses. The kernel caps this at `net.core.rmem_max`.
const SOCKET_BUFFER_BYTES: usize = 8 << 20;

/// A UDP socket bound to `address` with large buffers.
fn udp_socket(address: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(address), socket2::Type::DGRAM, None)?;
    // Best effort: a smaller buffer still works, only slower.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    socket.bind(&address.into())?;
    Ok(socket.into())
}

fn endpoint(address: SocketAddr, server: Option<quinn::ServerConfig>) -> std::io::Result<Endpoint> {
    let runtime = quinn::default_runtime().ok_or_else(|| std::io::Error::other("no async runtime"))?;
    Endpoint::new(quinn::EndpointConfig::default(), server, udp_socket(address)?, runtime)
}

/// A server endpoint bound to `address` with the cluster's certificate. Must be called
/// inside a tokio runtime.
pub fn server_endpoint(identity: &ClusterIdentity, address: SocketAddr) -> Result<Endpoint> {
    let crypto =
        QuicServerConfig::try_from(tls::server_config(identity)?).map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport_config(UNAUTHENTICATED_WINDOW));
    endpoint(address, Some(config)).map_err(io(format!("cannot listen on {address}")))
}

/// A client endpoint that trusts only the pinned certificate.
pub fn client_endpoint(pinned_certificate: &[u8]) -> Result<Endpoint> {
    endpoint_for(pinned_certificate, transport_config(AUTHENTICATED_WINDOW))
}

/// [`client_endpoint`] for a user's client of a scheduler, whose death the scheduler
/// must notice within [`CLIENT_IDLE_TIMEOUT`].
pub fn watched_client_endpoint(pinned_certificate: &[u8]) -> Result<Endpoint> {
    endpoint_for(
        pinned_certificate,
        transport_config_with(AUTHENTICATED_WINDOW, CLIENT_KEEP_ALIVE, CLIENT_IDLE_TIMEOUT),
    )
}

fn endpoint_for(pinned_certificate: &[u8], transport: Arc<TransportConfig>) -> Result<Endpoint> {
    let crypto = QuicClientConfig::try_from(tls::client_config(pinned_certificate)?)
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport);
    let bind: SocketAddr = ([0, 0, 0, 0], 0).into();
    let mut endpoint = endpoint(bind, None).map_err(io("cannot open a UDP socket"))?;
    endpoint.set_default_client_config(config);
    Ok(endpoint)
}

/// Connects to the scheduler at `address`, failing within `timeout`.
pub async fn connect(endpoint: &Endpoint, address: SocketAddr, timeout: Duration) -> Result<Connection> {
    let connecting = endpoint
        .connect(address, tls::SERVER_NAME)
        .map_err(|e| TransportError::Connection(format!("{address}: {e}")))?;
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(TransportError::Connection(format!("{address}: {e}"))),
        Err(_) => Err(TransportError::Timeout(format!("no answer from {address} within {timeout:?}"))),
    }
}
