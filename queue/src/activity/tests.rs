//! The tracker on its own, on tokio's paused clock: runs and leases hold the gateway busy,
//! leases expire without heartbeat and are then refused, a restarted lull re-registers a lease
//! it never knew, releases end a session's hold, and nothing begins while admission is closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::clock::ManualClock;
use crate::test_support::START;

/// The agent token's caller, who begins the leases these tests heartbeat and end.
const AGENT: LeaseCaller<'static> = LeaseCaller {
    owner: "agent",
    admin: false,
};

const TTL: Duration = Duration::from_secs(90);

fn tracker(mode: SourceMode) -> ActivityTracker {
    ActivityTracker::new(
        TrackerSettings {
            mode,
            lease_ttl: TTL,
            source_ttl: Duration::from_secs(300),
            wedged_after: Duration::from_secs(7200),
            max_sources: 64,
        },
        Arc::new(ManualClock::new(START)),
    )
}

#[tokio::test(start_paused = true)]
async fn a_run_holds_until_its_guard_drops_and_its_end_is_activity() {
    let tracker = tracker(SourceMode::Embedded);
    let guard = tracker.begin_run("telegram:1").unwrap();
    let second = tracker.begin_run("telegram:1").unwrap();
    assert_eq!(tracker.live_runs(), 2);
    let snapshot = tracker.snapshot(Instant::now());
    assert_eq!(snapshot.runs.len(), 2);
    assert_eq!(snapshot.runs[0].0.session, "telegram:1");
    assert_eq!(
        snapshot.runs[0].0.lease, None,
        "in-process runs have no lease"
    );

    tokio::time::advance(Duration::from_secs(30)).await;
    drop(guard);
    assert_eq!(tracker.live_runs(), 1);
    drop(second);
    assert_eq!(tracker.live_runs(), 0);
    let snapshot = tracker.snapshot(Instant::now());
    assert_eq!(
        snapshot.last_activity.0,
        Instant::now(),
        "the end of a run is activity"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lease_lives_by_heartbeat_and_is_refused_once_expired() {
    let tracker = tracker(SourceMode::Sidecar);
    let grant = tracker
        .begin_lease("discord:9", Some("gw"), "agent")
        .unwrap();
    assert_eq!(grant.ttl, TTL);
    tokio::time::advance(TTL - Duration::from_secs(1)).await;
    assert_eq!(
        tracker.heartbeat(&grant.lease, None, Some("gw"), AGENT),
        Ok(Heartbeat::Renewed)
    );
    tokio::time::advance(TTL - Duration::from_secs(1)).await;
    assert!(
        tracker.expire_leases(Instant::now()).is_empty(),
        "renewed in time"
    );

    tokio::time::advance(Duration::from_secs(1)).await;
    let reports = tracker.expire_leases(Instant::now());
    assert_eq!(
        reports,
        [TrackerReport::LeaseExpired {
            session: "discord:9".into(),
            lease: grant.lease.clone(),
        }]
    );
    assert_eq!(tracker.live_runs(), 0);
    assert_eq!(
        tracker.heartbeat(&grant.lease, Some("discord:9"), Some("gw"), AGENT),
        Err(LeaseError::Expired(grant.lease.clone())),
        "a late heartbeat must begin the run again"
    );
    assert!(!tracker.end_lease(&grant.lease, Some("gw"), AGENT).unwrap());
}

#[tokio::test(start_paused = true)]
async fn an_unknown_lease_is_registered_again_and_a_release_ends_a_sessions_hold() {
    let tracker = tracker(SourceMode::Sidecar);
    // A lease from before lull restarted: the runtime still holds the run.
    assert_eq!(
        tracker.heartbeat("from-before", Some("slack:C1"), Some("gw"), AGENT),
        Ok(Heartbeat::Reregistered)
    );
    let _guard = tracker.begin_run("slack:C1").unwrap();
    let _other = tracker.begin_run("slack:C2").unwrap();
    assert_eq!(tracker.live_runs(), 3);
    assert_eq!(tracker.release("slack:C1"), 2);
    assert_eq!(tracker.live_runs(), 1);
    assert!(matches!(
        tracker.heartbeat("from-before", None, Some("gw"), AGENT),
        Err(LeaseError::Expired(_))
    ));
    let sources = tracker.snapshot(Instant::now()).sources;
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].0.name, "gw", "every call marks its source alive");
}

