//! lull's own bot, the sidecar's: check the token, set the menu, deliver notices, and receive
//! updates by polling or webhook — retrying through network trouble — until told to stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::prelude::*;
use teloxide::types::AllowedUpdate;
use teloxide::{ApiError, RequestError};

use super::confirm::{ConfirmAfterHandling, Handling};
use super::settings::{TelegramSettings, UpdateSource};
use super::{TelegramLull, menu, webhook};
use crate::backoff::Backoff;

/// How long one `getUpdates` long poll waits for updates.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long stopping waits for updates being handled to finish.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// Why the Telegram adapter cannot run.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// The Bot API refused the token.
    #[error(
        "Telegram refused the bot token (401 Unauthorized); check the variable named by telegram.token_env, or ask BotFather for a new token"
    )]
    TokenRefused,
    /// `getMe` answered 404: a token the Bot API does not recognise, or an `api_url` that is
    /// not a Bot API server.
    #[error(
        "the Bot API answered getMe with 404 Not Found: either the token is malformed or telegram.api_url ({0}) is not a Bot API server"
    )]
    NotFound(String),
    /// The webhook address cannot be listened on.
    #[error("telegram.webhook_listen: cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Runs lull's own bot — the sidecar's — until `stop` resolves: checks the token, sets the
/// command menu, delivers notices and handles updates from `settings.source`. Network trouble
/// (at start-up too) is waited out with backoff; only a refused token or a webhook address that
/// cannot be listened on end it early.
pub async fn run(
    lull: TelegramLull,
    settings: &TelegramSettings,
    stop: impl Future<Output = ()>,
) -> Result<(), TelegramError> {
    tokio::pin!(stop);
    let bot = lull.bot().clone();
    let me = tokio::select! {
        me = get_me(&bot) => me?,
        () = &mut stop => return Ok(()),
    };
    tracing::info!(bot = %me.user.username.as_deref().unwrap_or("?"), source = settings.source_name(), "telegram: connected");
    if let Err(error) = menu::replace(&bot).await {
        tracing::warn!(%error, "telegram: could not set the command menu; /maintenance still works when typed");
    }

    let (stopped, _) = tokio::sync::broadcast::channel::<()>(1);
    let notices = {
        let lull = lull.clone();
        let mut stopped = stopped.subscribe();
        tokio::spawn(async move {
            lull.deliver_notices(async move {
                stopped.recv().await.ok();
            })
            .await;
        })
    };
    let mut backoff = Backoff::default();
    let result = loop {
        let attempt = match &settings.source {
            UpdateSource::Polling => dispatch_polling(&lull, &mut stop).await,
            UpdateSource::Webhook {
                listen,
                url,
                secret,
            } => dispatch_webhook(&lull, *listen, url, secret, &mut stop).await,
        };
        match attempt {
            Ok(()) => break Ok(()),
            Err(Attempt::Fatal(error)) => break Err(error),
            Err(Attempt::Retry(error)) => {
                let wait = backoff.next_wait();
                tracing::warn!(%error, retry_in_seconds = wait.as_secs(), "telegram: cannot start receiving updates");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = &mut stop => break Ok(()),
                }
            }
        }
    };
    let _ = stopped.send(());
    let _ = notices.await;
    result
}

/// Why one attempt at receiving updates ended before it was told to stop.
enum Attempt {
    /// Worth another attempt after a while (the Bot API could not be reached).
    Retry(String),
    /// Not worth it.
    Fatal(TelegramError),
}

impl From<RequestError> for Attempt {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::Api(ApiError::InvalidToken) => Self::Fatal(TelegramError::TokenRefused),
            other => Self::Retry(other.to_string()),
        }
    }
}

fn dispatcher(
    lull: &TelegramLull,
    handling: Option<Arc<Handling>>,
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
        let finished = handling.as_ref().map(|h| h.finished_on_drop(update.id));
        async move { drop(finished) }
    })
    .build()
}

fn listener_errors() -> std::sync::Arc<LoggingErrorHandler> {
    LoggingErrorHandler::with_custom_text("telegram: an error from the update listener")
}

async fn dispatch_polling(
    lull: &TelegramLull,
    stop: &mut (impl Future<Output = ()> + Unpin),
) -> Result<(), Attempt> {
    // lull's own bot: a webhook left from an earlier `mode = "webhook"` would keep updates away.
    lull.bot().delete_webhook().await?;
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
    stop: &mut (impl Future<Output = ()> + Unpin),
) -> Result<(), Attempt> {
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| {
            Attempt::Fatal(TelegramError::Listen {
                address: listen,
                source,
            })
        })?;
    // The bound address, not the configured one: with port 0 the system picks it.
    let bound = tcp.local_addr().unwrap_or(listen);
    tracing::info!("Telegram webhook listening on {bound}");
    lull.bot()
        .set_webhook(url.clone())
        .secret_token(secret.to_owned())
        .allowed_updates([AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
        .await?;
    let handling = Arc::new(Handling::default());
    let (listener, router) = webhook::webhook(secret, handling.clone());
    let (server_stop, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(async move {
        axum::serve(tcp, router)
            .with_graceful_shutdown(async move {
                server_stopped.await.ok();
            })
            .await
    });
    let mut dispatcher = dispatcher(lull, Some(handling));
    let shutdown = dispatcher.shutdown_token();
    let dispatching = dispatcher.try_dispatch_with_listener(listener, listener_errors());
    let result = until_stopped(dispatching, &shutdown, stop).await;
    // lull's own bot: while lull is down, Telegram keeps the updates for the next start.
    if let Err(error) = lull.bot().delete_webhook().await {
        tracing::warn!(%error, "telegram: could not remove the webhook");
    }
    let _ = server_stop.send(());
    if tokio::time::timeout(STOP_GRACE, &mut server).await.is_err() {
        server.abort();
    }
    result
}

/// Drives `dispatching` until it ends or `stop` resolves; then shuts the dispatcher down
/// through its token, letting updates being handled finish (bounded).
async fn until_stopped(
    dispatching: impl Future<Output = Result<(), RequestError>>,
    shutdown: &teloxide::dispatching::ShutdownToken,
    stop: &mut (impl Future<Output = ()> + Unpin),
) -> Result<(), Attempt> {
    tokio::pin!(dispatching);
    tokio::select! {
        ended = &mut dispatching => {
            // Its own getMe failed, or the listener ended without being told to.
            return Err(match ended {
                Err(error) => Attempt::from(error),
                Ok(()) => Attempt::Retry("the update listener ended".into()),
            });
        }
        () = stop => {}
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

/// `getMe`, retried with backoff through network trouble; a refused token is final.
async fn get_me(bot: &Bot) -> Result<teloxide::types::Me, TelegramError> {
    let api_url = bot.api_url().to_string();
    let mut backoff = Backoff::default();
    loop {
        match bot.get_me().await {
            Ok(me) => return Ok(me),
            Err(RequestError::Api(ApiError::InvalidToken)) => {
                return Err(TelegramError::TokenRefused);
            }
            Err(RequestError::Api(ApiError::Unknown(d))) if d == "Not Found" => {
                return Err(TelegramError::NotFound(api_url));
            }
            Err(error) => {
                let wait = backoff.next_wait();
                tracing::warn!(%error, retry_in_seconds = wait.as_secs(), "telegram: cannot reach the Bot API");
                tokio::time::sleep(wait).await;
            }
        }
    }
}
