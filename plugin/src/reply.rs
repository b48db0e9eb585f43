//! Replies: what the plugin answers, in markdown with a plain fallback, and the renderings of
//! status, history, help and request outcomes.

use std::time::Duration;

use lull_queue::{Blocker, Kind, Phase, Request, State, Status, Timestamp, Zone};

use crate::command::{SUBCOMMANDS, usage};
use crate::prompt::Button;

/// An answer for a chat.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    /// Markdown (backtick code spans and `*bold*`, which every platform renders or tolerates).
    pub text: String,
    /// The same without markup.
    pub plain: String,
    /// Buttons of a prompt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    /// Show it only to the sender where the platform can.
    #[serde(default)]
    pub ephemeral: bool,
    /// The request it is about (short id), when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
}

impl Reply {
    /// A reply from markdown; the plain form drops the markup.
    pub fn markdown(text: impl Into<String>) -> Self {
        let text = text.into();
        let plain = text.replace(['`', '*'], "");
        Self {
            text,
            plain,
            ..Self::default()
        }
    }

    /// An error or refusal, shown only to the sender where possible.
    pub fn refusal(text: impl Into<String>) -> Self {
        Self {
            ephemeral: true,
            ..Self::markdown(text)
        }
    }

    /// With buttons.
    pub fn with_buttons(mut self, buttons: Vec<Button>) -> Self {
        self.buttons = buttons;
        self
    }

    /// About `request`.
    pub fn about(mut self, request: &Request) -> Self {
        self.request = Some(request.short_id.to_string());
        self
    }
}

/// A duration in words people read at a glance: `35s`, `4m`, `1h 20m`, `2d 3h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => match (s % 3600) / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h {m}m", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{}d", s / 86_400),
            h => format!("{}d {h}h", s / 86_400),
        },
    }
}

fn ago(now: Timestamp, then: Timestamp) -> String {
    human(now.saturating_since(then))
}

/// `▓▓▓▓░░░░ 8m / 20m`.
pub fn progress_bar(done: Duration, total: Duration) -> String {
    const CELLS: u64 = 8;
    let filled = if total.is_zero() {
        CELLS
    } else {
        (done.as_secs() * CELLS / total.as_secs().max(1)).min(CELLS)
    };
    format!(
        "{}{} {} / {}",
        "▓".repeat(filled as usize),
        "░".repeat((CELLS - filled) as usize),
        human(done),
        human(total)
    )
}

/// "restart `r7k2`".
pub fn name(request: &Request) -> String {
    format!("{} `{}`", request.kind, request.short_id)
}

/// Who asked: "agent-7 (telegram, ×3), alice (discord)", and "and 968 more" past the listed.
pub fn requesters(request: &Request) -> String {
    let mut names: Vec<String> = request
        .requested_by
        .iter()
        .map(|r| match r.count {
            1 => format!("{} ({})", r.display, r.platform),
            n => format!("{} ({}, ×{n})", r.display, r.platform),
        })
        .collect();
    if request.unlisted_requesters > 0 {
        names.push(format!("and {} more", request.unlisted_requesters));
    }
    if names.is_empty() {
        "nobody".into()
    } else {
        names.join(", ")
    }
}

