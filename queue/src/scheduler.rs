//! The scheduler: one task per profile that decides the exact moment a request may run.
//!
//! It is event-driven. It sleeps until a queue event (a submit, cancel, pause…), a tracker
//! signal (the last live run ended, a source came back, a run was released) or **one timer** set
//! to the earliest deadline that could change its mind (idle window end, boot grace, lease
//! expiry, approval expiry, cooldown, hourly cap, escalation, pause end, drain end, a maintenance
//! window opening or closing). There is no polling loop: with nothing changing and no deadline
//! ahead it sleeps indefinitely.
//!
//! When every condition holds it closes admission with a compare-and-swap against the gate word
//! it read with the facts (see [`crate::admission`]), persists the request as running, and only
//! then runs the executor. This is the only code path that starts a request.

mod controls;
mod execute;
mod fleet_slot;
mod look;
mod memory;
#[cfg(test)]
mod mock_tests;
mod restart_step;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::activity::{ActivityTracker, TrackerReport};
use crate::blocker::Blocker;
use crate::deadline::later;
use crate::error::Error;
use crate::events::QueueEvent;
use crate::executor::Executor;
use crate::fleet::{FleetHold, FleetLock};
use crate::health::HealthCheck;
use crate::request::Request;
use crate::settings::SchedulerSettings;
use crate::store::Store;
use crate::window::Windows;
use fleet_slot::SlotCheck;
use look::Look;
use memory::Memory;

/// How long the scheduler waits before looking again after the store failed.
const RETRY_AFTER_STORE_ERROR: Duration = Duration::from_secs(5);

/// A handle to the scheduler of one profile. Cheap to clone.
#[derive(Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
}

/// What every clone of a [`Scheduler`] handle shares (mini-redis's name for it): the store,
/// the tracker, the executor, the settings and what the scheduler remembers between looks.
struct Shared {
    profile: String,
    store: Store,
    tracker: ActivityTracker,
    executor: Arc<dyn Executor>,
    settings: SchedulerSettings,
    memory: Mutex<Memory>,
    wakeups: AtomicU64,
    shutdown: Notify,
    /// Set by `shutdown`: the loop starts nothing more, even when it would look again at once.
    stopping: AtomicBool,
    health: Option<HealthCheck>,
    /// `[fleet]`: the lock service whose slot a restart step holds.
    fleet: OnceLock<Arc<dyn FleetLock>>,
    /// Held from a slot's verification to the start it records, and by an admin's release,
    /// so a release never lands between the two.
    fleet_starts: tokio::sync::Mutex<()>,
}

/// The running scheduler task.
pub struct SchedulerTask {
    scheduler: Scheduler,
    handle: JoinHandle<()>,
}

impl SchedulerTask {
    /// Stops the scheduler after its current step (an execution in progress finishes first).
    pub async fn shutdown(self) {
        self.scheduler.shared.stopping.store(true, Ordering::SeqCst);
        self.scheduler.shared.shutdown.notify_one();
        let _ = self.handle.await;
    }

    /// Stops the scheduler at once, even mid-execution (a self restart is replacing the
    /// process; `recover()` in the new one settles the request).
    pub fn abort(self) {
        self.handle.abort();
    }
}

