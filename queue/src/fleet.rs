//! Fleet slots, the scheduler's side: with `[fleet]`, a replica's restart step holds one of a
//! few slots of a lock service every replica shares, so an update asked of all of them never
//! takes them all down at once.
//!
//! The order (docs/design.md, docs/fleet.md): locally eligible → take a slot, admission still open →
//! close admission (the usual atomic step) → verify the hold → persist `running` with the hold
//! in one flush → execute with `LULL_FENCING_TOKEN`. The slot is given back once the health
//! check passed, or when nothing went down; otherwise it is *kept* until an admin releases it.
//!
//! The backends (etcd, FleetLock) live in the `lull` binary's crate and implement [`FleetLock`].

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::id::RequestId;
use crate::timestamp::Timestamp;

/// The environment variable that carries the fencing token to the restart command.
pub const FENCING_TOKEN_ENV: &str = "LULL_FENCING_TOKEN";

/// A boxed future returned by lock backends (object-safe async).
pub type FleetFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A lock service replicas share (Zincati's FleetLock protocol is one backend of it; etcd is
/// another).
pub trait FleetLock: Send + Sync + 'static {
    /// Takes a slot now if one is free, without waiting. A slot this replica already holds is
    /// granted again (FleetLock's recursive pre-reboot).
    fn try_acquire(&self) -> FleetFuture<'_, Result<Attempt, FleetError>>;

    /// Checks, with admission closed and just before the start, that `hold` is still ours
    /// (etcd: our key under our live lease; FleetLock: `pre-reboot` again).
    fn verify<'a>(&'a self, hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>>;

    /// Gives the slot back.
    fn release<'a>(&'a self, hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>>;

    /// At start-up, takes up a hold the previous process persisted (etcd: keeps its lease
    /// alive). [`FleetError::Lost`] when it lapsed meanwhile.
    fn resume<'a>(&'a self, hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>>;

    /// At start-up with no persisted hold: frees a slot this replica's id may hold from a
    /// previous life that died between taking it and persisting it (FleetLock's
    /// `steady-state`, as the protocol asks of a client that starts healthy).
    fn release_stale(&self) -> FleetFuture<'_, Result<(), FleetError>>;

    /// A value that changes whenever the holders may have changed (etcd's watch), so a waiting
    /// scheduler tries again at once. Backends that cannot watch never change it; the scheduler
    /// then retries after [`Attempt::Busy::retry_after`].
    fn changes(&self) -> watch::Receiver<u64>;

    /// This replica's id, the group and the backend, for status and logs.
    fn describe(&self) -> String;
}

/// What a try to take a slot found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The slot is ours.
    Granted(FleetHold),
    /// Every slot is taken.
    Busy {
        /// Who holds them, when the backend can tell.
        holders: Vec<FleetHolder>,
        /// Why, as the lock service said it (FleetLock's error `kind: value`).
        detail: Option<String>,
        /// When to try again if nothing says so earlier; `None` waits for [`FleetLock::changes`].
        retry_after: Option<Duration>,
    },
}

/// This replica's hold on one slot of the fleet lock service, persisted with the request it was
/// taken for while held, or kept for an admin. "Hold" is the claim; the slot is what it claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetHold {
    /// `etcd` or `fleetlock`.
    pub backend: String,
    /// The fleet group.
    pub group: String,
    /// This replica's id in the group.
    pub id: String,
    /// The slot key (etcd), or the server's URL (FleetLock).
    pub key: String,
    /// The etcd lease the key lives under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<i64>,
    /// The fencing token: the etcd revision of the write that granted the slot. FleetLock has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<u64>,
    /// When it was granted.
    pub since: Timestamp,
    /// The request it was taken for, once that started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<RequestId>,
    /// Why it is kept after the execution (a failed health check, an interrupted execution):
    /// set, the slot waits for an admin's release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

/// Another replica holding a slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetHolder {
    /// Its id.
    pub id: String,
    /// Since when, if the backend can tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
}

/// Why a lock call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    /// The lock service could not be reached or answered nonsense: lull waits and says so.
    #[error("the fleet lock service is unreachable: {0}")]
    Unreachable(String),
    /// The hold is no longer ours (its lease lapsed, or the server no longer grants it).
    #[error("the fleet slot was lost: {0}")]
    Lost(String),
}
