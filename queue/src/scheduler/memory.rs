//! What the scheduler remembers between wake-ups: persisted deadlines converted once to the
//! monotonic clock, executions of the last hour, and what it already reported.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use crate::deadline::{FAR_FUTURE, later, monotonic_deadline};
use crate::drain::Drain;
use crate::error::Error;
use crate::escalation::LastEscalation;
use crate::id::RequestId;
use crate::pause::Pause;
use crate::request::{Request, State};
use crate::settings::SchedulerSettings;
use crate::store::Store;
use crate::timestamp::Timestamp;
use crate::window::Windows;

const HOUR: Duration = Duration::from_secs(3600);

/// The scheduler's in-process state between looks (not an in-memory store): lost when lull
/// stops, rebuilt from the store at start; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// When the cooldown after the last execution ends.
    pub(crate) cooldown_until: Option<Instant>,
    /// When each execution of the last hour leaves the hourly window, oldest first.
    pub(crate) hour_window: Vec<Instant>,
    pause: Option<(Pause, Option<Instant>)>,
    drain: Option<(Drain, Instant)>,
    approval: Option<((RequestId, Timestamp), Instant)>,
    /// The request, whether it ignores windows (which changes how its wait is counted), and
    /// when admins are next asked about it.
    escalation: Option<((RequestId, bool), Instant)>,
    /// The request and blocker kinds of the last `Waiting` event, to publish only changes.
    pub(crate) last_waiting: Option<(RequestId, Vec<&'static str>)>,
    /// Runs (session, since) already reported as wedged.
    pub(crate) wedged_reported: HashSet<(String, Timestamp)>,
    /// `[fleet]`: what this process knows of its slot (see `fleet_slot.rs`).
    pub(crate) fleet: FleetMemory,
}

/// What the scheduler remembers of its fleet slot between looks.
#[derive(Debug, Default)]
pub(crate) struct FleetMemory {
    /// A slot granted for the open request that has not started yet.
    pub(crate) granted: Option<crate::fleet::FleetHold>,
    /// Why the last try got no slot, and until when that answer stands.
    pub(crate) waiting: Option<FleetWait>,
    /// The next retry's delay after a refusal or an unreachable service (bounded backoff).
    pub(crate) backoff: crate::backoff::Backoff,
    /// The persisted hold was taken up (or found lost) by this process.
    pub(crate) resumed: bool,
    /// A slot of this replica's id from a previous life was freed (or none was persisted).
    pub(crate) stale_released: bool,
    /// When the admins are next reminded of a kept slot.
    pub(crate) kept_prompt_at: Option<Instant>,
    /// When to retry giving back or taking up the persisted hold after the service failed.
    pub(crate) settle_retry_at: Option<Instant>,
    /// The backoff of those retries.
    pub(crate) settle_backoff: crate::backoff::Backoff,
    /// What the lock service said when settling last failed, for status.
    pub(crate) settle_error: Option<String>,
}

/// Why the last try got no slot, until when that answer stands.
#[derive(Clone, Debug)]
pub(crate) struct FleetWait {
    /// The blocker status shows.
    pub(crate) blocker: crate::blocker::Blocker,
    /// When to try again.
    pub(crate) until: Instant,
    /// The backend's change counter then: a change (etcd's watch) ends the wait early.
    /// `None`: only the time does (a backoff after a failure).
    pub(crate) seen: Option<u64>,
    /// It waits for what the previous process left to be settled.
    pub(crate) settling: bool,
}

impl Memory {
    /// Loads the persisted deadlines that outlive a restart: the cooldown and the hourly window.
    pub(crate) fn boot(
        store: &Store,
        settings: &SchedulerSettings,
        now: Instant,
    ) -> Result<Self, Error> {
        let now_wall = store.now();
        let cooldown_until = store.last_execution_end()?.map(|end| {
            monotonic_deadline(
                now,
                now_wall,
                end.saturating_add(settings.cooldown),
                settings.cooldown,
            )
        });
        let hour_ago = Timestamp::from_unix_millis(
            now_wall
                .unix_millis()
                .saturating_sub(HOUR.as_millis() as u64),
        );
        let hour_window = store
            .executions_since(hour_ago)?
            .into_iter()
            .map(|(started, _)| {
                monotonic_deadline(now, now_wall, started.saturating_add(HOUR), HOUR)
            })
            .collect();
        Ok(Self {
            cooldown_until,
            hour_window,
            ..Self::default()
        })
    }

