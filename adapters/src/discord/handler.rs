//! The Discord side of the command core: which interactions and messages are lull's, and their
//! handling — the `maintenance` command, its autocomplete, a click on a lull button, or an agent
//! bot's `/maintenance …` message in, an answer out. Each interaction and message is handled at
//! most once, across gateway replays and restarts.

use std::sync::Arc;
use std::time::Duration;

use lull_plugin::{Input, Invocation, Plugin, Reply, Sender};
use lull_queue::Role;
use serenity::all::{
    CommandInteraction, ComponentInteraction, Http, Interaction, Member, Message, Ready, User,
};

use super::PLATFORM;
use super::click::DiscordPrompt;
use super::command;
use super::respond::{Answer, Initial, Target, respond};
use super::send::send_reply;
use crate::chat::at_most_once::{AtMostOnce, Outcome, Redelivery};
use crate::chat::click;

/// How long a handled interaction or message id is remembered: far beyond a gateway session's
/// replay (a resumed session replays minutes) and an interaction token's 15 minutes.
pub const SEEN_TTL: Duration = Duration::from_secs(48 * 3600);

/// The answer to an interaction handled before (a replay after a reconnect, or a copy).
pub(crate) const HANDLED_BEFORE: &str =
    "This command was already handled; see /maintenance status.";

/// Discord shows at most 25 autocomplete choices, each name at most 100 characters.
const MAX_CHOICE_CHARS: usize = 100;

/// lull on one Discord application: the REST client it answers through and the command core it
/// hands commands to. What an embedding host mounts (see `TelegramLull` for the name). Cheap to
/// clone.
#[derive(Clone)]
pub struct DiscordLull {
    http: Arc<Http>,
    plugin: Plugin,
    /// Each interaction and message handled once.
    once: AtMostOnce,
    /// Whether `/maintenance` was registered by [`DiscordLull::ready`].
    registered: Arc<std::sync::atomic::AtomicBool>,
}

impl DiscordLull {
    /// lull answering through `http`, which must know the application id (for follow-ups and
    /// registration).
    pub fn new(http: Arc<Http>, plugin: Plugin) -> Self {
        // Discord never sends an interaction again: when lull cannot tell whether it ran, the
        // person is told to try again.
        let once = AtMostOnce::new(
            plugin.scheduler().store().clone(),
            PLATFORM,
            SEEN_TTL,
            Redelivery::Never,
        );
        Self {
            http,
            plugin,
            once,
            registered: Arc::default(),
        }
    }

    /// The REST client.
    pub(crate) fn http(&self) -> &Arc<Http> {
        &self.http
    }

    /// The command core.
    pub(crate) fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// For a host's `EventHandler::ready`: learns the application (for follow-ups, when
    /// `[discord] application_id` is not set) and creates `/maintenance` beside the host's
    /// commands — in `guild` only, if given — once per process, not at every reconnect.
    pub async fn ready(&self, ready: &Ready, guild: Option<u64>) {
        self.http.set_application_id(ready.application.id);
        if self
            .registered
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        if let Err(error) = command::register(&self.http, guild).await {
            self.registered
                .store(false, std::sync::atomic::Ordering::SeqCst);
            tracing::warn!(%error, "discord: could not register the /maintenance command");
        }
    }

    /// Whether `interaction` is lull's: the `maintenance` command (or its autocomplete), or a
    /// click on one of lull's buttons. Everything else is the host's.
    pub(crate) fn is_ours(interaction: &Interaction) -> bool {
        match interaction {
            Interaction::Command(c) | Interaction::Autocomplete(c) => c.data.name == command::NAME,
            Interaction::Component(c) => lull_plugin::is_lull_payload(&c.data.custom_id),
            Interaction::Ping(_) => true,
            _ => false,
        }
    }