impl Scheduler {
    /// A scheduler for `profile`. Loads the persisted cooldown and hourly window from the store.
    ///
    /// Call [`crate::recover`] first: a request still marked running from a previous process is
    /// refused here rather than left blocking everything as "executing".
    pub fn new(
        profile: impl Into<String>,
        store: Store,
        tracker: ActivityTracker,
        executor: Arc<dyn Executor>,
        settings: SchedulerSettings,
        health: Option<HealthCheck>,
    ) -> Result<Self, Error> {
        if let Some(running) = store.running_request()? {
            return Err(Error::Conflict(format!(
                "request {} is still marked running from before; call recover() before starting the scheduler",
                running.short_id
            )));
        }
        let memory = Memory::boot(&store, &settings, Instant::now())?;
        Ok(Self {
            shared: Arc::new(Shared {
                profile: profile.into(),
                store,
                tracker,
                executor,
                settings,
                memory: Mutex::new(memory),
                wakeups: AtomicU64::new(0),
                shutdown: Notify::new(),
                stopping: AtomicBool::new(false),
                health,
                fleet: OnceLock::new(),
                fleet_starts: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// With `[fleet]`: restart steps hold a slot of `fleet` (see [`crate::fleet`]). Set it
    /// before [`Scheduler::spawn`]; a second call is refused.
    pub fn set_fleet(&self, fleet: Arc<dyn FleetLock>) -> Result<(), Error> {
        self.shared
            .fleet
            .set(fleet)
            .map_err(|_| Error::Conflict("the scheduler already has a fleet lock".into()))
    }

    /// Starts the scheduler task on the current tokio runtime.
    pub fn spawn(&self) -> SchedulerTask {
        let scheduler = self.clone();
        // Subscribe before the first look so no event between the look and the wait is missed.
        let events = self.shared.store.subscribe();
        let handle = tokio::spawn(scheduler.clone().run(events));
        SchedulerTask { scheduler, handle }
    }

    /// How many times the scheduler has woken up and looked.
    pub fn wakeups(&self) -> u64 {
        self.shared.wakeups.load(Ordering::SeqCst)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The activity tracker.
    pub fn tracker(&self) -> &ActivityTracker {
        &self.shared.tracker
    }

    /// The configured maintenance windows.
    pub fn windows(&self) -> &Windows {
        &self.shared.settings.windows
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.shared.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(self, mut events: broadcast::Receiver<QueueEvent>) {
        let mut fleet_changes = self.fleet().map(|f| f.changes());
        loop {
            if self.shared.stopping.load(Ordering::SeqCst) {
                return;
            }
            self.shared.wakeups.fetch_add(1, Ordering::SeqCst);
            let next = match self.step().await {
                Ok(next) => next,
                Err(error) => {
                    tracing::error!(%error, "scheduler could not read or write the store; retrying");
                    Some(Instant::now() + RETRY_AFTER_STORE_ERROR)
                }
            };
            if next.is_some_and(|n| n <= Instant::now()) {
                // Looking again at once (after an execution, or a lost race with a run
                // beginning) must not hold the worker thread from other tasks.
                tokio::task::yield_now().await;
                continue;
            }
            if !self.wait(&mut events, fleet_changes.as_mut(), next).await {
                return;
            }
        }
    }

    /// Sleeps until something relevant happens; `false` on shutdown.
    async fn wait(
        &self,
        events: &mut broadcast::Receiver<QueueEvent>,
        mut fleet_changes: Option<&mut watch::Receiver<u64>>,
        next: Option<Instant>,
    ) -> bool {
        loop {
            tokio::select! {
                biased;
                () = self.shared.shutdown.notified() => return false,
                received = events.recv() => match received {
                    // Its own reports carry no news for the scheduler.
                    Ok(event) if event.is_scheduler_report() => continue,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return true,
                    Err(broadcast::error::RecvError::Closed) => return false,
                },
                () = self.shared.tracker.changed() => return true,
                () = fleet_changed(fleet_changes.as_deref_mut()) => return true,
                () = sleep_until_or_forever(next) => return true,
            }
        }
    }

    /// One look: housekeeping, then start the open request if it may run, or say why it waits.
    /// Returns when to look again if nothing else happens first.
    async fn step(&self) -> Result<Option<Instant>, Error> {
        self.audit_tracker_reports(self.shared.tracker.expire_leases(Instant::now()))
            .await?;
        let look = self.look()?;
        if self.end_what_expired(&look).await? {
            // The facts changed: look again at once.
            return Ok(Some(Instant::now()));
        }
        for report in self.wedged_runs(&look) {
            self.shared.store.report(report).await?;
        }
        let fleet_next = if look.running.is_none() {
            self.settle_fleet_hold().await?
        } else {
            None
        };
        let housekeeping = [
            fleet_next,
            look.activity.next_lease_expiry,
            self.next_wedge(&look.activity),
            look.pause.as_ref().and_then(|(_, end)| *end),
            look.drain.as_ref().map(|(_, end)| *end),
        ]
        .into_iter()
        .flatten()
        .min();

        let (Some(open), Some(evaluation)) = (&look.open, &look.evaluation) else {
            self.memory().last_waiting = None;
            if look.running.is_none() {
                self.return_unused_slot().await;
            }
            return Ok(housekeeping);
        };
        let mut blockers = evaluation.blockers.clone();
        let mut fleet_retry = None;
        if blockers.is_empty() {
            // The slot covers the restart step only: an update takes it after installing.
            let slot = match open.kind {
                crate::request::Kind::Restart => self.check_slot().await?,
                crate::request::Kind::Update => {
                    // A restart upgraded to an update meanwhile: its slot is not needed yet.
                    self.return_unused_slot().await;
                    SlotCheck::Ready(None)
                }
            };
            match slot {
                SlotCheck::Ready(hold) => {
                    self.start_if_unchanged(open.clone(), &look, hold).await;
                    // Started, or something changed between the look and the close: look again.
                    return Ok(Some(Instant::now()));
                }
                // The facts may have changed while the lock service answered: look again.
                SlotCheck::LookAgain => return Ok(Some(Instant::now())),
                SlotCheck::Waiting(blocker, retry_at) => {
                    blockers.push(blocker);
                    fleet_retry = Some(retry_at);
                }
            }
        } else if look.running.is_none() {
            self.return_unused_slot().await;
        }
        let escalate_at = self.report_waiting(open, &blockers, &look).await?;
        Ok([
            housekeeping,
            fleet_retry,
            evaluation.next_deadline,
            look.approval_deadline,
            Some(escalate_at),
        ]
        .into_iter()
        .flatten()
        .min())
    }

    /// Ends a pause or a drain whose time is up, and rejects a request whose approval window
    /// passed; `true` if it changed anything.
    async fn end_what_expired(&self, look: &Look) -> Result<bool, Error> {
        let store = &self.shared.store;
        if let Some((pause, Some(end))) = &look.pause
            && *end <= look.now
        {
            store.end_pause_if(pause.clone()).await?;
            return Ok(true);
        }
        if let Some((drain, end)) = &look.drain
            && *end <= look.now
        {
            store.end_drain_if(drain.clone()).await?;
            return Ok(true);
        }
        if let (Some(open), Some(deadline)) = (&look.open, look.approval_deadline)
            && deadline <= look.now
        {
            match store.expire_approval(open.id).await {
                // Approved, rejected or cancelled just before it expired: nothing to do.
                Ok(_) | Err(Error::Transition(_)) => {}
                Err(error) => return Err(error),
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// Closes admission if nothing changed since `look` (no run began), verifies the fleet
    /// slot (if any) with admission closed, then executes `open`.
    async fn start_if_unchanged(&self, open: Request, look: &Look, hold: Option<FleetHold>) {
        // Taken before admission closes, so waiting for an admin's release never keeps it closed.
        let starting = match &hold {
            Some(_) => Some(self.shared.fleet_starts.lock().await),
            None => None,
        };
        if hold.as_ref().is_some_and(|h| !self.still_persisted(h)) {
            // An admin released the kept slot meanwhile: the next look asks for a fresh one.
            return;
        }
        let gate = self.shared.tracker.gate();
        if !gate.close_if_unchanged(look.activity.word) {
            self.unused_slot(hold);
            return;
        }
        if let Some(hold) = &hold
            && !self.verify_slot(hold).await
        {
            // A failed verification reopens admission and starts nothing.
            gate.reopen();
            return;
        }
        // The store checks the window again as it records the start (windows are
        // wall-clock hours), so a look a moment before a window's end cannot start after it.
        self.execute(open, hold, starting).await;
    }

    /// Reports why `open` waits when that changed, and escalates to the admins when it has
    /// waited `max_wait` (window time only); returns when the next escalation is due.
    async fn report_waiting(
        &self,
        open: &Request,
        blockers: &[Blocker],
        look: &Look,
    ) -> Result<Instant, Error> {
        let kinds: Vec<&'static str> = blockers.iter().map(|b| b.kind()).collect();
        let mut reports = Vec::new();
        let escalate_at = {
            let mut memory = self.memory();
            if memory.last_waiting.as_ref() != Some(&(open.id, kinds.clone())) {
                memory.last_waiting = Some((open.id, kinds));
                reports.push(QueueEvent::Waiting {
                    request: open.clone(),
                    blockers: blockers.to_vec(),
                });
            }
            let wait = memory::Wait {
                max: self.shared.settings.max_wait,
                windows: self.windows_for(open),
                now: look.now,
                now_wall: look.now_wall,
            };
            let mut at = memory.escalation_deadline(open, look.last_escalation.as_ref(), &wait);
            if at <= look.now {
                reports.push(QueueEvent::Escalated {
                    request: open.clone(),
                    blockers: blockers.to_vec(),
                });
                at = memory.escalated(open, &wait);
            }
            at
        };
        for report in reports {
            match report {
                QueueEvent::Escalated { .. } => self.shared.store.report_escalation(report).await?,
                other => self.shared.store.report(other).await?,
            }
        }
        Ok(escalate_at)
    }

    async fn audit_tracker_reports(&self, reports: Vec<TrackerReport>) -> Result<(), Error> {
        for report in reports {
            match report {
                TrackerReport::LeaseExpired { session, lease } => {
                    tracing::warn!(%session, %lease, "run lease expired without heartbeat");
                    let detail = format!("session {session}, lease {lease}");
                    let event = QueueEvent::LeaseExpired { session, lease };
                    self.shared
                        .store
                        .record("lull", "lease_expired", detail, Some(event))
                        .await?;
                }
            }
        }
        Ok(())
    }
}

/// Returns when the fleet's holders may have changed; never without `[fleet]` (or once the
/// backend stopped watching).
async fn fleet_changed(changes: Option<&mut watch::Receiver<u64>>) {
    let watching = match changes {
        Some(changes) => changes.changed().await.is_ok(),
        None => false,
    };
    if !watching {
        std::future::pending::<()>().await;
    }
}

async fn sleep_until_or_forever(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
