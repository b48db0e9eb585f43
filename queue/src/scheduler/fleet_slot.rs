//! The scheduler's fleet slot (`[fleet]`, see [`crate::fleet`]): taking one for a locally
//! eligible request while admission is still open, verifying it once admission is closed, and
//! settling the persisted hold afterwards: given back once the gateway is healthy or nothing
//! went down, kept (and the admins asked, once per `max_wait`) otherwise.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Scheduler;
use super::memory::FleetWait;
use crate::backoff::FIRST_BACKOFF;
use crate::blocker::Blocker;
use crate::error::Error;
use crate::events::QueueEvent;
use crate::fleet::{Attempt, FleetError, FleetHold, FleetLock};
use crate::request::State;

/// How long a watched backend's "busy" stands without a change, in case a watch event was lost.
const WATCHED_RECHECK: Duration = Duration::from_secs(30);
/// The actor of the fleet changes lull makes on its own.
const LULL: &str = "lull";

/// Whether a locally eligible request may close admission as far as the fleet goes.
pub(super) enum SlotCheck {
    /// Yes: with this hold (`None` without `[fleet]`).
    Ready(Option<FleetHold>),
    /// The facts changed while the lock service answered (a slot was granted, or a kept one
    /// found lost): look again with fresh facts before closing admission.
    LookAgain,
    /// No slot: why, and when to try again (a backend change also wakes the scheduler).
    Waiting(Blocker, Instant),
}

impl Scheduler {
    pub(super) fn fleet(&self) -> Option<&Arc<dyn FleetLock>> {
        self.shared.fleet.get()
    }

    /// The slot for the open request, which is locally eligible now. Never waits for one: a
    /// busy fleet is a blocker like any other, and admission stays open meanwhile. Every call
    /// to the lock service here happens with admission open.
    pub(super) async fn check_slot(&self) -> Result<SlotCheck, Error> {
        let Some(fleet) = self.fleet() else {
            return Ok(SlotCheck::Ready(None));
        };
        if let Some(granted) = self.memory().fleet.granted.clone() {
            return Ok(SlotCheck::Ready(Some(granted)));
        }
        let now = Instant::now();
        let changes = *fleet.changes().borrow();
        // What the previous process left (a slot to take up, or a stale one to free) is
        // settled first; an update's restart step gets here while its request runs, so it
        // settles here too rather than only between executions.
        if !self.fleet_settled()? {
            let retry = self.settle_fleet_hold().await?;
            if !self.fleet_settled()? {
                let until = retry.unwrap_or_else(|| super::later(now, FIRST_BACKOFF));
                let error = self.memory().fleet.settle_error.clone().unwrap_or_default();
                let blocker = Blocker::FleetUnreachable {
                    error: format!(
                        "settling this replica's slot from before its last stop: {error}"
                    ),
                };
                self.memory().fleet.waiting = Some(FleetWait {
                    blocker: blocker.clone(),
                    until,
                    seen: None,
                    settling: true,
                });
                return Ok(SlotCheck::Waiting(blocker, until));
            }
        }
        if let Some(wait) = &self.memory().fleet.waiting
            && !wait.settling
            && now < wait.until
            && wait.seen.is_none_or(|seen| seen == changes)
        {
            return Ok(SlotCheck::Waiting(wait.blocker.clone(), wait.until));
        }
        // A slot this replica still holds (kept after a failed restart) is its own: a new
        // request may use it and gives it back once healthy. It is checked here, with
        // admission open, then verified again once admission is closed, like a grant.
        if let Some(held) = self.shared.store.fleet_hold()? {
            return Ok(match fleet.verify(&held).await {
                Ok(()) => SlotCheck::Ready(Some(held)),
                Err(error) => {
                    self.slot_failed(fleet, &held, &error).await;
                    let wait = self.memory().fleet.waiting.clone();
                    match wait {
                        Some(wait) => SlotCheck::Waiting(wait.blocker, wait.until),
                        None => SlotCheck::LookAgain,
                    }
                }
            });
        }
        Ok(match fleet.try_acquire().await {
            Ok(Attempt::Granted(hold)) => {
                tracing::info!(key = %hold.key, token = ?hold.token, "fleet slot granted");
                let mut memory = self.memory();
                memory.fleet.granted = Some(hold);
                memory.fleet.waiting = None;
                memory.fleet.backoff.reset();
                SlotCheck::LookAgain
            }
            Ok(Attempt::Busy {
                holders,
                detail,
                retry_after,
            }) => self.fleet_waiting(
                Blocker::FleetSlot { holders, detail },
                Some(retry_after.unwrap_or(WATCHED_RECHECK)),
                Some(changes),
            ),
            Err(error) => {
                tracing::warn!(%error, "could not ask the fleet lock service for a slot");
                // The server may have granted it and the answer got lost (FleetLock has no
                // TTL): free whatever this id may hold before the next try.
                self.memory().fleet.stale_released = false;
                self.fleet_waiting(
                    Blocker::FleetUnreachable {
                        error: error.to_string(),
                    },
                    None,
                    None,
                )
            }
        })
    }

