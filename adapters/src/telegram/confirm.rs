//! Confirming an update to Telegram only after lull handled it.
//!
//! Telegram forgets an update once a `getUpdates` asks past it, or once a webhook post was
//! answered `200`. teloxide's polling asks for the next batch as soon as the dispatcher took the
//! previous one, and its webhook answers on receipt, both before the update was handled, so a
//! command being handled when lull is killed would be lost. [`Handling`] learns when each update
//! was handled; [`ConfirmAfterHandling`] polls, but asks past a batch only once its updates were
//! handled (bounded), and the webhook (`webhook.rs`) answers a post only then. A kill -9 at any
//! moment so leads to a redelivery — which the persisted update ids turn into "handled once" —
//! never to a loss.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_core::Stream;
use teloxide::RequestError;
use teloxide::payloads::GetUpdatesSetters;
use teloxide::prelude::*;
use teloxide::stop::{StopFlag, StopToken, mk_stop_token};
use teloxide::types::{AllowedUpdate, UpdateId, UpdateKind};
use teloxide::update_listeners::{AsUpdateStream, UpdateListener};
use tokio::sync::oneshot;

use crate::backoff::Backoff;

/// How long the next `getUpdates` waits for the updates before it to be handled. A handler
/// stuck longer must not stop lull from hearing anything else.
pub const MAX_HANDLING_WAIT: Duration = Duration::from_secs(60);

/// Updates given out and not yet handled.
#[derive(Default)]
pub struct Handling {
    state: Mutex<HandlingState>,
    settled: tokio::sync::Notify,
}

#[derive(Default)]
struct HandlingState {
    /// Update ids given out by polling and not yet handled.
    outstanding: HashSet<u32>,
    /// Webhook posts waiting for their update to be handled, by update id.
    waiters: HashMap<u32, Vec<oneshot::Sender<()>>>,
}

impl Handling {
    fn state(&self) -> MutexGuard<'_, HandlingState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks update `id` given out (polling): the next `getUpdates` waits until it is handled.
    fn begin(&self, id: UpdateId) {
        self.state().outstanding.insert(id.0);
    }

