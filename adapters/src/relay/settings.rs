//! `[relay]` checked with the chat kit's [`Section`] helpers: the relay's name (its senders are
//! `relay:<name>`), the host's sender ids of admins and agents and its notify chats (opaque
//! strings: the host knows what they mean), the optional relay-only token, and how long a
//! notice stays claimed and how long one nobody takes is kept.

use std::time::Duration;

use crate::chat::settings::{Secret, Section, SettingError};

const SECTION: Section = Section::new("relay");

/// Longest sender id, chat id or name accepted.
const MAX_ID_CHARS: usize = 200;
/// Longest relay name.
const MAX_NAME_CHARS: usize = 40;

/// A usable `[relay]` section. `Debug` hides the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelaySettings {
    /// `relay` unless set; senders and chats are `relay:<name>`.
    pub(crate) name: String,
    /// Host sender ids with every right.
    pub(crate) admins: Vec<String>,
    /// Host sender ids of agents, and the agent names whose tool calls may name a chat.
    pub(crate) agents: Vec<String>,
    /// Host chats that hear about every request.
    pub(crate) notify_chats: Vec<String>,
    /// The relay-only bearer token, required on every relay call when set.
    pub(crate) token: Option<Secret>,
    /// How long a polled notice stays the poller's before it is given out again.
    pub(crate) claim: Duration,
    /// How long a notice nobody takes is kept before it is dropped (audited).
    pub(crate) notice_expiry: Duration,
}

impl RelaySettings {
    /// Checks `[relay]`, reading the token through `env` (the process environment in `serve`).
    pub fn from_config(
        config: &crate::config::RelayConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SettingError> {
        let name = config.name.clone().unwrap_or_else(|| "relay".into());
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(SECTION.error(
                "name",
                format!(
                    "{name:?} is not accepted: use 1 to {MAX_NAME_CHARS} letters, digits, '-' or '_', e.g. \"hermes\""
                ),
            ));
        }
        let opaque = |value: &str| {
            if value.chars().count() > MAX_ID_CHARS {
                Err(format!(
                    "{value:?} is longer than {MAX_ID_CHARS} characters"
                ))
            } else {
                Ok(value.to_owned())
            }
        };
        let admins = SECTION.ids("admins", &config.admins, opaque)?;
        let agents = SECTION.ids("agents", &config.agents, opaque)?;
        let notify_chats = SECTION.ids("notify_chats", &config.notify_chats, opaque)?;
        if let Some(both) = admins.iter().find(|a| agents.contains(a)) {
            return Err(SECTION.error(
                "agents",
                format!("{both:?} is in both admins and agents; list each sender once"),
            ));
        }
        let token = match &config.token_env {
            None => None,
            Some(var) => {
                let read = SECTION.secret(
                    "token_env",
                    Some(var),
                    var,
                    &env,
                    (
                        "relay token",
                        "set it to a long random string the host gateway sends as `Authorization: Bearer …`",
                    ),
                )?;
                Some(SECTION.long_enough("token_env", read)?.0)
            }
        };
        let claim = seconds("claim_seconds", config.claim_seconds, 60, 1..=3600)?;
        let notice_expiry = seconds(
            "notice_expiry_seconds",
            config.notice_expiry_seconds,
            86_400,
            60..=30 * 86_400,
        )?;
        Ok(Self {
            name,
            admins,
            agents,
            notify_chats,
            token,
            claim,
            notice_expiry,
        })
    }

    /// `relay:<name>`: the platform of the relay's senders, chats and notices.
    pub(crate) fn platform(&self) -> String {
        format!("relay:{}", self.name)
    }

    /// The token's value, to keep out of output tails.
    pub(crate) fn secrets(&self) -> Vec<String> {
        self.token.iter().map(|t| t.expose().to_owned()).collect()
    }
}

/// A number of seconds within `range`, or `default`.
fn seconds(
    key: &'static str,
    value: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Duration, SettingError> {
    let value = value.unwrap_or(default);
    if !range.contains(&value) {
        return Err(SECTION.error(
            key,
            format!(
                "{value} is not accepted: use {} to {} seconds (default {default})",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(Duration::from_secs(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RelayConfig;

    fn env(name: &str) -> Option<String> {
        (name == "RELAY_TOKEN").then(|| " s3cret-0123456789abc ".to_owned())
    }

    #[test]
    fn defaults_and_a_full_section() {
        let settings = RelaySettings::from_config(&RelayConfig::default(), env).unwrap();
        assert_eq!(settings.platform(), "relay:relay");
        assert_eq!(settings.token, None);
        assert_eq!(settings.claim, Duration::from_secs(60));
        assert_eq!(settings.notice_expiry, Duration::from_secs(86_400));
        let settings = RelaySettings::from_config(
            &RelayConfig {
                name: Some("hermes".into()),
                admins: vec!["telegram:1".into()],
                agents: vec!["hermes".into()],
                notify_chats: vec!["telegram:-100".into()],
                token_env: Some("RELAY_TOKEN".into()),
                claim_seconds: Some(5),
                notice_expiry_seconds: Some(600),
            },
            env,
        )
        .unwrap();
        assert_eq!(settings.platform(), "relay:hermes");
        assert_eq!(settings.secrets(), ["s3cret-0123456789abc"]);
        assert_eq!(format!("{:?}", settings.token), "Some(<redacted>)");
        assert_eq!(settings.claim, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        let error = |config: RelayConfig| {
            RelaySettings::from_config(&config, env)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error(RelayConfig {
                name: Some("her mes".into()),
                ..RelayConfig::default()
            }),
            "[relay] name: \"her mes\" is not accepted: use 1 to 40 letters, digits, '-' or '_', e.g. \"hermes\""
        );
        assert!(
            error(RelayConfig {
                token_env: Some("NOPE".into()),
                ..RelayConfig::default()
            })
            .starts_with("[relay] token_env: the environment variable NOPE holds no relay token")
        );
        assert_eq!(
            error(RelayConfig {
                claim_seconds: Some(0),
                ..RelayConfig::default()
            }),
            "[relay] claim_seconds: 0 is not accepted: use 1 to 3600 seconds (default 60)"
        );
        assert!(
            error(RelayConfig {
                admins: vec!["x".into()],
                agents: vec!["x".into()],
                ..RelayConfig::default()
            })
            .contains("in both admins and agents")
        );
    }
}
