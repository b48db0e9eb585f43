//! Snapshot tests: the exact text of status for each blocker kind, and of history and outcomes.

use std::time::Duration;

use lull_queue::{LiveRunInfo, SourceInfo};
use lull_queue::{Origin, Phase, Requester, Role, RunResult, Transition};

use super::*;

const NOW: Timestamp = Timestamp::from_unix_millis(1_795_478_400_000); // 2026-11-24T00:00:00Z

fn at(seconds_ago: u64) -> Timestamp {
    Timestamp::from_unix_millis(NOW.unix_millis() - seconds_ago * 1000)
}

fn request(kind: Kind, state: State) -> Request {
    let id = lull_queue::RequestId::parse("6f1c0a52-8d3e-4b7a-9c21-0e5d4f3a2b19").unwrap();
    Request {
        id,
        short_id: id.short_id(3),
        kind,
        state,
        reason: "installed jq".into(),
        idle_seconds: 1200,
        idle_set_by_admin: false,
        ignore_windows: false,
        requested_by: vec![
            Requester {
                platform: "telegram".into(),
                chat: Some("-100".into()),
                user_id: "7".into(),
                display: "agent-7".into(),
                role: Role::Agent,
                origin: Origin::Tool,
                count: 3,
            },
            Requester {
                platform: "discord".into(),
                chat: Some("55".into()),
                user_id: "9".into(),
                display: "alice".into(),
                role: Role::Admin,
                origin: Origin::Chat,
                count: 1,
            },
        ],
        unlisted_requesters: 0,
        phase: None,
        phase_since: None,
        fencing_token: None,
        created_at: at(720),
        transitions: vec![Transition {
            state,
            at: at(720),
            by: "telegram:7".into(),
        }],
        result: None,
    }
}

fn status(blockers: Vec<Blocker>, eta: Option<Timestamp>) -> Status {
    Status {
        profile: "default".into(),
        open: vec![request(Kind::Restart, State::Queued)],
        running: None,
        live_runs: vec![
            LiveRunInfo {
                session: "telegram:123".into(),
                since: at(240),
                lease: None,
                wedged: false,
            },
            LiveRunInfo {
                session: "discord:456".into(),
                since: at(60),
                lease: Some("abc".into()),
                wedged: false,
            },
        ],
        sources: vec![SourceInfo {
            name: "hermes".into(),
            last_seen: at(5),
            announced_by: "socket".into(),
        }],
        host_draining: false,
        paused: false,
        paused_until: None,
        idle_since: None,
        blockers,
        eta,
        last_finished: None,
        windows: None,
        fleet: None,
    }
}

const HEAD: &str = "*Queued:* restart `{short}` is waiting (asked 12m ago)\n  reason: installed jq\n  asked by: agent-7 (telegram, ×3), alice (discord)\n";

fn expect(blocker: Blocker, eta: Option<Timestamp>, lines: &str) {
    let s = status(vec![blocker], eta);
    let short = s.open[0].short_id.to_string();
    let expected = format!("{}{lines}", HEAD.replace("{short}", &short));
    assert_eq!(super::status(&s, NOW).text, expected);
}

const UNKNOWN: &str = "  ETA: unknown — it depends on something outside lull's clock (see above)";

#[test]
fn live_runs() {
    expect(
        Blocker::LiveRuns {
            count: 2,
            sessions: vec!["telegram:123".into(), "discord:456".into()],
        },
        None,
        &format!("  • waiting for 2 live runs: telegram:123 for 4m, discord:456 for 1m\n{UNKNOWN}"),
    );
}

#[test]
fn idle_window() {
    expect(
        Blocker::IdleWindow {
            idle_seconds: 1200,
            idle_for_seconds: 480,
            remaining_seconds: 720,
        },
        Some(NOW.saturating_add(Duration::from_secs(720))),
        "  • idle ▓▓▓░░░░░ 8m / 20m\n  ETA: in about 12m (2026-11-24T00:12:00.000Z)",
    );
}

#[test]
fn boot_grace() {
    expect(
        Blocker::BootGrace {
            remaining_seconds: 75,
        },
        Some(NOW.saturating_add(Duration::from_secs(75))),
        "  • lull started recently; giving agent runtimes 1m more to re-announce their runs\n  ETA: in about 1m (2026-11-24T00:01:15.000Z)",
    );
}

#[test]
fn no_activity_source() {
    expect(
        Blocker::NoActivitySource,
        None,
        &format!(
            "  • no activity source has reported — is the gateway connected? lull never assumes chats are idle\n{UNKNOWN}"
        ),
    );
}

#[test]
fn activity_source_silent() {
    expect(
        Blocker::ActivitySourceSilent {
            sources: vec!["hermes".into()],
            silent_for_seconds: 400,
        },
        None,
        &format!(
            "  • activity source hermes silent for 6m — lull cannot tell whether chats are live\n{UNKNOWN}"
        ),
    );
}