    /// Records an execution that starts now.
    pub(crate) fn executed(&mut self, now: Instant) {
        self.hour_window.retain(|d| *d > now);
        self.hour_window.push(now + HOUR);
    }

    /// The pause's end on the monotonic clock (`None`: until resumed), converted once per pause.
    pub(crate) fn pause_end(
        &mut self,
        pause: &Pause,
        now: Instant,
        now_wall: Timestamp,
    ) -> Option<Instant> {
        match &self.pause {
            Some((cached, end)) if cached == pause => *end,
            _ => {
                let end = pause.until.map(|until| {
                    let longest = until.saturating_since(pause.since);
                    monotonic_deadline(now, now_wall, until, longest)
                });
                self.pause = Some((pause.clone(), end));
                end
            }
        }
    }

    /// The drain's end on the monotonic clock, converted once per drain.
    pub(crate) fn drain_end(
        &mut self,
        drain: &Drain,
        now: Instant,
        now_wall: Timestamp,
    ) -> Instant {
        match &self.drain {
            Some((cached, end)) if cached == drain => *end,
            _ => {
                let longest = drain.until.saturating_since(drain.since);
                let end = monotonic_deadline(now, now_wall, drain.until, longest);
                self.drain = Some((drain.clone(), end));
                end
            }
        }
    }

    /// When an approval-awaiting request expires, converted once per wait for approval.
    pub(crate) fn approval_deadline(
        &mut self,
        request: &Request,
        expiry: Duration,
        now: Instant,
        now_wall: Timestamp,
    ) -> Option<Instant> {
        if request.state != State::AwaitingApproval {
            return None;
        }
        let key = (request.id, request.state_since());
        match &self.approval {
            Some((cached, deadline)) if *cached == key => Some(*deadline),
            _ => {
                let deadline =
                    monotonic_deadline(now, now_wall, key.1.saturating_add(expiry), expiry);
                self.approval = Some((key, deadline));
                Some(deadline)
            }
        }
    }

    /// When admins should next be asked about `request`: after `max_wait` of time inside the
    /// maintenance windows since it was created, or since admins were last asked about it
    /// (`last`, persisted), then once per such period.
    pub(crate) fn escalation_deadline(
        &mut self,
        request: &Request,
        last: Option<&LastEscalation>,
        wait: &Wait<'_>,
    ) -> Instant {
        let key = (request.id, request.ignore_windows);
        match &self.escalation {
            Some((cached, deadline)) if *cached == key => *deadline,
            _ => {
                let since = last
                    .filter(|l| l.request == request.id)
                    .map_or(request.created_at, |l| l.at);
                let deadline = wait.deadline_after(since);
                self.escalation = Some((key, deadline));
                deadline
            }
        }
    }

    /// Admins were asked now; returns when they are next asked, one period later.
    pub(crate) fn escalated(&mut self, request: &Request, wait: &Wait<'_>) -> Instant {
        let next = wait.deadline_after(wait.now_wall);
        self.escalation = Some(((request.id, request.ignore_windows), next));
        next
    }
}

/// How long a request may wait before admins are asked, and the clocks to count it on.
pub(crate) struct Wait<'a> {
    /// `max_wait_seconds`, counted only inside the maintenance windows.
    pub(crate) max: Duration,
    /// The windows the request must start in.
    pub(crate) windows: &'a Windows,
    pub(crate) now: Instant,
    pub(crate) now_wall: Timestamp,
}

impl Wait<'_> {
    /// The monotonic instant at which `max` of window time has passed since `since`.
    fn deadline_after(&self, since: Timestamp) -> Instant {
        match self.windows.after_open_time(since, self.max) {
            // Clamped to the stretch it spans, so a wall clock that jumped cannot stretch it.
            Some(at) => monotonic_deadline(self.now, self.now_wall, at, at.saturating_since(since)),
            None => later(self.now, FAR_FUTURE),
        }
    }
}
