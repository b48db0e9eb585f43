//! A webhook inbox: the route a platform posts its events to.
//!
//! Every post goes through the same steps, in this order, each with its own answer:
//!
//! 1. the [`Verifier`] on the headers, before the body is read → `401`;
//! 2. a body over the limit → `413`, unreadable → `400`, not whole within [`BODY_DEADLINE`] →
//!    `408`;
//! 3. the [`Verifier`] on the raw body, before anything is parsed → `401`;
//! 4. the platform's parse → `400` with what was wrong;
//! 5. lull stopping → `503` (the platform posts it again after the restart);
//! 6. the event handed to its handling, and the post answered only once it was handled
//!    ([`Inbox::deliver`]), bounded by [`Limits::answer_within`] so the platform does not give up
//!    on the post first ([`Inbox::overdue`]). Handling that will not happen → `503`.
//!
//! A post cut off by a kill -9 is so posted again by the platform, never lost; the
//! [`at_most_once`](super::once) rule makes the second post change nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::verifier::Verifier;

/// How long a post's whole body may take to arrive.
pub const BODY_DEADLINE: Duration = Duration::from_secs(30);

/// One platform's webhook events.
pub trait Inbox: Clone + Send + Sync + 'static {
    /// A parsed event.
    type Event: Send + 'static;

    /// The platform's name, for logs.
    fn platform(&self) -> &'static str;

    /// Reads a verified body; `Err` says what was wrong (answered `400`).
    fn parse(&self, body: &[u8]) -> Result<Self::Event, String>;

    /// Whether lull is stopping: a post now is refused with `503`.
    fn stopping(&self) -> bool;

    /// Hands `event` to its handling and resolves, once it was handled, with the answer to the
    /// post; `None` when it will not be handled (answered `503`, so the platform posts again).
    fn deliver(&self, event: Self::Event) -> impl Future<Output = Option<Response>> + Send;

    /// The answer when handling outlasts [`Limits::answer_within`].
    fn overdue(&self) -> Response;
}

/// The bounds of one platform's posts.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Larger bodies are refused (`413`) unread.
    pub max_body_bytes: usize,
    /// How long a post waits for its event to be handled; shorter than the platform's own
    /// timeout, after which it would post again anyway.
    pub answer_within: Duration,
}

/// The route `path` for `inbox`'s posts, checked by `verifier`.
pub fn route<I: Inbox>(
    path: &str,
    inbox: I,
    verifier: impl Verifier,
    limits: Limits,
) -> axum::Router {
    let state = Posts {
        inbox,
        verifier: Arc::new(verifier),
        limits,
    };
    axum::Router::new()
        .route(path, axum::routing::post(receive::<I>))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .with_state(state)
}

struct Posts<I> {
    inbox: I,
    verifier: Arc<dyn Verifier>,
    limits: Limits,
}

impl<I: Clone> Clone for Posts<I> {
    fn clone(&self) -> Self {
        Self {
            inbox: self.inbox.clone(),
            verifier: self.verifier.clone(),
            limits: self.limits,
        }
    }
}

/// A refusal: the status and a JSON body saying why.
pub fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": message}))).into_response()
}

async fn receive<I: Inbox>(State(posts): State<Posts<I>>, request: Request) -> Response {
    let platform = posts.inbox.platform();
    let refused = |why: String| {
        tracing::warn!(platform, %why, "refused a webhook post that is not the platform's");
        refuse(StatusCode::UNAUTHORIZED, &why)
    };
    if let Err(why) = posts.verifier.verify_headers(request.headers()) {
        return refused(why);
    }
    let headers = request.headers().clone();
    // A whole body within BODY_DEADLINE: the listener's idle timeout alone would let a client
    // trickle a byte every few seconds and hold a connection (before any signature is checked).
    let read = tokio::time::timeout(BODY_DEADLINE, Bytes::from_request(request, &()));
    let Ok(read) = read.await else {
        return refuse(
            StatusCode::REQUEST_TIMEOUT,
            &format!(
                "the body did not arrive within {} s",
                BODY_DEADLINE.as_secs()
            ),
        );
    };
    let body = match read {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "the body is larger than a {platform} event can be ({} bytes)",
                    posts.limits.max_body_bytes
                ),
            );
        }
        Err(rejection) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("the body could not be read: {rejection}"),
            );
        }
    };
    if let Err(why) = posts.verifier.verify_body(&headers, &body) {
        return refused(why);
    }
    let event = match posts.inbox.parse(&body) {
        Ok(event) => event,
        Err(why) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("the body is not a {platform} event: {why}"),
            );
        }
    };
    let unavailable = || {
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "lull is stopping; post again later",
        )
    };
    if posts.inbox.stopping() {
        return unavailable();
    }
    match tokio::time::timeout(posts.limits.answer_within, posts.inbox.deliver(event)).await {
        Ok(Some(answer)) => answer,
        Ok(None) => unavailable(),
        Err(_) => {
            tracing::warn!(
                platform,
                wait_seconds = posts.limits.answer_within.as_secs(),
                "an event is still being handled; answering the platform anyway"
            );
            posts.inbox.overdue()
        }
    }
}

#[cfg(test)]
mod mock_tests;
