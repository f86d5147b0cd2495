//! Worker-to-worker values: the server that hands a worker's held values to peers, and
//! the pool of authenticated connections a worker (or a client) fetches them through.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use quinn::{Connection, Endpoint};
use tessera_kernels::{Value, wire};
use tessera_transport::{
    MAX_FRAME_BYTES, PendingPeers, Role, accept_hello, client_endpoint, connect, read_frame, send_hello, write_frame,
};

use crate::CONNECT_TIMEOUT;
use crate::protocol::{Fetch, FetchReply, Peer, VALUE_LIMIT};
use crate::worker::Shared;

/// Serves values to authenticated peers: one request per bidirectional stream.
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
                    let Ok(req) = read_frame::<_, Fetch>(&mut recv, MAX_FRAME_BYTES).await else { return };
                    match shared.value(req.graph, req.task) {
                        Some(v) => {
                            let bytes = wire::encode(&v);
                            if write_frame(&mut send, &FetchReply::Found(bytes.len() as u64)).await.is_ok()
                                && send.write_all(&bytes).await.is_ok()
                            {
                                shared.counters.bytes_out.fetch_add(v.nbytes() as u64, Relaxed);
                            }
                        }
                        None => {
                            let _ = write_frame(&mut send, &FetchReply::Missing).await;
                        }
                    }
                    let _ = send.finish();
                });
            }
        });
    }
}

/// Connections to other workers (and, for clients, to workers), authenticated once.
pub(crate) struct PeerPool {
    secret: [u8; 32],
    connections: tokio::sync::Mutex<HashMap<SocketAddr, (Endpoint, Connection)>>,
}

impl PeerPool {
    pub(crate) fn new(secret: [u8; 32]) -> PeerPool {
        PeerPool { secret, connections: tokio::sync::Mutex::new(HashMap::new()) }
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

    /// Fetches a value from a peer; `None` if it is unreachable or does not have it.
    pub(crate) async fn fetch(&self, peer: &Peer, graph: u64, task: u64) -> Option<Value> {
        let conn = self.connection(peer).await?;
        let (mut send, mut recv) = conn.open_bi().await.ok()?;
        write_frame(&mut send, &Fetch { graph, task }).await.ok()?;
        let _ = send.finish();
        let FetchReply::Found(len) = read_frame::<_, FetchReply>(&mut recv, 1024).await.ok()? else { return None };
        if len > VALUE_LIMIT {
            return None;
        }
        let mut bytes = vec![0u8; len as usize];
        recv.read_exact(&mut bytes).await.ok()?;
        wire::decode(&bytes)
    }
}
