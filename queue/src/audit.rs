//! The audit log: who changed what, when, in one monotonic sequence.

use serde::{Deserialize, Serialize};

use crate::id::RequestId;
use crate::timestamp::Timestamp;

/// One accepted change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log; strictly increasing, never reused.
    pub seq: u64,
    /// When the change was made.
    pub at: Timestamp,
    /// Who made it: `platform:user`, `scheduler` or `lull`.
    pub actor: String,
    /// What was done, e.g. `submitted`, `merged`, `upgraded`, `cancelled`, `paused`.
    pub action: String,
    /// The request it concerns, if any; such entries are pruned with their request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestId>,
    /// Details for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}
