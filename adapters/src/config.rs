//! `lull.toml`: the exact keys of docs/config.md, parsed strictly. Unknown keys and bad values are
//! errors naming the key and the line; secrets are only ever named by environment variable.

use std::fmt;
use std::path::Path;

use lull_queue::{AgentRequests, WindowEntry, Windows, Zone};
use serde::Deserialize;

use fields::{
    at_least_one, ids, optional_argv, optional_id, positive, restart_setting, up_to_a_year,
    up_to_seven_days,
};

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[maintenance]`.
    pub maintenance: Maintenance,
    /// `[executor]`.
    pub executor: ExecutorConfig,
    /// `[api]`.
    pub api: ApiConfig,
    /// `[telegram]`; its presence enables the adapter.
    pub telegram: Option<TelegramConfig>,
    /// `[discord]`; its presence enables the adapter.
    pub discord: Option<DiscordConfig>,
    /// `[slack]`; its presence enables the adapter.
    pub slack: Option<SlackConfig>,
    /// `[relay]`; its presence enables the relay (docs/relay.md).
    pub relay: Option<RelayConfig>,
    /// `[fleet]`; its presence makes restarts take a fleet slot (docs/fleet.md).
    pub fleet: Option<FleetConfig>,
    /// Where the config was read from, for errors found after parsing.
    #[serde(skip)]
    pub source: Source,
}

/// The file a [`Config`] was read from and its text, so that a value found wrong after parsing
/// (a chat section's checks) is reported with its line. Not part of the config's value: two
/// configs with the same keys are equal wherever they came from.
#[derive(Clone, Default)]
pub struct Source {
    path: String,
    text: String,
}

impl PartialEq for Source {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Source {}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Source({:?})", self.path)
    }
}

/// `[maintenance]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Maintenance {
    /// Idle window when an ask gives none; `LULL_IDLE_SECONDS` overrides.
    #[serde(deserialize_with = "up_to_seven_days")]
    pub idle_seconds: u64,
    /// Shortest window an agent may ask for.
    #[serde(deserialize_with = "up_to_seven_days")]
    pub min_agent_idle_seconds: u64,
    /// Then admins are asked (once per period); never forced.
    #[serde(deserialize_with = "at_least_one")]
    pub max_wait_seconds: u64,
    /// Least time between executions.
    #[serde(deserialize_with = "up_to_a_year")]
    pub cooldown_seconds: u64,
    /// Executions per hour at most.
    #[serde(deserialize_with = "positive")]
    pub max_executions_per_hour: u32,
    /// `queue` or `approve`.
    pub agent_requests: AgentRequests,
    /// An unapproved agent request is rejected after this long.
    #[serde(deserialize_with = "at_least_one")]
    pub approval_expiry_seconds: u64,
    /// A run lease without heartbeat expires after this long; also the boot grace.
    #[serde(deserialize_with = "at_least_one")]
    pub lease_ttl_seconds: u64,
    /// A sidecar's activity source must be heard from this often.
    #[serde(deserialize_with = "at_least_one")]
    pub source_ttl_seconds: u64,
    /// A run live this long is flagged wedged.
    #[serde(deserialize_with = "at_least_one")]
    pub wedged_after_seconds: u64,
    /// The most distinct activity sources lull tracks (one more is refused).
    #[serde(deserialize_with = "positive")]
    pub max_sources: usize,
    /// Finished requests kept.
    #[serde(deserialize_with = "positive")]
    pub history_limit: usize,
    /// Audit entries about no request are kept this many days (and at most 10 000 of them).
    #[serde(deserialize_with = "positive")]
    pub audit_retention_days: u64,
    /// When a request may start (`"Mon-Fri 02:00-05:00"`, …); empty = always.
    pub windows: Vec<WindowEntry>,
    /// The IANA zone the windows are read in.
    pub timezone: Zone,
}

impl Maintenance {
    /// The windows for the scheduler.
    pub(crate) fn windows(&self) -> Windows {
        Windows::new(self.windows.clone(), self.timezone.clone())
    }

