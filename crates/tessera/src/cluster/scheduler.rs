//! The scheduler process: accepts workers and clients, drives the sans-IO core.

use std::collections::HashMap;
use std::sync::Arc;

use quinn::{Connection, Endpoint, RecvStream, SendStream};
use tessera_graph::TaskGraph;
use tessera_runtime::distributed::{ClusterScheduler, Command, Event, WorkerInfo};
use tessera_transport::{MAX_FRAME_BYTES, Role, accept_hello, read_frame, write_batch};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use super::protocol::{FromScheduler, GRAPH_FRAME_LIMIT, Peer, ToScheduler};

enum Input {
    Joined { id: u64, role: Role, tx: UnboundedSender<FromScheduler> },
    Message { id: u64, message: ToScheduler },
    Lost { id: u64 },
}

struct Graph {
    client: u64,
    request: u64,
    bytes: Arc<Vec<u8>>,
    last_progress: u64,
    /// Tasks finished per worker name, logged when the graph is done.
    finished_by: std::collections::BTreeMap<String, u64>,
}

/// Serves the cluster on `endpoint` until the endpoint is closed. `secret` is the
/// cluster secret every peer must prove.
pub async fn serve_scheduler(endpoint: Endpoint, secret: [u8; 32]) {
    let (tx, mut rx) = unbounded_channel::<Input>();
    let accept_tx = tx.clone();
    tokio::spawn(async move {
        let mut next_id = 1u64;
        while let Some(incoming) = endpoint.accept().await {
            let id = next_id;
            next_id += 1;
            let tx = accept_tx.clone();
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                match accept_hello(&conn, &secret).await {
                    Ok((role, send, recv)) => connection(id, conn, role, send, recv, tx).await,
                    Err(e) => eprintln!("scheduler: refused a peer from {}: {e}", conn.remote_address()),
                }
            });
        }
    });
    let mut core = ClusterScheduler::new();
    let mut workers: HashMap<u64, (Peer, UnboundedSender<FromScheduler>)> = HashMap::new();
    let mut names: HashMap<u64, String> = HashMap::new();
    let mut clients: HashMap<u64, UnboundedSender<FromScheduler>> = HashMap::new();
    let mut graphs: HashMap<u64, Graph> = HashMap::new();
    let mut next_graph = 1u64;
    while let Some(input) = rx.recv().await {
        let events = match input {
            Input::Joined { id, role: Role::Worker { name, threads, memory_limit, listen, certificate }, tx } => {
                eprintln!("scheduler: worker {name} joined from {listen} ({threads} threads)");
                workers.insert(id, (Peer { listen, certificate }, tx));
                names.insert(id, name);
                vec![Event::WorkerJoined { worker: id, info: WorkerInfo { threads: threads as usize, memory_limit } }]
            }
            Input::Joined { id, role: Role::Client, tx } => {
                clients.insert(id, tx);
                vec![]
            }
            Input::Lost { id } => {
                if workers.remove(&id).is_some() {
                    eprintln!("scheduler: lost worker {id}; recomputing what it held");
                    vec![Event::WorkerLost { worker: id }]
                } else if clients.remove(&id).is_some() {
                    graphs.retain(|_, g| g.client != id);
                    vec![Event::ClientLeft { client: id }]
                } else {
                    vec![]
                }
            }
            Input::Message { id, message } => match message {
                ToScheduler::Finished { graph, task, bytes } => {
                    if let (Some(g), Some(name)) = (graphs.get_mut(&graph), names.get(&id)) {
                        *g.finished_by.entry(name.clone()).or_default() += 1;
                    }
                    vec![Event::TaskFinished { worker: id, graph, task: task as usize, bytes }]
                }
                ToScheduler::InputsLost { graph, task } => {
                    vec![Event::InputsLost { worker: id, graph, task: task as usize }]
                }
                ToScheduler::Failed { graph, task, error } => {
                    vec![Event::TaskFailed { worker: id, graph, task: task as usize, error }]
                }
                ToScheduler::Submit { request, tasks } => match rmp_serde::from_slice::<TaskGraph>(&tasks)
                    .map_err(|e| e.to_string())
                    .and_then(|g| g.validate().map(|()| g))
                {
                    Ok(decoded) => {
                        let graph = next_graph;
                        next_graph += 1;
                        graphs.insert(
                            graph,
                            Graph {
                                client: id,
                                request,
                                bytes: Arc::new(tasks),
                                last_progress: 0,
                                finished_by: Default::default(),
                            },
                        );
                        vec![Event::Submitted { client: id, graph, tasks: Arc::new(decoded) }]
                    }
                    Err(e) => {
                        if let Some(c) = clients.get(&id) {
                            let _ = c.send(FromScheduler::Failed {
                                request,
                                error: format!("malformed graph: {e}"),
                                resources: false,
                            });
                        }
                        vec![]
                    }
                },
                ToScheduler::Delivered { request } => {
                    let done: Vec<u64> = graphs
                        .iter()
                        .filter(|(_, g)| g.client == id && g.request == request)
                        .map(|(&k, _)| k)
                        .collect();
                    done.into_iter()
                        .inspect(|k| {
                            graphs.remove(k);
                        })
                        .map(|graph| Event::ResultsDelivered { graph })
                        .collect()
                }
            },
        };
        for event in events {
            for command in core.handle(event) {
                dispatch(command, &workers, &clients, &mut graphs);
            }
        }
    }
}

