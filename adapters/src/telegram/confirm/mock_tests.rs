//! The poller against a fake Bot API on loopback that serves scripted `getUpdates` batches and
//! records each offset asked for: a batch is confirmed only once handled, and an update that
//! could not be handled is asked for again instead of confirmed; one still being handled past
//! the bound holds the offset while the updates after it are heard.

use std::sync::Mutex;

use axum::extract::State;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::*;
use crate::chat::acknowledge::Ack;

/// The offsets asked for, in order, and the batches still to serve (then empty ones).
#[derive(Default)]
struct FakeBotApi {
    offsets: Mutex<Vec<Option<i64>>>,
    batches: Mutex<Vec<Vec<u32>>>,
    asked: Notify,
}

fn update(id: u32) -> Value {
    json!({"update_id": id, "message": {
        "message_id": id, "date": 1_795_478_400,
        "chat": {"id": 42, "type": "private", "first_name": "A"},
        "from": {"id": 42, "is_bot": false, "first_name": "A"},
        "text": "/maintenance status",
    }})
}

async fn get_updates(
    State(fake): State<Arc<FakeBotApi>>,
    body: axum::body::Bytes,
) -> axum::Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    fake.offsets.lock().unwrap().push(body["offset"].as_i64());
    let batch = {
        let mut batches = fake.batches.lock().unwrap();
        if batches.is_empty() {
            Vec::new()
        } else {
            batches.remove(0)
        }
    };
    fake.asked.notify_one();
    if batch.is_empty() {
        // A long poll that finds nothing: answer after a moment, as Telegram would.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    axum::Json(json!({"ok": true, "result": batch.into_iter().map(update).collect::<Vec<_>>()}))
}

async fn start(batches: Vec<Vec<u32>>) -> (Arc<FakeBotApi>, Bot) {
    let fake = Arc::new(FakeBotApi {
        batches: Mutex::new(batches),
        ..FakeBotApi::default()
    });
    let router = axum::Router::new()
        // teloxide names the method GetUpdates in the path; the Bot API takes any case.
        .route("/{bot}/GetUpdates", axum::routing::post(get_updates))
        .with_state(fake.clone());
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", tcp.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(tcp, router).await });
    let bot = Bot::new("1:test").set_api_url(url.parse().unwrap());
    (fake, bot)
}

/// Waits (bounded) until the fake has been asked `n` times.
async fn asked(fake: &FakeBotApi, n: usize) -> Vec<Option<i64>> {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let notified = fake.asked.notified();
            if fake.offsets.lock().unwrap().len() >= n {
                return fake.offsets.lock().unwrap().clone();
            }
            notified.await;
        }
    })
    .await
    .expect("the poller asks again")
}

fn settle(handling: &Arc<Handling<UpdateId>>, update: &Update, ack: Option<Ack>) {
    let mut finished = handling.finished_on_drop(update.id);
    if let Some(ack) = ack {
        finished.settle(ack);
    }
}

#[tokio::test]
async fn a_batch_is_confirmed_once_handled_and_a_failed_update_is_asked_for_again() {
    let (fake, bot) = start(vec![vec![5, 6], vec![5, 6], vec![7]]).await;
    let handling = Arc::new(Handling::default());
    let mut listener = ConfirmAfterHandling::new(bot, Duration::ZERO, handling.clone());
    let mut updates = listener.as_stream();

    let (five, six) = (
        updates.next().await.unwrap().unwrap(),
        updates.next().await.unwrap().unwrap(),
    );
    assert_eq!((five.id.0, six.id.0), (5, 6));
    assert_eq!(
        asked(&fake, 1).await,
        [Some(0)],
        "nothing confirmed before the first batch"
    );
    // 6 is handled, 5 is not (its handling was cancelled, or the store could not be read).
    settle(&handling, &six, Some(Ack::Handled));
    settle(&handling, &five, None);

    // The poller asks for 5 again rather than past it; 6, handled already, comes back with it
    // but is not given out again.
    let again = updates.next().await.unwrap().unwrap();
    assert_eq!(again.id.0, 5);
    assert_eq!(asked(&fake, 2).await, [Some(0), Some(5)]);
    settle(&handling, &again, Some(Ack::Handled));

    // Both handled: the next poll confirms past them.
    let seven = updates.next().await.unwrap().unwrap();
    assert_eq!(seven.id.0, 7);
    assert_eq!(asked(&fake, 3).await, [Some(0), Some(5), Some(7)]);
}

#[tokio::test]
async fn an_overdue_update_is_not_confirmed_until_handled_and_the_ones_after_it_are_heard() {
    let (fake, bot) = start(vec![vec![5, 6], vec![5, 6, 7], vec![5]]).await;
    let handling = Arc::new(Handling::overdue_after(Duration::from_millis(100)));
    let mut listener = ConfirmAfterHandling::new(bot, Duration::ZERO, handling.clone());
    let mut updates = listener.as_stream();

    let five = updates.next().await.unwrap().unwrap();
    let six = updates.next().await.unwrap().unwrap();
    settle(&handling, &six, Some(Ack::Handled));
    // 5's handling is stuck: its guard stays alive past the bound.
    let mut stuck = handling.finished_on_drop(five.id);

    // Overdue: the poller goes on, asking from 5 (not past it), and hears 7; 5 and 6 come back
    // but are not handed out again (5's copies would pile up in its chat's queue).
    let seven = updates.next().await.unwrap().unwrap();
    assert_eq!(seven.id.0, 7);
    assert_eq!(asked(&fake, 2).await, [Some(0), Some(5)]);
    settle(&handling, &seven, Some(Ack::Handled));

    // Still stuck: the next polls still ask from 5, and give out nothing. Once it was handled,
    // the next poll confirms past everything heard.
    let release = {
        let fake = fake.clone();
        tokio::spawn(async move {
            assert_eq!(asked(&fake, 3).await[2], Some(5));
            stuck.settle(Ack::Handled);
            drop(stuck);
        })
    };
    let next = tokio::time::timeout(Duration::from_secs(4), updates.next()).await;
    assert!(next.is_err(), "nothing more to hear: {next:?}");
    release.await.unwrap();
    assert_eq!(asked(&fake, 4).await.last(), Some(&Some(8)));
}
