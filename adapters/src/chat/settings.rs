//! Reading a chat platform's config section, the same way on every platform: secrets only from
//! environment variables (the file names the variable, never the secret), http(s) URLs, listen
//! addresses and id lists checked before anything connects, `Debug` that hides secrets, and
//! errors that name `[section] key`, the config line, and what is accepted.

use std::net::SocketAddr;

use url::Url;

/// The shortest secret lull checks callers against (bearer tokens, webhook secrets).
pub const MIN_SECRET_CHARS: usize = 16;

/// Why the secret `value` of the variable `var` is too short to be safe, if it is.
pub fn too_short(var: &str, value: &str) -> Option<String> {
    let chars = value.chars().count();
    (chars < MIN_SECRET_CHARS).then(|| {
        format!(
            "{var} holds a secret of {chars} characters; at least {MIN_SECRET_CHARS} are needed so it cannot be guessed (e.g. `openssl rand -hex 16`)"
        )
    })
}

/// A value in one section that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("[{section}] {key}{}: {message}", line.map(|n| format!(" (line {n})")).unwrap_or_default())]
pub struct SettingError {
    /// The section: `telegram`, `discord`, `slack`.
    pub section: &'static str,
    /// The key.
    pub key: &'static str,
    /// The line of the key in the config file, when known.
    pub line: Option<usize>,
    /// What is wrong and what is accepted.
    pub message: String,
}

impl SettingError {
    /// The same error, naming the line `text` (the config file) sets the key on.
    pub fn located_in(mut self, text: &str) -> Self {
        self.line = line_of(text, self.section, self.key);
        self
    }
}

/// The 1-based line that sets `key` in `[section]` of a TOML text, if it does. Headers and keys
/// may be quoted; lines inside a multi-line value are neither headers nor keys of the section.
pub fn line_of(text: &str, section: &str, key: &str) -> Option<usize> {
    let unquote = |s: &str| s.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
    let mut in_section = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.split(" #").next().unwrap_or("").trim();
        if let Some(header) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .filter(|h| !h.contains(',') && !h.contains('='))
        {
            in_section = unquote(header.trim_matches(|c| c == '[' || c == ']')) == section;
            continue;
        }
        if let Some((name, _)) = line.split_once('=')
            && in_section
            && unquote(name) == key
        {
            return Some(i + 1);
        }
    }
    None
}

/// A secret read from the environment. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One config section, as its checks name it.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    name: &'static str,
}

impl Section {
    /// `[name]`.
    pub const fn new(name: &'static str) -> Self {
        Self { name }
    }

    /// An error about `key`.
    pub fn error(&self, key: &'static str, message: impl Into<String>) -> SettingError {
        SettingError {
            section: self.name,
            key,
            line: None,
            message: message.into(),
        }
    }

    /// The secret in the environment variable that `key` names (`configured`, else
    /// `default_var`), trimmed. `what` names the secret ("bot token"), `how` says where to get
    /// one.
    pub fn secret(
        &self,
        key: &'static str,
        configured: Option<&str>,
        default_var: &str,
        env: &impl Fn(&str) -> Option<String>,
        (what, how): (&str, &str),
    ) -> Result<(Secret, String), SettingError> {
        let var = configured.unwrap_or(default_var).to_owned();
        match env(&var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            Some(secret) => Ok((Secret(secret), var)),
            None => Err(self.error(
                key,
                format!(
                    "the environment variable {var} holds no {what}; {how} (or name another variable with {key}; the {what} itself never goes in the file)"
                ),
            )),
        }
    }

    /// A secret ([`Section::secret`]'s answer) lull itself checks callers against (a bearer
    /// token, a webhook secret), if it has at least [`MIN_SECRET_CHARS`] characters, so it cannot
    /// be guessed.
    pub fn long_enough(
        &self,
        key: &'static str,
        (secret, var): (Secret, String),
    ) -> Result<(Secret, String), SettingError> {
        match too_short(&var, secret.expose()) {
            Some(message) => Err(self.error(key, message)),
            None => Ok((secret, var)),
        }
    }

