//! Worker-to-worker values: the servers that hand a worker's held values to peers, and
//! the pool of authenticated connections a worker (or a client) fetches them through.
//!
//! Values travel on the bulk plane (TLS over TCP, `tessera_transport::bulk`) where the
//! peer has one, with QUIC as the fallback: one QUIC connection carries about a third
//! of what one TCP connection does here. Either way a request is a [`Fetch`] frame and
//! the answer a [`FetchReply`] followed by the value's wire header and body; the body
//! is written from the held value's own memory and read into the new block's own
//! buffer, so neither end copies or converts elements. A bulk connection serves one
//! request after another and goes back to an idle pool after each; fetches in flight
//! at once to a peer each take a connection of their own.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use quinn::{Connection, Endpoint};
use tessera_kernels::{Value, wire};
use tessera_transport::{
    BulkClientStream, BulkListener, PendingPeers, Role, accept_hello, bulk_connect, client_endpoint, connect,
    read_frame, send_hello, write_frame,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::{Fetch, FetchReply, Peer, VALUE_LIMIT};
use crate::worker::Shared;
use crate::{CONNECT_TIMEOUT, lock};

/// A request frame is a few bytes.
const REQUEST_LIMIT: usize = 1024;
/// The answer to a request must begin within this time (the value may have to be read
/// back from a spill file first); a peer that stays silent longer is taken as gone.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle bulk connections kept per peer.
const IDLE_PER_PEER: usize = 16;

/// Serves values to authenticated peers over QUIC: one request per bidirectional stream.
pub(crate) async fn serve_peers(endpoint: Endpoint, secret: [u8; 32], shared: Arc<Shared>) {
    let pending = Arc::new(PendingPeers::default());
    while let Some(incoming) = endpoint.accept().await {
        let Some(place) = pending.admit() else {
            incoming.refuse();
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            let proved = accept_hello(&conn, &secret).await;
            drop(place);
            if proved.is_err() {
                return;
            }
            while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                let shared = shared.clone();
                tokio::spawn(async move {
                    let Ok(req) = read_frame::<_, Fetch>(&mut recv, REQUEST_LIMIT).await else { return };
                    if answer(&mut send, &shared, req).await.is_ok() {
                        let _ = send.finish();
                    }
                });
            }
        });
    }
}

