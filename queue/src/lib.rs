//! lull-queue: the durable maintenance-request queue.
//!
//! It knows nothing of chat platforms. It stores requests in sled ([`Store`]), moves them
//! through the state machine of [`request`], applies the dedupe rules of [`dedupe`], and keeps
//! the audit log and the records later layers need across restarts (pause, executions, seen
//! platform event ids, the notice outbox).

pub mod audit;
pub mod clock;
pub mod dedupe;
pub mod error;
pub mod id;
pub mod outbox;
pub mod pause;
pub mod request;
pub mod requester;
pub mod settings;
pub mod store;
pub mod timestamp;

#[cfg(test)]
mod test_support;

pub use audit::AuditEntry;
pub use clock::{Clock, ManualClock, SystemClock};
pub use dedupe::{Ask, Merge, Withdrawal};
pub use error::Error;
pub use id::{RequestId, ShortId};
pub use outbox::OutboxEntry;
pub use pause::Pause;
pub use request::{Event, Kind, Phase, Request, RunResult, State, Transition};
pub use requester::{Actor, Origin, Requester, Role};
pub use settings::{AgentRequests, QueueSettings};
pub use store::{Cancelled, Store, Submitted};
pub use timestamp::Timestamp;