    /// Handles a gateway interaction if it is lull's, answering through REST; `false` when it
    /// is the host's.
    pub async fn interaction_create(&self, interaction: &Interaction) -> bool {
        if !Self::is_ours(interaction) || matches!(interaction, Interaction::Ping(_)) {
            return false;
        }
        self.interaction(interaction, Initial::Rest).await;
        true
    }

    /// Handles one of lull's interactions, the first response leaving through `initial`.
    pub async fn interaction(&self, interaction: &Interaction, initial: Initial) {
        match interaction {
            Interaction::Ping(ping) => {
                let target = Target {
                    id: ping.id,
                    token: &ping.token,
                    component: false,
                };
                respond(&self.http, &target, initial, async { Answer::Pong }).await;
            }
            Interaction::Command(c) if c.data.name == command::NAME => {
                self.command(c, initial).await;
            }
            Interaction::Autocomplete(c) => self.autocomplete(c, initial).await,
            Interaction::Component(c) if lull_plugin::is_lull_payload(&c.data.custom_id) => {
                self.click(c, initial).await;
            }
            other => {
                // Only the interactions endpoint, which lull's own application owns, gets here.
                let (id, token) = match other {
                    Interaction::Command(c) => (c.id, c.token.as_str()),
                    Interaction::Component(c) => (c.id, c.token.as_str()),
                    Interaction::Modal(m) => (m.id, m.token.as_str()),
                    _ => return,
                };
                let target = Target {
                    id,
                    token,
                    component: false,
                };
                let answer = Answer::Message(Reply::refusal(
                    "This application only answers /maintenance.",
                ));
                respond(&self.http, &target, initial, async { answer }).await;
            }
        }
    }

    async fn command(&self, c: &CommandInteraction, initial: Initial) {
        let target = Target {
            id: c.id,
            token: &c.token,
            component: false,
        };
        let work = async {
            let input = match command::parse(&c.data.options) {
                Ok(command) => Input::Command(command),
                Err(error) => return Answer::Message(Reply::refusal(error.to_string())),
            };
            let invocation = Invocation {
                sender: sender(&c.user, c.member.as_deref()),
                chat: Some(c.channel_id.to_string()),
                input,
                bot_username: None,
            };
            let id = format!("interaction:{}", c.id);
            Answer::Message(
                match self.once.run(&id, self.plugin.handle(invocation)).await {
                    Outcome::Ran(Some(reply)) => reply,
                    // A command always has an answer, but for a stranger refused a moment ago.
                    Outcome::Ran(None) => Reply::refusal(lull_plugin::QUIETED_STRANGER),
                    Outcome::Copy | Outcome::Seen | Outcome::Repeated(_) => {
                        Reply::refusal(HANDLED_BEFORE)
                    }
                    Outcome::Unreadable { tell } => tell
                        .unwrap_or_else(|| Reply::refusal(crate::chat::at_most_once::UNREADABLE)),
                },
            )
        };
        respond(&self.http, &target, initial, work).await;
    }

