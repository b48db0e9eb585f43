//! Notices: queue events turned into messages for chats — one per chat (the requesters' chats
//! and the notify chats, deduplicated) — and written to the queue's durable outbox, from which an
//! adapter delivers them and confirms.

use std::time::Duration;

use lull_queue::{QueueEvent, Request, State, Timestamp};
use serde::{Deserialize, Serialize};

use crate::prompt::{approval_buttons, escalation_buttons};
use crate::reply::{Reply, human, name, requesters};

/// A chat on a platform.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChatRef {
    /// `telegram`, `discord`, `slack`.
    pub platform: String,
    /// The chat or channel id.
    pub chat: String,
}

/// A message for one chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Where it goes.
    pub chat: ChatRef,
    /// What it says.
    pub reply: Reply,
    /// The request it is about (short id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// A step on the way ("starting now", "restarts now"): stale once the request finished, so
    /// a copy not yet delivered by then is dropped rather than shown after the outcome.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub progress: bool,
}

/// Who should hear about an event.
enum Audience {
    /// The requesters' chats and the notify chats.
    Everyone,
    /// The notify chats only (admins' business), except chats whose requesters already got a reply.
    NotifyOnly,
    /// The notify chats, or the requesters' chats if there are none (someone must be asked).
    Admins,
}

fn requester_chats(request: &Request) -> Vec<ChatRef> {
    request
        .requested_by
        .iter()
        .filter_map(|r| {
            r.chat.as_ref().map(|chat| ChatRef {
                platform: r.platform.clone(),
                chat: chat.clone(),
            })
        })
        .collect()
}

/// The notices for `event`, at most one per chat.
pub fn notices_for(
    event: &QueueEvent,
    notify: &[ChatRef],
    max_wait: Duration,
    now: Timestamp,
) -> Vec<Notice> {
    let Some((audience, reply)) = describe(event, max_wait, now) else {
        return Vec::new();
    };
    let requesters = event.request().map(requester_chats).unwrap_or_default();
    let mut targets: Vec<ChatRef> = match audience {
        Audience::Everyone => requesters.iter().chain(notify).cloned().collect(),
        Audience::NotifyOnly => notify
            .iter()
            .filter(|c| !requesters.contains(c))
            .cloned()
            .collect(),
        Audience::Admins if notify.is_empty() => requesters,
        Audience::Admins => notify.to_vec(),
    };
    let mut seen = std::collections::HashSet::new();
    targets.retain(|c| seen.insert(c.clone()));
    let request = event.request().map(|r| r.short_id.to_string());
    let progress = matches!(
        event,
        QueueEvent::Starting { .. }
            | QueueEvent::Restarting { .. }
            | QueueEvent::AwaitingRestart { .. }
    );
    targets
        .into_iter()
        .map(|chat| Notice {
            chat,
            reply: reply.clone(),
            request: request.clone(),
            progress,
        })
        .collect()
}

