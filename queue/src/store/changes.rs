//! Every change the store makes, each run on the writer thread as one transaction.

use std::time::Duration;

use super::layout::{
    META_DRAIN, META_FLEET_HOLD, META_HEALTH_FAILURES, META_OPEN, META_PAUSE, META_RESTART_MARKER,
    META_RUNNING, TreeId, audit_index_key, audit_owner, decode_request_id, decode_u64, encode,
    io_error, request_key, u64_key,
};
use super::lookup;
use super::writer::{Tx, Writer};
use crate::audit::AuditNote;
use crate::dedupe::{self, Ask, Merge, Withdrawal};
use crate::drain::Drain;
use crate::error::Error;
use crate::fleet::FleetHold;
use crate::id::RequestId;
use crate::pause::Pause;
use crate::request::{Event, Phase, Request, RunResult, State};
use crate::requester::{Actor, Role};
use crate::restart_marker::RestartMarker;
use crate::timestamp::Timestamp;

/// The actor name of changes the scheduler makes.
pub const SCHEDULER: &str = "scheduler";

/// How long execution times are kept: enough for the hourly cap and the cooldown.
const EXECUTIONS_KEPT: Duration = Duration::from_secs(24 * 3600);

/// Most expired seen-event ids pruned per call, so one call never does unbounded work.
const SEEN_PRUNE_BATCH: usize = 256;

/// The answer to an ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The request the ask created or joined, as stored.
    pub request: Request,
    /// The ask joined an open request instead of opening one.
    pub deduplicated: bool,
    /// What joining changed (all false for a new request).
    pub merge: Merge,
}

/// The answer to a cancel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancelled {
    /// The request after the cancel.
    pub request: Request,
    /// Whether it was cancelled or only the actor's ask removed.
    pub withdrawal: Withdrawal,
}

pub(crate) fn submit(w: &mut Writer, ask: Ask) -> Result<Submitted, Error> {
    if ask.kind == crate::request::Kind::Update && !w.settings.update_available {
        return Err(Error::UpdateNotConfigured);
    }
    if ask.ignore_windows && ask.actor.role != crate::requester::Role::Admin {
        return Err(Error::Forbidden(
            "only an admin can let a request start outside the maintenance windows (--window any)"
                .into(),
        ));
    }
    let mut tx = w.begin();
    let by = ask.actor.by();
    if let Some(mut request) = lookup::open(&w.trees, w.path())? {
        let merge = dedupe::merge_into(&mut request, &ask, &w.settings, tx.now)?;
        tx.put_request(&request);
        let action = if merge.approved {
            "approved_by_ask"
        } else if merge.sent_back_for_approval {
            "upgraded_needs_approval"
        } else if merge.upgraded {
            "upgraded"
        } else if merge.new_requester {
            "joined"
        } else {
            "repeated"
        };
        tx.audit(&by, action, Some(request.id), ask_detail(&ask));
        w.commit(tx)?;
        return Ok(Submitted {
            request,
            deduplicated: true,
            merge,
        });
    }
    let id = RequestId::new_random();
    let short_id = lookup::free_short_id(&w.trees, w.path(), id)?;
    let request = dedupe::new_request(&ask, &w.settings, id, short_id, tx.now);
    tx.put_request(&request);
    tx.put(TreeId::ShortIds, request.short_id.as_str(), request_key(id));
    tx.put(TreeId::Meta, META_OPEN, request_key(id));
    tx.audit(&by, "submitted", Some(id), ask_detail(&ask));
    w.commit(tx)?;
    Ok(Submitted {
        request,
        deduplicated: false,
        merge: Merge::default(),
    })
}

fn ask_detail(ask: &Ask) -> String {
    format!(
        "{} idle={}s{}{} reason={:?}",
        ask.kind,
        ask.idle_seconds,
        if ask.idle_explicit { " (explicit)" } else { "" },
        if ask.ignore_windows {
            " window=any"
        } else {
            ""
        },
        ask.reason
    )
}

