//! The durable store: a sled database holding requests, the audit log and the records the
//! scheduler, plugin and adapters need to survive a restart.
//!
//! Reads go straight to sled from any thread. Changes go to the single writer thread
//! ([`writer`]), which applies each as one transaction and answers only after a flush that
//! batches of concurrent changes share.

mod changes;
mod layout;
mod lookup;
#[cfg(test)]
mod mock_tests;
mod open;
#[cfg(test)]
mod prop_tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};

pub use changes::{Cancelled, SCHEDULER, Submitted};
use layout::{
    META_DRAIN, META_PAUSE, TreeId, Trees, audit_owner, decode, decode_u64, io_error, u64_key,
};
use writer::{Job, Writer, WriterStats};

use crate::audit::{AuditEntry, AuditNote};
use crate::clock::{Clock, SystemClock};
use crate::dedupe::{Ask, Withdrawal};
use crate::drain::Drain;
use crate::error::Error;
use crate::events::QueueEvent;
use crate::id::RequestId;
use crate::outbox::OutboxEntry;
use crate::pause::Pause;
use crate::request::{Event, Kind, Phase, Request, RunResult, State};
use crate::requester::Actor;
use crate::restart_marker::RestartMarker;
use crate::settings::QueueSettings;
use crate::timestamp::Timestamp;

/// A handle to one profile's store. Cheap to clone; the database closes when the last clone drops.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    trees: Trees,
    path: PathBuf,
    clock: Arc<dyn Clock>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<WriterStats>,
    events: broadcast::Sender<QueueEvent>,
    notice_hook: Mutex<Option<NoticeHook>>,
}

/// Turns an event into notices for the durable outbox (the plugin supplies it). It runs on the
/// writer thread right after the change that caused the event, so the notices are flushed with
/// that change, before anyone is told it happened.
pub type NoticeHook = Arc<dyn Fn(&QueueEvent, Timestamp) -> Vec<serde_json::Value> + Send + Sync>;

/// A platform event id being handled (see [`Store::handling_event`]).
#[derive(Clone)]
struct PlatformEvent {
    key: String,
    ttl: Duration,
}

tokio::task_local! {
    // Task-local rather than a parameter: the event's handling passes through the plugin, which
    // makes whichever store change the command calls for, and none of those calls should need
    // to know that a platform delivers at least once.
    static PLATFORM_EVENT: PlatformEvent;
}

/// Events buffered per subscriber before a slow one is told it lagged.
const EVENT_BUFFER: usize = 1024;

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer after its last batch; joining it releases
        // sled's file lock before the caller can try to reopen the same path.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

impl Store {
    /// Opens (or creates) the store at `path` with the system clock.
    pub fn open(path: impl AsRef<Path>, settings: QueueSettings) -> Result<Self, Error> {
        Self::open_with_clock(path, settings, Arc::new(SystemClock))
    }

