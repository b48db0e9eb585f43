//! The checks of single values `lull.toml` holds: durations in range, argv lists, restart
//! settings, platform ids. Each error says what is accepted.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::RestartSetting;

/// Longest idle window a key may hold: the longest an ask may name.
const MAX_IDLE_SECONDS: u64 = lull_queue::MAX_IDLE.as_secs();
/// Longest any other duration key may hold.
const ONE_YEAR: u64 = 365 * 24 * 3600;

/// A duration in seconds: at least 1, at most a year (so deadlines never overflow).
pub(super) fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n == 0 {
        return Err(de::Error::custom("must be at least 1"));
    }
    if n > ONE_YEAR {
        return Err(de::Error::custom("must be at most 31536000 (a year)"));
    }
    Ok(n)
}

/// A duration in seconds from 0 to a year.
pub(super) fn up_to_a_year<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n > ONE_YEAR {
        return Err(de::Error::custom("must be at most 31536000 (a year)"));
    }
    Ok(n)
}

/// A count of 1 or more.
pub(super) fn positive<'de, D: Deserializer<'de>, T: Deserialize<'de> + PartialEq + From<u8>>(
    d: D,
) -> Result<T, D::Error> {
    let n = T::deserialize(d)?;
    if n == T::from(0) {
        return Err(de::Error::custom("must be at least 1"));
    }
    Ok(n)
}

pub(super) fn up_to_seven_days<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n > MAX_IDLE_SECONDS {
        return Err(de::Error::custom("must be at most 604800 (7 days)"));
    }
    Ok(n)
}

pub(super) fn optional_argv<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let argv = Vec::<String>::deserialize(d)?;
    if argv.is_empty() || argv[0].trim().is_empty() {
        return Err(de::Error::custom(
            "must be a non-empty argv array, e.g. [\"my-gateway\", \"self-update\"]",
        ));
    }
    Ok(Some(argv))
}

pub(super) fn restart_setting<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<RestartSetting>, D::Error> {
    struct RestartVisitor;
    impl<'de> Visitor<'de> for RestartVisitor {
        type Value = RestartSetting;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an argv array like [\"systemctl\", \"--user\", \"restart\", \"my-gateway\"], or \"self\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<RestartSetting, E> {
            if v == "self" {
                Ok(RestartSetting::SelfExec)
            } else {
                Err(E::custom(format!(
                    "{v:?} is not accepted: write the command as an argv array like [\"systemctl\", \"--user\", \"restart\", \"my-gateway\"] (no shell), or \"self\""
                )))
            }
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RestartSetting, A::Error> {
            let mut argv = Vec::new();
            while let Some(word) = seq.next_element::<String>()? {
                argv.push(word);
            }
            if argv.is_empty() || argv[0].trim().is_empty() {
                return Err(de::Error::custom("must not be empty"));
            }
            Ok(RestartSetting::Argv(argv))
        }
    }
    d.deserialize_any(RestartVisitor).map(Some)
}

/// An id written as a string or an integer.
struct Id(String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id, as a string or an integer")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                if v.trim().is_empty() {
                    return Err(E::custom("an id must not be empty"));
                }
                Ok(Id(v.trim().to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

pub(super) fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Id>::deserialize(d)?
        .into_iter()
        .map(|id| id.0)
        .collect())
}

pub(super) fn optional_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Some(Id::deserialize(d)?.0))
}
