//! The leases an external runtime holds for its runs: what a grant and a heartbeat answer, who
//! may act on a lease (a run belongs to whoever began it), and why a call is refused.

use std::time::Duration;

use crate::admission::Executing;

/// A heartbeat or end named a lease lull no longer honours.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    /// The lease expired (or an admin released it); the runtime must begin the run again.
    #[error(
        "lease {0} is no longer live (it expired, ended or was released); begin the run again with POST /v1/runs"
    )]
    Expired(String),
    /// Admission is closed.
    #[error(transparent)]
    Executing(#[from] Executing),
    /// The lease was begun by another caller, and this one is no admin: the run stays.
    #[error(
        "lease {lease} was begun by another caller ({owner}); only a caller with that credential, or an admin, may heartbeat or end it"
    )]
    NotYours {
        /// The lease.
        lease: String,
        /// The credential that began it.
        owner: String,
    },
}

/// Who heartbeats or ends a lease: the credential it acts with (the control API's words:
/// `socket`, `admin`, `agent`, `relay`), and whether it may act on any lease (an admin). A run
/// belongs to whoever began it, so one agent-token holder cannot end every live run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseCaller<'a> {
    /// The credential, recorded as the owner of the leases it begins.
    pub owner: &'a str,
    /// An admin may heartbeat and end any lease.
    pub admin: bool,
}

impl LeaseCaller<'_> {
    pub(super) fn may_act_on(&self, owner: &str) -> bool {
        self.admin || self.owner == owner
    }
}

/// What a heartbeat did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease was live and is renewed.
    Renewed,
    /// lull did not know the lease (it restarted) and registered it again.
    Reregistered,
}

/// A lease granted to an external runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseGrant {
    /// The lease id to heartbeat and end.
    pub lease: String,
    /// Heartbeat at least this often.
    pub ttl: Duration,
}
