//! Answering within a platform's deadline.
//!
//! Discord gives an interaction 3 s for its first response; Slack wants a slash command or a
//! click acknowledged within 3 s. lull's answers are ready in milliseconds (one flush to disk),
//! so usually the answer itself is the acknowledgement. [`within`] runs the work for as long as
//! the platform allows; when it is late, the caller acknowledges now (a deferral, "working on
//! it") and finishes the rest, which keeps running, through the platform's follow-up path.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Whether work beat the platform's reply deadline: its result, or (`Late`) the work itself,
/// still running, so the adapter acknowledges now and awaits the rest.
pub enum Timely<F: Future> {
    /// Done in time.
    Ready(F::Output),
    /// Still running: acknowledge now, and await this for the answer to send later.
    Late(Pin<Box<F>>),
}

/// Runs `work` for at most `limit`.
pub async fn within<F: Future>(limit: Duration, work: F) -> Timely<F> {
    let mut work = Box::pin(work);
    match tokio::time::timeout(limit, &mut work).await {
        Ok(output) => Timely::Ready(output),
        Err(_) => Timely::Late(work),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn quick_work_is_ready_and_slow_work_goes_on_after_the_deadline() {
        let quick = within(Duration::from_secs(1), async { 7 }).await;
        assert!(matches!(quick, Timely::Ready(7)));
        let slow = within(Duration::from_secs(1), async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            8
        })
        .await;
        let Timely::Late(rest) = slow else {
            panic!("the slow work was not late");
        };
        assert_eq!(rest.await, 8, "the work was not cut off");
    }
}
