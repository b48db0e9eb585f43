//! `lull serve` end to end: the sidecar's promise over the real control socket.

use crate::common;

use std::time::Duration;

use common::{Home, MARKER_CONFIG, wait_for};
use serde_json::json;

#[test]
fn without_an_activity_source_a_queued_request_never_runs() {
    let home = Home::new(MARKER_CONFIG);
    let server = home.serve();
    let out = home.lull(&[
        "restart",
        "--reason",
        "tool installed",
        "--idle-seconds",
        "0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Long past the idle window (0 s) and the boot grace (1 s): only the missing source holds it.
    std::thread::sleep(Duration::from_secs(3));
    let status = home.call("GET", "/v1/status", None).body;
    assert_eq!(
        status["blockers"],
        json!([{"kind": "no_activity_source"}]),
        "{status}"
    );
    assert_eq!(status["open"][0]["state"], "queued");
    assert!(
        home.marker_lines().is_empty(),
        "it ran without knowing whether chats were live"
    );
    home.stop(server);
}

#[test]
fn a_held_lease_holds_the_request_and_its_end_lets_it_run_once() {
    // Heartbeats must outlast the TTL to show they renew it; 6 s leaves a loaded machine
    // 5 s of slack between two of them.
    let home = Home::new(&MARKER_CONFIG.replace("lease_ttl_seconds = 1", "lease_ttl_seconds = 6"));
    let server = home.serve();
    let lease = home.call(
        "POST",
        "/v1/runs",
        Some(json!({"session": "telegram:123", "source": "hermes"})),
    );
    assert_eq!(lease.status, 200, "{:?}", lease.body);
    let lease = lease.body["lease"].as_str().unwrap().to_owned();
    let out = home.lull(&["restart", "--idle-seconds", "1", "--json"]);
    assert!(out.status.success());
    let asked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = asked["request"]["id"].as_str().unwrap().to_owned();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(400));
        let beat = home.call(
            "POST",
            &format!("/v1/runs/{lease}/heartbeat"),
            Some(json!({"source": "hermes"})),
        );
        assert_eq!(beat.status, 200, "{:?}", beat.body);
    }
    let status = home.call("GET", "/v1/status", None).body;
    assert_eq!(status["blockers"][0]["kind"], "live_runs", "{status}");
    assert_eq!(status["live_runs"][0]["session"], "telegram:123");
    assert!(home.marker_lines().is_empty());
    let ended = home.call(
        "DELETE",
        &format!("/v1/runs/{lease}"),
        Some(json!({"source": "hermes"})),
    );
    assert_eq!(ended.body, json!({"ended": true}));
    wait_for("the restart to run", Duration::from_secs(30), || {
        home.call("GET", "/v1/status", None).body["last_finished"]["state"] == "succeeded"
    });
    assert_eq!(home.marker_lines(), [id], "ran exactly once");
    let late = home.call(
        "POST",
        &format!("/v1/runs/{lease}/heartbeat"),
        Some(json!({"source": "hermes"})),
    );
    assert_eq!(
        (late.status, late.body["error"]["code"].as_str()),
        (410, Some("lease_expired"))
    );
    let text = home.lull(&["status"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("succeeded"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    home.stop(server);
}

#[test]
fn a_run_that_begins_during_the_restart_step_is_refused_with_executing() {
    let config = MARKER_CONFIG.replace(
        "restart = [\"sh\", \"-c\", \"echo $LULL_REQUEST_ID >> {home}/marker\"]",
        // Held until the test has tried its run, however slow the machine (bounded at 60 s).
        "restart = [\"sh\", \"-c\", \"touch {home}/started; i=0; while [ ! -e {home}/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\"]",
    );
    let home = Home::new(&config);
    let server = home.serve();
    home.call("POST", "/v1/heartbeat", Some(json!({"source": "hermes"})));
    assert_eq!(
        home.call(
            "POST",
            "/v1/requests",
            Some(json!({"kind": "restart", "idle_seconds": 0}))
        )
        .status,
        201
    );
    wait_for("the restart step to start", Duration::from_secs(30), || {
        home.path().join("started").exists()
    });
    let refused = home.call(
        "POST",
        "/v1/runs",
        Some(json!({"session": "telegram:1", "source": "hermes"})),
    );
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert_eq!(refused.body["error"]["code"], "executing");
    assert!(refused.body["retry_after_seconds"].as_u64().unwrap() > 0);
    std::fs::write(home.path().join("go"), "").unwrap();
    wait_for("the restart to finish", Duration::from_secs(30), || {
        home.call("GET", "/v1/status", None).body["last_finished"]["state"] == "succeeded"
    });
    assert_eq!(
        home.call(
            "POST",
            "/v1/runs",
            Some(json!({"session": "telegram:1", "source": "hermes"}))
        )
        .status,
        200
    );
    home.stop(server);
}

#[test]
fn kill_9_at_random_moments_loses_nothing_acknowledged_and_runs_nothing_twice() {
    // Kept history large enough that retention prunes nothing acknowledged during the test.
    let home = Home::new(&MARKER_CONFIG.replace(
        "lease_ttl_seconds = 1",
        "lease_ttl_seconds = 1\nidle_seconds = 0\nhistory_limit = 1000000",
    ));
    let seed: u64 = std::env::var("LULL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut submitted = Vec::new();
    let mut cancelled = Vec::new();
    let kills = 30;
    for _ in 0..kills {
        let mut server = home.serve();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let socket = home.socket();
        // Some cycles outlast the 1 s boot grace, so requests also run (and get killed mid-run).
        let stop_after = Duration::from_millis(rng.u64(50..2000));
        let mut cycle = rng.u64(..);
        runtime.block_on(async {
            let client = async {
                loop {
                    cycle += 1;
                    // A failed connect returns without ever yielding: pause, so the timeout
                    // below can fire even if the server is gone.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let _ = lull_adapters::client::call(
                        &socket,
                        "POST",
                        "/v1/heartbeat",
                        Some(&json!({"source": "gw"})),
                    )
                    .await;
                    let Ok(r) = lull_adapters::client::call(
                        &socket,
                        "POST",
                        "/v1/requests",
                        Some(&json!({"kind": "restart", "reason": format!("c{cycle}")})),
                    )
                    .await
                    else {
                        continue;
                    };
                    if r.status >= 300 {
                        continue;
                    }
                    let id = r.body["request"]["id"].as_str().unwrap().to_owned();
                    submitted.push(id.clone());
                    if cycle.is_multiple_of(2) {
                        let Ok(c) = lull_adapters::client::call(
                            &socket,
                            "POST",
                            &format!("/v1/requests/{id}/cancel"),
                            None,
                        )
                        .await
                        else {
                            continue;
                        };
                        if c.status == 200 {
                            cancelled.push(id);
                        }
                    }
                }
            };
            let _ = tokio::time::timeout(stop_after, client).await;
        });
        if let Ok(Some(status)) = server.try_wait() {
            panic!(
                "lull serve exited ({status}) before it was killed; its log ends:\n{}",
                home.server_log()
            );
        }
        server.kill().unwrap();
        server.wait().unwrap();
    }
    // One clean start settles what the last kill interrupted; then check everything.
    let server = home.serve();
    let all = home.call("GET", "/v1/requests", None).body["requests"]
        .as_array()
        .unwrap()
        .clone();
    let state = |id: &str| {
        all.iter()
            .find(|r| r["id"] == id)
            .map(|r| r["state"].as_str().unwrap().to_owned())
    };
    for id in &submitted {
        assert!(state(id).is_some(), "acknowledged request {id} is gone");
    }
    for id in &cancelled {
        assert_eq!(
            state(id).as_deref(),
            Some("cancelled"),
            "acknowledged cancel of {id} lost"
        );
    }
    let runs = home.marker_lines();
    let mut unique = runs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), runs.len(), "a request ran twice: {runs:?}");
    let open = all
        .iter()
        .filter(|r| matches!(r["state"].as_str(), Some("queued" | "awaiting_approval")))
        .count();
    assert!(open <= 1);
    println!(
        "{kills} kills, {} acknowledged submissions, {} acknowledged cancels, {} executions",
        submitted.len(),
        cancelled.len(),
        runs.len()
    );
    assert!(!submitted.is_empty());
    home.stop(server);
}

#[test]
fn a_restart_command_sees_the_user_sessions_bus_as_systemctl_user_needs() {
    let home = Home::new(&MARKER_CONFIG.replace(
        "echo $LULL_REQUEST_ID",
        "echo \\\"$XDG_RUNTIME_DIR|$DBUS_SESSION_BUS_ADDRESS|$LULL_TEST_SECRET\\\"",
    ))
    .with_env("XDG_RUNTIME_DIR", "/run/user/4242")
    .with_env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/4242/bus")
    .with_env("LULL_TEST_SECRET", "not for commands");
    let server = home.serve();
    let beat = home.call("POST", "/v1/heartbeat", Some(json!({"source": "gw"})));
    assert_eq!(beat.status, 200, "{:?}", beat.body);
    let out = home.lull(&["restart", "--idle-seconds", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the restart to run", Duration::from_secs(30), || {
        home.call("GET", "/v1/status", None).body["last_finished"]["state"] == "succeeded"
    });
    assert_eq!(
        home.marker_lines(),
        ["/run/user/4242|unix:path=/run/user/4242/bus|"],
        "the session's variables pass; nothing else of lull's environment does"
    );
    home.stop(server);
}

/// A restart command that traps SIGTERM, with a clean-up that takes a second, then a line in
/// the marker: lull sends TERM to its group and waits `kill_grace_seconds` before any KILL.
const TRAPPING_RESTART: &str = r#"
[maintenance]
lease_ttl_seconds = 1
cooldown_seconds = 0
[executor]
restart = ["sh", "-c", "trap 'sleep 1; echo cleaned up >> {home}/marker; exit 7' TERM; echo started >> {home}/marker; sleep 300 & wait"]
"#;

/// Starts `lull serve` with an activity source alive and asks for a restart that may run at once.
fn serve_and_ask_for_a_restart(home: &Home) -> common::Server {
    let server = home.serve();
    let beat = home.call("POST", "/v1/heartbeat", Some(json!({"source": "gw"})));
    assert_eq!(beat.status, 200, "{:?}", beat.body);
    let asked = home.lull(&["restart", "--idle-seconds", "0"]);
    assert!(
        asked.status.success(),
        "{}",
        String::from_utf8_lossy(&asked.stderr)
    );
    server
}

#[test]
fn a_command_that_traps_term_gets_its_grace_on_timeout_and_when_lull_stops() {
    // Past its timeout.
    let home =
        Home::new(&TRAPPING_RESTART.replace("[executor]\n", "[executor]\ntimeout_seconds = 2\n"));
    let server = serve_and_ask_for_a_restart(&home);
    wait_for("the restart to time out", Duration::from_secs(60), || {
        home.call("GET", "/v1/status", None).body["last_finished"]["state"] == "failed"
    });
    assert_eq!(home.marker_lines(), ["started", "cleaned up"]);
    home.stop(server);

    // Running when lull stops: the command's guardian sends TERM, then waits the grace.
    let home = Home::new(TRAPPING_RESTART);
    let server = serve_and_ask_for_a_restart(&home);
    wait_for("the restart to start", Duration::from_secs(30), || {
        home.marker_lines() == ["started"]
    });
    home.stop(server);
    wait_for("the command's clean-up", Duration::from_secs(30), || {
        home.marker_lines() == ["started", "cleaned up"]
    });
}
