//! The chat platforms' part of `lull doctor`: each configured section's check, and with
//! `--online` the call that asks the platform whether it takes the token — taken, refused,
//! unreachable, or an answer lull cannot read, each with its own fix, the token never shown.

use std::time::Duration;

use super::Checklist;
use crate::config::Config;

/// How long an online check may wait for an answer.
const ONLINE_TIMEOUT: Duration = Duration::from_secs(10);

/// A configured platform as doctor sees it: what its section's check said, and the call that
/// asks the platform whether it takes the token.
struct Platform {
    name: &'static str,
    guide: &'static str,
    probe: Result<TokenProbe, String>,
}

/// The call that asks a platform who lull is there.
struct TokenProbe {
    call: &'static str,
    request: reqwest::RequestBuilder,
    /// The field the answer must have (`result.username`).
    field: &'static [&'static str],
    api_url: url::Url,
}

/// `api_url` joined with `path`.
#[cfg(any(feature = "telegram", feature = "discord", feature = "slack"))]
fn endpoint(api_url: &url::Url, path: &str) -> String {
    format!("{}{path}", api_url.as_str().trim_end_matches('/'))
}

/// The platforms the config enables (in a build that has them).
fn platforms(config: &Config) -> Vec<Platform> {
    let env = |name: &str| std::env::var(name).ok();
    #[cfg_attr(
        not(any(feature = "telegram", feature = "discord", feature = "slack")),
        expect(unused_mut, reason = "a build without chat platforms pushes none")
    )]
    let mut platforms = Vec::new();
    #[cfg(feature = "telegram")]
    if let Some(section) = &config.telegram {
        let probe =
            crate::telegram::TelegramSettings::from_config(section, env).map(|s| TokenProbe {
                call: "telegram getMe",
                // POST, as the Bot API clients lull runs (teloxide) call it.
                request: http().post(endpoint(
                    &s.api_url,
                    &format!("/bot{}/getMe", s.token.expose()),
                )),
                field: &["result", "username"],
                api_url: s.api_url,
            });
        platforms.push(Platform {
            name: "telegram",
            guide: "docs/telegram.md",
            probe: probe.map_err(|e| e.to_string()),
        });
    }
    #[cfg(feature = "discord")]
    if let Some(section) = &config.discord {
        let probe =
            crate::discord::DiscordSettings::from_config(section, env).map(|s| TokenProbe {
                call: "discord users/@me",
                request: http()
                    .get(endpoint(&s.api_url, "/api/v10/users/@me"))
                    .header("Authorization", format!("Bot {}", s.token.expose())),
                field: &["id"],
                api_url: s.api_url,
            });
        platforms.push(Platform {
            name: "discord",
            guide: "docs/discord.md",
            probe: probe.map_err(|e| e.to_string()),
        });
    }
    #[cfg(feature = "slack")]
    if let Some(section) = &config.slack {
        let probe = crate::slack::SlackSettings::from_config(section, env).map(|s| TokenProbe {
            call: "slack auth.test",
            request: http()
                .post(endpoint(&s.api_url, "/auth.test"))
                .bearer_auth(s.bot_token.expose()),
            field: &["user_id"],
            api_url: s.api_url,
        });
        platforms.push(Platform {
            name: "slack",
            guide: "docs/slack.md",
            probe: probe.map_err(|e| e.to_string()),
        });
    }
    let _ = (env, config);
    platforms
}

pub(super) async fn check_platforms(config: &Config, online: bool, list: &mut Checklist) {
    for platform in platforms(config) {
        match platform.probe {
            Err(error) => list.fail(platform.name, error, format!("see {}", platform.guide)),
            Ok(probe) => {
                list.ok(platform.name, "its token is set and looks right");
                if online {
                    online_check(probe, list).await;
                }
            }
        }
    }
}

pub(super) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(ONLINE_TIMEOUT)
        .build()
        .unwrap_or_default()
}

/// Calls the platform and says whether it took the token: unreachable, refused, or answered
/// something lull cannot read (naming the field it looked for) are three different fixes.
async fn online_check(probe: TokenProbe, list: &mut Checklist) {
    let TokenProbe {
        call: name,
        request: call,
        field,
        api_url,
    } = probe;
    let api_url = &api_url;
    let answer = match call.send().await {
        Ok(answer) => answer,
        Err(error) => {
            // reqwest's error names the URL, and with it the token: never shown.
            let why = if error.is_timeout() {
                "no answer in time"
            } else {
                "cannot connect"
            };
            list.fail(
                name,
                format!("{api_url} is unreachable: {why}"),
                "check the network, a proxy, or api_url",
            );
            return;
        }
    };
    let status = answer.status();
    let body: Option<serde_json::Value> = answer.json().await.ok();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        list.fail(
            name,
            format!("the platform refused the token ({status})"),
            "copy the token again from the platform's console",
        );
        return;
    }
    let value = body
        .as_ref()
        .map(|b| field.iter().fold(b, |v, key| &v[*key]))
        .filter(|v| !v.is_null());
    match (status.is_success(), value, &body) {
        (true, Some(value), _) => list.ok(name, format!("the platform took the token ({})", value.as_str().unwrap_or(&value.to_string()))),
        // Slack answers 200 with ok: false.
        (true, None, Some(body)) if body["ok"] == false => list.fail(
            name,
            format!("the platform refused the token: {}", body["error"].as_str().unwrap_or("no reason given")),
            "copy the token again from the platform's console",
        ),
        _ => list.fail(
            name,
            format!(
                "{api_url} answered something lull cannot read: HTTP {status}, no {} in the answer",
                field.join(".")
            ),
            "check api_url: it must be the platform's API (or a proxy that passes it through unchanged)",
        ),
    }
}
