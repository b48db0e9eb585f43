//! Checking that a webhook post comes from the platform, before anything in it is parsed.
//!
//! Each platform proves its posts its own way: Telegram repeats the secret given to
//! `setWebhook` in a header ([`SecretHeader`]); Slack signs the timestamp and body with
//! HMAC-SHA256 under a 5-minute window; Discord signs them with Ed25519. Each is one
//! [`Verifier`], and the [`inbox`](super::inbox) runs it in two steps: the headers before the
//! body is read (a missing or wrong secret, a missing signature, a stale timestamp cost lull
//! nothing to refuse), then the raw body before it is parsed (a signature over it).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

/// Decides whether a post comes from the platform. Each step answers `Ok`, or why not (the post
/// is answered 401, and the reason logged).
pub trait Verifier: Send + Sync + 'static {
    /// What the headers alone can prove or refute, checked before the body is read.
    fn verify_headers(&self, headers: &HeaderMap) -> Result<(), String>;

    /// What needs the raw body too (a signature over it), checked before it is parsed.
    fn verify_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
        let _ = (headers, body);
        Ok(())
    }
}

/// The value of header `name` (lower case), present and not empty, or why not.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("missing {name}"))
}

/// Checks that header `name` holds Unix seconds within `max_skew` of now. A platform that signs
/// its timestamp with the body (Discord, Slack) so has its posts refused once stale: a captured
/// post cannot be replayed later.
pub fn fresh_timestamp(headers: &HeaderMap, name: &str, max_skew: Duration) -> Result<(), String> {
    let signed = header(headers, name)?
        .parse::<u64>()
        .map_err(|_| format!("{name} is not Unix seconds"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let skew = now.abs_diff(signed);
    if skew > max_skew.as_secs() {
        return Err(format!(
            "{name} is {skew} s from now; at most {} s is accepted",
            max_skew.as_secs()
        ));
    }
    Ok(())
}

/// A shared secret the platform repeats in a header, compared in constant time (Telegram's
/// `X-Telegram-Bot-Api-Secret-Token`).
pub struct SecretHeader {
    header: &'static str,
    secret: Arc<[u8]>,
}

impl SecretHeader {
    /// Posts must carry `secret` in `header` (a lower-case header name).
    pub fn new(header: &'static str, secret: &str) -> Self {
        Self {
            header,
            secret: secret.as_bytes().into(),
        }
    }
}

impl Verifier for SecretHeader {
    fn verify_headers(&self, headers: &HeaderMap) -> Result<(), String> {
        let given = headers
            .get(self.header)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        // ct_eq of slices of different lengths is false without comparing the bytes.
        if bool::from(given.ct_eq(&self.secret)) {
            Ok(())
        } else {
            Err(format!("missing or wrong {}", self.header))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_is_fresh_only_within_the_skew() {
        let at = |seconds: u64| {
            let mut headers = HeaderMap::new();
            headers.insert("x-ts", seconds.to_string().parse().unwrap());
            headers
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let skew = Duration::from_secs(300);
        assert_eq!(fresh_timestamp(&at(now - 10), "x-ts", skew), Ok(()));
        assert!(
            fresh_timestamp(&at(now - 600), "x-ts", skew)
                .unwrap_err()
                .contains("600 s from now")
        );
        assert!(fresh_timestamp(&at(now + 600), "x-ts", skew).is_err());
        assert_eq!(
            fresh_timestamp(&HeaderMap::new(), "x-ts", skew),
            Err("missing x-ts".into())
        );
    }

    #[test]
    fn only_the_exact_secret_passes() {
        let verifier = SecretHeader::new("x-secret", "right_secret-1");
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-secret", value.parse().unwrap());
            headers
        };
        assert_eq!(verifier.verify_headers(&with("right_secret-1")), Ok(()));
        for wrong in ["right_secret-", "right_secret-12", "wrong_secret-1", ""] {
            assert!(verifier.verify_headers(&with(wrong)).is_err(), "{wrong:?}");
        }
        let missing = verifier.verify_headers(&HeaderMap::new()).unwrap_err();
        assert_eq!(missing, "missing or wrong x-secret");
    }
}
