//! Embedding: a host's own serenity client with lull's handlers called from its `EventHandler`
//! (the glue of `examples/discord_embed.rs`), against the fake Discord. The host keeps its
//! commands and its messages; `/maintenance` is lull's, created beside the host's commands; the
//! host's agent runs hold the restart until they end.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::fake_discord::{APP_ID, FakeDiscord, TOKEN, Who, command_json, user_json};
// Brings `deliver_notices` into scope: the same on every platform.
use lull_adapters::chat::adapter::MountedLull;
use lull_adapters::config::Config;
use lull_adapters::discord::{self, DiscordLull, DiscordSettings};
use lull_adapters::platforms::ChatAdapters;
use lull_queue::{ActivityTracker, RunGuard};
use serde_json::Value;
use serenity::all::{
    ClientBuilder, Context, CreateInteractionResponse, CreateInteractionResponseMessage,
    EventHandler, GatewayIntents, Interaction, Message, Ready,
};
use serenity::async_trait;

const ADMIN: Who<'static> = Who {
    id: 111_000_000_000_000_001,
    name: "alice",
    roles: &[],
};
const USER: u64 = 111_000_000_000_000_007;
const CHANNEL: u64 = 444_000_000_000_000_001;

/// The host: lull's glue first, then its own `ask` command and agent turns (`hold` starts a run
/// that lasts until the test ends it).
struct Host {
    lull: DiscordLull,
    tracker: ActivityTracker,
    held: Arc<Mutex<Option<RunGuard>>>,
}

#[async_trait]
impl EventHandler for Host {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        self.lull.ready(&ready, None).await;
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if self.lull.interaction_create(&interaction).await {
            return;
        }
        if let Interaction::Command(c) = interaction {
            let answer = CreateInteractionResponseMessage::new().content("host: hello");
            let _ = c
                .create_response(&ctx.http, CreateInteractionResponse::Message(answer))
                .await;
        }
    }

    async fn message(&self, ctx: Context, message: Message) {
        if self.lull.message(&message).await || message.author.bot {
            return;
        }
        self.tracker.note_activity();
        let Ok(run) = self
            .tracker
            .begin_run(format!("discord:{}", message.channel_id))
        else {
            let _ = message
                .channel_id
                .say(&ctx.http, "agent: restarting, ask again")
                .await;
            return;
        };
        let answer = if message.content == "hold" {
            *self.held.lock().unwrap() = Some(run);
            "agent: thinking…"
        } else {
            "agent: hello"
        };
        let _ = message.channel_id.say(&ctx.http, answer).await;
    }
}

fn contents(fake: &FakeDiscord, channel: u64) -> Vec<String> {
    fake.messages_in(channel)
        .iter()
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_host_bot_keeps_its_commands_and_messages_and_lull_waits_for_its_runs() {
    let fake = FakeDiscord::start();
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        &format!(
            "[maintenance]\nidle_seconds = 0\nlease_ttl_seconds = 1\ncooldown_seconds = 0\n\
             [executor]\nrestart = [\"true\"]\n\
             [discord]\napi_url = \"{}\"\nadmins = [\"{}\"]\n",
            fake.url(),
            ADMIN.id
        ),
        Path::new("lull.toml"),
    )
    .unwrap();
    let chats = ChatAdapters::from_config_with(&config, |_| Some(TOKEN.into())).unwrap();
    let settings = chats.find::<DiscordSettings>().unwrap().clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let held: Arc<Mutex<Option<RunGuard>>> = Arc::default();

    let (shards, _scheduler) = runtime.block_on(async {
        let (lull, scheduler) = common::embedded(dir.path(), &config, &chats).await;

        // The glue, as in examples/discord_embed.rs.
        let discord = DiscordLull::new(Arc::new(discord::http(&settings)), lull.plugin.clone());
        let notices = discord.clone();
        tokio::spawn(async move { notices.deliver_notices(std::future::pending()).await });
        let host = Host {
            lull: discord,
            tracker: lull.tracker.clone(),
            held: held.clone(),
        };
        let intents = GatewayIntents::GUILDS
            | GatewayIntents::GUILD_MESSAGES
            | GatewayIntents::MESSAGE_CONTENT;
        let mut client = ClientBuilder::new_with_http(discord::http(&settings), intents)
            .event_handler(host)
            .await
            .unwrap();
        let shards = client.shard_manager.clone();
        tokio::spawn(async move { client.start().await });
        (shards, scheduler)
    });

    // `/maintenance` created beside the host's commands, never by overwriting them all.
    fake.wait_until("the registration", |f| {
        !f.calls("POST /applications/").is_empty()
    });
    assert!(fake.calls("PUT ").is_empty(), "nothing bulk-overwritten");
    // The application id came from READY (the config names none).
    assert_eq!(
        fake.calls("POST /applications/")[0].path,
        format!("/applications/{APP_ID}/commands")
    );

    // The host's own command and messages are the host's.
    let ask = fake.next_id();
    let mut interaction = command_json(ask, ADMIN, CHANNEL, "status", &[]);
    interaction["data"]["name"] = "ask".into();
    interaction["data"]["options"] = Value::Array(Vec::new());
    fake.dispatch("INTERACTION_CREATE", interaction);
    assert_eq!(
        fake.wait_for_callback(ask)["data"]["content"],
        "host: hello"
    );

    let user = user_json(USER, "bob", false);
    fake.post_message(user.clone(), CHANNEL, "hold");
    fake.wait_until("the agent's turn", |f| {
        contents(f, CHANNEL).contains(&"agent: thinking…".into())
    });

    let restart = fake.next_id();
    fake.dispatch(
        "INTERACTION_CREATE",
        command_json(restart, ADMIN, CHANNEL, "restart", &[("idle", "0")]),
    );
    let queued = fake.wait_for_callback(restart);
    assert!(
        queued["data"]["content"]
            .as_str()
            .unwrap()
            .contains("Queued"),
        "{queued}"
    );
    let status = fake.next_id();
    fake.dispatch(
        "INTERACTION_CREATE",
        command_json(status, ADMIN, CHANNEL, "status", &[]),
    );
    let status = fake.wait_for_callback(status);
    let text = status["data"]["content"].as_str().unwrap();
    assert!(
        text.contains("waiting for 1 live run") && text.contains(&format!("discord:{CHANNEL}")),
        "{text}"
    );
    assert!(
        contents(&fake, CHANNEL)
            .iter()
            .all(|m| !m.contains("succeeded")),
        "nothing ran while the agent's run was live"
    );

    // The agent's turn ends: the restart runs, and the requester's channel hears of it.
    held.lock().unwrap().take();
    fake.wait_until("the success notice", |f| {
        contents(f, CHANNEL).iter().any(|m| m.contains("succeeded"))
    });
    runtime.block_on(async {
        tokio::time::timeout(std::time::Duration::from_secs(60), shards.shutdown_all())
            .await
            .expect("the host's client stops within 60s");
    });
}
