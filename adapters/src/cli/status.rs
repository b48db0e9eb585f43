//! `lull status [--json] [--watch]`: the status as printed, from the server or, without one,
//! from what is stored (and the one blocker that matters then: nothing reports).

use std::time::Duration;

use lull_queue::{Status, Store};

use super::target::{Target, api, queue_failure, target};
use super::{EXIT_ERROR, Failure};
use crate::profile::Profile;

/// How often `status --watch` looks again.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Redraws the status until Ctrl-C. Each look finds the server anew (or opens the store for a
/// moment and releases it), so a watch never keeps `lull serve` from starting, and follows it
/// when it does.
pub(super) async fn watch_status(profile: &Profile, json: bool) -> Result<(), Failure> {
    let mut screen = crate::terminal::Screen::stdout();
    // Registered before the first look, and awaited during looks too, so a Ctrl-C at any
    // moment ends the watch cleanly.
    let mut interrupted = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| Failure::new(EXIT_ERROR, format!("cannot watch for Ctrl-C: {e}")))?;
    loop {
        let look = async {
            let target = target(profile).await?;
            status_text(profile, &target, json).await
        };
        let text = tokio::select! {
            looked = look => match looked {
                Ok(text) => text,
                // Passing trouble (a server starting holds the store for a moment): shown, and
                // looked at again, rather than ending the watch.
                Err(failure) => format!("lull: {} (looking again every second)", failure.message),
            },
            _ = interrupted.recv() => return Ok(()),
        };
        screen.show(&text);
        tokio::select! {
            () = tokio::time::sleep(WATCH_EVERY) => {}
            _ = interrupted.recv() => return Ok(()),
        }
    }
}

/// The status as printed: JSON, or the text people read (saying when nothing runs because no
/// server does).
pub(super) async fn status_text(
    profile: &Profile,
    target: &Target,
    json: bool,
) -> Result<String, Failure> {
    let status: Status = match target {
        Target::Server(socket) => {
            serde_json::from_value(api(socket, "GET", "/v1/status", None).await?).map_err(|e| {
                Failure::new(
                    EXIT_ERROR,
                    format!("unexpected status from the server: {e}"),
                )
            })?
        }
        Target::Direct(store, config) => {
            offline_status(profile, store, &config.maintenance.windows()).map_err(queue_failure)?
        }
    };
    if json {
        return Ok(serde_json::to_string_pretty(&status).unwrap_or_default());
    }
    let mut text = String::new();
    if matches!(target, Target::Direct(..)) {
        text.push_str(&format!(
            "(lull serve is not running for profile {:?}: nothing runs until it starts)\n",
            profile.name
        ));
    }
    let now = lull_queue::Timestamp::from_system_time(std::time::SystemTime::now());
    text.push_str(&lull_plugin::status_reply(&status, now).plain);
    if matches!(target, Target::Server(_)) {
        text.push_str(&sources_line(&status, now));
    }
    Ok(text)
}

/// The activity sources and when each was last heard: what tells an operator the gateway is
/// connected (chat replies leave it out; the CLI is the operator's view).
pub(super) fn sources_line(status: &Status, now: lull_queue::Timestamp) -> String {
    if status.sources.is_empty() {
        return "\nSources: none has reported (requests wait on no_activity_source; `lull doctor` says more)".into();
    }
    let heard: Vec<String> = status
        .sources
        .iter()
        .map(|s| {
            format!(
                "{} ({}s ago, by {})",
                s.name,
                now.saturating_since(s.last_seen).as_secs(),
                if s.announced_by.is_empty() {
                    "?"
                } else {
                    &s.announced_by
                }
            )
        })
        .collect();
    format!("\nSources: {}", heard.join(", "))
}

/// Status without a server: what is stored, and the one blocker that matters: nothing reports.
pub(super) fn offline_status(
    profile: &Profile,
    store: &Store,
    windows: &lull_queue::Windows,
) -> Result<Status, lull_queue::Error> {
    let open: Vec<_> = store.open_request()?.into_iter().collect();
    let pause = store.pause()?;
    let now = store.now();
    let pause = pause.filter(|p| p.holds_at(now));
    Ok(Status {
        profile: profile.name.clone(),
        blockers: if open.is_empty() {
            Vec::new()
        } else {
            vec![lull_queue::Blocker::NoActivitySource]
        },
        open,
        running: store.running_request()?,
        live_runs: Vec::new(),
        sources: Vec::new(),
        host_draining: store.drain()?.is_some_and(|d| d.until > now),
        paused: pause.is_some(),
        paused_until: pause.and_then(|p| p.until),
        idle_since: None,
        eta: None,
        last_finished: store.history(1)?.into_iter().next(),
        windows: lull_queue::WindowsStatus::of(windows, now),
        fleet: None,
    })
}
