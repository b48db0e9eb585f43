//! Redaction of command output before any chat sees it: lull's own secrets and anything shaped
//! like a platform token.

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not replaced verbatim (they would match ordinary words).
const MIN_SECRET_LEN: usize = 6;

/// Removes the configured `secrets` and token-shaped strings from `text`: Telegram bot tokens,
/// Slack `xox?-`/`xapp-` tokens, Discord bot tokens, and the word after `Bearer`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        text = text.replace(secret.as_str(), REDACTED);
    }
    let mut out = String::with_capacity(text.len());
    let mut previous_word = "";
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let word_len = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        if word_len == 0 {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let word = &rest[..word_len];
        if previous_word.eq_ignore_ascii_case("bearer") || looks_like_token(word) {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        previous_word = word;
        rest = &rest[word_len..];
    }
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

fn looks_like_token(word: &str) -> bool {
    is_telegram_token(word) || is_slack_token(word) || is_discord_token(word)
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `123456789:AAH…` (bot id, colon, 35 characters).
fn is_telegram_token(word: &str) -> bool {
    let Some((id, secret)) = word.split_once(':') else {
        return false;
    };
    (5..=12).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_digit())
        && secret.len() >= 30
        && is_b64url(secret)
}

/// `xoxb-…`, `xoxp-…`, `xapp-…` and the other Slack token prefixes.
fn is_slack_token(word: &str) -> bool {
    const PREFIXES: [&str; 7] = [
        "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-",
    ];
    PREFIXES
        .iter()
        .any(|p| word.len() >= p.len() + 10 && word[..p.len()].eq_ignore_ascii_case(p))
}

/// Three base64url segments separated by dots: the user id, a timestamp, an HMAC.
fn is_discord_token(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    matches!(parts.as_slice(), [id, ts, mac]
        if id.len() >= 20 && (5..=7).contains(&ts.len()) && mac.len() >= 25
            && parts.iter().all(|p| is_b64url(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_token_shaped_strings_and_configured_secrets() {
        let tg = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0";
        let slack = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp";
        let xapp = "xapp-1-A0123-456-abcdef0123456789";
        let discord = "MTA5NzY1NDMyMTA5ODc2NTQzMg.GhIjKl.abcdefghijklmnopqrstuvwxyz0123";
        let text = format!(
            "telegram {tg}\nslack={slack} app {xapp}\ndiscord: {discord}\nAuthorization: Bearer s3cr3t-v4lue\nmy-pass-word-123 done"
        );
        let out = redact(&text, &["my-pass-word-123".to_owned(), "abc".to_owned()]);
        for secret in [tg, slack, xapp, discord, "s3cr3t-v4lue", "my-pass-word-123"] {
            assert!(!out.contains(secret), "{secret} leaked: {out}");
        }
        assert_eq!(out.matches(REDACTED).count(), 6, "{out}");
        assert!(
            out.contains("telegram [redacted]\nslack=[redacted] app"),
            "{out}"
        );
        assert!(out.ends_with("[redacted] done"));
    }

    #[test]
    fn leaves_ordinary_output_alone() {
        let text =
            "Restarted gateway v1.2.3 at 12:30:01 (pid 4242); see https://example.org/a-b_c.";
        assert_eq!(redact(text, &[]), text);
    }
}
