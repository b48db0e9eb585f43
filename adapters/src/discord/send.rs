//! Sending lull's messages to Discord channels: a [`Reply`] as a channel message (an answer to
//! an agent's message, or a notice), what each REST error means for a retry, and the notice
//! sink the outbox delivery drives.
//!
//! Rate limits: against Discord itself serenity's rate limiter sits out every 429 for the
//! `Retry-After` Discord names before it returns. With another `api_url` (a proxy, a fake)
//! serenity runs without its limiter and hands back the 429 without its wait, so lull waits
//! [`UNNAMED_RETRY_AFTER`] and tries again.

use std::sync::Arc;
use std::time::Duration;

use lull_plugin::{Notice, Reply};
use serenity::all::{ChannelId, Http, HttpError, Message, MessageId, MessageReference};
use serenity::http::StatusCode;

use super::PLATFORM;
use super::markup;
use crate::chat::outbox::{NoticeSink, SendError};
use crate::chat::rate_limit::sitting_out_rate_limits;

/// The wait after a 429 whose own wait serenity did not pass on.
pub(crate) const UNNAMED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Sends `reply` to `channel`, as a reply to `reply_to` when given. A direct reply sits out a
/// short rate limit (the kit's rule); a notice is retried by the outbox.
pub(crate) async fn send_reply(
    http: &Http,
    channel: ChannelId,
    reply: &Reply,
    reply_to: Option<MessageId>,
) -> serenity::Result<Message> {
    let mut message = markup::message(reply);
    if let Some(id) = reply_to {
        let mut reference = MessageReference::from((channel, id));
        // The agent's message may be gone by now: the answer still belongs in the channel.
        reference.fail_if_not_exists = Some(false);
        message = message.reference_message(reference);
    }
    let send = || http.send_message(channel, Vec::new(), &message);
    sitting_out_rate_limits(send, |error| reply_to.and(rate_limited(error))).await
}

/// The status of a REST error Discord answered.
fn status(error: &serenity::Error) -> Option<StatusCode> {
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => {
            Some(response.status_code)
        }
        _ => None,
    }
}

/// The wait a 429 asks for.
fn rate_limited(error: &serenity::Error) -> Option<Duration> {
    (status(error) == Some(StatusCode::TOO_MANY_REQUESTS)).then_some(UNNAMED_RETRY_AFTER)
}

/// What a REST error means for another attempt.
pub(crate) fn classify(error: &serenity::Error) -> SendError {
    if let Some(wait) = rate_limited(error) {
        return SendError::RetryAfter(wait);
    }
    match status(error) {
        // A missing channel, no access to it, a body Discord refuses: no retry changes that.
        Some(s) if matches!(s.as_u16(), 400 | 403 | 404) => SendError::Permanent(error.to_string()),
        // A revoked token or Discord's own trouble passes; dropping notices would not.
        _ => SendError::Transient(error.to_string()),
    }
}

/// Delivers notices from the outbox through a bot.
pub struct DiscordNotices {
    /// The REST client that sends them.
    pub(crate) http: Arc<Http>,
}

impl NoticeSink for DiscordNotices {
    fn platform(&self) -> &str {
        PLATFORM
    }

    async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        let channel = notice
            .chat
            .chat
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(ChannelId::new)
            .ok_or_else(|| {
                SendError::Permanent(format!(
                    "{:?} is not a Discord channel id",
                    notice.chat.chat
                ))
            })?;
        send_reply(&self.http, channel, &notice.reply, None)
            .await
            .map(|_| ())
            .map_err(|e| classify(&e))
    }
}
