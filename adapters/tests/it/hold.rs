//! `lull hold` and `lull heartbeat` through the real server: a command run as a live run holds
//! a queued restart for as long as it runs, then lets it run; its exit status passes through.

use crate::common;

use std::time::Duration;

use common::{Home, MARKER_CONFIG, wait_exit, wait_for};
use serde_json::Value;

fn status(home: &Home) -> Value {
    home.call("GET", "/v1/status", None).body
}

#[test]
fn a_held_command_holds_a_queued_restart_until_it_exits_and_passes_its_status_through() {
    // A lease TTL of 2 s: the command runs several TTLs, so only heartbeats keep the run live.
    let home = Home::new(&MARKER_CONFIG.replace("lease_ttl_seconds = 1", "lease_ttl_seconds = 2"));
    let server = home.serve();
    let status_text = || String::from_utf8_lossy(&home.lull(&["status"]).stdout).into_owned();
    assert!(
        status_text().contains("Sources: none has reported"),
        "{}",
        status_text()
    );
    let announced = home.lull(&["heartbeat", "--source", "gw"]);
    assert!(status_text().contains("Sources: gw ("), "{}", status_text());
    assert!(
        announced.status.success(),
        "{}",
        String::from_utf8_lossy(&announced.stderr)
    );
    let dir = home.path().display().to_string();
    let script =
        format!("touch {dir}/started; while [ ! -e {dir}/go ]; do sleep 0.05; done; exit 7");
    let mut held = home
        .command()
        .args(["hold", "--session", "backup", "--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    wait_for("the command to start", Duration::from_secs(30), || {
        home.path().join("started").exists()
    });
    let asked = home.lull(&["restart", "--idle-seconds", "0"]);
    assert!(
        asked.status.success(),
        "{}",
        String::from_utf8_lossy(&asked.stderr)
    );
    // Held past three lease TTLs, the same run all along: the hold heartbeats it.
    wait_for("the held run", Duration::from_secs(30), || {
        status(&home)["live_runs"][0]["session"] == "backup"
    });
    let since = status(&home)["live_runs"][0]["since"].clone();
    let seen = std::time::Instant::now();
    wait_for("three lease TTLs", Duration::from_secs(30), || {
        let run = &status(&home)["live_runs"][0];
        assert_eq!(run["since"], since, "the run lapsed and began again: {run}");
        seen.elapsed() >= Duration::from_secs(6)
    });
    let now = status(&home);
    assert_eq!(now["live_runs"][0]["session"], "backup", "{now}");
    assert_eq!(now["blockers"][0]["kind"], "live_runs", "{now}");
    assert!(
        home.marker_lines().is_empty(),
        "the restart ran during the hold"
    );
    std::fs::write(home.path().join("go"), "").unwrap();
    let exit =
        wait_exit(&mut held, Duration::from_secs(30)).expect("lull hold ends with its command");
    assert_eq!(exit.code(), Some(7), "the command's status passes through");
    wait_for("the restart to run", Duration::from_secs(30), || {
        status(&home)["last_finished"]["state"] == "succeeded"
    });
    assert_eq!(home.marker_lines().len(), 1);
    // The hold announced no source: nothing it leaves behind can go stale and block.
    let names: Vec<Value> = status(&home)["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, ["gw"]);
    home.stop(server);
}

#[test]
fn a_hold_runs_its_command_without_a_server_and_reports_what_cannot_run() {
    let home = Home::new(MARKER_CONFIG);
    let out = home.lull(&["hold", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without a hold"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        home.lull(&["hold", "--", "/nonexistent/command"])
            .status
            .code(),
        Some(127)
    );
    assert_eq!(
        home.lull(&["hold"]).status.code(),
        Some(2),
        "a command is required"
    );
    for blank in [
        &["hold", "--session", " ", "--", "true"][..],
        &["heartbeat", "--source", ""],
        &["release", " "],
    ] {
        assert_eq!(home.lull(blank).status.code(), Some(2), "{blank:?}");
    }
    assert_eq!(
        home.lull(&["heartbeat", "--source", "gw"]).status.code(),
        Some(1),
        "a source is announced to a running server"
    );
}

#[test]
fn sigterm_to_a_hold_reaches_its_command_and_the_run_ends_with_it() {
    let home = Home::new(&MARKER_CONFIG.replace("lease_ttl_seconds = 1", "lease_ttl_seconds = 30"));
    let server = home.serve();
    let dir = home.path().display().to_string();
    let script = format!("trap 'exit 42' TERM; touch {dir}/started; while :; do sleep 0.05; done");
    let mut held = home
        .command()
        .args(["hold", "--session", "deploy", "--", "sh", "-c", &script])
        .spawn()
        .unwrap();
    wait_for("the command to start", Duration::from_secs(30), || {
        home.path().join("started").exists()
    });
    assert_eq!(status(&home)["live_runs"][0]["session"], "deploy");
    // SAFETY: signals our own child, not yet reaped.
    unsafe {
        libc::kill(held.id() as libc::pid_t, libc::SIGTERM);
    }
    let exit = wait_exit(&mut held, Duration::from_secs(30)).expect("lull hold ends");
    assert_eq!(
        exit.code(),
        Some(42),
        "the command got SIGTERM and its status passed through"
    );
    // Ended with the command, not left to lapse after the 30 s TTL.
    assert_eq!(status(&home)["live_runs"], serde_json::json!([]));
    home.stop(server);
}
