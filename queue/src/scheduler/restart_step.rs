//! The restart step after a successful update. The old gateway keeps serving (admission open)
//! until the restart may begin: inside a maintenance window, not paused, the host not
//! draining, and no run live (no new idle window). Then admission closes atomically again and
//! the restart runs. The wait can last until the next window (days, with weekly windows), so
//! it listens to the store (a pause, a resume, a drain), the tracker, its deadlines and to
//! shutdown.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::Scheduler;
use super::execute::merge_results;
use crate::deadline::later;
use crate::eligibility::wake_for_edge;
use crate::error::Error;
use crate::executor::StepOutcome;
use crate::request::{Phase, Request, RunResult};
use crate::store::SCHEDULER;
use crate::timestamp::Timestamp;
use crate::window::{WindowState, Windows};

/// When no window opens within the lookahead (every edge in a DST gap), look again this often.
const NO_OPENING_RETRY: Duration = Duration::from_secs(24 * 3600);
/// How long to wait before reading the store again after it failed.
const STORE_RETRY: Duration = Duration::from_secs(5);

/// What holds the restart step back (besides live runs, which closing admission checks).
#[derive(Debug, PartialEq, Eq)]
enum Hold {
    /// Nothing: admission may close.
    Free,
    /// Outside every window; the next opening, if one is known.
    Window(Option<Timestamp>),
    /// Paused, until the pause ends (if it does).
    Paused(Option<Timestamp>),
    /// The host drains until then.
    Draining(Timestamp),
}

impl Hold {
    /// The wall-clock time the hold ends by itself.
    fn ends(&self) -> Option<Timestamp> {
        match self {
            Hold::Free => None,
            Hold::Window(opens) => *opens,
            Hold::Paused(until) => *until,
            Hold::Draining(until) => Some(*until),
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
        let core = &self.core;
        let gate = core.tracker.gate();
        let windows = self.windows_for(request);
        // Subscribed before the first look, so a pause or resume in between is not missed.
        let mut events = core.store.subscribe();
        let mut recorded: Option<Request> = None;
        loop {
            // Shutdown is heard only while the step waits: one that may begin at once finishes
            // the execution in progress, as shutdown promises.
            let hold = self.restart_hold(windows).unwrap_or_else(|error| {
                tracing::error!(%error, "could not read pause or drain; the restart step waits");
                Hold::Paused(Some(core.store.now().saturating_add(STORE_RETRY)))
            });
            // The phase says what the step waits for: a window, or its turn to restart.
            let phase = match hold {
                Hold::Window(_) => Phase::AwaitingWindow,
                _ => Phase::Restarting,
            };
            if recorded.as_ref().and_then(|r| r.phase) != Some(phase) {
                match core.store.set_phase(request.id, phase).await {
                    Ok(r) => recorded = Some(r),
                    Err(error) => {
                        tracing::error!(request = %request.short_id, %error, "could not record the restart phase");
                        return Some(StepOutcome::Failed(RunResult {
                            message: Some(format!(
                                "updated, but the restart was not started: {error}"
                            )),
                            ..updated
                        }));
                    }
                }
                if let Hold::Window(opens) = hold {
                    self.audit_window_wait(request, opens).await;
                }
            }
            if hold == Hold::Free && gate.close_if_idle() {
                // Read the clock and the store again with admission closed: a look a moment
                // before a window's end, or a pause just written, must not start the restart.
                if matches!(self.restart_hold(windows), Ok(Hold::Free)) {
                    break;
                }
                gate.reopen();
                continue;
            }
            let ends = hold.ends().map(|at| {
                let (now, now_wall) = (Instant::now(), core.store.now());
                wake_for_edge(now, later(now, at.saturating_since(now_wall)))
            });
            let ends = match hold {
                Hold::Window(None) => Some(later(Instant::now(), NO_OPENING_RETRY)),
                _ => ends,
            };
            let lease_expiry = core.tracker.snapshot(Instant::now()).next_lease_expiry;
            tokio::select! {
                biased;
                () = core.shutdown.notified() => return None,
                received = events.recv() => {
                    if matches!(received, Err(RecvError::Closed)) {
                        return None;
                    }
                }
                () = core.tracker.changed() => {}
                () = super::sleep_until_or_forever(lease_expiry) => {}
                () = super::sleep_until_or_forever(ends) => {}
            }
            let reports = core.tracker.expire_leases(Instant::now());
            if let Err(error) = self.audit_tracker_reports(reports).await {
                tracing::error!(%error, "could not audit expired leases");
            }
        }
        let restarting = recorded.unwrap_or_else(|| request.clone());
        Some(match core.executor.restart(&restarting).await {
            StepOutcome::Done(restarted) | StepOutcome::Unchanged(restarted) => {
                StepOutcome::Done(merge_results(updated, restarted))
            }
            StepOutcome::Failed(restarted) => {
                StepOutcome::Failed(merge_results(updated, restarted))
            }
        })
    }

    /// What holds the restart step back now, read from the wall clock and the store.
    fn restart_hold(&self, windows: &Windows) -> Result<Hold, Error> {
        let store = &self.core.store;
        let now = store.now();
        if let WindowState::Closed { opens } = windows.state(now) {
            return Ok(Hold::Window(opens));
        }
        if let Some(pause) = store.pause()?.filter(|p| p.holds_at(now)) {
            return Ok(Hold::Paused(pause.until));
        }
        if let Some(drain) = store.drain()?.filter(|d| d.until > now) {
            return Ok(Hold::Draining(drain.until));
        }
        Ok(Hold::Free)
    }

    /// Says (log and audit) that an updated request's restart step waits for a window.
    async fn audit_window_wait(&self, request: &Request, opens: Option<Timestamp>) {
        let zone = self.core.settings.windows.zone();
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
            .core
            .store
            .record(SCHEDULER, "restart_waits_for_window", detail, None)
            .await
        {
            tracing::warn!(%error, "could not audit the wait for a window");
        }
    }
}
