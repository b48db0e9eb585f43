//! The persisted host drain: the host says it is draining for its own reasons, until a deadline.

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// The host is draining; nothing starts until `until` or until the host ends the drain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drain {
    /// When the drain was announced.
    pub since: Timestamp,
    /// When it expires by itself.
    pub until: Timestamp,
    /// Who announced it.
    pub by: String,
}
