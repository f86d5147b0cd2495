//! Bulk-transfer throughput between two processes over a pinned, authenticated QUIC
//! connection on loopback: the ceiling for moving chunks between workers.
//!
//! `cargo run --release -p tessera-transport --example throughput [MIB] [STREAMS]`
//! The parent serves MIB mebibytes (default 1024) split over STREAMS concurrent streams
//! (default 4); a child process of the same binary fetches them, and the parent prints
//! the rate the child saw.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use tessera_transport::{ClusterIdentity, Role, accept_hello, client_endpoint, connect, send_hello, server_endpoint};

const CHUNK: usize = 8 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    if args.get(1).map(String::as_str) == Some("--fetch") {
        return runtime.block_on(fetch(&args[2], &args[3], &args[4], args[5].parse()?, args[6].parse()?));
    }
    let mib: usize = args.get(1).map_or(Ok(1024), |a| a.parse())?;
    let streams: usize = args.get(2).map_or(Ok(4), |a| a.parse())?;
    runtime.block_on(serve(mib, streams))
}

async fn serve(mib: usize, streams: usize) -> Result<(), Box<dyn std::error::Error>> {
    let identity = ClusterIdentity::generate()?;
    let endpoint = server_endpoint(&identity, ([127, 0, 0, 1], 0).into())?;
    let addr = endpoint.local_addr()?;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--fetch", &addr.to_string(), &hex(&identity.certificate), &hex(&identity.secret)])
        .args([mib.to_string(), streams.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let conn = endpoint.accept().await.ok_or("no connection")?.await?;
    let _control = accept_hello(&conn, &identity.secret).await?;
    let payload = vec![7u8; CHUNK];
    let per_stream = mib * (1 << 20) / streams;
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let mut send = conn.open_uni().await?;
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut left = per_stream;
            while left > 0 {
                let n = left.min(CHUNK);
                send.write_all(&payload[..n]).await?;
                left -= n;
            }
            send.finish()?;
            Ok::<_, quinn::WriteError>(())
        }));
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

async fn fetch(
    addr: &str,
    cert: &str,
    secret: &str,
    mib: usize,
    streams: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let unhex =
        |s: &str| (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16)).collect::<Result<Vec<u8>, _>>();
    let secret: [u8; 32] = unhex(secret)?.try_into().map_err(|_| "bad secret")?;
    let endpoint = client_endpoint(&unhex(cert)?)?;
    let conn = connect(&endpoint, addr.parse()?, std::time::Duration::from_secs(5)).await?;
    let _control = send_hello(&conn, &secret, Role::Client).await?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let mut recv = conn.accept_uni().await?;
        tasks.push(tokio::spawn(async move {
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0usize;
            while let Some(n) = recv.read(&mut buf).await? {
                total += n;
            }
            Ok::<_, quinn::ReadError>(total)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(total, mib << 20);
    println!("{} MiB over {streams} streams in {secs:.3} s: {:.3} GB/s", mib, total as f64 / secs / 1e9);
    std::io::stdout().flush()?;
    Ok(())
}
