//! Answering one interaction within Discord's 3 seconds.
//!
//! An interaction gets exactly one response, and Discord shows "the application did not
//! respond" if it is not given within 3 s. Most answers are ready in milliseconds, so the
//! answer itself is the response. When the work outlasts [`DEFER_AFTER`], the response is a
//! deferral ("lull is thinking…" for a command, a silent acknowledgement for a click), and the
//! answer follows through the interaction's webhook: the deferred message edited into the
//! answer, or — for an answer only the sender should see, which a public deferral cannot become
//! — the deferral deleted and the answer sent as an ephemeral follow-up.
//!
//! The first response leaves one of two ways ([`Initial`]): as a REST callback (gateway mode,
//! embedded bots) or as the HTTP answer to Discord's post (the interactions endpoint).

use std::future::Future;
use std::time::Duration;

use lull_plugin::Reply;
use serenity::all::{
    AutocompleteChoice, CreateAutocompleteResponse, CreateInteractionResponse,
    CreateInteractionResponseMessage, Http, InteractionId,
};
use tokio::sync::oneshot;

use super::markup;
use crate::chat::deadline::{Timely, within};

/// How long the work may take before the interaction is deferred: well inside Discord's 3 s,
/// leaving time for the response to travel.
pub(crate) const DEFER_AFTER: Duration = Duration::from_millis(1500);

/// How the first response leaves.
pub enum Initial {
    /// `POST /interactions/{id}/{token}/callback`.
    Rest,
    /// As the answer to Discord's post to the interactions endpoint.
    Body(oneshot::Sender<CreateInteractionResponse>),
}

/// What lull answers an interaction with.
#[derive(Debug)]
pub enum Answer {
    /// A new message in the channel (public, or ephemeral as the reply says).
    Message(Reply),
    /// The clicked message's content replaced by this (Discord markdown), without buttons.
    Update(String),
    /// Autocomplete suggestions: (shown name, value).
    Choices(Vec<(String, String)>),
    /// The interactions endpoint's PING.
    Pong,
}

/// The interaction being answered.
pub struct Target<'a> {
    /// Its id.
    pub id: InteractionId,
    /// Its token (valid 15 minutes for follow-ups).
    pub token: &'a str,
    /// A click on a message component (deferred silently, and answered by editing the message).
    pub component: bool,
}

/// Answers `target` with what `work` produces, deferring first if it takes longer than
/// [`DEFER_AFTER`]. Failures to reach Discord are logged: the person can ask again.
pub async fn respond(
    http: &Http,
    target: &Target<'_>,
    initial: Initial,
    work: impl Future<Output = Answer>,
) {
    let answer = match within(DEFER_AFTER, work).await {
        Timely::Ready(answer) => {
            first(http, target, initial, response(answer)).await;
            return;
        }
        Timely::Late(work) => {
            let deferral = if target.component {
                CreateInteractionResponse::Acknowledge
            } else {
                CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new())
            };
            first(http, target, initial, deferral).await;
            work.await
        }
    };
    if let Err(error) = after_deferral(http, target, answer).await {
        tracing::warn!(%error, "discord: could not send an answer after deferring");
    }
}

/// The answer as a first response.
fn response(answer: Answer) -> CreateInteractionResponse {
    match answer {
        Answer::Message(reply) => CreateInteractionResponse::Message(markup::response(&reply)),
        Answer::Update(content) => {
            CreateInteractionResponse::UpdateMessage(markup::replaced(content))
        }
        Answer::Choices(choices) => CreateInteractionResponse::Autocomplete(
            CreateAutocompleteResponse::new().set_choices(
                choices
                    .into_iter()
                    .map(|(name, value)| AutocompleteChoice::new(name, value))
                    .collect(),
            ),
        ),
        Answer::Pong => CreateInteractionResponse::Pong,
    }
}

async fn first(
    http: &Http,
    target: &Target<'_>,
    initial: Initial,
    response: CreateInteractionResponse,
) {
    match initial {
        Initial::Body(answer) => {
            // The post was answered 503 meanwhile (lull stopping): Discord shows a failure.
            let _ = answer.send(response);
        }
        Initial::Rest => {
            if let Err(error) = http
                .create_interaction_response(target.id, target.token, &response, Vec::new())
                .await
            {
                tracing::warn!(%error, "discord: could not answer an interaction");
            }
        }
    }
}

/// What a deferred command's public "thinking…" becomes when the answer is only the sender's:
/// the first follow-up after a deferral takes the deferral's (public) place, so the place is
/// filled with this, and the answer follows privately.
pub(crate) const ANSWERED_PRIVATELY: &str = "(answered privately)";

/// How long a follow-up keeps trying while Discord does not know the deferral yet (interactions
/// endpoint: the deferral travels as the answer to Discord's post, which can arrive after the
/// follow-up).
const UNKNOWN_FOR_AT_MOST: Duration = Duration::from_secs(3);

/// Sends `answer` for a deferred interaction through its webhook.
async fn after_deferral(http: &Http, target: &Target<'_>, answer: Answer) -> serenity::Result<()> {
    let token = target.token;
    match answer {
        Answer::Update(content) => {
            let edit = markup::edit_replaced(content);
            once_known(|| http.edit_original_interaction_response(token, &edit, Vec::new()))
                .await?;
        }
        Answer::Message(reply) if reply.ephemeral || target.component => {
            if !target.component {
                let placeholder = markup::edit(&Reply::markdown(ANSWERED_PRIVATELY));
                let edited = once_known(|| {
                    http.edit_original_interaction_response(token, &placeholder, Vec::new())
                })
                .await;
                if let Err(error) = edited {
                    // The private answer matters more than the placeholder.
                    tracing::warn!(%error, "discord: could not fill a deferral's place");
                }
            }
            let followup = markup::followup(&reply);
            once_known(|| http.create_followup_message(token, &followup, Vec::new())).await?;
        }
        Answer::Message(reply) => {
            let edit = markup::edit(&reply);
            once_known(|| http.edit_original_interaction_response(token, &edit, Vec::new()))
                .await?;
        }
        // Neither is ever deferred late: both are answered from memory.
        Answer::Choices(_) | Answer::Pong => {}
    }
    Ok(())
}

/// Runs `call` again while Discord answers 404 (the interaction's deferral not known yet), for
/// at most [`UNKNOWN_FOR_AT_MOST`].
async fn once_known<T, F: Future<Output = serenity::Result<T>>>(
    mut call: impl FnMut() -> F,
) -> serenity::Result<T> {
    let deadline = tokio::time::Instant::now() + UNKNOWN_FOR_AT_MOST;
    loop {
        match call().await {
            Err(serenity::Error::Http(serenity::all::HttpError::UnsuccessfulRequest(r)))
                if r.status_code.as_u16() == 404 && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}
