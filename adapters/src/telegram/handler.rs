//! The Telegram side of the command core: which updates are lull's, the dptree branch that
//! takes them, and their handling — a command or a button click in, a reply, an answered
//! callback and an edited prompt out. Each update is handled at most once, across restarts.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lull_plugin::{Input, Invocation, ParseError, Plugin, Reply, Sender, prompt};
use teloxide::dispatching::{UpdateFilterExt, UpdateHandler};
use teloxide::payloads::AnswerCallbackQuerySetters;
use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, Me, Message, MessageId, User};

use super::confirm::Handling;
use super::markup::{MAX_ALERT_CHARS, cut};
use super::send::send_reply;

/// The platform name in senders, chats and notices.
pub const PLATFORM: &str = "telegram";

/// How long a handled `update_id` is remembered. Telegram keeps an unconfirmed update for at
/// most 24 hours, so a redelivery can never come later than this.
pub const SEEN_TTL: Duration = Duration::from_secs(48 * 3600);

/// lull on one Telegram bot: the bot it answers as and the command core it hands commands to.
/// Cheap to clone.
#[derive(Clone)]
pub struct TelegramLull {
    bot: Bot,
    plugin: Plugin,
    owns_the_bot: bool,
    /// Told when each update is handled, when the listener waits for that (sidecar polling).
    handling: Option<Arc<Handling>>,
    /// Update ids being handled now: a copy delivered meanwhile (a webhook retry) is skipped
    /// rather than racing the first past the seen-id check.
    in_flight: Arc<Mutex<HashSet<String>>>,
}

impl TelegramLull {
    /// lull inside a host's bot, answering as `bot`. The bot's own requests (replies, edits,
    /// notices) go through it, whatever requester type the host's dispatcher uses. Besides
    /// `/maintenance`, only text that *replies* to one of the bot's messages (`approve r7k2`)
    /// is taken: everything else people write is the host's.
    pub fn new(bot: Bot, plugin: Plugin) -> Self {
        Self {
            bot,
            plugin,
            owns_the_bot: false,
            handling: None,
            in_flight: Arc::default(),
        }
    }

    /// lull on a bot of its own (the sidecar): any text answer to a prompt is taken, reply or not.
    pub fn owning_the_bot(mut self) -> Self {
        self.owns_the_bot = true;
        self
    }

    /// Tells `handling` when each update this branch takes has been handled (for
    /// [`ConfirmAfterHandling`](super::confirm::ConfirmAfterHandling)).
    pub fn confirming(mut self, handling: Arc<Handling>) -> Self {
        self.handling = Some(handling);
        self
    }

