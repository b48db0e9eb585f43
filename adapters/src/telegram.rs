//! The Telegram adapter (teloxide): `/maintenance` in private chats and groups, approval and
//! escalation prompts as inline keyboards, and notices from the durable outbox.
//!
//! Two ways to run it. **Sidecar**: [`run`] drives lull's own bot (polling or webhook) until
//! told to stop. **Embedded**: a host's teloxide bot adds [`TelegramLull::branch`] to its
//! dispatcher, calls [`menu::merge`], and spawns [`TelegramLull::deliver_notices`]; see
//! `adapters/examples/telegram_embed.rs`.

pub mod confirm;
pub mod handler;
pub mod markup;
pub mod menu;
pub mod send;
pub mod settings;
pub mod sidecar;
pub mod webhook;

use std::future::Future;

use teloxide::prelude::*;

pub use handler::{PLATFORM, SEEN_TTL, TelegramLull};
pub use settings::{TelegramSettings, UpdateSource, WEBHOOK_PATH};
pub use sidecar::{TelegramError, run};

use crate::outbox;
use send::TelegramNotices;

/// The bot for `settings`: its token and Bot API server.
pub fn bot(settings: &TelegramSettings) -> Bot {
    Bot::new(&settings.token).set_api_url(settings.api_url.clone())
}

impl TelegramLull {
    /// Delivers the outbox's notices for Telegram chats through this bot until `stop`.
    pub async fn deliver_notices(&self, stop: impl Future<Output = ()>) {
        let sink = TelegramNotices {
            bot: self.bot().clone(),
        };
        outbox::deliver(self.plugin().scheduler().store().clone(), sink, stop).await;
    }
}
