//! Sending lull's messages to Telegram: a [`Reply`] as an HTML message with its keyboard (plain
//! text if Telegram cannot parse it), what each Bot API error means for a retry, and the notice
//! sink the outbox delivery drives.

use lull_plugin::{Notice, Reply};
use teloxide::ApiError;
use teloxide::RequestError;
use teloxide::payloads::SendMessageSetters;
use teloxide::prelude::*;
use teloxide::types::{MessageId, ParseMode, ReplyParameters};

use super::PLATFORM;
use super::markup::{MAX_MESSAGE_CHARS, html, keyboard};
use crate::chat::outbox::{NoticeSink, SendError};
use crate::chat::rate_limit::sitting_out_rate_limits;
use crate::chat::render::cut;

/// Sends `reply` to `chat`, as a reply to `reply_to` when given (and still there). A direct
/// reply sits out a short rate limit (the kit's rule); a notice is retried by the outbox.
pub(crate) async fn send_reply(
    bot: &Bot,
    chat: ChatId,
    reply: &Reply,
    reply_to: Option<MessageId>,
) -> Result<Message, RequestError> {
    let build = |text: String| {
        let mut request = bot.send_message(chat, text);
        if let Some(markup) = keyboard(&reply.buttons) {
            request = request.reply_markup(markup);
        }
        if let Some(id) = reply_to {
            request =
                request.reply_parameters(ReplyParameters::new(id).allow_sending_without_reply());
        }
        request
    };
    let send = || async {
        match build(html(reply)).parse_mode(ParseMode::Html).await {
            // The markup is lull's own, but a reason or a redacted output tail is not: rather
            // than lose the message, send it without formatting.
            Err(RequestError::Api(ApiError::CantParseEntities(_))) => {
                build(cut(&reply.plain, MAX_MESSAGE_CHARS)).await
            }
            other => other,
        }
    };
    let retry_after = |error: &RequestError| match error {
        RequestError::RetryAfter(wait) if reply_to.is_some() => Some(wait.duration()),
        _ => None,
    };
    sitting_out_rate_limits(send, retry_after).await
}

/// What a Bot API error means for another attempt.
pub(crate) fn classify(error: &RequestError) -> SendError {
    match error {
        RequestError::RetryAfter(wait) => SendError::RetryAfter(wait.duration()),
        RequestError::Network(_) | RequestError::Io(_) | RequestError::InvalidJson { .. } => {
            SendError::Transient(error.to_string())
        }
        // A revoked token or a Bot API server's own trouble passes; dropping notices would not.
        RequestError::Api(ApiError::InvalidToken) => SendError::Transient(error.to_string()),
        RequestError::Api(ApiError::Unknown(description))
            if !["Bad Request", "Forbidden", "Unauthorized"]
                .iter()
                .any(|p| description.starts_with(p)) =>
        {
            SendError::Transient(error.to_string())
        }
        RequestError::Api(_) | RequestError::MigrateToChatId(_) => {
            SendError::Permanent(error.to_string())
        }
    }
}

/// Delivers notices from the outbox through a bot.
pub struct TelegramNotices {
    /// The bot that sends them.
    pub(crate) bot: Bot,
}

impl NoticeSink for TelegramNotices {
    fn platform(&self) -> &str {
        PLATFORM
    }

    async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        let chat = notice.chat.chat.parse::<i64>().map(ChatId).map_err(|_| {
            SendError::Permanent(format!("{:?} is not a Telegram chat id", notice.chat.chat))
        })?;
        match send_reply(&self.bot, chat, &notice.reply, None).await {
            Ok(_) => Ok(()),
            // A group that became a supergroup has a new id; the notice still belongs there.
            Err(RequestError::MigrateToChatId(new_chat)) => {
                tracing::info!(
                    old = chat.0,
                    new = new_chat.0,
                    "the chat moved to a supergroup; sending there"
                );
                send_reply(&self.bot, new_chat, &notice.reply, None)
                    .await
                    .map(|_| ())
                    .map_err(|e| classify(&e))
            }
            Err(error) => Err(classify(&error)),
        }
    }
}
