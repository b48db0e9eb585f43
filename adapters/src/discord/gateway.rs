//! The gateway connection's events: lull's interactions and agents' `/maintenance` messages
//! handed to [`DiscordLull`], each on a tracked task so that stopping can let them finish. The
//! connection itself is [`shard`](super::shard).

use serenity::all::Event;
use tokio_util::task::TaskTracker;

use super::handler::DiscordLull;

/// The events of lull's own bot.
pub(crate) struct GatewayEvents {
    pub(crate) lull: DiscordLull,
    pub(crate) tasks: TaskTracker,
}

impl GatewayEvents {
    /// Handles one dispatched event; lull reads only interactions and messages.
    pub(crate) fn dispatch(&self, event: Event) {
        match event {
            Event::Ready(ready) => {
                let ready = ready.ready;
                tracing::info!(bot = %ready.user.name, guilds = ready.guilds.len(), "discord: gateway ready");
            }
            Event::Resumed(_) => tracing::info!("discord: gateway session resumed"),
            Event::InteractionCreate(created) => {
                let lull = self.lull.clone();
                self.tasks.spawn(async move {
                    lull.interaction_create(&created.interaction).await;
                });
            }
            Event::MessageCreate(created) => {
                let lull = self.lull.clone();
                self.tasks.spawn(async move {
                    lull.message(&created.message).await;
                });
            }
            _ => {}
        }
    }
}
