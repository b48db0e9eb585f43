//! An existing teloxide bot that embeds lull: its agent answers messages, and `/maintenance`
//! (with lull's buttons and notices) works in the same bot, next to its own commands.
//!
//! Run: `TELEGRAM_BOT_TOKEN=… cargo run --example telegram_embed -- path/to/lull.toml`
//! (the `[telegram]` section names admins and agents; see docs/telegram.md).

#[path = "shared/host.rs"]
mod host;

// Brings `deliver_notices` into scope: the same on every platform.
use lull_adapters::chat::adapter::MountedLull;
use lull_adapters::telegram::{TelegramLull, TelegramSettings, menu};
use lull_queue::ActivityTracker;
use teloxide::prelude::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let host = host::Host::start().await?;
    // The host's bot; here built from `[telegram]` (token from TELEGRAM_BOT_TOKEN, api_url).
    let settings = host.settings::<TelegramSettings>("telegram")?;
    let bot = lull_adapters::telegram::bot(settings);

    // The glue: lull's branch first, the notice delivery, the menu merged with the host's.
    let telegram = TelegramLull::new(bot.clone(), host.stack.plugin.clone());
    menu::merge(&bot).await?;
    let notices = telegram.clone();
    tokio::spawn(async move { notices.deliver_notices(std::future::pending()).await });
    let handler = dptree::entry()
        .branch(telegram.branch())
        .branch(Update::filter_message().endpoint(agent_turn));
    Dispatcher::builder(bot, handler)
        .dependencies(dptree::deps![host.stack.tracker.clone()])
        .build()
        .dispatch()
        .await;
    Ok(())
}

/// The host's own handler: each agent turn is a run lull waits for.
async fn agent_turn(bot: Bot, message: Message, tracker: ActivityTracker) -> ResponseResult<()> {
    // A message to the agent is activity: the idle window starts again.
    tracker.note_activity();
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
