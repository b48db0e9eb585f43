//! lull-queue: the durable maintenance-request queue. It knows nothing of chat platforms.
//!
//! # The data path
//!
//! 1. A **request** (`restart` or `update`) is asked for with an [`Ask`], checked once by
//!    [`Ask::new`] whatever surface it came through; `dedupe` merges it
//!    into the one open request, or upgrades that one to an update.
//! 2. The **store** ([`Store`], sled) records it durably — with its audit entry, the notices it
//!    causes (the outbox) and the platform event id that carried it — in one flush before the
//!    caller is told. Only the store changes state, through the moves of `request`.
//! 3. The **scheduler** ([`Scheduler`]) wakes on store events, activity and deadlines, and asks
//!    `eligibility` whether the open request may run: no live run ([`ActivityTracker`]),
//!    the idle window passed, no pause or drain, cooldown and hourly cap respected, inside a
//!    maintenance window ([`Windows`]). Each reason it waits is a [`Blocker`].
//! 4. When it may, the scheduler closes **admission** (no run may begin) in one atomic step
//!    with the last check, records `running`, and calls the **executor** ([`Executor`]: a
//!    command, or a `"self"` re-exec), then the health check, and records the outcome.
//! 5. **Recovery** ([`recover`]) settles at start-up whatever was running when lull stopped.
//!
//! With `[fleet]`, the restart step also holds a slot of a lock service the replicas share
//! ([`FleetLock`]): taken with admission still open, verified once it is closed, persisted with
//! the start, given back once healthy.
//!
//! # Layout
//!
//! | module | holds |
//! |---|---|
//! | `request`, `id`, `requester`, `timestamp` | the request, its ids and states, who asked, time |
//! | `ask`, `dedupe` | an ask and its one check; merging asks into the open request |
//! | `store` (`store/`) | sled: layout, the single writer, changes, lookups |
//! | `audit`, `outbox`, `events` | the audit log, the notice outbox, events for subscribers |
//! | `activity`, `admission` | runs and their leases; the gate no run passes during maintenance |
//! | `eligibility`, `blocker`, `deadline`, `window` | whether a request may run now, why not, until when |
//! | `scheduler` (`scheduler/`) | the one loop that executes, its memory, the restart step |
//! | `executor` (`executor/`), `health` | running the commands, isolating them, `"self"` restarts |
//! | `fleet` | the lock service a fleet's replicas share, as the scheduler sees it |
//! | `pause`, `drain`, `escalation`, `restart_marker` | records that outlive a restart |
//! | `recovery` | settling what was running |
//! | `text` | the one rule for control characters in stored text |
//! | `settings`, `status`, `clock`, `backoff`, `redact`, `error` | configuration, the status view, clocks, waits between retries, secrets out of output, errors |
//!
//! Modules are private; what callers use is re-exported here.

mod activity;
mod admission;
mod ask;
mod audit;
mod backoff;
mod blocker;
mod clock;
mod deadline;
mod dedupe;
mod drain;
mod eligibility;
mod error;
mod escalation;
mod events;
mod executor;
mod fleet;
mod health;
mod id;
mod outbox;
mod pause;
mod recovery;
mod redact;
mod request;
mod requester;
mod restart_marker;
mod scheduler;
mod settings;
mod status;
mod store;
mod text;
mod timestamp;
mod window;

#[cfg(test)]
mod test_support;

pub use activity::{
    ActivitySnapshot, ActivityTracker, Heartbeat, LeaseCaller, LeaseError, LeaseGrant, LiveRunInfo,
    RunGuard, SourceError, SourceInfo, SourceMode, TrackerSettings,
};
pub use admission::Executing;
pub use ask::{Ask, AskDraft, AskError, AskRules, MAX_IDLE, MAX_REASON_CHARS};
pub use audit::{AuditEntry, AuditNote};
pub use backoff::{Backoff, FIRST_BACKOFF, MAX_BACKOFF};
pub use blocker::Blocker;
pub use clock::{Clock, ManualClock, SystemClock, TokioClock};
pub use dedupe::{Merge, WithdrawError, Withdrawal};
pub use drain::Drain;
pub use error::{Error, ErrorKind};
pub use events::QueueEvent;
pub use executor::{
    CommandExecutor, Executor, PendingExec, RESTART_TOKEN_ENV, RestartAction, SelfRestart,
    StartupBinary, StepFuture, StepOutcome, request_vars,
};
pub use fleet::{
    Attempt, FENCING_TOKEN_ENV, FleetError, FleetFuture, FleetHold, FleetHolder, FleetLock,
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
pub use status::{FleetStatus, Status, WindowsStatus};
pub use store::{Cancelled, NoticeHook, Store, Submitted};
pub use text::{control_character, control_refusal, fold_controls};
pub use timestamp::Timestamp;
pub use window::{WindowEntry, WindowState, Windows, WindowsError, Zone};
