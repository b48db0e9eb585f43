//! The webhook: Telegram posts each update to `/telegram/webhook` with the secret given to
//! `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`.
//!
//! The chat kit's [`inbox`](crate::chat::inbox) does the checks (body limit, the secret
//! compared in constant time before parsing, stopping) and answers a post only once its update
//! was handled; this file is what is Telegram's: the update type, and the teloxide update
//! listener the posted updates feed.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use teloxide::stop::{StopFlag, StopToken, mk_stop_token};
use teloxide::types::{Update, UpdateId, UpdateKind};
use teloxide::update_listeners::{AsUpdateStream, UpdateListener};
use tokio::sync::mpsc;

use super::settings::WEBHOOK_PATH;
use crate::chat::acknowledge::Handling;
use crate::chat::inbox::{self, Inbox, Limits};
use crate::chat::verifier::SecretHeader;

/// The header Telegram puts the secret in.
pub(crate) const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Updates are small (1 MiB is far beyond one); Telegram gives up on a post after about a
/// minute and would post it again, so it is answered within 50 s.
pub(crate) const LIMITS: Limits = Limits {
    max_body_bytes: 1 << 20,
    answer_within: Duration::from_secs(50),
};

/// The webhook's route and the update listener it feeds. Every update the listener gives out
/// must be finished through `handling` (lull's branch does so after `TelegramLull::confirming`).
pub(crate) fn webhook(
    secret: &str,
    handling: Arc<Handling<UpdateId>>,
) -> (WebhookUpdates, axum::Router) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let (token, flag) = mk_stop_token();
    let posts = TelegramPosts {
        sender,
        flag: flag.clone(),
        handling: handling.clone(),
    };
    let router = inbox::route(
        WEBHOOK_PATH,
        posts,
        SecretHeader::new(SECRET_HEADER, secret),
        LIMITS,
    );
    let listener = WebhookUpdates {
        receiver,
        token,
        flag,
        handling,
    };
    (listener, router)
}

/// Posted updates on their way to the dispatcher.
#[derive(Clone)]
struct TelegramPosts {
    sender: mpsc::UnboundedSender<Update>,
    flag: StopFlag,
    handling: Arc<Handling<UpdateId>>,
}

impl Inbox for TelegramPosts {
    type Event = Update;

    fn platform(&self) -> &'static str {
        super::PLATFORM
    }

    fn parse(&self, body: &[u8]) -> Result<Update, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }

    fn stopping(&self) -> bool {
        self.flag.is_stopped()
    }

    async fn deliver(&self, update: Update) -> Option<Response> {
        let id = update.id;
        if let UpdateKind::Error(_) = update.kind {
            // A kind teloxide cannot read: its dispatcher drops it unhandled, and posting it
            // again would not change that.
            tracing::warn!(
                update_id = id.0,
                "ignoring an update of a kind this lull cannot read"
            );
            return Some(StatusCode::OK.into_response());
        }
        if let Some(first) = self.handling.join(&id) {
            // Posted again while the first post's update is still being handled (it was
            // answered overdue): answered when that handling ends.
            first.await.ok()?;
            return Some(StatusCode::OK.into_response());
        }
        let handled = self.handling.wait_for(id);
        if self.sender.send(update).is_err() {
            self.handling.abandon(&id);
            return None;
        }
        // `Err`: the dispatcher went away with the update unhandled; Telegram posts it again.
        handled.await.ok()?;
        Some(StatusCode::OK.into_response())
    }

    /// Not `200`: that would confirm an update not yet handled. Telegram posts it again later;
    /// the copy waits for the first handling and is answered when it ends.
    fn overdue(&self) -> Response {
        inbox::refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the update is still being handled; post it again",
        )
    }
}

/// The updates posted to the webhook, as a teloxide update listener.
pub(crate) struct WebhookUpdates {
    receiver: mpsc::UnboundedReceiver<Update>,
    token: StopToken,
    flag: StopFlag,
    handling: Arc<Handling<UpdateId>>,
}

impl Drop for WebhookUpdates {
    /// Updates posted but never given to the dispatcher are refused (503): Telegram posts them
    /// again.
    fn drop(&mut self) {
        self.receiver.close();
        while let Ok(update) = self.receiver.try_recv() {
            self.handling.abandon(&update.id);
        }
    }
}

impl UpdateListener for WebhookUpdates {
    type Err = Infallible;

    fn stop_token(&mut self) -> StopToken {
        self.token.clone()
    }
}

impl<'a> AsUpdateStream<'a> for WebhookUpdates {
    type StreamErr = Infallible;
    type Stream = WebhookStream<'a>;

    fn as_stream(&'a mut self) -> Self::Stream {
        WebhookStream { listener: self }
    }
}

/// The stream of [`WebhookUpdates`]: ends when the listener is stopped.
pub(crate) struct WebhookStream<'a> {
    listener: &'a mut WebhookUpdates,
}

impl Stream for WebhookStream<'_> {
    type Item = Result<Update, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let listener = &mut *self.get_mut().listener;
        if Pin::new(&mut listener.flag).poll(cx).is_ready() {
            listener.receiver.close();
            return Poll::Ready(None);
        }
        listener.receiver.poll_recv(cx).map(|update| update.map(Ok))
    }
}
