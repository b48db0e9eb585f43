//! lull's own Slack app, the sidecar's, as a chat-kit [`Connection`]: `auth.test` checks the
//! bot token, then events arrive through Socket Mode or on the HTTP request URLs. The kit's
//! supervisor retries through network trouble, delivers notices and bounds the stop.

use std::sync::Arc;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use tokio_util::sync::CancellationToken;

use super::settings::{Connection as Mode, SlackSettings};
use super::{PLATFORM, SlackLull};
use super::{http, socket};
use crate::chat::supervisor::{Attempt, Connection, STOP_GRACE, supervise};
use crate::chat::webhook_server::{ListenError, WebhookServer};

/// Why the Slack adapter cannot run.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Slack refused a token.
    #[error(
        "Slack refused the {which} ({code}); check the variable named by [slack] {key}, or reinstall the app to get a new one"
    )]
    TokenRefused {
        /// Which token.
        which: &'static str,
        /// The key naming its variable.
        key: &'static str,
        /// Slack's error code.
        code: String,
    },
    /// The HTTP mode's address cannot be listened on.
    #[error("[slack] listen: {0}")]
    Listen(#[source] ListenError),
    /// The HTTPS client cannot be built (no certificate store).
    #[error("cannot build the HTTPS client for Slack: {0}")]
    Client(#[source] std::io::Error),
}

/// Runs lull's own app until `stop` is cancelled.
pub async fn run(
    settings: SlackSettings,
    plugin: lull_plugin::Plugin,
    stop: CancellationToken,
) -> Result<(), SlackError> {
    let client = Arc::new(super::send::client(&settings.api_url).map_err(SlackError::Client)?);
    let token = super::bot_token(&settings);
    let lull = SlackLull::new(client, token, plugin);
    supervise(SlackConnection { lull, settings }, stop).await
}

struct SlackConnection {
    lull: SlackLull,
    settings: SlackSettings,
}

fn app_token_of(token: &crate::chat::settings::Secret) -> SlackApiToken {
    SlackApiToken::new(token.expose().to_owned().into())
}

/// Tokens Slack refuses for good.
const REFUSED: [&str; 5] = [
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "account_inactive",
    "not_allowed_token_type",
];

/// What a Web API error means for another attempt: a refused token is final.
fn attempt(error: SlackClientError, which: &'static str, key: &'static str) -> Attempt<SlackError> {
    match &error {
        SlackClientError::ApiError(e) if REFUSED.contains(&e.code.as_str()) => {
            Attempt::Fatal(SlackError::TokenRefused {
                which,
                key,
                code: e.code.clone(),
            })
        }
        SlackClientError::ProtocolError(e) => {
            Attempt::Unreadable(format!("a Web API answer: {}", e.json_error))
        }
        _ => Attempt::Retry(error.to_string()),
    }
}

impl Connection for SlackConnection {
    type Identity = SlackApiAuthTestResponse;
    type Fatal = SlackError;
    type Notices = SlackLull;

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn identify(&self) -> Result<SlackApiAuthTestResponse, Attempt<SlackError>> {
        let me = self
            .lull
            .client()
            .open_session(self.lull.token())
            .auth_test()
            .await
            .map_err(|e| attempt(e, "bot token", "bot_token_env"))?;
        if let Mode::Socket { app_token } = &self.settings.connection {
            // slack-morphism's listener only logs a refused app token and retries forever:
            // checked here, so a wrong token stops lull with the reason.
            self.lull
                .client()
                .open_session(&app_token_of(app_token))
                .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
                .await
                .map_err(|e| attempt(e, "app-level token", "app_token_env"))?;
        }
        Ok(me)
    }

    async fn prepare(&self, me: &SlackApiAuthTestResponse) {
        let mode = match self.settings.connection {
            Mode::Socket { .. } => "socket",
            Mode::Http { .. } => "http",
        };
        tracing::info!(team = %me.team, bot = %me.user_id, mode, "slack: connected");
    }

    fn notices(&self) -> SlackLull {
        self.lull.clone()
    }

    async fn receive(
        &self,
        _me: &SlackApiAuthTestResponse,
        stop: &CancellationToken,
    ) -> Result<(), Attempt<SlackError>> {
        match &self.settings.connection {
            Mode::Socket { app_token } => {
                let environment =
                    socket::environment(self.lull.client().clone(), self.lull.clone());
                let listener = SlackClientSocketModeListener::new(
                    &SlackClientSocketModeConfig::new(),
                    environment,
                    socket::callbacks(),
                );
                listener
                    .listen_for(&app_token_of(app_token))
                    .await
                    .map_err(|e| attempt(e, "app-level token", "app_token_env"))?;
                listener.start().await;
                stop.cancelled().await;
                // Envelopes being handled are acknowledged before the connection closes.
                self.lull.finish(STOP_GRACE).await;
                listener.shutdown().await;
                Ok(())
            }
            Mode::Http {
                listen,
                signing_secret,
            } => {
                let stopping = CancellationToken::new();
                let routes =
                    http::routes(self.lull.clone(), signing_secret.expose(), stopping.clone());
                let server = WebhookServer::start("Slack HTTP", *listen, routes)
                    .await
                    .map_err(|e| Attempt::Fatal(SlackError::Listen(e)))?;
                stop.cancelled().await;
                stopping.cancel();
                server.stop().await;
                self.lull.finish(STOP_GRACE).await;
                Ok(())
            }
        }
    }
}
