//! Platform event ids seen (so a redelivered event is not applied twice) and the answers kept
//! with them (so a redelivery is answered as the first copy was).

use super::layout::{TreeId, decode_u64, io_error, u64_key};
use super::writer::Writer;
use super::{PLATFORM_EVENT, PlatformEvent, Store};
use crate::audit::AuditNote;
use crate::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

impl Store {
    /// Records a platform event id for `ttl`; `false` if it was seen already (a redelivery).
    pub async fn mark_event_seen(&self, key: &str, ttl: Duration) -> Result<bool, Error> {
        let key = key.to_owned();
        self.change(move |w| mark_seen(w, &key, ttl), |_| None)
            .await
    }

    /// Runs `handling`, an adapter's handling of the platform event `key` (a Telegram update,
    /// a Discord interaction, a Slack event), so that every change it makes also records `key`
    /// as seen for `ttl`, in the same flush. Check [`Store::event_seen`] before. Returns the
    /// handling's output and whether a change recorded `key`: `false` for a handling that
    /// changed nothing, which the caller may record with [`Store::mark_event_seen`] or not.
    pub async fn handling_event<F: Future>(
        &self,
        key: &str,
        ttl: Duration,
        handling: F,
    ) -> (F::Output, bool) {
        let recorded = Arc::new(AtomicBool::new(false));
        let event = PlatformEvent {
            key: key.to_owned(),
            ttl,
            recorded: recorded.clone(),
        };
        let output = PLATFORM_EVENT.scope(event, handling).await;
        (output, recorded.load(Ordering::SeqCst))
    }

    /// Whether the platform event `key` was seen and has not expired.
    pub fn event_seen(&self, key: &str) -> Result<bool, Error> {
        let expiry = self
            .tree(TreeId::SeenEvents)
            .get(key)
            .map_err(|e| self.io(&e))?;
        let now = self.now().unix_millis();
        Ok(expiry
            .as_deref()
            .and_then(decode_u64)
            .is_some_and(|expiry| expiry > now))
    }

    /// Keeps `answer` with the platform event `key` (recorded as seen for `ttl` if it is not
    /// yet), and `note` in the audit, in one flush: a redelivered event can then be answered as
    /// the first copy was ([`Store::event_answer`]).
    pub async fn answer_event(
        &self,
        key: &str,
        ttl: Duration,
        answer: Vec<u8>,
        note: AuditNote,
    ) -> Result<(), Error> {
        let key = key.to_owned();
        self.change(move |w| answer_event(w, &key, ttl, &answer, note), |_| None)
            .await
    }

    /// The answer kept with a seen, unexpired platform event: `None` if the event was not seen
    /// (or expired), `Some(empty)` if it was seen but no answer was kept (it ended before one
    /// was, or it never has one).
    pub fn event_answer(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let value = self
            .tree(TreeId::SeenEvents)
            .get(key)
            .map_err(|e| self.io(&e))?;
        let now = self.now().unix_millis();
        Ok(value.and_then(|v| {
            let expiry = decode_u64(&v)?;
            (expiry > now).then(|| v.get(8..).unwrap_or_default().to_vec())
        }))
    }
}

/// Records a platform event id; `false` if it was already seen and has not expired.
fn mark_seen(w: &mut Writer, key: &str, ttl: Duration) -> Result<bool, Error> {
    let mut tx = w.begin();
    if !w.record_seen(&mut tx, key, ttl)? {
        return Ok(false);
    }
    w.commit(tx)?;
    Ok(true)
}

/// Keeps `answer` with platform event `key` (recording it as seen for `ttl` if it is not yet),
/// with `note` in the audit, in one transaction. An event already seen keeps its expiry.
fn answer_event(
    w: &mut Writer,
    key: &str,
    ttl: Duration,
    answer: &[u8],
    note: AuditNote,
) -> Result<(), Error> {
    let mut tx = w.begin();
    let now = tx.now.unix_millis();
    let previous = w
        .tree(TreeId::SeenEvents)
        .get(key)
        .map_err(|e| io_error(w.path(), &e))?;
    let expiry = match previous.as_deref().and_then(decode_u64) {
        Some(expiry) if expiry > now => expiry,
        _ => {
            w.record_seen(&mut tx, key, ttl)?;
            tx.now.saturating_add(ttl).unix_millis()
        }
    };
    let mut value = u64_key(expiry).to_vec();
    value.extend_from_slice(answer);
    tx.put(TreeId::SeenEvents, key, value);
    tx.audit(&note.actor, &note.action, None, note.detail);
    w.commit(tx)
}
