//! A direct reply to a command sits out a short rate limit instead of being lost.
//!
//! The person who typed the command is waiting for the answer, so a platform's "retry after"
//! is honoured when it is short ([`REPLY_MAX_WAIT`]) and at most [`REPLY_ATTEMPTS`] times; a
//! longer one gives up (the sender can always ask again). Notices are not sent this way: the
//! outbox retries them without limit.

use std::future::Future;
use std::time::Duration;

/// Attempts for a direct reply before giving up.
pub const REPLY_ATTEMPTS: u32 = 3;
/// The longest rate-limit wait a direct reply sits out.
pub const REPLY_MAX_WAIT: Duration = Duration::from_secs(30);

/// Runs `send` until it succeeds, fails for another reason, or the rate limit `retry_after`
/// reads from its error is too long or came too often.
pub async fn sitting_out_rate_limits<T, E, Fut>(
    mut send: impl FnMut() -> Fut,
    retry_after: impl Fn(&E) -> Option<Duration>,
) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match send().await {
            Err(error) => match retry_after(&error) {
                Some(wait) if attempt < REPLY_ATTEMPTS && wait <= REPLY_MAX_WAIT => {
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(error),
            },
            sent => return sent,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use tokio::time::Instant;

    use super::*;

    /// Sends that fail with the given waits (`None`: another error), then succeed.
    async fn run(waits: &[Option<u64>]) -> (Result<(), Option<u64>>, u32, Duration) {
        let calls = Cell::new(0);
        let started = Instant::now();
        let result = sitting_out_rate_limits(
            || {
                let i = calls.get();
                calls.set(i + 1);
                async move { waits.get(i as usize).map_or(Ok(()), |w| Err(*w)) }
            },
            |wait: &Option<u64>| wait.map(Duration::from_secs),
        )
        .await;
        (result, calls.get(), started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn short_limits_are_sat_out_a_few_times() {
        assert_eq!(
            run(&[Some(2), Some(5)]).await,
            (Ok(()), 3, Duration::from_secs(7))
        );
        let (result, calls, _) = run(&[Some(1), Some(1), Some(1)]).await;
        assert_eq!(
            (result, calls),
            (Err(Some(1)), REPLY_ATTEMPTS),
            "at most three attempts"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_limit_or_another_error_gives_up_at_once() {
        assert_eq!(run(&[Some(31)]).await, (Err(Some(31)), 1, Duration::ZERO));
        assert_eq!(run(&[None]).await, (Err(None), 1, Duration::ZERO));
    }
}