#[test]
fn host_draining() {
    expect(
        Blocker::HostDraining {
            remaining_seconds: 5400,
        },
        Some(NOW.saturating_add(Duration::from_secs(5400))),
        "  • the host is draining for another 1h 30m\n  ETA: in about 1h 30m (2026-11-24T01:30:00.000Z)",
    );
}

#[test]
fn executing() {
    expect(
        Blocker::Executing,
        None,
        &format!("  • another maintenance is running right now\n{UNKNOWN}"),
    );
}

#[test]
fn paused() {
    expect(
        Blocker::Paused {
            until: None,
            remaining_seconds: None,
        },
        None,
        &format!("  • maintenance is paused until an admin runs `/maintenance resume`\n{UNKNOWN}"),
    );
    let until = NOW.saturating_add(Duration::from_secs(7200));
    expect(
        Blocker::Paused {
            until: Some(until),
            remaining_seconds: Some(7200),
        },
        Some(until),
        "  • maintenance is paused until 2026-11-24T02:00:00.000Z (2h left)\n  ETA: in about 2h (2026-11-24T02:00:00.000Z)",
    );
}

#[test]
fn cooldown() {
    expect(
        Blocker::Cooldown {
            remaining_seconds: 200,
        },
        Some(NOW.saturating_add(Duration::from_secs(200))),
        "  • cooling down after the last maintenance: 3m left\n  ETA: in about 3m (2026-11-24T00:03:20.000Z)",
    );
}

#[test]
fn rate_limit() {
    expect(
        Blocker::RateLimit {
            max_per_hour: 3,
            remaining_seconds: 1500,
        },
        Some(NOW.saturating_add(Duration::from_secs(1500))),
        "  • the limit of 3 maintenance runs per hour is reached: next slot in 25m\n  ETA: in about 25m (2026-11-24T00:25:00.000Z)",
    );
}

#[test]
fn awaiting_approval() {
    expect(
        Blocker::AwaitingApproval {
            remaining_seconds: 3000,
        },
        None,
        &format!(
            "  • awaiting an admin's approval (`/maintenance approve <id>`; expires in 50m)\n{UNKNOWN}"
        ),
    );
}

#[test]
fn wedged() {
    expect(
        Blocker::Wedged {
            sessions: vec!["telegram:123".into()],
        },
        None,
        &format!(
            "  • run telegram:123 looks stuck; an admin can `/maintenance release <session>`\n{UNKNOWN}"
        ),
    );
}

#[test]
fn outside_window_names_the_local_opening_and_the_windows_line_follows() {
    let opening = NOW.saturating_add(Duration::from_secs(3600));
    let mut s = status(
        vec![Blocker::OutsideWindow {
            next_opening: Some(opening),
            next_opening_local: Some("2026-11-24T02:00:00+01:00".into()),
            timezone: "Europe/Berlin".into(),
            remaining_seconds: Some(3600),
        }],
        Some(opening),
    );
    s.windows = Some(lull_queue::WindowsStatus {
        timezone: "Europe/Berlin".into(),
        entries: vec!["Mon-Fri 02:00-05:00".into()],
        open: false,
        closes_at: None,
        next_opening: Some(opening),
        next_opening_local: Some("2026-11-24T02:00:00+01:00".into()),
    });
    s.open[0].ignore_windows = false;
    let short = s.open[0].short_id.to_string();
    assert_eq!(
        super::status(&s, NOW).text,
        format!(
            "{}  • outside the maintenance windows: next opening Tue 2026-11-24 02:00 CET (2026-11-24T01:00:00.000Z), in 1h\n  ETA: in about 1h (2026-11-24T01:00:00.000Z)\n*Windows:* Mon-Fri 02:00-05:00 (Europe/Berlin) — closed; next opening Tue 2026-11-24 02:00 CET",
            HEAD.replace("{short}", &short)
        )
    );
    // An update installed outside the windows says its restart waits for the next one.
    let mut running = request(Kind::Update, State::Running);
    running.phase = Some(Phase::AwaitingRestart);
    s.running = Some(running);
    assert!(
        super::status(&s, NOW).plain.contains(
            "is updated, its restart still to begin (since 12m ago)\n  the restart waits for the next opening: Tue 2026-11-24 02:00 CET\n"
        ),
        "{}",
        super::status(&s, NOW).plain
    );
    s.running = None;
    // An admin's --window any shows on the request, and the windows stay listed.
    s.open[0].ignore_windows = true;
    s.blockers.clear();
    assert!(
        super::status(&s, NOW)
            .plain
            .contains("  windows: ignored for this request (--window any)\n  ready: it starts now")
    );
}

