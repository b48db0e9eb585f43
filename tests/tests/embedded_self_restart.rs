//! End to end, embedded mode: the example gateway re-executes itself through lull's `"self"`
//! restart, and its request ends `succeeded` with a downtime.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use lull_queue::{QueueSettings, State, Store};

/// The gateway, killed if the test fails while it runs (it would hold cargo's stderr open).
struct Gateway(std::process::Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn the_example_gateway_restarts_itself_and_recovers_its_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut gateway = Gateway(
        Command::new(env!("CARGO_BIN_EXE_embedded_gateway"))
            .arg(dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let gateway = &mut gateway.0;
    let stdout = gateway.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while !seen
        .last()
        .is_some_and(|l: &String| l.starts_with("recovered"))
    {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => seen.push(line),
            Err(e) => panic!("gateway stalled after {seen:?}: {e}"),
        }
    }
    // The gateway prints "recovered" as its last act; it must then exit (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = gateway.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = gateway.kill();
            panic!("the gateway did not exit within 60s of recovering");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let short = seen[0]
        .strip_prefix("queued ")
        .expect("first line names the request")
        .to_owned();
    assert_eq!(seen[1..3], ["run ended", "restarting"]);
    let recovered: Vec<&str> = seen[3].split_whitespace().collect();
    assert_eq!(recovered[..3], ["recovered", short.as_str(), "succeeded"]);
    let downtime: u64 = recovered[3]
        .strip_prefix("downtime_ms=")
        .unwrap()
        .parse()
        .unwrap();

    let store = Store::open(dir.path().join("db"), QueueSettings::default()).unwrap();
    let request = store.find(&short).unwrap();
    assert_eq!(request.state, State::Succeeded);
    assert_eq!(request.result.unwrap().downtime_ms, Some(downtime));
    let actions: Vec<String> = store
        .audit(Some(request.id))
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["submitted", "started", "self_restart", "succeeded"]
    );
}
