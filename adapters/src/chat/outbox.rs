//! Delivery of the durable outbox to one chat platform: each pending notice for the platform is
//! sent, and leaves the outbox only once the platform accepted it. Rate limits are honoured,
//! network trouble is retried with backoff, and a notice the platform will never accept (a chat
//! that does not exist, a bot that was removed) is dropped with a warning and an audit entry
//! rather than blocking every notice behind it.

#[cfg(test)]
mod mock_tests;

use std::future::Future;
use std::time::Duration;

use lull_plugin::Notice;
use lull_queue::{OutboxEntry, Store};

use lull_queue::Backoff;

/// Why a platform did not take a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Rate limited: try again after this long (Telegram's 429 `retry_after`).
    RetryAfter(Duration),
    /// Worth retrying: network errors, the platform's server errors.
    Transient(String),
    /// Never going to work (the chat does not exist, the bot was removed from it).
    Permanent(String),
}

/// A chat platform that notices can be sent to.
pub trait NoticeSink: Send + Sync {
    /// `telegram`, `discord`, `slack`: notices whose chat is on this platform are this sink's.
    fn platform(&self) -> &str;
    /// Sends one notice to its chat.
    fn send(&self, notice: &Notice) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// The pending entries addressed to `platform`, oldest first. The outbox is small (notices
/// leave it within seconds), so it is read whole rather than paged.
fn pending_for(
    store: &Store,
    platform: &str,
) -> Result<Vec<(OutboxEntry, Option<Notice>)>, lull_queue::Error> {
    Ok(store
        .outbox_pending(usize::MAX)?
        .into_iter()
        .filter_map(|entry| {
            match serde_json::from_value::<Notice>(entry.payload.clone()) {
                Ok(notice) if notice.chat.platform == platform => Some((entry, Some(notice))),
                Ok(_) => None,
                // Nobody can deliver what nobody can read; the first sink to see it drops it.
                Err(_) => Some((entry, None)),
            }
        })
        .collect())
}

/// Delivers `sink`'s notices until `stop` resolves: everything pending now, then whatever each
/// queue event adds (notices are written with the event that caused them). A send in flight
/// when `stop` resolves is finished, not cut off, so a notice the platform took is not sent
/// again after a restart.
pub async fn deliver<S: NoticeSink>(store: Store, sink: S, stop: impl Future<Output = ()>) {
    let mut events = store.subscribe();
    tokio::pin!(stop);
    loop {
        if deliver_pending_until(&store, &sink, &mut stop).await == Delivery::Stopped {
            return;
        }
        tokio::select! {
            () = &mut stop => return,
            // A lagged receiver only means several events came at once: look again either way.
            received = events.recv() => {
                if matches!(received, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    return;
                }
            }
        }
    }
}

/// Whether delivery went through the outbox or was told to stop.
#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    Done,
    Stopped,
}

type Stop<'a, F> = std::pin::Pin<&'a mut F>;

/// Whether `stop` has resolved, without waiting. Once it has, it must not be polled again.
fn is_stopped<F: Future<Output = ()>>(stop: &mut Stop<'_, F>) -> bool {
    let waker = std::task::Waker::noop();
    stop.as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
        .is_ready()
}

/// Sleeps `wait`, or less if `stop` resolves first.
async fn sleep_unless_stopped<F: Future<Output = ()>>(
    wait: Duration,
    stop: &mut Stop<'_, F>,
) -> Delivery {
    tokio::select! {
        () = tokio::time::sleep(wait) => Delivery::Done,
        () = stop.as_mut() => Delivery::Stopped,
    }
}

/// Sends every notice pending for `sink` now, in order. Returns when all have left the outbox.
pub async fn deliver_pending<S: NoticeSink>(store: &Store, sink: &S) {
    let never = std::future::pending::<()>();
    tokio::pin!(never);
    deliver_pending_until(store, sink, &mut never).await;
}

async fn deliver_pending_until<S: NoticeSink, F: Future<Output = ()>>(
    store: &Store,
    sink: &S,
    stop: &mut Stop<'_, F>,
) -> Delivery {
    let mut backoff = Backoff::default();
    let pending = loop {
        match pending_for(store, sink.platform()) {
            Ok(pending) => break pending,
            Err(error) => {
                tracing::error!(%error, "cannot read the outbox; trying again");
                if sleep_unless_stopped(backoff.next_wait(), stop).await == Delivery::Stopped {
                    return Delivery::Stopped;
                }
            }
        }
    };
    for (entry, notice) in pending {
        if is_stopped(stop) {
            return Delivery::Stopped;
        }
        match notice {
            Some(notice) if superseded(store, &notice) => {
                tracing::info!(
                    seq = entry.seq,
                    "dropping a progress notice of a request that has finished"
                );
                let note = lull_queue::AuditNote::new(
                    "lull",
                    "notice_superseded",
                    format!(
                        "n{} for {}:{}: its request finished before it was delivered",
                        entry.seq, notice.chat.platform, notice.chat.chat
                    ),
                );
                if let Err(error) = store.outbox_ack_noted(entry.seq, note).await {
                    tracing::error!(%error, "could not drop a superseded notice; it stays pending");
                }
                continue;
            }
            Some(notice) => {
                if send_until_settled(store, sink, &notice, stop).await == Delivery::Stopped {
                    return Delivery::Stopped;
                }
            }
            None => {
                tracing::warn!(
                    seq = entry.seq,
                    "dropping an outbox entry that is not a notice"
                );
            }
        }
        if acknowledge(store, entry.seq, stop).await == Delivery::Stopped {
            return Delivery::Stopped;
        }
    }
    Delivery::Done
}

