//! Scheduler tests on tokio's paused clock with a real store and tracker; only the executor is a
//! test double. Every wait is for an event or a condition, bounded by a (paused) timeout.

use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use super::*;
use crate::activity::{LeaseCaller, LeaseError, SourceMode, TrackerSettings};

/// The agent token's caller, who begins the leases these tests heartbeat and end.
const AGENT: LeaseCaller<'static> = LeaseCaller {
    owner: "agent",
    admin: false,
};
use crate::blocker::Blocker;
use crate::clock::{Clock, TokioClock};
use crate::executor::{StepFuture, StepOutcome};
use crate::request::{Kind, Phase, RunResult, State};
use crate::requester::Role;
use crate::settings::{AgentRequests, QueueSettings};
use crate::test_support::{START, ask};

const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
/// Longest any test waits for an event, in paused time.
const PATIENCE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Records each step the scheduler asks for, and checks the promise at each restart.
struct TestExecutor {
    tracker: ActivityTracker,
    calls: StdMutex<Vec<(Instant, Kind, &'static str)>>,
    update_outcome: StdMutex<Option<StepOutcome>>,
    /// How long the update step takes (paused time).
    update_takes: Duration,
    /// Set while a restart runs.
    executing: std::sync::atomic::AtomicBool,
    /// The restart's outcome when it is not the usual success.
    restart_outcome: StdMutex<Option<StepOutcome>>,
    /// The fencing token each restart saw.
    tokens: StdMutex<Vec<Option<u64>>>,
}

impl TestExecutor {
    fn starts(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().iter().map(|c| c.0).collect()
    }

    /// The steps asked for so far, in order (`update`, `restart`).
    fn steps(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().iter().map(|c| c.2).collect()
    }
}

impl Executor for TestExecutor {
    fn update<'a>(&'a self, request: &'a Request) -> StepFuture<'a> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push((Instant::now(), request.kind, "update"));
            tokio::time::sleep(self.update_takes).await;
            self.update_outcome
                .lock()
                .unwrap()
                .clone()
                .unwrap_or(StepOutcome::Done(RunResult::default()))
        })
    }

    fn restart<'a>(&'a self, request: &'a Request) -> StepFuture<'a> {
        Box::pin(async move {
            self.executing
                .store(true, std::sync::atomic::Ordering::SeqCst);
            assert_eq!(self.tracker.live_runs(), 0, "restart with a live run");
            assert!(
                self.tracker.gate().load().closed(),
                "restart with admission open"
            );
            assert!(
                self.tracker.begin_run("telegram:late").is_err(),
                "a run began during the restart"
            );
            self.calls
                .lock()
                .unwrap()
                .push((Instant::now(), request.kind, "restart"));
            self.tokens.lock().unwrap().push(request.fencing_token);
            tokio::task::yield_now().await;
            assert_eq!(
                self.tracker.live_runs(),
                0,
                "a run got in during the restart"
            );
            self.executing
                .store(false, std::sync::atomic::Ordering::SeqCst);
            if let Some(outcome) = self.restart_outcome.lock().unwrap().clone() {
                return outcome;
            }
            StepOutcome::Done(RunResult {
                message: Some("restarted".into()),
                ..RunResult::default()
            })
        })
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    clock: TokioClock,
    store: Store,
    tracker: ActivityTracker,
    executor: Arc<TestExecutor>,
    scheduler: Scheduler,
    task: Option<SchedulerTask>,
    events: broadcast::Receiver<QueueEvent>,
    settings: (QueueSettings, TrackerSettings, SchedulerSettings),
}

fn tracker_settings(mode: SourceMode) -> TrackerSettings {
    TrackerSettings {
        mode,
        lease_ttl: Duration::from_secs(90),
        source_ttl: Duration::from_secs(300),
        wedged_after: Duration::from_secs(7200),
        max_sources: 64,
    }
}

fn scheduler_settings() -> SchedulerSettings {
    SchedulerSettings {
        max_wait: Duration::from_secs(86_400),
        cooldown: Duration::from_secs(300),
        max_executions_per_hour: 3,
        approval_expiry: HOUR,
        windows: crate::window::Windows::always(),
    }
}

