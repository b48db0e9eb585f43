//! lull's own application, the sidecar's, as a chat-kit [`Connection`]: the token checked and
//! the application learned, the `maintenance` command registered, and interactions received
//! through a gateway connection or on the interactions endpoint. The kit's supervisor retries
//! through network trouble, delivers notices and bounds the stop.

use std::sync::Arc;

use serenity::all::{ApplicationId, CurrentUser, GatewayIntents, HttpError};
use serenity::gateway::GatewayError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::gateway::GatewayEvents;
use super::settings::{Delivery, DiscordSettings};
use super::shard::Shard;
use super::{DiscordLull, PLATFORM};
use super::{command, endpoint, http};
use crate::chat::supervisor::{Attempt, Connection, STOP_GRACE, supervise};
use crate::chat::webhook_server::{ListenError, WebhookServer};

/// Why the Discord adapter cannot run.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// Discord refused the token.
    #[error(
        "Discord refused the bot token (401 Unauthorized); check the variable named by [discord] token_env, or reset the token on the Bot page of the developer portal"
    )]
    TokenRefused,
    /// The gateway refused a privileged intent.
    #[error(
        "Discord refused the Message Content intent, which lull needs to read agents' /maintenance messages: turn on \"Message Content Intent\" on the Bot page of the developer portal (or remove [discord] agents)"
    )]
    IntentDisallowed,
    /// The gateway closed the connection with a code that says lull's session is wrong for
    /// good (invalid shard, sharding required, invalid API version).
    #[error("the Discord gateway refused lull's session: {0}")]
    GatewayRefused(String),
    /// The interactions endpoint's address cannot be listened on.
    #[error("[discord] interactions_listen: {0}")]
    Listen(#[source] ListenError),
}

/// Runs lull's own application until `stop` is cancelled.
pub async fn run(
    settings: DiscordSettings,
    plugin: lull_plugin::Plugin,
    stop: CancellationToken,
) -> Result<(), DiscordError> {
    let lull = DiscordLull::new(Arc::new(http(&settings)), plugin);
    supervise(DiscordConnection { lull, settings }, stop).await
}

struct DiscordConnection {
    lull: DiscordLull,
    settings: DiscordSettings,
}

/// Who lull is on Discord.
struct Identity {
    user: CurrentUser,
}

/// What a REST error means for another attempt: a refused token is final.
fn attempt(error: serenity::Error) -> Attempt<DiscordError> {
    match &error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response))
            if response.status_code.as_u16() == 401 =>
        {
            Attempt::Fatal(DiscordError::TokenRefused)
        }
        serenity::Error::Gateway(GatewayError::InvalidAuthentication) => {
            Attempt::Fatal(DiscordError::TokenRefused)
        }
        serenity::Error::Gateway(
            GatewayError::DisallowedGatewayIntents | GatewayError::InvalidGatewayIntents,
        ) => Attempt::Fatal(DiscordError::IntentDisallowed),
        serenity::Error::Json(e) => Attempt::Unreadable(format!("a REST answer: {e}")),
        _ => Attempt::Retry(error.to_string()),
    }
}

impl Connection for DiscordConnection {
    type Identity = Identity;
    type Fatal = DiscordError;
    type Notices = DiscordLull;

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn identify(&self) -> Result<Identity, Attempt<DiscordError>> {
        let http = self.lull.http();
        let user = http.get_current_user().await.map_err(attempt)?;
        let application = match self.settings.application_id {
            Some(id) => id,
            None => http
                .get_current_application_info()
                .await
                .map_err(attempt)?
                .id
                .get(),
        };
        http.set_application_id(ApplicationId::new(application));
        Ok(Identity { user })
    }

    async fn prepare(&self, identity: &Identity) {
        let mode = match self.settings.delivery {
            Delivery::Gateway => "gateway",
            Delivery::Interactions { .. } => "interactions",
        };
        tracing::info!(bot = %identity.user.name, mode, "discord: connected");
        if let Err(error) = command::register(self.lull.http(), self.settings.guild_id).await {
            tracing::warn!(%error, "discord: could not register the /maintenance command; it may be missing or out of date");
        }
    }

    fn notices(&self) -> DiscordLull {
        self.lull.clone()
    }

    async fn receive(
        &self,
        _identity: &Identity,
        stop: &CancellationToken,
    ) -> Result<(), Attempt<DiscordError>> {
        let tasks = TaskTracker::new();
        let result = match &self.settings.delivery {
            Delivery::Gateway => self.gateway(stop, &tasks).await,
            Delivery::Interactions { listen, verifier } => {
                let stopping = CancellationToken::new();
                let router = endpoint::route(
                    self.lull.clone(),
                    (**verifier).clone(),
                    stopping.clone(),
                    tasks.clone(),
                );
                let server = WebhookServer::start("Discord interactions", *listen, router)
                    .await
                    .map_err(|e| Attempt::Fatal(DiscordError::Listen(e)))?;
                stop.cancelled().await;
                stopping.cancel();
                server.stop().await;
                Ok(())
            }
        };
        tasks.close();
        if tokio::time::timeout(STOP_GRACE, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("discord: interactions were still being handled when lull stopped");
        }
        result
    }
}

impl DiscordConnection {
    async fn gateway(
        &self,
        stop: &CancellationToken,
        tasks: &TaskTracker,
    ) -> Result<(), Attempt<DiscordError>> {
        // Asked first so that trouble reaching it is retried here, and because new sessions
        // begin at the URL it gives (resumes go to the one READY gives).
        let gateway_url = self.lull.http().get_gateway().await.map_err(attempt)?.url;
        // Reading agents' messages needs the privileged Message Content intent; without agents
        // lull asks for nothing privileged.
        let intents = if self.settings.agents.is_empty() {
            GatewayIntents::GUILDS
        } else {
            GatewayIntents::GUILDS
                | GatewayIntents::GUILD_MESSAGES
                | GatewayIntents::MESSAGE_CONTENT
        };
        let events = GatewayEvents {
            lull: self.lull.clone(),
            tasks: tasks.clone(),
        };
        let token = self.settings.token.expose();
        let shard = Shard {
            gateway_url,
            token: token.trim_start_matches("Bot "),
            intents,
            events: &events,
        };
        shard.run(stop).await
    }
}
