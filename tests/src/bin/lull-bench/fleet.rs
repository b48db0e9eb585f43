//! Fleet slot churn against a real etcd (Debian's `etcd-server`, started here on loopback):
//! 20 replicas of one group, 2 slots, each taking a slot, checking it as the scheduler does
//! before a start, and giving it back, as fast as they can. The figures are slot cycles per
//! second and the time to take a slot; beside them, the same number of plain etcd writes
//! (`v3/kv/put`) over one connection, the floor any etcd-backed lock stands on. Skipped, with a
//! line saying so, where `etcd` is not installed.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lull_adapters::fleet::EtcdLock;
use lull_queue::{Attempt, FleetLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Scale;
use crate::stats::{Table, latencies, rate};

const REPLICAS: usize = 20;
const SLOTS: u32 = 2;

/// etcd on loopback, killed when dropped.
struct Etcd {
    child: Child,
    port: u16,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, std::io::Error> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn start_etcd(dir: &Path) -> Result<Option<Etcd>, Box<dyn std::error::Error>> {
    let (port, peer) = (free_port()?, free_port()?);
    let client = format!("http://127.0.0.1:{port}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let spawned = Command::new("etcd")
        .args(["--name", "lull-bench", "--data-dir"])
        .arg(dir.join("etcd"))
        .args([
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("lull-bench={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match spawned {
        Ok(child) => Ok(Some(Etcd { child, port })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// One HTTP/1.1 POST on a kept-alive connection; the answer's body.
async fn post(
    stream: &mut tokio::net::TcpStream,
    path: &str,
    body: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: etcd\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err("etcd closed the connection".into());
        }
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, rest)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok());
            if length.is_some_and(|length| rest.len() >= length) {
                return Ok(rest.to_owned());
            }
        }
    }
}

pub async fn run(
    scale: Scale,
    dir: &Path,
    table: &mut Table,
) -> Result<(), Box<dyn std::error::Error>> {
    let cycles = scale.pick(2000, 200);
    let Some(etcd) = start_etcd(dir)? else {
        println!("fleet: skipped, `etcd` is not installed (Debian's etcd-server)");
        return Ok(());
    };
    // Ready once a write succeeds (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", etcd.port)).await
            && post(
                &mut stream,
                "/v3/kv/put",
                r#"{"key":"YQ==","value":"YQ=="}"#,
            )
            .await
            .is_ok()
        {
            break stream;
        }
        if Instant::now() > deadline {
            return Err("etcd did not answer within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!("fleet: {cycles} slot cycles by {REPLICAS} replicas, {SLOTS} slots");

    // The reference: plain writes, one after another, on one kept-alive connection.
    let started = Instant::now();
    for i in 0..cycles {
        let body = format!(r#"{{"key":"YmVuY2g=","value":"{}"}}"#, i % 10);
        post(&mut stream, "/v3/kv/put", &body).await?;
    }
    let puts = cycles as f64 / started.elapsed().as_secs_f64();

    let endpoint: url::Url = format!("http://127.0.0.1:{}", etcd.port).parse()?;
    let replicas: Vec<Arc<EtcdLock>> = (0..REPLICAS)
        .map(|i| {
            Arc::new(EtcdLock::new(
                vec![endpoint.clone()],
                "bench",
                &format!("replica-{i}"),
                SLOTS,
                Duration::from_secs(30),
            ))
        })
        .collect();
    let per_replica = cycles / REPLICAS;
    let started = Instant::now();
    let tasks: Vec<_> = replicas
        .into_iter()
        .map(|lock| {
            tokio::spawn(async move {
                let mut changes = lock.changes();
                let mut took = Vec::with_capacity(per_replica);
                let mut busy = 0usize;
                while took.len() < per_replica {
                    let asked = Instant::now();
                    match lock.try_acquire().await {
                        Ok(Attempt::Granted(hold)) => {
                            took.push(asked.elapsed());
                            lock.verify(&hold).await.map_err(|e| e.to_string())?;
                            lock.release(&hold).await.map_err(|e| e.to_string())?;
                        }
                        Ok(Attempt::Busy { .. }) => {
                            // As the scheduler does: try again when the holders change (etcd's
                            // watch), bounded here.
                            busy += 1;
                            let _ =
                                tokio::time::timeout(Duration::from_millis(100), changes.changed())
                                    .await;
                        }
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Ok::<_, String>((took, busy))
            })
        })
        .collect();
    let mut grants = Vec::new();
    let mut busy = 0;
    for task in tasks {
        let (took, refused) = task.await??;
        grants.extend(took);
        busy += refused;
    }
    let rate_cycles = grants.len() as f64 / started.elapsed().as_secs_f64();
    table.add(
        &format!("fleet slot churn against etcd ({REPLICAS} replicas, {SLOTS} slots)"),
        format!(
            "{} take+check+give-back cycles; taking a slot: {} ({busy} tries found both slots taken)",
            rate(rate_cycles),
            latencies(&mut grants)
        ),
        format!("plain etcd writes, one at a time: {}", rate(puts)),
        "—",
    );
    drop(etcd);
    Ok(())
}
