//! The chat contract: what a platform implements to be one of lull's chat platforms. Its
//! checked config section is a [`ChatAdapter`] (who may do what, which chats hear everything, how
//! lull's own bot runs), listed as a [`Platform`]; lull mounted in its client is a
//! [`MountedLull`], whose notices the kit delivers.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use lull_plugin::{ChatRelay, PlatformPolicy, Plugin};
use tokio_util::sync::CancellationToken;

use super::outbox::{self, NoticeSink};
use super::settings::SettingError;
use crate::config::Config;

/// A running adapter: ends when told to stop, or early with an error waiting cannot fix.
pub type Running = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// One enabled chat platform, from its checked config section.
pub trait ChatAdapter: Send + Sync + Any {
    /// `telegram`, `discord`, `slack`, `relay:<name>`: the platform in senders, chats and
    /// notices.
    fn platform(&self) -> &str;
    /// Who may do what here.
    fn policy(&self) -> PlatformPolicy;
    /// The chats (platform ids) that hear about every request.
    fn notify_chats(&self) -> Vec<String>;
    /// Tokens and secrets, to keep out of output tails.
    fn secrets(&self) -> Vec<String>;
    /// For a relay: its platform and the agents whose tool calls may name a chat.
    fn relay(&self) -> Option<ChatRelay> {
        None
    }
    /// lull's own bot or app on the platform (the sidecar's), until `stop` is cancelled.
    fn run(&self, plugin: Plugin, stop: CancellationToken) -> Running;
}

/// A chat platform this build can run: its config section, and how the section (present in the
/// config) is checked into its adapter.
pub struct Platform {
    /// `telegram`, `discord`, `slack`.
    pub section: &'static str,
    /// Checks the section, reading secrets through the given environment.
    pub enable: fn(&Config, &Env<'_>) -> Result<Enabled, SettingError>,
}

/// An enabled platform's adapter.
pub type Enabled = Box<dyn ChatAdapter>;

/// Where secrets are read: the process environment, or a test's.
pub type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// lull mounted in one platform's client (`TelegramLull`, `DiscordLull`, `SlackLull`): what an
/// embedding host holds and hands its events to.
pub trait MountedLull: Clone + Send + Sync + 'static {
    /// What sends this platform's notices.
    type Notices: NoticeSink + Send + Sync + 'static;

    /// The command core.
    fn plugin(&self) -> &Plugin;

    /// A sink that sends notices through this client.
    fn notices(&self) -> Self::Notices;

    /// Delivers the outbox's notices for this platform's chats until `stop`: the same loop on
    /// every platform, through its sink.
    fn deliver_notices(
        &self,
        stop: impl Future<Output = ()> + Send,
    ) -> impl Future<Output = ()> + Send {
        outbox::deliver(
            self.plugin().scheduler().store().clone(),
            self.notices(),
            stop,
        )
    }
}
