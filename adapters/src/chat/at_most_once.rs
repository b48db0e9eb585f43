//! Each inbound platform event handled at most once, across restarts and redeliveries.
//!
//! Platforms deliver again what they think was not taken: Telegram re-sends an update lull did
//! not confirm, Slack retries an event or re-sends a Socket Mode envelope, a webhook post is
//! retried. [`AtMostOnce`] keys each event by a string id (a Telegram `update_id`, a Discord
//! interaction or message id, a Slack `event_id` or envelope id) and:
//!
//! - skips an id recorded as seen (persisted, with a TTL longer than the platform redelivers);
//! - skips a copy that arrives while the first is still being handled (an in-flight claim, so
//!   the copy cannot race the first past the seen check);
//! - records the id in the same store transaction as the first change the handling makes, so a
//!   kill -9 between "changed" and "recorded" cannot happen;
//! - remembers an event whose handling changed nothing (a status, help, a refusal) in memory
//!   only: a copy is skipped while this process runs, and after a restart a redelivered one is
//!   answered again, which is harmless for what changes nothing. Waiting for a disk flush for
//!   each of them would put every burst of status commands behind the disk.
//!
//! When the store cannot be read, whether the event ran before is unknown, and not running it
//! is the side that cannot loop. What the user sees depends on the platform: where it delivers
//! again ([`Redelivery::Redelivered`]) the event is left to come again; where it never does
//! ([`Redelivery::Never`]) the user is told it failed and to try again.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lull_plugin::Reply;
use lull_queue::{AuditNote, Store};

use super::acknowledge::{Ack, Finished};

/// Whether the platform delivers an event again when lull did not take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redelivery {
    /// It does (Telegram updates, Slack events and Socket Mode envelopes): an event that could
    /// not be handled is left unacknowledged and comes again.
    Redelivered,
    /// It never does (Discord interactions, Slack slash commands): the user must be told.
    Never,
}

/// What became of one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    /// It was handled now; the handling's result.
    Ran(T),
    /// A copy of an event still being handled: the first copy answers.
    Copy,
    /// Handled before (a redelivery).
    Seen,
    /// Handled before, and this is what the first copy answered ([`AtMostOnce::run_answered`]).
    Repeated(T),
    /// Not handled: the store could not say whether it was handled before. `tell` is what to
    /// answer the user where the platform will not deliver it again.
    Unreadable {
        /// The answer, for [`Redelivery::Never`] platforms.
        tell: Option<Reply>,
    },
}

impl<T> Outcome<T> {
    /// What to acknowledge to the platform.
    pub fn ack(&self) -> Ack {
        match self {
            Self::Ran(_) | Self::Seen | Self::Repeated(_) => Ack::Handled,
            Self::Copy => Ack::Copy,
            Self::Unreadable { .. } => Ack::Failed,
        }
    }
}

/// The answer when the store cannot say whether an event was handled before.
pub const UNREADABLE: &str = "lull could not read its store to check whether this was already handled, so it did nothing. Try again in a moment; if this keeps happening, check `lull status` on the host.";

/// The outcome when the store cannot be read: told to the user only where the platform will
/// not deliver the event again.
fn unreadable<T>(redelivery: Redelivery) -> Outcome<T> {
    let tell = (redelivery == Redelivery::Never).then(|| Reply::refusal(UNREADABLE));
    Outcome::Unreadable { tell }
}

/// Where handled event ids are kept: the [`Store`] (its seen-events tree, written in the same
/// transaction as a change made while the handling runs).
pub trait SeenEvents: Send + Sync {
    /// Whether `key` was handled and has not expired.
    fn seen(&self, key: &str) -> Result<bool, lull_queue::Error>;
    /// Runs `handling` so that every change it makes records `key` too; with its output,
    /// whether a change recorded `key`.
    fn handling<F: Future + Send>(
        &self,
        key: &str,
        ttl: Duration,
        handling: F,
    ) -> impl Future<Output = (F::Output, bool)> + Send;
    /// The answer kept with `key`: `None` if it was not handled (or expired), empty if it was
    /// but no answer was kept.
    fn answer(&self, key: &str) -> Result<Option<Vec<u8>>, lull_queue::Error>;
    /// Keeps `answer` with `key` (recording it if it is not yet), with `note` in the audit.
    fn keep_answer(
        &self,
        key: &str,
        ttl: Duration,
        answer: Vec<u8>,
        note: AuditNote,
    ) -> impl Future<Output = Result<(), lull_queue::Error>> + Send;
}

impl SeenEvents for Store {
    fn seen(&self, key: &str) -> Result<bool, lull_queue::Error> {
        self.event_seen(key)
    }

    fn handling<F: Future + Send>(
        &self,
        key: &str,
        ttl: Duration,
        handling: F,
    ) -> impl Future<Output = (F::Output, bool)> + Send {
        self.handling_event(key, ttl, handling)
    }

    fn answer(&self, key: &str) -> Result<Option<Vec<u8>>, lull_queue::Error> {
        self.event_answer(key)
    }

    fn keep_answer(
        &self,
        key: &str,
        ttl: Duration,
        answer: Vec<u8>,
        note: AuditNote,
    ) -> impl Future<Output = Result<(), lull_queue::Error>> + Send {
        self.answer_event(key, ttl, answer, note)
    }
}

/// The once-per-id rule for one platform. Cheap to clone; clones share the in-flight claims.
#[derive(Clone)]
pub struct AtMostOnce<S = Store> {
    store: S,
    platform: &'static str,
    ttl: Duration,
    redelivery: Redelivery,
    in_flight: Arc<Mutex<HashSet<String>>>,
    unchanged: Arc<Mutex<Remembered>>,
}

