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
    /// Whether the executor can update (`executor.update` is configured); if not, update asks are refused.
    pub update_available: bool,
    /// `maintenance.audit_retention_days`: audit entries about no request (pauses, refusals,
    /// delivered notices) are pruned once older; those of a request go with it.
    pub audit_retention: std::time::Duration,
    /// The most audit entries about no request kept, whatever their age, so a flood (of refused
    /// strangers, say) cannot grow the log without bound.
    pub max_unowned_audit: usize,
}

impl QueueSettings {
    /// The default of `maintenance.history_limit`.
    pub const DEFAULT_HISTORY_LIMIT: usize = 1000;
    /// The default of `maintenance.audit_retention_days`, 30 days.
    pub const DEFAULT_AUDIT_RETENTION: std::time::Duration =
        std::time::Duration::from_secs(30 * 24 * 3600);
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            agent_requests: AgentRequests::Queue,
            history_limit: Self::DEFAULT_HISTORY_LIMIT,
            update_available: true,
            audit_retention: Self::DEFAULT_AUDIT_RETENTION,
            max_unowned_audit: 10_000,
        }
    }
}

/// The scheduler's share of the configuration (`[maintenance]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerSettings {
    /// `max_wait_seconds`: after this long without becoming eligible, admins are asked (once per period).
    pub max_wait: std::time::Duration,
    /// `cooldown_seconds`: the least time between the end of one execution and the start of the next.
    pub cooldown: std::time::Duration,
    /// `max_executions_per_hour` (1 or more).
    pub max_executions_per_hour: u32,
    /// `approval_expiry_seconds`: a request awaiting approval this long is rejected.
    pub approval_expiry: std::time::Duration,
    /// `windows` in `timezone`: when a request may start (always, when none are configured).
    pub windows: crate::window::Windows,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        use std::time::Duration;
        Self {
            max_wait: Duration::from_secs(86_400),
            cooldown: Duration::from_secs(300),
            max_executions_per_hour: 3,
            approval_expiry: Duration::from_secs(3600),
            windows: crate::window::Windows::always(),
        }
    }
}
