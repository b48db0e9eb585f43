//! The relay's notices: the durable outbox's notices for `relay:<name>` chats, handed to the host
//! by a long poll and removed when it acknowledges them. At least once: the host drops a copy by
//! its id.
//!
//! - A poll **claims** what it returns for its consumer for `claim_seconds`; a notice not
//!   acknowledged by then is given out again. Claims live in memory: after lull restarts every
//!   pending notice is given out again (a copy, never a loss). When an old and a new host process
//!   overlap during a restart, one claim wins.
//! - **Per chat, in order**: a chat whose earliest pending notice is claimed gives out nothing
//!   more until that one is acknowledged or its claim lapses, so no consumer can overtake it.
//! - A **progress** notice ("starting now") whose request has finished is dropped, not given out
//!   after the outcome it led to.
//! - A notice nobody took within `notice_expiry_seconds` is dropped, audited.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use lull_plugin::{Button, Notice, Plugin};
use lull_queue::{AuditNote, OutboxEntry, Store, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Relay, RelayError};

/// Most notices one poll returns.
const MAX_PER_POLL: usize = 100;

/// One notice as the host receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayNotice {
    /// What to acknowledge it by (and drop a copy by).
    pub(crate) id: String,
    /// The host's chat.
    pub(crate) chat: String,
    /// Without markup.
    pub(crate) text: String,
    /// With markdown (backtick code spans, `*bold*`).
    pub(crate) markdown: String,
    /// A prompt's buttons: clicked, their payload comes back as a command's `click`.
    pub(crate) buttons: Vec<Button>,
    /// The request it is about (short id), if any.
    pub(crate) request: Option<String>,
}

/// `POST /v1/relay/notices/{id}/ack`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// The consumer that polled it.
    #[schemars(length(min = 1, max = 200), regex(pattern = r"\S"))]
    pub(crate) consumer: String,
    /// What became of it.
    pub(crate) outcome: AckOutcome,
}

/// What the host did with a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckOutcome {
    /// Its platform accepted it.
    Delivered,
    /// Its platform will never accept it (the chat is gone, the bot was removed).
    Undeliverable,
}

/// A live claim: whose, until when.
#[derive(Debug)]
struct Claim {
    consumer: String,
    until: Instant,
}

/// Why a notice leaves the outbox without being delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dropped {
    /// Not a notice anyone can read.
    Unreadable,
    /// A progress step of a request that has finished.
    Superseded,
    /// Nobody took it in time.
    Expired,
}

/// What one look through the outbox found.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    /// Claimed for the consumer, in order.
    pub(crate) claimed: Vec<(u64, Notice)>,
    /// To drop, and why.
    pub(crate) dropped: Vec<(u64, Option<Notice>, Dropped)>,
}

/// The claims on this relay's notices, and to whom each notice was ever given (so a late
/// acknowledgement from a consumer whose claim lapsed still counts).
#[derive(Debug, Default)]
pub(crate) struct Claims {
    live: HashMap<u64, Claim>,
    given: HashMap<u64, HashSet<String>>,
}

/// The rules a look applies.
pub(crate) struct Rules<'a> {
    /// `relay:<name>`.
    pub(crate) platform: &'a str,
    /// How long a claim lasts.
    pub(crate) claim: Duration,
    /// How long a notice nobody takes is kept.
    pub(crate) expiry: Duration,
}

impl Claims {
    /// Looks through `pending` (the whole outbox, oldest first): claims for `consumer` (none:
    /// only sweeping) what it may have, and says what to drop.
    pub(crate) fn take(
        &mut self,
        pending: Vec<OutboxEntry>,
        consumer: Option<&str>,
        rules: &Rules<'_>,
        (now, wall): (Instant, Timestamp),
        finished: impl Fn(&str) -> bool,
    ) -> Taken {
        self.live.retain(|_, claim| claim.until > now);
        let mut taken = Taken::default();
        let mut blocked: HashSet<String> = HashSet::new();
        let mut still_pending = HashSet::new();
        for entry in pending {
            let notice = match serde_json::from_value::<Notice>(entry.payload) {
                Ok(notice) if notice.chat.platform == rules.platform => notice,
                Ok(_) => continue,
                // Nobody can deliver what nobody can read.
                Err(_) => {
                    taken.dropped.push((entry.seq, None, Dropped::Unreadable));
                    continue;
                }
            };
            still_pending.insert(entry.seq);
            if blocked.contains(&notice.chat.chat) {
                continue;
            }
            if self.live.contains_key(&entry.seq) {
                blocked.insert(notice.chat.chat.clone());
                continue;
            }
            if notice.progress && notice.request.as_deref().is_some_and(&finished) {
                taken
                    .dropped
                    .push((entry.seq, Some(notice), Dropped::Superseded));
                continue;
            }
            if wall.saturating_since(entry.created_at) >= rules.expiry {
                taken
                    .dropped
                    .push((entry.seq, Some(notice), Dropped::Expired));
                continue;
            }
            let Some(consumer) = consumer else { continue };
            if taken.claimed.len() >= MAX_PER_POLL {
                continue;
            }
            self.live.insert(
                entry.seq,
                Claim {
                    consumer: consumer.to_owned(),
                    until: now + rules.claim,
                },
            );
            self.given
                .entry(entry.seq)
                .or_default()
                .insert(consumer.to_owned());
            taken.claimed.push((entry.seq, notice));
        }
        self.given.retain(|seq, _| still_pending.contains(seq));
        taken
    }

