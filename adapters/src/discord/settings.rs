//! `[discord]` checked with the chat kit's [`Section`] helpers: the bot token read from its
//! environment variable, the REST base, the delivery mode (a gateway connection, or an HTTP
//! interactions endpoint with the application's public key), and the ids, all validated before
//! anything connects. What is Discord's here is the rules: snowflake ids and a 32-byte Ed25519
//! key written as 64 hex digits.

use std::net::SocketAddr;

use serenity::interactions_endpoint::Verifier;
use url::Url;

use crate::chat::settings::{Secret, Section, SettingError};

/// Discord's own REST base; any other `api_url` is a proxy or a fake.
pub(crate) const DEFAULT_API_URL: &str = "https://discord.com";
/// The route the interactions endpoint listens on.
pub const INTERACTIONS_PATH: &str = "/discord/interactions";

const SECTION: Section = Section::new("discord");

/// How interactions reach lull.
#[derive(Clone)]
pub enum Delivery {
    /// A gateway connection (the default; needs no public address). Agents' bots may also post
    /// the text form as messages.
    Gateway,
    /// Discord posts interactions to the application's Interactions Endpoint URL, which a proxy
    /// forwards to `listen`, route [`INTERACTIONS_PATH`].
    Interactions {
        /// Where lull listens.
        listen: SocketAddr,
        /// Checks each post's Ed25519 signature with the application's public key (boxed: it is
        /// large beside the gateway variant).
        verifier: Box<Verifier>,
    },
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gateway => f.write_str("Gateway"),
            Self::Interactions { listen, .. } => write!(f, "Interactions {{ listen: {listen} }}"),
        }
    }
}

/// A usable `[discord]` section. `Debug` hides the token.
#[derive(Clone, Debug)]
pub struct DiscordSettings {
    /// The bot token.
    pub(crate) token: Secret,
    /// The application, if configured; otherwise learned from the token at start-up.
    pub(crate) application_id: Option<u64>,
    /// Gateway or interactions endpoint.
    pub(crate) delivery: Delivery,
    /// The REST base (and where the gateway's address is asked).
    pub(crate) api_url: Url,
    /// Register the command in this guild only (instant, for testing) instead of globally.
    pub(crate) guild_id: Option<u64>,
    /// User ids of admins.
    pub(crate) admins: Vec<String>,
    /// Role ids whose members are admins.
    pub(crate) admin_roles: Vec<String>,
    /// Bot user ids of agents.
    pub(crate) agents: Vec<String>,
    /// The channel that hears about every request.
    pub(crate) notify_channel_id: Option<u64>,
}

impl DiscordSettings {
    /// Checks `[discord]`, reading the token through `env` (the process environment in `serve`).
    pub fn from_config(
        config: &crate::config::DiscordConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingError> {
        let (token, token_env) = SECTION.secret(
            "token_env",
            config.token_env.as_deref(),
            "DISCORD_BOT_TOKEN",
            &env,
            (
                "bot token",
                "set it to the token from the Bot page of your application in the Discord developer portal",
            ),
        )?;
        let token_text = token.expose().trim_start_matches("Bot ");
        if token_text.is_empty()
            || !token_text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err(SECTION.error(
                "token_env",
                format!("the token in {token_env} does not look like a Discord bot token (letters, digits, '.', '_' and '-'); copy it again from the Bot page of the developer portal"),
            ));
        }
        let api_url = SECTION.http_url(
            "api_url",
            config.api_url.as_deref().unwrap_or(DEFAULT_API_URL),
            DEFAULT_API_URL,
        )?;
        let delivery =
            match SECTION.choice("mode", config.mode.as_deref(), &["gateway", "interactions"])? {
                "interactions" => interactions(config)?,
                _ => Delivery::Gateway,
            };
        let snowflakes = |key, values: &[String]| SECTION.ids(key, values, snowflake);
        Ok(Self {
            token,
            application_id: SECTION.id(
                "application_id",
                config.application_id.as_deref(),
                |v| snowflake(v)?.parse::<u64>().map_err(|e| e.to_string()),
            )?,
            delivery,
            api_url,
            guild_id: SECTION.id("guild_id", config.guild_id.as_deref(), |v| {
                snowflake(v)?.parse::<u64>().map_err(|e| e.to_string())
            })?,
            admins: snowflakes("admins", &config.admins)?,
            admin_roles: snowflakes("admin_roles", &config.admin_roles)?,
            agents: snowflakes("agents", &config.agents)?,
            notify_channel_id: SECTION.id(
                "notify_channel_id",
                config.notify_channel_id.as_deref(),
                |v| snowflake(v)?.parse::<u64>().map_err(|e| e.to_string()),
            )?,
        })
    }

