//! The rules of docs/design.md's "When a request may run" as one pure function from facts to blockers,
//! shared by the scheduler (to decide) and status (to explain), so the two never disagree.

use std::time::Duration;

use tokio::time::Instant;

use crate::activity::{ActivitySnapshot, SourceMode};
use crate::blocker::Blocker;
use crate::deadline::later;
use crate::pause::Pause;
use crate::request::{Request, State};
use crate::timestamp::Timestamp;
use crate::window::{WindowState, Windows};

/// Everything the decision depends on, read at one instant.
pub(crate) struct Facts<'a> {
    pub(crate) now: Instant,
    /// The wall clock read together with `now`: windows are wall-clock hours.
    pub(crate) now_wall: Timestamp,
    pub(crate) open: &'a Request,
    pub(crate) running: bool,
    pub(crate) activity: &'a ActivitySnapshot,
    pub(crate) lease_ttl: Duration,
    pub(crate) source_ttl: Duration,
    /// The pause, if one holds, and its end on the monotonic clock.
    pub(crate) pause: Option<(&'a Pause, Option<Instant>)>,
    /// End of the host drain, if one holds.
    pub(crate) drain_until: Option<Instant>,
    pub(crate) cooldown_until: Option<Instant>,
    /// When each execution of the last hour drops out of the hourly window, oldest first.
    pub(crate) hour_window: &'a [Instant],
    pub(crate) max_per_hour: u32,
    pub(crate) approval_deadline: Option<Instant>,
    /// The maintenance windows that apply to the open request (always open if it ignores them).
    pub(crate) windows: &'a Windows,
}

impl Facts<'_> {
    /// The monotonic instant of the wall-clock `at`, as read at this look.
    fn instant_of(&self, at: Timestamp) -> Instant {
        later(self.now, at.saturating_since(self.now_wall))
    }

    /// The wall-clock time of the monotonic `at`, as read at this look.
    fn wall_of(&self, at: Instant) -> Timestamp {
        self.now_wall
            .saturating_add(at.saturating_duration_since(self.now))
    }
}

/// The outcome of looking at the facts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Evaluation {
    /// Empty means: run now.
    pub(crate) blockers: Vec<Blocker>,
    /// When the request could start if nothing else happens; `None` if an outside event must
    /// happen first (a run ending, an approval, a resume, a source reporting).
    pub(crate) ready_at: Option<Instant>,
    /// The earliest instant at which a blocker ends by itself, or the window it is in closes.
    pub(crate) next_deadline: Option<Instant>,
}

/// How long before a far window edge the scheduler also looks: the timer runs on the monotonic
/// clock, and a wall clock corrected meanwhile (NTP soon after boot) would otherwise make it fire
/// hours off an opening. One extra look per edge, not polling.
pub(crate) const REANCHOR_BEFORE: Duration = Duration::from_secs(3600);

/// The instant to wake for a wall-clock edge at `at`: an hour before it while it is further
/// away than that (to read the wall clock again), else the edge itself.
pub(crate) fn wake_for_edge(now: Instant, at: Instant) -> Instant {
    if at.saturating_duration_since(now) > REANCHOR_BEFORE {
        at - REANCHOR_BEFORE
    } else {
        at
    }
}