    /// When the earliest live claim lapses.
    pub(crate) fn next_lapse(&self) -> Option<Instant> {
        self.live.values().map(|c| c.until).min()
    }

    /// Who else holds a live claim on `seq` that `consumer` was never given, if anyone.
    fn held_by_another(&self, seq: u64, consumer: &str, now: Instant) -> Option<String> {
        let claim = self.live.get(&seq).filter(|c| c.until > now)?;
        let given = self.given.get(&seq).is_some_and(|g| g.contains(consumer));
        (claim.consumer != consumer && !given).then(|| claim.consumer.clone())
    }

    /// Forgets `seqs` (acknowledged, dropped, or given back).
    fn release(&mut self, seqs: impl IntoIterator<Item = u64>) {
        for seq in seqs {
            self.live.remove(&seq);
            self.given.remove(&seq);
        }
    }
}

/// Claims a poll made but has not answered with yet. Released if the poll ends without
/// answering (the audit failed, or its caller hung up and the poll was dropped), so the chats
/// do not wait for the claims to lapse.
struct Unanswered<'a> {
    relay: &'a Relay,
    seqs: Vec<u64>,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if !self.seqs.is_empty() {
            self.relay.release_claims(std::mem::take(&mut self.seqs));
        }
    }
}

impl RelayNotice {
    fn of(seq: u64, notice: Notice) -> Self {
        Self {
            id: seq.to_string(),
            chat: notice.chat.chat,
            text: notice.reply.plain,
            markdown: notice.reply.text,
            buttons: notice.reply.buttons,
            request: notice.request,
        }
    }
}

/// A notice named for people: `n12 for telegram:-100 about r7k2`.
fn describe(seq: u64, notice: Option<&Notice>) -> String {
    match notice {
        Some(n) => format!(
            "n{seq} for {} about {}",
            n.chat.chat,
            n.request.as_deref().unwrap_or("no request")
        ),
        None => format!("n{seq} (unreadable)"),
    }
}

