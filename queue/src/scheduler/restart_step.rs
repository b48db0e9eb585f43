//! The restart step after a successful update. The old gateway keeps serving (admission open,
//! phase `awaiting_restart`) until the restart may begin: inside a maintenance window, not
//! paused, the host not draining, and no run live (no new idle window). Then admission closes
//! atomically again, the store re-checks and records phase `restarting`, and the restart runs.
//! The wait can last until the next window (days, with weekly windows), so it listens to the
//! store (a pause, a resume, a drain), the tracker, its deadlines and to shutdown.
//!
//! With `[fleet]` the restart step waits for a slot like any restart: taken once nothing else
//! holds the step back and no run is live (admission still open), verified once admission is
//! closed, and persisted with the phase `restarting`.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::Scheduler;
use super::execute::merge_results;
use super::fleet_slot::SlotCheck;
use crate::deadline::later;
use crate::eligibility::wake_for_edge;
use crate::error::Error;
use crate::executor::StepOutcome;
use crate::request::{Request, RunResult};
use crate::store::SCHEDULER;
use crate::timestamp::Timestamp;
use crate::window::{WindowState, Windows};

/// When no window opens within the lookahead (every edge in a DST gap), look again this often.
const NO_OPENING_RETRY: Duration = Duration::from_secs(24 * 3600);
/// How long to wait before reading the store again after it failed.
const STORE_RETRY: Duration = Duration::from_secs(5);

/// What holds the restart step back (besides live runs, which closing admission checks).
#[derive(Debug, PartialEq, Eq)]
enum RestartBlocker {
    /// Nothing: admission may close.
    Free,
    /// Outside every window; the next opening, if one is known.
    Window(Option<Timestamp>),
    /// Paused, until the pause ends (if it does).
    Paused(Option<Timestamp>),
    /// The host drains until then.
    Draining(Timestamp),
    /// The store could not be read; look again then.
    Unreadable(Timestamp),
}

impl RestartBlocker {
    /// The wall-clock time the blocker ends by itself.
    fn ends(&self) -> Option<Timestamp> {
        match self {
            RestartBlocker::Free => None,
            RestartBlocker::Window(opens) => *opens,
            RestartBlocker::Paused(until) => *until,
            RestartBlocker::Draining(until) | RestartBlocker::Unreadable(until) => Some(*until),
        }
    }
}

