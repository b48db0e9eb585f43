//! The persisted proof of a self restart: which request re-executed lull, with which one-time
//! token, and when. The new process holds the token in its environment; `recover()` compares.

use serde::{Deserialize, Serialize};

use crate::id::RequestId;
use crate::timestamp::Timestamp;

/// Written (and flushed) just before the process re-executes itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartMarker {
    /// The running request that asked for the restart.
    pub request: RequestId,
    /// The one-time token handed to the new process in `LULL_RESTART_TOKEN`.
    pub token: String,
    /// When the old process began to stop.
    pub at: Timestamp,
}
