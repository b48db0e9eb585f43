//! `[telegram]` checked: the token read from its environment variable, the Bot API address, the
//! update source (polling, or a webhook with its secret), and the ids, all validated before
//! anything connects.

use std::net::SocketAddr;

use url::Url;

/// The Bot API lull talks to when `api_url` is not set.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";
/// The route the webhook listens on.
pub const WEBHOOK_PATH: &str = "/telegram/webhook";

/// Telegram's placeholder senders: an anonymous group admin (`GroupAnonymousBot`), a post sent
/// as a channel (`Channel_Bot`), and Telegram's service account. Each stands for many people,
/// so none can be an admin or an agent.
pub const PLACEHOLDER_USER_IDS: [i64; 3] = [1_087_968_824, 136_817_688, 777_000];

/// How updates reach lull.
#[derive(Clone, PartialEq, Eq)]
pub enum UpdateSource {
    /// `getUpdates` long polling (the default; needs no public address).
    Polling,
    /// Telegram posts updates to `url`; lull listens on `listen`, route [`WEBHOOK_PATH`].
    Webhook {
        /// Where lull listens.
        listen: SocketAddr,
        /// The public HTTPS address Telegram posts to (registered with `setWebhook`).
        url: Url,
        /// The `X-Telegram-Bot-Api-Secret-Token` every post must carry.
        secret: String,
    },
}

impl std::fmt::Debug for UpdateSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Polling => f.write_str("Polling"),
            Self::Webhook { listen, url, .. } => f
                .debug_struct("Webhook")
                .field("listen", listen)
                .field("url", &url.as_str())
                .field("secret", &"<redacted>")
                .finish(),
        }
    }
}

/// A usable `[telegram]` section.
#[derive(Clone, PartialEq, Eq)]
pub struct TelegramSettings {
    /// The bot token (never logged: `Debug` hides it).
    pub token: String,
    /// The Bot API server.
    pub api_url: Url,
    /// Polling or webhook.
    pub source: UpdateSource,
    /// Telegram user ids of admins.
    pub admins: Vec<String>,
    /// Telegram user ids of agents.
    pub agents: Vec<String>,
    /// The chat that hears about every request.
    pub notify_chat_id: Option<i64>,
}

impl std::fmt::Debug for TelegramSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramSettings")
            .field("token", &"<redacted>")
            .field("api_url", &self.api_url.as_str())
            .field("source", &self.source_name())
            .field("admins", &self.admins)
            .field("agents", &self.agents)
            .field("notify_chat_id", &self.notify_chat_id)
            .finish()
    }
}

/// Why `[telegram]` cannot be used; each says what is accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// The token's variable is unset or empty.
    #[error(
        "telegram: the environment variable {0} holds no bot token; set it to the token BotFather gave you (or name another variable with telegram.token_env)"
    )]
    MissingToken(String),
    /// The token does not look like `123456:ABC…`.
    #[error(
        "telegram: the token in {0} does not look like a bot token (digits, a colon, then letters, digits, '_' or '-'); copy it again from BotFather"
    )]
    MalformedToken(String),
    /// Not an http(s) URL.
    #[error("telegram.api_url = {0:?} is not an http(s) URL like \"https://api.telegram.org\"")]
    ApiUrl(String),
    /// Neither `polling` nor `webhook`.
    #[error("telegram.mode = {0:?} is not accepted; use \"polling\" (the default) or \"webhook\"")]
    Mode(String),
    /// A webhook key is missing or wrong.
    #[error("telegram.{key}: {message}")]
    Webhook {
        /// The key.
        key: &'static str,
        /// What is wrong and what is accepted.
        message: String,
    },
    /// One of Telegram's placeholder senders.
    #[error(
        "telegram.{key}: {value} is Telegram's placeholder for anonymous group admins, channels or Telegram itself, shared by many people; list the person's own user id"
    )]
    Placeholder {
        /// The key.
        key: &'static str,
        /// The value.
        value: i64,
    },
    /// An id that is not a Telegram numeric id.
    #[error(
        "telegram.{key}: {value:?} is not a Telegram id; ids are whole numbers (user ids are positive, group ids negative), see docs/telegram.md to find them"
    )]
    Id {
        /// The key.
        key: &'static str,
        /// The value.
        value: String,
    },
}

