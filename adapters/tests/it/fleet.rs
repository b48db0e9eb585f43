//! `[fleet]` against a real etcd (Debian's `etcd-server`, started here on loopback) and a
//! FleetLock server that follows Zincati's protocol document: replicas restart k at a time, a
//! killed holder's slot frees after the TTL, a failed health check keeps the slot until an admin
//! releases it, a lapsed hold starts nothing, and 100 replicas in one process never overlap.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::etcd::Etcd;
use common::fake_fleetlock::FakeFleetLock;
use common::{Home, Server, wait_for};
use lull_adapters::fleet::{EtcdLock, FleetLockClient};
use lull_queue::{Attempt, FleetError, FleetHold, FleetLock};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);

/// A replica whose restart appends `start <id> <token>` and `end <id>` to a log all replicas
/// share; `{hold}` is what it does between the two.
const REPLICA: &str = r#"
[maintenance]
lease_ttl_seconds = 1
cooldown_seconds = 0
max_executions_per_hour = 1000
[executor]
restart = ["sh", "-c", "echo start {id} $LULL_FENCING_TOKEN >> {log}; {hold}; echo end {id} >> {log}"]
{health}
[fleet]
backend = "etcd"
endpoints = ["{etcd}"]
slots = {slots}
id = "{id}"
lock_ttl_seconds = 5
"#;

struct Replica {
    id: &'static str,
    home: Home,
    server: Option<Server>,
}

fn replica(
    etcd: &Etcd,
    log: &std::path::Path,
    id: &'static str,
    hold: &str,
    health: &str,
) -> Replica {
    let config = REPLICA
        .replace("{etcd}", &etcd.url())
        .replace("{log}", &log.display().to_string())
        .replace("{id}", id)
        .replace("{hold}", hold)
        .replace("{health}", health)
        .replace("{slots}", "1");
    let home = Home::new(&config);
    let server = Some(home.serve());
    // The activity source reports; nothing is live.
    home.call("POST", "/v1/heartbeat", Some(json!({"source": "hermes"})));
    Replica { id, home, server }
}

impl Replica {
    fn ask_restart(&self) {
        let answer = self.home.call(
            "POST",
            "/v1/requests",
            Some(json!({"kind": "restart", "idle_seconds": 0, "reason": "fleet test"})),
        );
        assert_eq!(answer.status, 201, "{:?}", answer.body);
    }

    fn status(&self) -> Value {
        self.home.call("GET", "/v1/status", None).body
    }

    fn finished(&self) -> Option<String> {
        self.status()["last_finished"]["state"]
            .as_str()
            .map(str::to_owned)
    }

    fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            self.home.stop(server);
        }
    }
}

/// The shared log's `start`/`end` lines, in order.
fn lines(log: &std::path::Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// The most restarts under way at once, from the log's order.
fn most_at_once(lines: &[Vec<String>]) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for line in lines {
        match line[0].as_str() {
            "start" => {
                now += 1;
                most = most.max(now);
            }
            _ => now = now.saturating_sub(1),
        }
    }
    most
}

#[test]
fn three_lull_processes_restart_one_at_a_time_with_increasing_fencing_tokens() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("restarts.log");
    let mut replicas: Vec<Replica> = ["a", "b", "c"]
        .into_iter()
        .map(|id| replica(&etcd, &log, id, "sleep 0.5", ""))
        .collect();
    for r in &replicas {
        r.ask_restart();
    }
    wait_for("all three restarts", LIMIT, || {
        replicas
            .iter()
            .all(|r| r.finished().as_deref() == Some("succeeded"))
    });
    let lines = lines(&log);
    assert_eq!(
        most_at_once(&lines),
        1,
        "more than one slot's worth at once: {lines:?}"
    );
    let starts: Vec<&Vec<String>> = lines.iter().filter(|l| l[0] == "start").collect();
    let mut ids: Vec<&str> = starts.iter().map(|l| l[1].as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["a", "b", "c"], "{lines:?}");
    let tokens: Vec<u64> = starts.iter().map(|l| l[2].parse().unwrap()).collect();
    assert!(
        tokens.windows(2).all(|w| w[0] < w[1]),
        "fencing tokens (etcd revisions of the grants) increase: {tokens:?}"
    );
    // Every slot was given back once the restart was healthy.
    wait_for("the slots to be free", LIMIT, || {
        etcd.values("lull/default/slots/").is_empty()
    });
    for r in &mut replicas {
        assert_eq!(r.status()["fleet"]["hold"], Value::Null);
        r.stop();
        assert_eq!(r.home.audited("fleet_slot_taken"), 1, "{}", r.id);
        assert_eq!(r.home.audited("fleet_slot_released"), 1, "{}", r.id);
    }
}

