//! lull-queue: the durable maintenance-request queue.
//!
//! It knows nothing of chat platforms. It stores requests in sled ([`Store`]), moves them
//! through the state machine of [`request`], applies the dedupe rules of [`dedupe`], and keeps
//! the audit log and the records later layers need across restarts (pause, executions, seen
//! platform event ids, the notice outbox).

pub mod activity;
pub mod admission;
pub mod audit;
pub mod blocker;
pub mod clock;
pub mod deadline;
pub mod dedupe;
pub mod drain;
mod eligibility;
pub mod error;
pub mod escalation;
pub mod events;
pub mod executor;
pub mod health;
pub mod id;
pub mod outbox;
pub mod pause;
pub mod recovery;
pub mod redact;
pub mod request;
pub mod requester;
pub mod restart_marker;
pub mod scheduler;
pub mod settings;
pub mod status;
pub mod store;
pub mod timestamp;
pub mod window;

#[cfg(test)]
mod test_support;

pub use activity::{
    ActivityTracker, Heartbeat, LeaseError, LeaseGrant, RunGuard, SourceMode, TrackerSettings,
};
pub use admission::Executing;
pub use audit::AuditEntry;
pub use blocker::Blocker;
pub use clock::{Clock, ManualClock, SystemClock, TokioClock};
pub use dedupe::{Ask, Merge, Withdrawal};
pub use drain::Drain;
pub use error::Error;
pub use events::QueueEvent;
pub use executor::{
    CommandExecutor, Executor, PendingExec, RESTART_TOKEN_ENV, RestartAction, SelfRestart,
    StartupBinary, StepFuture, StepOutcome,
};
pub use health::HealthCheck;
pub use id::{RequestId, ShortId};
pub use outbox::OutboxEntry;
pub use pause::Pause;
pub use recovery::{Recovery, RecoveryOptions, recover};
pub use request::{Event, Kind, Phase, Request, RunResult, State, Transition};
pub use requester::{Actor, Origin, Requester, Role};
pub use scheduler::{Scheduler, SchedulerTask};
pub use settings::{AgentRequests, QueueSettings, SchedulerSettings};
pub use status::{Status, WindowsStatus};
pub use store::{Cancelled, NoticeHook, Store, Submitted};
pub use timestamp::Timestamp;
pub use window::{WindowEntry, WindowState, Windows, WindowsError, Zone};