pub(crate) fn cancel(w: &mut Writer, query: &str, actor: &Actor) -> Result<Cancelled, Error> {
    let mut request = lookup::find(&w.trees, w.path(), query)?;
    let mut tx = w.begin();
    let withdrawal = dedupe::withdraw(&mut request, actor, tx.now)?;
    tx.put_request(&request);
    match withdrawal {
        Withdrawal::Cancelled => {
            tx.audit(&actor.by(), "cancelled", Some(request.id), String::new());
            close(&mut tx, w, &request)?;
        }
        Withdrawal::RequesterRemoved { remaining } => tx.audit(
            &actor.by(),
            "withdrew",
            Some(request.id),
            format!("{remaining} requester(s) remain"),
        ),
    }
    w.commit(tx)?;
    Ok(Cancelled {
        request,
        withdrawal,
    })
}

pub(crate) fn approve(w: &mut Writer, query: &str, actor: &Actor) -> Result<Request, Error> {
    let mut request = lookup::find(&w.trees, w.path(), query)?;
    require_admin(actor, "approve", &request)?;
    if request.requested_by.iter().any(|r| actor.is(r)) {
        return Err(Error::Forbidden(format!(
            "you asked for request {}; someone else must approve it",
            request.short_id
        )));
    }
    let mut tx = w.begin();
    request.apply(Event::Approve, tx.now, &actor.by())?;
    tx.put_request(&request);
    tx.audit(&actor.by(), "approved", Some(request.id), String::new());
    w.commit(tx)?;
    Ok(request)
}

pub(crate) fn reject(w: &mut Writer, query: &str, actor: &Actor) -> Result<Request, Error> {
    let mut request = lookup::find(&w.trees, w.path(), query)?;
    require_admin(actor, "reject", &request)?;
    let mut tx = w.begin();
    request.apply(Event::Reject, tx.now, &actor.by())?;
    tx.put_request(&request);
    tx.audit(&actor.by(), "rejected", Some(request.id), String::new());
    close(&mut tx, w, &request)?;
    w.commit(tx)?;
    Ok(request)
}

fn require_admin(actor: &Actor, verb: &str, request: &Request) -> Result<(), Error> {
    if actor.role == Role::Admin {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "only an admin can {verb} request {}",
            request.short_id
        )))
    }
}

pub(crate) fn expire_approval(w: &mut Writer, id: RequestId) -> Result<Request, Error> {
    let mut request = existing(w, id)?;
    let mut tx = w.begin();
    request.apply(Event::ExpireApproval, tx.now, SCHEDULER)?;
    request.result = Some(RunResult {
        message: Some("approval expired".into()),
        ..RunResult::default()
    });
    tx.put_request(&request);
    tx.audit(SCHEDULER, "approval_expired", Some(id), String::new());
    close(&mut tx, w, &request)?;
    w.commit(tx)?;
    Ok(request)
}

