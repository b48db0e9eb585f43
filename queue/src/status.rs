//! The status model: everything a person or script needs to see why maintenance waits.

use serde::{Deserialize, Serialize};

use crate::activity::{LiveRunInfo, SourceInfo};
use crate::blocker::Blocker;
use crate::fleet::FleetHold;
use crate::request::Request;
use crate::timestamp::Timestamp;
use crate::window::{WindowState, Windows};

/// The status of one profile, serialized exactly as docs/design.md's "Status JSON".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The profile name.
    pub profile: String,
    /// The open request, if any (a list for forward compatibility; at most one).
    pub open: Vec<Request>,
    /// The running request, if any.
    pub running: Option<Request>,
    /// Live agent runs.
    pub live_runs: Vec<LiveRunInfo>,
    /// Activity sources and when each was last heard.
    pub sources: Vec<SourceInfo>,
    /// Whether the host drain holds.
    pub host_draining: bool,
    /// Whether execution is paused.
    pub paused: bool,
    /// When the pause ends by itself (`null` while not paused or paused until resumed).
    pub paused_until: Option<Timestamp>,
    /// Since when the gateway is idle (`null` while runs are live).
    pub idle_since: Option<Timestamp>,
    /// Why the open request cannot run now (empty if none is open, or it is starting).
    pub blockers: Vec<Blocker>,
    /// The earliest possible start on current facts; `null` when it depends on something outside
    /// lull's clock (a run ending, an approval, a resume, a source reporting).
    pub eta: Option<Timestamp>,
    /// The most recently finished request.
    pub last_finished: Option<Request>,
    /// The maintenance windows, if any are configured (`null`: always open).
    #[serde(default)]
    pub windows: Option<WindowsStatus>,
    /// `[fleet]`: this replica and the slot it holds; absent without `[fleet]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetStatus>,
}

/// This replica in its fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetStatus {
    /// Its id, group and lock service.
    pub replica: String,
    /// The slot it holds (for a restart under way, or kept after a failed one), if any.
    pub hold: Option<FleetHold>,
    /// Why the last try got no slot (`fleet_slot`, `fleet_unreachable`), while a restart step
    /// waits for one: the open request's wait is also among `blockers`, an updated request's
    /// restart step (`awaiting_restart`) only here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Blocker>,
}

/// The configured maintenance windows and where the wall clock is among them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowsStatus {
    /// The zone they are read in (`Europe/Berlin`).
    pub timezone: String,
    /// The entries as configured (`Mon-Fri 02:00-05:00`).
    pub entries: Vec<String>,
    /// Whether a window is open now.
    pub open: bool,
    /// While open: when it closes (`null` if not within two weeks).
    pub closes_at: Option<Timestamp>,
    /// While closed: the next opening, UTC (`null` if none within two weeks).
    pub next_opening: Option<Timestamp>,
    /// The same in the windows' zone, with its offset.
    pub next_opening_local: Option<String>,
}

impl WindowsStatus {
    /// Where `at` is among `windows`; `None` when none are configured.
    pub fn of(windows: &Windows, at: Timestamp) -> Option<Self> {
        if !windows.configured() {
            return None;
        }
        let zone = windows.zone();
        let (open, closes_at, next_opening) = match windows.state(at) {
            WindowState::Always => (true, None, None),
            WindowState::Open { closes } => (true, closes, None),
            WindowState::Closed { opens } => (false, None, opens),
        };
        Some(Self {
            timezone: zone.name().to_owned(),
            entries: windows.entries(),
            open,
            closes_at,
            next_opening,
            next_opening_local: next_opening.map(|o| zone.local(o)),
        })
    }
}
