//! The Telegram side of the command core: which updates are lull's, the dptree branch that
//! takes them, and their handling — a command or a button click in, a reply, an answered
//! callback and an edited prompt out. Each update is handled at most once, across restarts.

use std::sync::Arc;
use std::time::Duration;

use lull_plugin::{Input, Invocation, ParseError, Plugin, Reply, Sender};
use teloxide::dispatching::{UpdateFilterExt, UpdateHandler};
use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, Me, Message, UpdateId, User};

use super::PLATFORM;
use super::click::TelegramPrompt;
use super::send::send_reply;
use crate::chat::acknowledge::Handling;
use crate::chat::at_most_once::{AtMostOnce, Redelivery};
use crate::chat::click;

/// How long a handled `update_id` is remembered. Telegram keeps an unconfirmed update for at
/// most 24 hours, so a redelivery can never come later than this.
pub const SEEN_TTL: Duration = Duration::from_secs(48 * 3600);

/// lull on one Telegram bot: the bot it answers as and the command core it hands commands to.
/// What an embedding host mounts (named for lull, not for a platform type: `TelegramAdapter`
/// would read as the kit's `ChatAdapter`). Cheap to clone.
#[derive(Clone)]
pub struct TelegramLull {
    bot: Bot,
    plugin: Plugin,
    owns_the_bot: bool,
    /// Told when each update is handled, when the listener waits for that (the sidecar).
    handling: Option<Arc<Handling<UpdateId>>>,
    /// Each update handled once; Telegram delivers again what was not confirmed.
    once: AtMostOnce,
}

impl TelegramLull {
    /// lull inside a host's bot, answering as `bot`. The bot's own requests (replies, edits,
    /// notices) go through it, whatever requester type the host's dispatcher uses. Besides
    /// `/maintenance`, only text that *replies* to one of the bot's messages (`approve r7k2`)
    /// is taken: everything else people write is the host's.
    pub fn new(bot: Bot, plugin: Plugin) -> Self {
        let once = AtMostOnce::new(
            plugin.scheduler().store().clone(),
            PLATFORM,
            SEEN_TTL,
            Redelivery::Redelivered,
        );
        Self {
            bot,
            plugin,
            owns_the_bot: false,
            handling: None,
            once,
        }
    }

    /// lull on a bot of its own (the sidecar): any text answer to a prompt is taken, reply or not.
    pub(crate) fn owning_the_bot(mut self) -> Self {
        self.owns_the_bot = true;
        self
    }

    /// Tells `handling` when each update this branch takes has been handled (for
    /// [`ConfirmAfterHandling`](super::confirm::ConfirmAfterHandling) and the webhook).
    pub(crate) fn confirming(mut self, handling: Arc<Handling<UpdateId>>) -> Self {
        self.handling = Some(handling);
        self
    }

    /// The bot.
    pub(crate) fn bot(&self) -> &Bot {
        &self.bot
    }

    /// The command core.
    pub(crate) fn plugin(&self) -> &Plugin {
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
                        query
                            .data
                            .as_deref()
                            .is_some_and(lull_plugin::is_lull_payload)
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

    /// Runs `handling` unless this update was handled before (see [`AtMostOnce`]); update ids are
    /// per bot, so the bot's id is part of the key. Tells the listener when it ends.
    async fn once(&self, update: &Update, me: &Me, handling: impl Future<Output = ()> + Send) {
        let finished = self
            .handling
            .as_ref()
            .map(|h| h.finished_on_drop(update.id));
        let id = format!("{}:{}", me.id.0, update.id.0);
        self.once.run_acknowledged(&id, finished, handling).await;
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
        let prompt = TelegramPrompt::new(&self.bot, &query);
        let Some(prompt_message) = query.message.as_ref() else {
            // Inline-mode messages are not lull's prompts.
            click::ClickedPrompt::answer(
                &prompt,
                "This button does not belong to a lull prompt.",
                true,
            )
            .await;
            return;
        };
        let invocation = Invocation {
            sender: sender(&query.from),
            chat: Some(prompt_message.chat().id.0.to_string()),
            input: Input::Click(query.data.clone().unwrap_or_default()),
            bot_username: None,
        };
        // A click is always answered (Telegram shows a spinner until it is), even for a stranger
        // lull refused a moment ago and otherwise stays silent for.
        let reply = self
            .plugin
            .handle(invocation)
            .await
            .unwrap_or_else(|| Reply::refusal(lull_plugin::QUIETED_STRANGER));
        let now = self.plugin.scheduler().store().now();
        click::settle(&prompt, &reply, &display(&query.from), now).await;
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

fn sender(user: &User) -> Sender {
    Sender {
        is_bot: user.is_bot,
        ..Sender::chat(PLATFORM, &user.id.0.to_string(), &display(user))
    }
}

/// `@username`, or the name when there is none.
pub(crate) fn display(user: &User) -> String {
    match &user.username {
        Some(username) => format!("@{username}"),
        None => user.full_name(),
    }
}