/// One blocker in words; live-run ages come from the status.
pub fn blocker_words(blocker: &Blocker, status: &Status, now: Timestamp) -> String {
    let secs = |s: u64| human(Duration::from_secs(s));
    match blocker {
        Blocker::LiveRuns { count, sessions } => {
            let runs: Vec<String> = sessions
                .iter()
                .map(|session| {
                    match status.live_runs.iter().find(|r| &r.session == session) {
                        Some(run) => format!("{session} for {}", ago(now, run.since)),
                        None => session.clone(),
                    }
                })
                .collect();
            let plural = if *count == 1 { "" } else { "s" };
            format!("waiting for {count} live run{plural}: {}", runs.join(", "))
        }
        Blocker::IdleWindow { idle_seconds, idle_for_seconds, .. } => format!(
            "idle {}",
            progress_bar(Duration::from_secs(*idle_for_seconds), Duration::from_secs(*idle_seconds))
        ),
        Blocker::BootGrace { remaining_seconds } => format!(
            "lull started recently; giving agent runtimes {} more to re-announce their runs",
            secs(*remaining_seconds)
        ),
        Blocker::NoActivitySource => {
            "no activity source has reported — is the gateway connected? lull never assumes chats are idle".into()
        }
        Blocker::ActivitySourceSilent { sources, silent_for_seconds } => format!(
            "activity source {} silent for {} — lull cannot tell whether chats are live",
            sources.join(", "),
            secs(*silent_for_seconds)
        ),
        Blocker::HostDraining { remaining_seconds } => {
            format!("the host is draining for another {}", secs(*remaining_seconds))
        }
        Blocker::Executing => "another maintenance is running right now".into(),
        Blocker::Paused { until: Some(until), remaining_seconds } => format!(
            "maintenance is paused until {until} ({} left)",
            secs(remaining_seconds.unwrap_or_default())
        ),
        Blocker::Paused { until: None, .. } => {
            "maintenance is paused until an admin runs `/maintenance resume`".into()
        }
        Blocker::Cooldown { remaining_seconds } => format!(
            "cooling down after the last maintenance: {} left",
            secs(*remaining_seconds)
        ),
        Blocker::RateLimit { max_per_hour, remaining_seconds } => format!(
            "the limit of {max_per_hour} maintenance runs per hour is reached: next slot in {}",
            secs(*remaining_seconds)
        ),
        Blocker::AwaitingApproval { remaining_seconds } => format!(
            "awaiting an admin's approval (`/maintenance approve <id>`; expires in {})",
            secs(*remaining_seconds)
        ),
        Blocker::OutsideWindow { next_opening: Some(opening), timezone, remaining_seconds, .. } => {
            format!(
                "outside the maintenance windows: next opening {} ({opening}), in {}",
                local_time(timezone, *opening),
                secs(remaining_seconds.unwrap_or_default())
            )
        }
        Blocker::OutsideWindow { next_opening: None, .. } => {
            "outside the maintenance windows, and none opens within two weeks".into()
        }
        Blocker::Wedged { sessions } => {
            let (runs, look) = if sessions.len() == 1 { ("run", "looks") } else { ("runs", "look") };
            format!(
                "{runs} {} {look} stuck; an admin can `/maintenance release <session>`",
                sessions.join(", ")
            )
        }
        Blocker::FleetSlot { holders, detail } => {
            let held: Vec<String> = holders
                .iter()
                .map(|h| match h.since {
                    Some(since) => format!("replica {} restarting since {} ({} ago)", h.id, since, ago(now, since)),
                    None => format!("replica {} restarting", h.id),
                })
                .collect();
            let mut words = if held.is_empty() {
                "waiting for a fleet slot: other replicas are restarting".to_owned()
            } else {
                format!("waiting for a fleet slot: {}", held.join(", "))
            };
            if let Some(detail) = detail {
                words.push_str(&format!(" (the lock server says: {detail})"));
            }
            words
        }
        Blocker::FleetUnreachable { error } => format!(
            "the fleet lock service is unreachable ({error}); lull never restarts without a slot, and tries again"
        ),
    }
}

/// `at` in the windows' zone as people read it (`Thu 2026-12-03 02:00 CET`).
fn local_time(timezone: &str, at: Timestamp) -> String {
    Zone::get(timezone).map_or_else(|_| at.to_string(), |zone| zone.human(at))
}

/// The maintenance windows in one line, if any are configured.
fn windows_line(status: &Status) -> Option<String> {
    let w = status.windows.as_ref()?;
    let entries = w.entries.join(", ");
    let now = match (w.open, w.closes_at, w.next_opening) {
        (true, Some(closes), _) => format!("open until {}", local_time(&w.timezone, closes)),
        (true, None, _) => "open".to_owned(),
        (false, _, Some(opens)) => {
            format!("closed; next opening {}", local_time(&w.timezone, opens))
        }
        (false, _, None) => "closed; none opens within two weeks".to_owned(),
    };
    Some(format!("*Windows:* {entries} ({}) — {now}", w.timezone))
}

/// The ETA in words.
pub fn eta_words(status: &Status, now: Timestamp) -> String {
    match status.eta {
        Some(eta) if eta <= now => "now".into(),
        Some(eta) => format!("in about {} ({eta})", ago(eta, now)),
        None => "unknown — it depends on something outside lull's clock (see above)".into(),
    }
}

/// What happened to a finished request, in one line.
pub fn outcome(request: &Request, now: Timestamp) -> String {
    let when = ago(now, request.state_since());
    let result = request.result.clone().unwrap_or_default();
    let mut line = format!("{} {} {when} ago", name(request), request.state);
    if let Some(ms) = result.downtime_ms {
        line.push_str(&format!(" (downtime {})", human(Duration::from_millis(ms))));
    }
    if let Some(message) = result
        .message
        .filter(|_| request.state != State::Succeeded || result.downtime_ms.is_none())
    {
        line.push_str(&format!(": {message}"));
    }
    line
}

