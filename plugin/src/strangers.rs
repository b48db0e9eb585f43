//! Refusing strangers without being flooded by them: at most one reply (and one audit entry) per
//! sender per minute; the refusals in between are counted and reported with the next one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What a platform that must answer every interaction (a Discord command, a Slack slash command)
/// says to a stranger lull stays silent for: private, unaudited, and the same every time.
pub const QUIETED_STRANGER: &str =
    "You were refused less than a minute ago; lull does not answer again yet.";

/// How often one sender is answered (and audited) at most.
const PER_SENDER: Duration = Duration::from_secs(60);

/// Senders remembered at most; beyond it, those answered more than a minute ago are forgotten,
/// and if a flood of distinct senders still fills it, everyone (a flood of that size is answered
/// once a minute per sender anyway, and memory stays bounded).
const REMEMBERED: usize = 10_000;

/// When each recent stranger was last answered, and how many refusals went unanswered since.
#[derive(Debug, Default)]
pub(crate) struct Strangers {
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl Strangers {
    /// Whether to answer `sender` now: `Some(quieted)`, the refusals left unanswered since the
    /// last answer, or `None` (stay silent; counted for the next answer).
    pub(crate) fn admit(&self, sender: &str, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, quieted)) = last.get_mut(sender)
            && now.duration_since(*at) < PER_SENDER
        {
            *quieted += 1;
            return None;
        }
        if last.len() >= REMEMBERED {
            last.retain(|_, (at, _)| now.duration_since(*at) < PER_SENDER);
            if last.len() >= REMEMBERED {
                last.clear();
            }
        }
        let quieted = last
            .insert(sender.to_owned(), (now, 0))
            .map_or(0, |(_, quieted)| quieted);
        Some(quieted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_answer_per_sender_per_minute_and_the_rest_counted() {
        let strangers = Strangers::default();
        let start = Instant::now();
        assert_eq!(strangers.admit("telegram:666", start), Some(0));
        for second in 1..=5 {
            let at = start + Duration::from_secs(second);
            assert_eq!(strangers.admit("telegram:666", at), None);
        }
        // Another sender is not held back by the first.
        assert_eq!(strangers.admit("telegram:667", start), Some(0));
        assert_eq!(strangers.admit("telegram:666", start + PER_SENDER), Some(5));
        assert_eq!(
            strangers.admit("telegram:666", start + 2 * PER_SENDER),
            Some(0)
        );
    }

    #[test]
    fn a_flood_of_distinct_senders_stays_bounded() {
        let strangers = Strangers::default();
        let start = Instant::now();
        for n in 0..REMEMBERED + 5 {
            assert_eq!(strangers.admit(&format!("slack:U{n}"), start), Some(0));
        }
        let remembered = strangers.last.lock().unwrap().len();
        assert!(remembered <= REMEMBERED, "{remembered}");
    }
}
