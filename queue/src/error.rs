//! Errors of the queue: refusals a person can act on, and store failures naming the path.
//!
//! Each error carries its kind ([`Error::kind`]), and the kind carries the stable code the
//! agent tool and the control API answer with and the API's HTTP status: one place, so the
//! surfaces cannot map them apart (Zincati's `error_kind()` is the model).

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
    /// The actor may not do this, whatever the state (not an admin, approving their own ask).
    #[error("{0}")]
    Forbidden(String),
    /// Not now: the state changed since it was read (a race lost to the scheduler, a pause or
    /// drain begun meanwhile), or a step must come first. Asking again later may work.
    #[error("{0}")]
    Conflict(String),
    /// The state machine refused the move.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// A cancel was refused.
    #[error(transparent)]
    Withdraw(#[from] WithdrawError),
    /// `[fleet]`: there is no slot to act on (none held, or no `[fleet]` configured).
    #[error("{0}")]
    NoFleetSlot(String),
    /// `[fleet]`: the lock service did not answer; asking again later may work.
    #[error("{0}")]
    FleetUnavailable(String),
    /// `[fleet]`: the persisted slot was released or replaced after the scheduler verified it;
    /// nothing started.
    #[error("the fleet slot was released or replaced since it was verified; nothing was started")]
    FleetSlotChanged,
}

/// What kind of refusal or failure an error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No request matches.
    NotFound,
    /// Several requests match a prefix.
    Ambiguous,
    /// The actor may not do this.
    Forbidden,
    /// Not now: the state changed meanwhile, or a step must come first.
    Conflict,
    /// The state machine does not allow the move (e.g. cancelling a finished request).
    InvalidState,
    /// An update was asked for without an update command.
    UpdateNotConfigured,
    /// The store failed.
    Internal,
}

impl ErrorKind {
    /// Every kind.
    pub const ALL: [Self; 7] = [
        Self::NotFound,
        Self::Ambiguous,
        Self::Forbidden,
        Self::Conflict,
        Self::InvalidState,
        Self::UpdateNotConfigured,
        Self::Internal,
    ];

    /// The stable code the tool and the API answer with.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Ambiguous => "ambiguous",
            Self::Forbidden => "forbidden",
            Self::Conflict => "conflict",
            Self::InvalidState => "invalid_state",
            Self::UpdateNotConfigured => "update_not_configured",
            Self::Internal => "internal",
        }
    }

    /// The control API's HTTP status.
    pub fn http_status(self) -> u16 {
        match self {
            Self::NotFound => 404,
            Self::Forbidden => 403,
            Self::Ambiguous | Self::Conflict | Self::InvalidState | Self::UpdateNotConfigured => {
                409
            }
            Self::Internal => 500,
        }
    }

    /// The kind a code names (the CLI reads codes the server answered).
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

impl Error {
    /// What kind of refusal or failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } | Self::NoFleetSlot(_) => ErrorKind::NotFound,
            Self::Ambiguous { .. } => ErrorKind::Ambiguous,
            Self::Forbidden(_) | Self::Withdraw(WithdrawError::NotARequester { .. }) => {
                ErrorKind::Forbidden
            }
            Self::Conflict(_) | Self::FleetUnavailable(_) | Self::FleetSlotChanged => {
                ErrorKind::Conflict
            }
            Self::Transition(_) | Self::Withdraw(_) => ErrorKind::InvalidState,
            Self::UpdateNotConfigured => ErrorKind::UpdateNotConfigured,
            Self::Open { .. }
            | Self::NewerSchema { .. }
            | Self::Corrupt { .. }
            | Self::Io { .. }
            | Self::Closed => ErrorKind::Internal,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_code_and_reads_back_from_it() {
        let codes: std::collections::HashSet<&str> =
            ErrorKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len(), "codes are distinct");
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(kind.code()), Some(kind));
        }
        assert_eq!(ErrorKind::from_code("executing"), None);
    }

    #[test]
    fn races_are_conflicts_and_permissions_are_forbidden() {
        let race = Error::Conflict("maintenance was paused meanwhile".into());
        assert_eq!(
            (race.kind().code(), race.kind().http_status()),
            ("conflict", 409)
        );
        let refusal = Error::Forbidden("only an admin can approve request r7k2".into());
        assert_eq!(
            (refusal.kind().code(), refusal.kind().http_status()),
            ("forbidden", 403)
        );
        assert_eq!(Error::Closed.kind().http_status(), 500);
        let missing = Error::NotFound { query: "zz".into() };
        assert_eq!(
            (missing.kind().code(), missing.kind().http_status()),
            ("not_found", 404)
        );
    }
}
