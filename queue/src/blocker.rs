//! Why a request cannot run yet: one value per unmet condition, as status and events show them.

use serde::{Deserialize, Serialize};

use crate::fleet::FleetHolder;
use crate::timestamp::Timestamp;

/// One unmet condition. Serialized as docs/design.md's `{"kind": …, …details, "remaining_seconds"?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Blocker {
    /// Agent runs are live; the request waits for all of them to end.
    LiveRuns {
        /// How many.
        count: u64,
        /// Their sessions (`platform:chat`).
        sessions: Vec<String>,
    },
    /// The gateway has not been idle for the request's window yet.
    IdleWindow {
        /// The window.
        idle_seconds: u64,
        /// Idle so far.
        idle_for_seconds: u64,
        /// Until the window is complete.
        remaining_seconds: u64,
    },
    /// lull started recently; runtimes have until the lease TTL to re-announce their runs.
    BootGrace {
        /// Until the grace ends.
        remaining_seconds: u64,
    },
    /// No activity source has reported since lull started: lull cannot know whether chats are live.
    NoActivitySource,
    /// Activity sources went silent: lull cannot tell whether chats are live.
    ActivitySourceSilent {
        /// The silent sources.
        sources: Vec<String>,
        /// How long the longest-silent one has been silent.
        silent_for_seconds: u64,
    },
    /// The host said it is draining.
    HostDraining {
        /// Until the drain expires.
        remaining_seconds: u64,
    },
    /// Maintenance is executing; admission is closed.
    Executing,
    /// An admin paused all execution.
    Paused {
        /// When the pause ends by itself, if it does.
        until: Option<Timestamp>,
        /// Until then.
        #[serde(skip_serializing_if = "Option::is_none")]
        remaining_seconds: Option<u64>,
    },
    /// Too soon after the last execution.
    Cooldown {
        /// Until the cooldown ends.
        remaining_seconds: u64,
    },
    /// `max_executions_per_hour` reached.
    RateLimit {
        /// The cap.
        max_per_hour: u32,
        /// Until the oldest execution of the last hour drops out.
        remaining_seconds: u64,
    },
    /// The request waits for an admin's approval.
    AwaitingApproval {
        /// Until the approval expires and the request is rejected.
        remaining_seconds: u64,
    },
    /// Runs live longer than `wedged_after_seconds`; they still block until they end or an admin releases them.
    Wedged {
        /// Their sessions.
        sessions: Vec<String>,
    },
    /// Outside every maintenance window (`maintenance.windows`).
    OutsideWindow {
        /// The next opening (UTC); `null` if none opens within two weeks.
        next_opening: Option<Timestamp>,
        /// The same in the windows' zone, with its offset (`2026-12-03T02:00:00+01:00`).
        next_opening_local: Option<String>,
        /// The windows' zone (`Europe/Berlin`).
        timezone: String,
        /// Until the next opening.
        #[serde(skip_serializing_if = "Option::is_none")]
        remaining_seconds: Option<u64>,
    },
    /// `[fleet]`: every slot of the group is held by other replicas restarting.
    FleetSlot {
        /// Who holds them, when the lock service tells (FleetLock does not).
        holders: Vec<FleetHolder>,
        /// What the lock service said, if anything (FleetLock's `kind: value`).
        #[serde(skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
    },
    /// `[fleet]`: the lock service cannot be reached; lull waits rather than restart without a slot.
    FleetUnreachable {
        /// The error.
        error: String,
    },
}

impl Blocker {
    /// The blocker's kind as in JSON (`live_runs`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Blocker::LiveRuns { .. } => "live_runs",
            Blocker::IdleWindow { .. } => "idle_window",
            Blocker::BootGrace { .. } => "boot_grace",
            Blocker::NoActivitySource => "no_activity_source",
            Blocker::ActivitySourceSilent { .. } => "activity_source_silent",
            Blocker::HostDraining { .. } => "host_draining",
            Blocker::Executing => "executing",
            Blocker::Paused { .. } => "paused",
            Blocker::Cooldown { .. } => "cooldown",
            Blocker::RateLimit { .. } => "rate_limit",
            Blocker::AwaitingApproval { .. } => "awaiting_approval",
            Blocker::Wedged { .. } => "wedged",
            Blocker::OutsideWindow { .. } => "outside_window",
            Blocker::FleetSlot { .. } => "fleet_slot",
            Blocker::FleetUnreachable { .. } => "fleet_unreachable",
        }
    }

    /// Seconds until this blocker ends by itself, or `None` if only an outside event ends it.
    pub fn remaining_seconds(&self) -> Option<u64> {
        match self {
            Blocker::IdleWindow {
                remaining_seconds, ..
            }
            | Blocker::BootGrace { remaining_seconds }
            | Blocker::HostDraining { remaining_seconds }
            | Blocker::Cooldown { remaining_seconds }
            | Blocker::RateLimit {
                remaining_seconds, ..
            } => Some(*remaining_seconds),
            Blocker::Paused {
                remaining_seconds, ..
            }
            | Blocker::OutsideWindow {
                remaining_seconds, ..
            } => *remaining_seconds,
            Blocker::LiveRuns { .. }
            | Blocker::NoActivitySource
            | Blocker::ActivitySourceSilent { .. }
            | Blocker::Executing
            | Blocker::AwaitingApproval { .. }
            | Blocker::Wedged { .. }
            | Blocker::FleetSlot { .. }
            | Blocker::FleetUnreachable { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_a_kind_tag() {
        let json = serde_json::to_value(Blocker::IdleWindow {
            idle_seconds: 1200,
            idle_for_seconds: 480,
            remaining_seconds: 720,
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "idle_window", "idle_seconds": 1200, "idle_for_seconds": 480, "remaining_seconds": 720})
        );
        assert_eq!(
            serde_json::to_value(Blocker::NoActivitySource).unwrap(),
            serde_json::json!({"kind": "no_activity_source"})
        );
    }
}
