//! The status model: everything a person or script needs to see why maintenance waits.

use serde::{Deserialize, Serialize};

use crate::activity::{LiveRunInfo, SourceInfo};
use crate::blocker::Blocker;
use crate::request::Request;
use crate::timestamp::Timestamp;

/// The status of one profile, serialized exactly as DESIGN.md's status JSON.
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
}
