//! The tracker's share of the configuration: who reports activity, and how long leases,
//! sources and runs may go before they expire, block or look wedged.

use std::time::Duration;

/// Who tells lull about activity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceMode {
    /// The host links lull and reports runs in-process: the tracker itself is the source.
    Embedded,
    /// A gateway in another process reports over the control API; it must be heard from.
    Sidecar,
}

/// The tracker's share of the configuration.
#[derive(Clone, Copy, Debug)]
pub struct TrackerSettings {
    /// Embedded or sidecar.
    pub mode: SourceMode,
    /// `lease_ttl_seconds`: a lease without heartbeat for this long expires.
    pub lease_ttl: Duration,
    /// `source_ttl_seconds`: a sidecar source silent this long blocks execution.
    pub source_ttl: Duration,
    /// `wedged_after_seconds`: a run live this long is flagged wedged.
    pub wedged_after: Duration,
    /// `max_sources`: the most distinct activity sources lull tracks; one more is refused, so
    /// invented names cannot grow the map without bound.
    pub max_sources: usize,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        Self {
            mode: SourceMode::Embedded,
            lease_ttl: Duration::from_secs(90),
            source_ttl: Duration::from_secs(300),
            wedged_after: Duration::from_secs(7200),
            max_sources: 64,
        }
    }
}