    /// An http(s) URL with a host; `example` shows an accepted one.
    pub fn http_url(
        &self,
        key: &'static str,
        text: &str,
        example: &str,
    ) -> Result<Url, SettingError> {
        Url::parse(text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                self.error(
                    key,
                    format!("{text:?} is not an http(s) URL like {example:?}"),
                )
            })
    }

    /// An address to listen on, required: `why` says what it is for.
    pub fn listen(
        &self,
        key: &'static str,
        text: Option<&str>,
        why: &str,
    ) -> Result<SocketAddr, SettingError> {
        let text = text.ok_or_else(|| {
            self.error(key, format!("is required {why}: the address lull listens on, e.g. \"127.0.0.1:8443\" behind your TLS proxy"))
        })?;
        text.parse().map_err(|_| {
            self.error(
                key,
                format!("{text:?} is not an address like \"127.0.0.1:8443\""),
            )
        })
    }

    /// One id, if set, through `parse` (which says what is wrong with it).
    pub fn id<T>(
        &self,
        key: &'static str,
        value: Option<&str>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, SettingError> {
        value
            .map(|v| parse(v).map_err(|message| self.error(key, message)))
            .transpose()
    }

    /// Each id of `values` through `parse` (which says what is wrong with one).
    pub fn ids<T>(
        &self,
        key: &'static str,
        values: &[String],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, SettingError> {
        values
            .iter()
            .map(|value| parse(value).map_err(|message| self.error(key, message)))
            .collect()
    }

    /// One of `accepted` (the first is the default when `value` is unset).
    pub fn choice(
        &self,
        key: &'static str,
        value: Option<&str>,
        accepted: &[&'static str],
    ) -> Result<&'static str, SettingError> {
        let Some(value) = value else {
            return Ok(accepted[0]);
        };
        accepted
            .iter()
            .find(|a| **a == value)
            .copied()
            .ok_or_else(|| {
                let quoted: Vec<String> = accepted.iter().map(|a| format!("{a:?}")).collect();
                self.error(
                    key,
                    format!(
                        "{value:?} is not accepted; use {} (the default) or {}",
                        quoted[0],
                        quoted[1..].join(" or ")
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLACK: Section = Section::new("slack");

    #[test]
    fn a_shared_secret_shorter_than_16_characters_is_refused_naming_the_variable() {
        let env = |name: &str| match name {
            "SHORT" => Some("fifteen-chars-x".to_owned()),
            "LONG" => Some("sixteen-chars-xy".to_owned()),
            _ => None,
        };
        let how = ("token", "set it");
        let read = |var| {
            SLACK
                .secret("token_env", Some(var), "X", &env, how)
                .unwrap()
        };
        let error = SLACK.long_enough("token_env", read("SHORT")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("SHORT holds a secret of 15 characters; at least 16"),
            "{error}"
        );
        assert!(
            !error.to_string().contains("fifteen"),
            "the secret itself is never shown"
        );
        let (secret, var) = SLACK.long_enough("token_env", read("LONG")).unwrap();
        assert_eq!(
            (secret.expose(), var.as_str()),
            ("sixteen-chars-xy", "LONG")
        );
    }

    #[test]
    fn errors_name_the_section_the_key_and_the_line() {
        let text = "[maintenance]\nlisten = 1\n\n[slack]\n# a comment\nlisten = \"nowhere\"\n";
        let error = SLACK
            .listen("listen", Some("nowhere"), "with mode = \"http\"")
            .unwrap_err()
            .located_in(text);
        assert_eq!(
            error.to_string(),
            "[slack] listen (line 6): \"nowhere\" is not an address like \"127.0.0.1:8443\""
        );
        assert_eq!(line_of(text, "slack", "api_url"), None);
        assert_eq!(line_of(text, "maintenance", "listen"), Some(2));
        let tricky = "[maintenance]\nwindows = [\n  [1, 2],\n]\nlisten = 3\n[\"slack\"] # quoted\n'admins' = []\n";
        assert_eq!(
            line_of(tricky, "maintenance", "listen"),
            Some(5),
            "an array line is no header"
        );
        assert_eq!(line_of(tricky, "slack", "admins"), Some(7));
    }

    #[test]
    fn a_secret_comes_only_from_its_variable_and_is_never_printed() {
        let env = |name: &str| (name == "SLACK_BOT_TOKEN").then(|| " xoxb-1 ".to_owned());
        let what = ("bot token", "set it to the app's Bot User OAuth Token");
        let (secret, var) = SLACK
            .secret("bot_token_env", None, "SLACK_BOT_TOKEN", &env, what)
            .unwrap();
        assert_eq!(
            (secret.expose(), var.as_str()),
            ("xoxb-1", "SLACK_BOT_TOKEN")
        );
        assert_eq!(format!("{secret:?}"), "<redacted>");
        let missing = SLACK
            .secret("bot_token_env", Some("NOPE"), "SLACK_BOT_TOKEN", &env, what)
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with(
                "[slack] bot_token_env: the environment variable NOPE holds no bot token"
            ),
            "{missing}"
        );
    }

    #[test]
    fn urls_addresses_ids_and_choices_say_what_is_accepted() {
        assert_eq!(
            SLACK
                .http_url("api_url", "http://127.0.0.1:9/api", "x")
                .unwrap()
                .port(),
            Some(9)
        );
        for bad in ["ftp://x", "slack.com", "https://"] {
            let e = SLACK
                .http_url("api_url", bad, "https://slack.com/api")
                .unwrap_err();
            assert!(
                e.message
                    .contains("not an http(s) URL like \"https://slack.com/api\""),
                "{e}"
            );
        }
        let e = SLACK
            .listen("listen", None, "with mode = \"http\"")
            .unwrap_err();
        assert!(
            e.message.starts_with("is required with mode = \"http\""),
            "{e}"
        );
        let upper = |v: &str| {
            v.starts_with('U')
                .then(|| v.to_owned())
                .ok_or(format!("{v:?} is not a user id"))
        };
        assert_eq!(
            SLACK.ids("admins", &["U1".into()], upper),
            Ok(vec!["U1".to_owned()])
        );
        let e = SLACK
            .ids("admins", &["U1".into(), "x".into()], upper)
            .unwrap_err();
        assert_eq!(e.to_string(), "[slack] admins: \"x\" is not a user id");
        assert_eq!(
            SLACK.choice("mode", None, &["socket", "http"]),
            Ok("socket")
        );
        assert_eq!(
            SLACK.choice("mode", Some("http"), &["socket", "http"]),
            Ok("http")
        );
        let e = SLACK
            .choice("mode", Some("push"), &["socket", "http"])
            .unwrap_err();
        assert_eq!(
            e.message,
            "\"push\" is not accepted; use \"socket\" (the default) or \"http\""
        );
    }
}
