//! Socket Mode: slack-morphism's listener keeps the websocket (opened with the app-level token
//! through `apps.connections.open`) and acknowledges each envelope once its callback returns, so
//! lull's handling decides the acknowledgement: a slash command's envelope carries the answer,
//! an event that could not be handled is not acknowledged, and Slack sends it again.

use std::sync::Arc;

use slack_morphism::prelude::*;

use super::handler::SlackLull;
use super::send::SlackApiClient;

/// The listener's callbacks, finding lull in the listener's user state.
pub fn callbacks() -> SlackSocketModeListenerCallbacks<SlackClientHyperHttpsConnector> {
    SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_push)
}

/// The listener's environment: the client, lull as its user state, and errors kept unacked.
pub fn environment(
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

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let lull = lull_of(&state).await.ok_or("lull is not set up")?;
    Ok(lull.command(event).await)
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    let lull = lull_of(&state).await.ok_or("lull is not set up")?;
    lull.interaction(event).await;
    Ok(SlackInteractionResponse::Empty)
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackApiClient>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let lull = lull_of(&state).await.ok_or("lull is not set up")?;
    lull.push_event(&event).await.map_err(Into::into)
}

/// An event lull could not handle stays unacknowledged, so Slack sends it again.
fn on_error(
    error: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackApiClient>,
    _state: SlackClientEventsUserState,
) -> axum::http::StatusCode {
    tracing::warn!(%error, "slack: an envelope was not handled; Slack will send it again");
    axum::http::StatusCode::INTERNAL_SERVER_ERROR
}
