//! lull's own bot, the sidecar's, as a chat-kit [`Connection`]: `getMe` checks the token, the
//! menu is set, and updates arrive by polling or webhook through a teloxide dispatcher. The
//! kit's supervisor retries through network trouble, delivers notices and bounds the stop.

use std::sync::Arc;

use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, Me};
use teloxide::{ApiError, RequestError};
use tokio_util::sync::CancellationToken;

use super::confirm::ConfirmAfterHandling;
use super::settings::{TelegramSettings, UpdateSource};
use super::{PLATFORM, TelegramLull, menu, webhook};
use crate::chat::acknowledge::{Ack, Handling};
use crate::chat::supervisor::{Attempt, Connection, STOP_GRACE, supervise};
use crate::chat::webhook_server::{ListenError, WebhookServer};

/// How long one `getUpdates` long poll waits for updates.
const POLL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the Telegram adapter cannot run.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// The Bot API refused the token.
    #[error(
        "Telegram refused the bot token (401 Unauthorized); check the variable named by [telegram] token_env, or ask BotFather for a new token"
    )]
    TokenRefused,
    /// `getMe` answered 404: a token the Bot API does not recognise, or an `api_url` that is
    /// not a Bot API server.
    #[error(
        "the Bot API answered getMe with 404 Not Found: either the token is malformed or [telegram] api_url ({0}) is not a Bot API server"
    )]
    NotFound(String),
    /// The webhook address cannot be listened on.
    #[error("[telegram] webhook_listen: {0}")]
    Listen(#[source] ListenError),
}

/// Runs lull's own bot — the sidecar's — until `stop` is cancelled: checks the token, sets the
/// command menu, delivers notices and handles updates from `settings.source`. Network trouble
/// (at start-up too) is waited out with backoff; only a refused token or a webhook address that
/// cannot be listened on end it early.
pub async fn run(
    lull: TelegramLull,
    settings: &TelegramSettings,
    stop: CancellationToken,
) -> Result<(), TelegramError> {
    let connection = TelegramConnection {
        lull,
        source: settings.source.clone(),
    };
    supervise(connection, stop).await
}

/// lull's own bot and where its updates come from.
struct TelegramConnection {
    lull: TelegramLull,
    source: UpdateSource,
}

impl Connection for TelegramConnection {
    type Identity = Me;
    type Fatal = TelegramError;
    type Notices = TelegramLull;

    fn platform(&self) -> &'static str {
        PLATFORM
    }

    async fn identify(&self) -> Result<Me, Attempt<TelegramError>> {
        let bot = self.lull.bot();
        match bot.get_me().await {
            Ok(me) => Ok(me),
            Err(RequestError::Api(ApiError::Unknown(d))) if d == "Not Found" => Err(
                Attempt::Fatal(TelegramError::NotFound(bot.api_url().to_string())),
            ),
            Err(RequestError::InvalidJson { raw, .. }) => {
                Err(Attempt::Unreadable(unreadable_get_me(&raw)))
            }
            Err(error) => Err(attempt(error)),
        }
    }

    async fn prepare(&self, me: &Me) {
        let source = match self.source {
            UpdateSource::Polling => "polling",
            UpdateSource::Webhook { .. } => "webhook",
        };
        tracing::info!(bot = %me.user.username.as_deref().unwrap_or("?"), source, "telegram: connected");
        if let Err(error) = menu::replace(self.lull.bot()).await {
            tracing::warn!(%error, "telegram: could not set the command menu; /maintenance still works when typed");
        }
    }

    fn notices(&self) -> TelegramLull {
        self.lull.clone()
    }

    async fn receive(
        &self,
        _me: &Me,
        stop: &CancellationToken,
    ) -> Result<(), Attempt<TelegramError>> {
        match &self.source {
            UpdateSource::Polling => dispatch_polling(&self.lull, stop).await,
            UpdateSource::Webhook {
                listen,
                url,
                secret,
            } => dispatch_webhook(&self.lull, *listen, url, secret.expose(), stop).await,
        }
    }
}

/// What in a `getMe` answer lull cannot read, naming the field: teloxide's own error only says
/// that no variant of its response type matched. Never the raw text (a proxy's whole page).
fn unreadable_get_me(raw: &str) -> String {
    let Ok(answer) = serde_json::from_str::<serde_json::Value>(raw) else {
        return "getMe: the answer is not JSON".into();
    };
    if answer.get("ok").and_then(serde_json::Value::as_bool) != Some(true) {
        return "getMe: the answer has no \"ok\": true".into();
    }
    match serde_json::from_value::<Me>(answer["result"].clone()) {
        Err(error) => format!("getMe: result: {error}"),
        Ok(_) => "getMe: the answer does not fit the Bot API's".into(),
    }
}

