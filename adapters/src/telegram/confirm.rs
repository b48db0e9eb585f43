//! Long polling that confirms an update to Telegram only after lull handled it.
//!
//! Telegram forgets an update once a `getUpdates` asks past it. teloxide's own polling asks for
//! the next batch as soon as the dispatcher took the previous one, before the updates were
//! handled, so a command being handled when lull is killed would be lost.
//! [`ConfirmAfterHandling`] asks past a batch only once the chat kit's
//! [`Handling`](crate::chat::acknowledge::Handling) says every update of it was handled, and asks
//! again for one that could not be handled. An update still being handled after the chat kit's
//! bound is overdue: the poller goes on hearing the updates after it, but holds the offset at
//! it (Telegram confirms everything below an offset), so it is confirmed only once handled.

use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use teloxide::RequestError;
use teloxide::payloads::GetUpdatesSetters;
use teloxide::prelude::*;
use teloxide::stop::{StopFlag, StopToken, mk_stop_token};
use teloxide::types::{AllowedUpdate, UpdateId, UpdateKind};
use teloxide::update_listeners::{AsUpdateStream, UpdateListener};

use crate::chat::acknowledge::Handling;
use lull_queue::Backoff;

/// Between polls while an overdue update holds the offset: each poll then answers at once
/// (the held update comes back), so without a pause the poller would spin.
const HELD_POLL_PAUSE: Duration = Duration::from_secs(2);

/// Long polling that asks past a batch of updates only once all of them were handled. Updates
/// of one batch are handled concurrently (one chat does not wait for another); teloxide's own
/// `Polling` cannot do this because it asks for the next batch as soon as it gave out the last.
pub(crate) struct ConfirmAfterHandling {
    bot: Bot,
    handling: Arc<Handling<UpdateId>>,
    timeout: Duration,
    allowed: Vec<AllowedUpdate>,
    token: StopToken,
    flag: StopFlag,
}

impl ConfirmAfterHandling {
    /// Polls through `bot` with `timeout` long polls; every update it gives out must be
    /// finished through `handling`.
    pub fn new(bot: Bot, timeout: Duration, handling: Arc<Handling<UpdateId>>) -> Self {
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
    handling: Arc<Handling<UpdateId>>,
    timeout: u32,
    allowed: Vec<AllowedUpdate>,
    flag: StopFlag,
    offset: i32,
    batch: std::collections::VecDeque<Update>,
    backoff: Backoff,
    /// Between asking again for an update that could not be handled; reset once a batch is
    /// handled whole.
    refetch_backoff: Backoff,
    /// The newest update given out, to tell a batch with news from one of redeliveries.
    newest: Option<UpdateId>,
    /// Updates whose handling failed, asked for again: given out again when they come.
    again: std::collections::HashSet<UpdateId>,
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
            let failed = self.handling.take_failed();
            self.again.extend(failed.iter().copied());
            if let Some(first) = failed.into_iter().min() {
                // Not handled (the store could not be read, or lull is stopping): ask for it
                // again rather than past it; the ones after it come again and are seen.
                self.offset = first.as_offset() - 1;
                if !self.flag.is_stopped() {
                    let wait = self.refetch_backoff.next_wait();
                    tracing::warn!(
                        update_id = first.0,
                        retry_in_seconds = wait.as_secs(),
                        "telegram: an update could not be handled; asking for it again"
                    );
                    let flag = self.flag.clone();
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = flag => {}
                    }
                }
            } else {
                self.refetch_backoff.reset();
            }
            if let Some(held) = self.handling.held() {
                // Overdue and still being handled: not confirmed, whatever came after it.
                self.offset = self.offset.min(held.as_offset() - 1);
            }
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
                Ok(mut updates) => {
                    self.backoff.reset();
                    let news = updates.iter().any(|u| Some(u.id) > self.newest);
                    // What was given out before comes again only because the offset was held
                    // or lowered: the dispatcher gets it again only if its handling failed. (An
                    // overdue update's copies would otherwise fill its chat's queue, and a full
                    // queue stops teloxide from reading any update.)
                    let newest = self.newest;
                    updates.retain(|u| Some(u.id) > newest || self.again.remove(&u.id));
                    self.newest = self.newest.max(updates.iter().map(|u| u.id).max());
                    if let Some(newest) = self.newest {
                        // Past everything given out so far; a held or failed update lowers it
                        // again before the next ask.
                        self.offset = newest.as_offset();
                    }
                    self.batch.extend(updates);
                    if !news && self.handling.held().is_some() {
                        let flag = self.flag.clone();
                        tokio::select! {
                            () = tokio::time::sleep(HELD_POLL_PAUSE) => {}
                            () = flag => {}
                        }
                    }
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
            refetch_backoff: Backoff::default(),
            newest: None,
            again: Default::default(),
            done: false,
        };
        Box::pin(futures_util::stream::unfold(poller, Poller::next))
    }
}

#[cfg(test)]
mod mock_tests;