/// Serves values to authenticated peers over the bulk plane: requests one after
/// another on each connection.
pub(crate) async fn serve_bulk(listener: BulkListener, secret: [u8; 32], shared: Arc<Shared>) {
    loop {
        let incoming = match listener.accept().await {
            Ok(incoming) => incoming,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!("bulk plane: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(stream) = incoming.authenticate(&secret).await else { return };
            let (mut recv, mut send) = tokio::io::split(stream);
            while let Ok(req) = read_frame::<_, Fetch>(&mut recv, REQUEST_LIMIT).await {
                if answer(&mut send, &shared, req).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Writes the answer to one request: the value's size, header and body, or `Missing`.
async fn answer<W: AsyncWrite + Unpin>(send: &mut W, shared: &Shared, req: Fetch) -> std::io::Result<()> {
    let Some(value) = shared.value(req.graph, req.task) else {
        write_frame(send, &FetchReply::Missing).await.map_err(std::io::Error::other)?;
        return send.flush().await;
    };
    let (header, body) = (wire::header(&value), wire::body(&value));
    let len = (header.len() + body.len()) as u64;
    write_frame(send, &FetchReply::Found(len)).await.map_err(std::io::Error::other)?;
    send.write_all(&header).await?;
    send.write_all(&body).await?;
    send.flush().await?;
    shared.counters.bytes_out.fetch_add(value.nbytes() as u64, Relaxed);
    Ok(())
}

/// The connection broke or spoke nonsense: it cannot carry another request.
struct Broken;

/// Sends one request and reads its answer: the value, or `None` if the peer does not
/// hold it.
async fn request<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, req: &Fetch) -> Result<Option<Value>, Broken> {
    write_frame(stream, req).await.map_err(|_| Broken)?;
    stream.flush().await.map_err(|_| Broken)?;
    receive(stream).await
}

/// Reads the answer to a request (see [`answer`]).
async fn receive<R: AsyncRead + Unpin>(recv: &mut R) -> Result<Option<Value>, Broken> {
    let reply = tokio::time::timeout(REPLY_TIMEOUT, read_frame::<_, FetchReply>(recv, REQUEST_LIMIT)).await;
    let FetchReply::Found(len) = reply.map_err(|_| Broken)?.map_err(|_| Broken)? else { return Ok(None) };
    if len > VALUE_LIMIT {
        return Err(Broken);
    }
    let mut header = vec![0u8; wire::PREFIX_BYTES];
    recv.read_exact(&mut header).await.map_err(|_| Broken)?;
    let prefix: [u8; wire::PREFIX_BYTES] = header.as_slice().try_into().map_err(|_| Broken)?;
    header.resize(wire::header_bytes(&prefix), 0);
    recv.read_exact(&mut header[wire::PREFIX_BYTES..]).await.map_err(|_| Broken)?;
    // The header's shape is checked against the announced size before the body's
    // buffer is allocated.
    let mut incoming = wire::Incoming::new(&header, len).ok_or(Broken)?;
    if (header.len() + incoming.body_len()) as u64 != len {
        return Err(Broken);
    }
    recv.read_exact(incoming.body_mut()).await.map_err(|_| Broken)?;
    incoming.finish().map(Some).ok_or(Broken)
}

/// Connections to other workers (and, for clients, to workers), authenticated once.
pub(crate) struct PeerPool {
    secret: [u8; 32],
    connections: tokio::sync::Mutex<HashMap<SocketAddr, (Endpoint, Connection)>>,
    idle: std::sync::Mutex<HashMap<SocketAddr, Vec<BulkClientStream>>>,
}

impl PeerPool {
    pub(crate) fn new(secret: [u8; 32]) -> PeerPool {
        PeerPool {
            secret,
            connections: tokio::sync::Mutex::new(HashMap::new()),
            idle: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Fetches a value from a peer; `None` if it is unreachable or does not have it.
    pub(crate) async fn fetch(&self, peer: &Peer, graph: u64, task: u64) -> Option<Value> {
        let req = Fetch { graph, task };
        if let Some(address) = peer.bulk {
            match self.fetch_bulk(peer, address, &req).await {
                Ok(value) => return value,
                Err(Broken) => tracing::debug!("bulk plane to {address} failed; fetching over QUIC"),
            }
        }
        let conn = self.connection(peer).await?;
        let (mut send, mut recv) = conn.open_bi().await.ok()?;
        write_frame(&mut send, &req).await.ok()?;
        let _ = send.finish();
        receive(&mut recv).await.ok().flatten()
    }

    /// A fetch over an idle bulk connection to the peer, or a new one if there is none
    /// or the idle one turns out to be dead.
    async fn fetch_bulk(&self, peer: &Peer, address: SocketAddr, req: &Fetch) -> Result<Option<Value>, Broken> {
        let parked = lock(&self.idle).get_mut(&address).and_then(Vec::pop);
        if let Some(mut stream) = parked
            && let Ok(value) = request(&mut stream, req).await
        {
            self.park(address, stream);
            return Ok(value);
        }
        let mut stream =
            bulk_connect(&peer.certificate, address, &self.secret, CONNECT_TIMEOUT).await.map_err(|_| Broken)?;
        let value = request(&mut stream, req).await?;
        self.park(address, stream);
        Ok(value)
    }

    fn park(&self, address: SocketAddr, stream: BulkClientStream) {
        let mut idle = lock(&self.idle);
        let streams = idle.entry(address).or_default();
        if streams.len() < IDLE_PER_PEER {
            streams.push(stream);
        }
    }

    async fn connection(&self, peer: &Peer) -> Option<Connection> {
        if let Some((_, c)) = self.connections.lock().await.get(&peer.listen)
            && c.close_reason().is_none()
        {
            return Some(c.clone());
        }
        // Connect without holding the pool: an unreachable peer must not stall fetches
        // from the others while its connection attempt times out.
        let endpoint = client_endpoint(&peer.certificate).ok()?;
        let conn = connect(&endpoint, peer.listen, CONNECT_TIMEOUT).await.ok()?;
        // The control stream of a peer connection carries only the hello.
        send_hello(&conn, &self.secret, Role::Client).await.ok()?;
        self.connections.lock().await.insert(peer.listen, (endpoint, conn.clone()));
        Some(conn)
    }
}