    /// Opens (or creates) the store at `path`, stamping records with `clock`.
    ///
    /// Refuses a store written by a newer lull and any record it cannot decode, naming the path;
    /// it never resets data.
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        settings: QueueSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let path = path.as_ref().to_owned();
        let (trees, counters) = open::open(&path)?;
        let writer = Writer {
            trees: trees.clone(),
            path: path.clone(),
            settings,
            counters,
            now: clock.now(),
            failed_flush: None,
            platform_event: None,
        };
        let stats = Arc::new(WriterStats::default());
        let (jobs, receiver) = mpsc::channel();
        let thread_stats = stats.clone();
        let handle = std::thread::Builder::new()
            .name("lull-store-writer".into())
            .spawn(move || writer::run(writer, receiver, thread_stats))
            .map_err(|e| Error::Io {
                path: path.clone(),
                message: format!("could not start the writer thread: {e}"),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                trees,
                path,
                clock,
                jobs: Mutex::new(Some(jobs)),
                writer: Mutex::new(Some(handle)),
                stats,
                events: broadcast::channel(EVENT_BUFFER).0,
                notice_hook: Mutex::new(None),
            }),
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The store's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Installs the hook that writes each event's notices to the outbox with the change itself.
    pub fn set_notice_hook(&self, hook: NoticeHook) {
        *self
            .inner
            .notice_hook
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Runs `change` on the writer thread and answers once it is flushed to disk. The event
    /// `event` derives from its result has its notices written to the outbox in the same flush,
    /// and is published after it.
    async fn change<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Writer) -> Result<T, Error> + Send + 'static,
        event: impl FnOnce(&T) -> Option<QueueEvent> + Send + 'static,
    ) -> Result<T, Error> {
        let (answer, answered) = oneshot::channel();
        let events = self.inner.events.clone();
        let hook = self
            .inner
            .notice_hook
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let asked_at = self.now();
        let platform_event = PLATFORM_EVENT.try_with(PlatformEvent::clone).ok();
        let job: Job = Box::new(move |writer: &mut Writer| {
            writer.stamp(asked_at);
            // The event id goes into the change's own transaction (see Writer::commit): no
            // state holds the change without the id, so a redelivered event is never applied
            // twice.
            writer.platform_event = platform_event.map(|e| (e.key, e.ttl));
            let outcome = change(writer);
            writer.platform_event = None;
            let event = outcome.as_ref().ok().and_then(event);
            if let (Some(event), Some(hook)) = (&event, &hook) {
                let notices = hook(event, writer.now);
                if let Err(error) = changes::outbox_push_all(writer, notices) {
                    // The change itself is committed; only its notices are missing.
                    tracing::error!(%error, "could not write notices to the outbox");
                }
            }
            Box::new(move |flushed: Result<(), Error>| {
                let outcome = flushed.and(outcome);
                if let (Ok(_), Some(event)) = (&outcome, event) {
                    // No subscriber is not an error: events are notifications, the store is the truth.
                    let _ = events.send(event);
                }
                let _ = answer.send(outcome);
            })
        });
        {
            let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let sender = jobs.as_ref().ok_or(Error::Closed)?;
            self.inner.stats.queued.fetch_add(1, Ordering::SeqCst);
            if sender.send(job).is_err() {
                self.inner.stats.queued.fetch_sub(1, Ordering::SeqCst);
                return Err(Error::Closed);
            }
        }
        // Waiting on the blocking pool, not on the oneshot directly: under tokio's paused test
        // clock a blocking task keeps the clock from jumping ahead while the flush runs on the
        // writer thread, so timers never fire "during" a write.
        tokio::task::spawn_blocking(move || answered.blocking_recv())
            .await
            .map_err(|_| Error::Closed)?
            .map_err(|_| Error::Closed)?
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<QueueEvent> {
        self.inner.events.subscribe()
    }

    /// Publishes an event that changes no request (the scheduler's reports: waiting, escalated,
    /// wedged, crash loop), after writing its notices to the outbox.
    pub async fn report(&self, event: QueueEvent) -> Result<(), Error> {
        self.change(|_| Ok(()), move |_| Some(event)).await
    }

    /// Asks for a restart or update: opens a request, or joins the open one (docs/queue.md's merging).
    pub async fn submit(&self, ask: Ask) -> Result<Submitted, Error> {
        self.change(
            move |w| changes::submit(w, ask),
            |s: &Submitted| {
                let request = s.request.clone();
                Some(if s.deduplicated {
                    QueueEvent::Merged {
                        request,
                        merge: s.merge,
                    }
                } else {
                    QueueEvent::Queued { request }
                })
            },
        )
        .await
    }

    /// Cancels the request `query` names (id, short id or unique prefix) on behalf of `actor`:
    /// an admin cancels it, anyone else withdraws only their own ask.
    pub async fn cancel(&self, query: &str, actor: Actor) -> Result<Cancelled, Error> {
        let query = query.to_owned();
        self.change(
            move |w| changes::cancel(w, &query, &actor),
            |c: &Cancelled| {
                let request = c.request.clone();
                Some(match c.withdrawal {
                    Withdrawal::Cancelled => QueueEvent::Cancelled { request },
                    Withdrawal::RequesterRemoved { .. } => QueueEvent::Withdrawn { request },
                })
            },
        )
        .await
    }

    /// An admin approves a request awaiting approval (not one they asked for).
    pub async fn approve(&self, query: &str, actor: Actor) -> Result<Request, Error> {
        let query = query.to_owned();
        self.change(
            move |w| changes::approve(w, &query, &actor),
            |r: &Request| Some(QueueEvent::Approved { request: r.clone() }),
        )
        .await
    }

    /// An admin rejects an open request.
    pub async fn reject(&self, query: &str, actor: Actor) -> Result<Request, Error> {
        let query = query.to_owned();
        self.change(
            move |w| changes::reject(w, &query, &actor),
            |r: &Request| Some(QueueEvent::Rejected { request: r.clone() }),
        )
        .await
    }

    /// Rejects a request whose approval window passed. The scheduler's to call.
    pub(crate) async fn expire_approval(&self, id: RequestId) -> Result<Request, Error> {
        self.change(
            move |w| changes::expire_approval(w, id),
            |r: &Request| Some(QueueEvent::Expired { request: r.clone() }),
        )
        .await
    }

    /// [`Store::start_within`] with no maintenance windows (tests that start a request by hand).
    #[cfg(test)]
    pub(crate) async fn start(&self, checked: &Request) -> Result<Request, Error> {
        self.start_within(checked, &crate::window::Windows::always(), None)
            .await
    }

    /// Moves the open request to `running`, refused unless `windows` are open at the instant the
    /// start is written (so the recorded start is inside a maintenance window, however long the
    /// write took). Only the scheduler calls this, after its atomic idle check closed admission;
    /// nothing else may start a request.
    pub(crate) async fn start_within(
        &self,
        checked: &Request,
        windows: &crate::window::Windows,
        hold: Option<crate::fleet::FleetHold>,
    ) -> Result<Request, Error> {
        let checked = checked.clone();
        let windows = windows.clone();
        self.change(
            move |w| changes::start(w, &checked, &windows, hold),
            |r: &Request| Some(QueueEvent::Starting { request: r.clone() }),
        )
        .await
    }

    /// An updated request's restart step has to wait: phase `awaiting_restart`, and requesters
    /// are told (with the window's next opening, if that is what it waits for).
    pub(crate) async fn await_restart(
        &self,
        id: RequestId,
        window_opens: Option<(Timestamp, String)>,
    ) -> Result<Request, Error> {
        self.change(
            move |w| changes::set_phase(w, id, Phase::AwaitingRestart),
            move |r: &Request| {
                let (opens, local) = window_opens.clone().unzip();
                Some(QueueEvent::AwaitingRestart {
                    request: r.clone(),
                    window_opens: opens,
                    window_opens_local: local,
                })
            },
        )
        .await
    }

    /// The restart step of an updated request begins (admission is closed): refused, like a
    /// start, if a pause or drain holds or `windows` are closed at the instant it is recorded.
    pub(crate) async fn begin_restart(
        &self,
        id: RequestId,
        windows: &crate::window::Windows,
        hold: Option<crate::fleet::FleetHold>,
    ) -> Result<Request, Error> {
        let windows = windows.clone();
        self.change(
            move |w| changes::begin_restart(w, id, &windows, hold),
            |r: &Request| Some(QueueEvent::Restarting { request: r.clone() }),
        )
        .await
    }

    /// Moves a running request into its restart step without the checks
    /// [`Store::begin_restart`] makes (tests that need a request caught mid-restart).
    #[cfg(test)]
    pub(crate) async fn set_restarting(&self, id: RequestId) -> Result<Request, Error> {
        self.change(
            move |w| changes::set_phase(w, id, Phase::Restarting),
            |r: &Request| Some(QueueEvent::Restarting { request: r.clone() }),
        )
        .await
    }

    /// Finishes a running request with `event` (succeed, fail or interrupt) and its result.
    pub(crate) async fn finish(
        &self,
        id: RequestId,
        event: Event,
        result: RunResult,
        by: &str,
    ) -> Result<Request, Error> {
        let by = by.to_owned();
        self.change(
            move |w| changes::finish(w, id, event, result, &by),
            |r: &Request| {
                let request = r.clone();
                match r.state {
                    State::Succeeded => Some(QueueEvent::Succeeded { request }),
                    State::Failed => Some(QueueEvent::Failed { request }),
                    State::Interrupted => Some(QueueEvent::Interrupted { request }),
                    _ => None,
                }
            },
        )
        .await
    }

    /// Persists the one-time token of a self restart of the running request `id`.
    pub async fn arm_self_restart(
        &self,
        id: RequestId,
        token: String,
    ) -> Result<RestartMarker, Error> {
        self.change(move |w| changes::arm_self_restart(w, id, token), |_| None)
            .await
    }

    /// The self-restart marker, if a self restart is under way.
    pub fn restart_marker(&self) -> Result<Option<RestartMarker>, Error> {
        self.meta_record(layout::META_RESTART_MARKER, "the restart marker")
    }

    /// Records a health check; returns how many have failed in a row (0 after a pass).
    pub async fn record_health(&self, passed: bool, detail: String) -> Result<u64, Error> {
        self.change(move |w| changes::record_health(w, passed, detail), |_| None)
            .await
    }

    /// Pauses all execution (`Some`) or resumes it (`None`).
    pub async fn set_pause(&self, pause: Option<Pause>, by: &str) -> Result<(), Error> {
        let by = by.to_owned();
        let event = match &pause {
            Some(p) => QueueEvent::Paused { pause: p.clone() },
            None => QueueEvent::Resumed { by: by.clone() },
        };
        self.change(move |w| changes::set_pause(w, pause, &by), |_| Some(event))
            .await
    }

    /// Asks admins about a request that waits too long (`Escalated`), recording when, so the
    /// next prompt comes one period later even across a restart.
    pub(crate) async fn report_escalation(&self, event: QueueEvent) -> Result<(), Error> {
        let Some(id) = event.request().map(|r| r.id) else {
            return self.report(event).await;
        };
        self.change(
            move |w| changes::record_escalation(w, id),
            move |_| Some(event),
        )
        .await
    }

    /// When admins were last asked about a request waiting too long, if ever.
    pub fn last_escalation(&self) -> Result<Option<crate::escalation::LastEscalation>, Error> {
        self.meta_record(layout::META_ESCALATION, "the last escalation")
    }

    /// Ends the pause `expired` (the scheduler's, when it ran out), unless it was replaced meanwhile.
    pub(crate) async fn end_pause_if(&self, expired: Pause) -> Result<(), Error> {
        self.change(
            move |w| changes::end_pause_if(w, &expired),
            |ended| {
                ended.then(|| QueueEvent::Resumed {
                    by: SCHEDULER.to_owned(),
                })
            },
        )
        .await
        .map(drop)
    }

    /// Ends the drain `expired`, unless it was renewed meanwhile.
    pub(crate) async fn end_drain_if(&self, expired: Drain) -> Result<(), Error> {
        self.change(
            move |w| changes::end_drain_if(w, &expired),
            |ended| ended.then_some(QueueEvent::Drain { drain: None }),
        )
        .await
        .map(drop)
    }

    /// Sets (`Some`) or ends (`None`) the host drain.
    pub async fn set_drain(&self, drain: Option<Drain>, by: &str) -> Result<(), Error> {
        let by = by.to_owned();
        let event = QueueEvent::Drain {
            drain: drain.clone(),
        };
        self.change(move |w| changes::set_drain(w, drain, &by), |_| Some(event))
            .await
    }

    /// Appends an audit entry about no request, then publishes `event` if given.
    pub async fn record(
        &self,
        actor: &str,
        action: &str,
        detail: String,
        event: Option<QueueEvent>,
    ) -> Result<(), Error> {
        let (actor, action) = (actor.to_owned(), action.to_owned());
        self.change(
            move |w| {
                let mut tx = w.begin();
                tx.audit(&actor, &action, None, detail);
                w.commit(tx)
            },
            |_| event,
        )
        .await
    }

    /// Records a platform event id for `ttl`; `false` if it was seen already (a redelivery).
    pub async fn mark_event_seen(&self, key: &str, ttl: Duration) -> Result<bool, Error> {
        let key = key.to_owned();
        self.change(move |w| changes::mark_seen(w, &key, ttl), |_| None)
            .await
    }

    /// Runs `handling`, an adapter's handling of the platform event `key` (a Telegram update,
    /// a Discord interaction, a Slack event), so that every change it makes also records `key`
    /// as seen for `ttl`, in the same flush. Check [`Store::event_seen`] before, and call
    /// [`Store::mark_event_seen`] after (for events that changed nothing).
    pub async fn handling_event<F: Future>(
        &self,
        key: &str,
        ttl: Duration,
        handling: F,
    ) -> F::Output {
        let event = PlatformEvent {
            key: key.to_owned(),
            ttl,
        };
        PLATFORM_EVENT.scope(event, handling).await
    }

    /// Whether the platform event `key` was seen and has not expired.
    pub fn event_seen(&self, key: &str) -> Result<bool, Error> {
        let expiry = self
            .tree(TreeId::SeenEvents)
            .get(key)
            .map_err(|e| self.io(&e))?;
        let now = self.now().unix_millis();
        Ok(expiry
            .as_deref()
            .and_then(decode_u64)
            .is_some_and(|expiry| expiry > now))
    }

    /// Adds a notice to the durable outbox; returns its sequence number.
    pub async fn outbox_push(&self, payload: serde_json::Value) -> Result<u64, Error> {
        self.change(move |w| changes::outbox_push(w, payload), |_| None)
            .await
    }

    /// Removes a delivered notice; `false` if it was not pending.
    pub async fn outbox_ack(&self, seq: u64) -> Result<bool, Error> {
        self.change(move |w| changes::outbox_ack(w, seq, None), |_| None)
            .await
    }

    /// Removes a notice that was delivered (or given up on), with `note` in the audit in the
    /// same flush; `false`, and nothing recorded, if it was not pending.
    pub async fn outbox_ack_noted(&self, seq: u64, note: AuditNote) -> Result<bool, Error> {
        self.change(move |w| changes::outbox_ack(w, seq, Some(note)), |_| None)
            .await
    }

    /// The pending notice `seq`, if it is still in the outbox.
    pub fn outbox_entry(&self, seq: u64) -> Result<Option<OutboxEntry>, Error> {
        let bytes = self
            .tree(TreeId::Outbox)
            .get(u64_key(seq))
            .map_err(|e| self.io(&e))?;
        bytes
            .map(|b| decode(self.path(), "an outbox entry", &b))
            .transpose()
    }

    /// Keeps `answer` with the platform event `key` (recorded as seen for `ttl` if it is not
    /// yet), and `note` in the audit, in one flush: a redelivered event can then be answered as
    /// the first copy was ([`Store::event_answer`]).
    pub async fn answer_event(
        &self,
        key: &str,
        ttl: Duration,
        answer: Vec<u8>,
        note: AuditNote,
    ) -> Result<(), Error> {
        let key = key.to_owned();
        self.change(
            move |w| changes::answer_event(w, &key, ttl, &answer, note),
            |_| None,
        )
        .await
    }

    /// The answer kept with a seen, unexpired platform event: `None` if the event was not seen
    /// (or expired), `Some(empty)` if it was seen but no answer was kept (it ended before one
    /// was, or it never has one).
    pub fn event_answer(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let value = self
            .tree(TreeId::SeenEvents)
            .get(key)
            .map_err(|e| self.io(&e))?;
        let now = self.now().unix_millis();
        Ok(value.and_then(|v| {
            let expiry = decode_u64(&v)?;
            (expiry > now).then(|| v.get(8..).unwrap_or_default().to_vec())
        }))
    }

    /// The request with this full id.
    pub fn get(&self, id: RequestId) -> Result<Option<Request>, Error> {
        lookup::get(&self.inner.trees, &self.inner.path, id)
    }

    /// The request named by a full id, short id, or unique prefix of either.
    pub fn find(&self, query: &str) -> Result<Request, Error> {
        lookup::find(&self.inner.trees, &self.inner.path, query)
    }

    /// The open request (awaiting approval or queued), if any. There is never more than one.
    pub fn open_request(&self) -> Result<Option<Request>, Error> {
        lookup::open(&self.inner.trees, &self.inner.path)
    }

    /// The running request, if any.
    pub fn running_request(&self) -> Result<Option<Request>, Error> {
        lookup::running(&self.inner.trees, &self.inner.path)
    }

    /// Finished requests, newest first, at most `limit`.
    pub fn history(&self, limit: usize) -> Result<Vec<Request>, Error> {
        let mut out = Vec::new();
        for entry in self
            .tree(TreeId::Finished)
            .iter()
            .values()
            .rev()
            .take(limit)
        {
            let bytes = entry.map_err(|e| self.io(&e))?;
            let id = layout::decode_request_id(self.path(), "a finished request", &bytes)?;
            out.extend(self.get(id)?);
        }
        Ok(out)
    }

    /// Every kept request, in no particular order.
    pub fn all_requests(&self) -> Result<Vec<Request>, Error> {
        self.tree(TreeId::Requests)
            .iter()
            .values()
            .map(|v| decode(self.path(), "a request", &v.map_err(|e| self.io(&e))?))
            .collect()
    }

    /// The audit log, oldest first; only the entries of `request` when given.
    pub fn audit(&self, request: Option<RequestId>) -> Result<Vec<AuditEntry>, Error> {
        let audit = self.tree(TreeId::Audit);
        let decode_entry = |bytes: &[u8]| decode(self.path(), "an audit entry", bytes);
        match request {
            None => audit
                .iter()
                .values()
                .map(|v| decode_entry(&v.map_err(|e| self.io(&e))?))
                .collect(),
            Some(id) => {
                let mut out = Vec::new();
                let index = self.tree(TreeId::AuditByRequest);
                for key in index.scan_prefix(audit_owner(Some(id))).keys() {
                    let key = key.map_err(|e| self.io(&e))?;
                    let Some(seq) = key.get(16..).and_then(decode_u64) else {
                        continue;
                    };
                    if let Some(v) = audit.get(u64_key(seq)).map_err(|e| self.io(&e))? {
                        out.push(decode_entry(&v)?);
                    }
                }
                Ok(out)
            }
        }
    }

    /// A JSON record kept under a `meta` key.
    fn meta_record<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        what: &str,
    ) -> Result<Option<T>, Error> {
        let bytes = self.tree(TreeId::Meta).get(key).map_err(|e| self.io(&e))?;
        bytes.map(|b| decode(self.path(), what, &b)).transpose()
    }

    /// The fleet slot this replica holds (persisted with the request it was taken for), if any.
    pub fn fleet_hold(&self) -> Result<Option<crate::fleet::FleetHold>, Error> {
        self.meta_record(layout::META_FLEET_HOLD, "the fleet hold")
    }

    /// Marks the persisted fleet hold as kept until an admin releases it, saying why; the
    /// admins are told (`FleetSlotKept`). `None` if no hold is persisted.
    pub(crate) async fn keep_fleet_hold(
        &self,
        reason: String,
    ) -> Result<Option<crate::fleet::FleetHold>, Error> {
        let told = reason.clone();
        self.change(
            move |w| changes::keep_fleet_hold(w, reason),
            move |kept| {
                kept.as_ref()
                    .map(|_| QueueEvent::FleetSlotKept { reason: told })
            },
        )
        .await
    }

    /// Forgets the persisted fleet hold with audit entry `action` (`fleet_slot_released`,
    /// `fleet_slot_lost`), publishing `event` if there was one.
    pub(crate) async fn clear_fleet_hold(
        &self,
        by: &str,
        action: &str,
        detail: String,
        event: Option<QueueEvent>,
    ) -> Result<Option<crate::fleet::FleetHold>, Error> {
        let (by, action) = (by.to_owned(), action.to_owned());
        self.change(
            move |w| changes::clear_fleet_hold(w, &by, &action, detail),
            move |cleared| cleared.as_ref().and(event),
        )
        .await
    }

    /// The current pause, if one was set (it may have ended by itself; see [`Pause::holds_at`]).
    pub fn pause(&self) -> Result<Option<Pause>, Error> {
        self.meta_record(META_PAUSE, "the pause")
    }

    /// The current host drain, if one was set (it may have expired).
    pub fn drain(&self) -> Result<Option<Drain>, Error> {
        self.meta_record(META_DRAIN, "the drain")
    }

    /// When the most recent execution (a request that ran) finished, if one is kept.
    pub fn last_execution_end(&self) -> Result<Option<Timestamp>, Error> {
        for entry in self.tree(TreeId::Finished).iter().values().rev() {
            let bytes = entry.map_err(|e| self.io(&e))?;
            let id = layout::decode_request_id(self.path(), "a finished request", &bytes)?;
            let Some(request) = self.get(id)? else {
                continue;
            };
            if request
                .transitions
                .iter()
                .any(|t| t.state == State::Running)
            {
                return Ok(Some(request.state_since()));
            }
        }
        Ok(None)
    }

    /// Start times of executions since `since`, oldest first (kept for a day).
    pub fn executions_since(&self, since: Timestamp) -> Result<Vec<(Timestamp, Kind)>, Error> {
        let mut out = Vec::new();
        let from = u64_key(since.unix_millis()).to_vec();
        for entry in self.tree(TreeId::Executions).range(from..) {
            let (key, value) = entry.map_err(|e| self.io(&e))?;
            let at = decode_u64(&key).map(Timestamp::from_unix_millis);
            let kind = decode(self.path(), "an execution record", &value)?;
            out.extend(at.map(|at| (at, kind)));
        }
        Ok(out)
    }

    /// Notices not yet delivered, oldest first.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, Error> {
        self.tree(TreeId::Outbox)
            .iter()
            .values()
            .take(limit)
            .map(|v| decode(self.path(), "an outbox entry", &v.map_err(|e| self.io(&e))?))
            .collect()
    }

    /// Size in bytes of the stored record of request `id`, for tests that check records stay small.
    pub fn stored_size(&self, id: RequestId) -> Result<Option<usize>, Error> {
        let bytes = self
            .tree(TreeId::Requests)
            .get(layout::request_key(id))
            .map_err(|e| self.io(&e))?;
        Ok(bytes.map(|b| b.len()))
    }

    /// How many flushes the writer has done, and how many changes they covered.
    pub fn flush_stats(&self) -> (u64, u64) {
        let stats = &self.inner.stats;
        (
            stats.flushes.load(Ordering::SeqCst),
            stats.changes.load(Ordering::SeqCst),
        )
    }

    fn tree(&self, id: TreeId) -> &sled::Tree {
        self.inner.trees.get(id)
    }

    fn io(&self, error: &sled::Error) -> Error {
        io_error(&self.inner.path, error)
    }
}