    /// The secrets to keep out of output tails.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let token = self.token.expose();
        // With and without the `Bot ` prefix a token may be written with.
        let bare = token.trim_start_matches("Bot ");
        let mut secrets = vec![bare.to_owned()];
        if bare != token {
            secrets.push(token.to_owned());
        }
        secrets
    }

    /// Whether REST goes to Discord itself. Otherwise serenity sends it to `api_url` as a proxy,
    /// which it does only with its own rate limiter off: lull then honours 429s itself.
    pub(crate) fn is_discord(&self) -> bool {
        self.api_url.as_str().trim_end_matches('/') == DEFAULT_API_URL
    }
}

/// A Discord id: a snowflake, a positive whole number.
fn snowflake(value: &str) -> Result<String, String> {
    match value.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n.to_string()),
        _ => Err(format!(
            "{value:?} is not a Discord id; ids are whole numbers such as 123456789012345678 (turn on Developer Mode, then right-click a user, role or channel and Copy ID; docs/discord.md)"
        )),
    }
}

fn interactions(config: &crate::config::DiscordConfig) -> Result<Delivery, SettingError> {
    let listen = SECTION.listen(
        "interactions_listen",
        config.interactions_listen.as_deref(),
        "with mode = \"interactions\"",
    )?;
    let key = config.public_key.as_deref().ok_or_else(|| {
        SECTION.error(
            "public_key",
            "is required with mode = \"interactions\": the application's Public Key from the General Information page of the developer portal (64 hex digits)",
        )
    })?;
    let verifier = public_key(key).ok_or_else(|| {
        SECTION.error(
            "public_key",
            format!("{key:?} is not an Ed25519 public key; copy the Public Key (64 hex digits) from the General Information page of the developer portal"),
        )
    })?;
    Ok(Delivery::Interactions {
        listen,
        verifier: Box::new(verifier),
    })
}

/// The verifier for a key written as 64 hex digits, if it is a valid Ed25519 point.
fn public_key(hex: &str) -> Option<Verifier> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Verifier::try_new(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DiscordConfig;

    /// The public key of the Ed25519 test vector of RFC 8032 (test 1).
    const KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn env(name: &str) -> Option<String> {
        (name == "DISCORD_BOT_TOKEN").then(|| "MTIz.abc-def_ghi".to_owned())
    }

    fn error(config: &DiscordConfig) -> String {
        DiscordSettings::from_config(config, env)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_gateway_section_needs_only_a_token() {
        let settings = DiscordSettings::from_config(&DiscordConfig::default(), env).unwrap();
        assert!(matches!(settings.delivery, Delivery::Gateway));
        assert!(settings.is_discord());
        assert_eq!(format!("{settings:?}").matches("MTIz").count(), 0);
    }

    #[test]
    fn interactions_need_an_address_and_a_valid_key() {
        let mut config = DiscordConfig {
            mode: Some("interactions".into()),
            ..DiscordConfig::default()
        };
        assert!(
            error(&config).contains("interactions_listen"),
            "{}",
            error(&config)
        );
        config.interactions_listen = Some("127.0.0.1:0".into());
        assert!(
            error(&config).contains("public_key: is required"),
            "{}",
            error(&config)
        );
        config.public_key = Some("abc".into());
        assert!(error(&config).contains("not an Ed25519 public key"));
        config.public_key = Some(KEY.into());
        let settings = DiscordSettings::from_config(&config, env).unwrap();
        assert!(matches!(settings.delivery, Delivery::Interactions { .. }));
    }

    #[test]
    fn ids_are_snowflakes_and_modes_are_named() {
        let config = DiscordConfig {
            admins: vec!["@alice".into()],
            ..DiscordConfig::default()
        };
        assert!(error(&config).contains("\"@alice\" is not a Discord id"));
        let config = DiscordConfig {
            mode: Some("webhook".into()),
            ..DiscordConfig::default()
        };
        assert!(error(&config).contains("\"webhook\" is not accepted"));
        let missing = DiscordSettings::from_config(&DiscordConfig::default(), |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("DISCORD_BOT_TOKEN holds no bot token"),
            "{missing}"
        );
    }
}
