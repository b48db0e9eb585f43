//! An existing slack-morphism app (Socket Mode) that embeds lull: its own commands and agent
//! keep working, and `/maintenance` (with lull's buttons and notices) works in the same app.
//! Over HTTP instead, the host's own signed-request handlers call the same three methods (or,
//! for an app of lull's own, mount `lull_adapters::slack::http::routes(…)`).
//!
//! Run: `SLACK_BOT_TOKEN=xoxb-… SLACK_APP_TOKEN=xapp-… cargo run --example slack_embed -- lull.toml`
//! (the `[slack]` section names admins and agents; see docs/slack.md).

#[path = "shared/host.rs"]
mod host;

use std::sync::Arc;

// Brings `deliver_notices` into scope: the same on every platform.
use lull_adapters::chat::adapter::MountedLull;
use lull_adapters::slack::{self, SlackLull, SlackSettings, settings::Connection};
use slack_morphism::prelude::*;

type Client = Arc<SlackClient<SlackClientHyperHttpsConnector>>;

async fn lull(state: &SlackClientEventsUserState) -> SlackLull {
    state
        .read()
        .await
        .get_user_state::<SlackLull>()
        .cloned()
        .expect("lull is in the state")
}

/// The host's command callback: `/maintenance` is lull's, the rest the host's.
async fn on_command(
    event: SlackCommandEvent,
    _client: Client,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    if event.command.value() == "/maintenance" {
        return Ok(lull(&state).await.command(event).await); // the glue, 1/3
    }
    Ok(SlackCommandEventResponse::new(
        SlackMessageContent::new().with_text("(the host's answer)".into()),
    ))
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Client,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackInteractionResponse> {
    lull(&state).await.interaction(event).await; // 2/3: clicks on lull's buttons (others ignored)
    Ok(SlackInteractionResponse::Empty)
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Client,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    lull(&state).await.push_event(&event).await?; // 3/3: an agent's /maintenance text
    // … the host's own events; each agent turn holds a run (`tracker.begin_run`) …
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let host = host::Host::start().await?;
    let settings = host.settings::<SlackSettings>("slack")?;
    let Connection::Socket { app_token } = &settings.connection else {
        anyhow::bail!("this example uses Socket Mode");
    };

    // The host's client, and lull on it; the notices delivered through it.
    let client = Arc::new(slack::send::client(&settings.api_url)?);
    let lull = SlackLull::new(
        client.clone(),
        slack::bot_token(settings),
        host.stack.plugin.clone(),
    );
    let notices = lull.clone();
    tokio::spawn(async move { notices.deliver_notices(std::future::pending()).await });

    let environment =
        Arc::new(SlackClientEventsListenerEnvironment::new(client).with_user_state(lull));
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction)
        .with_push_events(on_push);
    let listener = SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new(),
        environment,
        callbacks,
    );
    listener
        .listen_for(&SlackApiToken::new(app_token.expose().to_owned().into()))
        .await?;
    listener.serve().await;
    Ok(())
}
