//! The rules as a pure function: each blocker from its fact, the deadline each one ends at,
//! and when the request could start (in a window) if nothing else happens.

use std::sync::Arc;

use super::*;
use crate::activity::{ActivityTracker, TrackerSettings};
use crate::clock::ManualClock;
use crate::request::Kind;
use crate::requester::Role;
use crate::test_support::{START, TestStore, ask};
use crate::window::Zone;

const LEASE_TTL: Duration = Duration::from_secs(90);

/// An open request (idle 1200 s), asked for at `START`.
async fn open_request() -> (TestStore, Request) {
    let t = TestStore::new(crate::settings::QueueSettings::default());
    let request = t
        .store
        .submit(ask(Kind::Restart, "boss", Role::Admin))
        .await
        .unwrap()
        .request;
    (t, request)
}

fn tracker() -> ActivityTracker {
    ActivityTracker::new(
        TrackerSettings {
            lease_ttl: LEASE_TTL,
            ..TrackerSettings::default()
        },
        Arc::new(ManualClock::new(START)),
    )
}

/// Evaluates `open` at `now_wall` (the monotonic now) with everything else quiet.
fn evaluate_with<'a>(
    open: &'a Request,
    activity: &'a ActivitySnapshot,
    now_wall: Timestamp,
    windows: &'a Windows,
    tweak: impl FnOnce(&mut Facts<'a>),
) -> Evaluation {
    let mut facts = Facts {
        now: Instant::now(),
        now_wall,
        open,
        running: false,
        activity,
        lease_ttl: LEASE_TTL,
        source_ttl: Duration::from_secs(300),
        pause: None,
        drain_until: None,
        cooldown_until: None,
        hour_window: &[],
        max_per_hour: 3,
        approval_deadline: None,
        windows,
    };
    tweak(&mut facts);
    evaluate(&facts)
}

fn kinds(evaluation: &Evaluation) -> Vec<&'static str> {
    evaluation.blockers.iter().map(Blocker::kind).collect()
}

#[tokio::test(start_paused = true)]
async fn a_quiet_gateway_waits_for_boot_grace_and_the_idle_window_then_runs() {
    let (_t, open) = open_request().await;
    let tracker = tracker();
    let always = Windows::always();
    let start = Instant::now();
    let at_boot = evaluate_with(&open, &tracker.snapshot(start), START, &always, |_| {});
    assert_eq!(kinds(&at_boot), ["idle_window", "boot_grace"]);
    assert_eq!(
        at_boot.next_deadline,
        Some(start + LEASE_TTL),
        "the first to end"
    );
    assert_eq!(
        at_boot.ready_at,
        Some(start + Duration::from_secs(1200)),
        "the last to end"
    );

    tokio::time::advance(Duration::from_secs(1200)).await;
    let later = evaluate_with(
        &open,
        &tracker.snapshot(Instant::now()),
        START,
        &always,
        |_| {},
    );
    assert_eq!(later.blockers, []);
    assert_eq!(later.ready_at, Some(Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn a_live_run_blocks_with_no_end_of_its_own_and_holds_the_idle_window_back() {
    let (_t, open) = open_request().await;
    let tracker = tracker();
    let always = Windows::always();
    let run = tracker.begin_run("telegram:1").unwrap();
    tokio::time::advance(Duration::from_secs(2000)).await;
    let busy = evaluate_with(
        &open,
        &tracker.snapshot(Instant::now()),
        START,
        &always,
        |_| {},
    );
    assert_eq!(
        kinds(&busy),
        ["live_runs"],
        "no idle window while a run is live"
    );
    assert_eq!(busy.ready_at, None, "only the run's end can free it");
    let running = evaluate_with(
        &open,
        &tracker.snapshot(Instant::now()),
        START,
        &always,
        |f| {
            f.running = true;
        },
    );
    assert_eq!(kinds(&running)[0], "executing");

    // 2000 s went by, but the idle window starts when the run ends.
    drop(run);
    let ended = Instant::now();
    let idle = evaluate_with(&open, &tracker.snapshot(ended), START, &always, |_| {});
    assert_eq!(kinds(&idle), ["idle_window"]);
    assert_eq!(idle.ready_at, Some(ended + Duration::from_secs(1200)));
}

#[tokio::test(start_paused = true)]
async fn cooldown_and_the_hourly_cap_end_by_themselves() {
    let (_t, open) = open_request().await;
    let tracker = tracker();
    tokio::time::advance(Duration::from_secs(2000)).await;
    let now = Instant::now();
    let hour = [
        now + Duration::from_secs(100),
        now + Duration::from_secs(200),
        now + Duration::from_secs(300),
    ];
    let always = Windows::always();
    let capped = evaluate_with(&open, &tracker.snapshot(now), START, &always, |f| {
        f.cooldown_until = Some(now + Duration::from_secs(50));
        f.hour_window = &hour;
    });
    assert_eq!(kinds(&capped), ["cooldown", "rate_limit"]);
    assert_eq!(capped.next_deadline, Some(now + Duration::from_secs(50)));
    assert_eq!(
        capped.ready_at,
        Some(now + Duration::from_secs(100)),
        "when the oldest leaves the hour"
    );
}

#[tokio::test(start_paused = true)]
async fn outside_a_window_it_waits_for_the_opening_in_the_windows_zone() {
    let (_t, open) = open_request().await;
    let tracker = tracker();
    tokio::time::advance(Duration::from_secs(2000)).await;
    // 2026-11-24 is a Tuesday; 00:00 UTC is 01:00 in Berlin, outside 02:00-05:00.
    let windows = Windows::parse(&["02:00-05:00"], "Europe/Berlin").unwrap();
    let outside = evaluate_with(
        &open,
        &tracker.snapshot(Instant::now()),
        START,
        &windows,
        |_| {},
    );
    assert_eq!(kinds(&outside), ["outside_window"]);
    let Blocker::OutsideWindow {
        next_opening,
        timezone,
        remaining_seconds,
        ..
    } = &outside.blockers[0]
    else {
        unreachable!()
    };
    assert_eq!(
        *next_opening,
        Some(START.saturating_add(Duration::from_secs(3600)))
    );
    assert_eq!(timezone, Zone::get("Europe/Berlin").unwrap().name());
    assert_eq!(*remaining_seconds, Some(3600));
    assert_eq!(
        outside.ready_at,
        Some(Instant::now() + Duration::from_secs(3600))
    );
    // A request an admin let ignore the windows is evaluated without them (the scheduler's
    // `windows_for`): it runs now.
    let always = Windows::always();
    let ignoring = evaluate_with(
        &open,
        &tracker.snapshot(Instant::now()),
        START,
        &always,
        |_| {},
    );
    assert_eq!(ignoring.blockers, []);
}
