//! The durable outbox: notices written by the queue's users and removed only once delivered.

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// One notice waiting for delivery. The queue does not look inside `payload`: the plugin decides
/// what a notice is and where it goes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Position in the outbox; delivery confirms by this number.
    pub seq: u64,
    /// When the notice was written.
    pub created_at: Timestamp,
    /// The notice.
    pub payload: serde_json::Value,
}
