//! Real QUIC connections on loopback: who gets in and who does not.

use std::net::SocketAddr;
use std::time::Duration;

use tessera_transport::{
    ClusterIdentity, Role, TransportError, accept_hello, client_endpoint, connect, read_frame, send_hello,
    server_endpoint, write_frame,
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
        while let Some(incoming) = endpoint.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else {
                    let _ = tx.send(Err("handshake failed".into()));
                    return;
                };
                match accept_hello(&conn, &secret).await {
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
