//! Messages between scheduler, workers and clients.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tessera_metrics::{WorkerRun, WorkerStatus};
pub use tessera_runtime::distributed::FailureKind;

/// Where a value can be fetched: a worker's peer endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// Its address.
    pub listen: SocketAddr,
    /// Its certificate, pinned by the fetcher.
    #[serde(with = "serde_bytes")]
    pub certificate: Vec<u8>,
    /// Its bulk (TLS over TCP) address, preferred for values; absent: QUIC only.
    #[serde(default)]
    pub bulk: Option<SocketAddr>,
}

/// From a worker or a client to the scheduler.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToScheduler {
    /// Worker: a task is computed and held.
    Finished {
        /// The graph.
        graph: u64,
        /// The task.
        task: u64,
        /// Bytes of the value.
        bytes: u64,
        /// The worker's counters now, so a run's usage is exact at its end (heartbeats
        /// may lag by one interval).
        counters: Counters,
    },
    /// Worker: its resource use, every [`tessera_runtime::distributed::HEARTBEAT_INTERVAL_MS`].
    Heartbeat(Beat),
    /// Worker: the answer to a [`FromScheduler::Steal`].
    StealAnswer {
        /// The graph.
        graph: u64,
        /// The task.
        task: u64,
        /// It had not started and will not run here.
        stolen: bool,
    },
    /// Worker: an input could not be fetched.
    InputsLost {
        /// The graph.
        graph: u64,
        /// The task.
        task: u64,
    },
    /// Worker: a task failed.
    Failed {
        /// The graph.
        graph: u64,
        /// The task.
        task: u64,
        /// The error.
        error: String,
        /// Its class (the exit code the user sees).
        kind: FailureKind,
    },
    /// Worker: it is leaving (SIGTERM: its job ends); it takes no more tasks and waits
    /// for [`FromScheduler::Retire`] while what it holds is copied off it.
    Retiring,
    /// Worker: the answer to a [`FromScheduler::Copy`].
    Copied {
        /// The graph.
        graph: u64,
        /// The task whose value it is.
        task: u64,
        /// It holds the value now.
        copied: bool,
    },
    /// Client: compute this graph (rmp-serde encoded `TaskGraph`).
    Submit {
        /// The client's id for the request.
        request: u64,
        /// The graph.
        #[serde(with = "serde_bytes")]
        tasks: Vec<u8>,
        /// Only workers with a GPU may compute it.
        gpu_only: bool,
    },
    /// Client: stop computing this request and release everything of it.
    Cancel {
        /// The request.
        request: u64,
    },
    /// Client: results fetched, release everything.
    Delivered {
        /// The request.
        request: u64,
    },
    /// Client: send the workers' state now ([`FromScheduler::Workers`]).
    Status,
    /// Client: send the backlog now ([`FromScheduler::Load`]).
    Load,
}

/// Who may send a message: the role its connection proved in its hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// Only workers report work.
    Worker,
    /// Only clients submit, cancel and take delivery.
    Client,
}

impl ToScheduler {
    /// The role that may send this message.
    pub fn sender(&self) -> Sender {
        match self {
            ToScheduler::Finished { .. }
            | ToScheduler::Heartbeat(_)
            | ToScheduler::StealAnswer { .. }
            | ToScheduler::InputsLost { .. }
            | ToScheduler::Retiring
            | ToScheduler::Copied { .. }
            | ToScheduler::Failed { .. } => Sender::Worker,
            ToScheduler::Submit { .. }
            | ToScheduler::Cancel { .. }
            | ToScheduler::Delivered { .. }
            | ToScheduler::Status
            | ToScheduler::Load => Sender::Client,
        }
    }

    /// The message's name, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            ToScheduler::Finished { .. } => "Finished",
            ToScheduler::Heartbeat(_) => "Heartbeat",
            ToScheduler::StealAnswer { .. } => "StealAnswer",
            ToScheduler::InputsLost { .. } => "InputsLost",
            ToScheduler::Failed { .. } => "Failed",
            ToScheduler::Retiring => "Retiring",
            ToScheduler::Copied { .. } => "Copied",
            ToScheduler::Submit { .. } => "Submit",
            ToScheduler::Cancel { .. } => "Cancel",
            ToScheduler::Delivered { .. } => "Delivered",
            ToScheduler::Status => "Status",
            ToScheduler::Load => "Load",
        }
    }
}

/// Bytes shared by several messages (a graph sent to every worker), encoded as one
/// msgpack binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedBytes(pub Arc<[u8]>);

impl Serialize for SharedBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for SharedBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(deserializer)?;
        Ok(SharedBytes(Arc::from(bytes.into_vec())))
    }
}

