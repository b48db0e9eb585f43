//! The persisted pause of all execution.

use serde::{Deserialize, Serialize};

use crate::timestamp::Timestamp;

/// Execution is paused: no request starts until `until` passes or an admin resumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// When the pause began.
    pub since: Timestamp,
    /// When it ends by itself; `None` pauses until resumed.
    pub until: Option<Timestamp>,
    /// Who paused: `platform:user` or `lull` (crash-loop protection).
    pub by: String,
    /// Why, for status.
    #[serde(default)]
    pub reason: String,
}

impl Pause {
    /// Whether the pause still holds at `now`.
    pub fn holds_at(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}
