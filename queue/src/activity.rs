//! The activity tracker: which agent runs are live, when the gateway was last active, and
//! whether the sources that report this are alive.
//!
//! Runs come as in-process RAII guards (embedded hosts) or as leases held by an external runtime
//! over the control API (sidecar). Both pass through the [`AdmissionGate`], so a run can only
//! begin while admission is open. The tracker's mutex guards plain maps and is never held
//! across an `.await`.

mod lease;
mod settings;
mod snapshot;
mod sources;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::admission::{AdmissionGate, Executing};
use crate::clock::Clock;
use crate::deadline::later;
use crate::timestamp::Timestamp;

pub use lease::{Heartbeat, LeaseCaller, LeaseError, LeaseGrant};
pub use settings::{SourceMode, TrackerSettings};
pub use snapshot::{ActivitySnapshot, LiveRunInfo, SourceInfo};
pub use sources::SourceError;

/// Expired and released lease ids remembered, so late heartbeats get "expired" rather than re-registering.
const FORGOTTEN_LEASES_KEPT: usize = 4096;

/// Something the tracker did on its own that must be audited and announced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerReport {
    /// A lease expired without heartbeat.
    LeaseExpired {
        /// Its session.
        session: String,
        /// The lease.
        lease: String,
    },
}

#[derive(Debug)]
struct LiveRun {
    session: Arc<str>,
    since: Instant,
    since_wall: Timestamp,
    lease: Option<String>,
    /// The credential that began the lease (see [`LeaseCaller`]); `None` for in-process runs.
    owner: Option<Arc<str>>,
    last_heartbeat: Instant,
}

#[derive(Debug)]
struct State {
    runs: HashMap<u64, LiveRun>,
    leases: HashMap<String, u64>,
    forgotten: HashSet<String>,
    forgotten_order: VecDeque<String>,
    /// Each source: when it was last heard (monotonic, wall) and the credential that announced it.
    sources: BTreeMap<String, (Instant, Timestamp, Arc<str>)>,
    last_activity: (Instant, Timestamp),
    next_run: u64,
    /// Expiries not yet handed to the scheduler for the audit log.
    reports: Vec<TrackerReport>,
}

struct Inner {
    gate: AdmissionGate,
    state: Mutex<State>,
    changed: Notify,
    wall: Arc<dyn Clock>,
    settings: TrackerSettings,
    boot: Instant,
}

/// The tracker. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct ActivityTracker {
    inner: Arc<Inner>,
}

/// An in-process run; the run ends when the guard drops.
#[must_use = "the run ends when the guard is dropped"]
pub struct RunGuard {
    tracker: ActivityTracker,
    run: u64,
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.tracker.end_run(self.run);
    }
}

