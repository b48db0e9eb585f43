//! Acknowledging an event to its platform only after lull handled it.
//!
//! A platform forgets an event once it was acknowledged: Telegram once a `getUpdates` asks past
//! it or a webhook post was answered `200`, Slack once an envelope was acked or an HTTP request
//! answered. Acknowledged on receipt, an event being handled when lull is killed would be lost.
//! [`Handling`] learns when each event was handled, so that:
//!
//! - a poller (Telegram's `getUpdates` offset) asks past a batch only once it was handled
//!   ([`Handling::begin`], [`Handling::settled`]), and asks again for an event that failed
//!   ([`Handling::take_failed`]). One still being handled after [`MAX_HANDLING_WAIT`] is
//!   *overdue*: the poller goes on hearing newer events, but does not ask past the oldest overdue
//!   one ([`Handling::held`]) until it was handled — for at most [`MAX_HOLD`], since Telegram
//!   gives out only 100 updates past an offset, and a handler stuck for good must not leave lull
//!   deaf for good;
//! - a webhook post or an envelope is answered only then ([`Handling::wait_for`]).
//!
//! A handling that ends without saying how (cancelled when lull stops) counts as failed, so the
//! platform delivers the event again. One that panicked counts as handled: a poison event must
//! not stop lull from hearing anything else.
//!
//! A kill -9 at any moment so leads to a redelivery, which [`at_most_once`](super::once) turns into
//! "handled once", never to a loss. The id is the platform's: an update id, an envelope id.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;

/// How long a poller waits for the events before it to be handled. A handler stuck longer must
/// not stop lull from hearing anything else; it is overdue, and still not acknowledged.
pub const MAX_HANDLING_WAIT: Duration = Duration::from_secs(60);

/// How long an overdue event is held unacknowledged before the poller gives up on it (logged
/// as an error: the event was not handled, and the platform forgets it).
pub const MAX_HOLD: Duration = Duration::from_secs(600);

/// What to tell the platform about one event once its handling ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ack {
    /// It was handled (or had been before): acknowledge it.
    Handled,
    /// This was a copy while the first delivery is still being handled: that one will tell.
    Copy,
    /// It could not be handled: do not acknowledge, so the platform delivers it again.
    Failed,
}

/// Events given out and not yet handled, by the platform's id.
pub struct Handling<Id> {
    state: Mutex<State<Id>>,
    settled: tokio::sync::Notify,
    /// How long [`Handling::settled`] waits before the events still out are overdue.
    overdue_after: Duration,
}

impl<Id> Default for Handling<Id> {
    fn default() -> Self {
        Self::overdue_after(MAX_HANDLING_WAIT)
    }
}

impl<Id> Handling<Id> {
    /// Events given out and not yet handled, overdue once still being handled after `wait`
    /// ([`MAX_HANDLING_WAIT`] by default; tests shorten it).
    pub fn overdue_after(wait: Duration) -> Self {
        Self {
            overdue_after: wait,
            state: Mutex::new(State {
                outstanding: HashSet::new(),
                waiters: HashMap::new(),
                failed: HashSet::new(),
                overdue: HashMap::new(),
            }),
            settled: tokio::sync::Notify::new(),
        }
    }
}

struct State<Id> {
    /// Ids given out by a poller and not yet handled.
    outstanding: HashSet<Id>,
    /// Posts or envelopes waiting for their event to be handled.
    waiters: HashMap<Id, Vec<oneshot::Sender<()>>>,
    /// Ids given out by a poller whose handling failed: to be asked for again.
    failed: HashSet<Id>,
    /// Ids given out by a poller and still being handled after [`MAX_HANDLING_WAIT`], with when
    /// they became overdue: not waited for any more, and not acknowledged either.
    overdue: HashMap<Id, tokio::time::Instant>,
}

impl<Id: Eq + Hash + Clone + Debug + Send> Handling<Id> {
    fn state(&self) -> MutexGuard<'_, State<Id>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks event `id` given out by a poller: [`Handling::settled`] waits until it is handled.
    /// An overdue event given out again (the poller held the platform's offset at it, so it
    /// comes back) is not waited for twice: its copy is answered as a copy.
    pub fn begin(&self, id: Id) {
        let mut state = self.state();
        if !state.overdue.contains_key(&id) {
            state.outstanding.insert(id);
        }
    }