    /// The rules every ask is checked against.
    pub(crate) fn ask_rules(&self) -> lull_queue::AskRules {
        lull_queue::AskRules {
            default_idle: std::time::Duration::from_secs(self.idle_seconds),
            min_agent_idle: std::time::Duration::from_secs(self.min_agent_idle_seconds),
        }
    }
}

impl Default for Maintenance {
    fn default() -> Self {
        Self {
            idle_seconds: 1200,
            min_agent_idle_seconds: 300,
            max_wait_seconds: 86_400,
            cooldown_seconds: 300,
            max_executions_per_hour: 3,
            agent_requests: AgentRequests::Queue,
            approval_expiry_seconds: 3600,
            lease_ttl_seconds: 90,
            source_ttl_seconds: 300,
            max_sources: 64,
            wedged_after_seconds: 7200,
            history_limit: 1000,
            audit_retention_days: 30,
            windows: Vec::new(),
            timezone: Zone::utc(),
        }
    }
}

/// `executor.restart`: an argv, or `"self"` (embedded hosts only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartSetting {
    /// Run this command (no shell).
    Argv(Vec<String>),
    /// Re-execute the host process.
    SelfExec,
}

/// `[executor]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ExecutorConfig {
    /// The restart command.
    #[serde(deserialize_with = "restart_setting")]
    pub restart: Option<RestartSetting>,
    /// The restart command restarts the process lull lives in.
    pub restarts_self: bool,
    /// The update command (optional).
    #[serde(deserialize_with = "optional_argv")]
    pub update: Option<Vec<String>>,
    /// Exit status meaning "already up to date".
    pub unchanged_exit_code: i32,
    /// Longest a command may run.
    #[serde(deserialize_with = "at_least_one")]
    pub timeout_seconds: u64,
    /// Between SIGTERM and SIGKILL when a command's group is ended (timeout, or lull stopping).
    #[serde(deserialize_with = "at_least_one")]
    pub kill_grace_seconds: u64,
    /// Environment variable names the commands may see.
    pub pass_env: Vec<String>,
    /// Must pass after a restart before "back online".
    #[serde(deserialize_with = "optional_argv")]
    pub health_command: Option<Vec<String>>,
    /// Failed health checks in a row that pause the queue.
    #[serde(deserialize_with = "at_least_one")]
    pub crash_loop_limit: u64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            restart: None,
            restarts_self: false,
            update: None,
            unchanged_exit_code: 3,
            timeout_seconds: 600,
            kill_grace_seconds: 10,
            pass_env: Vec::new(),
            health_command: None,
            crash_loop_limit: 3,
        }
    }
}

/// `[api]`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Optional loopback TCP listener; the Unix socket is always on.
    pub tcp_listen: Option<String>,
    /// Variable holding the admin bearer token.
    pub admin_token_env: String,
    /// Variable holding the agent bearer token.
    pub agent_token_env: String,
    /// A group whose members may use the control socket too (socket 0660, profile directory
    /// 0750); without it the owner only (0600, 0700).
    pub socket_group: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            tcp_listen: None,
            admin_token_env: "LULL_ADMIN_TOKEN".into(),
            agent_token_env: "LULL_AGENT_TOKEN".into(),
            socket_group: None,
        }
    }
}

/// `[telegram]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    pub token_env: Option<String>,
    pub api_url: Option<String>,
    pub mode: Option<String>,
    pub webhook_listen: Option<String>,
    pub webhook_url: Option<String>,
    pub webhook_secret_env: Option<String>,
    #[serde(deserialize_with = "ids")]
    pub admins: Vec<String>,
    #[serde(deserialize_with = "ids")]
    pub agents: Vec<String>,
    #[serde(deserialize_with = "optional_id")]
    pub notify_chat_id: Option<String>,
}

/// `[discord]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    pub token_env: Option<String>,
    #[serde(deserialize_with = "optional_id")]
    pub application_id: Option<String>,
    pub mode: Option<String>,
    pub interactions_listen: Option<String>,
    pub public_key: Option<String>,
    pub api_url: Option<String>,
    #[serde(deserialize_with = "optional_id")]
    pub guild_id: Option<String>,
    #[serde(deserialize_with = "ids")]
    pub admins: Vec<String>,
    #[serde(deserialize_with = "ids")]
    pub admin_roles: Vec<String>,
    #[serde(deserialize_with = "ids")]
    pub agents: Vec<String>,
    #[serde(deserialize_with = "optional_id")]
    pub notify_channel_id: Option<String>,
}