/// The cumulative counters a worker sends with every finished task.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Counters {
    /// CPU seconds of the process.
    pub cpu_seconds: f64,
    /// Value bytes fetched from peers.
    pub bytes_in: u64,
    /// Value bytes served.
    pub bytes_out: u64,
    /// Seconds during which at least one fetch was in flight.
    pub fetch_seconds: f64,
    /// Value bytes written to its spill folder.
    pub spilled_bytes: u64,
    /// Bytes read from stored arrays.
    #[serde(default)]
    pub bytes_read: u64,
    /// Bytes written to stored arrays.
    #[serde(default)]
    pub bytes_written: u64,
}

/// A worker's heartbeat: its resource use so far.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Beat {
    /// CPU seconds of the process.
    pub cpu_seconds: f64,
    /// Resident memory now.
    pub rss_bytes: u64,
    /// Peak resident memory.
    pub peak_rss_bytes: u64,
    /// Bytes of values held in memory.
    pub held_bytes: u64,
    /// Value bytes written to its spill folder so far.
    pub spilled_bytes: u64,
    /// Value bytes fetched from peers.
    pub bytes_in: u64,
    /// Value bytes served.
    pub bytes_out: u64,
    /// Seconds during which at least one fetch was in flight.
    pub fetch_seconds: f64,
    /// Bytes read from stored arrays.
    #[serde(default)]
    pub bytes_read: u64,
    /// Bytes written to stored arrays.
    #[serde(default)]
    pub bytes_written: u64,
    /// Tasks computing now.
    pub tasks_running: u64,
    /// Tasks finished.
    pub tasks_done: u64,
    /// Tasks finished since the previous beat (`ended_ms_ago` counts from this beat).
    pub recent: Vec<tessera_metrics::TaskSpan>,
}

/// From the scheduler to a worker or a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FromScheduler {
    /// Worker: a graph it will compute tasks of.
    Graph {
        /// The graph id.
        graph: u64,
        /// The rmp-serde encoded `TaskGraph`, as the client sent it (one copy in the
        /// scheduler, shared by every worker's message).
        tasks: SharedBytes,
    },
    /// Worker: compute a task; for each input, the peer holding it (`None`: itself).
    Compute {
        /// The graph.
        graph: u64,
        /// The task.
        task: u64,
        /// Inputs in dependency order.
        inputs: Vec<(u64, Option<Peer>)>,
    },
    /// Worker: give up this task if it has not started.
    Steal {
        /// The graph.
        graph: u64,
        /// The task.
        task: u64,
    },
    /// Worker: the graph ended (delivered, failed, cancelled, or its client is gone):
    /// drop its queued tasks, its values and the graph itself.
    Forget {
        /// The graph.
        graph: u64,
    },
    /// Worker: copy a value from a leaving worker and hold it.
    Copy {
        /// The graph.
        graph: u64,
        /// The task whose value it is.
        task: u64,
        /// The leaving worker.
        from: Peer,
    },
    /// Worker: you asked to leave and have handed everything over: go.
    Retire,
    /// Worker: drop a value.
    Release {
        /// The graph.
        graph: u64,
        /// The task.
        task: u64,
    },
    /// Client: progress.
    Progress {
        /// The request.
        request: u64,
        /// Tasks done.
        done: u64,
        /// Tasks in all.
        total: u64,
        /// Tasks done per layer of the graph (progress per operation).
        layers: Vec<u64>,
    },
    /// Client: finished; fetch the outputs from these peers.
    Result {
        /// The request.
        request: u64,
        /// The graph id to fetch with.
        graph: u64,
        /// Output tasks and their holders.
        outputs: Vec<(u64, Peer)>,
        /// Each worker's share of the run.
        usage: Vec<WorkerRun>,
    },
    /// Client: the workers' state, several times a second while its graph runs.
    Workers(Vec<WorkerStatus>),
    /// Client: the answer to [`ToScheduler::Load`].
    Load(Load),
    /// Client: the request failed.
    Failed {
        /// The request.
        request: u64,
        /// Why.
        error: String,
        /// Its class (the exit code the user sees).
        kind: FailureKind,
    },
}

/// How much work the cluster has: what a launcher scales on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Load {
    /// Tasks ready to run that no worker has room for.
    pub ready: u64,
    /// Tasks sent to workers and not finished.
    pub in_flight: u64,
    /// Workers connected (leaving ones included).
    pub workers: u64,
}

/// A value request on a peer stream (QUIC: one per stream; bulk: one after another on
/// a connection).
#[derive(Debug, Serialize, Deserialize)]
pub struct Fetch {
    /// The graph.
    pub graph: u64,
    /// The task.
    pub task: u64,
}

/// The answer to a [`Fetch`]: the byte count of the encoded value that follows
/// (`tessera_kernels::wire`: header, then body), or absent.
#[derive(Debug, Serialize, Deserialize)]
pub enum FetchReply {
    /// This many bytes of an encoded value follow on the stream.
    Found(u64),
    /// The value is not here.
    Missing,
}

