//! Bulk-transfer throughput between two processes on loopback, over either plane: the
//! ceiling for moving chunks between workers.
//!
//! `cargo run --release -p tessera-transport --example throughput [MIB] [STREAMS] [quic|tcp]`
//! The parent serves MIB mebibytes (default 1024) split over STREAMS (default 4):
//! concurrent streams of one pinned, authenticated QUIC connection (`quic`, the
//! default), or as many authenticated TLS-over-TCP bulk connections (`tcp`). A child
//! process of the same binary fetches them, and the parent prints the rate it saw.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use tessera_transport::{
    BulkListener, ClusterIdentity, Role, accept_hello, bulk_connect, client_endpoint, connect, send_hello,
    server_endpoint,
};

const CHUNK: usize = 8 << 20;

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Job {
    mib: usize,
    streams: usize,
    tcp: bool,
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if args.get(1).map(String::as_str) == Some("--fetch") {
        let job = Job { mib: args[5].parse()?, streams: args[6].parse()?, tcp: args[7] == "tcp" };
        return runtime.block_on(fetch(&args[2], &args[3], &args[4], job));
    }
    let mib: usize = args.get(1).map_or(Ok(1024), |a| a.parse())?;
    let streams: usize = args.get(2).map_or(Ok(4), |a| a.parse())?;
    let tcp = args.get(3).map(String::as_str) == Some("tcp");
    runtime.block_on(serve(Job { mib, streams, tcp }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|x| format!("{x:02x}")).collect()
}

/// Writes `bytes` bytes of the payload and shuts the stream down.
async fn send_bytes<W: AsyncWrite + Unpin>(mut send: W, payload: &[u8], bytes: usize) -> Result<(), Error> {
    let mut left = bytes;
    while left > 0 {
        let n = left.min(payload.len());
        send.write_all(&payload[..n]).await?;
        left -= n;
    }
    send.shutdown().await?;
    Ok(())
}

/// Reads a stream to its end; the byte count.
async fn drain<R: AsyncRead + Unpin>(mut recv: R) -> Result<usize, Error> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0usize;
    loop {
        match recv.read(&mut buf).await {
            Ok(0) => return Ok(total),
            Ok(n) => total += n,
            // A TLS peer that closes without close_notify after sending everything.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(total),
            Err(e) => return Err(e.into()),
        }
    }
}

async fn serve(job: Job) -> Result<(), Error> {
    let identity = ClusterIdentity::generate()?;
    let (quic, bulk) = if job.tcp {
        (None, Some(BulkListener::bind(&identity, ([127, 0, 0, 1], 0).into()).await?))
    } else {
        (Some(server_endpoint(&identity, ([127, 0, 0, 1], 0).into())?), None)
    };
    let addr = match (&quic, &bulk) {
        (Some(q), _) => q.local_addr()?,
        (_, Some(b)) => b.local_addr()?,
        _ => unreachable!("one plane is bound"),
    };
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--fetch", &addr.to_string(), &hex(&identity.certificate), &hex(&identity.secret)])
        .args([job.mib.to_string(), job.streams.to_string(), if job.tcp { "tcp" } else { "quic" }.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let payload = std::sync::Arc::new(vec![7u8; CHUNK]);
    let per_stream = job.mib * (1 << 20) / job.streams;
    let mut tasks = Vec::new();
    let mut _connection = None;
    if let Some(endpoint) = &quic {
        let conn = endpoint.accept().await.ok_or("no connection")?.await?;
        let _control = accept_hello(&conn, &identity.secret).await?;
        for _ in 0..job.streams {
            let send = conn.open_uni().await?;
            let payload = payload.clone();
            tasks.push(tokio::spawn(async move { send_bytes(send, &payload, per_stream).await }));
        }
        _connection = Some((conn, _control));
    }
    if let Some(listener) = &bulk {
        for _ in 0..job.streams {
            let stream = listener.accept().await?.authenticate(&identity.secret).await?;
            let payload = payload.clone();
            tasks.push(tokio::spawn(async move { send_bytes(stream, &payload, per_stream).await }));
        }
    }
    for t in tasks {
        t.await??;
    }
    // Written data may still sit in the send buffer: keep the runtime driving the
    // connection while the child reads.
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let line = tokio::task::spawn_blocking(move || BufReader::new(stdout).lines().next()).await?;
    println!("{}", line.ok_or("no report")??);
    child.wait()?;
    Ok(())
}

async fn fetch(addr: &str, cert: &str, secret: &str, job: Job) -> Result<(), Error> {
    let unhex =
        |s: &str| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16)).collect::<Result<Vec<u8>, _>>();
    let secret: [u8; 32] = unhex(secret)?.try_into().map_err(|_| "bad secret")?;
    let certificate = unhex(cert)?;
    let addr = addr.parse()?;
    let mut tasks = Vec::new();
    let start;
    let mut _connection = None;
    if job.tcp {
        let mut streams = Vec::new();
        for _ in 0..job.streams {
            streams.push(bulk_connect(&certificate, addr, &secret, Duration::from_secs(5)).await?);
        }
        start = Instant::now();
        for stream in streams {
            tasks.push(tokio::spawn(drain(stream)));
        }
    } else {
        let endpoint = client_endpoint(&certificate)?;
        let conn = connect(&endpoint, addr, Duration::from_secs(5)).await?;
        let control = send_hello(&conn, &secret, Role::Client).await?;
        start = Instant::now();
        for _ in 0..job.streams {
            tasks.push(tokio::spawn(drain(conn.accept_uni().await?)));
        }
        _connection = Some((endpoint, conn, control));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(total, job.mib << 20);
    let plane = if job.tcp { "TLS/TCP connections" } else { "QUIC streams" };
    println!("{} MiB over {} {plane} in {secs:.3} s: {:.3} GB/s", job.mib, job.streams, total as f64 / secs / 1e9);
    std::io::stdout().flush()?;
    Ok(())
}