    /// Resolves with `Ok` when event `id` has been handled, `Err` if it was given up on.
    pub fn wait_for(&self, id: Id) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        self.state().waiters.entry(id).or_default().push(sender);
        receiver
    }

    /// Waits with the posts already waiting for event `id`, if its first delivery is still
    /// being handled: a platform's repeated post of it (after an overdue answer) is answered
    /// when that handling ends, and not handed to the handling a second time.
    pub fn join(&self, id: &Id) -> Option<oneshot::Receiver<()>> {
        let mut state = self.state();
        let waiting = state.waiters.get_mut(id)?;
        let (sender, receiver) = oneshot::channel();
        waiting.push(sender);
        Some(receiver)
    }

    /// Gives up on event `id` unhandled: its waiters hear `Err` (answered so that the platform
    /// delivers it again).
    pub fn abandon(&self, id: &Id) {
        self.state().waiters.remove(id);
    }

    /// A guard that settles event `id` when dropped, as [`Finished::settle`] says (failed if it
    /// was never told: the handling was cancelled).
    pub fn finished_on_drop(self: &Arc<Self>, id: Id) -> Finished<Id> {
        Finished {
            handling: self.clone(),
            id,
            ack: None,
        }
    }

    /// The ids given out by a poller whose handling failed since the last call: the poller asks
    /// for the earliest again instead of past it.
    pub fn take_failed(&self) -> Vec<Id> {
        self.state().failed.drain().collect()
    }

    /// The oldest overdue event: a poller must not acknowledge it (nor, on platforms whose
    /// acknowledgement is an offset, anything after it) until it was handled, or [`MAX_HOLD`]
    /// passed.
    pub fn held(&self) -> Option<Id>
    where
        Id: Ord,
    {
        let mut state = self.state();
        let now = tokio::time::Instant::now();
        state.overdue.retain(|id, since| {
            let keep = now.duration_since(*since) < MAX_HOLD;
            if !keep {
                tracing::error!(id = ?id, "an event has been handled for over ten minutes; acknowledging it unhandled so that lull hears what came after it");
            }
            keep
        });
        state.overdue.keys().min().cloned()
    }

    /// Resolves once every event given out was handled, or after [`MAX_HANDLING_WAIT`] (then
    /// those still out become overdue: no longer waited for, still not acknowledged).
    pub async fn settled(&self) {
        let all_handled = async {
            loop {
                let notified = self.settled.notified();
                if self.state().outstanding.is_empty() {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(self.overdue_after, all_handled)
            .await
            .is_err()
        {
            tracing::warn!(
                "an event is still being handled after a minute; going on without acknowledging it"
            );
            let mut state = self.state();
            let overdue = std::mem::take(&mut state.outstanding);
            let now = tokio::time::Instant::now();
            state
                .overdue
                .extend(overdue.into_iter().map(|id| (id, now)));
        }
    }
}

/// Settles one event when dropped (see [`Handling::finished_on_drop`]), so that a handler that
/// panics or is cancelled still lets the poller go on.
pub struct Finished<Id: Eq + Hash + Clone + Debug + Send> {
    handling: Arc<Handling<Id>>,
    id: Id,
    ack: Option<Ack>,
}

impl<Id: Eq + Hash + Clone + Debug + Send> Finished<Id> {
    /// How the event ended.
    pub fn settle(&mut self, ack: Ack) {
        self.ack = Some(ack);
    }
}

impl<Id: Eq + Hash + Clone + Debug + Send> Drop for Finished<Id> {
    fn drop(&mut self) {
        let ack = self.ack.unwrap_or_else(|| {
            if std::thread::panicking() {
                tracing::error!(id = ?self.id, "handling an event panicked; acknowledging it so that it cannot stop lull from hearing anything else");
                Ack::Handled
            } else {
                Ack::Failed
            }
        });
        let mut state = self.handling.state();
        let waiters = match ack {
            Ack::Copy => Vec::new(),
            Ack::Handled => state.waiters.remove(&self.id).unwrap_or_default(),
            Ack::Failed => {
                state.waiters.remove(&self.id);
                Vec::new()
            }
        };
        if ack != Ack::Copy {
            let was_overdue = state.overdue.remove(&self.id).is_some();
            let was_outstanding = state.outstanding.remove(&self.id);
            if (was_overdue || was_outstanding) && ack == Ack::Failed {
                state.failed.insert(self.id.clone());
            }
            if was_outstanding && state.outstanding.is_empty() {
                self.handling.settled.notify_waiters();
            }
        }
        drop(state);
        for waiter in waiters {
            let _ = waiter.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn settled_waits_for_every_event_given_out_and_is_bounded() {
        let handling = Arc::new(Handling::<u32>::default());
        handling.begin(1);
        handling.begin(2);
        let handled = |id| {
            let mut finished = handling.finished_on_drop(id);
            finished.settle(Ack::Handled);
            finished
        };
        let (a, b) = (handled(1), handled(2));
        let mut waiting_for_b = handling.wait_for(2);
        let settled = {
            let handling = handling.clone();
            tokio::spawn(async move { handling.settled().await })
        };
        drop(a);
        tokio::task::yield_now().await;
        assert!(!settled.is_finished(), "one is still being handled");
        assert!(waiting_for_b.try_recv().is_err());
        drop(b);
        assert_eq!(waiting_for_b.try_recv(), Ok(()));
        tokio::time::timeout(Duration::from_secs(1), settled)
            .await
            .expect("settles once both are handled")
            .unwrap();

        // A stuck one is waited out, then overdue: held (not acknowledged), not waited for
        // again when it comes back, and its late finish does not release a newer one.
        handling.begin(3);
        let started = tokio::time::Instant::now();
        handling.settled().await;
        assert_eq!(started.elapsed(), MAX_HANDLING_WAIT);
        assert_eq!(handling.held(), Some(3));
        handling.begin(3);
        handling.settled().await;
        assert_eq!(
            started.elapsed(),
            MAX_HANDLING_WAIT,
            "3 came back: not waited for"
        );
        handling.begin(4);
        drop(handled(3));
        assert_eq!(handling.held(), None, "handled at last: no longer held");
        assert!(
            tokio::time::timeout(Duration::from_secs(1), handling.settled())
                .await
                .is_err(),
            "4 is still out"
        );
        // An overdue one that fails is asked for again.
        let started = tokio::time::Instant::now();
        handling.settled().await;
        assert_eq!(started.elapsed(), MAX_HANDLING_WAIT);
        let mut failing = handling.finished_on_drop(4);
        failing.settle(Ack::Failed);
        drop(failing);
        assert_eq!(handling.held(), None);
        assert_eq!(handling.take_failed(), [4]);
        // One stuck for good is held at most MAX_HOLD.
        handling.begin(5);
        handling.settled().await;
        assert_eq!(handling.held(), Some(5));
        tokio::time::advance(MAX_HOLD).await;
        assert_eq!(
            handling.held(),
            None,
            "given up on: lull hears what came after it"
        );
    }

    #[test]
    fn a_copy_does_not_release_the_waiters_and_a_failure_gives_up_on_them() {
        // String ids: Slack's envelope ids fit as Telegram's numbers do.
        let handling = Arc::new(Handling::<String>::default());
        let mut first = handling.wait_for("9".into());
        let mut original = handling.finished_on_drop("9".into());
        original.settle(Ack::Handled);
        let mut copy = handling.finished_on_drop("9".into());
        copy.settle(Ack::Copy);
        drop(copy);
        assert!(
            first.try_recv().is_err(),
            "the original is still being handled"
        );
        drop(original);
        assert_eq!(first.try_recv(), Ok(()));

        let mut post = handling.wait_for("10".into());
        let mut failing = handling.finished_on_drop("10".into());
        failing.settle(Ack::Failed);
        drop(failing);
        assert_eq!(
            post.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        );
    }

    #[test]
    fn a_failed_or_cancelled_event_is_asked_for_again_and_a_panicked_one_is_not() {
        let handling = Arc::new(Handling::<u32>::default());
        for id in [1, 2, 3, 4] {
            handling.begin(id);
        }
        let mut failed = handling.finished_on_drop(1);
        failed.settle(Ack::Failed);
        drop(failed);
        // Cancelled: dropped without a word.
        let mut waiting = handling.wait_for(2);
        drop(handling.finished_on_drop(2));
        assert!(
            waiting.try_recv().is_err(),
            "a cancelled post is not answered as handled"
        );
        let mut done = handling.finished_on_drop(3);
        done.settle(Ack::Handled);
        drop(done);
        let panicking = handling.clone();
        let panicked = std::thread::spawn(move || {
            let _finished = panicking.finished_on_drop(4);
            panic!("a poison event");
        });
        assert!(panicked.join().is_err());
        let mut again = handling.take_failed();
        again.sort_unstable();
        assert_eq!(again, [1, 2]);
        assert!(handling.take_failed().is_empty(), "taken once");
        assert!(handling.state().outstanding.is_empty());
    }
}