#[test]
fn nothing_open_with_the_last_outcome_and_a_running_update() {
    let mut s = status(Vec::new(), None);
    s.open.clear();
    let mut running = request(Kind::Update, State::Running);
    running.phase = Some(Phase::Updating);
    s.running = Some(running.clone());
    let mut last = request(Kind::Restart, State::Succeeded);
    last.result = Some(RunResult {
        downtime_ms: Some(4200),
        restarted: true,
        ..RunResult::default()
    });
    s.last_finished = Some(last);
    s.paused = true;
    let short = running.short_id;
    assert_eq!(
        super::status(&s, NOW).plain,
        format!(
            "Now: update {short} is updating (since 12m ago)\nQueue: nothing is waiting.\nPaused until an admin resumes.\nLast: restart {short} succeeded 12m ago (downtime 4s)"
        )
    );
}

#[test]
fn history_lists_outcomes_with_their_messages() {
    let mut failed = request(Kind::Update, State::Failed);
    failed.result = Some(RunResult {
        exit_status: Some(1),
        message: Some("`my-gateway self-update` exited with status 1".into()),
        ..RunResult::default()
    });
    let short = failed.short_id.clone();
    assert_eq!(
        super::history(&[failed], NOW).plain,
        format!(
            "Recent maintenance\n• update {short} failed 12m ago: my-gateway self-update exited with status 1"
        )
    );
    assert_eq!(
        super::history(&[], NOW).plain,
        "No maintenance has finished yet."
    );
}

#[test]
fn durations_read_at_a_glance() {
    let cases = [
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (5400, "1h 30m"),
        (86_400, "1d"),
        (97_200, "1d 3h"),
    ];
    for (seconds, words) in cases {
        assert_eq!(human(Duration::from_secs(seconds)), words);
    }
    assert_eq!(
        progress_bar(Duration::from_secs(600), Duration::from_secs(1200)),
        "▓▓▓▓░░░░ 10m / 20m"
    );
    assert_eq!(
        progress_bar(Duration::ZERO, Duration::ZERO),
        "▓▓▓▓▓▓▓▓ 0s / 0s"
    );
}

#[test]
fn fleet_slot_names_the_holders_and_the_fleet_line_the_slot() {
    let mut s = status(
        vec![Blocker::FleetSlot {
            holders: vec![lull_queue::FleetHolder {
                id: "gw-b".into(),
                since: Some(at(120)),
            }],
            detail: None,
        }],
        None,
    );
    s.fleet = Some(lull_queue::FleetStatus {
        replica: "replica gw-a of group default (etcd, 1 slot)".into(),
        hold: None,
        waiting: s.blockers.first().cloned(),
    });
    let short = s.open[0].short_id.to_string();
    assert_eq!(
        super::status(&s, NOW).text,
        format!(
            "{}  • waiting for a fleet slot: replica gw-b restarting since 2026-11-23T23:58:00.000Z (2m ago)\n{UNKNOWN}\n*Fleet:* replica gw-a of group default (etcd, 1 slot); holds no slot.",
            HEAD.replace("{short}", &short)
        )
    );
    // FleetLock tells no holders, only its words; an unreachable service says so.
    let words = |blocker: Blocker| blocker_words(&blocker, &s, NOW);
    assert_eq!(
        words(Blocker::FleetSlot {
            holders: Vec::new(),
            detail: Some("failed_lock_semaphore_full: all slots are locked".into()),
        }),
        "waiting for a fleet slot: other replicas are restarting (the lock server says: failed_lock_semaphore_full: all slots are locked)"
    );
    assert_eq!(
        words(Blocker::FleetUnreachable {
            error: "connection refused".into()
        }),
        "the fleet lock service is unreachable (connection refused); lull never restarts without a slot, and tries again"
    );
    // An updated request's restart step waiting for a slot says so under "Now".
    let mut running = request(Kind::Update, State::Running);
    running.phase = Some(Phase::AwaitingRestart);
    s.running = Some(running);
    let plain = super::status(&s, NOW).plain;
    assert!(
        plain.contains("its restart still to begin (since 12m ago)\n  the restart waits: waiting for a fleet slot: replica gw-b"),
        "{plain}"
    );
    // A kept slot says why, and how to give it back.
    s.fleet = Some(lull_queue::FleetStatus {
        replica: "replica gw-a of group default (etcd, 1 slot)".into(),
        hold: Some(lull_queue::FleetHold {
            backend: "etcd".into(),
            group: "default".into(),
            id: "gw-a".into(),
            key: "lull/default/slots/0".into(),
            lease: Some(7),
            token: Some(42),
            since: at(600),
            request: None,
            kept: Some("request r7k2 failed: the health check failed".into()),
        }),
        waiting: None,
    });
    assert!(
        super::status(&s, NOW).text.ends_with(
            "*Fleet:* replica gw-a of group default (etcd, 1 slot) keeps its slot (lull/default/slots/0, token 42, since 10m ago): request r7k2 failed: the health check failed. Other replicas wait; an admin can `/maintenance release fleet` (`lull fleet release`)."
        ),
        "{}",
        super::status(&s, NOW).text
    );
}
