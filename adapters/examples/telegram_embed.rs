//! An existing teloxide bot that embeds lull: its agent answers messages, and `/maintenance`
//! (with lull's buttons and notices) works in the same bot, next to its own commands.
//!
//! Run: `TELEGRAM_BOT_TOKEN=… cargo run --example telegram_embed -- path/to/lull.toml`
//! (the `[telegram]` section names admins and agents; see docs/telegram.md).

use std::path::PathBuf;

use lull_adapters::chats::ChatAdapters;
use lull_adapters::config::Config;
use lull_adapters::serve::queue_settings;
use lull_adapters::stack::{StackOptions, assemble};
use lull_adapters::telegram::{TelegramLull, TelegramSettings, menu};
use lull_queue::{ActivityTracker, RestartAction, SourceMode, Store};
use teloxide::prelude::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().init();
    let config_path: PathBuf = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "lull.toml".into())
        .into();
    let config = Config::load(&config_path)?;
    let chats = ChatAdapters::from_config(&config)?;
    let store = Store::open("gateway-lull.db", queue_settings(&config))?;
    let lull = assemble(
        store,
        &config,
        &chats,
        StackOptions {
            profile: "gateway".into(),
            mode: SourceMode::Embedded,
            // A gateway that can re-execute itself would use RestartAction::SelfExec.
            restart: RestartAction::Command(vec![
                "systemctl".into(),
                "--user".into(),
                "restart".into(),
                "my-gateway".into(),
            ]),
        },
    )
    .await?;
    let _scheduler = lull.plugin.scheduler().spawn();
    // The host's bot; here built from `[telegram]` (token from TELEGRAM_BOT_TOKEN, api_url).
    let settings = chats
        .find::<TelegramSettings>()
        .ok_or_else(|| anyhow::anyhow!("{} has no [telegram] section", config_path.display()))?;
    let bot = lull_adapters::telegram::bot(settings);

    // The glue: lull's branch first, the notice delivery, the menu merged with the host's.
    let telegram = TelegramLull::new(bot.clone(), lull.plugin.clone());
    menu::merge(&bot).await?;
    let notices = telegram.clone();
    tokio::spawn(async move { notices.deliver_notices(std::future::pending()).await });
    let handler = dptree::entry()
        .branch(telegram.branch())
        .branch(Update::filter_message().endpoint(agent_turn));
    Dispatcher::builder(bot, handler)
        .dependencies(dptree::deps![lull.tracker.clone()])
        .build()
        .dispatch()
        .await;
    Ok(())
}

/// The host's own handler: each agent turn is a run lull waits for.
async fn agent_turn(bot: Bot, message: Message, tracker: ActivityTracker) -> ResponseResult<()> {
    // A message to the agent is activity: the idle window starts again.
    tracker.note_activity(None);
    let Ok(_run) = tracker.begin_run(format!("telegram:{}", message.chat.id)) else {
        // Maintenance has begun (admission is closed); the gateway is about to restart.
        bot.send_message(
            message.chat.id,
            "Restarting for maintenance; ask again in a minute.",
        )
        .await?;
        return Ok(());
    };
    // … the agent's turn; lull never restarts while `_run` is held …
    bot.send_message(message.chat.id, "(the agent's answer)")
        .await?;
    Ok(())
}