/// `/maintenance status`.
pub fn status(status: &Status, now: Timestamp) -> Reply {
    let mut lines = Vec::new();
    if let Some(running) = &status.running {
        let phase = match running.phase {
            None => "running",
            Some(Phase::Updating) => "updating",
            Some(Phase::Restarting) => "restarting",
            Some(Phase::AwaitingRestart) => "updated, its restart still to begin",
        };
        lines.push(format!(
            "*Now:* {} is {phase} (since {} ago)",
            name(running),
            ago(now, running.state_since())
        ));
        // The old gateway keeps serving until a window opens; say when that is.
        if running.phase == Some(Phase::AwaitingRestart)
            && !running.ignore_windows
            && let Some(w) = status.windows.as_ref().filter(|w| !w.open)
        {
            let opening = w
                .next_opening
                .map_or("none within two weeks".to_owned(), |o| {
                    local_time(&w.timezone, o)
                });
            lines.push(format!(
                "  the restart waits for the next opening: {opening}"
            ));
        }
        if running.phase == Some(Phase::AwaitingRestart)
            && let Some(waiting) = status.fleet.as_ref().and_then(|f| f.waiting.as_ref())
        {
            lines.push(format!(
                "  the restart waits: {}",
                blocker_words(waiting, status, now)
            ));
        }
    }
    match status.open.first() {
        None => lines.push("*Queue:* nothing is waiting.".into()),
        Some(open) => {
            let waiting = if open.state == State::AwaitingApproval {
                "awaiting approval"
            } else {
                "waiting"
            };
            lines.push(format!(
                "*Queued:* {} is {waiting} (asked {} ago)",
                name(open),
                ago(now, open.created_at)
            ));
            if !open.reason.is_empty() {
                lines.push(format!("  reason: {}", open.reason));
            }
            lines.push(format!("  asked by: {}", requesters(open)));
            if open.ignore_windows && status.windows.is_some() {
                lines.push("  windows: ignored for this request (`--window any`)".into());
            }
            if status.blockers.is_empty() {
                lines.push("  ready: it starts now".into());
            }
            for blocker in &status.blockers {
                lines.push(format!("  • {}", blocker_words(blocker, status, now)));
            }
            if !status.blockers.is_empty() {
                lines.push(format!("  ETA: {}", eta_words(status, now)));
            }
        }
    }
    if status.open.is_empty() && status.paused {
        lines.push(match status.paused_until {
            Some(until) => format!("*Paused* until {until}."),
            None => "*Paused* until an admin resumes.".into(),
        });
    }
    lines.extend(windows_line(status));
    lines.extend(fleet_line(status, now));
    if let Some(last) = &status.last_finished {
        lines.push(format!("*Last:* {}", outcome(last, now)));
    }
    Reply::markdown(lines.join("\n"))
}

/// `[fleet]`: the slot this replica holds, and whether it is kept for an admin.
fn fleet_line(status: &Status, now: Timestamp) -> Option<String> {
    let fleet = status.fleet.as_ref()?;
    Some(match &fleet.hold {
        None => format!("*Fleet:* {}; holds no slot.", fleet.replica),
        Some(hold) => {
            let token = hold
                .token
                .map(|t| format!(", token {t}"))
                .unwrap_or_default();
            match &hold.kept {
                Some(reason) => format!(
                    "*Fleet:* {} keeps its slot ({}{token}, since {} ago): {reason}. Other replicas wait; an admin can `/maintenance release fleet` (`lull fleet release`).",
                    fleet.replica,
                    hold.key,
                    ago(now, hold.since)
                ),
                None => format!(
                    "*Fleet:* {} holds a slot ({}{token}, since {} ago).",
                    fleet.replica,
                    hold.key,
                    ago(now, hold.since)
                ),
            }
        }
    })
}

/// `/maintenance history`.
pub fn history(requests: &[Request], now: Timestamp) -> Reply {
    if requests.is_empty() {
        return Reply::markdown("No maintenance has finished yet.");
    }
    let lines: Vec<String> = requests
        .iter()
        .map(|r| format!("• {}", outcome(r, now)))
        .collect();
    Reply::markdown(format!("*Recent maintenance*\n{}", lines.join("\n")))
}

/// `/maintenance help`.
pub fn help() -> Reply {
    let lines: Vec<String> = SUBCOMMANDS
        .iter()
        .filter(|s| **s != "help")
        .map(|s| format!("`{}`", usage(s)))
        .collect();
    Reply::markdown(format!(
        "*lull* holds gateway restarts and updates until no agent run is live and the gateway has been idle.\n{}\nIds are short (`r7k2`); any unique prefix works.",
        lines.join("\n")
    ))
}

/// The answer to a restart or update ask.
pub fn queued(request: &Request, deduplicated: bool, status: &Status, now: Timestamp) -> Reply {
    let head = if deduplicated {
        format!(
            "Joined {} ({} requester{}). Asking again is never needed.",
            name(request),
            request.requester_count(),
            if request.requester_count() == 1 {
                ""
            } else {
                "s"
            }
        )
    } else if request.state == State::AwaitingApproval {
        format!(
            "Queued {}; it waits for an admin's approval.",
            name(request)
        )
    } else {
        let what = if request.kind == Kind::Update {
            "update"
        } else {
            "restart"
        };
        format!(
            "Queued {}. The {what} runs only when no agent run is live and the gateway has been idle for {}.",
            name(request),
            human(Duration::from_secs(request.idle_seconds))
        )
    };
    let mut lines = vec![head];
    for blocker in &status.blockers {
        lines.push(format!("  • {}", blocker_words(blocker, status, now)));
    }
    if !status.blockers.is_empty() {
        lines.push(format!("  ETA: {}", eta_words(status, now)));
    }
    Reply::markdown(lines.join("\n")).about(request)
}

#[cfg(test)]
mod snapshot_tests;
