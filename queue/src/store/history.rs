//! Finished requests: closing one, pruning the oldest beyond `history_limit` with their audit
//! entries, and reading history, the audit log and recent executions back.

use super::Store;
use super::layout::{
    META_LAST_EXECUTION_END, META_OPEN, META_RUNNING, TreeId, audit_index_key, audit_owner, decode,
    decode_request_id, decode_u64, io_error, request_key, u64_key,
};
use super::lookup;
use super::writer::{Tx, Writer};
use crate::audit::AuditEntry;
use crate::error::Error;
use crate::id::RequestId;
use crate::request::{Kind, Request};
use crate::timestamp::Timestamp;

impl Store {
    /// Finished requests, newest first, at most `limit`.
    pub fn history(&self, limit: usize) -> Result<Vec<Request>, Error> {
        let mut out = Vec::new();
        for entry in self
            .tree(TreeId::Finished)
            .iter()
            .values()
            .rev()
            .take(limit)
        {
            let bytes = entry.map_err(|e| self.io(&e))?;
            let id = decode_request_id(self.path(), "a finished request", &bytes)?;
            out.extend(self.get(id)?);
        }
        Ok(out)
    }

    /// Every kept request, in no particular order.
    pub fn all_requests(&self) -> Result<Vec<Request>, Error> {
        self.tree(TreeId::Requests)
            .iter()
            .values()
            .map(|v| decode(self.path(), "a request", &v.map_err(|e| self.io(&e))?))
            .collect()
    }

    /// The audit log, oldest first; only the entries of `request` when given.
    pub fn audit(&self, request: Option<RequestId>) -> Result<Vec<AuditEntry>, Error> {
        let audit = self.tree(TreeId::Audit);
        let decode_entry = |bytes: &[u8]| decode(self.path(), "an audit entry", bytes);
        match request {
            None => audit
                .iter()
                .values()
                .map(|v| decode_entry(&v.map_err(|e| self.io(&e))?))
                .collect(),
            Some(id) => {
                let mut out = Vec::new();
                let index = self.tree(TreeId::AuditByRequest);
                for key in index.scan_prefix(audit_owner(Some(id))).keys() {
                    let key = key.map_err(|e| self.io(&e))?;
                    let Some(seq) = key.get(16..).and_then(decode_u64) else {
                        continue;
                    };
                    if let Some(v) = audit.get(u64_key(seq)).map_err(|e| self.io(&e))? {
                        out.push(decode_entry(&v)?);
                    }
                }
                Ok(out)
            }
        }
    }

