//! How the store lays records out in sled: the trees, their keys and the value encoding.
//!
//! sled's transactional trees cannot iterate, so everything a change must find is reachable by
//! key: the open and running request ids live in `meta`, audit entries of a request are
//! indexed by `request id ++ seq`, and finished requests by the order they finished.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::id::RequestId;

/// The schema this build writes. Bump it, and teach `open` to migrate, when a layout changes.
pub(crate) const SCHEMA_VERSION: u64 = 3;

/// Every tree of the store. The discriminant indexes [`Trees`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TreeId {
    /// `request id (text)` → request JSON.
    Requests,
    /// `short id` → request id (text).
    ShortIds,
    /// `finish seq (u64 BE)` → request id (text); oldest first, for retention.
    Finished,
    /// `audit seq (u64 BE)` → audit entry JSON.
    Audit,
    /// `request id (16 bytes, zeros for none) ++ audit seq (u64 BE)` → empty.
    AuditByRequest,
    /// Named singletons: see the `META_*` keys.
    Meta,
    /// `started at (unix ms, u64 BE) ++ request id (16 bytes)` → kind JSON.
    Executions,
    /// `platform:event id` → expiry (unix ms, u64 BE).
    SeenEvents,
    /// `expiry (unix ms, u64 BE) ++ platform:event id` → empty; oldest first, for pruning.
    SeenExpiry,
    /// `outbox seq (u64 BE)` → outbox entry JSON.
    Outbox,
    /// `request id (16 bytes) ++ platform:user id` → requester JSON: every distinct requester
    /// of a request not yet finished, listed in the request record or not (schema 2).
    Requesters,
}

impl TreeId {
    pub(crate) const ALL: [TreeId; 11] = [
        TreeId::Requests,
        TreeId::ShortIds,
        TreeId::Finished,
        TreeId::Audit,
        TreeId::AuditByRequest,
        TreeId::Meta,
        TreeId::Executions,
        TreeId::SeenEvents,
        TreeId::SeenExpiry,
        TreeId::Outbox,
        TreeId::Requesters,
    ];

    fn name(self) -> &'static str {
        match self {
            TreeId::Requests => "requests",
            TreeId::ShortIds => "short_ids",
            TreeId::Finished => "finished",
            TreeId::Audit => "audit",
            TreeId::AuditByRequest => "audit_by_request",
            TreeId::Meta => "meta",
            TreeId::Executions => "executions",
            TreeId::SeenEvents => "seen_events",
            TreeId::SeenExpiry => "seen_expiry",
            TreeId::Outbox => "outbox",
            TreeId::Requesters => "requesters",
        }
    }
}

/// `meta`: the schema version (u64 BE).
pub(crate) const META_SCHEMA: &[u8] = b"schema_version";
/// `meta`: id of the open request, if any.
pub(crate) const META_OPEN: &[u8] = b"open";
/// `meta`: id of the running request, if any.
pub(crate) const META_RUNNING: &[u8] = b"running";
/// `meta`: the pause, if any (JSON).
pub(crate) const META_PAUSE: &[u8] = b"pause";
/// `meta`: the host drain, if any (JSON).
pub(crate) const META_DRAIN: &[u8] = b"drain";
/// `meta`: the self-restart marker, if a self restart is under way (JSON).
pub(crate) const META_RESTART_MARKER: &[u8] = b"restart_marker";
/// `meta`: when admins were last asked about a request waiting too long (JSON).
pub(crate) const META_ESCALATION: &[u8] = b"last_escalation";
/// `meta`: the fleet slot this replica holds, if any (JSON `FleetHold`).
pub(crate) const META_FLEET_HOLD: &[u8] = b"fleet_hold";
/// `meta`: when the last execution (a request that ran) finished, unix ms (u64 BE); schema 3.
pub(crate) const META_LAST_EXECUTION_END: &[u8] = b"last_execution_end";
/// `meta`: failed health checks in a row (u64 BE).
pub(crate) const META_HEALTH_FAILURES: &[u8] = b"health_failures";
/// `meta`: next audit sequence number (u64 BE).
pub(crate) const META_NEXT_AUDIT: &[u8] = b"next_audit_seq";
/// `meta`: next finish sequence number (u64 BE).
pub(crate) const META_NEXT_FINISH: &[u8] = b"next_finish_seq";
/// `meta`: next outbox sequence number (u64 BE).
pub(crate) const META_NEXT_OUTBOX: &[u8] = b"next_outbox_seq";

/// Handles to every tree, opened once.
#[derive(Clone)]
pub(crate) struct Trees {
    pub(crate) db: sled::Db,
    all: Vec<sled::Tree>,
}

impl Trees {
    pub(crate) fn open(db: sled::Db, path: &Path) -> Result<Self, Error> {
        let all = TreeId::ALL
            .iter()
            .map(|id| db.open_tree(id.name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| io_error(path, &e))?;
        Ok(Self { db, all })
    }

    pub(crate) fn get(&self, id: TreeId) -> &sled::Tree {
        &self.all[id as usize]
    }
}

pub(crate) fn io_error(path: &Path, error: &sled::Error) -> Error {
    Error::Io {
        path: path.to_owned(),
        message: error.to_string(),
    }
}

pub(crate) fn u64_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

pub(crate) fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

pub(crate) fn request_key(id: RequestId) -> Vec<u8> {
    id.to_string().into_bytes()
}

/// The audit index prefix of a request; entries of no request use sixteen zero bytes.
pub(crate) fn audit_owner(id: Option<RequestId>) -> [u8; 16] {
    id.map_or([0; 16], |id| *id.as_bytes())
}

pub(crate) fn audit_index_key(owner: [u8; 16], seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(24);
    key.extend_from_slice(&owner);
    key.extend_from_slice(&u64_key(seq));
    key
}

/// The requesters tree's key of the requester `actor_key` (`platform:user id`) of request `id`.
pub(crate) fn requester_key(id: RequestId, actor_key: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(16 + actor_key.len());
    key.extend_from_slice(id.as_bytes());
    key.extend_from_slice(actor_key.as_bytes());
    key
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("lull's records always serialize to JSON")
}

pub(crate) fn decode<T: DeserializeOwned>(
    path: &Path,
    what: &str,
    bytes: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        what: what.to_owned(),
        reason: e.to_string(),
    })
}

pub(crate) fn decode_request_id(path: &Path, what: &str, bytes: &[u8]) -> Result<RequestId, Error> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(RequestId::parse)
        .ok_or_else(|| Error::Corrupt {
            path: path.to_owned(),
            what: what.to_owned(),
            reason: format!("{:?} is not a request id", String::from_utf8_lossy(bytes)),
        })
}