    /// Whether what the previous process left is settled: a stale slot freed, and a persisted
    /// hold taken up.
    fn fleet_settled(&self) -> Result<bool, Error> {
        let held = self.shared.store.fleet_hold()?.is_some();
        let memory = self.memory();
        Ok(memory.fleet.stale_released && (!held || memory.fleet.resumed))
    }

    /// Remembers why there is no slot; `after` is the backend's own retry time, else the
    /// backoff. `seen`: the change counter that a change ends the wait against (`None`: only
    /// time ends it).
    fn fleet_waiting(
        &self,
        blocker: Blocker,
        after: Option<Duration>,
        seen: Option<u64>,
    ) -> SlotCheck {
        let mut memory = self.memory();
        let after = after.unwrap_or_else(|| memory.fleet.backoff.next_wait());
        let until = Instant::now() + after;
        memory.fleet.waiting = Some(FleetWait {
            blocker: blocker.clone(),
            until,
            seen,
            settling: false,
        });
        SlotCheck::Waiting(blocker, until)
    }

    /// With admission closed and the fleet's lock taken: checks the hold is still ours. On
    /// failure nothing starts.
    pub(super) async fn verify_slot(&self, hold: &FleetHold) -> bool {
        let Some(fleet) = self.fleet() else {
            return true;
        };
        self.memory().fleet.granted = None;
        match fleet.verify(hold).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, key = %hold.key, "the fleet slot did not verify; not starting");
                let detail = format!("{} ({error}); nothing was started", hold.key);
                if let Err(error) = self
                    .shared
                    .store
                    .record(LULL, "fleet_verify_failed", detail, None)
                    .await
                {
                    tracing::warn!(%error, "could not audit the failed verification");
                }
                self.slot_failed(fleet, hold, &error).await;
                false
            }
        }
    }

    /// A hold could not be used: a fresh grant goes back; a persisted one found lost is
    /// forgotten (recorded `fleet_slot_lost`); one the service did not answer about stays. The
    /// next try waits a backoff whatever the watch says (our own give-back is news to it).
    async fn slot_failed(&self, fleet: &Arc<dyn FleetLock>, hold: &FleetHold, error: &FleetError) {
        let persisted = hold.request.is_some();
        if !persisted {
            self.give_back(fleet, hold).await;
        } else if let FleetError::Lost(why) = error {
            let detail = format!("{} in group {}: {why}", hold.key, hold.group);
            tracing::warn!("the fleet slot this replica kept is gone: {detail}");
            if let Err(error) = self
                .shared
                .store
                .clear_fleet_hold(
                    LULL,
                    "fleet_slot_lost",
                    detail.clone(),
                    Some(QueueEvent::FleetSlotLost { detail }),
                )
                .await
            {
                tracing::warn!(%error, "could not forget the lost fleet slot");
            }
            // Nothing to wait for: the next look asks for a fresh slot.
            self.memory().fleet.waiting = None;
            return;
        }
        let blocker = match error {
            FleetError::Lost(why) => Blocker::FleetSlot {
                holders: Vec::new(),
                detail: Some(format!("the slot granted was lost before the start: {why}")),
            },
            FleetError::Unreachable(e) => Blocker::FleetUnreachable { error: e.clone() },
        };
        let _ = self.fleet_waiting(blocker, None, None);
    }

    /// Whether `hold` may still be used: a fresh grant always; a persisted one only while the
    /// store still has it (an admin may have released it). A store that cannot be read says no.
    pub(super) fn still_persisted(&self, hold: &FleetHold) -> bool {
        if hold.request.is_none() {
            return true;
        }
        matches!(
            self.shared.store.fleet_hold(),
            Ok(Some(stored)) if stored.key == hold.key && stored.lease == hold.lease && stored.token == hold.token
        )
    }

    /// A slot verified for a start that was then refused: a fresh grant waits for the next
    /// look (which uses it if the request is still eligible, or gives it back); a persisted
    /// hold stays where it is, in the store.
    pub(super) fn unused_slot(&self, hold: Option<FleetHold>) {
        if let Some(hold) = hold
            && hold.request.is_none()
        {
            self.memory().fleet.granted = Some(hold);
        }
    }

    /// The open request is no longer locally eligible (a run began, a pause, it became an
    /// update…): a slot granted for it and not yet used goes back, so other replicas are not
    /// held up by this one's wait.
    pub(super) async fn return_unused_slot(&self) {
        let Some(hold) = self.memory().fleet.granted.take() else {
            return;
        };
        if let Some(fleet) = self.fleet() {
            tracing::info!(key = %hold.key, "no longer eligible locally; giving the fleet slot back");
            self.give_back(fleet, &hold).await;
        }
    }

    /// Gives an unused slot back; if the service did not answer, freeing this id's slots is
    /// retried (with a backoff) before the next try, since FleetLock's never lapse.
    async fn give_back(&self, fleet: &Arc<dyn FleetLock>, hold: &FleetHold) {
        if let Err(error) = fleet.release(hold).await {
            tracing::warn!(%error, key = %hold.key, "could not give the unused fleet slot back; trying again");
            self.memory().fleet.stale_released = false;
        }
    }

    /// Settles the persisted hold between executions: takes it up after a restart of lull,
    /// gives it back once its request succeeded (or never started its command), keeps it for
    /// an admin otherwise, and reminds the admins of a kept slot once per `max_wait`. Returns
    /// when to look again.
    pub(super) async fn settle_fleet_hold(&self) -> Result<Option<Instant>, Error> {
        let Some(fleet) = self.fleet() else {
            return Ok(None);
        };
        let now = Instant::now();
        if let Some(at) = self.memory().fleet.settle_retry_at
            && at > now
        {
            return Ok(Some(at));
        }
        let store = &self.shared.store;
        let Some(hold) = store.fleet_hold()? else {
            if !self.memory().fleet.stale_released {
                match fleet.release_stale().await {
                    Ok(()) => {
                        self.settled_once();
                        self.memory().fleet.stale_released = true;
                    }
                    Err(error) => return Ok(Some(self.settle_failed("free a stale slot", &error))),
                }
            }
            return Ok(None);
        };
        self.memory().fleet.stale_released = true;
        let running = store.running_request()?;
        if hold.request.is_some() && running.as_ref().map(|r| r.id) == hold.request {
            // Its execution is under way in this process.
            return Ok(None);
        }
        if !self.memory().fleet.resumed {
            match fleet.resume(&hold).await {
                Ok(()) => {
                    self.settled_once();
                    self.memory().fleet.resumed = true;
                }
                Err(FleetError::Lost(why)) => {
                    self.settled_once();
                    let detail = format!("{} in group {}: {why}", hold.key, hold.group);
                    tracing::warn!("the fleet slot held before this start lapsed: {detail}");
                    store
                        .clear_fleet_hold(
                            LULL,
                            "fleet_slot_lost",
                            detail.clone(),
                            Some(QueueEvent::FleetSlotLost { detail }),
                        )
                        .await?;
                    self.memory().fleet.resumed = true;
                    return Ok(None);
                }
                Err(error) => return Ok(Some(self.settle_failed("take up the slot", &error))),
            }
        }
        if let Some(reason) = &hold.kept {
            return Ok(Some(self.remind_kept(reason).await?));
        }
        let request = match hold.request {
            Some(id) => store.get(id)?,
            None => None,
        };
        let healthy = request.as_ref().is_none_or(|r| {
            r.state == State::Succeeded || r.result.as_ref().is_some_and(|res| res.not_started)
        });
        if healthy {
            if let Err(error) = fleet.release(&hold).await {
                return Ok(Some(self.settle_failed("give the slot back", &error)));
            }
            let detail = format!("{} in group {}", hold.key, hold.group);
            tracing::info!("fleet slot given back: {detail}");
            store
                .clear_fleet_hold(LULL, "fleet_slot_released", detail, None)
                .await?;
            self.settled_once();
            return Ok(None);
        }
        let reason = match &request {
            Some(r) => match r.state {
                State::Interrupted => format!(
                    "request {} was interrupted mid-execution; the gateway may be down",
                    r.short_id
                ),
                _ => format!(
                    "request {} {}: {}",
                    r.short_id,
                    r.state,
                    r.result
                        .as_ref()
                        .and_then(|res| res.message.clone())
                        .unwrap_or_else(|| "no detail".into())
                ),
            },
            None => "its request is gone".into(),
        };
        tracing::warn!(key = %hold.key, "keeping the fleet slot: {reason}");
        store.keep_fleet_hold(reason).await?;
        self.memory().fleet.kept_prompt_at = Some(super::later(now, self.shared.settings.max_wait));
        Ok(self.memory().fleet.kept_prompt_at)
    }

    /// Reminds the admins of a kept slot when a period passed; returns the next reminder.
    async fn remind_kept(&self, reason: &str) -> Result<Instant, Error> {
        let now = Instant::now();
        let period = self.shared.settings.max_wait;
        let due = *self
            .memory()
            .fleet
            .kept_prompt_at
            .get_or_insert_with(|| super::later(now, period));
        if due > now {
            return Ok(due);
        }
        self.shared
            .store
            .report(QueueEvent::FleetSlotKept {
                reason: reason.to_owned(),
            })
            .await?;
        let next = super::later(now, period);
        self.memory().fleet.kept_prompt_at = Some(next);
        Ok(next)
    }

    fn settle_failed(&self, what: &str, error: &FleetError) -> Instant {
        tracing::warn!(%error, "could not {what} with the fleet lock service; retrying");
        let mut memory = self.memory();
        memory.fleet.settle_error = Some(error.to_string());
        let at = Instant::now() + memory.fleet.settle_backoff.next_wait();
        memory.fleet.settle_retry_at = Some(at);
        at
    }

    /// The lock service answered a settling call: its backoff starts over.
    fn settled_once(&self) {
        let mut memory = self.memory();
        memory.fleet.settle_backoff.reset();
        memory.fleet.settle_retry_at = None;
        memory.fleet.settle_error = None;
        if memory.fleet.waiting.as_ref().is_some_and(|w| w.settling) {
            memory.fleet.waiting = None;
        }
    }

    /// An admin gives this replica's slot back (chat, CLI or API); audited. Refused while the
    /// request it was taken for is executing.
    pub async fn release_fleet_slot(&self, by: &str) -> Result<FleetHold, Error> {
        let Some(fleet) = self.fleet() else {
            return Err(Error::NoFleetSlot(
                "there is no fleet slot to release: [fleet] is not configured here".into(),
            ));
        };
        // Never between the scheduler's verification of this hold and the start it records.
        let _starting = self.shared.fleet_starts.lock().await;
        let store = &self.shared.store;
        let Some(hold) = store.fleet_hold()? else {
            return Err(Error::NoFleetSlot(
                "this replica holds no fleet slot; nothing to release".into(),
            ));
        };
        if hold.kept.is_none()
            && hold.request.is_some()
            && store.running_request()?.map(|r| r.id) == hold.request
        {
            return Err(Error::Conflict(
                "the fleet slot is in use by the request executing now; it is given back when the restart is healthy".into(),
            ));
        }
        match fleet.release(&hold).await {
            Ok(()) | Err(FleetError::Lost(_)) => {}
            Err(error) => {
                return Err(Error::FleetUnavailable(format!(
                    "{error}; the slot was not released, try again"
                )));
            }
        }
        let detail = format!("{} in group {}", hold.key, hold.group);
        store
            .clear_fleet_hold(
                by,
                "fleet_slot_released",
                detail,
                Some(QueueEvent::FleetSlotReleased { by: by.to_owned() }),
            )
            .await?;
        let mut memory = self.memory();
        memory.fleet.kept_prompt_at = None;
        memory.fleet.waiting = None;
        Ok(hold)
    }
}
