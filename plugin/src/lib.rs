//! lull-plugin: the platform-neutral command core.
//!
//! An adapter turns a platform event into an [`Invocation`], hands it to [`Plugin::handle`], and
//! sends back the [`Reply`]. Queue events become [`Notice`]s (one per chat) in the queue's
//! durable outbox, which the adapter drains. Nothing here knows sled or any platform crate.

//! | module | holds |
//! |---|---|
//! | `command` | the `/maintenance` grammar: chat text (and Discord's options) to a [`Command`] |
//! | `handle` | the chat path: an [`Invocation`] authorized, run and answered |
//! | `tool` (`tool/run.rs`) | the agent tool: its JSON, schema and errors; the tool path |
//! | `policy` | who may do what on each platform |
//! | `reply`, `prompt` | what lull answers, and the buttons it offers |
//! | `notice` | queue events as notices, one per chat |
//! | `strangers` | refusing unknown senders at most once a minute each |
//!
//! Modules are private; what adapters use is re-exported here, once.

mod command;
mod handle;
mod notice;
mod policy;
mod prompt;
mod reply;
mod strangers;
mod tool;

#[cfg(test)]
mod mock_tests;

use std::sync::Arc;
use std::time::Duration;

use lull_queue::{Actor, AskRules, NoticeHook, Origin, Role, Scheduler};

pub use command::{
    ChatAsk, Command, FLEET_SLOT, MAX_PAUSE, ParseError, SUBCOMMANDS, from_options, parse, usage,
};
pub use notice::{ChatRef, Notice, notices_for};
pub use policy::authorize;
pub use policy::{PlatformPolicy, Policy, Sender};
pub use prompt::{
    Button, ButtonStyle, Click, MAX_PAYLOAD_BYTES, PAYLOAD_PREFIX, answered, approval_buttons,
    clicked, is_lull_payload,
};
pub use reply::{
    Reply, blocker_words, history as history_reply, human, progress_bar, status as status_reply,
};
pub use strangers::QUIETED_STRANGER;
pub use tool::{TOOL_NAME, ToolError, tool_schema};

/// The plugin's configuration.
#[derive(Clone, Debug)]
pub struct PluginConfig {
    /// `maintenance.idle_seconds`: the window when an ask gives none.
    pub default_idle: Duration,
    /// `maintenance.min_agent_idle_seconds`: the shortest window an agent may ask for.
    pub min_agent_idle: Duration,
    /// `maintenance.max_wait_seconds` (for the escalation prompt's wording).
    pub max_wait: Duration,
    /// Who may do what on each platform.
    pub policy: Policy,
    /// Chats that hear about every request (`notify_chat_id`, `notify_channel_id`, `notify_channel`).
    pub notify: Vec<ChatRef>,
    /// The relay (`[relay]`), if one is configured: agents' tool calls through it may name
    /// the chat they run in.
    pub relay: Option<ChatRelay>,
}

impl PluginConfig {
    /// The rules every ask is checked against.
    pub fn ask_rules(&self) -> AskRules {
        AskRules {
            default_idle: self.default_idle,
            min_agent_idle: self.min_agent_idle,
        }
    }
}

/// A relay as the tool sees it: the platform its chats are on (`relay:<name>`), and the agents
/// whose tool calls may name a chat there (`[relay].agents`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatRelay {
    /// `relay:<name>`.
    pub platform: String,
    /// Agent names.
    pub agents: Vec<String>,
}

/// What the sender sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Chat text (`/maintenance …`, or a text reply `approve <id>`).
    Text(String),
    /// An already-structured command (Discord's slash command options).
    Command(Command),
    /// A clicked button's payload.
    Click(String),
    /// The agent tool's JSON.
    ToolJson(String),
}

/// One command from one sender in one chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// Who.
    pub sender: Sender,
    /// The chat or channel it came from (notices about the request go back there).
    pub chat: Option<String>,
    /// What.
    pub input: Input,
    /// The username this bot answers to (`/maintenance@name`), if the platform has one.
    pub bot_username: Option<String>,
}

/// The command core of one profile. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

struct Inner {
    scheduler: Scheduler,
    config: PluginConfig,
    /// Strangers recently refused (one answer per sender per minute).
    strangers: strangers::Strangers,
}

fn origin_of(platform: &str) -> Origin {
    match platform {
        "cli" => Origin::Cli,
        // The control socket's callers: `local:<user>`.
        "api" | "local" => Origin::Api,
        "tool" => Origin::Tool,
        _ => Origin::Chat,
    }
}

impl Plugin {
    /// A plugin over `scheduler` (and its store and tracker). From now on every queue event's
    /// notices are written to the store's outbox with the change that caused it.
    pub fn new(scheduler: Scheduler, config: PluginConfig) -> Self {
        let hook = notice_hook(config.notify.clone(), config.max_wait);
        scheduler.store().set_notice_hook(hook);
        Self {
            inner: Arc::new(Inner {
                scheduler,
                config,
                strangers: strangers::Strangers::default(),
            }),
        }
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.inner.scheduler
    }

    /// The configuration.
    pub fn config(&self) -> &PluginConfig {
        &self.inner.config
    }

    /// The notices an event produces, one per chat.
    pub fn notices(&self, event: &lull_queue::QueueEvent) -> Vec<Notice> {
        let config = &self.inner.config;
        notices_for(
            event,
            &config.notify,
            config.max_wait,
            self.inner.scheduler.store().now(),
        )
    }
}

/// The hook that writes each queue event's notices to the store's outbox, in the same flush as
/// the change that caused the event (see `Store::set_notice_hook`).
pub fn notice_hook(notify: Vec<ChatRef>, max_wait: Duration) -> NoticeHook {
    Arc::new(move |event, now| {
        notices_for(event, &notify, max_wait, now)
            .into_iter()
            .filter_map(|notice| serde_json::to_value(notice).ok())
            .collect()
    })
}

/// The queue's actor for a sender with a resolved role.
pub fn actor(sender: &Sender, chat: Option<&str>, role: Role) -> Actor {
    Actor {
        platform: sender.platform.clone(),
        chat: chat.map(str::to_owned),
        user_id: sender.user_id.clone(),
        // A platform's display name is chat text: cleaned, never refused.
        display: lull_queue::fold_controls(&sender.display),
        role,
        origin: origin_of(&sender.platform),
        via: sender.via.clone(),
    }
}
