//! Crash safety: a child process submits, merges, cancels and writes notices in a loop and prints
//! each change as soon as the store acknowledged it; this test SIGKILLs it at random moments,
//! reopens the store and checks every acknowledged change is there and intact.
//!
//! The child is this same test binary, re-run with `LULL_CRASH_CHILD_DB` set and filtered to the
//! `crash_child` test, which does nothing in a normal run.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use lull_queue::{Actor, Ask, AskDraft, AskRules, Kind, Origin, QueueSettings, Role, State, Store};

const CHILD_ENV: &str = "LULL_CRASH_CHILD_DB";

fn settings() -> QueueSettings {
    // Large enough that nothing acknowledged is pruned by retention during the test.
    QueueSettings {
        history_limit: 1_000_000,
        ..QueueSettings::default()
    }
}

fn actor(user: &str, role: Role) -> Actor {
    Actor {
        platform: "cli".into(),
        chat: None,
        user_id: user.into(),
        display: user.into(),
        role,
        origin: Origin::Cli,
        via: None,
    }
}

/// Opens the store, waiting (bounded) while the parent's just-dropped handle still holds sled's
/// file lock: sled's I/O threads may keep the file for a moment after the last handle is gone.
fn open_once_unlocked(path: &str) -> Store {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match Store::open(path, settings()) {
            Err(e) if e.to_string().contains("lock") && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            opened => return opened.unwrap(),
        }
    }
}

/// The child's loop: never returns in child mode; it is killed.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = open_once_unlocked(&path);
        let mut round: u64 = 0;
        loop {
            round += 1;
            // A few concurrent asks share flushes; each is acknowledged on its own.
            let asks: Vec<_> = (0..1 + round % 4)
                .map(|n| {
                    let store = store.clone();
                    let user = format!("agent{}", (round + n) % 7);
                    tokio::spawn(async move {
                        let draft = AskDraft {
                            kind: if n == 2 { Kind::Update } else { Kind::Restart },
                            reason: format!("round {round}"),
                            idle: None,
                            ignore_windows: false,
                            actor: actor(&user, Role::Agent),
                        };
                        let rules = AskRules {
                            default_idle: Duration::from_secs(60),
                            min_agent_idle: Duration::ZERO,
                        };
                        let ask = Ask::new(draft, &rules).unwrap();
                        let submitted = store.submit(ask).await.unwrap();
                        println!("ACK submit {} {user}", submitted.request.id);
                        submitted.request.id
                    })
                })
                .collect();
            let mut id = None;
            for ask in asks {
                id = Some(ask.await.unwrap());
            }
            let id = id.unwrap();
            let seq = store
                .outbox_push(serde_json::json!({ "round": round }))
                .await
                .unwrap();
            println!("ACK outbox {seq} {round}");
            store
                .cancel(&id.to_string(), actor("boss", Role::Admin))
                .await
                .unwrap();
            println!("ACK cancel {id}");
        }
    });
}

/// What the child acknowledged about one request.
#[derive(Default, Debug)]
struct Acked {
    users: Vec<String>,
    cancelled: bool,
}

#[test]
fn acknowledged_changes_survive_sigkill() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let kills: usize = std::env::var("LULL_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let seed = std::env::var("LULL_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("crash test seed {seed} (set LULL_CRASH_SEED to repeat), {kills} kill points");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let exe = std::env::current_exe().unwrap();

    let mut requests: HashMap<String, Acked> = HashMap::new();
    let mut outbox: HashMap<u64, u64> = HashMap::new();
    let mut total_acks = 0;
    for kill in 0..kills {
        // Its stderr goes to a file: a pipe nobody reads would block a chatty child.
        let stderr_path = dir.path().join(format!("child-{kill}.stderr"));
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        // Lines arrive through a channel so every wait for one is bounded.
        let (line_tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut record = |line: &str| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["ACK", "submit", id, user] => requests
                    .entry((*id).to_owned())
                    .or_default()
                    .users
                    .push((*user).to_owned()),
                ["ACK", "cancel", id] => {
                    requests.entry((*id).to_owned()).or_default().cancelled = true
                }
                ["ACK", "outbox", seq, round] => {
                    outbox.insert(seq.parse().unwrap(), round.parse().unwrap());
                }
                _ => return false,
            }
            true
        };
        // Kill after a random number of acknowledgements, sometimes a moment later, so the
        // kill lands anywhere: mid-transaction, mid-flush, between a flush and its ack.
        let wait_for = rng.usize(1..40);
        let mut seen = 0;
        while seen < wait_for {
            match lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => seen += usize::from(record(&line)),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                    panic!("child {kill} exited early after {seen} acks: {stderr}");
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("child {kill} printed nothing for 60s after {seen} acks");
                }
            }
        }
        if rng.bool() {
            std::thread::sleep(Duration::from_micros(rng.u64(0..3000)));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements printed before the kill count too; the killed child's pipe ends.
        for line in lines {
            seen += usize::from(record(&line));
        }
        total_acks += seen;

        let store = Store::open(&db, settings())
            .unwrap_or_else(|e| panic!("reopen after kill {kill} failed: {e}"));
        verify(&store, &requests, &outbox, kill);
    }
    println!("{kills} kills, {total_acks} acknowledged changes, all intact");
    assert!(total_acks >= kills);
}

fn verify(
    store: &Store,
    requests: &HashMap<String, Acked>,
    outbox: &HashMap<u64, u64>,
    kill: usize,
) {
    for (id, acked) in requests {
        let request = store.find(id).unwrap_or_else(|e| {
            panic!("after kill {kill}: acknowledged request {id} is gone: {e}")
        });
        for user in &acked.users {
            assert!(
                request.requested_by.iter().any(|r| &r.user_id == user),
                "after kill {kill}: acknowledged ask of {user} missing from {request:?}"
            );
        }
        if acked.cancelled {
            assert_eq!(
                request.state,
                State::Cancelled,
                "after kill {kill}: {request:?}"
            );
        } else {
            // Its cancel may have been applied without the ack reaching us.
            assert!(
                matches!(request.state, State::Queued | State::Cancelled),
                "after kill {kill}: {request:?}"
            );
        }
    }
    let open: Vec<_> = store
        .all_requests()
        .unwrap()
        .into_iter()
        .filter(|r| r.state.is_open())
        .collect();
    assert!(open.len() <= 1, "after kill {kill}: two open requests");
    assert_eq!(
        store.open_request().unwrap().map(|r| r.id),
        open.first().map(|r| r.id)
    );
    let pending: HashMap<u64, u64> = store
        .outbox_pending(usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.payload["round"].as_u64().unwrap()))
        .collect();
    for (seq, round) in outbox {
        assert_eq!(
            pending.get(seq),
            Some(round),
            "after kill {kill}: notice {seq} lost"
        );
    }
    let audit = store.audit(None).unwrap();
    assert!(
        audit.windows(2).all(|w| w[0].seq < w[1].seq),
        "after kill {kill}: audit out of order"
    );
}