fn dispatch(
    command: Command,
    workers: &HashMap<u64, (Peer, UnboundedSender<FromScheduler>)>,
    clients: &HashMap<u64, UnboundedSender<FromScheduler>>,
    graphs: &mut HashMap<u64, Graph>,
) {
    let to_worker = |w: u64, m: FromScheduler| {
        if let Some((_, tx)) = workers.get(&w) {
            let _ = tx.send(m);
        }
    };
    match command {
        Command::ShareGraph { worker, graph } => {
            if let Some(g) = graphs.get(&graph) {
                to_worker(worker, FromScheduler::Graph { graph, tasks: g.bytes.as_ref().clone() });
            }
        }
        Command::Compute { worker, graph, task, inputs } => {
            let inputs = inputs
                .into_iter()
                .map(|(dep, holder)| {
                    (dep as u64, (holder != worker).then(|| workers.get(&holder).map(|w| w.0.clone())).flatten())
                })
                .collect();
            to_worker(worker, FromScheduler::Compute { graph, task: task as u64, inputs });
        }
        Command::Release { worker, graph, task } => {
            to_worker(worker, FromScheduler::Release { graph, task: task as u64 })
        }
        Command::Progress { client, graph, done, total } => {
            if let (Some(c), Some(g)) = (clients.get(&client), graphs.get_mut(&graph)) {
                // At most ~200 progress messages per graph.
                let step = (done as u64 * 200) / total.max(1) as u64;
                if step != g.last_progress || done == total {
                    g.last_progress = step;
                    let _ =
                        c.send(FromScheduler::Progress { request: g.request, done: done as u64, total: total as u64 });
                }
            }
        }
        Command::Finished { client, graph, outputs } => {
            if let Some(g) = graphs.get(&graph) {
                let shares: Vec<String> = g.finished_by.iter().map(|(w, n)| format!("{n} tasks on {w}")).collect();
                eprintln!("scheduler: graph {graph} finished: {}", shares.join(", "));
            }
            if let (Some(c), Some(g)) = (clients.get(&client), graphs.get(&graph)) {
                let outputs = outputs
                    .into_iter()
                    .filter_map(|(task, holder)| workers.get(&holder).map(|w| (task as u64, w.0.clone())))
                    .collect();
                let _ = c.send(FromScheduler::Result { request: g.request, graph, outputs });
            }
        }
        Command::Failed { client, graph, error, resources } => {
            let request = graphs.remove(&graph).map_or(0, |g| g.request);
            if let Some(c) = clients.get(&client) {
                let _ = c.send(FromScheduler::Failed { request, error, resources });
            }
        }
    }
}

/// Pumps one authenticated connection: frames in become inputs, messages out become frames.
async fn connection(
    id: u64,
    conn: Connection,
    role: Role,
    mut send: SendStream,
    mut recv: RecvStream,
    tx: UnboundedSender<Input>,
) {
    let (out_tx, mut out_rx) = unbounded_channel::<FromScheduler>();
    let limit = if matches!(role, Role::Client) { GRAPH_FRAME_LIMIT } else { MAX_FRAME_BYTES };
    if tx.send(Input::Joined { id, role, tx: out_tx }).is_err() {
        return;
    }
    let writer = tokio::spawn(async move { while let Ok(true) = write_batch(&mut send, &mut out_rx).await {} });
    loop {
        match read_frame::<_, ToScheduler>(&mut recv, limit).await {
            Ok(message) => {
                if tx.send(Input::Message { id, message }).is_err() {
                    break;
                }
            }
            Err(e) => {
                if conn.close_reason().is_none() {
                    eprintln!("scheduler: dropping peer {id}: {e}");
                    conn.close(1u32.into(), b"protocol error");
                }
                break;
            }
        }
    }
    writer.abort();
    let _ = tx.send(Input::Lost { id });
}
