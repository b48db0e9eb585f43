//! `[slack]` checked with the chat kit's [`Section`] helpers: the bot token (and, in Socket
//! Mode, the app-level token; over HTTP, the signing secret) read from their environment
//! variables, the Web API base, and the ids, all validated before anything connects. What is
//! Slack's here is the rules: `xoxb-` and `xapp-` tokens, and ids such as `U0123` and `C0123`.

use std::net::SocketAddr;

use url::Url;

use crate::chat::settings::{Secret, Section, SettingError};

/// The Web API lull talks to when `api_url` is not set.
pub(crate) const DEFAULT_API_URL: &str = "https://slack.com/api";
/// The HTTP mode's routes.
pub(crate) const COMMANDS_PATH: &str = "/slack/commands";
/// Block actions (button clicks).
pub(crate) const INTERACTIONS_PATH: &str = "/slack/interactions";
/// The Events API (agents' messages, the URL check).
pub(crate) const EVENTS_PATH: &str = "/slack/events";

const SECTION: Section = Section::new("slack");

/// How Slack reaches lull.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    /// Socket Mode (the default): lull opens a websocket with the app-level token; no public
    /// address needed.
    Socket {
        /// The `xapp-` token.
        app_token: Secret,
    },
    /// Slack posts to lull's request URLs on `listen`, signed with the signing secret.
    Http {
        /// Where lull listens.
        listen: SocketAddr,
        /// The app's signing secret.
        signing_secret: Secret,
    },
}

/// A usable `[slack]` section. `Debug` hides the tokens and the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlackSettings {
    /// The `xoxb-` bot token.
    pub(crate) bot_token: Secret,
    /// Socket Mode or HTTP.
    pub connection: Connection,
    /// The Web API base (`…/api`).
    pub api_url: Url,
    /// User ids of admins.
    pub(crate) admins: Vec<String>,
    /// User ids of agents (their bot users).
    pub(crate) agents: Vec<String>,
    /// The channel that hears about every request.
    pub(crate) notify_channel: Option<String>,
}

impl SlackSettings {
    /// Checks `[slack]`, reading secrets through `env` (the process environment in `serve`).
    pub fn from_config(
        config: &crate::config::SlackConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingError> {
        let bot_token = token(
            "bot_token_env",
            config.bot_token_env.as_deref(),
            "SLACK_BOT_TOKEN",
            &env,
            "xoxb-",
            "the Bot User OAuth Token from OAuth & Permissions",
        )?;
        let connection = match SECTION.choice(
            "mode",
            config.mode.as_deref(),
            &["socket", "http"],
        )? {
            "http" => {
                let listen =
                    SECTION.listen("listen", config.listen.as_deref(), "with mode = \"http\"")?;
                let (signing_secret, _) = SECTION.secret(
                    "signing_secret_env",
                    config.signing_secret_env.as_deref(),
                    "SLACK_SIGNING_SECRET",
                    &env,
                    (
                        "signing secret",
                        "HTTP mode needs the app's Signing Secret from Basic Information",
                    ),
                )?;
                Connection::Http {
                    listen,
                    signing_secret,
                }
            }
            _ => Connection::Socket {
                app_token: token(
                    "app_token_env",
                    config.app_token_env.as_deref(),
                    "SLACK_APP_TOKEN",
                    &env,
                    "xapp-",
                    "Socket Mode needs an app-level token with connections:write (Basic Information → App-Level Tokens)",
                )?,
            },
        };
        let api_url = SECTION.http_url(
            "api_url",
            config.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
            DEFAULT_API_URL,
        )?;
        Ok(Self {
            bot_token,
            connection,
            api_url,
            admins: SECTION.ids("admins", &config.admins, |v| {
                slack_id(v, &['U', 'W'], "user")
            })?,
            agents: SECTION.ids("agents", &config.agents, |v| {
                slack_id(v, &['U', 'W', 'B'], "user")
            })?,
            notify_channel: SECTION.id(
                "notify_channel",
                config.notify_channel.as_deref(),
                |v| slack_id(v, &['C', 'G', 'D'], "channel"),
            )?,
        })
    }

    /// The secrets to keep out of output tails.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.bot_token.expose().to_owned()];
        match &self.connection {
            Connection::Socket { app_token } => secrets.push(app_token.expose().to_owned()),
            Connection::Http { signing_secret, .. } => {
                secrets.push(signing_secret.expose().to_owned());
            }
        }
        secrets
    }
}

