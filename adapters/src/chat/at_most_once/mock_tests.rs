//! The once rule over a store that cannot be read (the double): nothing runs, the event is left
//! for the platform to deliver again, and where it never does the user is told to try again.

use super::*;
use crate::chat::acknowledge::Handling;

/// A store whose seen-events cannot be read.
struct Unreadable;

impl SeenEvents for Unreadable {
    fn seen(&self, _: &str) -> Result<bool, lull_queue::Error> {
        Err(lull_queue::Error::Closed)
    }

    async fn handling<F: Future + Send>(
        &self,
        _: &str,
        _: Duration,
        handling: F,
    ) -> (F::Output, bool) {
        (handling.await, false)
    }

    fn answer(&self, _: &str) -> Result<Option<Vec<u8>>, lull_queue::Error> {
        Err(lull_queue::Error::Closed)
    }

    async fn keep_answer(
        &self,
        _: &str,
        _: Duration,
        _: Vec<u8>,
        _: AuditNote,
    ) -> Result<(), lull_queue::Error> {
        Err(lull_queue::Error::Closed)
    }
}

const TTL: Duration = Duration::from_secs(60);

#[tokio::test]
async fn where_the_platform_redelivers_nothing_runs_and_the_event_comes_again() {
    let once = AtMostOnce::new(Unreadable, "telegram", TTL, Redelivery::Redelivered);
    let handling = Arc::new(Handling::<u32>::default());
    handling.begin(5);
    let mut posted = handling.wait_for(5);
    let outcome = once
        .run_acknowledged("7:5", Some(handling.finished_on_drop(5)), async {
            unreachable!("not run when it may have run before")
        })
        .await;
    assert_eq!(outcome, Outcome::Unreadable { tell: None });
    assert!(
        posted.try_recv().is_err(),
        "the post is not answered as handled"
    );
    assert_eq!(handling.take_failed(), [5], "a poller asks for it again");
}

#[tokio::test]
async fn where_it_never_redelivers_the_user_is_told_to_try_again() {
    let once = AtMostOnce::new(Unreadable, "discord", TTL, Redelivery::Never);
    let outcome = once
        .run("interaction-1", async { unreachable!("not run") })
        .await;
    let Outcome::<()>::Unreadable { tell: Some(reply) } = outcome else {
        panic!("a platform that never redelivers gets an answer: {outcome:?}");
    };
    assert!(reply.ephemeral, "shown to the sender only");
    assert!(reply.plain.contains("Try again"), "{reply:?}");
}

#[tokio::test]
async fn an_answered_event_is_not_run_either_when_the_store_cannot_say() {
    let once = AtMostOnce::new(Unreadable, "relay", TTL, Redelivery::Redelivered);
    let outcome = once
        .run_answered("hermes:e1", async {
            unreachable!("not run");
            #[expect(
                unreachable_code,
                reason = "the type the future must have, after the panic"
            )]
            ((), AuditNote::new("", "", ""))
        })
        .await;
    assert_eq!(outcome, Outcome::Unreadable { tell: None });
}