    /// Suggests the open request's id to whoever may act on it; strangers get nothing.
    async fn autocomplete(&self, c: &CommandInteraction, initial: Initial) {
        let target = Target {
            id: c.id,
            token: &c.token,
            component: false,
        };
        let typed = command::focused(&c.data.options)
            .filter(|(name, _)| *name == "id")
            .map(|(_, value)| value.to_ascii_lowercase());
        let sender = sender(&c.user, c.member.as_deref());
        let allowed = self.plugin.config().policy.resolve(&sender).is_some();
        let mut choices = Vec::new();
        if let (Some(typed), true) = (typed, allowed) {
            match self.plugin.scheduler().store().open_request() {
                Ok(Some(request)) if request.short_id.to_string().starts_with(&typed) => {
                    let name = format!(
                        "{} — {} ({}){}",
                        request.short_id,
                        request.kind,
                        request.state,
                        if request.reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", request.reason)
                        }
                    );
                    choices.push((
                        crate::chat::render::cut(&name, MAX_CHOICE_CHARS),
                        request.short_id.to_string(),
                    ));
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "discord: cannot read the open request for autocomplete")
                }
            }
        }
        respond(&self.http, &target, initial, async {
            Answer::Choices(choices)
        })
        .await;
    }

    async fn click(&self, c: &ComponentInteraction, initial: Initial) {
        let target = Target {
            id: c.id,
            token: &c.token,
            component: true,
        };
        let work = async {
            let clicker = sender(&c.user, c.member.as_ref());
            let prompt = DiscordPrompt::new(c.message.content.clone());
            let invocation = Invocation {
                sender: clicker.clone(),
                chat: Some(c.channel_id.to_string()),
                input: Input::Click(c.data.custom_id.clone()),
                bot_username: None,
            };
            let id = format!("interaction:{}", c.id);
            let handled = self
                .once
                .run(&id, async {
                    let reply = self.plugin.handle(invocation).await?;
                    let now = self.plugin.scheduler().store().now();
                    click::settle(&prompt, &reply, &clicker.display, now).await;
                    Some(())
                })
                .await;
            match handled {
                Outcome::Ran(Some(())) => prompt.into_answer(),
                Outcome::Ran(None) => None,
                Outcome::Copy | Outcome::Seen | Outcome::Repeated(_) => {
                    Some(Answer::Message(Reply::refusal(HANDLED_BEFORE)))
                }
                Outcome::Unreadable { tell } => tell.map(Answer::Message),
            }
            .unwrap_or_else(|| Answer::Message(Reply::refusal("Nothing to do.")))
        };
        respond(&self.http, &target, initial, work).await;
    }

    /// Handles a message if it is an agent's `/maintenance …` (the text form agents' bots post
    /// in a guild channel); `false` otherwise. Other bots and people are ignored: people use
    /// the slash command.
    pub async fn message(&self, message: &Message) -> bool {
        // lull's own messages are never commands (a bot user's id is its application's for
        // every application made since 2020; older ones are still safe, lull's bot not being an
        // agent).
        let own = self.http.application_id().map(|id| id.get()) == Some(message.author.id.get());
        if own
            || message.guild_id.is_none()
            || !message.content.trim_start().starts_with("/maintenance")
        {
            return false;
        }
        let sender = Sender {
            is_bot: message.author.bot,
            ..Sender::chat(
                PLATFORM,
                &message.author.id.to_string(),
                &display(&message.author),
            )
        };
        if self.plugin.config().policy.resolve(&sender) != Some(Role::Agent) {
            tracing::debug!(author = %message.author.id, "discord: ignoring /maintenance text from someone not an agent");
            return false;
        }
        let invocation = Invocation {
            sender,
            chat: Some(message.channel_id.to_string()),
            input: Input::Text(message.content.clone()),
            bot_username: None,
        };
        let id = format!("message:{}", message.id);
        let answer = |reply: Reply| async move {
            if let Err(error) =
                send_reply(&self.http, message.channel_id, &reply, Some(message.id)).await
            {
                tracing::warn!(channel = %message.channel_id, %error, "discord: could not answer an agent's message");
            }
        };
        let handled = self
            .once
            .run(&id, async {
                answer(self.plugin.handle(invocation).await?).await;
                Some(())
            })
            .await;
        match handled {
            Outcome::Ran(None) => return false,
            // Discord does not send the message again: the agent is told to try again.
            Outcome::Unreadable { tell: Some(reply) } => answer(reply).await,
            _ => {}
        }
        true
    }
}

/// The sender of an interaction: the user, and in a guild their role ids (for `admin_roles`).
fn sender(user: &User, member: Option<&Member>) -> Sender {
    Sender {
        is_bot: user.bot,
        role_ids: member
            .map(|m| m.roles.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
        ..Sender::chat(PLATFORM, &user.id.to_string(), &display(user))
    }
}

/// `@username`.
fn display(user: &User) -> String {
    format!("@{}", user.name)
}
