//! Errors of the queue: refusals a person can act on, and store failures naming the path.

use std::path::PathBuf;

use crate::dedupe::WithdrawError;
use crate::request::TransitionError;

/// Everything the queue can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// sled could not open the database.
    #[error("could not open the store at {}: {message}", path.display())]
    Open {
        /// The database directory.
        path: PathBuf,
        /// sled's reason, with a hint when another process holds the lock.
        message: String,
    },
    /// The store was written by a newer lull.
    #[error(
        "the store at {} has schema version {found}, but this lull understands only version {supported}; \
         run a newer lull (the store was left untouched)",
        path.display()
    )]
    NewerSchema {
        /// The database directory.
        path: PathBuf,
        /// Version found on disk.
        found: u64,
        /// Version this build writes.
        supported: u64,
    },
    /// Data on disk that lull cannot decode; never reset silently.
    #[error("the store at {} holds data lull cannot read ({what}): {reason}; the store was left untouched", path.display())]
    Corrupt {
        /// The database directory.
        path: PathBuf,
        /// Which record.
        what: String,
        /// Why it could not be read.
        reason: String,
    },
    /// Reading or writing (including the flush) failed.
    #[error("the store at {} failed: {message}", path.display())]
    Io {
        /// The database directory.
        path: PathBuf,
        /// sled's reason.
        message: String,
    },
    /// The store's writer has shut down (the store is closing).
    #[error("the store is closed")]
    Closed,
    /// No request matches an id or prefix.
    #[error("no request matches {query:?}; `/maintenance status` lists the open ones")]
    NotFound {
        /// What was looked up.
        query: String,
    },
    /// Several requests match a prefix.
    #[error("{query:?} matches more than one request: {}; type more of the id", candidates.join(", "))]
    Ambiguous {
        /// What was looked up.
        query: String,
        /// `short_id (kind, state)` of each match, at most ten.
        candidates: Vec<String>,
    },
    /// An update was asked for but no update command is configured.
    #[error(
        "updates are not available here: no update command is configured (executor.update); ask for a restart instead"
    )]
    UpdateNotConfigured,
    /// The actor may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The state machine refused the move.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A cancel was refused.
    #[error(transparent)]
    Withdraw(#[from] WithdrawError),
}