/// Sends `notice` until the platform accepts it or refuses it for good (`Done`), or `stop`
/// resolves while waiting to try again (`Stopped`: the notice stays in the outbox).
async fn send_until_settled<S: NoticeSink, F: Future<Output = ()>>(
    store: &Store,
    sink: &S,
    notice: &Notice,
    stop: &mut Stop<'_, F>,
) -> Delivery {
    let mut backoff = Backoff::default();
    loop {
        let wait = match sink.send(notice).await {
            Ok(()) => return Delivery::Done,
            Err(SendError::RetryAfter(wait)) => {
                tracing::info!(chat = %notice.chat.chat, wait_seconds = wait.as_secs(), "rate limited; waiting as asked");
                wait
            }
            Err(SendError::Transient(error)) => {
                let wait = backoff.next_wait();
                tracing::warn!(chat = %notice.chat.chat, %error, retry_in_seconds = wait.as_secs(), "could not send a notice; will retry");
                wait
            }
            Err(SendError::Permanent(error)) => {
                tracing::warn!(chat = %notice.chat.chat, %error, "the platform refused a notice for good; dropping it");
                let detail = format!(
                    "notice for {}:{} about {} dropped: {error}",
                    notice.chat.platform,
                    notice.chat.chat,
                    notice.request.as_deref().unwrap_or("no request")
                );
                if let Err(error) = store
                    .record(sink.platform(), "notice_dropped", detail, None)
                    .await
                {
                    tracing::error!(%error, "could not audit a dropped notice");
                }
                return Delivery::Done;
            }
        };
        if sleep_unless_stopped(wait, stop).await == Delivery::Stopped {
            return Delivery::Stopped;
        }
    }
}

/// Removes a delivered notice from the outbox, retrying until it is removed or `stop` resolves.
/// Not removed means sent again after the next start: a duplicate, never a loss.
async fn acknowledge<F: Future<Output = ()>>(
    store: &Store,
    seq: u64,
    stop: &mut Stop<'_, F>,
) -> Delivery {
    let mut backoff = Backoff::default();
    while let Err(error) = store.outbox_ack(seq).await {
        tracing::error!(%error, seq, "cannot remove a delivered notice from the outbox; trying again");
        if sleep_unless_stopped(backoff.next_wait(), stop).await == Delivery::Stopped {
            return Delivery::Stopped;
        }
    }
    Delivery::Done
}

/// Whether the request `short_id` has finished (or is long gone: retention removed it). A
/// request that cannot be read counts as not finished: its notice is delivered.
pub(crate) fn request_finished(store: &Store, short_id: &str) -> bool {
    match store.find(short_id) {
        Ok(request) => request.state.is_finished(),
        Err(lull_queue::Error::NotFound { .. }) => true,
        Err(_) => false,
    }
}

/// Whether `notice` is a progress step ("starting now") of a request that has since finished:
/// shown after the outcome it led to, it would only confuse (lull restarted itself before the
/// platform took it, say).
fn superseded(store: &Store, notice: &Notice) -> bool {
    notice.progress
        && notice
            .request
            .as_deref()
            .is_some_and(|id| request_finished(store, id))
}

/// Drops (with a warning) notices for platforms no adapter in this process delivers, so a
/// section removed from the config does not leave them pending forever.
pub async fn drop_undeliverable(
    store: &Store,
    platforms: &[&str],
) -> Result<usize, lull_queue::Error> {
    let mut dropped = 0;
    for entry in store.outbox_pending(usize::MAX)? {
        let platform = serde_json::from_value::<Notice>(entry.payload.clone())
            .map(|n| n.chat.platform)
            .unwrap_or_default();
        if !platforms.contains(&platform.as_str()) {
            tracing::warn!(seq = entry.seq, platform = %platform, "dropping a notice for a platform that is not configured");
            store.outbox_ack(entry.seq).await?;
            dropped += 1;
        }
    }
    Ok(dropped)
}