/// A token from the environment that must start with `prefix`.
fn token(
    key: &'static str,
    configured: Option<&str>,
    default_var: &str,
    env: &impl Fn(&str) -> Option<String>,
    prefix: &str,
    how: &str,
) -> Result<Secret, SettingError> {
    let (secret, var) = SECTION.secret(key, configured, default_var, env, ("token", how))?;
    if !secret.expose().starts_with(prefix) {
        return Err(SECTION.error(
            key,
            format!("the token in {var} does not start with {prefix}; {how}"),
        ));
    }
    Ok(secret)
}

/// A Slack id: an upper-case letter from `first`, then upper-case letters and digits.
fn slack_id(value: &str, first: &[char], what: &str) -> Result<String, String> {
    let mut chars = value.chars();
    let starts = chars.next().is_some_and(|c| first.contains(&c));
    if starts && value.len() >= 3 && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        let firsts: Vec<String> = first.iter().map(char::to_string).collect();
        Err(format!(
            "{value:?} is not a Slack {what} id; they look like {}0123ABC (in Slack: a profile or channel's ⋮ menu → Copy member/channel ID; docs/slack.md)",
            firsts.join(" or ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SlackConfig;

    fn env(name: &str) -> Option<String> {
        match name {
            "SLACK_BOT_TOKEN" => Some("xoxb-1-2-abc".into()),
            "SLACK_APP_TOKEN" => Some("xapp-1-A1-2-def".into()),
            "SLACK_SIGNING_SECRET" => Some("8f742231b10e8888abcd99yyyzzz85a5".into()),
            _ => None,
        }
    }

    fn error(config: &SlackConfig) -> String {
        SlackSettings::from_config(config, env)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn socket_mode_is_the_default_and_needs_an_app_token() {
        let settings = SlackSettings::from_config(&SlackConfig::default(), env).unwrap();
        assert!(matches!(settings.connection, Connection::Socket { .. }));
        assert!(!format!("{settings:?}").contains("xoxb"));
        let missing = SlackSettings::from_config(&SlackConfig::default(), |n| {
            (n == "SLACK_BOT_TOKEN").then(|| "xoxb-1".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert!(
            missing.contains("SLACK_APP_TOKEN holds no token"),
            "{missing}"
        );
        let config = SlackConfig {
            bot_token_env: Some("SLACK_APP_TOKEN".into()),
            ..SlackConfig::default()
        };
        assert!(
            error(&config).contains("does not start with xoxb-"),
            "{}",
            error(&config)
        );
    }

    #[test]
    fn http_mode_needs_an_address_and_a_signing_secret() {
        let mut config = SlackConfig {
            mode: Some("http".into()),
            ..SlackConfig::default()
        };
        assert!(error(&config).contains("listen"), "{}", error(&config));
        config.listen = Some("127.0.0.1:0".into());
        let settings = SlackSettings::from_config(&config, env).unwrap();
        assert!(matches!(settings.connection, Connection::Http { .. }));
        assert_eq!(settings.secrets().len(), 2);
    }

    #[test]
    fn ids_have_slacks_shape() {
        let config = SlackConfig {
            admins: vec!["alice".into()],
            ..SlackConfig::default()
        };
        assert!(
            error(&config).contains("\"alice\" is not a Slack user id"),
            "{}",
            error(&config)
        );
        let config = SlackConfig {
            notify_channel: Some("U0123".into()),
            ..SlackConfig::default()
        };
        assert!(error(&config).contains("not a Slack channel id"));
        let config = SlackConfig {
            admins: vec!["U0123ABC".into()],
            notify_channel: Some("C0123".into()),
            ..SlackConfig::default()
        };
        assert!(SlackSettings::from_config(&config, env).is_ok());
    }
}