#[tokio::test(start_paused = true)]
async fn nothing_begins_while_admission_is_closed() {
    let closed = tracker(SourceMode::Embedded);
    let word = closed.snapshot(Instant::now()).word;
    assert!(closed.gate().close_if_unchanged(word));
    assert!(closed.begin_run("telegram:1").is_err());
    assert!(
        closed
            .begin_lease("telegram:1", Some("gw"), "agent")
            .is_err()
    );
    assert_eq!(closed.live_runs(), 0);

    // A run that began after the look makes the close fail instead.
    let reopened = tracker(SourceMode::Embedded);
    let stale = reopened.snapshot(Instant::now()).word;
    let _run = reopened.begin_run("telegram:2").unwrap();
    assert!(!reopened.gate().close_if_unchanged(stale));
}

#[tokio::test(start_paused = true)]
async fn a_lease_is_heartbeaten_and_ended_only_by_its_credential_or_an_admin() {
    let tracker = tracker(SourceMode::Sidecar);
    let relay = LeaseCaller {
        owner: "relay",
        admin: false,
    };
    let admin = LeaseCaller {
        owner: "admin",
        admin: true,
    };
    let grant = tracker
        .begin_lease("telegram:1", Some("gw"), "relay")
        .unwrap();
    // Another credential is refused, and the run stays live.
    let refused = tracker
        .end_lease(&grant.lease, Some("gw"), AGENT)
        .unwrap_err();
    assert_eq!(
        refused,
        LeaseError::NotYours {
            lease: grant.lease.clone(),
            owner: "relay".into()
        }
    );
    assert!(matches!(
        tracker.heartbeat(&grant.lease, None, Some("gw"), AGENT),
        Err(LeaseError::NotYours { .. })
    ));
    assert_eq!(tracker.live_runs(), 1);
    // Its own credential may; so may an admin.
    assert_eq!(
        tracker.heartbeat(&grant.lease, None, Some("gw"), relay),
        Ok(Heartbeat::Renewed)
    );
    assert_eq!(tracker.end_lease(&grant.lease, Some("gw"), admin), Ok(true));
    assert_eq!(tracker.live_runs(), 0);
    // A lease lull forgot (it restarted) belongs to whoever heartbeats it first.
    let again = tracker.heartbeat("from-before", Some("slack:C1"), Some("gw"), AGENT);
    assert_eq!(again, Ok(Heartbeat::Reregistered));
    assert!(tracker.end_lease("from-before", Some("gw"), relay).is_err());
    assert_eq!(
        tracker.end_lease("from-before", Some("gw"), AGENT),
        Ok(true)
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_source_map_never_costs_a_run_its_lease() {
    let tracker = ActivityTracker::new(
        TrackerSettings {
            mode: SourceMode::Sidecar,
            max_sources: 1,
            ..TrackerSettings::default()
        },
        Arc::new(ManualClock::new(START)),
    );
    tracker.source_heartbeat("planted", "agent").unwrap();
    assert_eq!(
        tracker.source_heartbeat("gw", "socket"),
        Err(SourceError::TooManySources { max: 1 })
    );
    // The gateway's runs are tracked, kept and ended all the same; only its source is not.
    let grant = tracker
        .begin_lease("telegram:1", Some("gw"), "socket")
        .unwrap();
    let socket = LeaseCaller {
        owner: "socket",
        admin: true,
    };
    assert_eq!(
        tracker.heartbeat(&grant.lease, None, Some("gw"), socket),
        Ok(Heartbeat::Renewed)
    );
    assert_eq!(tracker.live_runs(), 1);
    assert_eq!(
        tracker.end_lease(&grant.lease, Some("gw"), socket),
        Ok(true)
    );
    let names: Vec<String> = tracker
        .snapshot(Instant::now())
        .sources
        .into_iter()
        .map(|(s, _)| s.name)
        .collect();
    assert_eq!(names, ["planted"]);
}
