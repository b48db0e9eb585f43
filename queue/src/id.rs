//! Request ids: the full UUID every API returns, and the short id people type in chat.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The full, globally unique id of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(Uuid);

impl RequestId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// Wraps an existing UUID.
    pub const fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The UUID inside.
    pub const fn uuid(self) -> Uuid {
        self.0
    }

    /// The id's 16 raw bytes, used where keys must sort and stay small.
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// Parses the hyphenated or simple UUID form.
    pub fn parse(text: &str) -> Option<Self> {
        Uuid::parse_str(text).ok().map(Self)
    }

    /// The short id of length `len` (after the `r`) derived from this id's random bits.
    ///
    /// The store starts at [`ShortId::MIN_LEN`] and lengthens it only when that short id is taken.
    pub fn short_id(&self, len: usize) -> ShortId {
        let mut bits = self.0.as_u128();
        let base = ShortId::ALPHABET.len() as u128;
        let mut text = String::with_capacity(len + 1);
        text.push(ShortId::PREFIX);
        for _ in 0..len {
            text.push(ShortId::ALPHABET[(bits % base) as usize] as char);
            bits /= base;
        }
        ShortId(text)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The short id of a request, such as `r7k2`: easy to read aloud and to type on a phone.
///
/// It starts with `r` (never a hex digit, so it cannot be confused with a prefix of the full
/// UUID) followed by characters from an alphabet without look-alikes (no `0 o 1 l i`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShortId(String);

impl ShortId {
    /// Every short id starts with this letter.
    pub const PREFIX: char = 'r';
    /// Characters after the prefix; lower case, without `0 o 1 l i`.
    pub const ALPHABET: &'static [u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
    /// Length of a short id after the prefix when it does not collide with a kept request.
    pub const MIN_LEN: usize = 3;
    /// Beyond this length the 128 bits of a UUID are used up.
    pub const MAX_LEN: usize = 25;

    /// The text, e.g. `r7k2`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_use_only_the_unambiguous_alphabet_and_extend_the_shorter_one() {
        for _ in 0..200 {
            let id = RequestId::new_random();
            let short = id.short_id(ShortId::MIN_LEN);
            assert_eq!(short.as_str().len(), 4);
            assert!(short.as_str().starts_with('r'));
            assert!(
                short.as_str()[1..]
                    .bytes()
                    .all(|b| ShortId::ALPHABET.contains(&b))
            );
            assert!(id.short_id(5).as_str().starts_with(short.as_str()));
        }
    }

    #[test]
    fn short_id_never_looks_like_a_uuid_prefix() {
        let short = RequestId::new_random().short_id(3);
        assert!(!short.as_str().starts_with(|c: char| c.is_ascii_hexdigit()));
    }
}
