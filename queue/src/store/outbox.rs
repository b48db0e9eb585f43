//! The durable outbox of notices: pushed with the change that caused them, acknowledged once
//! delivered.

use super::Store;
use super::layout::{TreeId, decode, io_error, u64_key};
use super::writer::Writer;
use crate::audit::AuditNote;
use crate::error::Error;
use crate::outbox::OutboxEntry;

impl Store {
    /// Adds a notice to the durable outbox; returns its sequence number.
    pub async fn outbox_push(&self, payload: serde_json::Value) -> Result<u64, Error> {
        self.change(move |w| outbox_push(w, payload), |_| None)
            .await
    }

    /// Removes a delivered notice; `false` if it was not pending.
    pub async fn outbox_ack(&self, seq: u64) -> Result<bool, Error> {
        self.change(move |w| outbox_ack(w, seq, None), |_| None)
            .await
    }

    /// Removes a notice that was delivered (or given up on), with `note` in the audit in the
    /// same flush; `false`, and nothing recorded, if it was not pending.
    pub async fn outbox_ack_noted(&self, seq: u64, note: AuditNote) -> Result<bool, Error> {
        self.change(move |w| outbox_ack(w, seq, Some(note)), |_| None)
            .await
    }

    /// The pending notice `seq`, if it is still in the outbox.
    pub fn outbox_entry(&self, seq: u64) -> Result<Option<OutboxEntry>, Error> {
        let bytes = self
            .tree(TreeId::Outbox)
            .get(u64_key(seq))
            .map_err(|e| self.io(&e))?;
        bytes
            .map(|b| decode(self.path(), "an outbox entry", &b))
            .transpose()
    }

    /// Notices not yet delivered, oldest first.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, Error> {
        self.tree(TreeId::Outbox)
            .iter()
            .values()
            .take(limit)
            .map(|v| decode(self.path(), "an outbox entry", &v.map_err(|e| self.io(&e))?))
            .collect()
    }
}

fn outbox_push(w: &mut Writer, payload: serde_json::Value) -> Result<u64, Error> {
    let mut tx = w.begin();
    let seq = tx.outbox(payload);
    w.commit(tx)?;
    Ok(seq)
}

/// Removes a delivered notice, with `note` in the audit in the same transaction; `false` (and
/// nothing written) if it was not (or no longer) pending.
fn outbox_ack(w: &mut Writer, seq: u64, note: Option<AuditNote>) -> Result<bool, Error> {
    let present = w
        .tree(TreeId::Outbox)
        .contains_key(u64_key(seq))
        .map_err(|e| io_error(w.path(), &e))?;
    if present {
        let mut tx = w.begin();
        tx.remove(TreeId::Outbox, u64_key(seq));
        if let Some(note) = note {
            tx.audit(&note.actor, &note.action, None, note.detail);
        }
        w.commit(tx)?;
    }
    Ok(present)
}