/// What a Bot API error means for another attempt: a refused token is final.
fn attempt(error: RequestError) -> Attempt<TelegramError> {
    match error {
        RequestError::Api(ApiError::InvalidToken) => Attempt::Fatal(TelegramError::TokenRefused),
        // Only the parser's words (they name the field): the raw answer can be a whole page.
        RequestError::InvalidJson { source, .. } => {
            Attempt::Unreadable(format!("a Bot API answer: {source}"))
        }
        other => Attempt::Retry(other.to_string()),
    }
}

fn dispatcher(
    lull: &TelegramLull,
    handling: Option<Arc<Handling<teloxide::types::UpdateId>>>,
) -> Dispatcher<Bot, std::convert::Infallible, teloxide::dispatching::DefaultKey> {
    let lull = match &handling {
        Some(handling) => lull.clone().confirming(handling.clone()),
        None => lull.clone(),
    };
    Dispatcher::builder(
        lull.bot().clone(),
        lull.branch::<std::convert::Infallible>(),
    )
    // Everything else a user sends lull's bot is not lull's business: handled by ignoring it.
    .default_handler(move |update| {
        let finished = handling.as_ref().map(|h| {
            let mut finished = h.finished_on_drop(update.id);
            finished.settle(Ack::Handled);
            finished
        });
        async move { drop(finished) }
    })
    .build()
}

fn listener_errors() -> std::sync::Arc<LoggingErrorHandler> {
    LoggingErrorHandler::with_custom_text("telegram: an error from the update listener")
}

async fn dispatch_polling(
    lull: &TelegramLull,
    stop: &CancellationToken,
) -> Result<(), Attempt<TelegramError>> {
    // lull's own bot: a webhook left from an earlier `mode = "webhook"` would keep updates away.
    lull.bot().delete_webhook().await.map_err(attempt)?;
    let handling = Arc::new(Handling::default());
    let mut dispatcher = dispatcher(lull, Some(handling.clone()));
    let shutdown = dispatcher.shutdown_token();
    let listener = ConfirmAfterHandling::new(lull.bot().clone(), POLL_TIMEOUT, handling);
    let dispatching = dispatcher.try_dispatch_with_listener(listener, listener_errors());
    until_stopped(dispatching, &shutdown, stop).await
}

async fn dispatch_webhook(
    lull: &TelegramLull,
    listen: std::net::SocketAddr,
    url: &url::Url,
    secret: &str,
    stop: &CancellationToken,
) -> Result<(), Attempt<TelegramError>> {
    let handling = Arc::new(Handling::default());
    let (listener, router) = webhook::webhook(secret, handling.clone());
    let server = WebhookServer::start("Telegram webhook", listen, router)
        .await
        .map_err(|e| Attempt::Fatal(TelegramError::Listen(e)))?;
    let registered = lull
        .bot()
        .set_webhook(url.clone())
        .secret_token(secret.to_owned())
        .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
        .await;
    if let Err(error) = registered {
        server.stop().await;
        return Err(attempt(error));
    }
    let mut dispatcher = dispatcher(lull, Some(handling));
    let shutdown = dispatcher.shutdown_token();
    let dispatching = dispatcher.try_dispatch_with_listener(listener, listener_errors());
    let result = until_stopped(dispatching, &shutdown, stop).await;
    // lull's own bot: while lull is down, Telegram keeps the updates for the next start.
    if let Err(error) = lull.bot().delete_webhook().await {
        tracing::warn!(%error, "telegram: could not remove the webhook");
    }
    server.stop().await;
    result
}

/// Drives `dispatching` until it ends or `stop` resolves; then shuts the dispatcher down
/// through its token, letting updates being handled finish (bounded).
async fn until_stopped(
    dispatching: impl Future<Output = Result<(), RequestError>>,
    shutdown: &teloxide::dispatching::ShutdownToken,
    stop: &CancellationToken,
) -> Result<(), Attempt<TelegramError>> {
    tokio::pin!(dispatching);
    tokio::select! {
        ended = &mut dispatching => {
            // Its own getMe failed, or the listener ended without being told to.
            return Err(match ended {
                Err(error) => attempt(error),
                Ok(()) => Attempt::Retry("the update listener ended".into()),
            });
        }
        () = stop.cancelled() => {}
    }
    if shutdown.shutdown().is_ok()
        && tokio::time::timeout(STOP_GRACE, &mut dispatching)
            .await
            .is_err()
    {
        tracing::warn!("telegram: updates were still being handled when lull stopped");
    }
    Ok(())
}
