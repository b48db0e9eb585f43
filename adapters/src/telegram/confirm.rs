//! Long polling that confirms an update to Telegram only after lull handled it.
//!
//! Telegram forgets an update once a `getUpdates` asks past it. teloxide's polling asks for the
//! next batch as soon as the dispatcher took the previous one, before it was handled, so a
//! command being handled when lull is killed would be lost. This listener holds the next request
//! until every update it gave out was handled (bounded), so a kill -9 at any moment leads to a
//! redelivery — which the persisted update ids turn into "handled once" — never to a loss.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_core::Stream;
use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::stop::StopToken;
use teloxide::types::AllowedUpdate;
use teloxide::update_listeners::{AsUpdateStream, Polling, PollingStream, UpdateListener};

/// How long the next `getUpdates` waits for the updates before it to be handled. A handler
/// stuck longer must not stop lull from hearing anything else.
pub const MAX_HANDLING_WAIT: Duration = Duration::from_secs(60);

/// Updates given out and not yet handled.
#[derive(Default)]
pub struct Handling {
    outstanding: AtomicUsize,
    idle: tokio::sync::Notify,
}

impl Handling {
    /// Marks one update given out; it counts until the returned guard drops.
    fn begin(&self) {
        self.outstanding.fetch_add(1, Ordering::SeqCst);
    }

    /// A guard that marks one given-out update handled when dropped.
    pub fn finished_on_drop(self: &Arc<Self>) -> Finished {
        Finished(self.clone())
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
pub struct Finished(Arc<Handling>);

impl Drop for Finished {
    fn drop(&mut self) {
        let previous = self
            .0
            .outstanding
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_sub(1))
            })
            .unwrap_or_default();
        if previous <= 1 {
            self.0.idle.notify_waiters();
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
        let (a, b) = (handling.finished_on_drop(), handling.finished_on_drop());
        let settled = tokio::spawn(handling.clone().settled());
        drop(a);
        tokio::task::yield_now().await;
        assert!(!settled.is_finished(), "one is still being handled");
        drop(b);
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
}