    /// Resolves with `Ok` when update `id` has been handled, `Err` if it was given up on.
    pub fn wait_for(&self, id: UpdateId) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        self.state().waiters.entry(id.0).or_default().push(sender);
        receiver
    }

    /// Gives up on update `id` unhandled: its waiters hear `Err` (the post is answered 503, so
    /// Telegram posts it again).
    pub fn abandon(&self, id: UpdateId) {
        self.state().waiters.remove(&id.0);
    }

    /// A guard that marks update `id` handled when dropped.
    pub fn finished_on_drop(self: &Arc<Self>, id: UpdateId) -> Finished {
        Finished {
            handling: self.clone(),
            id,
            role: Role::Handled,
        }
    }

    /// Resolves once every update given out was handled, or after [`MAX_HANDLING_WAIT`] (then
    /// those still out are forgotten: a late finish of one of them changes nothing).
    async fn settled(&self) {
        let all_handled = async {
            loop {
                let notified = self.settled.notified();
                if self.state().outstanding.is_empty() {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(MAX_HANDLING_WAIT, all_handled)
            .await
            .is_err()
        {
            tracing::warn!("telegram: an update is still being handled after a minute; polling on");
            self.state().outstanding.clear();
        }
    }
}

/// What dropping a [`Finished`] says about its update.
enum Role {
    /// It was handled.
    Handled,
    /// This was a copy while the first delivery is still being handled: that one will tell.
    Copy,
    /// It could not be handled: let Telegram deliver it again.
    Failed,
}

/// Marks one update handled when dropped (see [`Handling::finished_on_drop`]).
pub struct Finished {
    handling: Arc<Handling>,
    id: UpdateId,
    role: Role,
}

impl Finished {
    /// For a copy of an update whose first delivery is still being handled: finishing the copy
    /// must not tell that update's waiters it was handled.
    pub fn only_a_copy(&mut self) {
        self.role = Role::Copy;
    }

    /// The update could not be handled: a webhook post is answered 503 to be posted again.
    pub fn failed(&mut self) {
        self.role = Role::Failed;
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        let mut state = self.handling.state();
        let waiters = match self.role {
            Role::Copy => Vec::new(),
            Role::Handled => state.waiters.remove(&self.id.0).unwrap_or_default(),
            Role::Failed => {
                state.waiters.remove(&self.id.0);
                Vec::new()
            }
        };
        if !matches!(self.role, Role::Copy)
            && state.outstanding.remove(&self.id.0)
            && state.outstanding.is_empty()
        {
            self.handling.settled.notify_waiters();
        }
        drop(state);
        for waiter in waiters {
            let _ = waiter.send(());
        }
    }
}

/// Long polling that asks past a batch of updates only once all of them were handled. Updates
/// of one batch are handled concurrently (one chat does not wait for another); teloxide's own
/// `Polling` cannot do this because it asks for the next batch as soon as it gave out the last.
pub struct ConfirmAfterHandling {
    bot: Bot,
    handling: Arc<Handling>,
    timeout: Duration,
    allowed: Vec<AllowedUpdate>,
    token: StopToken,
    flag: StopFlag,
}

impl ConfirmAfterHandling {
    /// Polls through `bot` with `timeout` long polls; every update it gives out must be
    /// finished through `handling`.
    pub fn new(bot: Bot, timeout: Duration, handling: Arc<Handling>) -> Self {
        let (token, flag) = mk_stop_token();
        Self {
            bot,
            handling,
            timeout,
            allowed: Vec::new(),
            token,
            flag,
        }
    }
}

impl UpdateListener for ConfirmAfterHandling {
    type Err = RequestError;

    fn stop_token(&mut self) -> StopToken {
        self.token.clone()
    }

    fn hint_allowed_updates(&mut self, hint: &mut dyn Iterator<Item = AllowedUpdate>) {
        self.allowed = hint.collect();
    }
}

/// The polling loop's state between items.
struct Poller {
    bot: Bot,
    handling: Arc<Handling>,
    timeout: u32,
    allowed: Vec<AllowedUpdate>,
    flag: StopFlag,
    offset: i32,
    batch: std::collections::VecDeque<Update>,
    backoff: Backoff,
    done: bool,
}

impl Poller {
    /// The next update (or listener error); `None` once stopped.
    async fn next(mut self) -> Option<(Result<Update, RequestError>, Self)> {
        loop {
            if let Some(update) = self.batch.pop_front() {
                // teloxide's dispatcher drops what it cannot parse without handling it.
                if !matches!(update.kind, UpdateKind::Error(_)) {
                    self.handling.begin(update.id);
                }
                return Some((Ok(update), self));
            }
            if self.done {
                return None;
            }
            // Asking past the last batch confirms it: only once it was handled.
            self.handling.settled().await;
            if self.flag.is_stopped() {
                self.done = true;
                if self.offset != 0 {
                    // Confirm what was handled; an update this returns is left for next time.
                    let _ = self
                        .bot
                        .get_updates()
                        .offset(self.offset)
                        .limit(1)
                        .timeout(0)
                        .await;
                }
                return None;
            }
            let request = self
                .bot
                .get_updates()
                .offset(self.offset)
                .timeout(self.timeout)
                .allowed_updates(self.allowed.clone());
            let flag = self.flag.clone();
            let fetched = tokio::select! {
                fetched = request.send() => fetched,
                () = flag => continue,
            };
            match fetched {
                Ok(updates) => {
                    self.backoff.reset();
                    if let Some(last) = updates.last() {
                        self.offset = last.id.as_offset();
                    }
                    self.batch.extend(updates);
                }
                Err(error) => {
                    let wait = self.backoff.next_wait();
                    let flag = self.flag.clone();
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = flag => {}
                    }
                    return Some((Err(error), self));
                }
            }
        }
    }
}

impl<'a> AsUpdateStream<'a> for ConfirmAfterHandling {
    type StreamErr = RequestError;
    type Stream = std::pin::Pin<Box<dyn Stream<Item = Result<Update, RequestError>> + Send + 'a>>;

    fn as_stream(&'a mut self) -> Self::Stream {
        let poller = Poller {
            bot: self.bot.clone(),
            handling: self.handling.clone(),
            timeout: u32::try_from(self.timeout.as_secs()).unwrap_or(u32::MAX),
            allowed: self.allowed.clone(),
            flag: self.flag.clone(),
            offset: 0,
            batch: Default::default(),
            backoff: Backoff::default(),
            done: false,
        };
        Box::pin(futures_util::stream::unfold(poller, Poller::next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn settled_waits_for_every_update_given_out_and_is_bounded() {
        let handling = Arc::new(Handling::default());
        handling.begin(UpdateId(1));
        handling.begin(UpdateId(2));
        let (a, b) = (
            handling.finished_on_drop(UpdateId(1)),
            handling.finished_on_drop(UpdateId(2)),
        );
        let mut waiting_for_b = handling.wait_for(UpdateId(2));
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

        // A stuck one is waited out, then forgotten: its late finish does not release a newer one.
        handling.begin(UpdateId(3));
        let started = tokio::time::Instant::now();
        handling.settled().await;
        assert_eq!(started.elapsed(), MAX_HANDLING_WAIT);
        handling.begin(UpdateId(4));
        drop(handling.finished_on_drop(UpdateId(3)));
        assert!(
            tokio::time::timeout(Duration::from_secs(1), handling.settled())
                .await
                .is_err(),
            "4 is still out"
        );
    }

    #[test]
    fn a_copy_does_not_release_the_waiters_and_a_failure_gives_up_on_them() {
        let handling = Arc::new(Handling::default());
        let mut first = handling.wait_for(UpdateId(9));
        let original = handling.finished_on_drop(UpdateId(9));
        let mut copy = handling.finished_on_drop(UpdateId(9));
        copy.only_a_copy();
        drop(copy);
        assert!(
            first.try_recv().is_err(),
            "the original is still being handled"
        );
        drop(original);
        assert_eq!(first.try_recv(), Ok(()));

        let mut post = handling.wait_for(UpdateId(10));
        let mut failing = handling.finished_on_drop(UpdateId(10));
        failing.failed();
        drop(failing);
        assert_eq!(
            post.try_recv(),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed)
        );
    }
}