/// Whole seconds until `deadline`, rounded up so that 0 means "now".
pub(crate) fn seconds_until(now: Instant, deadline: Instant) -> u64 {
    let d = deadline.saturating_duration_since(now);
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Blockers found so far, and when the timed ones end.
struct Found {
    now: Instant,
    blockers: Vec<Blocker>,
    deadlines: Vec<Instant>,
}

impl Found {
    fn push(&mut self, blocker: Blocker) {
        self.blockers.push(blocker);
    }

    /// A blocker that holds until `deadline` (and not at all once it passed).
    fn until(&mut self, deadline: Instant, blocker: impl FnOnce(u64) -> Blocker) {
        if deadline > self.now {
            self.deadlines.push(deadline);
            self.blockers
                .push(blocker(seconds_until(self.now, deadline)));
        }
    }
}

pub(crate) fn evaluate(f: &Facts<'_>) -> Evaluation {
    let now = f.now;
    let mut found = Found {
        now,
        blockers: Vec::new(),
        deadlines: Vec::new(),
    };

    if f.open.state == State::AwaitingApproval {
        found.push(Blocker::AwaitingApproval {
            remaining_seconds: f.approval_deadline.map_or(0, |d| seconds_until(now, d)),
        });
    }
    if let Some((pause, until)) = f.pause {
        found.push(Blocker::Paused {
            until: pause.until,
            remaining_seconds: until.map(|u| seconds_until(now, u)),
        });
        found.deadlines.extend(until);
    }
    if f.running || f.activity.word.closed() {
        found.push(Blocker::Executing);
    }
    if f.activity.mode == SourceMode::Sidecar {
        if f.activity.sources.is_empty() {
            found.push(Blocker::NoActivitySource);
        } else {
            let silent: Vec<_> = f
                .activity
                .sources
                .iter()
                .filter(|(_, seen)| now.duration_since(*seen) > f.source_ttl)
                .collect();
            if let Some(longest) = silent
                .iter()
                .map(|(_, seen)| now.duration_since(*seen))
                .max()
            {
                found.push(Blocker::ActivitySourceSilent {
                    sources: silent.iter().map(|(s, _)| s.name.clone()).collect(),
                    silent_for_seconds: longest.as_secs(),
                });
            }
        }
    }
    let live = f.activity.word.live();
    if live > 0 {
        found.push(Blocker::LiveRuns {
            count: live,
            sessions: f
                .activity
                .runs
                .iter()
                .map(|(r, _)| r.session.clone())
                .collect(),
        });
        let wedged: Vec<String> = f
            .activity
            .runs
            .iter()
            .filter(|(r, _)| r.wedged)
            .map(|(r, _)| r.session.clone())
            .collect();
        if !wedged.is_empty() {
            found.push(Blocker::Wedged { sessions: wedged });
        }
    }
    if let Some(until) = f.drain_until {
        found.until(until, |remaining_seconds| Blocker::HostDraining {
            remaining_seconds,
        });
    }
    if live == 0 {
        // While runs are live the window has not started: it starts when the last one ends.
        let (last, _) = f.activity.last_activity;
        let end = later(last, Duration::from_secs(f.open.idle_seconds));
        found.until(end, |remaining_seconds| Blocker::IdleWindow {
            idle_seconds: f.open.idle_seconds,
            idle_for_seconds: now.duration_since(last).as_secs(),
            remaining_seconds,
        });
    }
    found.until(later(f.activity.boot, f.lease_ttl), |remaining_seconds| {
        Blocker::BootGrace { remaining_seconds }
    });
    if let Some(until) = f.cooldown_until {
        found.until(until, |remaining_seconds| Blocker::Cooldown {
            remaining_seconds,
        });
    }
    let in_window: Vec<Instant> = f.hour_window.iter().copied().filter(|d| *d > now).collect();
    // Settings validation keeps the cap at 1 or more; 0 is read as 1 rather than as "never".
    let cap = (f.max_per_hour as usize).max(1);
    if in_window.len() >= cap {
        // Room opens when enough of the oldest executions have left the window.
        let frees_at = in_window[in_window.len() - cap];
        found.until(frees_at, |remaining_seconds| Blocker::RateLimit {
            max_per_hour: f.max_per_hour,
            remaining_seconds,
        });
    }

    // Inside a window, its closing changes the answer too: the timer includes it. Far edges are
    // first looked at an hour ahead (see `wake_for_edge`).
    let mut edge = None;
    match f.windows.state(f.now_wall) {
        WindowState::Always => {}
        WindowState::Open { closes } => edge = closes.map(|c| f.instant_of(c)),
        WindowState::Closed { opens } => {
            let zone = f.windows.zone();
            let opens_at = opens.map(|o| f.instant_of(o));
            edge = opens_at;
            found.deadlines.extend(opens_at);
            found.push(Blocker::OutsideWindow {
                next_opening: opens,
                next_opening_local: opens.map(|o| zone.local(o)),
                timezone: zone.name().to_owned(),
                remaining_seconds: opens_at.map(|o| seconds_until(now, o)),
            });
        }
    }

    let Found {
        blockers,
        deadlines,
        ..
    } = found;
    let next_deadline = deadlines
        .iter()
        .copied()
        .chain(edge.map(|e| wake_for_edge(now, e)))
        .min();
    let ready_at = blockers
        .iter()
        .all(|b| b.remaining_seconds().is_some())
        .then(|| deadlines.iter().copied().max().unwrap_or(now).max(now))
        // Everything else is over then, but the request must also start inside a window:
        // the first opening at or after that instant (idleness only grows meanwhile).
        .and_then(|at| {
            f.windows
                .first_open_at_or_after(f.wall_of(at))
                .map(|open| f.instant_of(open).max(at))
        });
    Evaluation {
        blockers,
        ready_at,
        next_deadline,
    }
}

#[cfg(test)]
mod tests;
