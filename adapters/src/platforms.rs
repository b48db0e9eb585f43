//! The chat platforms this build has, and the ones a config enables: who may do what on each,
//! the chats that hear about every request, the secrets to keep out of output, and running each
//! adapter. Everything else (`stack`, `serve`) asks the list, never a platform.
//!
//! Enabling a platform is one entry in [`PLATFORMS`]: its section, and how that section is
//! checked into settings that implement [`ChatAdapter`] (the kit's contract, in
//! `chat/adapter.rs`; each platform's side in its folder).

use std::any::Any;

use anyhow::bail;
use lull_plugin::{ChatRef, ChatRelay, Plugin, Policy};
use tokio_util::sync::CancellationToken;

use crate::chat::adapter::{ChatAdapter, Platform};
use crate::config::Config;

/// Every chat platform this build has: one entry each.
pub(crate) const PLATFORMS: &[Platform] = &[
    #[cfg(feature = "telegram")]
    crate::telegram::PLATFORM_ENTRY,
    #[cfg(feature = "discord")]
    crate::discord::PLATFORM_ENTRY,
    #[cfg(feature = "slack")]
    crate::slack::PLATFORM_ENTRY,
    crate::relay::PLATFORM_ENTRY,
];

/// The chat adapters a config enables, checked before anything starts.
#[derive(Default)]
pub struct ChatAdapters {
    adapters: Vec<Box<dyn ChatAdapter>>,
}

impl ChatAdapters {
    /// Checks every chat section of `config`, reading tokens from the environment. An error
    /// names the section, the key and its line.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Self::from_config_with(config, |name| std::env::var(name).ok())
    }

    /// [`ChatAdapters::from_config`], reading tokens through `env` instead.
    pub fn from_config_with(
        config: &Config,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let mut adapters = Vec::new();
        for (section, present) in config.chat_sections() {
            if !present {
                continue;
            }
            let Some(platform) = PLATFORMS.iter().find(|p| p.section == section) else {
                bail!(
                    "[{section}] is configured, but this build of lull has no {section} adapter yet: \
                     either it was built without the {section} feature (rebuild with it), or lull has no adapter for {section} \
                     (remove the section to run the sidecar with the control API only)"
                );
            };
            adapters.push((platform.enable)(config, &env).map_err(|e| config.invalid(e))?);
        }
        Ok(Self { adapters })
    }

    /// The enabled adapter of type `A` (an embedding gateway's way to its platform's settings).
    pub fn find<A: ChatAdapter>(&self) -> Option<&A> {
        self.adapters
            .iter()
            .find_map(|a| (a.as_ref() as &dyn Any).downcast_ref::<A>())
    }

    /// Who may do what on each enabled platform.
    pub(crate) fn policy(&self) -> Policy {
        let mut policy = Policy::default();
        for adapter in &self.adapters {
            policy
                .platforms
                .insert(adapter.platform().into(), adapter.policy());
        }
        policy
    }

    /// The chats that hear about every request.
    pub(crate) fn notify(&self) -> Vec<ChatRef> {
        self.adapters
            .iter()
            .flat_map(|adapter| {
                adapter.notify_chats().into_iter().map(|chat| ChatRef {
                    platform: adapter.platform().into(),
                    chat,
                })
            })
            .collect()
    }

    /// The platforms whose notices this process delivers.
    pub(crate) fn platforms(&self) -> Vec<&str> {
        self.adapters.iter().map(|a| a.platform()).collect()
    }

    /// The relay, if `[relay]` is configured.
    pub(crate) fn relay(&self) -> Option<ChatRelay> {
        self.adapters.iter().find_map(|a| a.relay())
    }

    /// The adapters' tokens and secrets, to keep out of output tails.
    pub(crate) fn secrets(&self) -> Vec<String> {
        self.adapters.iter().flat_map(|a| a.secrets()).collect()
    }

    /// Starts each enabled adapter; each ends when `stop` is cancelled, or early with a fatal
    /// error, which `failures` receives.
    pub(crate) fn spawn(
        &self,
        plugin: &Plugin,
        stop: &CancellationToken,
        failures: &tokio::sync::mpsc::UnboundedSender<anyhow::Error>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        self.adapters
            .iter()
            .map(|adapter| {
                let running = adapter.run(plugin.clone(), stop.clone());
                let failures = failures.clone();
                tokio::spawn(async move {
                    if let Err(error) = running.await {
                        let _ = failures.send(error);
                    }
                })
            })
            .collect()
    }
}

/// Waits for the first adapter to fail; pending forever if none does (or there are none).
pub(crate) async fn first_failure(
    failures: &mut tokio::sync::mpsc::UnboundedReceiver<anyhow::Error>,
) -> anyhow::Error {
    match failures.recv().await {
        Some(error) => error,
        None => std::future::pending().await,
    }
}

#[cfg(all(test, feature = "telegram"))]
mod tests {
    use std::path::Path;

    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "TELEGRAM_BOT_TOKEN").then(|| "123:abc".to_owned())
    }

    #[test]
    fn a_bad_chat_value_names_the_file_the_section_the_key_and_the_line() {
        let config = Config::parse(
            "[maintenance]\nidle_seconds = 0\n\n[telegram]\nadmins = [\"@alice\"]\n",
            Path::new("/etc/lull.toml"),
        )
        .unwrap();
        let error = ChatAdapters::from_config_with(&config, env)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with(
                "invalid config /etc/lull.toml: [telegram] admins (line 5): \"@alice\" is not a Telegram id"
            ),
            "{error}"
        );
    }

    #[test]
    fn an_enabled_platform_is_one_entry_everywhere() {
        let config = Config::parse(
            "[telegram]\nadmins = [42]\nagents = [7]\nnotify_chat_id = -100\n",
            Path::new("lull.toml"),
        )
        .unwrap();
        let chats = ChatAdapters::from_config_with(&config, env).unwrap();
        assert_eq!(chats.platforms(), ["telegram"]);
        let policy = chats.policy();
        assert_eq!(policy.platforms["telegram"].admins, ["42"]);
        assert_eq!(policy.platforms["telegram"].agents, ["7"]);
        assert_eq!(chats.notify()[0].chat, "-100");
        assert_eq!(chats.secrets(), ["123:abc"]);
        assert!(chats.find::<crate::telegram::TelegramSettings>().is_some());
        assert!(
            ChatAdapters::from_config_with(&Config::default(), env)
                .unwrap()
                .platforms()
                .is_empty()
        );
    }
}
