//! Running a request the scheduler just admitted: persist it as running, run the executor's
//! steps, and finish it. Admission is already closed when this starts.

use std::time::Duration;

use tokio::time::Instant;

use super::Scheduler;
use crate::deadline::later;
use crate::executor::StepOutcome;
use crate::request::{Event, Kind, Phase, Request, RunResult};
use crate::store::SCHEDULER;
use crate::timestamp::Timestamp;
use crate::window::WindowState;

const DAY: Duration = Duration::from_secs(24 * 3600);

impl Scheduler {
    pub(super) async fn execute(&self, request: Request) {
        let core = &self.core;
        let gate = core.tracker.gate();
        // The store re-checks what the look saw (and pause and drain) as it starts the request,
        // and derives the phase from the request as stored.
        let started = match core.store.start(&request).await {
            Ok(started) => started,
            Err(error) => {
                // Changed, cancelled, paused or drained since the look, or the store failed:
                // nothing ran; the scheduler looks again.
                tracing::warn!(request = %request.short_id, %error, "could not start request");
                gate.reopen();
                return;
            }
        };
        tracing::info!(request = %started.short_id, kind = %started.kind, "maintenance starting");
        self.memory().executed(Instant::now());

        let outcome = match started.kind {
            Kind::Restart => self.checked(core.executor.restart(&started).await).await,
            Kind::Update => {
                // The old gateway keeps serving while the update runs.
                gate.reopen();
                match core.executor.update(&started).await {
                    StepOutcome::Done(updated) => {
                        let restarted = self.restart_after_update(&started, updated).await;
                        self.checked(restarted).await
                    }
                    other => other,
                }
            }
        };
        let (event, result) = match outcome {
            StepOutcome::Done(result) | StepOutcome::Unchanged(result) => (Event::Succeed, result),
            StepOutcome::Failed(result) => (Event::Fail, result),
        };
        self.memory().cooldown_until = Some(crate::deadline::later(
            Instant::now(),
            core.settings.cooldown,
        ));
        // The steps are over, so runs may begin; reopening before the outcome is recorded means
        // whoever sees the request finished is also admitted (no 409 `executing` after
        // `succeeded`). This task starts nothing else until it returns.
        gate.reopen();
        // The gateway just came back: a fresh idle window starts for whatever comes next.
        core.tracker.note_activity(None);
        if let Err(error) = core
            .store
            .finish(started.id, event, result, SCHEDULER)
            .await
        {
            // It stays `running` on disk; recovery on the next boot marks it interrupted.
            tracing::error!(request = %started.short_id, %error, "could not record the outcome");
        }
    }

    /// The restart step after a successful update: waits for zero live runs (no new idle window)
    /// and closes admission atomically again before restarting.
    async fn restart_after_update(&self, request: &Request, updated: RunResult) -> StepOutcome {
        let core = &self.core;
        let restarting = match core.store.set_phase(request.id, Phase::Restarting).await {
            Ok(r) => r,
            Err(error) => {
                tracing::error!(request = %request.short_id, %error, "could not record the restart phase");
                return StepOutcome::Failed(RunResult {
                    message: Some(format!("updated, but the restart was not started: {error}")),
                    ..updated
                });
            }
        };
        let windows = self.windows_for(request);
        let mut told_window_wait = false;
        loop {
            // Like the start, the restart step must begin inside a maintenance window: an update
            // installed at 04:59 does not restart at 10:00 but at the next opening.
            let window = windows.state(core.store.now());
            if window.is_open() && core.tracker.gate().close_if_idle() {
                // Read the wall clock again with admission closed (the look may be a moment old).
                if windows.state(core.store.now()).is_open() {
                    break;
                }
                core.tracker.gate().reopen();
                continue;
            }
            let opening = match window {
                WindowState::Closed { opens } => {
                    if !told_window_wait {
                        told_window_wait = true;
                        self.audit_window_wait(request, opens).await;
                    }
                    // None opens within two weeks (every edge in a DST gap): look again daily.
                    let until = opens.map_or(DAY, |o| o.saturating_since(core.store.now()));
                    Some(later(Instant::now(), until))
                }
                WindowState::Always | WindowState::Open { .. } => None,
            };
            let lease_expiry = core.tracker.snapshot(Instant::now()).next_lease_expiry;
            tokio::select! {
                () = core.tracker.changed() => {}
                () = super::sleep_until_or_forever(lease_expiry) => {}
                () = super::sleep_until_or_forever(opening) => {}
            }
            let reports = core.tracker.expire_leases(Instant::now());
            if let Err(error) = self.audit_tracker_reports(reports).await {
                tracing::error!(%error, "could not audit expired leases");
            }
        }
        match core.executor.restart(&restarting).await {
            StepOutcome::Done(restarted) | StepOutcome::Unchanged(restarted) => {
                StepOutcome::Done(merge_results(updated, restarted))
            }
            StepOutcome::Failed(restarted) => {
                StepOutcome::Failed(merge_results(updated, restarted))
            }
        }
    }
}

impl Scheduler {
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

    /// A successful restart counts only once the health check (if configured) passes.
    async fn checked(&self, restarted: StepOutcome) -> StepOutcome {
        let restarted = match restarted {
            StepOutcome::Done(result) => StepOutcome::Done(RunResult {
                restarted: true,
                ..result
            }),
            other => other,
        };
        let (StepOutcome::Done(result), Some(health)) = (&restarted, &self.core.health) else {
            return restarted;
        };
        match health.run(&self.core.store).await {
            Ok(Ok(())) => restarted,
            Ok(Err(failed)) => StepOutcome::Failed(merge_results(result.clone(), failed)),
            Err(error) => StepOutcome::Failed(RunResult {
                message: Some(format!(
                    "restarted, but the health check could not be recorded: {error}"
                )),
                ..result.clone()
            }),
        }
    }
}

/// The restart's report, with the update's version information where the restart has none.
fn merge_results(updated: RunResult, restarted: RunResult) -> RunResult {
    RunResult {
        version_before: restarted.version_before.or(updated.version_before),
        version_after: restarted.version_after.or(updated.version_after),
        message: restarted.message.or(updated.message),
        ..restarted
    }
}