#[test]
fn a_killed_holder_frees_its_slot_after_the_ttl_and_its_request_is_interrupted() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("restarts.log");
    let started = dir.path().join("a-started");
    let mut a = replica(
        &etcd,
        &log,
        "a",
        &format!("touch {}; sleep 60", started.display()),
        "",
    );
    a.ask_restart();
    wait_for("a's restart to start", LIMIT, || started.exists());
    let others: Vec<Replica> = ["b", "c"]
        .into_iter()
        .map(|id| replica(&etcd, &log, id, "sleep 0.2", ""))
        .collect();
    for r in &others {
        r.ask_restart();
    }
    // b and c wait for the slot a holds, and say so.
    for r in &others {
        wait_for("the fleet_slot blocker", LIMIT, || {
            let status = r.status();
            status["blockers"][0]["kind"] == "fleet_slot"
                && status["blockers"][0]["holders"][0]["id"] == "a"
        });
    }
    let killed_at = Instant::now();
    let mut server = a.server.take().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    wait_for("b and c to restart", LIMIT, || {
        others
            .iter()
            .all(|r| r.finished().as_deref() == Some("succeeded"))
    });
    let waited = killed_at.elapsed();
    // The lease was renewed at most a third of the TTL (5 s) before the kill.
    assert!(
        waited >= Duration::from_secs(3),
        "the others went on {waited:?} after the kill, before a's lease could expire"
    );
    let lines = lines(&log);
    assert_eq!(most_at_once(&lines[1..]), 1, "{lines:?}");
    assert_eq!(lines[0][..2], ["start", "a"]);
    // a's lull is back: its request was interrupted, and the slot it held lapsed meanwhile.
    a.server = Some(a.home.serve());
    assert_eq!(a.finished().as_deref(), Some("interrupted"));
    wait_for("a's lost slot to be recorded", LIMIT, || {
        a.status()["fleet"]["hold"] == Value::Null
    });
    a.stop();
    assert_eq!(a.home.audited("fleet_slot_lost"), 1);
    eprintln!(
        "the others went on {:.1} s after the kill (lock_ttl_seconds = 5)",
        waited.as_secs_f64()
    );
}

