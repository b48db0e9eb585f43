//! Relay long polls: a host's consumers wait on `GET /v1/relay/notices` while commands come in
//! through `POST /v1/relay/commands`. The figure is the time from sending a command (a restart,
//! then its withdrawal) to a waiting poll returning the notice it causes, with 100 consumers
//! waiting; the reference is the same with one consumer waiting, in the same run. A hundred
//! waiting polls must cost no more than one.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lull_adapters::client;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::Scale;
use crate::server::Serve;
use crate::stats::{Table, latencies};

/// What a consumer saw: the request a notice names, and when the poll returned it.
type Seen = (String, Instant);

/// `consumers` long-polling until `stop`; every notice is acknowledged and reported on `seen`.
fn spawn_consumers(
    socket: &Path,
    consumers: usize,
    stop: &Arc<AtomicBool>,
    seen: &mpsc::UnboundedSender<Seen>,
) -> Vec<tokio::task::JoinHandle<Result<(), String>>> {
    (0..consumers)
        .map(|i| {
            let (socket, stop, seen) = (socket.to_owned(), stop.clone(), seen.clone());
            tokio::spawn(async move {
                let consumer = format!("bench-{i}");
                let poll = format!("/v1/relay/notices?consumer={consumer}&wait_seconds=2");
                while !stop.load(Ordering::SeqCst) {
                    let answer = client::call(&socket, "GET", &poll, None)
                        .await
                        .map_err(|e| e.to_string())?;
                    if answer.status != 200 {
                        return Err(format!("poll answered {}: {}", answer.status, answer.body));
                    }
                    let at = Instant::now();
                    for notice in answer.body["notices"].as_array().into_iter().flatten() {
                        let request = notice["request"].as_str().unwrap_or("").to_owned();
                        let _ = seen.send((request, at));
                        let id = notice["id"].as_str().unwrap_or("");
                        let ack = json!({"consumer": consumer, "outcome": "delivered"});
                        client::call(
                            &socket,
                            "POST",
                            &format!("/v1/relay/notices/{id}/ack"),
                            Some(&ack),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    }
                }
                Ok(())
            })
        })
        .collect()
}

/// Sends `text` as the relay's admin; lull's reply.
async fn command(socket: &Path, event: usize, text: &str) -> Result<Value, String> {
    let body = json!({"event_id": format!("bench:{event}"), "user": "bench:admin",
        "display": "admin", "chat": "bench:ops", "text": text});
    let answer = client::call(socket, "POST", "/v1/relay/commands", Some(&body))
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!(
            "command answered {}: {}",
            answer.status, answer.body
        ));
    }
    Ok(answer.body)
}

/// Waits (bounded) for a notice about `request`; the time since `sent`.
async fn notice_about(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    request: &str,
    sent: Instant,
) -> Result<Duration, String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some((about, at))) if about == request => return Ok(at - sent),
            Ok(Some(_)) => {}
            Ok(None) => return Err("the consumers stopped".into()),
            Err(_) => return Err(format!("no notice about {request} within 10 s")),
        }
    }
}

/// `rounds` restarts asked for and withdrawn, with `consumers` waiting; the latencies from each
/// command to its notice.
async fn measure(
    lull: &Path,
    home: &Path,
    consumers: usize,
    rounds: usize,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    // The watch chat hears about every request: its notices are what the consumers take.
    let config = r#"[executor]
restart = ["true"]
[relay]
name = "bench"
admins = ["bench:admin"]
notify_chats = ["bench:watch"]
"#;
    let (serve, _) = Serve::start(lull, home, config, &[]).await?;
    let socket = serve.socket();
    let stop = Arc::new(AtomicBool::new(false));
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let tasks = spawn_consumers(&socket, consumers, &stop, &seen_tx);
    // Let every poll reach lull and wait.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut took = Vec::with_capacity(rounds * 2);
    for round in 0..rounds {
        let sent = Instant::now();
        let reply = command(&socket, round * 2, "/maintenance restart bench").await?;
        let request = reply["reply"]["request"]
            .as_str()
            .ok_or_else(|| format!("no request in {reply}"))?
            .to_owned();
        took.push(notice_about(&mut seen, &request, sent).await?);
        let sent = Instant::now();
        command(
            &socket,
            round * 2 + 1,
            &format!("/maintenance cancel {request}"),
        )
        .await?;
        took.push(notice_about(&mut seen, &request, sent).await?);
    }
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await??;
    }
    drop(serve);
    Ok(took)
}

pub async fn run(
    scale: Scale,
    lull: &Path,
    dir: &Path,
    table: &mut Table,
) -> Result<(), Box<dyn std::error::Error>> {
    let rounds = scale.pick(200, 20);
    println!("relay: {rounds} restarts asked for and withdrawn, 100 consumers waiting, then 1");
    let mut many = measure(lull, &dir.join("relay-100"), 100, rounds).await?;
    let mut one = measure(lull, &dir.join("relay-1"), 1, rounds).await?;
    table.add(
        "relay: command → its notice from a waiting long poll, 100 consumers waiting",
        latencies(&mut many),
        format!("1 consumer waiting: {}", latencies(&mut one)),
        "about the same as with 1",
    );
    Ok(())
}