fn describe(event: &QueueEvent, max_wait: Duration, now: Timestamp) -> Option<(Audience, Reply)> {
    let md = Reply::markdown;
    Some(match event {
        QueueEvent::Queued { request } if request.state == State::AwaitingApproval => (
            Audience::Admins,
            md(format!(
                "{} asks for {}{}. It waits for an admin's approval: approve or reject.",
                requesters(request),
                name(request),
                reason(request)
            ))
            .with_buttons(approval_buttons(&request.short_id)),
        ),
        QueueEvent::Queued { request } => (
            Audience::NotifyOnly,
            md(format!(
                "{} queued {}{}; it runs when the gateway is idle.",
                requesters(request),
                name(request),
                reason(request)
            )),
        ),
        QueueEvent::Approved { request } => (
            Audience::Everyone,
            md(format!(
                "{} was approved; it runs when the gateway is idle.",
                name(request)
            )),
        ),
        QueueEvent::Rejected { request } => (
            Audience::Everyone,
            md(format!("{} was rejected.", name(request))),
        ),
        QueueEvent::Expired { request } => (
            Audience::Everyone,
            md(format!("{} was rejected: approval expired.", name(request))),
        ),
        QueueEvent::Cancelled { request } => (
            Audience::Everyone,
            md(format!("{} was cancelled.", name(request))),
        ),
        QueueEvent::Starting { request } => (
            Audience::Everyone,
            md(format!(
                "{} is starting now: no agent run is live and the gateway has been idle for {}.",
                name(request),
                human(Duration::from_secs(request.idle_seconds))
            )),
        ),
        QueueEvent::Restarting { request } => (
            Audience::Everyone,
            md(format!(
                "{}: the update is done; the gateway restarts now.",
                name(request)
            )),
        ),
        QueueEvent::AwaitingRestart {
            request,
            window_opens_local,
            ..
        } => (
            Audience::Everyone,
            md(match window_opens_local {
                Some(opens) => format!(
                    "{}: the update is installed; the gateway keeps serving until the maintenance window opens ({opens}), then restarts as soon as it may (no agent run live, not paused or draining).",
                    name(request)
                ),
                None => format!(
                    "{}: the update is installed; the gateway keeps serving and restarts as soon as it may (no agent run live, not paused or draining, inside a maintenance window if any are configured).",
                    name(request)
                ),
            }),
        ),
        QueueEvent::Succeeded { request } => (Audience::Everyone, md(succeeded(request))),
        QueueEvent::Failed { request } => (Audience::Everyone, md(failed(request))),
        QueueEvent::Interrupted { request } => (
            Audience::Everyone,
            md(format!(
                "{} was interrupted: {}. It will not be re-run on its own; ask again if it is still needed.",
                name(request),
                message(request).unwrap_or("lull stopped while it ran".into())
            )),
        ),
        QueueEvent::Escalated { request, blockers } => {
            let kinds: Vec<&str> = blockers.iter().map(|b| b.kind()).collect();
            (
                Audience::Admins,
                md(format!(
                    "{} has waited over {} and is still blocked ({}). It will never be forced. Keep waiting or cancel?",
                    name(request),
                    human(max_wait),
                    kinds.join(", ")
                ))
                .with_buttons(escalation_buttons(&request.short_id)),
            )
        }
        QueueEvent::Paused { pause } => (
            Audience::NotifyOnly,
            md(match pause.until {
                Some(until) => format!("Maintenance paused by {} until {until}.", pause.by),
                None => format!("Maintenance paused by {} until resumed.", pause.by),
            }),
        ),
        QueueEvent::Resumed { by } => (
            Audience::NotifyOnly,
            md(format!("Maintenance resumed ({by}).")),
        ),
        QueueEvent::CrashLoop { failures, .. } => (
            Audience::NotifyOnly,
            md(format!(
                "⚠ {failures} health checks failed in a row after restarts: maintenance is paused. Check the gateway, then `/maintenance resume`."
            )),
        ),
        QueueEvent::Wedged { session, since } => (
            Audience::NotifyOnly,
            md(format!(
                "The agent run in {session} has been live for {} and looks stuck. It still holds maintenance back; an admin can `/maintenance release {session}`.",
                human(now.saturating_since(*since))
            )),
        ),
        QueueEvent::FleetSlotKept { reason } => (
            Audience::NotifyOnly,
            md(format!(
                "⚠ This replica keeps its fleet slot: {reason}. Other replicas wait for it. Check the gateway, then `/maintenance release fleet`."
            )),
        ),
        QueueEvent::FleetSlotLost { detail } => (
            Audience::NotifyOnly,
            md(format!("⚠ This replica lost its fleet slot: {detail}.")),
        ),
        QueueEvent::FleetSlotReleased { by } => (
            Audience::NotifyOnly,
            md(format!(
                "The fleet slot of this replica was released ({by})."
            )),
        ),
        QueueEvent::Merged { .. }
        | QueueEvent::Withdrawn { .. }
        | QueueEvent::Waiting { .. }
        | QueueEvent::Drain { .. }
        | QueueEvent::LeaseExpired { .. }
        | QueueEvent::Released { .. } => return None,
    })
}

fn reason(request: &Request) -> String {
    if request.reason.is_empty() {
        String::new()
    } else {
        format!(" ({})", request.reason)
    }
}

fn message(request: &Request) -> Option<String> {
    request.result.as_ref().and_then(|r| r.message.clone())
}

fn succeeded(request: &Request) -> String {
    let result = request.result.clone().unwrap_or_default();
    match (result.restarted, result.downtime_ms) {
        (true, Some(ms)) => format!(
            "Back online: {} succeeded (downtime {}).",
            name(request),
            human(Duration::from_millis(ms))
        ),
        (true, None) => format!("Back online: {} succeeded.", name(request)),
        (false, _) => format!(
            "{} succeeded: {}.",
            name(request),
            result.message.unwrap_or_default()
        ),
    }
}

fn failed(request: &Request) -> String {
    let result = request.result.clone().unwrap_or_default();
    let mut text = format!("{} failed", name(request));
    if let Some(message) = result.message {
        text.push_str(&format!(": {message}"));
    }
    if let Some(tail) = result.output_tail.filter(|t| !t.trim().is_empty()) {
        // The tail was redacted by the queue before it was stored.
        let last: Vec<&str> = tail
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        text.push_str(&format!("\n```\n{}\n```", last.join("\n")));
    }
    text
}