#[test]
fn a_failed_health_check_keeps_the_slot_until_an_admin_releases_it() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("restarts.log");
    let mut b = replica(&etcd, &log, "b", "true", "health_command = [\"false\"]");
    b.ask_restart();
    wait_for("b's restart to fail its health check", LIMIT, || {
        b.finished().as_deref() == Some("failed")
    });
    wait_for("b to keep its slot", LIMIT, || {
        b.status()["fleet"]["hold"]["kept"].is_string()
    });
    let mut c = replica(&etcd, &log, "c", "true", "");
    c.ask_restart();
    wait_for("c to wait for b's slot", LIMIT, || {
        let status = c.status();
        status["blockers"][0]["kind"] == "fleet_slot"
            && status["blockers"][0]["holders"][0]["id"] == "b"
    });
    assert!(
        !lines(&log).iter().any(|l| l[1] == "c"),
        "c restarted while b keeps the slot"
    );
    let metrics = |r: &Replica| {
        r.home
            .call("GET", "/metrics", None)
            .body
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (b_metrics, c_metrics) = (metrics(&b), metrics(&c));
    assert!(
        b_metrics.contains("lull_fleet_slot_held 1")
            && b_metrics.contains("lull_fleet_slot_kept 1"),
        "{b_metrics}"
    );
    assert!(
        c_metrics.contains("lull_blocker{kind=\"fleet_slot\"} 1")
            && c_metrics.contains("lull_fleet_slot_held 0"),
        "{c_metrics}"
    );
    let words = String::from_utf8_lossy(&c.home.lull(&["status"]).stdout).into_owned();
    assert!(
        words.contains("waiting for a fleet slot: replica b restarting since"),
        "{words}"
    );
    let kept = String::from_utf8_lossy(&b.home.lull(&["status"]).stdout).into_owned();
    assert!(
        kept.contains("keeps its slot (lull/default/slots/0"),
        "{kept}"
    );
    // An admin looked at b's gateway and releases the slot.
    let out = b.home.lull(&["fleet", "release"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("released the fleet slot lull/default/slots/0"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    wait_for("c to restart", LIMIT, || {
        c.finished().as_deref() == Some("succeeded")
    });
    // Nothing more to release.
    let again = b.home.lull(&["fleet", "release"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("holds no fleet slot"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    b.stop();
    c.stop();
    let released: Vec<_> = b
        .home
        .audit()
        .into_iter()
        .filter(|e| e.action == "fleet_slot_released")
        .collect();
    assert_eq!(released.len(), 1);
    assert!(
        released[0].actor.starts_with("local:"),
        "{}",
        released[0].actor
    );
    assert_eq!(b.home.audited("fleet_slot_kept"), 1);
}

fn etcd_lock(etcd: &Etcd, id: &str, slots: u32, ttl: Duration) -> EtcdLock {
    EtcdLock::new(vec![etcd.url().parse().unwrap()], "bench", id, slots, ttl)
}

async fn granted(lock: &EtcdLock) -> FleetHold {
    match lock.try_acquire().await.unwrap() {
        Attempt::Granted(hold) => hold,
        busy => panic!("no slot: {busy:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_grants_k_slots_wakes_a_waiter_and_fences_a_lapsed_hold() {
    let etcd = Etcd::start();
    let ttl = Duration::from_secs(10);
    let (a, b, c) = (
        etcd_lock(&etcd, "a", 2, ttl),
        etcd_lock(&etcd, "b", 2, ttl),
        etcd_lock(&etcd, "c", 2, ttl),
    );
    let hold_a = granted(&a).await;
    let hold_b = granted(&b).await;
    assert!(hold_b.token > hold_a.token);
    let mut changes = c.changes();
    let Attempt::Busy { holders, .. } = c.try_acquire().await.unwrap() else {
        panic!("a third replica got one of two slots");
    };
    let mut ids: Vec<String> = holders.into_iter().map(|h| h.id).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b"]);
    a.verify(&hold_a).await.unwrap();
    // c's watch is open (opening it counts as a change, since it may have missed some)…
    tokio::time::timeout(LIMIT, async {
        while *changes.borrow() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    // …so the next change is a's release: c's watch fires, and c gets the slot.
    changes.borrow_and_update();
    a.release(&hold_a).await.unwrap();
    tokio::time::timeout(LIMIT, changes.changed())
        .await
        .unwrap()
        .unwrap();
    let hold_c = granted(&c).await;
    assert!(hold_c.token > hold_b.token);
    // c's lease lapses (revoked behind its back): verification refuses, so nothing starts.
    etcd.call(
        "v3/lease/revoke",
        &json!({"ID": hold_c.lease.unwrap().to_string()}),
    );
    let lost = c.verify(&hold_c).await.unwrap_err();
    assert!(matches!(lost, FleetError::Lost(_)), "{lost}");
    assert!(matches!(c.resume(&hold_c).await, Err(FleetError::Lost(_))));
    // A slot rewritten since the grant (another writer) fails the fence too.
    let mut stale = hold_b.clone();
    stale.token = Some(1);
    assert!(matches!(b.verify(&stale).await, Err(FleetError::Lost(_))));
    // An unreachable etcd is said so, not mistaken for a lost slot.
    let nowhere = EtcdLock::new(
        vec!["http://127.0.0.1:9".parse().unwrap()],
        "bench",
        "d",
        1,
        ttl,
    );
    assert!(matches!(
        nowhere.try_acquire().await,
        Err(FleetError::Unreachable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_replicas_in_one_process_never_overlap_and_all_restart() {
    const REPLICAS: usize = 100;
    const SLOTS: u32 = 3;
    let etcd = Etcd::start();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..REPLICAS {
        let lock = etcd_lock(&etcd, &format!("r{i}"), SLOTS, Duration::from_secs(10));
        let (running, most) = (running.clone(), most.clone());
        tasks.push(tokio::spawn(async move {
            let mut changes = lock.changes();
            let mut tries = 0u32;
            loop {
                tries += 1;
                changes.borrow_and_update();
                match lock.try_acquire().await.unwrap() {
                    Attempt::Granted(hold) => {
                        lock.verify(&hold).await.unwrap();
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        // The restart.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        lock.release(&hold).await.unwrap();
                        return tries;
                    }
                    Attempt::Busy { .. } => {
                        // As the scheduler does: a change, or a recheck in case one was missed.
                        let _ =
                            tokio::time::timeout(Duration::from_secs(30), changes.changed()).await;
                    }
                }
            }
        }));
    }
    let mut tries = 0;
    for task in tasks {
        tries += tokio::time::timeout(Duration::from_secs(300), task)
            .await
            .expect("a replica never got a slot")
            .unwrap();
    }
    let took = began.elapsed();
    assert!(
        most.load(Ordering::SeqCst) as u32 <= SLOTS,
        "{} restarts at once with {SLOTS} slots",
        most.load(Ordering::SeqCst)
    );
    assert!(etcd.values("lull/bench/slots/").is_empty());
    println!(
        "100 replicas, {SLOTS} slots, 20 ms restarts: all restarted, at most {} at once, in {:.2} s ({tries} tries)",
        most.load(Ordering::SeqCst),
        took.as_secs_f64()
    );
}

fn fleetlock_client(server: &FakeFleetLock, id: &str) -> FleetLockClient {
    FleetLockClient::new(server.url().parse().unwrap(), "workers", id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleetlock_grants_denies_re_grants_recursively_and_releases_in_steady_state() {
    let server = FakeFleetLock::start(1, &[]).await;
    let (a, b) = (
        fleetlock_client(&server, "a"),
        fleetlock_client(&server, "b"),
    );
    let hold = match a.try_acquire().await.unwrap() {
        Attempt::Granted(hold) => hold,
        busy => panic!("{busy:?}"),
    };
    assert_eq!(hold.token, None, "FleetLock has no fencing token");
    let Attempt::Busy {
        detail,
        retry_after,
        ..
    } = b.try_acquire().await.unwrap()
    else {
        panic!("two holders of one slot");
    };
    assert_eq!(
        detail.as_deref(),
        Some("failed_lock_semaphore_full: semaphore currently full, all slots are locked already")
    );
    assert_eq!(retry_after, Some(Duration::from_secs(1)));
    let Attempt::Busy { retry_after, .. } = b.try_acquire().await.unwrap() else {
        panic!("two holders of one slot");
    };
    assert_eq!(retry_after, Some(Duration::from_secs(2)), "backoff doubles");
    // Recursive: the holder asking again is granted again (that is how it verifies).
    a.verify(&hold).await.unwrap();
    assert!(matches!(
        a.try_acquire().await.unwrap(),
        Attempt::Granted(_)
    ));
    a.release(&hold).await.unwrap();
    assert!(server.holders().is_empty());
    let hold_b = hold_of(&b).await;
    // A holder whose slot the server gave to another is told its slot is lost.
    server.release("b");
    server.take("x");
    assert!(matches!(b.verify(&hold_b).await, Err(FleetError::Lost(_))));
    let calls = server.calls();
    assert!(
        calls.iter().all(|c| c.status == 200 || c.status == 409),
        "{calls:?}"
    );
    assert_eq!(calls[0].operation, "pre-reboot");
    // Unreachable is said so.
    let nowhere = FleetLockClient::new("http://127.0.0.1:9/".parse().unwrap(), "workers", "z");
    assert!(matches!(
        nowhere.try_acquire().await,
        Err(FleetError::Unreachable(_))
    ));
}

async fn hold_of(client: &FleetLockClient) -> FleetHold {
    match client.try_acquire().await.unwrap() {
        Attempt::Granted(hold) => hold,
        busy => panic!("{busy:?}"),
    }
}

#[test]
fn lull_waits_for_a_fleetlock_slot_then_restarts_and_reports_steady_state() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(FakeFleetLock::start(1, &["other"]));
    let config = format!(
        "{}\n[fleet]\nbackend = \"fleetlock\"\nurl = \"{}\"\ngroup = \"workers\"\nid = \"gw-a\"\n",
        common::MARKER_CONFIG,
        server.url()
    );
    let home = Home::new(&config);
    let server_process = home.serve();
    home.call("POST", "/v1/heartbeat", Some(json!({"source": "hermes"})));
    let asked = home.call(
        "POST",
        "/v1/requests",
        Some(json!({"kind": "restart", "idle_seconds": 0})),
    );
    assert_eq!(asked.status, 201);
    wait_for(
        "the fleet_slot blocker with the server's words",
        LIMIT,
        || {
            let status = home.call("GET", "/v1/status", None).body;
            status["blockers"][0]["kind"] == "fleet_slot"
                && status["blockers"][0]["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("failed_lock_semaphore_full"))
        },
    );
    let text = home.lull(&["status"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("waiting for a fleet slot"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    assert!(
        !home.path().join("marker").exists(),
        "restarted without a slot"
    );
    server.release("other");
    wait_for("the restart", LIMIT, || home.path().join("marker").exists());
    wait_for("steady-state after the healthy restart", LIMIT, || {
        server
            .calls()
            .last()
            .is_some_and(|c| c.operation == "steady-state" && c.id == "gw-a")
    });
    assert!(server.holders().is_empty());
    let calls: Vec<(&str, u16)> = server
        .calls()
        .iter()
        .filter(|c| c.id == "gw-a")
        .map(|c| (c.operation, c.status))
        .collect();
    // Initialization (release whatever it held), denials while full, the grant, the
    // recursive verification, the release once healthy.
    assert_eq!(calls[0], ("steady-state", 200), "{calls:?}");
    assert!(calls.contains(&("pre-reboot", 409)), "{calls:?}");
    let n = calls.len();
    assert_eq!(
        calls[n - 3..],
        [
            ("pre-reboot", 200),
            ("pre-reboot", 200),
            ("steady-state", 200)
        ],
        "{calls:?}"
    );
    home.stop(server_process);
    drop(runtime);
}
