//! The queue's share of the configuration: how agent asks are treated and how much history is kept.

use serde::{Deserialize, Serialize};

/// What happens to a request an agent asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentRequests {
    /// Agents' requests are queued at once.
    #[default]
    Queue,
    /// Agents' requests wait for an admin's approval.
    Approve,
}

/// Settings the store applies to every change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    /// `maintenance.agent_requests`.
    pub agent_requests: AgentRequests,
    /// `maintenance.history_limit`: finished requests kept; older ones and their audit entries are pruned.
    pub history_limit: usize,
}

impl QueueSettings {
    /// The default of `maintenance.history_limit`.
    pub const DEFAULT_HISTORY_LIMIT: usize = 1000;
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            agent_requests: AgentRequests::Queue,
            history_limit: Self::DEFAULT_HISTORY_LIMIT,
        }
    }
}
