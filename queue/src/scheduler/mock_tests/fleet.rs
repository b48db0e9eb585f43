//! The scheduler with `[fleet]`, against an in-memory lock service (the double): the slot is
//! waited for with admission open and taken only when locally eligible, verified before the
//! start, carried to the command as its fencing token, given back once healthy and kept after
//! a failure until an admin releases it. The real backends are tested against a real etcd and
//! a FleetLock server in `adapters/tests/it/fleet.rs`.

use tokio::sync::watch;

use super::*;
use crate::fleet::{Attempt, FleetError, FleetFuture, FleetHold, FleetHolder, FleetLock};

const ME: &str = "a";

/// A lock service of `slots` slots shared by replicas named by id; this scheduler is [`ME`].
struct FakeFleet {
    state: StdMutex<FakeState>,
    changes: watch::Sender<u64>,
}

struct FakeState {
    slots: usize,
    holders: Vec<String>,
    next_token: u64,
    reachable: bool,
    /// How many verifications to come find the hold lapsed (and it gone).
    lapse_at_verify: u32,
    /// A run begins while the service answers a try (the replica stops being eligible).
    run_on_acquire: Option<ActivityTracker>,
    runs: Vec<crate::activity::RunGuard>,
}

impl FakeFleet {
    fn new(slots: usize, others: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            state: StdMutex::new(FakeState {
                slots,
                holders: others.iter().map(|s| (*s).to_owned()).collect(),
                next_token: 100,
                reachable: true,
                lapse_at_verify: 0,
                run_on_acquire: None,
                runs: Vec::new(),
            }),
            changes: watch::channel(0).0,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    fn changed(&self) {
        self.changes.send_modify(|c| *c += 1);
    }

    /// Another replica gives its slot back (a watch event).
    fn leaves(&self, id: &str) {
        self.state().holders.retain(|h| h != id);
        self.changed();
    }

    fn holds(&self, id: &str) -> bool {
        self.state().holders.iter().any(|h| h == id)
    }

    fn hold(&self, token: u64) -> FleetHold {
        FleetHold {
            backend: "fake".into(),
            group: "default".into(),
            id: ME.into(),
            key: format!("slot/{ME}"),
            lease: None,
            token: Some(token),
            since: crate::test_support::START,
            request: None,
            kept: None,
        }
    }
}

fn unreachable() -> FleetError {
    FleetError::Unreachable("connection refused".into())
}

impl FleetLock for FakeFleet {
    fn try_acquire(&self) -> FleetFuture<'_, Result<Attempt, FleetError>> {
        Box::pin(async move {
            let mut state = self.state();
            if !state.reachable {
                return Err(unreachable());
            }
            if let Some(tracker) = state.run_on_acquire.take() {
                let run = tracker.begin_run("discord:late").unwrap();
                state.runs.push(run);
            }
            if state.holders.iter().any(|h| h == ME) {
                return Ok(Attempt::Granted(self.hold(state.next_token)));
            }
            if state.holders.len() >= state.slots {
                return Ok(Attempt::Busy {
                    holders: state
                        .holders
                        .iter()
                        .map(|id| FleetHolder {
                            id: id.clone(),
                            since: None,
                        })
                        .collect(),
                    detail: None,
                    retry_after: None,
                });
            }
            state.holders.push(ME.into());
            state.next_token += 1;
            Ok(Attempt::Granted(self.hold(state.next_token)))
        })
    }

    fn verify<'a>(&'a self, _hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>> {
        Box::pin(async move {
            let mut state = self.state();
            if !state.reachable {
                return Err(unreachable());
            }
            if state.lapse_at_verify > 0 {
                state.lapse_at_verify -= 1;
                state.holders.retain(|h| h != ME);
            }
            if state.holders.iter().any(|h| h == ME) {
                Ok(())
            } else {
                Err(FleetError::Lost("the lease expired".into()))
            }
        })
    }

    fn release<'a>(&'a self, _hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>> {
        Box::pin(async move {
            if !self.state().reachable {
                return Err(unreachable());
            }
            self.leaves(ME);
            Ok(())
        })
    }

    fn resume<'a>(&'a self, hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>> {
        self.verify(hold)
    }

