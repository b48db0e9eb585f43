//! The once-per-id rule on a real sled store: redeliveries and concurrent copies are skipped,
//! the id is recorded with the first change the handling makes, and survives a reopen.

use std::sync::atomic::{AtomicUsize, Ordering};

use lull_queue::QueueSettings;

use super::*;

const TTL: Duration = Duration::from_secs(3600);

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("db"), QueueSettings::default()).unwrap()
}

#[tokio::test]
async fn an_event_runs_once_and_a_redelivery_after_a_reopen_is_skipped_if_it_changed_state() {
    let dir = tempfile::tempdir().unwrap();
    let runs = AtomicUsize::new(0);
    let change = |store: Store| {
        let runs = &runs;
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            store
                .record("test", "changed", "a change".into(), None)
                .await
                .unwrap();
        }
    };
    {
        let once = AtMostOnce::new(open(&dir), "telegram", TTL, Redelivery::Redelivered);
        let first = once.run("7:1001", change(once.store.clone())).await;
        assert_eq!(first, Outcome::Ran(()));
        assert_eq!(first.ack(), Ack::Handled);
        let again = once.run("7:1001", change(once.store.clone())).await;
        assert_eq!(again, Outcome::Seen);
        assert_eq!(
            again.ack(),
            Ack::Handled,
            "a redelivery is confirmed, not retried"
        );
        // Another platform's id with the same digits is another event.
        let slack = AtMostOnce::new(once.store.clone(), "slack", TTL, Redelivery::Redelivered);
        assert_eq!(slack.run("7:1001", async {}).await, Outcome::Ran(()));
    }
    let reopened = AtMostOnce::new(open(&dir), "telegram", TTL, Redelivery::Redelivered);
    assert_eq!(
        reopened.run("7:1001", change(reopened.store.clone())).await,
        Outcome::Seen
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_event_that_changed_nothing_is_remembered_in_memory_not_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let runs = AtomicUsize::new(0);
    let status = || async { runs.fetch_add(1, Ordering::SeqCst) };
    {
        let store = open(&dir);
        let once = AtMostOnce::new(store.clone(), "telegram", TTL, Redelivery::Redelivered);
        let flushes = store.flush_stats().0;
        assert_eq!(once.run("7:2001", status()).await, Outcome::Ran(0));
        assert_eq!(
            store.flush_stats().0,
            flushes,
            "answered without waiting for the disk"
        );
        // A copy while this process runs is skipped, like any redelivery.
        assert_eq!(once.run("7:2001", status()).await, Outcome::Seen);
        assert!(!store.event_seen("telegram:7:2001").unwrap());
    }
    // After a restart it is handled again: it changed nothing, so answering twice is harmless.
    let reopened = AtMostOnce::new(open(&dir), "telegram", TTL, Redelivery::Redelivered);
    assert_eq!(reopened.run("7:2001", status()).await, Outcome::Ran(1));
}

#[test]
fn the_memory_of_unchanged_events_is_bounded_and_keeps_the_newest() {
    let mut remembered = Remembered::default();
    for i in 0..REMEMBERED_UNCHANGED + 10 {
        remembered.insert(format!("telegram:{i}"));
    }
    remembered.insert("telegram:20".into());
    assert_eq!(remembered.ids.len(), REMEMBERED_UNCHANGED);
    assert_eq!(remembered.order.len(), REMEMBERED_UNCHANGED);
    assert!(
        !remembered.contains("telegram:9"),
        "the oldest are forgotten"
    );
    assert!(remembered.contains("telegram:20"));
    assert!(remembered.contains(&format!("telegram:{}", REMEMBERED_UNCHANGED + 9)));
}

#[tokio::test]
async fn the_id_is_recorded_in_the_same_flush_as_the_first_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let once = AtMostOnce::new(store.clone(), "discord", TTL, Redelivery::Never);
    let seen_after_the_change = once
        .run("interaction-1", async {
            assert!(!store.event_seen("discord:interaction-1").unwrap());
            store
                .record("test", "changed", "a change".into(), None)
                .await
                .unwrap();
            // Before the run returns: the change carried the id with it.
            store.event_seen("discord:interaction-1").unwrap()
        })
        .await;
    assert_eq!(seen_after_the_change, Outcome::Ran(true));
}

/// Waits (bounded) until the first copy of `key` holds its in-flight claim.
async fn claimed(once: &AtMostOnce, key: &str) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while !once.in_flight.lock().unwrap().contains(key) {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the first copy claims the id");
}

#[tokio::test]
async fn a_copy_arriving_while_the_first_is_handled_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let once = AtMostOnce::new(open(&dir), "slack", TTL, Redelivery::Redelivered);
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let first = {
        let once = once.clone();
        tokio::spawn(async move {
            once.run("Ev01", async move {
                released.await.ok();
            })
            .await
        })
    };
    claimed(&once, "slack:Ev01").await;
    let copy = once
        .run("Ev01", async { unreachable!("a copy must not run") })
        .await;
    assert_eq!(copy, Outcome::Copy);
    assert_eq!(copy.ack(), Ack::Copy);
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap(), Outcome::Ran(()));
    assert!(
        once.in_flight.lock().unwrap().is_empty(),
        "the claim is released"
    );
}

