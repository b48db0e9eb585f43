//! What the scheduler sees when it looks: every fact read at one instant and the open request
//! evaluated against them, the runs that crossed `wedged_after`, and the status computed from
//! the same look (so `lull status` and the scheduler never disagree).

use tokio::time::Instant;

use super::Scheduler;
use crate::activity::{ActivitySnapshot, SourceInfo, SourceMode};
use crate::deadline::later;
use crate::drain::Drain;
use crate::eligibility::{Evaluation, Facts, evaluate};
use crate::error::Error;
use crate::events::QueueEvent;
use crate::pause::Pause;
use crate::request::Request;
use crate::status::{FleetStatus, Status, WindowsStatus};
use crate::timestamp::Timestamp;
use crate::window::Windows;

/// One wake-up's look: every fact read at one instant, and the open request judged against
/// them. "Look" is the scheduler's word throughout: it looks, and looks again.
pub(super) struct Look {
    pub(super) now: Instant,
    pub(super) now_wall: Timestamp,
    pub(super) open: Option<Request>,
    pub(super) running: Option<Request>,
    pub(super) activity: ActivitySnapshot,
    pub(super) pause: Option<(Pause, Option<Instant>)>,
    pub(super) drain: Option<(Drain, Instant)>,
    pub(super) approval_deadline: Option<Instant>,
    pub(super) last_escalation: Option<crate::escalation::LastEscalation>,
    pub(super) evaluation: Option<Evaluation>,
}

impl Scheduler {
    /// Reads every fact at one instant and evaluates the open request against them.
    pub(super) fn look(&self) -> Result<Look, Error> {
        let store = &self.shared.store;
        let now = Instant::now();
        let now_wall = store.now();
        let open = store.open_request()?;
        let running = store.running_request()?;
        let pause = store.pause()?;
        let drain = store.drain()?;
        let last_escalation = store.last_escalation()?;
        let mut memory = self.memory();
        let pause = pause.map(|p| {
            let end = memory.pause_end(&p, now, now_wall);
            (p, end)
        });
        let drain = drain.map(|d| {
            let end = memory.drain_end(&d, now, now_wall);
            (d, end)
        });
        let approval_deadline = open.as_ref().and_then(|r| {
            memory.approval_deadline(r, self.shared.settings.approval_expiry, now, now_wall)
        });
        // Read last: the gate word in this snapshot is what admission is closed against.
        let activity = self.shared.tracker.snapshot(now);
        let settings = self.shared.tracker.settings();
        let evaluation = open.as_ref().map(|open| {
            evaluate(&Facts {
                now,
                now_wall,
                windows: self.windows_for(open),
                open,
                running: running.is_some(),
                activity: &activity,
                lease_ttl: settings.lease_ttl,
                source_ttl: settings.source_ttl,
                pause: pause
                    .as_ref()
                    .filter(|(_, end)| end.is_none_or(|e| e > now))
                    .map(|(p, end)| (p, *end)),
                drain_until: drain.as_ref().map(|(_, end)| *end).filter(|e| *e > now),
                cooldown_until: memory.cooldown_until,
                hour_window: &memory.hour_window,
                max_per_hour: self.shared.settings.max_executions_per_hour,
                approval_deadline,
            })
        });
        Ok(Look {
            now,
            now_wall,
            open,
            running,
            activity,
            pause,
            drain,
            approval_deadline,
            last_escalation,
            evaluation,
        })
    }

    /// The windows `request` must start in: none if an admin let it ignore them.
    pub(super) fn windows_for(&self, request: &Request) -> &Windows {
        static ALWAYS: std::sync::LazyLock<Windows> = std::sync::LazyLock::new(Windows::always);
        if request.ignore_windows {
            &ALWAYS
        } else {
            &self.shared.settings.windows
        }
    }

    /// `Wedged` reports for runs that crossed `wedged_after` since the last look.
    pub(super) fn wedged_runs(&self, look: &Look) -> Vec<QueueEvent> {
        let mut reports = Vec::new();
        let mut memory = self.memory();
        let live: Vec<(String, Timestamp)> = look
            .activity
            .runs
            .iter()
            .map(|(r, _)| (r.session.clone(), r.since))
            .collect();
        memory.wedged_reported.retain(|key| live.contains(key));
        for (run, _) in look.activity.runs.iter().filter(|(r, _)| r.wedged) {
            if memory
                .wedged_reported
                .insert((run.session.clone(), run.since))
            {
                tracing::warn!(session = %run.session, since = %run.since, "agent run looks wedged");
                reports.push(QueueEvent::Wedged {
                    session: run.session.clone(),
                    since: run.since,
                });
            }
        }
        reports
    }

    pub(super) fn next_wedge(&self, activity: &ActivitySnapshot) -> Option<Instant> {
        let wedged_after = self.shared.tracker.settings().wedged_after;
        activity
            .runs
            .iter()
            .filter(|(r, _)| !r.wedged)
            .map(|(_, since)| later(*since, wedged_after))
            .min()
    }

    /// The status of the profile, computed from the same facts and rules the scheduler uses.
    pub fn status(&self) -> Result<Status, Error> {
        let look = self.look()?;
        let last_finished = self.shared.store.history(1)?.into_iter().next();
        // The lock service's last answer stands until a try gets a slot (the retry may be
        // due this instant).
        let fleet_wait = self
            .memory()
            .fleet
            .waiting
            .as_ref()
            .map(|wait| wait.blocker.clone());
        let (blockers, eta) = match look.evaluation {
            Some(e) if e.blockers.is_empty() && fleet_wait.is_some() => {
                (fleet_wait.iter().cloned().collect(), None)
            }
            Some(e) => {
                let eta = e.ready_at.map(|at| {
                    look.now_wall
                        .saturating_add(at.saturating_duration_since(look.now))
                });
                (e.blockers, eta)
            }
            None => (Vec::new(), None),
        };
        let sources = match look.activity.mode {
            SourceMode::Embedded => vec![SourceInfo {
                name: "embedded".into(),
                last_seen: look.now_wall,
                announced_by: "lull".into(),
            }],
            SourceMode::Sidecar => look
                .activity
                .sources
                .iter()
                .map(|(s, _)| s.clone())
                .collect(),
        };
        let pause_holds = look
            .pause
            .as_ref()
            .filter(|(_, end)| end.is_none_or(|e| e > look.now));
        Ok(Status {
            profile: self.shared.profile.clone(),
            open: look.open.into_iter().collect(),
            running: look.running,
            live_runs: look.activity.runs.iter().map(|(r, _)| r.clone()).collect(),
            sources,
            host_draining: look.drain.as_ref().is_some_and(|(_, end)| *end > look.now),
            paused: pause_holds.is_some(),
            paused_until: pause_holds.and_then(|(p, _)| p.until),
            idle_since: (look.activity.word.live() == 0).then_some(look.activity.last_activity.1),
            blockers,
            eta,
            last_finished,
            windows: WindowsStatus::of(&self.shared.settings.windows, look.now_wall),
            fleet: match self.fleet() {
                Some(fleet) => Some(FleetStatus {
                    replica: fleet.describe(),
                    hold: self.shared.store.fleet_hold()?,
                    waiting: fleet_wait,
                }),
                None => None,
            },
        })
    }
}
