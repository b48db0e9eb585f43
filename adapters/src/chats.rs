//! The chat platforms a config enables (`[telegram]`, later `[discord]` and `[slack]`), checked
//! before anything starts: who may do what on each, the chats that hear about every request,
//! the secrets to keep out of output, and starting each adapter.

// Every adapter is optional; in a build with none, these bodies have nothing to add.
#![cfg_attr(
    not(feature = "telegram"),
    allow(unused_mut, unused_variables, unused_imports)
)]

use lull_plugin::{ChatRef, PlatformPolicy, Plugin, Policy};

use crate::config::Config;

/// The chat adapters a config enables, checked before anything starts.
pub struct ChatAdapters {
    /// `[telegram]`, checked.
    #[cfg(feature = "telegram")]
    pub telegram: Option<crate::telegram::TelegramSettings>,
}

impl ChatAdapters {
    /// Checks every chat section of `config` (reading tokens from the environment).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            #[cfg(feature = "telegram")]
            telegram: config
                .telegram
                .as_ref()
                .map(|t| {
                    crate::telegram::TelegramSettings::from_config(t, |n| std::env::var(n).ok())
                })
                .transpose()?,
        })
    }

    /// Who may do what on each enabled platform.
    pub fn policy(&self) -> Policy {
        let mut policy = Policy::default();
        #[cfg(feature = "telegram")]
        if let Some(t) = &self.telegram {
            policy.platforms.insert(
                crate::telegram::PLATFORM.into(),
                PlatformPolicy {
                    admins: t.admins.clone(),
                    admin_roles: Vec::new(),
                    agents: t.agents.clone(),
                },
            );
        }
        policy
    }

    /// The chats that hear about every request.
    pub fn notify(&self) -> Vec<ChatRef> {
        let mut notify = Vec::new();
        #[cfg(feature = "telegram")]
        if let Some(chat) = self.telegram.as_ref().and_then(|t| t.notify_chat_id) {
            notify.push(ChatRef {
                platform: crate::telegram::PLATFORM.into(),
                chat: chat.to_string(),
            });
        }
        notify
    }

    /// The platforms whose notices this process delivers.
    pub fn platforms(&self) -> Vec<&'static str> {
        let mut platforms = Vec::new();
        #[cfg(feature = "telegram")]
        if self.telegram.is_some() {
            platforms.push(crate::telegram::PLATFORM);
        }
        platforms
    }

    /// The adapters' tokens and secrets, to keep out of output tails.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        #[cfg(feature = "telegram")]
        if let Some(t) = &self.telegram {
            secrets.extend(t.secrets());
        }
        secrets
    }

    /// Starts each enabled adapter; each ends when `stop` fires, or early with a fatal error,
    /// which `failures` receives.
    pub fn spawn(
        &self,
        plugin: &Plugin,
        stop: &tokio::sync::broadcast::Sender<()>,
        failures: &tokio::sync::mpsc::UnboundedSender<anyhow::Error>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        #[cfg(feature = "telegram")]
        if let Some(settings) = self.telegram.clone() {
            let lull =
                crate::telegram::TelegramLull::new(crate::telegram::bot(&settings), plugin.clone())
                    .owning_the_bot();
            let mut stopped = stop.subscribe();
            let failures = failures.clone();
            tasks.push(tokio::spawn(async move {
                let ran = crate::telegram::run(lull, &settings, async move {
                    stopped.recv().await.ok();
                })
                .await;
                if let Err(error) = ran {
                    let _ = failures.send(error.into());
                }
            }));
        }
        let _ = (plugin, stop, failures);
        tasks
    }
}

/// Waits for the first adapter to fail; pending forever if none does (or there are none).
pub async fn first_failure(
    failures: &mut tokio::sync::mpsc::UnboundedReceiver<anyhow::Error>,
) -> anyhow::Error {
    match failures.recv().await {
        Some(error) => error,
        None => std::future::pending().await,
    }
}