/// How many ids of events that changed nothing are remembered in memory, newest kept.
const REMEMBERED_UNCHANGED: usize = 4096;

/// Ids of events handled without a change, oldest first, bounded.
#[derive(Default)]
struct Remembered {
    ids: HashSet<String>,
    order: std::collections::VecDeque<String>,
}

impl Remembered {
    fn contains(&self, key: &str) -> bool {
        self.ids.contains(key)
    }

    fn insert(&mut self, key: String) {
        if self.ids.insert(key.clone()) {
            self.order.push_back(key);
        }
        while self.order.len() > REMEMBERED_UNCHANGED {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
    }
}

impl<S: SeenEvents> AtMostOnce<S> {
    /// Events of `platform`, remembered in `store` for `ttl` (longer than the platform ever
    /// redelivers).
    pub fn new(store: S, platform: &'static str, ttl: Duration, redelivery: Redelivery) -> Self {
        Self {
            store,
            platform,
            ttl,
            redelivery,
            in_flight: Arc::default(),
            unchanged: Arc::default(),
        }
    }

    /// Runs `handling` for event `id` unless it was handled before or is being handled now.
    /// `id` must be unique on the platform for lull's identity there (Telegram prefixes the
    /// bot's id: update ids are per bot).
    pub async fn run<F: Future + Send>(&self, id: &str, handling: F) -> Outcome<F::Output> {
        let key = format!("{}:{id}", self.platform);
        let Some(_claim) = InFlight::claim(&self.in_flight, &key) else {
            tracing::info!(
                platform = self.platform,
                id,
                "ignoring a copy of an event being handled"
            );
            return Outcome::Copy;
        };
        let remembered = lock(&self.unchanged).contains(&key);
        match self.store.seen(&key).map(|seen| seen || remembered) {
            Ok(false) => {}
            Ok(true) => {
                tracing::info!(platform = self.platform, id, "ignoring a redelivered event");
                return Outcome::Seen;
            }
            Err(error) => {
                tracing::error!(%error, platform = self.platform, id, "cannot check whether an event was handled; not handling it");
                return unreadable(self.redelivery);
            }
        }
        let (output, recorded) = self.store.handling(&key, self.ttl, handling).await;
        if !recorded {
            lock(&self.unchanged).insert(key);
        }
        Outcome::Ran(output)
    }
}

impl<S: SeenEvents> AtMostOnce<S> {
    /// [`AtMostOnce::run`] for an event whose sender asks again when unsure whether it arrived (a
    /// relay's host, retrying after a timeout): the answer is kept with the event's id, in one
    /// flush with `handling`'s audit note, and a copy that comes later gets
    /// [`Outcome::Repeated`] with the first copy's answer. A copy that comes after the change
    /// was made but before its answer was kept (lull was killed between the two flushes) gets
    /// [`Outcome::Seen`]: applied once, answer lost.
    pub async fn run_answered<T, F>(&self, id: &str, handling: F) -> Outcome<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: Future<Output = (T, AuditNote)> + Send,
    {
        let key = format!("{}:{id}", self.platform);
        let Some(_claim) = InFlight::claim(&self.in_flight, &key) else {
            return Outcome::Copy;
        };
        match self.store.answer(&key) {
            Ok(None) => {}
            Ok(Some(answer)) => {
                tracing::info!(
                    platform = self.platform,
                    id,
                    "answering a repeated event as before"
                );
                return match serde_json::from_slice(&answer) {
                    Ok(answer) => Outcome::Repeated(answer),
                    Err(_) => Outcome::Seen,
                };
            }
            Err(error) => {
                tracing::error!(%error, platform = self.platform, id, "cannot check whether an event was handled; not handling it");
                return unreadable(self.redelivery);
            }
        }
        let ((output, note), _) = self.store.handling(&key, self.ttl, handling).await;
        match serde_json::to_vec(&output) {
            Ok(answer) => {
                if let Err(error) = self.store.keep_answer(&key, self.ttl, answer, note).await {
                    // The change (if any) and the id are on disk; only the answer to a repeat
                    // is missing, and a repeat is then told it was handled.
                    tracing::error!(%error, platform = self.platform, id, "cannot keep an event's answer");
                }
            }
            Err(error) => {
                tracing::error!(%error, platform = self.platform, id, "cannot encode an event's answer")
            }
        }
        Outcome::Ran(output)
    }

    /// [`AtMostOnce::run`] for an event whose acknowledgement waits on it (polling, a webhook post,
    /// an envelope): `finished`, taken when the event was given out, is settled with the
    /// outcome, so a copy does not release the first's waiters and a failure is redelivered.
    pub async fn run_acknowledged<F: Future + Send, Id>(
        &self,
        id: &str,
        finished: Option<Finished<Id>>,
        handling: F,
    ) -> Outcome<F::Output>
    where
        Id: Eq + std::hash::Hash + Clone + std::fmt::Debug + Send,
    {
        let outcome = self.run(id, handling).await;
        if let Some(mut finished) = finished {
            finished.settle(outcome.ack());
        }
        outcome
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A claim on an event id while it is handled; released when dropped.
struct InFlight {
    set: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl InFlight {
    fn claim(set: &Arc<Mutex<HashSet<String>>>, key: &str) -> Option<Self> {
        lock(set).insert(key.to_owned()).then(|| Self {
            set: set.clone(),
            key: key.to_owned(),
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.set).remove(&self.key);
    }
}

#[cfg(test)]
mod mock_tests;
#[cfg(test)]
mod tests;
