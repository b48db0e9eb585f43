//! Turning persisted wall-clock deadlines into monotonic ones.
//!
//! Deadlines that must survive a restart (cooldown, hourly cap, max wait, approval expiry, pause,
//! drain) are stored as wall-clock times. When lull first reads one, it takes the time left,
//! clamps it to `[0, configured]` (so a wall clock that jumped cannot stretch or skip a wait
//! beyond its configured length), and from then on counts on the monotonic clock.

use std::time::Duration;

use tokio::time::Instant;

use crate::timestamp::Timestamp;

/// How far ahead "never" is: a deadline past this is as good as none.
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `at + by`, saturating at a far-future instant instead of panicking on overflow (a host may
/// configure any `Duration`).
pub fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by.min(FAR_FUTURE)).unwrap_or(at)
}

/// The monotonic instant for the wall-clock `deadline`, read at (`now`, `now_wall`), with the
/// time left clamped to `[0, longest]`.
pub fn monotonic_deadline(
    now: Instant,
    now_wall: Timestamp,
    deadline: Timestamp,
    longest: Duration,
) -> Instant {
    later(now, deadline.saturating_since(now_wall).min(longest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_to_zero_and_to_the_configured_length() {
        let now = Instant::now();
        let wall = Timestamp::from_unix_millis(1_000_000);
        let five_min = Duration::from_secs(300);
        let past = Timestamp::from_unix_millis(900_000);
        assert_eq!(monotonic_deadline(now, wall, past, five_min), now);
        let in_a_minute = wall.saturating_add(Duration::from_secs(60));
        assert_eq!(
            monotonic_deadline(now, wall, in_a_minute, five_min),
            now + Duration::from_secs(60)
        );
        // A wall clock set back a day must not turn a 5-minute cooldown into a day.
        let far = wall.saturating_add(Duration::from_secs(86_400));
        assert_eq!(monotonic_deadline(now, wall, far, five_min), now + five_min);
    }

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let now = Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(later(now, Duration::MAX), now + FAR_FUTURE);
    }
}
