//! Real QUIC connections on loopback: who gets in and who does not.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tessera_transport::{
    ClusterIdentity, MAX_PENDING_PEERS, PendingPeers, Role, TransportError, accept_hello, client_endpoint, connect,
    read_frame, send_hello, server_endpoint, write_frame,
};

const WAIT: Duration = Duration::from_secs(5);

/// A scheduler stand-in: accepts connections, checks hellos, echoes one frame for
/// accepted peers, and reports each outcome.
async fn serve(identity: ClusterIdentity) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<Result<Role, String>>) {
    let endpoint = server_endpoint(&identity, ([127, 0, 0, 1], 0).into()).expect("listen");
    let addr = endpoint.local_addr().expect("bound");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let secret = identity.secret;
    tokio::spawn(async move {
        let pending = Arc::new(PendingPeers::default());
        while let Some(incoming) = endpoint.accept().await {
            let tx = tx.clone();
            // As the scheduler does: at most MAX_PENDING_PEERS in their hello at once.
            let Some(place) = pending.admit() else {
                incoming.refuse();
                let _ = tx.send(Err("refused: too many pending".into()));
                continue;
            };
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else {
                    let _ = tx.send(Err("handshake failed".into()));
                    return;
                };
                let proved = accept_hello(&conn, &secret).await;
                drop(place);
                match proved {
                    Ok((role, mut send, mut recv)) => {
                        let _ = tx.send(Ok(role));
                        if let Ok(msg) = read_frame::<_, String>(&mut recv, 1024).await {
                            let _ = write_frame(&mut send, &format!("echo {msg}")).await;
                        }
                        // Keep the connection until the peer leaves.
                        let _ = conn.closed().await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn a_peer_with_the_cluster_file_gets_in() {
    let identity = ClusterIdentity::generate().expect("identity");
    let (certificate, secret) = (identity.certificate.clone(), identity.secret);
    let (addr, mut outcomes) = serve(identity).await;
    let endpoint = client_endpoint(&certificate).expect("client");
    let conn = connect(&endpoint, addr, WAIT).await.expect("connects");
    let role = Role::Worker {
        name: "w1".into(),
        threads: 2,
        memory_limit: 1 << 30,
        listen: ([127, 0, 0, 1], 9).into(),
        bulk: Some(([127, 0, 0, 1], 10).into()),
        certificate: vec![1, 2, 3],
        gpu: Some("test GPU".into()),
    };
    let (mut send, mut recv) = send_hello(&conn, &secret, role.clone()).await.expect("welcome");
    assert_eq!(outcomes.recv().await, Some(Ok(role)));
    write_frame(&mut send, &"ping".to_string()).await.expect("send");
    let echo: String = read_frame(&mut recv, 1024).await.expect("echo");
    assert_eq!(echo, "echo ping");
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_the_scheduler_keeps_serving() {
    let identity = ClusterIdentity::generate().expect("identity");
    let (certificate, secret) = (identity.certificate.clone(), identity.secret);
    let (addr, mut outcomes) = serve(identity).await;
    let endpoint = client_endpoint(&certificate).expect("client");
    let conn = connect(&endpoint, addr, WAIT).await.expect("connects");
    let err = send_hello(&conn, &[7u8; 32], Role::Client).await.expect_err("refused");
    assert!(matches!(&err, TransportError::Refused(r) if r.contains("wrong cluster secret")), "{err}");
    assert!(matches!(outcomes.recv().await, Some(Err(e)) if e.contains("wrong cluster secret")));
    // The next, honest client is still served.
    let conn = connect(&endpoint, addr, WAIT).await.expect("connects again");
    send_hello(&conn, &secret, Role::Client).await.expect("welcome");
    assert_eq!(outcomes.recv().await, Some(Ok(Role::Client)));
}

#[tokio::test]
async fn a_scheduler_with_another_certificate_is_not_trusted() {
    let real = ClusterIdentity::generate().expect("identity");
    let impostor = ClusterIdentity::generate().expect("identity");
    let (addr, _outcomes) = serve(impostor).await;
    let endpoint = client_endpoint(&real.certificate).expect("client");
    let err = connect(&endpoint, addr, WAIT).await.expect_err("untrusted");
    assert!(err.to_string().contains("does not match the one pinned"), "{err}");
}

#[tokio::test]
async fn garbage_datagrams_and_bad_hellos_close_only_that_connection() {
    let identity = ClusterIdentity::generate().expect("identity");
    let (certificate, secret) = (identity.certificate.clone(), identity.secret);
    let (addr, mut outcomes) = serve(identity).await;
    // Raw garbage at the UDP port: ignored by QUIC.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    for i in 0..50u8 {
        socket.send_to(&[i; 300], addr).await.expect("send");
    }
    // A peer that sends an oversized hello frame is dropped.
    let endpoint = client_endpoint(&certificate).expect("client");
    let conn = connect(&endpoint, addr, WAIT).await.expect("connects");
    let (mut send, _recv) = conn.open_bi().await.expect("stream");
    send.write_all(&(1u32 << 30).to_be_bytes()).await.expect("write");
    assert!(matches!(outcomes.recv().await, Some(Err(e)) if e.contains("exceeds the limit")));
    let reason = tokio::time::timeout(WAIT, conn.closed()).await.expect("closed by the scheduler");
    assert!(reason.to_string().contains("bad hello"), "{reason}");
    // A malformed hello is dropped too.
    let conn = connect(&endpoint, addr, WAIT).await.expect("connects");
    let (mut send, _recv) = conn.open_bi().await.expect("stream");
    write_frame(&mut send, &vec![1u8, 2, 3]).await.expect("write");
    assert!(matches!(outcomes.recv().await, Some(Err(e)) if e.contains("malformed")));
    // And the scheduler still welcomes an honest peer.
    let conn = connect(&endpoint, addr, WAIT).await.expect("connects");
    send_hello(&conn, &secret, Role::Client).await.expect("welcome");
    assert_eq!(outcomes.recv().await, Some(Ok(Role::Client)));
}

#[tokio::test]
async fn a_peer_without_the_secret_can_make_the_server_buffer_only_a_small_window() {
    let identity = ClusterIdentity::generate().expect("identity");
    let (certificate, secret) = (identity.certificate.clone(), identity.secret);
    let (addr, mut outcomes) = serve(identity).await;
    let endpoint = client_endpoint(&certificate).expect("client");
    let payload = vec![7u8; 4 << 20];
    // Before its hello, 4 MiB on a stream nobody reads stalls on flow control.
    let conn = connect(&endpoint, addr, WAIT).await.expect("connects");
    let mut send = conn.open_uni().await.expect("stream");
    let pushed = tokio::time::timeout(Duration::from_secs(2), send.write_all(&payload)).await;
    assert!(pushed.is_err(), "an unauthenticated peer pushed 4 MiB into the server");
    // After it, the window is open for chunk transfers.
    let conn = connect(&endpoint, addr, WAIT).await.expect("connects");
    send_hello(&conn, &secret, Role::Client).await.expect("welcome");
    assert_eq!(outcomes.recv().await, Some(Ok(Role::Client)));
    let mut send = conn.open_uni().await.expect("stream");
    tokio::time::timeout(WAIT, send.write_all(&payload)).await.expect("not stalled").expect("written");
}

#[tokio::test]
async fn peers_waiting_in_their_hello_are_capped() {
    let identity = ClusterIdentity::generate().expect("identity");
    let (certificate, secret) = (identity.certificate.clone(), identity.secret);
    let (addr, mut outcomes) = serve(identity).await;
    let endpoint = client_endpoint(&certificate).expect("client");
    let mut silent = Vec::new();
    for _ in 0..MAX_PENDING_PEERS {
        silent.push(connect(&endpoint, addr, WAIT).await.expect("connects"));
    }
    // One more is refused at once, while the silent ones hold every place.
    assert!(connect(&endpoint, addr, WAIT).await.is_err(), "a connection past the cap was accepted");
    assert!(matches!(outcomes.recv().await, Some(Err(e)) if e.contains("too many pending")));
    // A silent peer that leaves frees its place for an honest one.
    silent.pop().expect("one").close(0u32.into(), b"bye");
    let deadline = tokio::time::Instant::now() + WAIT;
    let conn = loop {
        match connect(&endpoint, addr, WAIT).await {
            Ok(c) => break c,
            Err(e) => assert!(tokio::time::Instant::now() < deadline, "never let in again: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    send_hello(&conn, &secret, Role::Client).await.expect("welcome");
}
