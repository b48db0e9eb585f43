//! Wall-clock instants as lull persists and prints them: RFC 3339 UTC with milliseconds.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A wall-clock instant with millisecond precision, serialized as RFC 3339 UTC (`2026-11-24T19:22:32.123Z`).
///
/// Millisecond precision keeps the stored form and the JSON form identical, so a value read back
/// compares equal to the one written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    millis: u64,
}

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> u64 {
        self.millis
    }

    /// Converts a `SystemTime`; instants before 1970 become the epoch.
    pub fn from_system_time(time: SystemTime) -> Self {
        let millis = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Self::from_unix_millis(u64::try_from(millis).unwrap_or(u64::MAX))
    }

    /// This instant as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.millis)
    }

    /// The time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }

    /// This instant moved later by `duration` (saturating).
    pub fn saturating_add(self, duration: Duration) -> Timestamp {
        let add = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Self::from_unix_millis(self.millis.saturating_add(add))
    }

    /// Parses RFC 3339 (`2026-11-24T19:22:32Z`, fractional seconds allowed).
    pub fn parse(text: &str) -> Result<Self, humantime::TimestampError> {
        humantime::parse_rfc3339(text).map(Self::from_system_time)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            humantime::format_rfc3339_millis(self.to_system_time())
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Timestamp::parse(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid RFC 3339 time {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_with_millis() {
        let t = Timestamp::from_unix_millis(1_795_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2026-11-18T11:06:40.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }

    #[test]
    fn rejects_garbage_with_the_offending_text() {
        let err = serde_json::from_str::<Timestamp>("\"yesterday\"").unwrap_err();
        assert!(err.to_string().contains("\"yesterday\""), "{err}");
    }
}