impl Harness {
    fn new(queue: QueueSettings, tracker: TrackerSettings, scheduler: SchedulerSettings) -> Self {
        Self::new_at(START, queue, tracker, scheduler)
    }

    /// A harness whose wall clock reads `start` now.
    fn new_at(
        start: crate::timestamp::Timestamp,
        queue: QueueSettings,
        tracker: TrackerSettings,
        scheduler: SchedulerSettings,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = TokioClock::new(start);
        let store =
            Store::open_with_clock(dir.path().join("db"), queue, Arc::new(clock.clone())).unwrap();
        Self::boot(dir, clock, store, (queue, tracker, scheduler))
    }

    fn embedded() -> Self {
        Self::new(
            QueueSettings::default(),
            tracker_settings(SourceMode::Embedded),
            scheduler_settings(),
        )
    }

    fn boot(
        dir: tempfile::TempDir,
        clock: TokioClock,
        store: Store,
        settings: (QueueSettings, TrackerSettings, SchedulerSettings),
    ) -> Self {
        Self::boot_with_fleet(dir, clock, store, settings, None)
    }

    fn boot_with_fleet(
        dir: tempfile::TempDir,
        clock: TokioClock,
        store: Store,
        settings: (QueueSettings, TrackerSettings, SchedulerSettings),
        fleet: Option<Arc<dyn crate::fleet::FleetLock>>,
    ) -> Self {
        let tracker = ActivityTracker::new(settings.1, Arc::new(clock.clone()));
        let executor = Arc::new(TestExecutor {
            tracker: tracker.clone(),
            calls: StdMutex::new(Vec::new()),
            update_outcome: StdMutex::new(None),
            update_takes: 10 * MIN,
            executing: std::sync::atomic::AtomicBool::new(false),
            restart_outcome: StdMutex::new(None),
            tokens: StdMutex::new(Vec::new()),
        });
        let scheduler = Scheduler::new(
            "test",
            store.clone(),
            tracker.clone(),
            executor.clone(),
            settings.2.clone(),
            None,
        )
        .unwrap();
        if let Some(fleet) = fleet {
            scheduler.set_fleet(fleet).unwrap();
        }
        let events = store.subscribe();
        let task = Some(scheduler.spawn());
        Self {
            _dir: dir,
            clock,
            store,
            tracker,
            executor,
            scheduler,
            task,
            events,
            settings,
        }
    }

    /// Stops everything and starts again on the same store: a restart of lull.
    async fn restart(self) -> Self {
        self.restart_with_fleet(None).await
    }

    /// [`Harness::restart`], the new scheduler with `fleet`.
    async fn restart_with_fleet(mut self, fleet: Option<Arc<dyn crate::fleet::FleetLock>>) -> Self {
        self.task.take().unwrap().shutdown().await;
        let Self {
            _dir,
            clock,
            settings,
            store,
            scheduler,
            ..
        } = self;
        let path = store.path().to_owned();
        // Every handle must be gone before sled lets the path be opened again.
        drop(scheduler);
        drop(store);
        let store = crate::test_support::while_locked(|| {
            Store::open_with_clock(&path, settings.0, Arc::new(clock.clone()))
        })
        .unwrap();
        Self::boot_with_fleet(_dir, clock, store, settings, fleet)
    }

    async fn submit(&self, idle: Duration) -> Request {
        let mut a = ask(Kind::Restart, "boss", Role::Admin);
        a.idle_seconds = idle.as_secs();
        a.idle_explicit = true;
        self.store.submit(a).await.unwrap().request
    }

