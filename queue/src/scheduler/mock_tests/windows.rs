//! Maintenance windows in the scheduler, on tokio's paused clock with the wall clock following
//! it: the timer wakes exactly at the opening, idleness still counts from the last activity,
//! an update's restart step waits for a window, `--window any`, `max_wait` counts only window
//! time, DST nights in Europe/Berlin, and a restart of lull.

use super::*;
use crate::timestamp::Timestamp;
use crate::window::Windows;

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn with_windows(entries: &[&str], zone: &str) -> SchedulerSettings {
    SchedulerSettings {
        windows: Windows::parse(entries, zone).unwrap(),
        ..scheduler_settings()
    }
}

/// START (Tuesday 2026-11-24 00:00 UTC) with nightly windows 02:00-05:00 UTC.
fn nightly(settings: SchedulerSettings) -> Harness {
    Harness::new(
        QueueSettings::default(),
        tracker_settings(SourceMode::Embedded),
        settings,
    )
}

/// A weekly six-hour window, `max_wait` one hour, and no activity source: requests never run,
/// so only the admins' prompts happen.
fn weekly_and_never_eligible() -> Harness {
    let settings = SchedulerSettings {
        max_wait: HOUR,
        ..with_windows(&["Sat 00:00-06:00"], "UTC")
    };
    Harness::new(
        QueueSettings::default(),
        tracker_settings(SourceMode::Sidecar),
        settings,
    )
}

impl Harness {
    /// The wall clock now.
    fn wall(&self) -> Timestamp {
        self.clock.now()
    }

    /// The wall-clock time of the next prompt to admins.
    async fn next_prompt(&mut self) -> Timestamp {
        let wall = self.clock.clone();
        self.event(|e| matches!(e, QueueEvent::Escalated { .. }).then(|| wall.now()))
            .await
    }
}

#[tokio::test(start_paused = true)]
async fn the_timer_wakes_exactly_at_the_opening_and_eta_says_so() {
    let mut h = nightly(with_windows(&["02:00-05:00"], "UTC"));
    let boot = Instant::now();
    h.submit(20 * MIN).await;
    pass(30 * MIN).await;
    let status = h.scheduler.status().unwrap();
    assert_eq!(
        status.blockers,
        vec![Blocker::OutsideWindow {
            next_opening: Some(at("2026-11-24T02:00:00Z")),
            next_opening_local: Some("2026-11-24T02:00:00+00:00".into()),
            timezone: "UTC".into(),
            remaining_seconds: Some(90 * 60),
        }]
    );
    assert_eq!(status.eta, Some(at("2026-11-24T02:00:00Z")));
    let windows = status.windows.unwrap();
    assert!(!windows.open);
    assert_eq!(windows.next_opening, Some(at("2026-11-24T02:00:00Z")));
    assert_eq!(windows.entries, ["02:00-05:00"]);

    // No polling while it waits: in the 89 minutes before the opening it looks once, an hour
    // ahead, to read the wall clock again (it may have been corrected since the timer was set).
    let woke = h.scheduler.wakeups();
    pass(29 * MIN).await;
    assert_eq!(h.scheduler.wakeups(), woke, "the scheduler polled");
    pass(60 * MIN).await;
    assert_eq!(h.scheduler.wakeups(), woke + 1, "one look an hour ahead");
    assert!(h.executor.starts().is_empty());

    h.succeeded().await;
    assert_eq!(
        h.executor.starts(),
        [boot + 2 * HOUR],
        "exactly at the opening"
    );
    assert_eq!(h.wall(), at("2026-11-24T02:00:00Z"));
}

#[tokio::test(start_paused = true)]
async fn idleness_counts_from_the_last_activity_so_a_late_ask_waits_for_the_next_night() {
    let mut h = nightly(with_windows(&["02:00-05:00"], "UTC"));
    let boot = Instant::now();
    pass(4 * HOUR + 50 * MIN).await;
    h.tracker.note_activity();
    h.submit(20 * MIN).await;
    pass(Duration::from_secs(1)).await;
    // Inside the window, but the 20 idle minutes end at 05:10, after it closes at 05:00.
    let status = h.scheduler.status().unwrap();
    assert_eq!(h.blocker_kinds(), ["idle_window"]);
    assert_eq!(
        status.eta,
        Some(at("2026-11-25T02:00:00Z")),
        "the ETA is the next opening"
    );
    assert_eq!(
        status.windows.unwrap().closes_at,
        Some(at("2026-11-24T05:00:00Z"))
    );
    pass(11 * MIN).await; // 05:01
    assert_eq!(h.blocker_kinds(), ["idle_window", "outside_window"]);
    pass(10 * MIN).await; // 05:11: idle, but outside the window
    assert_eq!(h.blocker_kinds(), ["outside_window"]);
    h.succeeded().await;
    // Not at the window's opening plus 20 minutes: idleness was never reset.
    assert_eq!(h.executor.starts(), [boot + 26 * HOUR]);
}