    fn release_stale(&self) -> FleetFuture<'_, Result<(), FleetError>> {
        Box::pin(async move {
            if !self.state().reachable {
                return Err(unreachable());
            }
            self.state().holders.retain(|h| h != ME);
            Ok(())
        })
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn describe(&self) -> String {
        format!("replica {ME} of the fake fleet")
    }
}

fn with_fleet(fleet: &Arc<FakeFleet>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let clock = TokioClock::new(crate::test_support::START);
    let settings = (
        QueueSettings::default(),
        tracker_settings(SourceMode::Embedded),
        scheduler_settings(),
    );
    let store =
        Store::open_with_clock(dir.path().join("db"), settings.0, Arc::new(clock.clone())).unwrap();
    Harness::boot_with_fleet(dir, clock, store, settings, Some(fleet.clone()))
}

impl Harness {
    fn actions(&self) -> Vec<String> {
        self.store
            .audit(None)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

/// The harness's restart commands exit 1 from now on (the gateway may be down).
fn restarts_fail(h: &Harness) {
    *h.executor.restart_outcome.lock().unwrap() = Some(StepOutcome::Failed(RunResult {
        exit_status: Some(1),
        message: Some("`restart` exited 1".into()),
        ..RunResult::default()
    }));
}

/// An admin's update starts (idle 60 s) and its install step ended an hour ago.
async fn update_installed_an_hour_ago(h: &mut Harness) {
    let mut a = ask(Kind::Update, "boss", Role::Admin);
    a.idle_seconds = 60;
    h.store.submit(a).await.unwrap();
    h.event(|e| matches!(e, QueueEvent::Starting { .. }).then_some(()))
        .await;
    pass(HOUR).await;
}

/// A restart that exits 1 runs; the slot is kept (and restarts fail from now on).
async fn keep_after_a_failed_restart(h: &mut Harness) {
    restarts_fail(h);
    h.submit(20 * MIN).await;
    h.event(|e| matches!(e, QueueEvent::FleetSlotKept { .. }).then_some(()))
        .await;
}

/// Runs paused time forward until `done` holds; panics after a (paused) day.
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..86_400 {
        if done() {
            return;
        }
        pass(Duration::from_secs(1)).await;
    }
    panic!("the condition never held");
}

#[tokio::test(start_paused = true)]
async fn a_busy_fleet_holds_the_request_with_admission_open_then_it_runs_with_its_token() {
    let fleet = FakeFleet::new(1, &["b"]);
    let mut h = with_fleet(&fleet);
    h.submit(20 * MIN).await;
    pass(HOUR).await;
    assert!(h.executor.starts().is_empty(), "ran without a slot");
    let status = h.scheduler.status().unwrap();
    assert!(
        matches!(&status.blockers[..], [Blocker::FleetSlot { holders, .. }] if holders[0].id == "b"),
        "{:?}",
        status.blockers
    );
    assert!(
        !h.tracker.gate().load().closed(),
        "waiting for a slot never keeps admission closed"
    );
    let freed = Instant::now();
    fleet.leaves("b");
    let (_, request) = h.succeeded().await;
    assert_eq!(
        h.executor.starts(),
        [freed],
        "a watch event wakes it at once"
    );
    assert_eq!(*h.executor.tokens.lock().unwrap(), [Some(101)]);
    assert_eq!(request.fencing_token, Some(101));
    until(|| !fleet.holds(ME)).await;
    until(|| h.store.fleet_hold().unwrap().is_none()).await;
    let actions = h.actions();
    assert!(
        actions.contains(&"fleet_slot_taken".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"fleet_slot_released".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hold_that_lapsed_before_the_start_starts_nothing() {
    let fleet = FakeFleet::new(1, &[]);
    fleet.state().lapse_at_verify = 3;
    let mut h = with_fleet(&fleet);
    h.submit(20 * MIN).await;
    until(|| fleet.state().lapse_at_verify == 0).await;
    let failed = h
        .actions()
        .iter()
        .filter(|a| *a == "fleet_verify_failed")
        .count();
    assert_eq!(failed, 3);
    assert!(h.executor.starts().is_empty(), "started on a lapsed hold");
    assert!(
        !h.tracker.gate().load().closed(),
        "a failed verification reopens admission"
    );
    assert_eq!(h.store.running_request().unwrap(), None);
    // The next try (after a backoff) takes a fresh slot and runs.
    h.succeeded().await;
    assert_eq!(h.executor.starts().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_restart_keeps_the_slot_until_an_admin_releases_it() {
    let fleet = FakeFleet::new(1, &[]);
    let mut h = with_fleet(&fleet);
    restarts_fail(&h);
    h.submit(20 * MIN).await;
    let reason = h
        .event(|e| match e {
            QueueEvent::FleetSlotKept { reason } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert!(reason.contains("failed"), "{reason}");
    pass(HOUR).await;
    assert!(fleet.holds(ME), "kept for an admin");
    assert!(h.store.fleet_hold().unwrap().unwrap().kept.is_some());
    // The admins are reminded once per max_wait (a day here).
    h.event(|e| matches!(e, QueueEvent::FleetSlotKept { .. }).then_some(()))
        .await;
    let released = h
        .scheduler
        .release_fleet_slot("telegram:boss")
        .await
        .unwrap();
    assert_eq!(released.token, Some(101));
    assert!(!fleet.holds(ME));
    assert_eq!(h.store.fleet_hold().unwrap(), None);
    let err = h
        .scheduler
        .release_fleet_slot("telegram:boss")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("holds no fleet slot"), "{err}");
    let released_by = h
        .store
        .audit(None)
        .unwrap()
        .into_iter()
        .find(|e| e.action == "fleet_slot_released")
        .map(|e| e.actor);
    assert_eq!(released_by.as_deref(), Some("telegram:boss"));
}

#[tokio::test(start_paused = true)]
async fn a_command_that_never_started_gives_the_slot_back() {
    let fleet = FakeFleet::new(1, &[]);
    let mut h = with_fleet(&fleet);
    *h.executor.restart_outcome.lock().unwrap() = Some(StepOutcome::Failed(RunResult {
        not_started: true,
        message: Some("restart-gateway: No such file or directory".into()),
        ..RunResult::default()
    }));
    h.submit(20 * MIN).await;
    h.event(|e| matches!(e, QueueEvent::Failed { .. }).then_some(()))
        .await;
    until(|| !fleet.holds(ME)).await;
    assert_eq!(h.store.fleet_hold().unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_lock_service_holds_the_request_and_says_so() {
    let fleet = FakeFleet::new(1, &[]);
    let mut h = with_fleet(&fleet);
    // Reachable at start-up (settled), then gone when the request asks for a slot.
    pass(Duration::from_secs(1)).await;
    fleet.state().reachable = false;
    h.submit(20 * MIN).await;
    pass(HOUR).await;
    assert!(h.executor.starts().is_empty(), "ran without a slot");
    assert_eq!(h.blocker_kinds(), ["fleet_unreachable"]);
    fleet.state().reachable = true;
    // Retried with a bounded backoff (at most a minute apart).
    let back = Instant::now();
    h.succeeded().await;
    assert!(h.executor.starts()[0] - back <= MIN);
}

#[tokio::test(start_paused = true)]
async fn a_replica_no_longer_eligible_when_granted_gives_the_slot_back() {
    let fleet = FakeFleet::new(1, &[]);
    let h = with_fleet(&fleet);
    fleet.state().run_on_acquire = Some(h.tracker.clone());
    h.submit(20 * MIN).await;
    until(|| fleet.state().runs.len() == 1).await;
    until(|| !fleet.holds(ME)).await;
    assert!(h.executor.starts().is_empty());
    assert_eq!(h.blocker_kinds(), ["live_runs"]);
    // Once the run ends and a new idle window passes, it takes a slot again and runs.
    fleet.state().runs.clear();
    until(|| h.executor.starts().len() == 1).await;
}

#[tokio::test(start_paused = true)]
async fn an_update_installs_without_a_slot_and_its_restart_waits_for_one() {
    let fleet = FakeFleet::new(1, &["b"]);
    let mut h = with_fleet(&fleet);
    update_installed_an_hour_ago(&mut h).await;
    assert_eq!(h.executor.steps(), ["update"], "installed while b restarts");
    assert_eq!(
        h.store.running_request().unwrap().unwrap().phase,
        Some(Phase::AwaitingRestart)
    );
    let status = h.scheduler.status().unwrap();
    assert!(
        matches!(&status.fleet.unwrap().waiting, Some(Blocker::FleetSlot { holders, .. }) if holders[0].id == "b"),
        "status says what the restart step waits for"
    );
    assert!(!h.tracker.gate().load().closed());
    let freed = Instant::now();
    fleet.leaves("b");
    let (_, request) = h.succeeded().await;
    assert_eq!(h.executor.steps(), ["update", "restart"]);
    assert_eq!(h.executor.starts()[1], freed);
    assert_eq!(request.fencing_token, Some(101));
    until(|| !fleet.holds(ME)).await;
}

/// Stops lull and starts it again on the same store and the same fleet.
async fn reboot(h: Harness, fleet: &Arc<FakeFleet>) -> Harness {
    h.restart_with_fleet(Some(fleet.clone())).await
}

#[tokio::test(start_paused = true)]
async fn a_kept_hold_is_taken_up_after_a_restart_of_lull_and_a_lapsed_one_is_recorded_lost() {
    let fleet = FakeFleet::new(1, &[]);
    let mut h = with_fleet(&fleet);
    keep_after_a_failed_restart(&mut h).await;
    let h = reboot(h, &fleet).await;
    pass(HOUR).await;
    assert!(fleet.holds(ME), "still kept after the restart");
    assert!(h.store.fleet_hold().unwrap().unwrap().kept.is_some());
    // Its lease lapses while lull is away: the next start records the loss.
    fleet.leaves(ME);
    let mut h = reboot(h, &fleet).await;
    let detail = h
        .event(|e| match e {
            QueueEvent::FleetSlotLost { detail } => Some(detail.clone()),
            _ => None,
        })
        .await;
    assert!(detail.contains("slot/a"), "{detail}");
    assert_eq!(h.store.fleet_hold().unwrap(), None);
    assert!(h.actions().contains(&"fleet_slot_lost".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_right_after_a_healthy_restart_still_gives_the_slot_back() {
    let fleet = FakeFleet::new(1, &[]);
    let mut h = with_fleet(&fleet);
    h.submit(20 * MIN).await;
    h.succeeded().await;
    h.task.take().unwrap().shutdown().await;
    assert!(!fleet.holds(ME), "the slot outlived the execution");
    assert_eq!(h.store.fleet_hold().unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn a_kept_slot_that_lapsed_is_found_lost_with_admission_open_and_a_fresh_one_taken() {
    let fleet = FakeFleet::new(1, &[]);
    let mut h = with_fleet(&fleet);
    keep_after_a_failed_restart(&mut h).await;
    // The kept slot lapses behind lull's back (an admin revoked it with the service's tools).
    fleet.leaves(ME);
    *h.executor.restart_outcome.lock().unwrap() = None;
    h.submit(20 * MIN).await;
    let (_, request) = h.succeeded().await;
    let actions = h.actions();
    let count = |a: &str| actions.iter().filter(|x| *x == a).count();
    // Found gone while admission was still open: no start was attempted on it.
    assert_eq!(count("fleet_verify_failed"), 0, "{actions:?}");
    assert_eq!(count("fleet_slot_lost"), 1, "{actions:?}");
    assert_eq!(request.fencing_token, Some(102), "a fresh grant");
    until(|| !fleet.holds(ME)).await;
}

#[tokio::test(start_paused = true)]
async fn an_update_started_before_the_fleet_settled_restarts_once_the_service_answers() {
    let fleet = FakeFleet::new(1, &[]);
    fleet.state().reachable = false;
    let mut h = with_fleet(&fleet);
    update_installed_an_hour_ago(&mut h).await;
    assert_eq!(h.executor.steps(), ["update"], "restarted without a slot");
    fleet.state().reachable = true;
    h.succeeded().await;
    assert_eq!(h.executor.steps(), ["update", "restart"]);
    until(|| !fleet.holds(ME)).await;
}
