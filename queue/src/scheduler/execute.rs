//! Running a request the scheduler just admitted: persist it as running (with the fleet slot
//! its restart holds, in the same flush), run the executor's steps, and finish it. Admission is
//! already closed when this starts. The slot is settled once the outcome is recorded
//! (`fleet_slot::settle_fleet_hold`): given back if healthy, kept otherwise.

use tokio::time::Instant;

use super::Scheduler;
use crate::executor::StepOutcome;
use crate::fleet::FleetHold;
use crate::request::{Event, Kind, Request, RunResult};
use crate::store::SCHEDULER;

impl Scheduler {
    /// `starting`: the fleet's start lock, held until the start (with its hold) is recorded.
    pub(super) async fn execute(
        &self,
        request: Request,
        hold: Option<FleetHold>,
        starting: Option<tokio::sync::MutexGuard<'_, ()>>,
    ) {
        let shared = &self.shared;
        let gate = shared.tracker.gate();
        // The store re-checks what the look saw (and pause and drain) as it starts the request,
        // and derives the phase from the request as stored.
        let windows = self.windows_for(&request);
        let started = match shared
            .store
            .start_within(&request, windows, hold.clone())
            .await
        {
            Ok(started) => started,
            Err(error) => {
                // Changed, cancelled, paused or drained since the look, or the store failed:
                // nothing ran; the scheduler looks again.
                tracing::warn!(request = %request.short_id, %error, "could not start request");
                gate.reopen();
                self.unused_slot(hold);
                return;
            }
        };
        drop(starting);
        if hold.is_some() {
            self.memory().fleet.resumed = true;
        }
        tracing::info!(request = %started.short_id, kind = %started.kind, "maintenance starting");
        self.memory().executed(Instant::now());

        let outcome = match started.kind {
            Kind::Restart => self.checked(shared.executor.restart(&started).await).await,
            Kind::Update => {
                // The old gateway keeps serving while the update runs.
                gate.reopen();
                match shared.executor.update(&started).await {
                    StepOutcome::Done(updated) => {
                        match self.restart_after_update(&started, updated).await {
                            Some(restarted) => self.checked(restarted).await,
                            None => {
                                // lull is stopping before the restart step could begin (admission
                                // is open): the request stays running on disk, and recovery at the
                                // next start settles it as interrupted, saying it was updated.
                                tracing::warn!(request = %started.short_id, "stopping while the restart step waits; the update is installed, the gateway was not restarted");
                                return;
                            }
                        }
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
            shared.settings.cooldown,
        ));
        // The steps are over, so runs may begin; reopening before the outcome is recorded means
        // whoever sees the request finished is also admitted (no 409 `executing` after
        // `succeeded`). This task starts nothing else until it returns.
        gate.reopen();
        // The gateway just came back: a fresh idle window starts for whatever comes next.
        shared.tracker.note_activity();
        if let Err(error) = shared
            .store
            .finish(started.id, event, result, SCHEDULER)
            .await
        {
            // It stays `running` on disk; recovery on the next boot marks it interrupted.
            tracing::error!(request = %started.short_id, %error, "could not record the outcome");
            return;
        }
        // Settled now rather than at the next look, which a shutdown right after the
        // execution would skip: the slot goes back (or is kept) as soon as the outcome is known.
        if let Err(error) = self.settle_fleet_hold().await {
            tracing::error!(%error, "could not settle the fleet slot; the next look tries again");
        }
    }
}

impl Scheduler {
    /// A successful restart counts only once the health check (if configured) passes.
    async fn checked(&self, restarted: StepOutcome) -> StepOutcome {
        let restarted = match restarted {
            StepOutcome::Done(result) => StepOutcome::Done(RunResult {
                restarted: true,
                ..result
            }),
            other => other,
        };
        let (StepOutcome::Done(result), Some(health)) = (&restarted, &self.shared.health) else {
            return restarted;
        };
        match health.run(&self.shared.store).await {
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
pub(super) fn merge_results(updated: RunResult, restarted: RunResult) -> RunResult {
    RunResult {
        version_before: restarted.version_before.or(updated.version_before),
        version_after: restarted.version_after.or(updated.version_after),
        message: restarted.message.or(updated.message),
        ..restarted
    }
}
