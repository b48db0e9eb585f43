//! Socket Mode: slack-morphism's listener keeps the websocket (opened with the app-level token
//! through `apps.connections.open`) and acknowledges each envelope once its callback returns, so
//! lull's handling decides the acknowledgement: a slash command's envelope carries the answer,
//! an event that could not be handled is not acknowledged, and Slack sends it again.

use std::future::Future;
use std::sync::Arc;

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::handler::SlackLull;
use super::send::SlackApiClient;

/// The listener's callbacks, finding lull in the listener's user state.
pub(crate) fn callbacks() -> SlackSocketModeListenerCallbacks<SlackClientHyperHttpsConnector> {
    SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_push)
}

/// The listener's environment: the client, lull as its user state, and errors kept unacked.
pub(crate) fn environment(
    client: Arc<SlackApiClient>,
    lull: SlackLull,
) -> Arc<SlackClientEventsListenerEnvironment<SlackClientHyperHttpsConnector>> {
    Arc::new(
        SlackClientEventsListenerEnvironment::new(client)
            .with_error_handler(on_error)
            .with_user_state(lull),
    )
}

async fn lull_of(state: &SlackClientEventsUserState) -> Option<SlackLull> {
    state.read().await.get_user_state::<SlackLull>().cloned()
}

/// Runs `work` as one of lull's tasks, so that stopping lets it finish (and its envelope be
/// acknowledged) before the connection closes.
async fn tracked<T: Send + 'static>(
    lull: &SlackLull,
    work: impl Future<Output = T> + Send + 'static,
) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
    Ok(lull.tasks().spawn(work).await?)
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let lull = lull_of(&state).await.ok_or("lull is not set up")?;
    let handler = lull.clone();
    tracked(&lull, async move { handler.command(event).await }).await
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let lull = lull_of(&state).await.ok_or("lull is not set up")?;
    let handler = lull.clone();
    tracked(&lull, async move { handler.interaction(event).await }).await?;
    Ok(SlackInteractionResponse::Empty)
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let lull = lull_of(&state).await.ok_or("lull is not set up")?;
    let handler = lull.clone();
    tracked(&lull, async move { handler.push_event(&event).await })
        .await?
        .map_err(Into::into)
}

/// An event lull could not handle stays unacknowledged, so Slack sends it again. Only the kind
/// of a client error is logged: its message can hold the envelope's body (a `response_url`,
/// what someone typed).
fn on_error(
    error: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackApiClient>,
    _state: SlackClientEventsUserState,
) -> axum::http::StatusCode {
    let kind = match error.downcast_ref::<SlackClientError>() {
        Some(SlackClientError::ProtocolError(_)) => "an envelope lull cannot read".to_owned(),
        Some(SlackClientError::SocketModeProtocolError(_)) => {
            "a Socket Mode protocol error".to_owned()
        }
        Some(_) => "a Slack client error".to_owned(),
        None => error.to_string(),
    };
    tracing::warn!(why = %kind, "slack: an envelope was not handled; Slack will send it again");
    axum::http::StatusCode::INTERNAL_SERVER_ERROR
}