#[tokio::test(start_paused = true)]
async fn an_update_whose_restart_step_falls_outside_the_window_waits_for_the_next_one() {
    let mut h = nightly(with_windows(&["02:00-05:00"], "UTC"));
    let boot = Instant::now();
    pass(4 * HOUR + 55 * MIN).await;
    let mut update = ask(Kind::Update, "boss", Role::Admin);
    update.idle_seconds = 60;
    update.idle_explicit = true;
    h.store.submit(update).await.unwrap();
    // The update starts at 04:55 and takes 10 minutes: installed at 05:05, outside the window.
    h.event(|e| matches!(e, QueueEvent::Starting { .. }).then_some(()))
        .await;
    pass(HOUR).await; // 05:55
    // Admission is open while the restart step waits: the old gateway keeps serving.
    let run = h
        .tracker
        .begin_run("telegram:night")
        .expect("runs begin while the restart waits");
    drop(run);
    let audit = h.store.audit(None).unwrap();
    let waits = audit
        .iter()
        .find(|e| e.action == "restart_waits_for_window")
        .expect("the wait for the window is audited");
    assert!(
        waits.detail.contains("2026-11-25T02:00:00.000Z"),
        "{}",
        waits.detail
    );

    let (_, request) = h.succeeded().await;
    let calls: Vec<(Instant, &str)> = h
        .executor
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.0, c.2))
        .collect();
    assert_eq!(
        calls,
        [
            (boot + 4 * HOUR + 55 * MIN, "update"),
            (boot + 26 * HOUR, "restart")
        ]
    );
    assert!(request.result.unwrap().restarted);
}

#[tokio::test(start_paused = true)]
async fn window_any_lets_an_admin_start_outside_windows_and_is_refused_for_an_agent() {
    let mut h = nightly(with_windows(&["02:00-05:00"], "UTC"));
    let boot = Instant::now();
    // An agent may not ask for it: refused as the ask is checked, nothing queued.
    let agent_any = crate::AskDraft {
        kind: Kind::Restart,
        reason: String::new(),
        idle: None,
        ignore_windows: true,
        actor: crate::test_support::actor("bot", Role::Agent),
    };
    let rules = crate::AskRules {
        default_idle: 10 * MIN,
        min_agent_idle: Duration::ZERO,
    };
    let refused = crate::Ask::new(agent_any, &rules).unwrap_err();
    assert_eq!(refused, crate::AskError::WindowsForAdminsOnly);
    assert!(h.store.open_request().unwrap().is_none());

    // An agent's plain ask waits for the window …
    let mut agent = ask(Kind::Restart, "bot", Role::Agent);
    agent.idle_seconds = 600;
    h.store.submit(agent.clone()).await.unwrap();
    pass(2 * MIN).await;
    assert_eq!(h.blocker_kinds(), ["idle_window", "outside_window"]);
    // … until an admin joins with --window any (audited).
    let mut admin = ask(Kind::Restart, "boss", Role::Admin);
    admin.idle_seconds = 600;
    admin.ignore_windows = true;
    let joined = h.store.submit(admin).await.unwrap().request;
    assert!(joined.ignore_windows);
    assert_eq!(h.blocker_kinds(), ["idle_window"]);
    let audit = h.store.audit(Some(joined.id)).unwrap();
    assert!(
        audit.iter().any(|e| e.detail.contains("window=any")),
        "{audit:?}"
    );
    // A later ask by the agent does not take the admin's word back.
    let merged = h.store.submit(agent).await.unwrap().request;
    assert!(merged.ignore_windows);
    h.succeeded().await;
    assert_eq!(h.executor.starts(), [boot + 10 * MIN]);
}