impl Scheduler {
    /// Runs the restart step of an updated `request`; `None` if lull is stopping before it could
    /// begin (admission is open then, and the request is left running for recovery to settle).
    pub(super) async fn restart_after_update(
        &self,
        request: &Request,
        updated: RunResult,
    ) -> Option<StepOutcome> {
        let shared = &self.shared;
        let gate = shared.tracker.gate();
        let windows = self.windows_for(request);
        // Subscribed before the first look, so a pause or resume in between is not missed.
        let mut events = shared.store.subscribe();
        let (mut told, mut audited_window_wait) = (false, false);
        let mut fleet_changes = self.fleet().map(|f| f.changes());
        let failed = |error: Error| {
            tracing::error!(request = %request.short_id, %error, "could not record the restart step");
            Some(StepOutcome::Failed(RunResult {
                message: Some(format!("updated, but the restart was not started: {error}")),
                ..updated.clone()
            }))
        };
        let restarting = loop {
            // The wait may last days: the scheduler's housekeeping (expired leases, approval
            // expiry and prompts of a request asked meanwhile, wedged runs, the end of a pause
            // or drain) goes on, and its next deadline is one of this wait's.
            let housekeeping = self.step_during_execution().await.unwrap_or_else(|error| {
                tracing::error!(%error, "scheduler could not read or write the store; retrying");
                Some(later(Instant::now(), STORE_RETRY))
            });
            let hold = self.restart_blocker(windows).unwrap_or_else(|error| {
                tracing::error!(%error, "could not read pause or drain; the restart step waits");
                RestartBlocker::Unreadable(shared.store.now().saturating_add(STORE_RETRY))
            });
            let mut fleet_retry = None;
            let idle = shared.tracker.snapshot(Instant::now()).word.live() == 0;
            let slot = if hold == RestartBlocker::Free && idle {
                match self.check_restart_slot().await {
                    Ok(SlotCheck::Ready(slot)) => Some(slot),
                    Ok(SlotCheck::Waiting(_, at)) => {
                        fleet_retry = Some(at);
                        None
                    }
                    Ok(SlotCheck::LookAgain) => None,
                    Err(error) => {
                        tracing::error!(%error, "could not read the fleet hold; the restart step waits");
                        fleet_retry = Some(later(Instant::now(), STORE_RETRY));
                        None
                    }
                }
            } else {
                // Not free (any longer): a slot granted meanwhile goes back to the fleet.
                self.return_unused_slot().await;
                None
            };
            if let Some(slot) = slot {
                // Taken before admission closes; held until the restart step is recorded.
                let starting = match &slot {
                    Some(_) => Some(shared.fleet_starts.lock().await),
                    None => None,
                };
                if slot.as_ref().is_some_and(|h| !self.still_persisted(h)) {
                    // An admin released the kept slot meanwhile: ask for a fresh one.
                    continue;
                }
                if gate.close_if_idle() {
                    if let Some(fleet_hold) = &slot
                        && !self.verify_slot(fleet_hold).await
                    {
                        gate.reopen();
                        continue;
                    }
                    // With admission closed, the store checks pause, drain and window again
                    // at the instant it records the restart step: the atomic step, as for a
                    // start.
                    match shared
                        .store
                        .begin_restart(request.id, windows, slot.clone())
                        .await
                    {
                        Ok(restarting) => {
                            drop(starting);
                            if slot.is_some() {
                                self.memory().fleet.resumed = true;
                            }
                            break restarting;
                        }
                        Err(error) => {
                            gate.reopen();
                            drop(starting);
                            self.unused_slot(slot);
                            // Refused for a hold the next look will see (a pause, a drain or
                            // the window's end just now), or a slot released meanwhile: wait
                            // for it. Anything else is a failure.
                            let free =
                                matches!(self.restart_blocker(windows), Ok(RestartBlocker::Free));
                            if free && !matches!(error, Error::FleetSlotChanged) {
                                return failed(error);
                            }
                            continue;
                        }
                    }
                }
                self.unused_slot(slot);
            }
            if !told {
                // Said once: what it waits for may change (the window opens, runs are still
                // live), but requesters need to hear only that the restart is still to come.
                told = true;
                let opens = match hold {
                    RestartBlocker::Window(Some(at)) => {
                        Some((at, self.shared.settings.windows.zone().human(at)))
                    }
                    _ => None,
                };
                if let Err(error) = shared.store.await_restart(request.id, opens).await {
                    return failed(error);
                }
            }
            if let RestartBlocker::Window(opens) = hold
                && !audited_window_wait
            {
                audited_window_wait = true;
                self.audit_window_wait(request, opens).await;
            }
            let (now, now_wall) = (Instant::now(), shared.store.now());
            let at_wall =
                |at: Timestamp| wake_for_edge(now, later(now, at.saturating_since(now_wall)));
            let ends = match hold {
                RestartBlocker::Window(None) => Some(later(now, NO_OPENING_RETRY)),
                // Waiting for runs to end inside a window: its closing changes what it waits for.
                RestartBlocker::Free => match windows.state(now_wall) {
                    WindowState::Open { closes } => closes.map(at_wall),
                    _ => None,
                },
                _ => hold.ends().map(at_wall),
            };
            tokio::select! {
                biased;
                // Heard only while the step waits: one that may begin at once finishes the
                // execution in progress, as shutdown promises.
                () = shared.shutdown.notified() => return None,
                received = events.recv() => {
                    if matches!(received, Err(RecvError::Closed)) {
                        return None;
                    }
                }
                () = shared.tracker.changed() => {}
                () = super::fleet_changed(fleet_changes.as_mut()) => {}
                () = super::sleep_until_or_forever(fleet_retry) => {}
                () = super::sleep_until_or_forever(ends) => {}
                () = super::sleep_until_or_forever(housekeeping) => {}
            }
        };
        Some(match shared.executor.restart(&restarting).await {
            StepOutcome::Done(restarted) | StepOutcome::Unchanged(restarted) => {
                StepOutcome::Done(merge_results(updated, restarted))
            }
            StepOutcome::Failed(restarted) => {
                StepOutcome::Failed(merge_results(updated, restarted))
            }
        })
    }

    /// The slot for the restart step: a grant is used at once (the step's facts were read just
    /// before), so it never goes back through a housekeeping look; a kept slot found lost is
    /// replaced by a fresh try.
    async fn check_restart_slot(&self) -> Result<SlotCheck, Error> {
        match self.check_slot().await? {
            SlotCheck::LookAgain => self.check_slot().await,
            other => Ok(other),
        }
    }

    /// One look of the scheduler from inside an execution: with a request running, the look
    /// finds `executing` and never starts anything, so all it does is its housekeeping (leases, pauses, drains, wedged runs). Boxed because
    /// the look is what called this execution.
    fn step_during_execution(
        &self,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<Instant>, Error>> + Send + '_>> {
        Box::pin(self.step())
    }

    /// What holds the restart step back now, read from the wall clock and the store.
    fn restart_blocker(&self, windows: &Windows) -> Result<RestartBlocker, Error> {
        let store = &self.shared.store;
        let now = store.now();
        if let WindowState::Closed { opens } = windows.state(now) {
            return Ok(RestartBlocker::Window(opens));
        }
        if let Some(pause) = store.pause()?.filter(|p| p.holds_at(now)) {
            return Ok(RestartBlocker::Paused(pause.until));
        }
        if let Some(drain) = store.drain()?.filter(|d| d.until > now) {
            return Ok(RestartBlocker::Draining(drain.until));
        }
        Ok(RestartBlocker::Free)
    }

    /// Says (log and audit) that an updated request's restart step waits for a window.
    async fn audit_window_wait(&self, request: &Request, opens: Option<Timestamp>) {
        let zone = self.shared.settings.windows.zone();
        let detail = match opens {
            Some(at) => format!(
                "{} updated; its restart waits for the maintenance window opening {} ({at})",
                request.short_id,
                zone.human(at)
            ),
            None => format!(
                "{} updated; its restart waits for a maintenance window to open",
                request.short_id
            ),
        };
        tracing::info!(request = %request.short_id, "{detail}");
        if let Err(error) = self
            .shared
            .store
            .record(SCHEDULER, "restart_waits_for_window", detail, None)
            .await
        {
            tracing::warn!(%error, "could not audit the wait for a window");
        }
    }
}
