//! The persisted time admins were last asked about a request that waits too long, so that
//! "one prompt per period" holds across restarts of lull.

use serde::{Deserialize, Serialize};

use crate::id::RequestId;
use crate::timestamp::Timestamp;

/// When admins were last asked about `request`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastEscalation {
    /// The request.
    pub request: RequestId,
    /// When the prompt went out.
    pub at: Timestamp,
}
