//! The HTTP mode's request URLs: `/slack/commands`, `/slack/interactions` and `/slack/events`.
//! Slack signs every request with the app's signing secret: `X-Slack-Signature` is
//! `v0=hex(HMAC-SHA256(secret, "v0:" + X-Slack-Request-Timestamp + ":" + body))`.
//!
//! The chat kit's [`inbox`](crate::chat::inbox) runs the checks — both headers present and the
//! timestamp within 5 minutes before the body is read, the signature (slack-morphism's verifier)
//! before anything is parsed — and answers each request only once it was handled: an event
//! that could not be handled is answered 503, and Slack retries it (same `event_id`, which
//! lull recognises).

use std::collections::HashMap;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;
use tokio_util::sync::CancellationToken;

use super::PLATFORM;
use super::handler::{ANSWER_WITHIN, SlackLull};
use super::settings::{COMMANDS_PATH, EVENTS_PATH, INTERACTIONS_PATH};
use crate::chat::inbox::{self, Inbox, Limits};
use crate::chat::verifier::{Verifier, fresh_timestamp, header};

/// The signature header.
pub(crate) const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The signed timestamp header (Unix seconds).
pub(crate) const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// A request signed longer ago (or ahead) than this is refused: Slack's own rule against
/// replays.
pub(crate) const MAX_SKEW: Duration = Duration::from_secs(300);

/// Requests are small; Slack gives up after 3 s, and lull answers late work by then.
pub(crate) const LIMITS: Limits = Limits {
    max_body_bytes: 1 << 20,
    answer_within: Duration::from_millis(ANSWER_WITHIN.as_millis() as u64 + 700),
};

/// The three routes, for lull's own listener or a host's axum router. `stopping` refuses
/// requests (503) once lull stops.
pub(crate) fn routes(
    lull: SlackLull,
    signing_secret: &str,
    stopping: CancellationToken,
) -> axum::Router {
    let verifier = || {
        Signature(SlackEventSignatureVerifier::new(
            &signing_secret.to_owned().into(),
        ))
    };
    let posts = |kind| SlackPosts {
        lull: lull.clone(),
        kind,
        stopping: stopping.clone(),
    };
    inbox::route(COMMANDS_PATH, posts(Kind::Command), verifier(), LIMITS)
        .merge(inbox::route(
            INTERACTIONS_PATH,
            posts(Kind::Interaction),
            verifier(),
            LIMITS,
        ))
        .merge(inbox::route(
            EVENTS_PATH,
            posts(Kind::Event),
            verifier(),
            LIMITS,
        ))
}

/// The app's signature over timestamp and body.
struct Signature(SlackEventSignatureVerifier);

impl Verifier for Signature {
    fn verify_headers(&self, headers: &HeaderMap) -> Result<(), String> {
        header(headers, SIGNATURE_HEADER)?;
        fresh_timestamp(headers, TIMESTAMP_HEADER, MAX_SKEW)
    }

    fn verify_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
        let body = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
        self.0
            .verify(
                header(headers, SIGNATURE_HEADER)?,
                body,
                header(headers, TIMESTAMP_HEADER)?,
            )
            .map_err(|_| format!("{SIGNATURE_HEADER} does not match the body"))
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Command,
    Interaction,
    Event,
}

/// A verified request, parsed.
pub(crate) enum Posted {
    /// A slash command.
    Command(Box<SlackCommandEvent>),
    /// A click (or another interaction).
    Interaction(Box<SlackInteractionEvent>),
    /// An Events API request.
    Event(Box<SlackPushEvent>),
}

#[derive(Clone)]
struct SlackPosts {
    lull: SlackLull,
    kind: Kind,
    stopping: CancellationToken,
}

/// A form body's fields.
fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

impl Inbox for SlackPosts {
    type Event = Posted;

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn parse(&self, body: &[u8]) -> Result<Posted, String> {
        match self.kind {
            Kind::Command => {
                let fields = serde_json::to_value(form(body)).map_err(|e| e.to_string())?;
                serde_json::from_value(fields)
                    .map(|e| Posted::Command(Box::new(e)))
                    .map_err(|e| format!("not a slash command: {e}"))
            }
            Kind::Interaction => {
                let fields = form(body);
                let payload = fields.get("payload").ok_or("no payload field")?;
                serde_json::from_str(payload)
                    .map(|e| Posted::Interaction(Box::new(e)))
                    .map_err(|e| format!("not an interaction payload: {e}"))
            }
            Kind::Event => serde_json::from_slice(body)
                .map(|e| Posted::Event(Box::new(e)))
                .map_err(|e| format!("not an Events API request: {e}")),
        }
    }

    fn stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    async fn deliver(&self, posted: Posted) -> Option<Response> {
        Some(match posted {
            Posted::Command(event) => axum::Json(self.lull.command(*event).await).into_response(),
            Posted::Interaction(event) => {
                self.lull.interaction(*event).await;
                StatusCode::OK.into_response()
            }
            Posted::Event(event) => match *event {
                SlackPushEvent::UrlVerification(check) => {
                    axum::Json(serde_json::json!({"challenge": check.challenge})).into_response()
                }
                SlackPushEvent::EventCallback(callback) => {
                    if let Err(why) = self.lull.push_event(&callback).await {
                        tracing::warn!(event = %callback.event_id, %why, "slack: an event was not handled; Slack will send it again");
                        return None;
                    }
                    StatusCode::OK.into_response()
                }
                SlackPushEvent::AppRateLimited(_) => StatusCode::OK.into_response(),
            },
        })
    }

    fn overdue(&self) -> Response {
        match self.kind {
            // An event not yet recorded must come again: Slack retries a 503.
            Kind::Event => StatusCode::SERVICE_UNAVAILABLE.into_response(),
            // A command or click answers late through its response_url; never reached, as both
            // answer within their deadline.
            Kind::Command | Kind::Interaction => StatusCode::OK.into_response(),
        }
    }
}
