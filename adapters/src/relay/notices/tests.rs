//! The claim rules on their own: one claim wins, chats stay in order, lapsed claims give a
//! notice out again, progress steps of finished requests and notices nobody took are dropped.

use lull_plugin::{ChatRef, Reply};

use super::*;

const PLATFORM: &str = "relay:hermes";
const T0: u64 = 1_795_478_400_000;

fn rules() -> Rules<'static> {
    Rules {
        platform: PLATFORM,
        claim: Duration::from_secs(30),
        expiry: Duration::from_secs(3600),
    }
}

fn entry(seq: u64, platform: &str, chat: &str, text: &str) -> OutboxEntry {
    OutboxEntry {
        seq,
        created_at: Timestamp::from_unix_millis(T0),
        payload: serde_json::to_value(Notice {
            chat: ChatRef {
                platform: platform.into(),
                chat: chat.into(),
            },
            reply: Reply::markdown(text),
            request: Some("r7k2".into()),
            progress: text.contains("starting"),
        })
        .unwrap(),
    }
}

fn outbox() -> Vec<OutboxEntry> {
    vec![
        entry(1, PLATFORM, "telegram:-1", "starting now"),
        entry(2, PLATFORM, "telegram:-1", "back online"),
        entry(3, "telegram", "-1", "not the relay's"),
        entry(4, PLATFORM, "discord:9", "queued"),
    ]
}

fn seqs(taken: &Taken) -> Vec<u64> {
    taken.claimed.iter().map(|(seq, _)| *seq).collect()
}

fn at(now: Instant, after_secs: u64) -> (Instant, Timestamp) {
    (
        now + Duration::from_secs(after_secs),
        Timestamp::from_unix_millis(T0 + after_secs * 1000),
    )
}

#[tokio::test(start_paused = true)]
async fn one_claim_wins_and_a_lapsed_claim_gives_the_notices_out_again_in_order() {
    let mut claims = Claims::default();
    let start = Instant::now();
    let old = claims.take(outbox(), Some("old"), &rules(), at(start, 0), |_| false);
    assert_eq!(seqs(&old), [1, 2, 4], "the relay's notices, in order");
    assert!(old.dropped.is_empty());
    let new = claims.take(outbox(), Some("new"), &rules(), at(start, 1), |_| false);
    assert!(new.claimed.is_empty(), "claimed by the old consumer");
    assert_eq!(claims.next_lapse(), Some(start + Duration::from_secs(30)));
    // The old consumer acknowledged 1 only, then died: after the lapse the rest is the new one's.
    claims.release([1]);
    let outbox: Vec<OutboxEntry> = outbox().into_iter().skip(1).collect();
    let new = claims.take(outbox, Some("new"), &rules(), at(start, 31), |_| false);
    assert_eq!(seqs(&new), [2, 4]);
    // A late acknowledgement from the old consumer still counts; a stranger's does not.
    let now = start + Duration::from_secs(32);
    assert_eq!(claims.held_by_another(2, "old", now), None);
    assert_eq!(
        claims.held_by_another(2, "stranger", now),
        Some("new".into())
    );
}

#[tokio::test(start_paused = true)]
async fn a_chat_gives_out_nothing_past_a_notice_still_claimed() {
    let mut claims = Claims::default();
    let start = Instant::now();
    let first = vec![entry(1, PLATFORM, "telegram:-1", "first")];
    assert_eq!(
        seqs(&claims.take(first, Some("a"), &rules(), at(start, 0), |_| false)),
        [1]
    );
    // A second notice for the same chat arrives while the first is out; another chat's is free.
    let both = vec![
        entry(1, PLATFORM, "telegram:-1", "first"),
        entry(5, PLATFORM, "telegram:-1", "second"),
        entry(6, PLATFORM, "telegram:-2", "elsewhere"),
    ];
    let taken = claims.take(both.clone(), Some("a"), &rules(), at(start, 1), |_| false);
    assert_eq!(seqs(&taken), [6], "the chat waits for its first notice");
    claims.release([1]);
    let rest: Vec<OutboxEntry> = both.into_iter().skip(1).collect();
    let taken = claims.take(rest, Some("b"), &rules(), at(start, 2), |_| false);
    assert_eq!(seqs(&taken), [5]);
}

#[tokio::test(start_paused = true)]
async fn progress_of_a_finished_request_and_notices_nobody_took_are_dropped() {
    let mut claims = Claims::default();
    let start = Instant::now();
    let taken = claims.take(outbox(), None, &rules(), at(start, 10), |id| id == "r7k2");
    assert!(taken.claimed.is_empty(), "a sweep claims nothing");
    let dropped: Vec<(u64, Dropped)> = taken.dropped.iter().map(|d| (d.0, d.2)).collect();
    assert_eq!(dropped, [(1, Dropped::Superseded)]);
    let taken = claims.take(outbox(), Some("a"), &rules(), at(start, 3600), |_| false);
    assert!(taken.claimed.is_empty());
    assert_eq!(taken.dropped.len(), 3, "every relay notice expired");
    let unreadable = vec![OutboxEntry {
        seq: 9,
        created_at: Timestamp::from_unix_millis(T0),
        payload: serde_json::json!({"not": "a notice"}),
    }];
    let taken = claims.take(unreadable, Some("a"), &rules(), at(start, 0), |_| false);
    assert_eq!(taken.dropped[0].2, Dropped::Unreadable);
}

#[tokio::test(start_paused = true)]
async fn the_sweep_drops_a_notice_nobody_took_once_it_expired_and_audits_it() {
    use std::sync::Arc;

    use lull_queue::{QueueSettings, TokioClock};

    use crate::relay::{Relay, RelaySettings};

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TokioClock::new(Timestamp::from_unix_millis(T0)));
    let store =
        Store::open_with_clock(dir.path().join("db"), QueueSettings::default(), clock).unwrap();
    let relay = Relay::new(RelaySettings {
        name: "hermes".into(),
        admins: Vec::new(),
        agents: Vec::new(),
        notify_chats: Vec::new(),
        token: None,
        claim: Duration::from_secs(30),
        notice_expiry: Duration::from_secs(60),
    });
    let payload = entry(0, PLATFORM, "telegram:-1", "queued").payload;
    store.outbox_push(payload).await.unwrap();
    store
        .outbox_push(entry(0, "telegram", "-1", "not the relay's").payload)
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let sweep = tokio::spawn({
        let (relay, store, stop) = (relay.clone(), store.clone(), stop.clone());
        async move { relay.sweep_until(&store, &stop).await }
    });
    let pending = || store.outbox_pending(10).unwrap().len();
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(pending(), 2, "kept until it expires");
    tokio::time::timeout(Duration::from_secs(30), async {
        while pending() != 1 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("dropped soon after it expired");
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), sweep)
        .await
        .expect("the sweep ends when told")
        .unwrap();
    let expired: Vec<String> = store
        .audit(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "notice_expired")
        .map(|e| e.detail)
        .collect();
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert!(
        expired[0].contains("nobody acknowledged it within 1m"),
        "{expired:?}"
    );
}
