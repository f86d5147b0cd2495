//! The cluster's core cases on a [`Standalone`] cluster: scheduler, workers and clients
//! in this one process, over real QUIC on loopback. Results equal a local run bit for
//! bit; failures arrive with the same kind (exit code) as locally; a client that sends
//! what only workers may send changes nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tessera_graph::{Array, ChunkSpec, Index, LowerOptions, TaskGraph, lower};
use tessera_kernels::cpu::CpuBackend;
use tessera_kernels::{Backend, Value};
use tessera_runtime::{NoObserver, Scheduler};
use tessera_transport::{ClusterFile, Role, client_endpoint, connect, send_hello, write_frame};

use crate::protocol::{Counters, FailureKind, ToScheduler};
use crate::{ClusterError, NoWatch, Standalone, Watch, WorkerOptions};

fn options(memory_limit: u64) -> WorkerOptions {
    let backend: Arc<dyn Backend> = Arc::new(CpuBackend);
    WorkerOptions { name: "standalone".into(), threads: 2, memory_limit, backend, gpu: None }
}

fn chunks(spec: &str) -> ChunkSpec {
    ChunkSpec::parse(spec).expect("valid chunks")
}

/// The seed's computation, small: a random array times its reverse, summed by columns
/// (many outputs, values moved between workers).
fn seed_graph(fuse: bool) -> TaskGraph {
    let x = Array::random(&[600, 500], 42, &chunks("100")).expect("valid");
    let y = x.slice(&[Index::REVERSED, Index::REVERSED]).expect("valid");
    let z = (&x * &y).expect("valid").sum(Some(&[0])).expect("valid");
    let options = if fuse { LowerOptions::default() } else { LowerOptions::unfused() };
    lower(&z, &options).expect("lowers")
}

fn local(graph: &TaskGraph) -> Vec<Value> {
    tessera_runtime::run(graph, &CpuBackend, Scheduler::threads(), &NoObserver).expect("runs").outputs
}

#[test]
fn a_standalone_cluster_computes_what_a_local_run_does() {
    let cluster = Standalone::start(3, options(1 << 30)).expect("starts");
    let mut client = cluster.client().expect("connects");
    for fuse in [true, false] {
        let graph = seed_graph(fuse);
        let run = client.compute(&graph, &NoWatch).expect("computes");
        assert_eq!(run.values, local(&graph), "fuse {fuse}");
        assert_eq!(run.workers.len(), 3, "every worker reports its share");
        assert!(run.workers.iter().all(|w| w.name.starts_with("standalone-")), "{:?}", run.workers);
    }
}

#[test]
fn a_worker_added_later_takes_part() {
    let mut cluster = Standalone::start(1, options(1 << 30)).expect("starts");
    cluster.add_worker().expect("adds");
    assert_eq!(cluster.workers(), 2);
    let mut client = cluster.client().expect("connects");
    let graph = seed_graph(false);
    let run = client.compute(&graph, &NoWatch).expect("computes");
    assert_eq!(run.values, local(&graph));
}

#[test]
fn failures_keep_their_kind_across_the_wire() {
    let cluster = Standalone::start(1, options(64 << 20)).expect("starts");
    let mut client = cluster.client().expect("connects");
    // A value numpy refuses: bad input (exit 2), as in a local run.
    let ints = Array::arange(10, &chunks("5")).expect("valid");
    let exponent = (&Array::arange(10, &chunks("5")).expect("valid") - &Array::ones(&[10], &chunks("5")).expect("ok"))
        .expect("valid")
        .astype(tessera_graph::DType::Int64);
    let power = ints.binary(tessera_graph::BinaryOp::Pow, &exponent).expect("builds");
    let graph = lower(&power, &LowerOptions::default()).expect("lowers");
    match client.compute(&graph, &NoWatch) {
        Err(ClusterError::BadInput(m)) => assert!(m.contains("negative"), "{m}"),
        other => panic!("expected bad input, got {:?}", other.map(|r| r.values)),
    }
    // A task larger than any worker's memory: refused for resources (exit 3).
    let big = Array::random(&[8000, 8000], 1, &chunks("8000")).expect("valid");
    let graph = lower(&(&big + &big.t()).expect("valid"), &LowerOptions::default()).expect("lowers");
    assert!(matches!(client.compute(&graph, &NoWatch), Err(ClusterError::Resources(_))));
    // A malformed graph: refused with a message, before any task runs.
    let mut graph = seed_graph(true);
    let n = graph.tasks.len();
    graph.tasks[0].deps.push(n);
    match client.compute(&graph, &NoWatch) {
        Err(ClusterError::BadInput(m)) => assert!(m.contains("malformed graph"), "{m}"),
        other => panic!("expected a refused graph, got {:?}", other.map(|r| r.values)),
    }
    // The same client computes on afterwards.
    let graph = seed_graph(true);
    assert_eq!(client.compute(&graph, &NoWatch).expect("computes").values, local(&graph));
}

struct CancelAtOnce;
impl Watch for CancelAtOnce {
    fn cancelled(&self) -> bool {
        true
    }
}

#[test]
fn a_cancelled_run_says_cancelled_as_a_local_run_does() {
    let cluster = Standalone::start(1, options(1 << 30)).expect("starts");
    let mut client = cluster.client().expect("connects");
    let err = client.compute(&seed_graph(false), &CancelAtOnce).map(|r| r.values).expect_err("cancelled");
    assert!(matches!(err, ClusterError::Cancelled));
    assert_eq!(err.to_string(), tessera_runtime::RuntimeError::Cancelled.to_string());
}

/// A client that claims, over and over, to have finished, failed, lost or given up
/// tasks of every graph: only workers may say so, and the run it targets is unchanged.
#[test]
fn worker_messages_from_a_client_are_ignored() {
    let cluster = Standalone::start(2, options(1 << 30)).expect("starts");
    let file = ClusterFile::read(cluster.cluster_file()).expect("reads");
    let stop = Arc::new(AtomicBool::new(false));
    let rogue = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async {
                let endpoint = client_endpoint(&file.certificate).expect("endpoint");
                let conn =
                    connect(&endpoint, file.address, std::time::Duration::from_secs(10)).await.expect("connects");
                let (mut send, _recv) = send_hello(&conn, &file.secret, Role::Client).await.expect("proves");
                let mut sent = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for graph in 1..4 {
                        for task in 0..64 {
                            let lies = [
                                ToScheduler::Finished { graph, task, bytes: 8, counters: Counters::default() },
                                ToScheduler::StealAnswer { graph, task, stolen: true },
                                ToScheduler::InputsLost { graph, task },
                                ToScheduler::Failed { graph, task, error: "lie".into(), kind: FailureKind::Failed },
                            ];
                            for lie in &lies {
                                write_frame(&mut send, lie).await.expect("sends");
                                sent += 1;
                            }
                        }
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                sent
            })
        })
    };
    let mut client = cluster.client().expect("connects");
    for _ in 0..3 {
        let graph = seed_graph(false);
        let run = client.compute(&graph, &NoWatch).expect("a rogue client cannot fail or alter the run");
        assert_eq!(run.values, local(&graph));
    }
    stop.store(true, Ordering::Relaxed);
    assert!(rogue.join().expect("rogue thread") > 0);
}
