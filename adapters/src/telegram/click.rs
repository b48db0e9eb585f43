//! A clicked lull prompt in Telegram: the click answered with `answerCallbackQuery`, the prompt
//! edited with `editMessageText` (which, without a keyboard, removes the buttons), or a new
//! message when Telegram no longer shows the prompt to the bot.

use lull_plugin::Reply;
use teloxide::payloads::AnswerCallbackQuerySetters;
use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, CallbackQueryId, MessageId};

use super::markup::{MAX_ALERT_CHARS, MAX_MESSAGE_CHARS};
use super::send::send_reply;
use crate::chat::click::ClickedPrompt;
use crate::chat::render::cut;

/// The prompt a callback query came from.
pub(crate) struct TelegramPrompt<'a> {
    bot: &'a Bot,
    query: CallbackQueryId,
    /// The prompt's chat and message; `None` for an inline-mode message (never lull's).
    at: Option<(ChatId, MessageId)>,
    /// Its text; `None` when Telegram hides it (a message older than 48 hours).
    text: Option<String>,
}

impl<'a> TelegramPrompt<'a> {
    pub fn new(bot: &'a Bot, query: &CallbackQuery) -> Self {
        let message = query.message.as_ref();
        Self {
            bot,
            query: query.id.clone(),
            at: message.map(|m| (m.chat().id, m.id())),
            text: message
                .and_then(|m| m.regular_message())
                .and_then(|m| m.text().map(str::to_owned)),
        }
    }
}

impl ClickedPrompt for TelegramPrompt<'_> {
    async fn answer(&self, text: &str, alert: bool) {
        let answered = self
            .bot
            .answer_callback_query(self.query.clone())
            .text(cut(text, MAX_ALERT_CHARS))
            .show_alert(alert)
            .await;
        if let Err(error) = answered {
            tracing::warn!(%error, "could not answer a button click");
        }
    }

    fn text(&self) -> Option<String> {
        self.text.clone()
    }

    async fn replace(&self, text: &str) {
        let Some((chat, message)) = self.at else {
            return;
        };
        // Without reply_markup Telegram removes the inline keyboard.
        let edited = self
            .bot
            .edit_message_text(chat, message, cut(text, MAX_MESSAGE_CHARS))
            .await;
        if let Err(error) = edited {
            tracing::warn!(chat = chat.0, %error, "could not edit a prompt");
        }
    }

    async fn send(&self, reply: &Reply) {
        let Some((chat, _)) = self.at else {
            return;
        };
        if let Err(error) = send_reply(self.bot, chat, reply, None).await {
            tracing::warn!(chat = chat.0, %error, "could not send a click's outcome");
        }
    }
}
