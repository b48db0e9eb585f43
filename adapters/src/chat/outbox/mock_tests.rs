//! The delivery loop against a recording sink, on a real store and tokio's paused clock: order,
//! acknowledgement, rate limits, backoff, permanent refusals, and waking on new notices.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lull_plugin::{ChatRef, Notice, Reply};
use lull_queue::{Actor, Ask, AskDraft, AskRules, Kind, Origin, QueueSettings, Role, Store};
use tokio::time::Instant;

use super::*;
use lull_queue::FIRST_BACKOFF;

/// Answers each send with the next scripted outcome (success when the script is empty) and
/// records what it was asked to send, and when.
#[derive(Clone, Default)]
struct Recording {
    script: Arc<Mutex<Vec<Result<(), SendError>>>>,
    sent: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl NoticeSink for Recording {
    fn platform(&self) -> &str {
        "telegram"
    }

    async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        self.sent
            .lock()
            .unwrap()
            .push((notice.reply.plain.clone(), Instant::now()));
        let mut script = self.script.lock().unwrap();
        if script.is_empty() {
            Ok(())
        } else {
            script.remove(0)
        }
    }
}

impl Recording {
    fn texts(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _)| t.clone())
            .collect()
    }
}

fn notice(platform: &str, text: &str) -> serde_json::Value {
    serde_json::to_value(Notice {
        chat: ChatRef {
            platform: platform.into(),
            chat: "-100".into(),
        },
        reply: Reply::markdown(text),
        request: None,
        progress: false,
    })
    .unwrap()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("db"), QueueSettings::default()).unwrap();
    (dir, store)
}

/// A store whose outbox holds these `(platform, text)` notices, in order.
async fn store_with(notices: &[(&str, &str)]) -> (tempfile::TempDir, Store) {
    let (dir, store) = store();
    for (platform, text) in notices {
        store.outbox_push(notice(platform, text)).await.unwrap();
    }
    (dir, store)
}

