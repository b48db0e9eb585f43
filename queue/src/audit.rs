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

/// An audit entry about no request, to be written in the same transaction as the change it
/// explains (a notice a relay delivered, a relayed command's answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditNote {
    /// Who: `platform:user (via …)`.
    pub actor: String,
    /// What, e.g. `notice_delivered`.
    pub action: String,
    /// Details for people.
    pub detail: String,
}

impl AuditNote {
    /// A note by `actor` of `action`, with `detail`.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            actor: actor.into(),
            action: action.into(),
            detail: detail.into(),
        }
    }
}