    /// Waits for the first event `pick` accepts; panics after `PATIENCE` of paused time.
    async fn event<T>(&mut self, mut pick: impl FnMut(&QueueEvent) -> Option<T>) -> T {
        tokio::time::timeout(PATIENCE, async {
            loop {
                match self.events.recv().await {
                    Ok(event) => {
                        if let Some(found) = pick(&event) {
                            return found;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("event stream ended: {e}"),
                }
            }
        })
        .await
        .expect("the expected event never came")
    }

    async fn succeeded(&mut self) -> (Instant, Request) {
        self.event(|e| match e {
            QueueEvent::Succeeded { request } => Some((Instant::now(), request.clone())),
            _ => None,
        })
        .await
    }

    fn blocker_kinds(&self) -> Vec<&'static str> {
        self.scheduler
            .status()
            .unwrap()
            .blockers
            .iter()
            .map(|b| b.kind())
            .collect()
    }
}

/// Runs the test clock forward by `d` (the scheduler's timers fire along the way).
async fn pass(d: Duration) {
    tokio::time::sleep(d).await;
}

mod fleet;
mod windows;

#[tokio::test(start_paused = true)]
async fn starts_exactly_at_the_end_of_the_idle_window() {
    let mut h = Harness::embedded();
    let boot = Instant::now();
    pass(5 * MIN).await;
    h.submit(20 * MIN).await;
    let (_, request) = h.succeeded().await;
    let started = h.executor.starts()[0];
    // Boot is the last activity; the window is 20 minutes from there.
    assert!(
        started >= boot + 20 * MIN,
        "started {:?} early",
        (boot + 20 * MIN) - started
    );
    assert!(
        started <= boot + 20 * MIN + Duration::from_millis(1),
        "started late"
    );
    let states: Vec<_> = request.transitions.iter().map(|t| t.state).collect();
    assert_eq!(states, [State::Queued, State::Running, State::Succeeded]);
    h.task.take().unwrap().shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn waits_while_a_run_is_live_then_a_full_window_after_it_ends() {
    let mut h = Harness::embedded();
    let run = h.tracker.begin_run("telegram:123").unwrap();
    h.submit(20 * MIN).await;
    pass(3 * HOUR).await;
    assert!(h.executor.starts().is_empty(), "ran during a live run");
    let status = h.scheduler.status().unwrap();
    assert!(
        matches!(&status.blockers[0], Blocker::LiveRuns { count: 1, sessions } if sessions == &["telegram:123"])
    );
    assert_eq!(
        status.eta, None,
        "the end of a live run is not lull's to predict"
    );
    assert_eq!(status.idle_since, None);
    let ended = Instant::now();
    drop(run);
    h.succeeded().await;
    assert_eq!(h.executor.starts()[0] - ended, 20 * MIN);
}

#[tokio::test(start_paused = true)]
async fn a_run_beginning_just_before_the_window_ends_pushes_the_start_back_a_full_window() {
    let mut h = Harness::embedded();
    let boot = Instant::now();
    h.submit(20 * MIN).await;
    tokio::time::sleep_until(boot + 20 * MIN - Duration::from_millis(1)).await;
    let run = h.tracker.begin_run("discord:456").unwrap();
    pass(Duration::from_secs(30)).await;
    let ended = Instant::now();
    drop(run);
    h.succeeded().await;
    assert_eq!(h.executor.starts(), [ended + 20 * MIN]);
}

#[tokio::test(start_paused = true)]
async fn inbound_messages_restart_the_window_and_status_explains_the_wait() {
    let mut h = Harness::embedded();
    h.submit(20 * MIN).await;
    pass(12 * MIN).await;
    let status = h.scheduler.status().unwrap();
    assert_eq!(
        status.blockers,
        [Blocker::IdleWindow {
            idle_seconds: 1200,
            idle_for_seconds: 720,
            remaining_seconds: 480
        }]
    );
    assert_eq!(status.eta, Some(h.clock.now().saturating_add(8 * MIN)));
    h.tracker.note_activity();
    let noted = Instant::now();
    h.succeeded().await;
    assert_eq!(h.executor.starts(), [noted + 20 * MIN]);
}

#[tokio::test(start_paused = true)]
async fn an_update_runs_with_admission_open_and_its_restart_waits_for_runs_to_end() {
    let mut h = Harness::embedded();
    let mut a = ask(Kind::Update, "boss", Role::Admin);
    a.idle_seconds = 60;
    h.store.submit(a).await.unwrap();
    h.event(|e| matches!(e, QueueEvent::Starting { .. }).then_some(()))
        .await;
    // The update takes ten minutes; a run begins during it and is admitted.
    pass(MIN).await;
    let run = h
        .tracker
        .begin_run("slack:C1")
        .expect("admission stays open during the update");
    pass(30 * MIN).await;
    assert_eq!(
        h.executor.calls.lock().unwrap().len(),
        1,
        "the restart waits for the live run"
    );
    assert_eq!(
        h.store.running_request().unwrap().unwrap().phase,
        Some(Phase::AwaitingRestart),
        "restarting only once it begins"
    );
    let ended = Instant::now();
    drop(run);
    let (_, request) = h.succeeded().await;
    let calls = h.executor.calls.lock().unwrap().clone();
    assert_eq!(calls[1].2, "restart");
    assert_eq!(
        calls[1].0, ended,
        "no new idle window before the restart step"
    );
    assert_eq!(
        request.result.unwrap().message.as_deref(),
        Some("restarted")
    );
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_update_succeeds_without_a_restart_and_a_failed_one_fails() {
    let mut h = Harness::embedded();
    *h.executor.update_outcome.lock().unwrap() = Some(StepOutcome::Unchanged(RunResult {
        message: Some("already up to date".into()),
        ..RunResult::default()
    }));
    let mut a = ask(Kind::Update, "boss", Role::Admin);
    a.idle_seconds = 60;
    h.store.submit(a.clone()).await.unwrap();
    let (_, request) = h.succeeded().await;
    assert_eq!(
        request.result.unwrap().message.as_deref(),
        Some("already up to date")
    );
    assert_eq!(h.executor.calls.lock().unwrap().len(), 1);

    *h.executor.update_outcome.lock().unwrap() = Some(StepOutcome::Failed(RunResult {
        exit_status: Some(1),
        ..RunResult::default()
    }));
    h.store.submit(a).await.unwrap();
    let failed = h
        .event(|e| match e {
            QueueEvent::Failed { request } => Some(request.clone()),
            _ => None,
        })
        .await;
    assert_eq!(failed.result.unwrap().exit_status, Some(1));
    assert_eq!(
        h.executor.calls.lock().unwrap().len(),
        2,
        "no restart after a failed update"
    );
}

#[tokio::test(start_paused = true)]
async fn without_an_activity_source_a_sidecar_never_runs_and_says_why() {
    let settings = (
        QueueSettings::default(),
        tracker_settings(SourceMode::Sidecar),
        scheduler_settings(),
    );
    let h = Harness::new(settings.0, settings.1, settings.2);
    h.submit(MIN).await;
    pass(48 * HOUR).await;
    assert!(h.executor.starts().is_empty());
    assert_eq!(h.blocker_kinds(), ["no_activity_source"]);
    assert_eq!(h.scheduler.status().unwrap().eta, None);
}

#[tokio::test(start_paused = true)]
async fn a_silent_source_blocks_until_it_is_heard_again() {
    let settings = (
        QueueSettings::default(),
        tracker_settings(SourceMode::Sidecar),
        scheduler_settings(),
    );
    let mut h = Harness::new(settings.0, settings.1, settings.2);
    h.tracker.source_heartbeat("hermes", "agent").unwrap();
    h.submit(10 * MIN).await;
    pass(12 * HOUR).await;
    assert!(h.executor.starts().is_empty());
    let status = h.scheduler.status().unwrap();
    assert!(
        matches!(&status.blockers[..], [Blocker::ActivitySourceSilent { sources, .. }] if sources == &["hermes"])
    );
    // The gateway reports again (a heartbeat is not activity): the window has long passed.
    let heard = Instant::now();
    h.tracker.source_heartbeat("hermes", "agent").unwrap();
    h.succeeded().await;
    assert_eq!(h.executor.starts(), [heard]);
}

#[tokio::test(start_paused = true)]
async fn after_a_restart_lull_waits_out_the_boot_grace() {
    let h = Harness::embedded();
    let _held = h.tracker.begin_run("telegram:1").unwrap();
    h.submit(Duration::from_secs(10)).await;
    pass(MIN).await;
    let mut h = h.restart().await;
    let boot = Instant::now();
    assert_eq!(h.blocker_kinds(), ["idle_window", "boot_grace"]);
    h.succeeded().await;
    // The window (10 s) is shorter than the grace (90 s): runtimes get time to re-announce.
    assert_eq!(h.executor.starts(), [boot + Duration::from_secs(90)]);
}

#[tokio::test(start_paused = true)]
async fn an_expired_lease_is_audited_and_counts_as_activity() {
    let settings = (
        QueueSettings::default(),
        tracker_settings(SourceMode::Sidecar),
        scheduler_settings(),
    );
    let mut h = Harness::new(settings.0, settings.1, settings.2);
    let lease = h
        .tracker
        .begin_lease("telegram:9", Some("hermes"), "agent")
        .unwrap();
    let granted = Instant::now();
    // The gateway keeps its source alive but forgets this run's heartbeats.
    let tracker = h.tracker.clone();
    let keepalive = tokio::spawn(async move {
        loop {
            tracker.source_heartbeat("hermes", "agent").unwrap();
            tokio::time::sleep(MIN).await;
        }
    });
    h.submit(5 * MIN).await;
    let expired = h
        .event(|e| match e {
            QueueEvent::LeaseExpired { lease, .. } => Some((Instant::now(), lease.clone())),
            _ => None,
        })
        .await;
    assert_eq!(
        expired,
        (granted + Duration::from_secs(90), lease.lease.clone())
    );
    assert_eq!(
        h.tracker
            .heartbeat(&lease.lease, Some("telegram:9"), Some("hermes"), AGENT),
        Err(LeaseError::Expired(lease.lease.clone()))
    );
    h.succeeded().await;
    assert_eq!(
        h.executor.starts(),
        [granted + Duration::from_secs(90) + 5 * MIN]
    );
    let audit = h.store.audit(None).unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "lease_expired" && e.detail.contains("telegram:9"))
    );
    keepalive.abort();
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_after_lull_restarted_re_registers_the_run() {
    let settings = (
        QueueSettings::default(),
        tracker_settings(SourceMode::Sidecar),
        scheduler_settings(),
    );
    let h = Harness::new(settings.0, settings.1, settings.2);
    let lease = h
        .tracker
        .begin_lease("slack:C7", Some("hermes"), "agent")
        .unwrap();
    let mut h = h.restart().await;
    assert_eq!(h.tracker.live_runs(), 0);
    assert_eq!(
        h.tracker
            .heartbeat(&lease.lease, Some("slack:C7"), Some("hermes"), AGENT),
        Ok(crate::activity::Heartbeat::Reregistered)
    );
    h.submit(MIN).await;
    pass(MIN).await;
    assert_eq!(
        h.tracker
            .heartbeat(&lease.lease, None, Some("hermes"), AGENT),
        Ok(crate::activity::Heartbeat::Renewed)
    );
    pass(MIN).await;
    assert!(
        h.executor.starts().is_empty(),
        "the re-registered run holds"
    );
    let status = h.scheduler.status().unwrap();
    assert_eq!(status.live_runs[0].session, "slack:C7");
    assert_eq!(
        status.live_runs[0].lease.as_deref(),
        Some(lease.lease.as_str())
    );
    assert!(
        h.tracker
            .end_lease(&lease.lease, Some("hermes"), AGENT)
            .unwrap()
    );
    let ended = Instant::now();
    h.succeeded().await;
    assert_eq!(h.executor.starts(), [ended + MIN]);
}

#[tokio::test(start_paused = true)]
async fn a_host_drain_blocks_survives_a_restart_and_expires() {
    let h = Harness::embedded();
    h.scheduler.drain(2 * HOUR, "api:host").await.unwrap();
    let drained = Instant::now();
    h.submit(MIN).await;
    pass(30 * MIN).await;
    assert_eq!(h.blocker_kinds(), ["host_draining"]);
    let mut h = h.restart().await;
    assert!(h.scheduler.status().unwrap().host_draining);
    let ended_by = h
        .event(|e| match e {
            QueueEvent::Drain { drain: None } => Some(Instant::now()),
            _ => None,
        })
        .await;
    assert_eq!(ended_by, drained + 2 * HOUR);
    h.succeeded().await;
    assert_eq!(h.executor.starts(), [drained + 2 * HOUR]);
}

#[tokio::test(start_paused = true)]
async fn pause_holds_everything_until_resumed_or_its_end() {
    let mut h = Harness::embedded();
    h.scheduler
        .pause(None, "telegram:boss", "deploying")
        .await
        .unwrap();
    h.submit(MIN).await;
    pass(24 * HOUR).await;
    assert!(h.executor.starts().is_empty());
    assert_eq!(h.blocker_kinds(), ["paused"]);
    h.scheduler.resume("telegram:boss").await.unwrap();
    let resumed = Instant::now();
    h.succeeded().await;
    assert_eq!(h.executor.starts(), [resumed]);

    // A timed pause survives a restart and ends by itself.
    h.scheduler
        .pause(Some(2 * HOUR), "telegram:boss", "")
        .await
        .unwrap();
    let paused = Instant::now();
    let mut h = h.restart().await;
    h.submit(MIN).await;
    let by = h
        .event(|e| match e {
            QueueEvent::Resumed { by } => Some((Instant::now(), by.clone())),
            _ => None,
        })
        .await;
    assert_eq!(by, (paused + 2 * HOUR, crate::store::SCHEDULER.to_owned()));
}

#[tokio::test(start_paused = true)]
async fn cooldown_and_the_hourly_cap_hold_across_a_restart() {
    let settings = SchedulerSettings {
        max_executions_per_hour: 2,
        cooldown: 10 * MIN,
        ..scheduler_settings()
    };
    let mut h = Harness::new(
        QueueSettings::default(),
        tracker_settings(SourceMode::Embedded),
        settings,
    );
    h.submit(MIN).await;
    h.succeeded().await;
    let first = h.executor.starts()[0];
    h.submit(MIN).await;
    h.succeeded().await;
    let second = h.executor.starts()[1];
    assert_eq!(second, first + 10 * MIN, "the cooldown spaced them");
    pass(MIN).await;
    let mut h = h.restart().await;
    let kinds = h.blocker_kinds();
    assert!(kinds.is_empty(), "nothing open yet: {kinds:?}");
    h.submit(MIN).await;
    let status = h.scheduler.status().unwrap();
    assert!(
        status.blockers.contains(&Blocker::Cooldown {
            remaining_seconds: 9 * 60
        }),
        "{:?}",
        status.blockers
    );
    let rate = status
        .blockers
        .iter()
        .find(|b| b.kind() == "rate_limit")
        .expect("the cap persisted");
    assert_eq!(
        rate.remaining_seconds(),
        Some((first + HOUR - Instant::now()).as_secs())
    );
    h.succeeded().await;
    // The restart itself happened one minute after the second start; the third waits for the first to leave the hour.
    assert_eq!(h.executor.starts(), [first + HOUR]);
}

#[tokio::test(start_paused = true)]
async fn admins_are_asked_once_per_max_wait_period() {
    let settings = SchedulerSettings {
        max_wait: HOUR,
        ..scheduler_settings()
    };
    let mut h = Harness::new(
        QueueSettings::default(),
        tracker_settings(SourceMode::Embedded),
        settings,
    );
    let _run = h.tracker.begin_run("telegram:forever").unwrap();
    let submitted = Instant::now();
    h.submit(MIN).await;
    let mut escalations = Vec::new();
    for _ in 0..3 {
        let (at, blockers) = h
            .event(|e| match e {
                QueueEvent::Escalated { blockers, .. } => Some((Instant::now(), blockers.clone())),
                _ => None,
            })
            .await;
        assert_eq!(blockers[0].kind(), "live_runs");
        escalations.push(at - submitted);
    }
    assert_eq!(escalations, [HOUR, 2 * HOUR, 3 * HOUR]);
    assert!(h.executor.starts().is_empty(), "escalation never forces");
}

#[tokio::test(start_paused = true)]
async fn an_unapproved_agent_request_expires() {
    let queue = QueueSettings {
        agent_requests: AgentRequests::Approve,
        ..QueueSettings::default()
    };
    let mut h = Harness::new(
        queue,
        tracker_settings(SourceMode::Embedded),
        scheduler_settings(),
    );
    let asked = Instant::now();
    let r = h
        .store
        .submit(ask(Kind::Restart, "agent1", Role::Agent))
        .await
        .unwrap()
        .request;
    assert_eq!(h.blocker_kinds()[0], "awaiting_approval");
    let expired = h
        .event(|e| match e {
            QueueEvent::Expired { request } => Some((Instant::now(), request.clone())),
            _ => None,
        })
        .await;
    assert_eq!(expired.0, asked + HOUR);
    assert_eq!(expired.1.id, r.id);
    assert_eq!(expired.1.state, State::Rejected);
    assert_eq!(
        expired.1.result.unwrap().message.as_deref(),
        Some("approval expired")
    );
    assert!(h.executor.starts().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_scheduler_sleeps_when_nothing_changes() {
    let h = Harness::embedded();
    pass(MIN).await;
    let idle = h.scheduler.wakeups();
    pass(HOUR).await;
    assert_eq!(h.scheduler.wakeups(), idle, "woke with nothing open");

    // An open request held by a live run has no deadline either.
    let _run = h.tracker.begin_run("telegram:1").unwrap();
    h.submit(MIN).await;
    pass(MIN).await;
    let waiting = h.scheduler.wakeups();
    pass(HOUR).await;
    assert_eq!(
        h.scheduler.wakeups(),
        waiting,
        "woke while blocked on a live run"
    );
}

#[tokio::test(start_paused = true)]
async fn releasing_a_wedged_run_lets_the_request_run_and_is_audited() {
    let settings = TrackerSettings {
        wedged_after: HOUR,
        ..tracker_settings(SourceMode::Embedded)
    };
    let mut h = Harness::new(QueueSettings::default(), settings, scheduler_settings());
    let run = h.tracker.begin_run("telegram:stuck").unwrap();
    h.submit(MIN).await;
    let wedged = h
        .event(|e| matches!(e, QueueEvent::Wedged { .. }).then(Instant::now))
        .await;
    assert_eq!(h.blocker_kinds(), ["live_runs", "wedged"]);
    assert!(h.scheduler.status().unwrap().live_runs[0].wedged);
    assert!(wedged >= Instant::now() - Duration::from_millis(1));
    assert_eq!(
        h.scheduler
            .release("telegram:stuck", "telegram:boss")
            .await
            .unwrap(),
        1
    );
    let released = Instant::now();
    h.succeeded().await;
    assert_eq!(h.executor.starts(), [released + MIN]);
    drop(run);
    assert_eq!(
        h.tracker.live_runs(),
        0,
        "the released guard's drop does not count twice"
    );
    assert!(
        h.store
            .audit(None)
            .unwrap()
            .iter()
            .any(|e| e.action == "released")
    );
    assert!(matches!(
        h.scheduler.release("telegram:stuck", "telegram:boss").await,
        Err(Error::NotFound { .. })
    ));
}

/// Threads begin and end runs as fast as they can while the scheduler keeps finding the gateway
/// idle (window 0): every `begin_run` either came first, and the execution waited for it, or was
/// refused with `Executing`; no run is ever live during an execution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn begin_run_racing_the_eligibility_instant_never_overlaps_an_execution() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let tracker = TrackerSettings {
        lease_ttl: Duration::ZERO,
        ..tracker_settings(SourceMode::Embedded)
    };
    let settings = SchedulerSettings {
        cooldown: Duration::ZERO,
        max_executions_per_hour: u32::MAX,
        ..scheduler_settings()
    };
    let mut h = Harness::new(QueueSettings::default(), tracker, settings);
    let stop = Arc::new(AtomicBool::new(false));
    let (admitted, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let racers: Vec<_> = (0..4)
        .map(|n| {
            let (tracker, executor, stop) = (h.tracker.clone(), h.executor.clone(), stop.clone());
            let (admitted, refused) = (admitted.clone(), refused.clone());
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(n);
                while !stop.load(Ordering::SeqCst) {
                    match tracker.begin_run(format!("telegram:{n}")) {
                        Ok(run) => {
                            assert!(
                                !executor.executing.load(Ordering::SeqCst),
                                "admitted during an execution"
                            );
                            admitted.fetch_add(1, Ordering::SeqCst);
                            for _ in 0..rng.u32(0..200) {
                                std::hint::spin_loop();
                            }
                            drop(run);
                        }
                        Err(crate::admission::Executing) => {
                            refused.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    // Leave the scheduler gaps to find the gateway idle in.
                    std::thread::sleep(Duration::from_micros(rng.u64(0..200)));
                }
            })
        })
        .collect();
    // A loaded machine may not schedule the racers for a while; the race needs them running.
    tokio::time::timeout(Duration::from_secs(60), async {
        while admitted.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("a racer admitted within a minute");
    for _ in 0..100 {
        h.submit(Duration::ZERO).await;
        tokio::time::timeout(Duration::from_secs(60), h.succeeded())
            .await
            .expect("an execution within a minute");
    }
    stop.store(true, Ordering::SeqCst);
    for racer in racers {
        racer
            .join()
            .expect("a racer saw a run admitted during an execution");
    }
    assert_eq!(h.executor.starts().len(), 100);
    println!(
        "admitted {}, refused with Executing {}",
        admitted.load(Ordering::SeqCst),
        refused.load(Ordering::SeqCst)
    );
}

#[tokio::test(start_paused = true)]
async fn the_escalation_period_survives_a_restart() {
    let settings = SchedulerSettings {
        max_wait: HOUR,
        ..scheduler_settings()
    };
    // Sidecar with no source: blocked for good, so only escalations happen.
    let mut h = Harness::new(
        QueueSettings::default(),
        tracker_settings(SourceMode::Sidecar),
        settings,
    );
    h.submit(MIN).await;
    let escalated = |e: &QueueEvent| matches!(e, QueueEvent::Escalated { .. }).then(Instant::now);
    let first = h.event(escalated).await;
    pass(30 * MIN).await;
    let mut h = h.restart().await;
    let second = h.event(escalated).await;
    assert_eq!(
        second - first,
        HOUR,
        "one prompt per period, not one per restart"
    );
    assert_eq!(
        h.store.last_escalation().unwrap().unwrap().request,
        h.store.open_request().unwrap().unwrap().id
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_an_execution_starts_nothing_after_it() {
    let mut h = Harness::new(
        QueueSettings::default(),
        tracker_settings(SourceMode::Embedded),
        SchedulerSettings {
            cooldown: Duration::ZERO,
            ..scheduler_settings()
        },
    );
    let mut update = ask(Kind::Update, "boss", Role::Admin);
    update.idle_seconds = 60;
    let first = h.store.submit(update).await.unwrap().request;
    h.event(|e| matches!(e, QueueEvent::Starting { .. }).then_some(()))
        .await;
    // Asked while the update runs: eligible the moment it ends (no idle window, no cooldown).
    let second = h.submit(Duration::ZERO).await;
    assert_ne!(second.id, first.id);
    let task = h.task.take().unwrap();
    tokio::time::timeout(PATIENCE, task.shutdown())
        .await
        .expect("shutdown waits only for the execution in progress");
    assert_eq!(
        h.executor.steps(),
        ["update", "restart"],
        "nothing started after shutdown was asked"
    );
    assert_eq!(
        h.store.get(second.id).unwrap().unwrap().state,
        State::Queued
    );
}
