//! What the tracker shows: live runs and sources as status lists them, and the snapshot the
//! scheduler reads with the gate word it closes admission against.

use tokio::time::Instant;

use super::SourceMode;
use crate::admission::GateWord;
use crate::timestamp::Timestamp;

/// A live run as status shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LiveRunInfo {
    /// `platform:chat`.
    pub session: String,
    /// When it began.
    pub since: Timestamp,
    /// Its lease, for external runs; `null` for in-process guards.
    pub lease: Option<String>,
    /// Live longer than `wedged_after_seconds`.
    pub wedged: bool,
}

/// An activity source as status shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceInfo {
    /// Its name.
    pub name: String,
    /// When it was last heard from.
    pub last_seen: Timestamp,
    /// The credential that announced it last (`socket`, `admin`, `agent`; `lull` for the
    /// embedded tracker).
    #[serde(default)]
    pub announced_by: String,
}

/// Everything the scheduler and status need, read together with the gate word.
#[derive(Clone, Debug)]
pub struct ActivitySnapshot {
    /// The gate word at the time of the snapshot; the scheduler closes admission against it.
    pub word: GateWord,
    /// Live runs with their monotonic start.
    pub runs: Vec<(LiveRunInfo, Instant)>,
    /// Last activity (monotonic and wall).
    pub last_activity: (Instant, Timestamp),
    /// When the tracker started (lull's boot).
    pub boot: Instant,
    /// Sources and when each was last heard (monotonic); empty when embedded.
    pub sources: Vec<(SourceInfo, Instant)>,
    /// The earliest instant a live lease expires without a heartbeat.
    pub next_lease_expiry: Option<Instant>,
    /// Embedded or sidecar.
    pub mode: SourceMode,
}
