//! The gateway connection's events, as a serenity [`EventHandler`]: lull's interactions and
//! agents' `/maintenance` messages handed to [`DiscordLull`], each on a tracked task so that
//! stopping can let them finish.

use serenity::all::{Context, EventHandler, Interaction, Message, Ready};
use serenity::async_trait;
use tokio_util::task::TaskTracker;

use super::handler::DiscordLull;

/// The events of lull's own bot.
pub(crate) struct GatewayEvents {
    pub(crate) lull: DiscordLull,
    pub(crate) tasks: TaskTracker,
}

#[async_trait]
impl EventHandler for GatewayEvents {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(bot = %ready.user.name, guilds = ready.guilds.len(), "discord: gateway ready");
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let lull = self.lull.clone();
        self.tasks.spawn(async move {
            lull.interaction_create(&interaction).await;
        });
    }

    async fn message(&self, _ctx: Context, message: Message) {
        let lull = self.lull.clone();
        self.tasks.spawn(async move {
            lull.message(&message).await;
        });
    }
}
