//! `[telegram]` checked with the chat kit's [`Section`] helpers: the token read from its
//! environment variable, the Bot API address, the update source (polling, or a webhook with its
//! secret), and the ids, all validated before anything connects. What is Telegram's here is
//! the rules: a token's shape, numeric ids, and the placeholder senders no one may be.

use std::net::SocketAddr;

use url::Url;

use crate::chat::settings::{Secret, Section, SettingError};

/// The Bot API lull talks to when `api_url` is not set.
pub(crate) const DEFAULT_API_URL: &str = "https://api.telegram.org";
/// The route the webhook listens on.
pub const WEBHOOK_PATH: &str = "/telegram/webhook";

/// Telegram's placeholder senders: an anonymous group admin (`GroupAnonymousBot`), a post sent
/// as a channel (`Channel_Bot`), and Telegram's service account. Each stands for many people,
/// so none can be an admin or an agent.
pub(crate) const PLACEHOLDER_USER_IDS: [i64; 3] = [1_087_968_824, 136_817_688, 777_000];

const SECTION: Section = Section::new("telegram");

/// How updates reach lull.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        secret: Secret,
    },
}

/// A usable `[telegram]` section. `Debug` hides the token and the webhook secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelegramSettings {
    /// The bot token.
    pub(crate) token: Secret,
    /// The Bot API server.
    pub(crate) api_url: Url,
    /// Polling or webhook.
    pub(crate) source: UpdateSource,
    /// Telegram user ids of admins.
    pub(crate) admins: Vec<String>,
    /// Telegram user ids of agents.
    pub(crate) agents: Vec<String>,
    /// The chat that hears about every request.
    pub(crate) notify_chat_id: Option<i64>,
}

impl TelegramSettings {
    /// Checks `[telegram]`, reading secrets through `env` (the process environment in `serve`).
    pub fn from_config(
        config: &crate::config::TelegramConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingError> {
        let (token, token_env) = SECTION.secret(
            "token_env",
            config.token_env.as_deref(),
            "TELEGRAM_BOT_TOKEN",
            &env,
            ("bot token", "set it to the token BotFather gave you"),
        )?;
        if !looks_like_token(token.expose()) {
            return Err(SECTION.error(
                "token_env",
                format!("the token in {token_env} does not look like a bot token (digits, a colon, then letters, digits, '_' or '-'); copy it again from BotFather"),
            ));
        }
        let api_url = SECTION.http_url(
            "api_url",
            config.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
            DEFAULT_API_URL,
        )?;
        let source =
            match SECTION.choice("mode", config.mode.as_deref(), &["polling", "webhook"])? {
                "webhook" => webhook(config, &env)?,
                _ => UpdateSource::Polling,
            };
        let user_ids = |key| {
            SECTION.ids(
                key,
                match key {
                    "admins" => &config.admins,
                    _ => &config.agents,
                },
                user_id,
            )
        };
        let notify_chat_id =
            SECTION.id("notify_chat_id", config.notify_chat_id.as_deref(), |v| {
                v.parse::<i64>().map_err(|_| not_an_id(v))
            })?;
        Ok(Self {
            token,
            api_url,
            source,
            admins: user_ids("admins")?,
            agents: user_ids("agents")?,
            notify_chat_id,
        })
    }

    /// The secrets to keep out of output tails.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.token.expose().to_owned()];
        if let UpdateSource::Webhook { secret, .. } = &self.source {
            secrets.push(secret.expose().to_owned());
        }
        secrets
    }
}

/// A person's Telegram user id: a positive number, and not one of the placeholders.
fn user_id(value: &str) -> Result<String, String> {
    match value.parse::<i64>() {
        Ok(n) if PLACEHOLDER_USER_IDS.contains(&n) => Err(format!(
            "{n} is Telegram's placeholder for anonymous group admins, channels or Telegram itself, shared by many people; list the person's own user id"
        )),
        Ok(n) if n > 0 => Ok(n.to_string()),
        _ => Err(not_an_id(value)),
    }
}

fn not_an_id(value: &str) -> String {
    format!(
        "{value:?} is not a Telegram id; ids are whole numbers (user ids are positive, group ids negative), see docs/telegram.md to find them"
    )
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
) -> Result<UpdateSource, SettingError> {
    let listen = SECTION.listen(
        "webhook_listen",
        config.webhook_listen.as_deref(),
        "with mode = \"webhook\"",
    )?;
    let url_text = config.webhook_url.as_deref().ok_or_else(|| {
        SECTION.error(
            "webhook_url",
            format!(
                "is required with mode = \"webhook\": the public HTTPS address Telegram posts to, ending in {WEBHOOK_PATH}"
            ),
        )
    })?;
    let url = SECTION.http_url(
        "webhook_url",
        url_text,
        &format!("https://example.org{WEBHOOK_PATH}"),
    )?;
    let read = SECTION.secret(
        "webhook_secret_env",
        config.webhook_secret_env.as_deref(),
        "TELEGRAM_WEBHOOK_SECRET",
        env,
        (
            "secret",
            "a webhook needs one (16-256 characters of A-Z, a-z, 0-9, '_' and '-'), e.g. from `openssl rand -hex 32`",
        ),
    )?;
    let (secret, secret_env) = SECTION.long_enough("webhook_secret_env", read)?;
    let text = secret.expose();
    if text.len() > 256
        || !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(SECTION.error(
            "webhook_secret_env",
            format!(
                "the secret in {secret_env} must be 16-256 characters of A-Z, a-z, 0-9, '_' and '-' (Telegram's rule, and lull's minimum)"
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
            "TELEGRAM_WEBHOOK_SECRET" => Some("s3cret_-x0123456789".into()),
            "BAD_SECRET" => Some("has space, long enough".into()),
            "SHORT_SECRET" => Some("short_secret".into()),
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
            matches!(s.source, UpdateSource::Webhook { ref secret, .. } if secret.expose() == "s3cret_-x0123456789")
        );
        assert_eq!(s.secrets().len(), 2);
        assert!(
            !format!("{:?}", s.source).contains("s3cret"),
            "the secret is not printed"
        );
        c.webhook_secret_env = Some("BAD_SECRET".into());
        let e = TelegramSettings::from_config(&c, env).unwrap_err();
        assert!(e.to_string().contains("must be 16-256 characters"), "{e}");
        c.webhook_secret_env = Some("SHORT_SECRET".into());
        let e = TelegramSettings::from_config(&c, env).unwrap_err();
        assert!(
            e.to_string()
                .contains("SHORT_SECRET holds a secret of 12 characters"),
            "{e}"
        );
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
                "[telegram] admins: \"@alice\" is not a Telegram id",
            ),
            (
                TelegramConfig {
                    agents: vec!["-5".into()],
                    ..config()
                },
                "[telegram] agents: \"-5\"",
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
        let e = TelegramSettings::from_config(&c, malformed).unwrap_err();
        assert_eq!((e.section, e.key), ("telegram", "token_env"));
        assert!(
            e.message
                .starts_with("the token in T does not look like a bot token"),
            "{e}"
        );
    }
}