/// `[slack]`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    pub mode: Option<String>,
    pub app_token_env: Option<String>,
    pub bot_token_env: Option<String>,
    pub signing_secret_env: Option<String>,
    pub listen: Option<String>,
    pub api_url: Option<String>,
    #[serde(deserialize_with = "ids")]
    pub admins: Vec<String>,
    #[serde(deserialize_with = "ids")]
    pub agents: Vec<String>,
    pub notify_channel: Option<String>,
}

/// `[relay]`: a host gateway that carries `/maintenance` and lull's notices through its own bot.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    pub name: Option<String>,
    #[serde(deserialize_with = "ids")]
    pub admins: Vec<String>,
    #[serde(deserialize_with = "ids")]
    pub agents: Vec<String>,
    #[serde(deserialize_with = "ids")]
    pub notify_chats: Vec<String>,
    pub token_env: Option<String>,
    pub claim_seconds: Option<u64>,
    pub notice_expiry_seconds: Option<u64>,
}

/// `[fleet]`, as written; `fleet::FleetSettings` checks it.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    pub backend: Option<String>,
    pub endpoints: Option<Vec<String>>,
    pub url: Option<String>,
    pub group: Option<String>,
    pub slots: Option<u64>,
    pub id: Option<String>,
    pub lock_ttl_seconds: Option<u64>,
}

/// A config file that cannot be used, with the path and (from the parser) the line and key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid for lull.
    #[error("invalid config {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The parser's message: line, column, key and what is accepted.
        message: String,
    },
    /// A chat section's value cannot be used (found once the section is checked).
    #[error("invalid config {path}: {error}")]
    Setting {
        /// The file.
        path: String,
        /// The section, key, line and what is accepted.
        error: crate::chat::settings::SettingError,
    },
    /// An environment override is not valid.
    #[error("invalid {name}={value:?}: {message}")]
    Env {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        message: String,
    },
}

impl Config {
    /// Parses `text` (read from `path`).
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut config: Self = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.display().to_string(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.source = Source {
            path: path.display().to_string(),
            text: text.to_owned(),
        };
        Ok(config)
    }

    /// Each chat section and whether the file has it.
    pub(crate) fn chat_sections(&self) -> [(&'static str, bool); 4] {
        [
            ("telegram", self.telegram.is_some()),
            ("discord", self.discord.is_some()),
            ("slack", self.slack.is_some()),
            ("relay", self.relay.is_some()),
        ]
    }

    /// `error`, found in a section after parsing, as an error about this config's file and line.
    pub(crate) fn invalid(&self, error: crate::chat::settings::SettingError) -> ConfigError {
        ConfigError::Setting {
            path: self.source.path.clone(),
            error: error.located_in(&self.source.text),
        }
    }

    /// Reads the file, or the defaults if it does not exist. Applies `LULL_IDLE_SECONDS`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut config = match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::default(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        if let Ok(value) = std::env::var("LULL_IDLE_SECONDS") {
            config.maintenance.idle_seconds = value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= lull_queue::MAX_IDLE.as_secs())
                .ok_or(ConfigError::Env {
                    name: "LULL_IDLE_SECONDS",
                    value,
                    message: "expected whole seconds from 0 to 604800 (7 days)".into(),
                })?;
        }
        Ok(config)
    }

    /// The values of the control API's tokens, to keep them out of output tails (the chat
    /// adapters' secrets come from each adapter: `ChatAdapters::secrets`).
    pub(crate) fn secrets(&self) -> Vec<String> {
        [&self.api.admin_token_env, &self.api.agent_token_env]
            .into_iter()
            .filter_map(|n| std::env::var(n).ok())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

/// The file `lull init` writes: every key, commented.
pub(crate) const TEMPLATE: &str = include_str!("config_template.toml");

mod fields;
#[cfg(test)]
mod tests;
