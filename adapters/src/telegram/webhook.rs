//! The webhook: Telegram posts each update to `/telegram/webhook` with the secret given to
//! `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`.
//!
//! The secret is compared in constant time and a wrong or missing one refused (401) before the
//! body is read; a body over 1 MiB gets 413 and one that is not an update 400. An accepted
//! update goes to the dispatcher, and the post is answered only once the update was handled
//! (see `confirm.rs`): a post cut off by a kill -9 is posted again by Telegram, never lost.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use subtle::ConstantTimeEq;
use teloxide::stop::{StopFlag, StopToken, mk_stop_token};
use teloxide::types::{Update, UpdateKind};
use teloxide::update_listeners::{AsUpdateStream, UpdateListener};
use tokio::sync::mpsc;

use super::confirm::Handling;
use super::settings::WEBHOOK_PATH;

/// The header Telegram puts the secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Updates are small; anything bigger is not one.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// How long a post waits for its update to be handled before it is answered anyway (Telegram
/// gives up on a post after about a minute and would post it again).
pub const MAX_ANSWER_WAIT: Duration = Duration::from_secs(50);

/// The webhook's route and the update listener it feeds. Every update the listener gives out
/// must be finished through `handling` (lull's branch does so after `TelegramLull::confirming`).
pub fn webhook(secret: &str, handling: Arc<Handling>) -> (WebhookUpdates, axum::Router) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let (token, flag) = mk_stop_token();
    let inbox = Inbox {
        sender,
        flag: flag.clone(),
        handling,
    };
    let router = axum::Router::new()
        .route(WEBHOOK_PATH, axum::routing::post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(inbox.clone());
    let listener = WebhookUpdates {
        receiver,
        token,
        flag,
        handling: inbox.handling.clone(),
    };
    (listener, guarded(router, secret.to_owned()))
}

/// Wraps `router` so only Telegram, holding `secret`, gets through.
pub fn guarded(router: axum::Router, secret: String) -> axum::Router {
    let secret: Arc<[u8]> = secret.into_bytes().into();
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let secret = secret.clone();
            async move { check_secret(&secret, request, next).await }
        },
    ))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"ok": false, "description": message})),
    )
        .into_response()
}

async fn check_secret(secret: &[u8], request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(secret)) {
        tracing::warn!("refused a webhook post without the right secret token");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong X-Telegram-Bot-Api-Secret-Token",
        );
    }
    next.run(request).await
}

#[derive(Clone)]
struct Inbox {
    sender: mpsc::UnboundedSender<Update>,
    flag: StopFlag,
    handling: Arc<Handling>,
}

async fn receive(
    State(inbox): State<Inbox>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than an update can be (1 MiB)",
        );
    };
    let update = match serde_json::from_slice::<Update>(&body) {
        Ok(update) => update,
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("the body is not a Telegram update: {error}"),
            );
        }
    };
    let unavailable = || {
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "lull is stopping; post again later",
        )
    };
    if inbox.flag.is_stopped() {
        return unavailable();
    }
    let id = update.id;
    if let UpdateKind::Error(_) = update.kind {
        // A kind teloxide cannot read: its dispatcher drops it unhandled, and posting it again
        // would not change that.
        tracing::warn!(
            update_id = id.0,
            "ignoring an update of a kind this lull cannot read"
        );
        return StatusCode::OK.into_response();
    }
    let handled = inbox.handling.wait_for(id);
    if inbox.sender.send(update).is_err() {
        inbox.handling.abandon(id);
        return unavailable();
    }
    match tokio::time::timeout(MAX_ANSWER_WAIT, handled).await {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        // The dispatcher went away with the update unhandled: let Telegram post it again.
        Ok(Err(_)) => unavailable(),
        Err(_) => {
            tracing::warn!(
                update_id = id.0,
                "an update is still being handled after 50s; answering Telegram anyway"
            );
            StatusCode::OK.into_response()
        }
    }
}

/// The updates posted to the webhook, as a teloxide update listener.
pub struct WebhookUpdates {
    receiver: mpsc::UnboundedReceiver<Update>,
    token: StopToken,
    flag: StopFlag,
    handling: Arc<Handling>,
}

impl Drop for WebhookUpdates {
    /// Updates posted but never given to the dispatcher are refused (503): Telegram posts them
    /// again.
    fn drop(&mut self) {
        self.receiver.close();
        while let Ok(update) = self.receiver.try_recv() {
            self.handling.abandon(update.id);
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
pub struct WebhookStream<'a> {
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
