//! The Telegram adapter (teloxide): `/maintenance` in private chats and groups, approval and
//! escalation prompts as inline keyboards, and notices from the durable outbox. It translates;
//! the chat kit (`crate::chat`) does once-per-update, confirming after handling, the webhook's
//! checks, supervision and clicks.
//!
//! Two ways to run it. **Sidecar**: [`run`] drives lull's own bot (polling or webhook) until
//! told to stop. **Embedded**: a host's teloxide bot adds [`TelegramLull::branch`] to its
//! dispatcher, calls [`menu::merge`], and spawns [`TelegramLull::deliver_notices`]; see
//! `adapters/examples/telegram_embed.rs`.

mod click;
pub(crate) mod confirm;
pub mod handler;
pub(crate) mod markup;
pub mod menu;
pub(crate) mod send;
pub mod settings;
pub mod sidecar;
pub(crate) mod webhook;

use lull_plugin::{PlatformPolicy, Plugin};
use teloxide::prelude::*;
use tokio_util::sync::CancellationToken;

pub use handler::{SEEN_TTL, TelegramLull};
pub use settings::{TelegramSettings, UpdateSource, WEBHOOK_PATH};
pub use sidecar::{TelegramError, run};

use crate::chat::adapter::{ChatAdapter, MountedLull, Platform, Running};
use send::TelegramNotices;

/// The bot for `settings`: its token and Bot API server.
pub fn bot(settings: &TelegramSettings) -> Bot {
    Bot::new(settings.token.expose()).set_api_url(settings.api_url.clone())
}

/// The platform's name in senders, chats, notices and the seen-event keys.
pub(crate) const PLATFORM: &str = "telegram";

impl MountedLull for TelegramLull {
    type Notices = TelegramNotices;

    fn plugin(&self) -> &Plugin {
        TelegramLull::plugin(self)
    }

    fn notices(&self) -> TelegramNotices {
        TelegramNotices {
            bot: self.bot().clone(),
        }
    }
}

/// Telegram in the list of platforms: `[telegram]`.
pub(crate) const PLATFORM_ENTRY: Platform = Platform {
    section: PLATFORM,
    enable: |config, env| {
        let section = config.telegram.clone().unwrap_or_default();
        Ok(Box::new(TelegramSettings::from_config(&section, env)?))
    },
};

impl ChatAdapter for TelegramSettings {
    fn platform(&self) -> &str {
        PLATFORM
    }

    fn policy(&self) -> PlatformPolicy {
        PlatformPolicy {
            admins: self.admins.clone(),
            admin_roles: Vec::new(),
            agents: self.agents.clone(),
        }
    }

    fn notify_chats(&self) -> Vec<String> {
        self.notify_chat_id.iter().map(i64::to_string).collect()
    }

    fn secrets(&self) -> Vec<String> {
        TelegramSettings::secrets(self)
    }

    fn run(&self, plugin: Plugin, stop: CancellationToken) -> Running {
        let lull = TelegramLull::new(bot(self), plugin).owning_the_bot();
        let settings = self.clone();
        Box::pin(async move { Ok(run(lull, &settings, stop).await?) })
    }
}
