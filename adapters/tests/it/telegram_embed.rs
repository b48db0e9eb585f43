//! Embedding: a host's own teloxide dispatcher with lull's branch added (the glue of
//! `examples/telegram_embed.rs`), against the fake Bot API. The host keeps its commands and its
//! messages; `/maintenance` is lull's; the host's agent runs hold the restart until they end.

use crate::common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::fake_telegram::{FakeTelegram, TOKEN};
// Brings `deliver_notices` into scope: the same on every platform.
use lull_adapters::chat::adapter::MountedLull;
use lull_adapters::config::Config;
use lull_adapters::platforms::ChatAdapters;
use lull_adapters::telegram::{self, TelegramLull, TelegramSettings, menu};
use lull_queue::{ActivityTracker, RunGuard};
use serde_json::json;
use teloxide::prelude::*;

const ADMIN: i64 = 42;
const USER: i64 = 7;

/// The host's agent: `hold` starts a run that lasts until the test ends it, anything else is
/// answered at once.
async fn agent_turn(
    bot: Bot,
    message: Message,
    tracker: ActivityTracker,
    held: Arc<Mutex<Option<RunGuard>>>,
) -> ResponseResult<()> {
    tracker.note_activity();
    let Ok(run) = tracker.begin_run(format!("telegram:{}", message.chat.id)) else {
        bot.send_message(message.chat.id, "agent: restarting, ask again")
            .await?;
        return Ok(());
    };
    if message.text() == Some("hold") {
        *held.lock().unwrap() = Some(run);
        bot.send_message(message.chat.id, "agent: thinking…")
            .await?;
    } else {
        bot.send_message(message.chat.id, "agent: hello").await?;
    }
    Ok(())
}

#[test]
fn a_host_bot_keeps_its_commands_and_messages_and_lull_waits_for_its_runs() {
    let fake = FakeTelegram::start();
    fake.set_commands(json!([
        {"command": "start", "description": "Start"},
        {"command": "ask", "description": "Ask the agent"},
    ]));
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse(
        &format!(
            "[maintenance]\nidle_seconds = 0\nlease_ttl_seconds = 1\ncooldown_seconds = 0\n\
             [executor]\nrestart = [\"true\"]\n\
             [telegram]\napi_url = \"{}\"\nadmins = [{ADMIN}]\n",
            fake.url()
        ),
        Path::new("lull.toml"),
    )
    .unwrap();
    let chats = ChatAdapters::from_config_with(&config, |_| Some(TOKEN.into())).unwrap();
    let settings = chats.find::<TelegramSettings>().unwrap().clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let held: Arc<Mutex<Option<RunGuard>>> = Arc::default();

    let (shutdown, _scheduler) = runtime.block_on(async {
        let (lull, scheduler) = common::embedded(dir.path(), &config, &chats).await;
        let bot = telegram::bot(&settings);

        // The glue, as in examples/telegram_embed.rs.
        let telegram = TelegramLull::new(bot.clone(), lull.plugin.clone());
        assert!(menu::merge(&bot).await.unwrap(), "ours was missing");
        let notices = telegram.clone();
        tokio::spawn(async move { notices.deliver_notices(std::future::pending()).await });
        let handler = dptree::entry()
            .branch(telegram.branch())
            .branch(Update::filter_message().endpoint(agent_turn));
        let mut dispatcher = Dispatcher::builder(bot, handler)
            .dependencies(dptree::deps![lull.tracker.clone(), held.clone()])
            .build();
        let shutdown = dispatcher.shutdown_token();
        tokio::spawn(async move { dispatcher.dispatch().await });
        (shutdown, scheduler)
    });

    let commands: Vec<String> = fake
        .commands()
        .iter()
        .map(|c| c["command"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        commands,
        ["start", "ask", "maintenance"],
        "merged, not replaced"
    );

    fake.send_text(USER, USER, "/start");
    fake.wait_for_message(USER, "agent: hello");
    // Words that read like an answer to a prompt, but not sent as a reply to the bot: the host's.
    fake.send_text(USER, USER, "reject deadbeef12");
    fake.wait_until("the host's answer", |f| f.messages_in(USER).len() == 2);
    assert_eq!(fake.messages_in(USER)[1]["text"], "agent: hello");

    fake.send_text(USER, USER, "hold");
    fake.wait_for_message(USER, "agent: thinking");
    fake.send_text(ADMIN, ADMIN, "/maintenance restart --idle-seconds 0");
    fake.wait_for_message(ADMIN, "Queued");
    fake.send_text(ADMIN, ADMIN, "/maintenance status");
    let status = fake.wait_for_message(ADMIN, "waiting for 1 live run");
    assert!(
        status["text"].as_str().unwrap().contains("telegram:7"),
        "{status}"
    );
    assert!(
        fake.messages_in(ADMIN)
            .iter()
            .all(|m| !m["text"].as_str().unwrap().contains("succeeded")),
        "nothing ran while the agent's run was live"
    );

    // The agent's turn ends: the restart runs, and the requester hears of it.
    held.lock().unwrap().take();
    fake.wait_for_message(ADMIN, "succeeded");
    // The host answers its own users again: lull reopened admission before it recorded the
    // outcome the notice tells of. Asked in a bounded loop, which fails saying what it awaited.
    let answered = |f: &FakeTelegram| {
        f.messages_in(USER)
            .iter()
            .filter(|m| m["text"] == "agent: hello")
            .count()
    };
    let before_restart = answered(&fake);
    let mut asked = 0;
    while answered(&fake) == before_restart {
        asked += 1;
        assert!(asked <= 50, "the host never answered again");
        let before = fake.messages_in(USER).len();
        fake.send_text(USER, USER, "/ask anything");
        fake.wait_until("the host's answer", |f| f.messages_in(USER).len() > before);
    }
    runtime.block_on(async {
        if let Ok(stopping) = shutdown.shutdown() {
            tokio::time::timeout(std::time::Duration::from_secs(60), stopping)
                .await
                .expect("the host's dispatcher stops within 60s");
        }
    });
}