/// Control frames from a trusted scheduler may carry whole graphs.
pub const GRAPH_FRAME_LIMIT: usize = 1 << 30;
/// Largest value a peer accepts.
pub const VALUE_LIMIT: u64 = 16 << 30;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_frame<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().ok()?;
        runtime.block_on(tessera_transport::read_frame::<_, T>(&mut &bytes[..], 1 << 20)).ok()
    }

    #[test]
    fn messages_round_trip_through_frames() {
        let mut buf = Vec::new();
        let peer = Peer {
            listen: ([127, 0, 0, 1], 7).into(),
            certificate: vec![1, 2, 3],
            bulk: Some(([127, 0, 0, 1], 8).into()),
        };
        let msg = FromScheduler::Compute { graph: 3, task: 9, inputs: vec![(1, None), (2, Some(peer.clone()))] };
        tessera_transport::encode_frame(&mut buf, &msg).expect("encodes");
        match decode_frame::<FromScheduler>(&buf) {
            Some(FromScheduler::Compute { graph: 3, task: 9, inputs }) => assert_eq!(inputs[1].1, Some(peer)),
            other => panic!("{other:?}"),
        }
    }

    /// Every decoder a process runs on bytes from the network, on one input: each
    /// rejects or decodes, never panics; a decoded graph is validated as the
    /// scheduler and workers do.
    fn decode_everything(body: &[u8], lie: bool) {
        let mut frame = (if lie { u32::MAX } else { body.len() as u32 }).to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        let _ = decode_frame::<ToScheduler>(&frame);
        let _ = decode_frame::<FromScheduler>(&frame);
        let _ = decode_frame::<Fetch>(&frame);
        let _ = decode_frame::<FetchReply>(&frame);
        let _ = decode_frame::<tessera_transport::Hello>(&frame);
        let _ = decode_frame::<tessera_transport::Verdict>(&frame);
        if let Ok(g) = rmp_serde::from_slice::<tessera_graph::TaskGraph>(body) {
            let _ = g.validate();
        }
        let _ = tessera_kernels::wire::decode(body);
    }

    /// Real encodings to mutate: a graph as clients send it, a value as workers serve it.
    fn seeds() -> Vec<Vec<u8>> {
        let x = tessera_graph::Array::random(&[30, 20], 1, &tessera_graph::ChunkSpec::parse("7").expect("valid"))
            .expect("valid");
        let y = (&x * &x.t().t()).expect("ok").sum(Some(&[0])).expect("ok");
        let graph = tessera_graph::lower(&y, &tessera_graph::LowerOptions::unfused()).expect("lowers");
        let block = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[3]), vec![1.0, 2.0, 3.0]).expect("shape");
        let value = tessera_kernels::Value::Block(tessera_kernels::Block::F64(block));
        vec![
            rmp_serde::to_vec_named(&graph).expect("encodes"),
            tessera_kernels::wire::encode(&value),
            rmp_serde::to_vec_named(&ToScheduler::InputsLost { graph: 1, task: 2 }).expect("encodes"),
        ]
    }

    /// A seed with bytes flipped, bytes inserted and its tail cut.
    fn mutated(seed: &[u8], flips: &[(usize, u8)], cut: usize) -> Vec<u8> {
        let mut bytes = seed.to_vec();
        for &(at, b) in flips {
            let i = at % bytes.len().max(1);
            match b % 3 {
                0 if !bytes.is_empty() => bytes[i] ^= b | 1,
                1 => bytes.insert(i.min(bytes.len()), b),
                _ => bytes.truncate(bytes.len().saturating_sub(1)),
            }
        }
        bytes.truncate(bytes.len().saturating_sub(cut % 8));
        bytes
    }

    fn mutations() -> impl Strategy<Value = (usize, Vec<(usize, u8)>, usize)> {
        (0..3usize, proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8), any::<usize>())
    }

    proptest! {
        /// Arbitrary bytes from a peer are rejected or decoded, never a panic.
        #[test]
        fn arbitrary_frames_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), lie in any::<bool>()) {
            decode_everything(&body, lie);
        }

        /// Real messages with a few bytes changed reach deeper into the decoders.
        #[test]
        fn mutated_messages_never_panic((seed, flips, cut) in mutations()) {
            decode_everything(&mutated(&seeds()[seed], &flips, cut), false);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        /// The same with many more cases: `cargo test -- --ignored fuzz` (run by CI).
        #[test]
        #[ignore = "long: run with --ignored fuzz"]
        fn fuzz_network_decoders((seed, flips, cut) in mutations(), body in proptest::collection::vec(any::<u8>(), 0..600)) {
            decode_everything(&mutated(&seeds()[seed], &flips, cut), false);
            decode_everything(&body, false);
        }
    }
}
