//! The Slack adapter (slack-morphism): the `/maintenance` slash command, approval and escalation
//! prompts as Block Kit buttons, agents' `/maintenance …` messages, and notices from the durable
//! outbox. It translates; the chat kit (`crate::chat`) does once-per-id, the request checks,
//! supervision and clicks.
//!
//! Two ways to run it. **Sidecar**: [`run`] drives lull's own app, through Socket Mode or the
//! HTTP request URLs, until told to stop. **Embedded**: a host's slack-morphism app calls
//! [`SlackLull::command`], [`SlackLull::interaction`] and [`SlackLull::push_event`] from its
//! own listener callbacks or request handlers (or, for a separate app, mounts
//! [`http::routes`]), spawns [`SlackLull::deliver_notices`] and awaits [`SlackLull::finish`]
//! when it stops; see `adapters/examples/slack_embed.rs`.

mod click;
pub mod handler;
pub mod http;
pub(crate) mod markup;
pub mod send;
pub mod settings;
pub mod sidecar;
pub mod socket;

use lull_plugin::{PlatformPolicy, Plugin};
use slack_morphism::prelude::*;
use tokio_util::sync::CancellationToken;

pub use handler::{SEEN_TTL, SlackLull};
pub use settings::SlackSettings;
pub use sidecar::{SlackError, run};

use crate::chat::adapter::{ChatAdapter, MountedLull, Platform, Running};
use send::SlackNotices;

/// The bot token of `settings`, as slack-morphism takes it.
pub fn bot_token(settings: &SlackSettings) -> SlackApiToken {
    SlackApiToken::new(settings.bot_token.expose().to_owned().into())
}

/// The platform's name in senders, chats, notices and the seen-event keys.
pub(crate) const PLATFORM: &str = "slack";

impl MountedLull for SlackLull {
    type Notices = SlackNotices;

    fn plugin(&self) -> &Plugin {
        SlackLull::plugin(self)
    }

    fn notices(&self) -> SlackNotices {
        SlackNotices {
            client: self.client().clone(),
            token: self.token().clone(),
        }
    }
}

/// Slack in the list of platforms: `[slack]`.
pub(crate) const PLATFORM_ENTRY: Platform = Platform {
    section: PLATFORM,
    enable: |config, env| {
        let section = config.slack.clone().unwrap_or_default();
        Ok(Box::new(SlackSettings::from_config(&section, env)?))
    },
};

impl ChatAdapter for SlackSettings {
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
        self.notify_channel.iter().cloned().collect()
    }

    fn secrets(&self) -> Vec<String> {
        SlackSettings::secrets(self)
    }

    fn run(&self, plugin: Plugin, stop: CancellationToken) -> Running {
        let settings = self.clone();
        Box::pin(async move { Ok(run(settings, plugin, stop).await?) })
    }
}
