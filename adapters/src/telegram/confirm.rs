//! Confirming an update to Telegram only after lull handled it.
//!
//! Telegram forgets an update once a `getUpdates` asks past it, or once a webhook post was
//! answered `200`. teloxide asks for the next batch as soon as the dispatcher took the previous
//! one, and its webhook answers on receipt, both before the update was handled, so a command
//! being handled when lull is killed would be lost. [`Handling`] learns when each update was
//! handled; [`ConfirmAfterHandling`] holds the next `getUpdates` until then (bounded), and the
//! webhook (`webhook.rs`) answers only then. A kill -9 at any moment so leads to a redelivery —
//! which the persisted update ids turn into "handled once" — never to a loss.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::stop::StopToken;
use teloxide::types::{AllowedUpdate, UpdateId};
use teloxide::update_listeners::{AsUpdateStream, Polling, PollingStream, UpdateListener};
use tokio::sync::oneshot;

/// How long the next `getUpdates` waits for the updates before it to be handled. A handler
/// stuck longer must not stop lull from hearing anything else.
pub const MAX_HANDLING_WAIT: Duration = Duration::from_secs(60);

/// Updates given out and not yet handled.
#[derive(Default)]
pub struct Handling {
    outstanding: AtomicUsize,
    idle: tokio::sync::Notify,
    /// Webhook posts waiting for their update to be handled, by update id.
    waiters: Mutex<HashMap<u32, Vec<oneshot::Sender<()>>>>,
}

impl Handling {
    /// Marks one update given out (polling); it counts until a guard for it drops.
    fn begin(&self) {
        self.outstanding.fetch_add(1, Ordering::SeqCst);
    }

    /// Resolves when update `id` has been handled.
    pub fn wait_for(&self, id: UpdateId) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.0)
            .or_default()
            .push(sender);
        receiver
    }

    /// A guard that marks update `id` handled when dropped.
    pub fn finished_on_drop(self: &Arc<Self>, id: UpdateId) -> Finished {
        Finished {
            handling: self.clone(),
            id: Some(id),
        }
    }

    /// Resolves once nothing is outstanding, or after [`MAX_HANDLING_WAIT`].
    async fn settled(self: Arc<Self>) {
        let all_handled = async {
            loop {
                let notified = self.idle.notified();
                if self.outstanding.load(Ordering::SeqCst) == 0 {
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
            self.outstanding.store(0, Ordering::SeqCst);
        }
    }
}

/// Marks one update handled when dropped (see [`Handling::finished_on_drop`]).
pub struct Finished {
    handling: Arc<Handling>,
    id: Option<UpdateId>,
}

impl Finished {
    /// For a copy of an update whose first delivery is still being handled: finishing the copy
    /// must not tell that update's waiters it was handled.
    pub fn only_a_copy(&mut self) {
        self.id = None;
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        let handling = &self.handling;
        let previous = handling
            .outstanding
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(1))
            })
            .unwrap_or_default();
        if previous <= 1 {
            handling.idle.notify_waiters();
        }
        if let Some(id) = self.id {
            let waiters = handling
                .waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id.0);
            for waiter in waiters.into_iter().flatten() {
                let _ = waiter.send(());
            }
        }
    }
}

/// teloxide's long polling, holding each next `getUpdates` until the updates before it were
/// handled.
pub struct ConfirmAfterHandling {
    polling: Polling<Bot>,
    handling: Arc<Handling>,
}

impl ConfirmAfterHandling {
    /// Wraps `polling`; every update it gives out must be finished through `handling`.
    pub fn new(polling: Polling<Bot>, handling: Arc<Handling>) -> Self {
        Self { polling, handling }
    }
}

impl UpdateListener for ConfirmAfterHandling {
    type Err = RequestError;

    fn stop_token(&mut self) -> StopToken {
        self.polling.stop_token()
    }

    fn hint_allowed_updates(&mut self, hint: &mut dyn Iterator<Item = AllowedUpdate>) {
        self.polling.hint_allowed_updates(hint);
    }
}

impl<'a> AsUpdateStream<'a> for ConfirmAfterHandling {
    type StreamErr = RequestError;
    type Stream = ConfirmStream<'a>;

    fn as_stream(&'a mut self) -> Self::Stream {
        ConfirmStream {
            inner: Box::pin(self.polling.as_stream()),
            handling: self.handling.clone(),
            waiting: None,
        }
    }
}

/// The stream of [`ConfirmAfterHandling`].
pub struct ConfirmStream<'a> {
    inner: Pin<Box<PollingStream<'a, Bot>>>,
    handling: Arc<Handling>,
    /// Kept across polls: the dispatcher drops its `next()` future whenever it looks at its
    /// shutdown state.
    waiting: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Stream for ConfirmStream<'_> {
    type Item = Result<Update, RequestError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.handling.outstanding.load(Ordering::SeqCst) > 0 || this.waiting.is_some() {
            let handling = this.handling.clone();
            let waiting = this
                .waiting
                .get_or_insert_with(|| Box::pin(handling.settled()));
            ready!(waiting.as_mut().poll(cx));
            this.waiting = None;
        }
        let next = ready!(this.inner.as_mut().poll_next(cx));
        if let Some(Ok(_)) = &next {
            this.handling.begin();
        }
        Poll::Ready(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn settled_waits_for_every_guard_and_is_bounded() {
        let handling = Arc::new(Handling::default());
        handling.begin();
        handling.begin();
        let (a, b) = (
            handling.finished_on_drop(UpdateId(1)),
            handling.finished_on_drop(UpdateId(2)),
        );
        let mut waiting_for_b = handling.wait_for(UpdateId(2));
        let settled = tokio::spawn(handling.clone().settled());
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

        handling.begin();
        let started = tokio::time::Instant::now();
        handling.clone().settled().await;
        assert_eq!(
            started.elapsed(),
            MAX_HANDLING_WAIT,
            "a stuck handler is waited out"
        );
    }

    #[test]
    fn a_copy_does_not_release_the_waiters_of_the_update_being_handled() {
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
    }
}