    /// The newest `limit` audit entries (of `request` when given), oldest first: what
    /// `lull audit` and `GET /v1/audit` show.
    pub fn audit_tail(
        &self,
        request: Option<RequestId>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, Error> {
        let audit = self.tree(TreeId::Audit);
        let decode_entry = |bytes: &[u8]| decode(self.path(), "an audit entry", bytes);
        let mut out = Vec::new();
        match request {
            None => {
                for value in audit.iter().values().rev().take(limit) {
                    out.push(decode_entry(&value.map_err(|e| self.io(&e))?)?);
                }
            }
            Some(id) => {
                let index = self.tree(TreeId::AuditByRequest);
                for key in index.scan_prefix(audit_owner(Some(id))).keys().rev() {
                    if out.len() >= limit {
                        break;
                    }
                    let key = key.map_err(|e| self.io(&e))?;
                    let Some(seq) = key.get(16..).and_then(decode_u64) else {
                        continue;
                    };
                    if let Some(v) = audit.get(u64_key(seq)).map_err(|e| self.io(&e))? {
                        out.push(decode_entry(&v)?);
                    }
                }
            }
        }
        out.reverse();
        Ok(out)
    }

    /// When the most recent execution (a request that ran) finished, if one did.
    pub fn last_execution_end(&self) -> Result<Option<Timestamp>, Error> {
        let Some(bytes) = self
            .tree(TreeId::Meta)
            .get(META_LAST_EXECUTION_END)
            .map_err(|e| self.io(&e))?
        else {
            return Ok(None);
        };
        decode_u64(&bytes)
            .filter(|_| bytes.len() == 8)
            .map(|ms| Some(Timestamp::from_unix_millis(ms)))
            .ok_or_else(|| Error::Corrupt {
                path: self.path().to_owned(),
                what: "the last execution's end".into(),
                reason: format!("{bytes:?} is not a time"),
            })
    }

    /// Start times of executions since `since`, oldest first (kept for a day).
    pub fn executions_since(&self, since: Timestamp) -> Result<Vec<(Timestamp, Kind)>, Error> {
        let mut out = Vec::new();
        let from = u64_key(since.unix_millis()).to_vec();
        for entry in self.tree(TreeId::Executions).range(from..) {
            let (key, value) = entry.map_err(|e| self.io(&e))?;
            let at = decode_u64(&key).map(Timestamp::from_unix_millis);
            let kind = decode(self.path(), "an execution record", &value)?;
            out.extend(at.map(|at| (at, kind)));
        }
        Ok(out)
    }
}

/// together with their audit entries, all in the finishing transaction.
pub(super) fn close(tx: &mut Tx, w: &Writer, request: &Request) -> Result<(), Error> {
    debug_assert!(request.state.is_finished());
    let key = request_key(request.id);
    for index in [META_OPEN, META_RUNNING] {
        let current = w
            .tree(TreeId::Meta)
            .get(index)
            .map_err(|e| io_error(w.path(), &e))?;
        if current.as_deref() == Some(key.as_slice()) {
            tx.remove(TreeId::Meta, index);
        }
    }
    // Requesters are kept for the asks and withdrawals of a request not yet finished; its
    // record lists the ones notices and history need.
    for requester in w
        .tree(TreeId::Requesters)
        .scan_prefix(audit_owner(Some(request.id)))
        .keys()
    {
        tx.remove(
            TreeId::Requesters,
            requester.map_err(|e| io_error(w.path(), &e))?,
        );
    }
    let seq = tx.counters.next_finish_seq;
    tx.counters.next_finish_seq += 1;
    tx.put(TreeId::Finished, u64_key(seq), &key);
    tx.counters.finished += 1;

    let limit = w.settings.history_limit.max(1);
    let excess = tx.counters.finished.saturating_sub(limit);
    if excess == 0 {
        return Ok(());
    }
    // The just-finished request is not on disk yet and is the newest, so the oldest `excess`
    // entries on disk are exactly the ones to prune.
    let mut finished = w.tree(TreeId::Finished).iter();
    for _ in 0..excess {
        let Some(entry) = finished.next() else { break };
        let (finish_key, id_bytes) = entry.map_err(|e| io_error(w.path(), &e))?;
        let id = decode_request_id(w.path(), "a finished request", &id_bytes)?;
        prune_request(tx, w, id)?;
        tx.remove(TreeId::Finished, finish_key);
        tx.counters.finished -= 1;
    }
    let oldest_kept = match finished.next() {
        Some(entry) => {
            let (_, id_bytes) = entry.map_err(|e| io_error(w.path(), &e))?;
            decode_request_id(w.path(), "a finished request", &id_bytes)?
        }
        None => request.id,
    };
    prune_unowned_audit_before(tx, w, first_audit_seq(w, oldest_kept)?)
}

fn prune_request(tx: &mut Tx, w: &Writer, id: RequestId) -> Result<(), Error> {
    if let Some(old) = lookup::get(&w.trees, w.path(), id)? {
        let short = w
            .tree(TreeId::ShortIds)
            .get(old.short_id.as_str())
            .map_err(|e| io_error(w.path(), &e))?;
        if short.as_deref() == Some(request_key(id).as_slice()) {
            tx.remove(TreeId::ShortIds, old.short_id.as_str());
        }
    }
    tx.remove(TreeId::Requests, request_key(id));
    let index = w.tree(TreeId::AuditByRequest);
    remove_indexed_audit(tx, w, index.scan_prefix(audit_owner(Some(id))).keys())
}

/// Removes the audit entries that the index keys `keys` point at, and the keys.
fn remove_indexed_audit(
    tx: &mut Tx,
    w: &Writer,
    keys: impl Iterator<Item = sled::Result<sled::IVec>>,
) -> Result<(), Error> {
    let unowned = audit_owner(None);
    for key in keys {
        let key = key.map_err(|e| io_error(w.path(), &e))?;
        if let Some(seq) = key.get(16..).and_then(decode_u64) {
            tx.remove(TreeId::Audit, u64_key(seq));
        }
        if key.starts_with(&unowned) {
            tx.counters.unowned_audit = tx.counters.unowned_audit.saturating_sub(1);
        }
        tx.remove(TreeId::AuditByRequest, key);
    }
    Ok(())
}

/// The first audit sequence number of a request, or `u64::MAX` if it has none on disk yet.
fn first_audit_seq(w: &Writer, id: RequestId) -> Result<u64, Error> {
    let first = w
        .tree(TreeId::AuditByRequest)
        .scan_prefix(audit_owner(Some(id)))
        .keys()
        .next()
        .transpose()
        .map_err(|e| io_error(w.path(), &e))?;
    Ok(first
        .and_then(|k| k.get(16..).and_then(decode_u64))
        .unwrap_or(u64::MAX))
}

/// Audit entries of no request (pause, resume, …) are kept as far back as the oldest kept request.
fn prune_unowned_audit_before(tx: &mut Tx, w: &Writer, threshold: u64) -> Result<(), Error> {
    let unowned = audit_owner(None);
    let end = audit_index_key(unowned, threshold);
    tx.unowned_pruned_below = tx.unowned_pruned_below.max(threshold);
    let index = w.tree(TreeId::AuditByRequest);
    remove_indexed_audit(tx, w, index.range(unowned.to_vec()..end).keys())
}
