//! Embedding: a host's own slack-morphism Socket Mode listener whose callbacks hand lull its
//! events (the glue of `examples/slack_embed.rs`), against the fake Slack. The host keeps its
//! own commands; `/maintenance` and lull's notices go through the host's app.

use crate::common;

use std::path::Path;
use std::sync::Arc;

use common::fake_slack::{APP_TOKEN, BOT_TOKEN, FakeSlack, command_fields};
// Brings `deliver_notices` into scope: the same on every platform.
use lull_adapters::chat::adapter::MountedLull;
use lull_adapters::config::Config;
use lull_adapters::platforms::ChatAdapters;
use lull_adapters::slack::{self, SlackLull, SlackSettings};
use serde_json::json;
use slack_morphism::prelude::*;

type Client = Arc<SlackClient<SlackClientHyperHttpsConnector>>;

async fn on_command(
    event: SlackCommandEvent,
    _client: Client,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    if event.command.value() == "/maintenance" {
        let lull = state
            .read()
            .await
            .get_user_state::<SlackLull>()
            .cloned()
            .unwrap();
        return Ok(lull.command(event).await);
    }
    Ok(SlackCommandEventResponse::new(
        SlackMessageContent::new().with_text("host: hello".into()),
    ))
}

#[test]
fn a_host_app_keeps_its_commands_and_lull_answers_maintenance_and_sends_notices() {
    let fake = FakeSlack::start();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        &format!(
            "[executor]\nrestart = [\"true\"]\n[slack]\napi_url = \"{}\"\nadmins = [\"U0ADMIN\"]\nnotify_channel = \"C0NOTIFY\"\n",
            fake.api_url()
        ),
        Path::new("lull.toml"),
    )
    .unwrap();
    let chats = ChatAdapters::from_config_with(&config, |name| match name {
        "SLACK_BOT_TOKEN" => Some(BOT_TOKEN.into()),
        "SLACK_APP_TOKEN" => Some(APP_TOKEN.into()),
        _ => None,
    })
    .unwrap();
    let settings = chats.find::<SlackSettings>().unwrap().clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (listener, _scheduler) = runtime.block_on(async {
        let (stack, scheduler) = common::embedded(dir.path(), &config, &chats).await;
        // The glue, as in examples/slack_embed.rs.
        let client = Arc::new(slack::send::client(&settings.api_url).unwrap());
        let lull = SlackLull::new(
            client.clone(),
            slack::bot_token(&settings),
            stack.plugin.clone(),
        );
        let notices = lull.clone();
        tokio::spawn(async move { notices.deliver_notices(std::future::pending()).await });
        let environment =
            Arc::new(SlackClientEventsListenerEnvironment::new(client).with_user_state(lull));
        let callbacks = SlackSocketModeListenerCallbacks::new().with_command_events(on_command);
        let listener = SlackClientSocketModeListener::new(
            &SlackClientSocketModeConfig::new(),
            environment,
            callbacks,
        );
        listener
            .listen_for(&SlackApiToken::new(APP_TOKEN.to_owned().into()))
            .await
            .unwrap();
        listener.start().await;
        (listener, scheduler)
    });

    let send = |text: &str, command: &str| {
        let envelope = fake.next_id("env-");
        let mut fields = command_fields(
            "U0ADMIN",
            "C0OPS",
            text,
            &fake.next_id("trigger-"),
            &fake.response_url(),
        );
        fields["command"] = json!(command);
        fake.push_envelope(json!({
            "envelope_id": envelope, "type": "slash_commands", "accepts_response_payload": true,
            "payload": fields,
        }));
        fake.wait_until("the acknowledgement", |f| f.ack(&envelope).is_some());
        fake.ack(&envelope).unwrap()
    };
    assert_eq!(send("anything", "/ask")["text"], "host: hello");
    let queued = send("restart --idle 2h", "/maintenance");
    assert_eq!(queued["response_type"], "in_channel", "{queued}");
    assert!(
        queued["text"].as_str().unwrap().contains("Queued"),
        "{queued}"
    );
    fake.wait_until("the notice through the host's app", |f| {
        !f.posted_in("C0NOTIFY").is_empty()
    });
    runtime.block_on(listener.shutdown());
}