#[tokio::test]
async fn the_acknowledgement_follows_the_outcome() {
    use crate::chat::acknowledge::Handling;
    let dir = tempfile::tempdir().unwrap();
    let once = AtMostOnce::new(open(&dir), "telegram", TTL, Redelivery::Redelivered);
    let handling = std::sync::Arc::new(Handling::<u32>::default());
    let mut posted = handling.wait_for(1);
    once.run_acknowledged("7:1", Some(handling.finished_on_drop(1)), async {})
        .await;
    assert_eq!(posted.try_recv(), Ok(()), "handled: the post is answered");
    let mut again = handling.wait_for(1);
    let seen = once
        .run_acknowledged("7:1", Some(handling.finished_on_drop(1)), async {})
        .await;
    assert_eq!(seen, Outcome::Seen);
    assert_eq!(again.try_recv(), Ok(()), "a redelivery is answered too");
}

#[tokio::test]
async fn a_copy_does_not_answer_for_the_first() {
    use crate::chat::acknowledge::Handling;
    let dir = tempfile::tempdir().unwrap();
    let once = AtMostOnce::new(open(&dir), "slack", TTL, Redelivery::Redelivered);
    let handling = std::sync::Arc::new(Handling::<String>::default());
    let mut first_post = handling.wait_for("Ev9".into());
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let first = {
        let (once, finished) = (once.clone(), handling.finished_on_drop("Ev9".into()));
        tokio::spawn(async move {
            once.run_acknowledged("Ev9", Some(finished), async move {
                released.await.ok();
            })
            .await
        })
    };
    claimed(&once, "slack:Ev9").await;
    let copy = once
        .run_acknowledged(
            "Ev9",
            Some(handling.finished_on_drop("Ev9".into())),
            async {},
        )
        .await;
    assert_eq!(copy, Outcome::Copy);
    assert!(
        first_post.try_recv().is_err(),
        "the copy does not answer for the first"
    );
    release.send(()).unwrap();
    assert_eq!(first.await.unwrap(), Outcome::Ran(()));
    assert_eq!(first_post.try_recv(), Ok(()));
}

#[tokio::test]
async fn an_answered_event_repeats_its_answer_after_a_reopen_and_a_copy_in_flight_is_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let runs = AtomicUsize::new(0);
    let note = || AuditNote::new("relay:h:alice", "relay_command", "restart");
    {
        let store = open(&dir);
        let once = AtMostOnce::new(store.clone(), "relay", TTL, Redelivery::Redelivered);
        let (entered, mut inside) = tokio::sync::mpsc::channel::<()>(1);
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let first = once.run_answered("h:e1", async {
            runs.fetch_add(1, Ordering::SeqCst);
            store
                .record("relay:h:alice", "changed", String::new(), None)
                .await
                .unwrap();
            entered.send(()).await.unwrap();
            released.await.unwrap();
            ("first answer".to_owned(), note())
        });
        let copy = async {
            inside.recv().await.unwrap();
            let copy = once
                .run_answered("h:e1", async { ("never".to_owned(), note()) })
                .await;
            release.send(()).unwrap();
            copy
        };
        let (first, copy) = tokio::join!(first, copy);
        assert_eq!(first, Outcome::Ran("first answer".to_owned()));
        assert_eq!(copy, Outcome::Copy, "a copy while the first is handled");
        let noted = store
            .audit(None)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "relay_command")
            .count();
        assert_eq!(noted, 1, "the note is kept with the answer, once");
    }
    let once = AtMostOnce::new(open(&dir), "relay", TTL, Redelivery::Redelivered);
    let again = once
        .run_answered("h:e1", async {
            runs.fetch_add(1, Ordering::SeqCst);
            ("second".to_owned(), note())
        })
        .await;
    assert_eq!(again, Outcome::Repeated("first answer".to_owned()));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_event_applied_before_its_answer_was_kept_is_seen_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // lull was killed between the change (which recorded the event) and keeping its answer.
    store
        .handling_event("relay:h:e9", TTL, async {
            store
                .record("relay:h:alice", "changed", String::new(), None)
                .await
                .unwrap()
        })
        .await;
    let once = AtMostOnce::new(store, "relay", TTL, Redelivery::Redelivered);
    let again = once
        .run_answered("h:e9", async {
            unreachable!("applied once already");
            #[expect(
                unreachable_code,
                reason = "the type the future must have, after the panic"
            )]
            (String::new(), AuditNote::new("", "", ""))
        })
        .await;
    assert_eq!(again, Outcome::Seen, "applied once, its answer lost");
}
