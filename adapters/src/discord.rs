//! The Discord adapter (serenity): the `maintenance` slash command with its subcommands,
//! approval and escalation prompts as buttons, agents' bots posting the text form, and notices
//! from the durable outbox. It translates; the chat kit (`crate::chat`) does once-per-id, the
//! endpoint's checks, supervision and clicks.
//!
//! Two ways to run it. **Sidecar**: [`run`] drives lull's own application, through a gateway
//! connection or an interactions endpoint, until told to stop. **Embedded**: a host's serenity
//! bot calls [`DiscordLull::interaction_create`] and [`DiscordLull::message`] from its own
//! `EventHandler`, [`command::register`] once ready, and spawns
//! [`DiscordLull::deliver_notices`]; see `adapters/examples/discord_embed.rs`.

mod click;
pub mod command;
pub(crate) mod endpoint;
pub(crate) mod gateway;
pub mod handler;
pub(crate) mod markup;
pub mod respond;
pub(crate) mod send;
pub mod settings;
mod shard;
pub mod sidecar;

use lull_plugin::{PlatformPolicy, Plugin};
use serenity::all::{Http, HttpBuilder};
use tokio_util::sync::CancellationToken;

pub use handler::{DiscordLull, SEEN_TTL};
pub use settings::{Delivery, DiscordSettings, INTERACTIONS_PATH};
pub use sidecar::{DiscordError, run};

use crate::chat::adapter::{ChatAdapter, MountedLull, Platform, Running};
use send::DiscordNotices;

/// The REST client for `settings`: its token and REST base. Against Discord itself serenity's
/// rate limiter runs; another base is a proxy (or a fake), which serenity uses only with its
/// limiter off.
pub fn http(settings: &DiscordSettings) -> Http {
    let builder = HttpBuilder::new(settings.token.expose());
    let builder = if settings.is_discord() {
        builder
    } else {
        builder
            .proxy(settings.api_url.as_str().trim_end_matches('/'))
            .ratelimiter_disabled(true)
    };
    let http = builder.build();
    if let Some(id) = settings.application_id {
        http.set_application_id(id.into());
    }
    http
}

/// The platform's name in senders, chats, notices and the seen-event keys.
pub(crate) const PLATFORM: &str = "discord";

impl MountedLull for DiscordLull {
    type Notices = DiscordNotices;

    fn plugin(&self) -> &Plugin {
        DiscordLull::plugin(self)
    }

    fn notices(&self) -> DiscordNotices {
        DiscordNotices {
            http: self.http().clone(),
        }
    }
}

/// Discord in the list of platforms: `[discord]`.
pub(crate) const PLATFORM_ENTRY: Platform = Platform {
    section: PLATFORM,
    enable: |config, env| {
        let section = config.discord.clone().unwrap_or_default();
        Ok(Box::new(DiscordSettings::from_config(&section, env)?))
    },
};

impl ChatAdapter for DiscordSettings {
    fn platform(&self) -> &str {
        PLATFORM
    }

    fn policy(&self) -> PlatformPolicy {
        PlatformPolicy {
            admins: self.admins.clone(),
            admin_roles: self.admin_roles.clone(),
            agents: self.agents.clone(),
        }
    }

    fn notify_chats(&self) -> Vec<String> {
        self.notify_channel_id.iter().map(u64::to_string).collect()
    }

    fn secrets(&self) -> Vec<String> {
        DiscordSettings::secrets(self)
    }

    fn run(&self, plugin: Plugin, stop: CancellationToken) -> Running {
        let settings = self.clone();
        Box::pin(async move { Ok(run(settings, plugin, stop).await?) })
    }
}
