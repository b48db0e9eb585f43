//! The interactions endpoint: Discord posts each interaction to the application's Interactions
//! Endpoint URL, signed with Ed25519 over `timestamp + body` (`X-Signature-Ed25519`,
//! `X-Signature-Timestamp`), and takes the HTTP answer as the interaction's first response.
//!
//! The chat kit's [`inbox`](crate::chat::inbox) runs the checks — headers present and the
//! timestamp fresh before the body is read, the signature (serenity's verifier) before anything
//! is parsed — and this file is what is Discord's: the signature, the interaction type, and
//! handing each interaction to its handling in a task of its own, so the post is answered as
//! soon as the first response is ready (the answer, or a deferral) while the handling goes on.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serenity::all::{CreateInteractionResponse, Interaction};
use serenity::interactions_endpoint::Verifier as Ed25519Verifier;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::respond::{DEFER_AFTER, Initial};
use super::settings::INTERACTIONS_PATH;
use super::{DiscordLull, PLATFORM};
use crate::chat::inbox::{self, Inbox, Limits};
use crate::chat::verifier::{Verifier, fresh_timestamp, header};

/// The signature header.
pub(crate) const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// The signed timestamp header (Unix seconds).
pub(crate) const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// A post signed longer ago (or ahead) than this is refused: a captured post cannot be replayed
/// later.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(300);

/// Interactions are small; the answer is due within Discord's 3 s, and the handling defers
/// after [`DEFER_AFTER`] at the latest.
pub(crate) const LIMITS: Limits = Limits {
    max_body_bytes: 1 << 20,
    answer_within: Duration::from_millis(DEFER_AFTER.as_millis() as u64 + 1000),
};

/// The endpoint's route. Handling runs on `tasks`, so stopping can wait for it.
pub(crate) fn route(
    lull: DiscordLull,
    verifier: Ed25519Verifier,
    stopping: CancellationToken,
    tasks: TaskTracker,
) -> axum::Router {
    let posts = DiscordPosts {
        lull,
        stopping,
        tasks,
    };
    inbox::route(INTERACTIONS_PATH, posts, Signature(verifier), LIMITS)
}

/// The application's Ed25519 signature over `timestamp + body`.
struct Signature(Ed25519Verifier);

impl Verifier for Signature {
    fn verify_headers(&self, headers: &HeaderMap) -> Result<(), String> {
        header(headers, SIGNATURE_HEADER)?;
        fresh_timestamp(headers, TIMESTAMP_HEADER, MAX_SKEW)
    }

    fn verify_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
        let signature = header(headers, SIGNATURE_HEADER)?;
        let timestamp = header(headers, TIMESTAMP_HEADER)?;
        self.0
            .verify(signature, timestamp, body)
            .map_err(|()| "the Ed25519 signature does not match the body".to_owned())
    }
}

/// Posted interactions on their way to their handling.
#[derive(Clone)]
struct DiscordPosts {
    lull: DiscordLull,
    stopping: CancellationToken,
    tasks: TaskTracker,
}

impl Inbox for DiscordPosts {
    type Event = Box<Interaction>;

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn parse(&self, body: &[u8]) -> Result<Box<Interaction>, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }

    fn stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    async fn deliver(&self, interaction: Box<Interaction>) -> Option<Response> {
        let (first, response) = oneshot::channel();
        let lull = self.lull.clone();
        // In its own task: the post is answered with the first response while a deferred
        // handling goes on, and a post cut off by Discord does not cut the handling.
        self.tasks.spawn(async move {
            lull.interaction(&interaction, Initial::Body(first)).await;
        });
        Some(match response.await.ok()? {
            // Exactly Discord's `{"type":1}`: serenity would add `"data":null`.
            CreateInteractionResponse::Pong => {
                axum::Json(serde_json::json!({"type": 1})).into_response()
            }
            response => axum::Json(response).into_response(),
        })
    }

    fn overdue(&self) -> Response {
        // Never reached: the handling defers well before. Discord shows the failure.
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}
