//! Events the queue and the scheduler publish, each carrying the request (and so its requesters)
//! so adapters can answer in the chat each requester came from.

use crate::blocker::Blocker;
use crate::dedupe::Merge;
use crate::drain::Drain;
use crate::pause::Pause;
use crate::request::Request;
use crate::requester::Requester;
use crate::timestamp::Timestamp;

/// Something that happened to the queue. Published after it is durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueEvent {
    /// A new request was opened (queued, or awaiting approval).
    Queued {
        /// The request.
        request: Request,
    },
    /// An ask joined the open request.
    Merged {
        /// The request after the merge.
        request: Request,
        /// What the merge changed.
        merge: Merge,
    },
    /// An admin approved a request.
    Approved {
        /// The request.
        request: Request,
    },
    /// An admin rejected a request.
    Rejected {
        /// The request.
        request: Request,
    },
    /// A request was cancelled.
    Cancelled {
        /// The request.
        request: Request,
    },
    /// A requester withdrew; others still want the request.
    Withdrawn {
        /// The request after the withdrawal.
        request: Request,
    },
    /// A request's approval expired; it is rejected with "approval expired".
    Expired {
        /// The request.
        request: Request,
    },
    /// The scheduler looked and the open request cannot run yet (published when the set of
    /// blocker kinds changes).
    Waiting {
        /// The request.
        request: Request,
        /// Why.
        blockers: Vec<Blocker>,
    },
    /// The scheduler started a request: admission is closed and the executor runs.
    Starting {
        /// The request.
        request: Request,
    },
    /// A running request moved to its restart step.
    Restarting {
        /// The request.
        request: Request,
    },
    /// An update was installed; its restart step waits to begin (no run live, not paused or
    /// drained, and inside a maintenance window, if any are configured).
    AwaitingRestart {
        /// The request.
        request: Request,
        /// Outside every window: the next opening, if one is known.
        window_opens: Option<Timestamp>,
        /// The same as people read it in the windows' zone (`Thu 2026-12-03 02:00 CET`).
        window_opens_local: Option<String>,
    },
    /// A request succeeded.
    Succeeded {
        /// The request.
        request: Request,
    },
    /// A request failed.
    Failed {
        /// The request.
        request: Request,
    },
    /// lull died while a request ran; it will not be re-run on its own.
    Interrupted {
        /// The request.
        request: Request,
    },
    /// A request waited `max_wait_seconds` without becoming eligible: admins should decide.
    Escalated {
        /// The request.
        request: Request,
        /// What still blocks it.
        blockers: Vec<Blocker>,
    },
    /// Execution was paused.
    Paused {
        /// The pause.
        pause: Pause,
    },
    /// Execution was resumed (by an admin, or the pause ended by itself).
    Resumed {
        /// Who resumed, or `scheduler` when the pause ran out.
        by: String,
    },
    /// The host drain was set (`Some`) or ended (`None`).
    Drain {
        /// The drain.
        drain: Option<Drain>,
    },
    /// A run lease got no heartbeat within the lease TTL and expired (counted as activity).
    LeaseExpired {
        /// The run's session.
        session: String,
        /// The lease.
        lease: String,
    },
    /// A run has been live longer than `wedged_after_seconds`.
    Wedged {
        /// The run's session.
        session: String,
        /// When it began.
        since: Timestamp,
    },
    /// Health checks failed `crash_loop_limit` times in a row: maintenance is paused; admins must look.
    CrashLoop {
        /// Failures in a row.
        failures: u64,
        /// The pause lull set.
        pause: Pause,
    },
    /// An admin released a wedged run's hold.
    Released {
        /// The session.
        session: String,
        /// Who released it.
        by: String,
    },
    /// `[fleet]`: this replica keeps its fleet slot after an execution that may have left the
    /// gateway down (a failed health check, an interrupted run); the other replicas wait until
    /// an admin looks and releases it. Repeated once per `max_wait` while kept.
    FleetSlotKept {
        /// Why it is kept.
        reason: String,
    },
    /// `[fleet]`: a slot this replica held lapsed (its etcd lease expired while lull was away).
    FleetSlotLost {
        /// What was lost.
        detail: String,
    },
    /// `[fleet]`: an admin released this replica's kept slot.
    FleetSlotReleased {
        /// Who released it.
        by: String,
    },
}

impl QueueEvent {
    /// The request the event is about, if any.
    pub fn request(&self) -> Option<&Request> {
        match self {
            QueueEvent::Queued { request }
            | QueueEvent::Merged { request, .. }
            | QueueEvent::Approved { request }
            | QueueEvent::Rejected { request }
            | QueueEvent::Cancelled { request }
            | QueueEvent::Withdrawn { request }
            | QueueEvent::Expired { request }
            | QueueEvent::Waiting { request, .. }
            | QueueEvent::Starting { request }
            | QueueEvent::Restarting { request }
            | QueueEvent::AwaitingRestart { request, .. }
            | QueueEvent::Succeeded { request }
            | QueueEvent::Failed { request }
            | QueueEvent::Interrupted { request }
            | QueueEvent::Escalated { request, .. } => Some(request),
            QueueEvent::Paused { .. }
            | QueueEvent::Resumed { .. }
            | QueueEvent::Drain { .. }
            | QueueEvent::LeaseExpired { .. }
            | QueueEvent::Wedged { .. }
            | QueueEvent::CrashLoop { .. }
            | QueueEvent::Released { .. }
            | QueueEvent::FleetSlotKept { .. }
            | QueueEvent::FleetSlotLost { .. }
            | QueueEvent::FleetSlotReleased { .. } => None,
        }
    }

    /// The requesters to answer, in the chats they asked from.
    pub fn requesters(&self) -> &[Requester] {
        self.request().map_or(&[], |r| r.requested_by.as_slice())
    }

    /// Events the scheduler itself publishes about waiting; they do not wake it.
    pub(crate) fn is_scheduler_report(&self) -> bool {
        matches!(
            self,
            QueueEvent::Waiting { .. }
                | QueueEvent::Escalated { .. }
                | QueueEvent::Wedged { .. }
                | QueueEvent::FleetSlotKept { .. }
        )
    }
}