impl Relay {
    fn rules(&self) -> Rules<'_> {
        Rules {
            platform: &self.platform,
            claim: self.settings.claim,
            expiry: self.settings.notice_expiry,
        }
    }

    /// One look: claims for `consumer` (if any), then drops what is to drop.
    async fn look(
        &self,
        store: &Store,
        consumer: Option<&str>,
    ) -> Result<(Taken, Unanswered<'_>), RelayError> {
        let _outbox = self.shared.outbox.lock().await;
        let pending = store.outbox_pending(usize::MAX)?;
        let finished = |short_id: &str| crate::chat::outbox::request_finished(store, short_id);
        let now = (Instant::now(), store.now());
        let mut taken = self
            .shared
            .claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(pending, consumer, &self.rules(), now, finished);
        // From here the claims are released unless the poll answers with them: dropping the
        // others below may fail, or the poll be dropped while it waits for the store.
        let unanswered = Unanswered {
            relay: self,
            seqs: taken.claimed.iter().map(|(seq, _)| *seq).collect(),
        };
        for (seq, notice, why) in std::mem::take(&mut taken.dropped) {
            let (action, because) = match why {
                Dropped::Unreadable => ("notice_dropped", "it is not a notice".to_owned()),
                Dropped::Superseded => (
                    "notice_superseded",
                    "its request finished before it was delivered".to_owned(),
                ),
                Dropped::Expired => (
                    "notice_expired",
                    format!(
                        "nobody acknowledged it within {}",
                        lull_plugin::human(self.settings.notice_expiry)
                    ),
                ),
            };
            let note = AuditNote::new(
                "lull",
                action,
                format!("{}: {because}", describe(seq, notice.as_ref())),
            );
            if store.outbox_ack_noted(seq, note).await? {
                tracing::info!(seq, reason = action, "dropped a relay notice");
            }
            self.release_claims([seq]);
        }
        Ok((taken, unanswered))
    }

    fn release_claims(&self, seqs: impl IntoIterator<Item = u64>) {
        self.shared
            .claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .release(seqs);
        self.shared.changed.notify_waiters();
    }

    /// `GET /v1/relay/notices`: waits up to `wait` (or until `stop`) for notices `consumer` may
    /// have, claims them, and audits the claim with `by`, the caller.
    pub(crate) async fn poll(
        &self,
        plugin: &Plugin,
        consumer: &str,
        wait: Duration,
        stop: &CancellationToken,
        by: &str,
    ) -> Result<Vec<RelayNotice>, RelayError> {
        let store = plugin.scheduler().store();
        let _slot = self
            .shared
            .polls
            .take(consumer)
            .map_err(RelayError::TooManyPolls)?;
        let deadline = Instant::now() + wait;
        let mut events = store.subscribe();
        loop {
            // Registered before looking, so a change between the look and the wait wakes it.
            let changed = self.shared.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (taken, mut unanswered) = self.look(store, Some(consumer)).await?;
            if !taken.claimed.is_empty() {
                let detail = format!(
                    "{} for consumer {consumer:?}",
                    taken
                        .claimed
                        .iter()
                        .map(|(seq, n)| describe(*seq, Some(n)))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                // Unaudited, not given out: the claims are released when `unanswered` drops.
                store.record(by, "notices_claimed", detail, None).await?;
                unanswered.seqs.clear();
                return Ok(taken
                    .claimed
                    .into_iter()
                    .map(|(seq, notice)| RelayNotice::of(seq, notice))
                    .collect());
            }
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            let lapse = self.next_lapse().unwrap_or(deadline).min(deadline);
            tracing::debug!(consumer, "relay poll waiting for notices");
            tokio::select! {
                () = stop.cancelled() => return Ok(Vec::new()),
                () = tokio::time::sleep_until(lapse) => {}
                () = &mut changed => {}
                received = events.recv() => {
                    // A lagged receiver only means several events came at once: look again. A
                    // closed one means the store is going away: so is lull.
                    if matches!(received, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return Ok(Vec::new());
                    }
                }
            }
        }
    }

    fn next_lapse(&self) -> Option<Instant> {
        self.shared
            .claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_lapse()
    }

    /// `POST /v1/relay/notices/{id}/ack`: removes notice `id` (delivered, or given up on) with
    /// an audit entry by `by`. `Ok(false)`: it was not pending (acknowledged before, expired or
    /// superseded): acknowledging is idempotent.
    pub(crate) async fn acknowledge(
        &self,
        plugin: &Plugin,
        id: u64,
        body: &AckBody,
        by: &str,
    ) -> Result<bool, RelayError> {
        let store = plugin.scheduler().store();
        let _outbox = self.shared.outbox.lock().await;
        let Some(entry) = store.outbox_entry(id)? else {
            return Ok(false);
        };
        let notice = serde_json::from_value::<Notice>(entry.payload)
            .ok()
            .filter(|n| n.chat.platform == self.platform)
            .ok_or_else(|| RelayError::NoSuchNotice(id.to_string()))?;
        let holder = self
            .shared
            .claims
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .held_by_another(id, &body.consumer, Instant::now());
        if let Some(holder) = holder {
            return Err(RelayError::ClaimedByAnother {
                id,
                holder,
                consumer: body.consumer.clone(),
            });
        }
        let action = match body.outcome {
            AckOutcome::Delivered => "notice_delivered",
            AckOutcome::Undeliverable => "notice_undeliverable",
        };
        let note = AuditNote::new(
            by,
            action,
            format!(
                "{} by consumer {:?}",
                describe(id, Some(&notice)),
                body.consumer
            ),
        );
        let removed = store.outbox_ack_noted(id, note).await?;
        self.release_claims([id]);
        Ok(removed)
    }

    /// Drops notices nobody takes once they expire (and progress steps of finished requests),
    /// until `stop`: event-driven, with one timer at the earliest expiry.
    pub(crate) async fn sweep_until(&self, store: &Store, stop: &CancellationToken) {
        let mut events = store.subscribe();
        loop {
            let wait = match self.look(store, None).await {
                Ok(_) => self.next_expiry(store).unwrap_or(Duration::MAX),
                Err(error) => {
                    tracing::warn!(%error, "cannot sweep the relay's notices; trying again in a minute");
                    Duration::from_secs(60)
                }
            };
            // Never sleep past a day: `Duration::MAX` does not fit an Instant.
            let wait = wait.min(Duration::from_secs(86_400));
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
                () = self.shared.changed.notified() => {}
                received = events.recv() => {
                    if matches!(received, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                        return;
                    }
                }
            }
        }
    }

    /// How long until the oldest of this relay's pending notices expires (a moment past it).
    fn next_expiry(&self, store: &Store) -> Option<Duration> {
        let now = store.now();
        let oldest = store
            .outbox_pending(usize::MAX)
            .ok()?
            .into_iter()
            .filter(|entry| {
                serde_json::from_value::<Notice>(entry.payload.clone())
                    .is_ok_and(|n| n.chat.platform == self.platform)
            })
            .map(|entry| entry.created_at)
            .min()?;
        let age = now.saturating_since(oldest);
        let left = self.settings.notice_expiry.saturating_sub(age);
        if left.is_zero() {
            // Expired but still pending: claimed, or behind a claimed notice of its chat. It
            // can go once that claim lapses (or is acknowledged, which wakes the sweep).
            let lapse = self.next_lapse()?;
            return Some(
                lapse
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_secs(1)),
            );
        }
        Some(left.max(Duration::from_secs(1)))
    }
}

#[cfg(test)]
mod tests;
