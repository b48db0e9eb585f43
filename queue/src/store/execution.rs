//! A request's execution as the store records it: the start the scheduler's atomic check
//! allows, the phases of an update's restart step, and the finish.

use super::history::close;
use super::layout::{
    META_DRAIN, META_LAST_EXECUTION_END, META_OPEN, META_PAUSE, META_RESTART_MARKER, META_RUNNING,
    TreeId, encode, io_error, request_key, u64_key,
};
use super::lookup;
use super::records::put_hold;
use super::writer::Writer;
use super::{SCHEDULER, Store};
use crate::drain::Drain;
use crate::error::Error;
use crate::events::QueueEvent;
use crate::fleet::FleetHold;
use crate::id::RequestId;
use crate::pause::Pause;
use crate::request::{Event, Phase, Request, RunResult, State};
use crate::restart_marker::RestartMarker;
use crate::timestamp::Timestamp;
use std::time::Duration;

/// How long execution times are kept: enough for the hourly cap and the cooldown.
const EXECUTIONS_KEPT: Duration = Duration::from_secs(24 * 3600);

impl Store {
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
        hold: Option<FleetHold>,
    ) -> Result<Request, Error> {
        let checked = checked.clone();
        let windows = windows.clone();
        self.change(
            move |w| start(w, &checked, &windows, hold),
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
            move |w| set_phase(w, id, Phase::AwaitingRestart),
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
        hold: Option<FleetHold>,
    ) -> Result<Request, Error> {
        let windows = windows.clone();
        self.change(
            move |w| begin_restart(w, id, &windows, hold),
            |r: &Request| Some(QueueEvent::Restarting { request: r.clone() }),
        )
        .await
    }

    /// Moves a running request into its restart step without the checks
    /// [`Store::begin_restart`] makes (tests that need a request caught mid-restart).
    #[cfg(test)]
    pub(crate) async fn set_restarting(&self, id: RequestId) -> Result<Request, Error> {
        self.change(
            move |w| set_phase(w, id, Phase::Restarting),
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
            move |w| finish(w, id, event, result, &by),
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
}

/// Starts the request the scheduler checked, refusing if anything it checked changed since:
/// the request itself (kind, window, state), or a pause or drain that landed in between.
fn start(
    w: &mut Writer,
    checked: &Request,
    windows: &crate::window::Windows,
    hold: Option<FleetHold>,
) -> Result<Request, Error> {
    let id = checked.id;
    if let Some(running) = lookup::running(&w.trees, w.path())? {
        return Err(Error::Conflict(format!(
            "request {} is still running; one execution at a time",
            running.short_id
        )));
    }
    let mut request = w.existing(id)?;
    let changed = request.kind != checked.kind
        || request.idle_seconds != checked.idle_seconds
        || request.state != checked.state;
    if changed {
        return Err(Error::Conflict(format!(
            "request {} changed since the scheduler checked it; checking again",
            request.short_id
        )));
    }
    let mut tx = w.begin();
    may_begin(w, tx.now, windows)?;
    let phase = match request.kind {
        crate::request::Kind::Restart => Phase::Restarting,
        crate::request::Kind::Update => Phase::Updating,
    };
    request.apply(Event::Start, tx.now, SCHEDULER)?;
    request.phase = Some(phase);
    request.phase_since = Some(tx.now);
    request.fencing_token = None;
    if let Some(hold) = hold {
        put_hold(w, &mut tx, &mut request, hold)?;
    }
    tx.put_request(&request);
    tx.remove(TreeId::Meta, META_OPEN);
    tx.put(TreeId::Meta, META_RUNNING, request_key(id));
    let mut key = u64_key(tx.now.unix_millis()).to_vec();
    key.extend_from_slice(id.as_bytes());
    tx.put(TreeId::Executions, key, encode(&request.kind));
    let cutoff = tx
        .now
        .unix_millis()
        .saturating_sub(EXECUTIONS_KEPT.as_millis() as u64);
    for old in w
        .tree(TreeId::Executions)
        .range(..u64_key(cutoff).to_vec())
        .keys()
    {
        tx.remove(TreeId::Executions, old.map_err(|e| io_error(w.path(), &e))?);
    }
    tx.audit(SCHEDULER, "started", Some(id), format!("phase={phase:?}"));
    w.commit(tx)?;
    Ok(request)
}

/// What a start and the restart step of an update re-check as they are recorded: no pause or
/// drain landed since the scheduler looked, and the maintenance windows are open at `now`.
fn may_begin(w: &Writer, now: Timestamp, windows: &crate::window::Windows) -> Result<(), Error> {
    if w.meta_record::<Pause>(META_PAUSE, "the pause")?
        .is_some_and(|p| p.holds_at(now))
    {
        return Err(Error::Conflict("maintenance was paused meanwhile".into()));
    }
    if w.meta_record::<Drain>(META_DRAIN, "the drain")?
        .is_some_and(|d| d.until > now)
    {
        return Err(Error::Conflict("the host began draining meanwhile".into()));
    }
    if !windows.state(now).is_open() {
        return Err(Error::Conflict(
            "the maintenance window closed meanwhile".into(),
        ));
    }
    Ok(())
}

/// The restart step of a running update begins: [`may_begin`], then phase `restarting`.
fn begin_restart(
    w: &mut Writer,
    id: RequestId,
    windows: &crate::window::Windows,
    hold: Option<FleetHold>,
) -> Result<Request, Error> {
    let now = w.begin().now;
    may_begin(w, now, windows)?;
    let mut request = w.existing(id)?;
    if request.state != State::Running {
        return Err(Error::Conflict(format!(
            "request {} is {}, not running; it cannot begin its restart step",
            request.short_id, request.state
        )));
    }
    let mut tx = w.begin();
    request.phase = Some(Phase::Restarting);
    request.phase_since = Some(tx.now);
    if let Some(hold) = hold {
        put_hold(w, &mut tx, &mut request, hold)?;
    }
    tx.put_request(&request);
    tx.audit(
        SCHEDULER,
        "phase",
        Some(id),
        format!("{:?}", Phase::Restarting),
    );
    w.commit(tx)?;
    Ok(request)
}

fn set_phase(w: &mut Writer, id: RequestId, phase: Phase) -> Result<Request, Error> {
    let mut request = w.existing(id)?;
    if request.state != State::Running {
        return Err(Error::Conflict(format!(
            "request {} is {}, not running; it has no phase",
            request.short_id, request.state
        )));
    }
    let mut tx = w.begin();
    request.phase = Some(phase);
    request.phase_since = Some(tx.now);
    tx.put_request(&request);
    tx.audit(SCHEDULER, "phase", Some(id), format!("{phase:?}"));
    w.commit(tx)?;
    Ok(request)
}

fn finish(
    w: &mut Writer,
    id: RequestId,
    event: Event,
    result: RunResult,
    by: &str,
) -> Result<Request, Error> {
    let mut request = w.existing(id)?;
    if !matches!(event, Event::Succeed | Event::Fail | Event::Interrupt) {
        return Err(Error::Conflict(format!(
            "{event:?} does not finish a run of request {}",
            request.short_id
        )));
    }
    let mut tx = w.begin();
    request.apply(event, tx.now, by)?;
    request.result = Some(result);
    tx.put_request(&request);
    tx.audit(by, request.state.as_str(), Some(id), String::new());
    let marker = w.meta_record::<RestartMarker>(META_RESTART_MARKER, "the restart marker")?;
    if marker.is_some_and(|m| m.request == id) {
        tx.remove(TreeId::Meta, META_RESTART_MARKER);
    }
    // The cooldown counts from here; kept in `meta` so that a start reads one key rather than
    // walking back through history past every request that never ran.
    tx.put(
        TreeId::Meta,
        META_LAST_EXECUTION_END,
        u64_key(tx.now.unix_millis()),
    );
    close(&mut tx, w, &request)?;
    w.commit(tx)?;
    Ok(request)
}