impl TelegramSettings {
    /// Checks `[telegram]`, reading secrets through `env` (the process environment in `serve`).
    pub fn from_config(
        config: &crate::config::TelegramConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingsError> {
        let token_env = config.token_env.as_deref().unwrap_or("TELEGRAM_BOT_TOKEN");
        let token = env(token_env)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| SettingsError::MissingToken(token_env.to_owned()))?;
        if !looks_like_token(&token) {
            return Err(SettingsError::MalformedToken(token_env.to_owned()));
        }
        let api_url_text = config.api_url.as_deref().unwrap_or(DEFAULT_API_URL);
        let api_url = Url::parse(api_url_text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| SettingsError::ApiUrl(api_url_text.to_owned()))?;
        let source = match config.mode.as_deref().unwrap_or("polling") {
            "polling" => UpdateSource::Polling,
            "webhook" => webhook(config, &env)?,
            other => return Err(SettingsError::Mode(other.to_owned())),
        };
        let ids = |key: &'static str, values: &[String], positive: bool| {
            values
                .iter()
                .map(|value| match value.parse::<i64>() {
                    Ok(n) if PLACEHOLDER_USER_IDS.contains(&n) => {
                        Err(SettingsError::Placeholder { key, value: n })
                    }
                    Ok(n) if !positive || n > 0 => Ok(n.to_string()),
                    _ => Err(SettingsError::Id {
                        key,
                        value: value.clone(),
                    }),
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let notify_chat_id = match &config.notify_chat_id {
            None => None,
            Some(value) => Some(value.parse::<i64>().map_err(|_| SettingsError::Id {
                key: "notify_chat_id",
                value: value.clone(),
            })?),
        };
        Ok(Self {
            token,
            api_url,
            source,
            admins: ids("admins", &config.admins, true)?,
            agents: ids("agents", &config.agents, true)?,
            notify_chat_id,
        })
    }

    /// `polling` or `webhook`, for logs.
    pub fn source_name(&self) -> &'static str {
        match self.source {
            UpdateSource::Polling => "polling",
            UpdateSource::Webhook { .. } => "webhook",
        }
    }

    /// The secrets to keep out of output tails.
    pub fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.token.clone()];
        if let UpdateSource::Webhook { secret, .. } = &self.source {
            secrets.push(secret.clone());
        }
        secrets
    }
}