impl ActivityTracker {
    /// A tracker whose boot (now) counts as activity.
    pub fn new(settings: TrackerSettings, wall: Arc<dyn Clock>) -> Self {
        let now = Instant::now();
        let state = State {
            runs: HashMap::new(),
            leases: HashMap::new(),
            forgotten: HashSet::new(),
            forgotten_order: VecDeque::new(),
            sources: BTreeMap::new(),
            last_activity: (now, wall.now()),
            next_run: 0,
            reports: Vec::new(),
        };
        Self {
            inner: Arc::new(Inner {
                gate: AdmissionGate::default(),
                state: Mutex::new(state),
                changed: Notify::new(),
                wall,
                settings,
                boot: now,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the maps half-updated in a way that
        // matters more than refusing to serve: keep serving.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The settings the tracker runs with.
    pub fn settings(&self) -> TrackerSettings {
        self.inner.settings
    }

    pub(crate) fn gate(&self) -> &AdmissionGate {
        &self.inner.gate
    }

    /// Resolves when something happened that could make a waiting request eligible sooner:
    /// the last live run ended, a source came (back), a run was released.
    pub(crate) async fn changed(&self) {
        self.inner.changed.notified().await;
    }

    fn wake_scheduler(&self) {
        self.inner.changed.notify_one();
    }

    fn admit(
        &self,
        state: &mut State,
        session: Arc<str>,
        lease: Option<(String, &str)>,
    ) -> Result<u64, Executing> {
        self.inner.gate.enter()?;
        let now = Instant::now();
        let wall = self.inner.wall.now();
        let run = state.next_run;
        state.next_run += 1;
        let (lease, owner) = lease.map(|(id, owner)| (id, Arc::from(owner))).unzip();
        if let Some(lease) = &lease {
            state.leases.insert(lease.clone(), run);
        }
        state.runs.insert(
            run,
            LiveRun {
                session,
                since: now,
                since_wall: wall,
                lease,
                owner,
                last_heartbeat: now,
            },
        );
        state.last_activity = (now, wall);
        Ok(run)
    }

    /// Begins an in-process run for `session` (`platform:chat`); it ends when the guard drops.
    pub fn begin_run(&self, session: impl Into<Arc<str>>) -> Result<RunGuard, Executing> {
        let mut state = self.state();
        let run = self.admit(&mut state, session.into(), None)?;
        Ok(RunGuard {
            tracker: self.clone(),
            run,
        })
    }

    fn end_run(&self, run: u64) {
        let mut state = self.state();
        if let Some(ended) = state.runs.remove(&run) {
            if let Some(lease) = ended.lease {
                // A heartbeat after the end is a runtime's mistake, not a run to re-register.
                state.leases.remove(&lease);
                remember_forgotten(&mut state, lease);
            }
            state.last_activity = (Instant::now(), self.inner.wall.now());
            self.inner.gate.leave();
            if state.runs.is_empty() {
                self.wake_scheduler();
            }
        }
    }

    /// Begins an external run: a lease the runtime heartbeats and ends. Marks `source` alive
    /// (`None`: a run of no activity source, such as `lull hold`'s, whose silence afterwards
    /// must block nothing).
    pub fn begin_lease(
        &self,
        session: &str,
        source: Option<&str>,
        owner: &str,
    ) -> Result<LeaseGrant, LeaseError> {
        let lease = uuid::Uuid::new_v4().simple().to_string();
        let mut state = self.state();
        self.note_run_source(&mut state, source, owner);
        self.admit(&mut state, session.into(), Some((lease.clone(), owner)))?;
        Ok(LeaseGrant {
            lease,
            ttl: self.inner.settings.lease_ttl,
        })
    }

    /// Renews a lease. An unknown lease (lull restarted) is registered again for `session`;
    /// an expired or released one is refused, and the runtime must begin again.
    pub fn heartbeat(
        &self,
        lease: &str,
        session: Option<&str>,
        source: Option<&str>,
        caller: LeaseCaller<'_>,
    ) -> Result<Heartbeat, LeaseError> {
        let mut state = self.state();
        let now = Instant::now();
        self.expire_leases_locked(&mut state, now);
        Self::check_owner(&state, lease, caller)?;
        self.note_run_source(&mut state, source, caller.owner);
        if state.forgotten.contains(lease) {
            return Err(LeaseError::Expired(lease.to_owned()));
        }
        if let Some(run) = state.leases.get(lease).copied() {
            if let Some(live) = state.runs.get_mut(&run) {
                live.last_heartbeat = now;
            }
            return Ok(Heartbeat::Renewed);
        }
        let session = session.map_or_else(|| format!("lease:{lease}"), str::to_owned);
        self.admit(
            &mut state,
            session.into(),
            Some((lease.to_owned(), caller.owner)),
        )?;
        Ok(Heartbeat::Reregistered)
    }

    /// Ends a lease; `false` if lull did not know it (already ended, expired, or from before a
    /// restart). Refused, changing nothing, if `caller` may not act on it.
    pub fn end_lease(
        &self,
        lease: &str,
        source: Option<&str>,
        caller: LeaseCaller<'_>,
    ) -> Result<bool, LeaseError> {
        let run = {
            let mut state = self.state();
            Self::check_owner(&state, lease, caller)?;
            self.note_run_source(&mut state, source, caller.owner);
            state.last_activity = (Instant::now(), self.inner.wall.now());
            self.inner.gate.touch();
            state.leases.get(lease).copied()
        };
        Ok(match run {
            Some(run) => {
                self.end_run(run);
                true
            }
            None => false,
        })
    }

    /// Refuses `caller` a live lease another credential began (unless it is an admin's call).
    fn check_owner(state: &State, lease: &str, caller: LeaseCaller<'_>) -> Result<(), LeaseError> {
        let owner = state
            .leases
            .get(lease)
            .and_then(|run| state.runs.get(run))
            .and_then(|live| live.owner.as_deref());
        match owner {
            Some(owner) if !caller.may_act_on(owner) => Err(LeaseError::NotYours {
                lease: lease.to_owned(),
                owner: owner.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// Records an inbound chat message addressed to the agent (an embedded host's, in process).
    pub fn note_activity(&self) {
        let mut state = self.state();
        state.last_activity = (Instant::now(), self.inner.wall.now());
        self.inner.gate.touch();
    }

    /// An admin releases the hold of every live run of `session`; returns how many.
    pub fn release(&self, session: &str) -> usize {
        let mut state = self.state();
        let runs: Vec<u64> = state
            .runs
            .iter()
            .filter(|(_, r)| &*r.session == session)
            .map(|(id, _)| *id)
            .collect();
        for run in &runs {
            if let Some(released) = state.runs.remove(run)
                && let Some(lease) = released.lease
            {
                state.leases.remove(&lease);
                remember_forgotten(&mut state, lease);
            }
            self.inner.gate.leave();
        }
        if !runs.is_empty() {
            state.last_activity = (Instant::now(), self.inner.wall.now());
            self.wake_scheduler();
        }
        runs.len()
    }

    fn expire_leases_locked(&self, state: &mut State, now: Instant) {
        let ttl = self.inner.settings.lease_ttl;
        let expired: Vec<u64> = state
            .runs
            .iter()
            .filter(|(_, r)| r.lease.is_some() && now.duration_since(r.last_heartbeat) >= ttl)
            .map(|(id, _)| *id)
            .collect();
        if !expired.is_empty() {
            self.wake_scheduler();
        }
        for run in expired {
            let Some(live) = state.runs.remove(&run) else {
                continue;
            };
            let lease = live.lease.unwrap_or_default();
            state.leases.remove(&lease);
            remember_forgotten(state, lease.clone());
            self.inner.gate.leave();
            // The expiry itself is activity, dated when it happened rather than when noticed.
            let expired_at = later(live.last_heartbeat, ttl);
            if expired_at > state.last_activity.0 {
                let wall = self.inner.wall.now();
                let ago = now.duration_since(expired_at);
                let wall_at = Timestamp::from_unix_millis(
                    wall.unix_millis().saturating_sub(ago.as_millis() as u64),
                );
                state.last_activity = (expired_at, wall_at);
            }
            state.reports.push(TrackerReport::LeaseExpired {
                session: live.session.to_string(),
                lease,
            });
        }
    }

    /// Expires leases past their TTL (the scheduler calls this when it wakes) and returns them
    /// for the audit log.
    pub(crate) fn expire_leases(&self, now: Instant) -> Vec<TrackerReport> {
        let mut state = self.state();
        self.expire_leases_locked(&mut state, now);
        std::mem::take(&mut state.reports)
    }

    /// Number of live runs.
    pub fn live_runs(&self) -> u64 {
        self.inner.gate.load().live()
    }

    /// A consistent snapshot, with the gate word read under the same lock as the runs.
    pub fn snapshot(&self, now: Instant) -> ActivitySnapshot {
        let state = self.state();
        let word = self.inner.gate.load();
        let wedged_after = self.inner.settings.wedged_after;
        let mut runs: Vec<(LiveRunInfo, Instant)> = state
            .runs
            .values()
            .map(|r| {
                let info = LiveRunInfo {
                    session: r.session.to_string(),
                    since: r.since_wall,
                    lease: r.lease.clone(),
                    wedged: now.duration_since(r.since) >= wedged_after,
                };
                (info, r.since)
            })
            .collect();
        runs.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.session.cmp(&b.0.session)));
        let ttl = self.inner.settings.lease_ttl;
        let next_lease_expiry = state
            .runs
            .values()
            .filter(|r| r.lease.is_some())
            .map(|r| later(r.last_heartbeat, ttl))
            .min();
        let sources = state
            .sources
            .iter()
            .map(|(name, (mono, wall, by))| {
                (
                    SourceInfo {
                        name: name.clone(),
                        last_seen: *wall,
                        announced_by: by.to_string(),
                    },
                    *mono,
                )
            })
            .collect();
        ActivitySnapshot {
            word,
            runs,
            last_activity: state.last_activity,
            boot: self.inner.boot,
            sources,
            next_lease_expiry,
            mode: self.inner.settings.mode,
        }
    }
}

fn remember_forgotten(state: &mut State, lease: String) {
    if state.forgotten.insert(lease.clone()) {
        state.forgotten_order.push_back(lease);
        if state.forgotten_order.len() > FORGOTTEN_LEASES_KEPT
            && let Some(oldest) = state.forgotten_order.pop_front()
        {
            state.forgotten.remove(&oldest);
        }
    }
}