    /// The bot.
    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    /// The command core.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// The dptree branch that takes lull's updates — `/maintenance …` (or
    /// `/maintenance@this_bot …`) messages, text replies such as `approve r7k2`, and clicks on
    /// lull's buttons — and lets every other update fall through to the host's branches.
    pub fn branch<Err: Send + Sync + 'static>(&self) -> UpdateHandler<Err> {
        let (for_messages, for_clicks) = (self.clone(), self.clone());
        let owns_the_bot = self.owns_the_bot;
        dptree::entry()
            .branch(
                Update::filter_message()
                    .filter(move |message: Message, me: Me| is_for_us(&message, &me, owns_the_bot))
                    .endpoint(move |update: Update, message: Message, me: Me| {
                        let lull = for_messages.clone();
                        async move {
                            lull.once(&update, &me, lull.on_message(message, &me)).await;
                            Ok::<(), Err>(())
                        }
                    }),
            )
            .branch(
                Update::filter_callback_query()
                    .filter(|query: CallbackQuery| {
                        query.data.as_deref().is_some_and(prompt::is_lull_payload)
                    })
                    .endpoint(move |update: Update, query: CallbackQuery, me: Me| {
                        let lull = for_clicks.clone();
                        async move {
                            lull.once(&update, &me, lull.on_click(query)).await;
                            Ok::<(), Err>(())
                        }
                    }),
            )
    }

    /// Runs `handling` unless this update was handled before (a redelivery after lull was
    /// killed, or a webhook post Telegram retried). The update id is recorded in the same
    /// transaction as the first change the handling makes, or after it if it changes nothing.
    async fn once(&self, update: &Update, me: &Me, handling: impl Future<Output = ()>) {
        let mut finished = self
            .handling
            .as_ref()
            .map(|h| h.finished_on_drop(update.id));
        let store = self.plugin.scheduler().store();
        let key = format!("{PLATFORM}:{}:{}", me.id.0, update.id.0);
        let Some(_claim) = InFlight::claim(&self.in_flight, &key) else {
            if let Some(finished) = &mut finished {
                finished.only_a_copy();
            }
            tracing::info!(
                update_id = update.id.0,
                "ignoring a copy of an update being handled"
            );
            return;
        };
        match store.event_seen(&key) {
            Ok(false) => {}
            Ok(true) => {
                tracing::info!(update_id = update.id.0, "ignoring a redelivered update");
                return;
            }
            Err(error) => {
                // Unknown whether it ran before: not running it is the side that cannot loop.
                // A webhook post is refused so Telegram posts it again once the store reads.
                tracing::error!(%error, update_id = update.id.0, "cannot check whether an update was handled; not handling it");
                if let Some(finished) = &mut finished {
                    finished.failed();
                }
                return;
            }
        }
        store.handling_event(&key, SEEN_TTL, handling).await;
        // For updates that changed nothing (status, help, refusals of parse errors).
        if let Err(error) = store.mark_event_seen(&key, SEEN_TTL).await {
            tracing::error!(%error, update_id = update.id.0, "cannot record a handled update");
        }
    }

    async fn on_message(&self, message: Message, me: &Me) {
        let (Some(from), Some(text)) = (message.from.as_ref(), message.text()) else {
            return;
        };
        if message.sender_chat.is_some() {
            // An anonymous group admin or a channel: `from` is Telegram's placeholder account,
            // shared by every such sender everywhere, so it must never be trusted as anyone.
            let reply = Reply::refusal(
                "lull needs to know who is asking: send /maintenance as yourself, not anonymously or as a channel.",
            );
            if let Err(error) =
                send_reply(&self.bot, message.chat.id, &reply, Some(message.id)).await
            {
                tracing::warn!(chat = message.chat.id.0, %error, "could not send a reply");
            }
            return;
        }
        let invocation = Invocation {
            sender: sender(from),
            chat: Some(message.chat.id.0.to_string()),
            input: Input::Text(text.to_owned()),
            bot_username: me.user.username.clone(),
        };
        let Some(reply) = self.plugin.handle(invocation).await else {
            return;
        };
        if let Err(error) = send_reply(&self.bot, message.chat.id, &reply, Some(message.id)).await {
            tracing::warn!(chat = message.chat.id.0, %error, "could not send a reply");
        }
    }

    async fn on_click(&self, query: CallbackQuery) {
        let Some(prompt_message) = query.message.as_ref() else {
            // Inline-mode messages are not lull's prompts.
            self.answer(
                &query,
                "This button does not belong to a lull prompt.",
                true,
            )
            .await;
            return;
        };
        let chat = prompt_message.chat().id;
        let invocation = Invocation {
            sender: sender(&query.from),
            chat: Some(chat.0.to_string()),
            input: Input::Click(query.data.clone().unwrap_or_default()),
            bot_username: None,
        };
        let Some(reply) = self.plugin.handle(invocation).await else {
            return;
        };
        if reply.ephemeral {
            // Refused or failed: only the clicker is told; the prompt stays for someone who may.
            self.answer(&query, &reply.plain, true).await;
            return;
        }
        self.answer(&query, &reply.plain, false).await;
        let now = self.plugin.scheduler().store().now();
        let outcome = format!("{}\n— {}, {now}", reply.plain, display(&query.from));
        match prompt_message
            .regular_message()
            .and_then(|m| m.text().map(str::to_owned))
        {
            Some(prompt_text) => {
                self.edit_prompt(chat, prompt_message.id(), &prompt_text, &outcome)
                    .await
            }
            // Too old to edit (Telegram hides messages older than 48 hours from bots).
            None => {
                let notice = Reply::markdown(outcome);
                if let Err(error) = send_reply(&self.bot, chat, &notice, None).await {
                    tracing::warn!(chat = chat.0, %error, "could not send a click's outcome");
                }
            }
        }
    }

    async fn answer(&self, query: &CallbackQuery, text: &str, alert: bool) {
        let answered = self
            .bot
            .answer_callback_query(query.id.clone())
            .text(cut(text, MAX_ALERT_CHARS))
            .show_alert(alert)
            .await;
        if let Err(error) = answered {
            tracing::warn!(%error, "could not answer a button click");
        }
    }

    /// Shows the outcome under the prompt and removes its buttons, so nobody clicks twice.
    async fn edit_prompt(&self, chat: ChatId, message: MessageId, prompt: &str, outcome: &str) {
        let text = cut(
            &format!("{prompt}\n\n{outcome}"),
            super::markup::MAX_MESSAGE_CHARS,
        );
        // Without reply_markup Telegram removes the inline keyboard.
        let edited = self.bot.edit_message_text(chat, message, text).await;
        if let Err(error) = edited {
            tracing::warn!(chat = chat.0, %error, "could not edit a prompt");
        }
    }
}

/// Whether a message is lull's: a `/maintenance` command addressed to this bot (or to no bot in
/// particular), or a text answer (`approve r7k2`) — in a host's bot only when it replies to one
/// of the bot's own messages.
fn is_for_us(message: &Message, me: &Me, owns_the_bot: bool) -> bool {
    let Some(text) = message.text().filter(|_| message.from.is_some()) else {
        return false;
    };
    let answers_the_bot = || {
        message
            .reply_to_message()
            .and_then(|m| m.from.as_ref())
            .is_some_and(|author| author.id == me.user.id)
    };
    if !text.trim_start().starts_with('/') && !owns_the_bot && !answers_the_bot() {
        return false;
    }
    !matches!(
        lull_plugin::parse(text, me.user.username.as_deref()),
        Err(ParseError::NotForUs)
    )
}

/// A claim on an update id while it is handled; released when dropped.
struct InFlight {
    set: Arc<Mutex<HashSet<String>>>,
    key: String,
}

impl InFlight {
    fn claim(set: &Arc<Mutex<HashSet<String>>>, key: &str) -> Option<Self> {
        set.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned())
            .then(|| Self {
                set: set.clone(),
                key: key.to_owned(),
            })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

fn sender(user: &User) -> Sender {
    Sender {
        is_bot: user.is_bot,
        ..Sender::chat(PLATFORM, &user.id.0.to_string(), &display(user))
    }
}

/// `@username`, or the name when there is none.
fn display(user: &User) -> String {
    match &user.username {
        Some(username) => format!("@{username}"),
        None => user.full_name(),
    }
}