#[tokio::test(start_paused = true)]
async fn time_outside_windows_does_not_count_toward_max_wait() {
    // A weekly window of six hours, and a request that can never run (no activity source):
    // with max_wait one hour, admins are asked after one hour of *window* time, on Saturday,
    // not an hour after the ask on Tuesday.
    let mut h = weekly_and_never_eligible();
    h.submit(MIN).await;
    let mut prompts = Vec::new();
    for _ in 0..3 {
        prompts.push(h.next_prompt().await);
    }
    assert_eq!(
        prompts,
        [
            at("2026-11-28T01:00:00Z"),
            at("2026-11-28T02:00:00Z"),
            at("2026-11-28T03:00:00Z")
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn berlin_spring_forward_opens_at_the_first_instant_after_the_gap() {
    // Sunday 2026-03-29 00:00 CET; the window opens at 02:30, which does not exist that night.
    let mut h = Harness::new_at(
        at("2026-03-28T23:00:00Z"),
        QueueSettings::default(),
        tracker_settings(SourceMode::Embedded),
        with_windows(&["Sun 02:30-04:00"], "Europe/Berlin"),
    );
    let boot = Instant::now();
    h.submit(20 * MIN).await;
    pass(30 * MIN).await;
    assert_eq!(
        h.scheduler.status().unwrap().blockers,
        vec![Blocker::OutsideWindow {
            next_opening: Some(at("2026-03-29T01:00:00Z")),
            next_opening_local: Some("2026-03-29T03:00:00+02:00".into()),
            timezone: "Europe/Berlin".into(),
            remaining_seconds: Some(90 * 60),
        }]
    );
    h.succeeded().await;
    assert_eq!(h.executor.starts(), [boot + 2 * HOUR], "03:00 CEST");
}

#[tokio::test(start_paused = true)]
async fn berlin_fall_back_never_opens_a_window_twice_in_one_night() {
    // Sunday 2026-10-25 02:40 CEST (00:40 UTC): the window 01:30-02:30 has just closed. At
    // 03:00 CEST the clocks go back to 02:00 CET, and 02:00-02:30 happens again: the window
    // must not open a second time.
    let mut h = Harness::new_at(
        at("2026-10-25T00:40:00Z"),
        QueueSettings::default(),
        tracker_settings(SourceMode::Embedded),
        with_windows(&["Sun 01:30-02:30"], "Europe/Berlin"),
    );
    let boot = Instant::now();
    h.submit(MIN).await;
    pass(30 * MIN).await; // 01:10 UTC = 02:10 CET, the repeated hour
    assert_eq!(h.blocker_kinds(), ["outside_window"]);
    assert!(h.executor.starts().is_empty());
    let (_, _) = tokio::time::timeout(8 * 24 * HOUR, h.succeeded())
        .await
        .unwrap();
    // Next Sunday 01:30 CET = 00:30 UTC.
    assert_eq!(
        h.wall(),
        at("2026-11-01T00:30:00Z"),
        "started at the next week's opening"
    );
    assert_eq!(h.executor.starts(), [boot + 7 * 24 * HOUR - 10 * MIN]);
}

#[tokio::test(start_paused = true)]
async fn a_restart_of_lull_keeps_windows_correct() {
    let h = nightly(with_windows(&["02:00-05:00"], "UTC"));
    let boot = Instant::now();
    h.submit(20 * MIN).await;
    pass(HOUR).await;
    let mut h = h.restart().await;
    assert_eq!(
        h.blocker_kinds(),
        ["idle_window", "boot_grace", "outside_window"]
    );
    assert_eq!(
        h.scheduler.status().unwrap().eta,
        Some(at("2026-11-24T02:00:00Z"))
    );
    h.succeeded().await;
    assert_eq!(h.executor.starts(), [boot + 2 * HOUR]);
    assert_eq!(h.wall(), at("2026-11-24T02:00:00Z"));
}

#[tokio::test(start_paused = true)]
async fn window_any_counts_the_whole_wait_toward_max_wait_again() {
    let mut h = weekly_and_never_eligible();
    h.store
        .submit(ask(Kind::Restart, "bot", Role::Agent))
        .await
        .unwrap();
    pass(30 * MIN).await;
    // The admin lifts the windows for this request: its wait counts in full from the ask on.
    let mut admin = ask(Kind::Restart, "boss", Role::Admin);
    admin.ignore_windows = true;
    h.store.submit(admin).await.unwrap();
    assert_eq!(
        h.next_prompt().await,
        at("2026-11-24T01:00:00Z"),
        "not Saturday"
    );
}

/// Submits an update at 04:55 (nightly windows 02:00-05:00 UTC): installed at 05:05, outside
/// the window, so its restart step waits for the next night with the old gateway serving.
async fn update_installed_after_the_window(h: &mut Harness) -> Request {
    pass(4 * HOUR + 55 * MIN).await;
    let mut update = ask(Kind::Update, "boss", Role::Admin);
    update.idle_seconds = 60;
    update.idle_explicit = true;
    let request = h.store.submit(update).await.unwrap().request;
    let opens = h
        .event(|e| match e {
            QueueEvent::AwaitingRestart { window_opens, .. } => Some(*window_opens),
            _ => None,
        })
        .await;
    assert_eq!(
        opens,
        Some(at("2026-11-25T02:00:00Z")),
        "requesters hear when"
    );
    let running = h.store.get(request.id).unwrap().unwrap();
    assert_eq!(running.phase, Some(Phase::AwaitingRestart));
    request
}

#[tokio::test(start_paused = true)]
async fn a_pause_holds_the_restart_step_of_an_update_waiting_for_its_window() {
    let mut h = nightly(with_windows(&["02:00-05:00"], "UTC"));
    update_installed_after_the_window(&mut h).await; // 05:05
    pass(HOUR).await;
    h.scheduler.pause(None, "telegram:boss", "").await.unwrap();
    pass(21 * HOUR).await; // 03:05 the next night: open, but paused
    assert_eq!(h.executor.starts().len(), 1, "only the update ran");
    assert_eq!(
        h.store.running_request().unwrap().unwrap().phase,
        Some(Phase::AwaitingRestart),
        "inside the window, waiting for the pause to end"
    );
    let resumed = Instant::now();
    h.scheduler.resume("telegram:boss").await.unwrap();
    h.succeeded().await;
    assert_eq!(
        h.executor.calls.lock().unwrap().last().map(|c| (c.0, c.2)),
        Some((resumed, "restart")),
        "restarted at the resume"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_while_an_update_waits_for_its_window_leaves_it_for_recovery() {
    let mut h = nightly(with_windows(&["02:00-05:00"], "UTC"));
    let request = update_installed_after_the_window(&mut h).await;
    let task = h.task.take().unwrap();
    tokio::time::timeout(MIN, task.shutdown())
        .await
        .expect("the wait for a window does not hold shutdown up");
    assert_eq!(h.executor.steps(), ["update"], "no restart on the way out");
    let recovery = crate::recovery::recover(
        &h.store,
        &crate::recovery::RecoveryOptions {
            restarts_self: true,
            restart_token: None,
            health: None,
        },
    )
    .await
    .unwrap();
    let settled = h.store.get(request.id).unwrap().unwrap();
    assert_eq!(settled.state, State::Interrupted, "{recovery:?}");
    let message = settled.result.unwrap().message.unwrap();
    assert!(
        message.contains("after the update was installed, before its restart step began"),
        "{message}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_host_drain_holds_the_restart_step_until_it_expires() {
    let mut h = nightly(with_windows(&["02:00-05:00"], "UTC"));
    update_installed_after_the_window(&mut h).await; // 05:05
    pass(20 * HOUR + 25 * MIN).await; // 01:30 the next night
    let drained = Instant::now();
    h.scheduler.drain(HOUR, "host").await.unwrap();
    h.succeeded().await;
    assert_eq!(
        h.executor.calls.lock().unwrap().last().map(|c| (c.0, c.2)),
        Some((drained + HOUR, "restart")),
        "not at the opening (02:00) but when the drain ends by itself (02:30)"
    );
}

#[tokio::test(start_paused = true)]
async fn housekeeping_goes_on_while_an_update_waits_days_for_its_window() {
    let mut h = Harness::new(
        QueueSettings {
            agent_requests: AgentRequests::Approve,
            ..QueueSettings::default()
        },
        tracker_settings(SourceMode::Embedded),
        with_windows(&["02:00-05:00"], "UTC"),
    );
    update_installed_after_the_window(&mut h).await; // 05:05
    // Asked while the update's restart waits for tomorrow night: awaiting approval, it expires
    // after an hour as always, not when the running request finishes.
    let asked = Instant::now();
    let late = h
        .store
        .submit(ask(Kind::Restart, "bot", Role::Agent))
        .await
        .unwrap()
        .request;
    assert_eq!(late.state, State::AwaitingApproval);
    let expired_at = h
        .event(|e| matches!(e, QueueEvent::Expired { .. }).then(Instant::now))
        .await;
    assert_eq!(expired_at, asked + HOUR);
    assert_eq!(
        h.executor.steps(),
        ["update"],
        "still waiting for the window"
    );
}