fn looks_like_token(token: &str) -> bool {
    token.split_once(':').is_some_and(|(id, rest)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

fn webhook(
    config: &crate::config::TelegramConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<UpdateSource, SettingsError> {
    let err = |key, message: String| SettingsError::Webhook { key, message };
    let listen_text = config.webhook_listen.as_deref().ok_or_else(|| {
        err(
            "webhook_listen",
            "is required with mode = \"webhook\": the address lull listens on, e.g. \"127.0.0.1:8443\" behind your TLS proxy".into(),
        )
    })?;
    let listen = listen_text.parse::<SocketAddr>().map_err(|_| {
        err(
            "webhook_listen",
            format!("{listen_text:?} is not an address like \"127.0.0.1:8443\""),
        )
    })?;
    let url_text = config.webhook_url.as_deref().ok_or_else(|| {
        err(
            "webhook_url",
            format!(
                "is required with mode = \"webhook\": the public HTTPS address Telegram posts to, ending in {WEBHOOK_PATH}"
            ),
        )
    })?;
    let url = Url::parse(url_text)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| {
            err(
                "webhook_url",
                format!("{url_text:?} is not a URL like \"https://example.org{WEBHOOK_PATH}\""),
            )
        })?;
    let secret_env = config
        .webhook_secret_env
        .as_deref()
        .unwrap_or("TELEGRAM_WEBHOOK_SECRET");
    let secret = env(secret_env).filter(|s| !s.is_empty()).ok_or_else(|| {
        err(
            "webhook_secret_env",
            format!(
                "the environment variable {secret_env} holds no secret; a webhook needs one (1-256 characters of A-Z, a-z, 0-9, '_' and '-'), e.g. from `openssl rand -hex 32`"
            ),
        )
    })?;
    if secret.len() > 256
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(err(
            "webhook_secret_env",
            format!(
                "the secret in {secret_env} must be 1-256 characters of A-Z, a-z, 0-9, '_' and '-' (Telegram's rule)"
            ),
        ));
    }
    Ok(UpdateSource::Webhook {
        listen,
        url,
        secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TelegramConfig;

    const TOKEN: &str = "123456:ABC-def_ghi";

    fn env(name: &str) -> Option<String> {
        match name {
            "TELEGRAM_BOT_TOKEN" => Some(TOKEN.into()),
            "TELEGRAM_WEBHOOK_SECRET" => Some("s3cret_-x".into()),
            "BAD_SECRET" => Some("has space".into()),
            _ => None,
        }
    }

    fn config() -> TelegramConfig {
        TelegramConfig {
            admins: vec!["42".into()],
            notify_chat_id: Some("-100123".into()),
            ..TelegramConfig::default()
        }
    }

    #[test]
    fn defaults_are_polling_against_the_real_bot_api() {
        let s = TelegramSettings::from_config(&config(), env).unwrap();
        assert_eq!(s.source, UpdateSource::Polling);
        assert_eq!(s.api_url.as_str(), "https://api.telegram.org/");
        assert_eq!(s.notify_chat_id, Some(-100123));
        assert!(
            !format!("{s:?}").contains("ABC-def"),
            "the token is not printed"
        );
    }

    #[test]
    fn a_webhook_needs_its_address_url_and_a_valid_secret() {
        let mut c = TelegramConfig {
            mode: Some("webhook".into()),
            ..config()
        };
        let e = TelegramSettings::from_config(&c, env).unwrap_err();
        assert!(e.to_string().contains("webhook_listen: is required"), "{e}");
        c.webhook_listen = Some("127.0.0.1:8443".into());
        c.webhook_url = Some("https://example.org/telegram/webhook".into());
        let s = TelegramSettings::from_config(&c, env).unwrap();
        assert!(
            matches!(s.source, UpdateSource::Webhook { ref secret, .. } if secret == "s3cret_-x")
        );
        assert_eq!(s.secrets().len(), 2);
        assert!(
            !format!("{:?}", s.source).contains("s3cret"),
            "the secret is not printed"
        );
        c.webhook_secret_env = Some("BAD_SECRET".into());
        let e = TelegramSettings::from_config(&c, env).unwrap_err();
        assert!(e.to_string().contains("must be 1-256 characters"), "{e}");
        c.webhook_secret_env = Some("UNSET".into());
        let e = TelegramSettings::from_config(&c, env).unwrap_err();
        assert!(e.to_string().contains("UNSET holds no secret"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key_and_what_is_accepted() {
        let cases: Vec<(TelegramConfig, &str)> = vec![
            (
                TelegramConfig {
                    token_env: Some("NOPE".into()),
                    ..config()
                },
                "NOPE holds no bot token",
            ),
            (
                TelegramConfig {
                    mode: Some("push".into()),
                    ..config()
                },
                "\"polling\" (the default) or \"webhook\"",
            ),
            (
                TelegramConfig {
                    api_url: Some("ftp://x".into()),
                    ..config()
                },
                "not an http(s) URL",
            ),
            (
                TelegramConfig {
                    admins: vec!["@alice".into()],
                    ..config()
                },
                "telegram.admins: \"@alice\" is not a Telegram id",
            ),
            (
                TelegramConfig {
                    agents: vec!["-5".into()],
                    ..config()
                },
                "telegram.agents: \"-5\"",
            ),
            (
                TelegramConfig {
                    admins: vec!["1087968824".into()],
                    ..config()
                },
                "placeholder for anonymous group admins",
            ),
        ];
        for (c, expected) in cases {
            let e = TelegramSettings::from_config(&c, env)
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected), "{e:?} lacks {expected:?}");
        }
        let malformed = |name: &str| (name == "T").then(|| "not a token".to_owned());
        let c = TelegramConfig {
            token_env: Some("T".into()),
            ..config()
        };
        assert_eq!(
            TelegramSettings::from_config(&c, malformed),
            Err(SettingsError::MalformedToken("T".into()))
        );
    }
}