/// Starts the request the scheduler checked, refusing if anything it checked changed since:
/// the request itself (kind, window, state), or a pause or drain that landed in between.
pub(crate) fn start(
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
    let mut request = existing(w, id)?;
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
    if meta_record::<Pause>(w, META_PAUSE, "the pause")?.is_some_and(|p| p.holds_at(now)) {
        return Err(Error::Conflict("maintenance was paused meanwhile".into()));
    }
    if meta_record::<Drain>(w, META_DRAIN, "the drain")?.is_some_and(|d| d.until > now) {
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
pub(crate) fn begin_restart(
    w: &mut Writer,
    id: RequestId,
    windows: &crate::window::Windows,
    hold: Option<FleetHold>,
) -> Result<Request, Error> {
    let now = w.begin().now;
    may_begin(w, now, windows)?;
    let mut request = existing(w, id)?;
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

/// Persists the fleet slot `hold` as taken for `request` (in the transaction that starts it),
/// and gives the request its fencing token. Refused if the persisted hold changed since the
/// scheduler verified `hold` (an admin released it meanwhile): nothing starts without a slot.
fn put_hold(
    w: &Writer,
    tx: &mut Tx,
    request: &mut Request,
    mut hold: FleetHold,
) -> Result<(), Error> {
    let stored = meta_record::<FleetHold>(w, META_FLEET_HOLD, "the fleet hold")?;
    let unchanged = match &stored {
        Some(s) => s.key == hold.key && s.lease == hold.lease && s.token == hold.token,
        // A fresh grant is never persisted before its start; a persisted one must still be.
        None => hold.request.is_none(),
    };
    if !unchanged {
        return Err(Error::FleetSlotChanged);
    }
    hold.request = Some(request.id);
    hold.kept = None;
    request.fencing_token = hold.token;
    let token = hold
        .token
        .map_or_else(|| "no token".to_owned(), |t| format!("token {t}"));
    tx.audit(
        SCHEDULER,
        "fleet_slot_taken",
        Some(request.id),
        format!("{} in group {} ({token})", hold.key, hold.group),
    );
    tx.put(TreeId::Meta, META_FLEET_HOLD, encode(&hold));
    Ok(())
}

/// Marks the persisted fleet hold as kept for an admin, saying why; audited.
pub(crate) fn keep_fleet_hold(w: &mut Writer, reason: String) -> Result<Option<FleetHold>, Error> {
    let Some(mut hold) = meta_record::<FleetHold>(w, META_FLEET_HOLD, "the fleet hold")? else {
        return Ok(None);
    };
    let mut tx = w.begin();
    hold.kept = Some(reason.clone());
    tx.put(TreeId::Meta, META_FLEET_HOLD, encode(&hold));
    tx.audit(SCHEDULER, "fleet_slot_kept", hold.request, reason);
    w.commit(tx)?;
    Ok(Some(hold))
}

/// Forgets the persisted fleet hold (released, or lost), with an audit entry `action` by `by`.
pub(crate) fn clear_fleet_hold(
    w: &mut Writer,
    by: &str,
    action: &str,
    detail: String,
) -> Result<Option<FleetHold>, Error> {
    let hold = meta_record::<FleetHold>(w, META_FLEET_HOLD, "the fleet hold")?;
    let Some(hold) = hold else {
        return Ok(None);
    };
    let mut tx = w.begin();
    tx.remove(TreeId::Meta, META_FLEET_HOLD);
    tx.audit(by, action, hold.request, detail);
    w.commit(tx)?;
    Ok(Some(hold))
}

pub(crate) fn set_phase(w: &mut Writer, id: RequestId, phase: Phase) -> Result<Request, Error> {
    let mut request = existing(w, id)?;
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

pub(crate) fn finish(
    w: &mut Writer,
    id: RequestId,
    event: Event,
    result: RunResult,
    by: &str,
) -> Result<Request, Error> {
    let mut request = existing(w, id)?;
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
    let marker = meta_record::<RestartMarker>(w, META_RESTART_MARKER, "the restart marker")?;
    if marker.is_some_and(|m| m.request == id) {
        tx.remove(TreeId::Meta, META_RESTART_MARKER);
    }
    close(&mut tx, w, &request)?;
    w.commit(tx)?;
    Ok(request)
}

fn existing(w: &Writer, id: RequestId) -> Result<Request, Error> {
    lookup::get(&w.trees, w.path(), id)?.ok_or_else(|| Error::NotFound {
        query: id.to_string(),
    })
}

/// Bookkeeping for a request that just finished: drop it from the open/running index, record
/// the order it finished in, and prune the oldest finished requests beyond `history_limit`
/// together with their audit entries, all in the finishing transaction.
fn close(tx: &mut Tx, w: &Writer, request: &Request) -> Result<(), Error> {
    debug_assert!(request.state.is_finished());
    let key = request_key(request.id);
    for index in [META_OPEN, META_RUNNING] {
        let current = w
            .tree(TreeId::Meta)
            .get(index)
            .map_err(|e| io_error(w.path(), &e))?;
        if current.as_deref() == Some(key.as_slice()) {
            tx.remove(TreeId::Meta, index);
        }
    }
    let seq = tx.counters.next_finish_seq;
    tx.counters.next_finish_seq += 1;
    tx.put(TreeId::Finished, u64_key(seq), &key);
    tx.counters.finished += 1;

    let limit = w.settings.history_limit.max(1);
    let excess = tx.counters.finished.saturating_sub(limit);
    if excess == 0 {
        return Ok(());
    }
    // The just-finished request is not on disk yet and is the newest, so the oldest `excess`
    // entries on disk are exactly the ones to prune.
    let mut finished = w.tree(TreeId::Finished).iter();
    for _ in 0..excess {
        let Some(entry) = finished.next() else { break };
        let (finish_key, id_bytes) = entry.map_err(|e| io_error(w.path(), &e))?;
        let id = decode_request_id(w.path(), "a finished request", &id_bytes)?;
        prune_request(tx, w, id)?;
        tx.remove(TreeId::Finished, finish_key);
        tx.counters.finished -= 1;
    }
    let oldest_kept = match finished.next() {
        Some(entry) => {
            let (_, id_bytes) = entry.map_err(|e| io_error(w.path(), &e))?;
            decode_request_id(w.path(), "a finished request", &id_bytes)?
        }
        None => request.id,
    };
    prune_unowned_audit_before(tx, w, first_audit_seq(w, oldest_kept)?)
}

fn prune_request(tx: &mut Tx, w: &Writer, id: RequestId) -> Result<(), Error> {
    if let Some(old) = lookup::get(&w.trees, w.path(), id)? {
        let short = w
            .tree(TreeId::ShortIds)
            .get(old.short_id.as_str())
            .map_err(|e| io_error(w.path(), &e))?;
        if short.as_deref() == Some(request_key(id).as_slice()) {
            tx.remove(TreeId::ShortIds, old.short_id.as_str());
        }
    }
    tx.remove(TreeId::Requests, request_key(id));
    for key in w
        .tree(TreeId::AuditByRequest)
        .scan_prefix(audit_owner(Some(id)))
        .keys()
    {
        let key = key.map_err(|e| io_error(w.path(), &e))?;
        if let Some(seq) = key.get(16..).and_then(decode_u64) {
            tx.remove(TreeId::Audit, u64_key(seq));
        }
        tx.remove(TreeId::AuditByRequest, key);
    }
    Ok(())
}

/// The first audit sequence number of a request, or `u64::MAX` if it has none on disk yet.
fn first_audit_seq(w: &Writer, id: RequestId) -> Result<u64, Error> {
    let first = w
        .tree(TreeId::AuditByRequest)
        .scan_prefix(audit_owner(Some(id)))
        .keys()
        .next()
        .transpose()
        .map_err(|e| io_error(w.path(), &e))?;
    Ok(first
        .and_then(|k| k.get(16..).and_then(decode_u64))
        .unwrap_or(u64::MAX))
}

/// Audit entries of no request (pause, resume, …) are kept as far back as the oldest kept request.
fn prune_unowned_audit_before(tx: &mut Tx, w: &Writer, threshold: u64) -> Result<(), Error> {
    let unowned = audit_owner(None);
    let end = audit_index_key(unowned, threshold);
    for key in w
        .tree(TreeId::AuditByRequest)
        .range(unowned.to_vec()..end)
        .keys()
    {
        let key = key.map_err(|e| io_error(w.path(), &e))?;
        if let Some(seq) = key.get(16..).and_then(decode_u64) {
            tx.remove(TreeId::Audit, u64_key(seq));
        }
        tx.remove(TreeId::AuditByRequest, key);
    }
    Ok(())
}

/// A JSON record under a `meta` key, if any.
fn meta_record<T: serde::de::DeserializeOwned>(
    w: &Writer,
    key: &[u8],
    what: &str,
) -> Result<Option<T>, Error> {
    let bytes = w
        .tree(TreeId::Meta)
        .get(key)
        .map_err(|e| io_error(w.path(), &e))?;
    bytes
        .map(|b| super::layout::decode(w.path(), what, &b))
        .transpose()
}

/// Removes the pause only if it is still `expired` (a new pause set meanwhile stays).
pub(crate) fn end_pause_if(w: &mut Writer, expired: &Pause) -> Result<bool, Error> {
    let still = meta_record::<Pause>(w, META_PAUSE, "the pause")?.as_ref() == Some(expired);
    if still {
        set_pause(w, None, SCHEDULER)?;
    }
    Ok(still)
}

/// Removes the drain only if it is still `expired` (a renewed drain stays).
pub(crate) fn end_drain_if(w: &mut Writer, expired: &Drain) -> Result<bool, Error> {
    let still = meta_record::<Drain>(w, META_DRAIN, "the drain")?.as_ref() == Some(expired);
    if still {
        set_drain(w, None, SCHEDULER)?;
    }
    Ok(still)
}

pub(crate) fn set_pause(w: &mut Writer, pause: Option<Pause>, by: &str) -> Result<(), Error> {
    let mut tx = w.begin();
    match &pause {
        Some(p) => {
            tx.put(TreeId::Meta, META_PAUSE, encode(p));
            let until = p
                .until
                .map_or("until resumed".to_owned(), |u| format!("until {u}"));
            tx.audit(by, "paused", None, format!("{until}; {}", p.reason));
        }
        None => {
            tx.remove(TreeId::Meta, META_PAUSE);
            tx.audit(by, "resumed", None, String::new());
        }
    }
    w.commit(tx)
}

pub(crate) fn arm_self_restart(
    w: &mut Writer,
    id: RequestId,
    token: String,
) -> Result<RestartMarker, Error> {
    let request = existing(w, id)?;
    if request.state != State::Running {
        return Err(Error::Conflict(format!(
            "request {} is {}, not running; it cannot restart lull",
            request.short_id, request.state
        )));
    }
    let mut tx = w.begin();
    let marker = RestartMarker {
        request: id,
        token,
        at: tx.now,
    };
    tx.put(TreeId::Meta, META_RESTART_MARKER, encode(&marker));
    tx.audit(
        SCHEDULER,
        "self_restart",
        Some(id),
        "re-executing lull".into(),
    );
    w.commit(tx)?;
    Ok(marker)
}

/// Records that admins were asked about request `id` now.
pub(crate) fn record_escalation(w: &mut Writer, id: RequestId) -> Result<(), Error> {
    let mut tx = w.begin();
    let record = crate::escalation::LastEscalation {
        request: id,
        at: tx.now,
    };
    tx.put(
        TreeId::Meta,
        super::layout::META_ESCALATION,
        encode(&record),
    );
    tx.audit(SCHEDULER, "escalated", Some(id), String::new());
    w.commit(tx)
}

/// Records a health check's outcome; returns the failures in a row (0 after a pass).
pub(crate) fn record_health(w: &mut Writer, passed: bool, detail: String) -> Result<u64, Error> {
    let meta = w.tree(TreeId::Meta);
    let before = meta
        .get(META_HEALTH_FAILURES)
        .map_err(|e| io_error(w.path(), &e))?
        .and_then(|b| decode_u64(&b))
        .unwrap_or(0);
    let failures = if passed { 0 } else { before + 1 };
    let mut tx = w.begin();
    tx.put(TreeId::Meta, META_HEALTH_FAILURES, u64_key(failures));
    let action = if passed {
        "health_passed"
    } else {
        "health_failed"
    };
    tx.audit("lull", action, None, detail);
    w.commit(tx)?;
    Ok(failures)
}

pub(crate) fn set_drain(w: &mut Writer, drain: Option<Drain>, by: &str) -> Result<(), Error> {
    let mut tx = w.begin();
    match &drain {
        Some(d) => {
            tx.put(TreeId::Meta, META_DRAIN, encode(d));
            tx.audit(by, "drain", None, format!("until {}", d.until));
        }
        None => {
            tx.remove(TreeId::Meta, META_DRAIN);
            tx.audit(by, "drain_ended", None, String::new());
        }
    }
    w.commit(tx)
}

/// Records a platform event id; `false` if it was already seen and has not expired.
pub(crate) fn mark_seen(w: &mut Writer, key: &str, ttl: Duration) -> Result<bool, Error> {
    let mut tx = w.begin();
    if !record_seen(w, &mut tx, key, ttl)? {
        return Ok(false);
    }
    w.commit(tx)?;
    Ok(true)
}

/// Adds platform event id `key` (seen until `ttl` from now) to `tx`, replacing an expired
/// record of it and pruning a batch of other expired ones; `false` (and nothing added) if it
/// was already seen and has not expired.
pub(crate) fn record_seen(
    w: &Writer,
    tx: &mut super::writer::Tx,
    key: &str,
    ttl: Duration,
) -> Result<bool, Error> {
    let now = tx.now.unix_millis();
    let seen = w.tree(TreeId::SeenEvents);
    let previous = seen.get(key).map_err(|e| io_error(w.path(), &e))?;
    let previous_expiry = previous.as_deref().and_then(decode_u64);
    if previous_expiry.is_some_and(|expiry| expiry > now) {
        return Ok(false);
    }
    let expiry_key = |expiry: u64| {
        let mut k = u64_key(expiry).to_vec();
        k.extend_from_slice(key.as_bytes());
        k
    };
    if let Some(expiry) = previous_expiry {
        tx.remove(TreeId::SeenExpiry, expiry_key(expiry));
    }
    let expiry = tx.now.saturating_add(ttl).unix_millis();
    tx.put(TreeId::SeenEvents, key, u64_key(expiry));
    tx.put(TreeId::SeenExpiry, expiry_key(expiry), []);
    let expired = w
        .tree(TreeId::SeenExpiry)
        .range(..u64_key(now.saturating_add(1)).to_vec())
        .keys()
        .take(SEEN_PRUNE_BATCH);
    for old in expired {
        let old = old.map_err(|e| io_error(w.path(), &e))?;
        let old_event = old.get(8..).unwrap_or_default();
        if old_event != key.as_bytes() {
            tx.remove(TreeId::SeenEvents, old_event);
        }
        tx.remove(TreeId::SeenExpiry, old);
    }
    Ok(true)
}

pub(crate) fn outbox_push(w: &mut Writer, payload: serde_json::Value) -> Result<u64, Error> {
    let mut tx = w.begin();
    let seq = tx.outbox(payload);
    w.commit(tx)?;
    Ok(seq)
}

/// Appends several notices in one transaction.
pub(crate) fn outbox_push_all(
    w: &mut Writer,
    payloads: Vec<serde_json::Value>,
) -> Result<(), Error> {
    if payloads.is_empty() {
        return Ok(());
    }
    let mut tx = w.begin();
    for payload in payloads {
        tx.outbox(payload);
    }
    w.commit(tx)
}

/// Removes a delivered notice, with `note` in the audit in the same transaction; `false` (and
/// nothing written) if it was not (or no longer) pending.
pub(crate) fn outbox_ack(w: &mut Writer, seq: u64, note: Option<AuditNote>) -> Result<bool, Error> {
    let present = w
        .tree(TreeId::Outbox)
        .contains_key(u64_key(seq))
        .map_err(|e| io_error(w.path(), &e))?;
    if present {
        let mut tx = w.begin();
        tx.remove(TreeId::Outbox, u64_key(seq));
        if let Some(note) = note {
            tx.audit(&note.actor, &note.action, None, note.detail);
        }
        w.commit(tx)?;
    }
    Ok(present)
}

/// Keeps `answer` with platform event `key` (recording it as seen for `ttl` if it is not yet),
/// with `note` in the audit, in one transaction. An event already seen keeps its expiry.
pub(crate) fn answer_event(
    w: &mut Writer,
    key: &str,
    ttl: Duration,
    answer: &[u8],
    note: AuditNote,
) -> Result<(), Error> {
    let mut tx = w.begin();
    let now = tx.now.unix_millis();
    let previous = w
        .tree(TreeId::SeenEvents)
        .get(key)
        .map_err(|e| io_error(w.path(), &e))?;
    let expiry = match previous.as_deref().and_then(decode_u64) {
        Some(expiry) if expiry > now => expiry,
        _ => {
            record_seen(w, &mut tx, key, ttl)?;
            tx.now.saturating_add(ttl).unix_millis()
        }
    };
    let mut value = u64_key(expiry).to_vec();
    value.extend_from_slice(answer);
    tx.put(TreeId::SeenEvents, key, value);
    tx.audit(&note.actor, &note.action, None, note.detail);
    w.commit(tx)
}
