//! An existing serenity bot that embeds lull: its agent answers messages, and `/maintenance`
//! (with lull's buttons, autocomplete and notices) works in the same application, beside its own
//! commands.
//!
//! Run: `DISCORD_BOT_TOKEN=… cargo run --example discord_embed -- path/to/lull.toml`
//! (the `[discord]` section names the application, admins and agents; see docs/discord.md).

#[path = "shared/host.rs"]
mod host;

use std::sync::Arc;

// Brings `deliver_notices` into scope: the same on every platform.
use lull_adapters::chat::adapter::MountedLull;
use lull_adapters::discord::{DiscordLull, DiscordSettings};
use lull_queue::ActivityTracker;
use serenity::all::{
    ClientBuilder, Context, EventHandler, GatewayIntents, Interaction, Message, Ready,
};
use serenity::async_trait;

/// The host's event handler, with lull beside its own work.
struct Gateway {
    lull: DiscordLull,
    tracker: ActivityTracker,
}

#[async_trait]
impl EventHandler for Gateway {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        // The glue, 1/3: `/maintenance` created beside the host's commands (never replacing them).
        self.lull.ready(&ready, None).await;
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        // 2/3: lull's interactions first; `false` means it is the host's.
        if self.lull.interaction_create(&interaction).await {
            return;
        }
        // … the host's own commands …
    }

    async fn message(&self, ctx: Context, message: Message) {
        // 3/3: an agent bot's `/maintenance …` text.
        if self.lull.message(&message).await {
            return;
        }
        if message.author.bot {
            return;
        }
        // The host's own work: each agent turn is a run lull waits for.
        self.tracker.note_activity();
        let Ok(_run) = self
            .tracker
            .begin_run(format!("discord:{}", message.channel_id))
        else {
            // Maintenance has begun (admission is closed); the gateway is about to restart.
            let _ = message
                .reply(
                    &ctx.http,
                    "Restarting for maintenance; ask again in a minute.",
                )
                .await;
            return;
        };
        // … the agent's turn; lull never restarts while `_run` is held …
        let _ = message.reply(&ctx.http, "(the agent's answer)").await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let host = host::Host::start().await?;
    // The host's application; here built from `[discord]` (token, application id, api_url).
    let settings = host.settings::<DiscordSettings>("discord")?;
    let http = lull_adapters::discord::http(settings);
    let discord = DiscordLull::new(
        Arc::new(lull_adapters::discord::http(settings)),
        host.stack.plugin.clone(),
    );
    let notices = discord.clone();
    tokio::spawn(async move { notices.deliver_notices(std::future::pending()).await });

    let intents =
        GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES | GatewayIntents::MESSAGE_CONTENT;
    let handler = Gateway {
        lull: discord,
        tracker: host.stack.tracker.clone(),
    };
    ClientBuilder::new_with_http(http, intents)
        .event_handler(handler)
        .await?
        .start()
        .await?;
    Ok(())
}
