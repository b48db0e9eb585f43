//! The executor: how a host restarts or updates its gateway once the scheduler says "now".
//!
//! The scheduler calls it only after its atomic idle check; nothing else may.

mod command;
mod guardian;
pub mod process;
mod self_restart;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;

pub use command::{CommandExecutor, RestartAction, request_vars};
pub use self_restart::{PendingExec, RESTART_TOKEN_ENV, SelfRestart, StartupBinary};

use crate::request::{Request, RunResult};

/// A boxed future returned by executors (object-safe async).
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = StepOutcome> + Send + 'a>>;

/// How one step (update or restart) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// It did its job (for an update: something was updated and a restart must follow).
    Done(RunResult),
    /// An update found nothing to update: succeeded, no restart.
    Unchanged(RunResult),
    /// It failed; nothing further runs.
    Failed(RunResult),
}

/// A host's graceful update and restart.
pub trait Executor: Send + Sync + 'static {
    /// Updates the gateway. Runs with admission open: the old gateway keeps serving.
    fn update<'a>(&'a self, request: &'a Request) -> StepFuture<'a>;

    /// Restarts the gateway. Runs with admission closed and no live run.
    fn restart<'a>(&'a self, request: &'a Request) -> StepFuture<'a>;

    /// Whether `update` can do anything; when not, update requests are refused when submitted.
    fn can_update(&self) -> bool {
        true
    }
}