#[tokio::test(start_paused = true)]
async fn pending_notices_go_out_in_order_and_leave_the_outbox() {
    let (_dir, store) = store_with(&[
        ("telegram", "one"),
        ("discord", "not ours"),
        ("telegram", "two"),
    ])
    .await;
    let sink = Recording::default();
    deliver_pending(&store, &sink).await;
    assert_eq!(sink.texts(), ["one", "two"]);
    let left = store.outbox_pending(10).unwrap();
    assert_eq!(
        left.len(),
        1,
        "another platform's notice stays for its adapter"
    );
    assert_eq!(drop_undeliverable(&store, &["telegram"]).await.unwrap(), 1);
    assert!(store.outbox_pending(10).unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn rate_limits_are_waited_out_and_network_errors_back_off() {
    let (_dir, store) = store_with(&[("telegram", "hello")]).await;
    let sink = Recording::default();
    *sink.script.lock().unwrap() = vec![
        Err(SendError::RetryAfter(Duration::from_secs(7))),
        Err(SendError::Transient("connection reset".into())),
        Err(SendError::Transient("connection reset".into())),
    ];
    deliver_pending(&store, &sink).await;
    let sent = sink.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 4, "three refusals, then accepted");
    let gaps: Vec<Duration> = sent.windows(2).map(|w| w[1].1 - w[0].1).collect();
    assert_eq!(
        gaps,
        [Duration::from_secs(7), FIRST_BACKOFF, FIRST_BACKOFF * 2],
        "retry_after as told, then doubling backoff"
    );
    assert!(store.outbox_pending(10).unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_permanent_refusal_is_dropped_and_audited_without_blocking_the_rest() {
    let (_dir, store) =
        store_with(&[("telegram", "to a deleted chat"), ("telegram", "next")]).await;
    let sink = Recording::default();
    *sink.script.lock().unwrap() = vec![Err(SendError::Permanent("chat not found".into()))];
    deliver_pending(&store, &sink).await;
    assert_eq!(sink.texts(), ["to a deleted chat", "next"]);
    assert!(store.outbox_pending(10).unwrap().is_empty());
    let audit = store.audit(None).unwrap();
    let dropped = audit.iter().find(|e| e.action == "notice_dropped").unwrap();
    assert!(dropped.detail.contains("chat not found"), "{dropped:?}");
}

#[tokio::test(start_paused = true)]
async fn the_loop_wakes_for_notices_written_with_queue_events_and_stops_when_told() {
    let (_dir, store) = store();
    let notify = vec![ChatRef {
        platform: "telegram".into(),
        chat: "-100".into(),
    }];
    store.set_notice_hook(lull_plugin::notice_hook(notify, Duration::from_secs(3600)));
    let sink = Recording::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let delivering = tokio::spawn(deliver(store.clone(), sink.clone(), async {
        stopped.await.ok();
    }));
    tokio::task::yield_now().await;
    let draft = AskDraft {
        kind: Kind::Restart,
        reason: "new tool".into(),
        idle: None,
        ignore_windows: false,
        actor: Actor {
            platform: "api".into(),
            chat: None,
            user_id: "ops".into(),
            display: "ops".into(),
            role: Role::Admin,
            origin: Origin::Api,
            via: None,
        },
    };
    let rules = AskRules {
        default_idle: Duration::from_secs(60),
        min_agent_idle: Duration::ZERO,
    };
    store
        .submit(Ask::new(draft, &rules).unwrap())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        while sink.texts().is_empty() || !store.outbox_pending(1).unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the queued notice was delivered");
    assert!(sink.texts()[0].contains("new tool"), "{:?}", sink.texts());
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(60), delivering)
        .await
        .expect("the loop stops when told")
        .unwrap();
}

/// A sink whose send waits until the test lets it finish.
struct Slow {
    entered: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

impl NoticeSink for Slow {
    fn platform(&self) -> &str {
        "telegram"
    }

    async fn send(&self, _: &Notice) -> Result<(), SendError> {
        self.entered.notify_one();
        self.release.notified().await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn stopping_lets_the_send_in_flight_finish_and_leaves_the_rest() {
    let (_dir, store) = store_with(&[("telegram", "in flight"), ("telegram", "later")]).await;
    let (entered, release) = (
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(tokio::sync::Notify::new()),
    );
    let sink = Slow {
        entered: entered.clone(),
        release: release.clone(),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let delivering = tokio::spawn(deliver(store.clone(), sink, async {
        stopped.await.ok();
    }));
    entered.notified().await;
    stop.send(()).unwrap();
    tokio::task::yield_now().await;
    assert!(
        !delivering.is_finished(),
        "the send in flight is not cut off"
    );
    release.notify_one();
    tokio::time::timeout(Duration::from_secs(60), delivering)
        .await
        .expect("stops after the send in flight")
        .unwrap();
    let left: Vec<String> = store
        .outbox_pending(10)
        .unwrap()
        .into_iter()
        .map(|e| e.payload["reply"]["plain"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        left,
        ["later"],
        "the sent one left the outbox; the next waits for the restart"
    );
}

#[tokio::test(start_paused = true)]
async fn a_progress_step_of_a_finished_request_is_dropped_and_audited_not_sent() {
    let (_dir, store) = store();
    let admin = lull_queue::Actor {
        platform: "telegram".into(),
        chat: Some("-100".into()),
        user_id: "1".into(),
        display: "alice".into(),
        role: lull_queue::Role::Admin,
        origin: lull_queue::Origin::Chat,
        via: None,
    };
    let ask = |reason: &str| {
        lull_queue::Ask::new(
            lull_queue::AskDraft {
                kind: lull_queue::Kind::Restart,
                reason: reason.into(),
                idle: None,
                ignore_windows: false,
                actor: admin.clone(),
            },
            &lull_queue::AskRules {
                default_idle: std::time::Duration::from_secs(0),
                min_agent_idle: std::time::Duration::ZERO,
            },
        )
        .expect("a valid ask")
    };
    let finished = store.submit(ask("done")).await.unwrap().request;
    store
        .cancel(&finished.short_id.to_string(), admin.clone())
        .await
        .unwrap();
    let open = store.submit(ask("open")).await.unwrap().request;
    let progress = |request: &lull_queue::Request, text: &str| {
        let mut value = notice("telegram", text);
        value["request"] = request.short_id.to_string().into();
        value["progress"] = true.into();
        value
    };
    store
        .outbox_push(progress(&finished, "starting now (stale)"))
        .await
        .unwrap();
    store
        .outbox_push(progress(&open, "starting now"))
        .await
        .unwrap();
    let sink = Recording::default();
    deliver_pending(&store, &sink).await;
    assert_eq!(sink.texts(), ["starting now"]);
    assert!(store.outbox_pending(10).unwrap().is_empty());
    let superseded = store
        .audit(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "notice_superseded")
        .count();
    assert_eq!(superseded, 1);
}
