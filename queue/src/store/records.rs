//! The records beside the requests: pause, drain, escalation, health, the self-restart marker,
//! the fleet hold, and audit entries about no request.

use super::layout::{
    META_DRAIN, META_ESCALATION, META_FLEET_HOLD, META_HEALTH_FAILURES, META_PAUSE,
    META_RESTART_MARKER, TreeId, decode_u64, encode, io_error, u64_key,
};
use super::writer::{Tx, Writer};
use super::{SCHEDULER, Store};
use crate::drain::Drain;
use crate::error::Error;
use crate::events::QueueEvent;
use crate::fleet::FleetHold;
use crate::id::RequestId;
use crate::pause::Pause;
use crate::request::{Request, State};
use crate::restart_marker::RestartMarker;

impl Store {
    /// Persists the one-time token of a self restart of the running request `id`.
    pub async fn arm_self_restart(
        &self,
        id: RequestId,
        token: String,
    ) -> Result<RestartMarker, Error> {
        self.change(move |w| arm_self_restart(w, id, token), |_| None)
            .await
    }

    /// The self-restart marker, if a self restart is under way.
    pub fn restart_marker(&self) -> Result<Option<RestartMarker>, Error> {
        self.meta_record(META_RESTART_MARKER, "the restart marker")
    }

    /// Records a health check; returns how many have failed in a row (0 after a pass).
    pub async fn record_health(&self, passed: bool, detail: String) -> Result<u64, Error> {
        self.change(move |w| record_health(w, passed, detail), |_| None)
            .await
    }

    /// Pauses all execution (`Some`) or resumes it (`None`).
    pub async fn set_pause(&self, pause: Option<Pause>, by: &str) -> Result<(), Error> {
        let by = by.to_owned();
        let event = match &pause {
            Some(p) => QueueEvent::Paused { pause: p.clone() },
            None => QueueEvent::Resumed { by: by.clone() },
        };
        self.change(move |w| set_pause(w, pause, &by), |_| Some(event))
            .await
    }

    /// Asks admins about a request that waits too long (`Escalated`), recording when, so the
    /// next prompt comes one period later even across a restart.
    pub(crate) async fn report_escalation(&self, event: QueueEvent) -> Result<(), Error> {
        let Some(id) = event.request().map(|r| r.id) else {
            return self.report(event).await;
        };
        self.change(move |w| record_escalation(w, id), move |_| Some(event))
            .await
    }

    /// When admins were last asked about a request waiting too long, if ever.
    pub fn last_escalation(&self) -> Result<Option<crate::escalation::LastEscalation>, Error> {
        self.meta_record(META_ESCALATION, "the last escalation")
    }

    /// Ends the pause `expired` (the scheduler's, when it ran out), unless it was replaced meanwhile.
    pub(crate) async fn end_pause_if(&self, expired: Pause) -> Result<(), Error> {
        self.change(
            move |w| end_pause_if(w, &expired),
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
            move |w| end_drain_if(w, &expired),
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
        self.change(move |w| set_drain(w, drain, &by), |_| Some(event))
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

    /// The fleet slot this replica holds (persisted with the request it was taken for), if any.
    pub fn fleet_hold(&self) -> Result<Option<FleetHold>, Error> {
        self.meta_record(META_FLEET_HOLD, "the fleet hold")
    }

    /// Marks the persisted fleet hold as kept until an admin releases it, saying why; the
    /// admins are told (`FleetSlotKept`). `None` if no hold is persisted.
    pub(crate) async fn keep_fleet_hold(&self, reason: String) -> Result<Option<FleetHold>, Error> {
        let told = reason.clone();
        self.change(
            move |w| keep_fleet_hold(w, reason),
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
    ) -> Result<Option<FleetHold>, Error> {
        let (by, action) = (by.to_owned(), action.to_owned());
        self.change(
            move |w| clear_fleet_hold(w, &by, &action, detail),
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
}

/// Persists the fleet slot `hold` as taken for `request` (in the transaction that starts it),
/// and gives the request its fencing token. Refused if the persisted hold changed since the
/// scheduler verified `hold` (an admin released it meanwhile): nothing starts without a slot.
pub(super) fn put_hold(
    w: &Writer,
    tx: &mut Tx,
    request: &mut Request,
    mut hold: FleetHold,
) -> Result<(), Error> {
    let stored = w.meta_record::<FleetHold>(META_FLEET_HOLD, "the fleet hold")?;
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
fn keep_fleet_hold(w: &mut Writer, reason: String) -> Result<Option<FleetHold>, Error> {
    let Some(mut hold) = w.meta_record::<FleetHold>(META_FLEET_HOLD, "the fleet hold")? else {
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
fn clear_fleet_hold(
    w: &mut Writer,
    by: &str,
    action: &str,
    detail: String,
) -> Result<Option<FleetHold>, Error> {
    let hold = w.meta_record::<FleetHold>(META_FLEET_HOLD, "the fleet hold")?;
    let Some(hold) = hold else {
        return Ok(None);
    };
    let mut tx = w.begin();
    tx.remove(TreeId::Meta, META_FLEET_HOLD);
    tx.audit(by, action, hold.request, detail);
    w.commit(tx)?;
    Ok(Some(hold))
}

/// Removes the pause only if it is still `expired` (a new pause set meanwhile stays).
fn end_pause_if(w: &mut Writer, expired: &Pause) -> Result<bool, Error> {
    let still = w.meta_record::<Pause>(META_PAUSE, "the pause")?.as_ref() == Some(expired);
    if still {
        set_pause(w, None, SCHEDULER)?;
    }
    Ok(still)
}

/// Removes the drain only if it is still `expired` (a renewed drain stays).
fn end_drain_if(w: &mut Writer, expired: &Drain) -> Result<bool, Error> {
    let still = w.meta_record::<Drain>(META_DRAIN, "the drain")?.as_ref() == Some(expired);
    if still {
        set_drain(w, None, SCHEDULER)?;
    }
    Ok(still)
}

fn set_pause(w: &mut Writer, pause: Option<Pause>, by: &str) -> Result<(), Error> {
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

fn arm_self_restart(w: &mut Writer, id: RequestId, token: String) -> Result<RestartMarker, Error> {
    let request = w.existing(id)?;
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
fn record_escalation(w: &mut Writer, id: RequestId) -> Result<(), Error> {
    let mut tx = w.begin();
    let record = crate::escalation::LastEscalation {
        request: id,
        at: tx.now,
    };
    tx.put(TreeId::Meta, META_ESCALATION, encode(&record));
    tx.audit(SCHEDULER, "escalated", Some(id), String::new());
    w.commit(tx)
}

/// Records a health check's outcome; returns the failures in a row (0 after a pass).
fn record_health(w: &mut Writer, passed: bool, detail: String) -> Result<u64, Error> {
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

fn set_drain(w: &mut Writer, drain: Option<Drain>, by: &str) -> Result<(), Error> {
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
