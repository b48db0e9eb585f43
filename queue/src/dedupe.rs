//! The dedupe rules: how an ask joins the open request, and how a requester withdraws.
//!
//! Pure functions over a [`Request`]; the store calls them inside its single writer, so at most
//! one request is ever open.

use crate::ask::Ask;
use crate::id::{RequestId, ShortId};
use crate::request::{Event, Kind, Request, State, Transition, TransitionError};
use crate::requester::{Actor, MAX_LISTED_REQUESTERS, Requester, Role};
use crate::settings::{AgentRequests, QueueSettings};
use crate::timestamp::Timestamp;

/// What merging an ask into the open request changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Merge {
    /// The asker was not yet a requester.
    pub new_requester: bool,
    /// A restart became an update (same id).
    pub upgraded: bool,
    /// An admin's ask approved a request awaiting approval.
    pub approved: bool,
    /// An agent's upgrade sent a queued request back to `awaiting_approval`.
    pub sent_back_for_approval: bool,
}

/// What a cancel did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withdrawal {
    /// The request is cancelled.
    Cancelled,
    /// Only the actor's ask was removed; others still want the request.
    RequesterRemoved {
        /// Requesters left.
        remaining: usize,
    },
}

/// Why a cancel was refused before the state machine was consulted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WithdrawError {
    /// A non-admin tried to cancel someone else's request.
    #[error(
        "request {short_id} was not requested by {actor}; only its requesters or an admin can cancel it"
    )]
    NotARequester {
        /// The request.
        short_id: ShortId,
        /// Who tried.
        actor: String,
    },
    /// The request cannot be cancelled in its state.
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

/// A brand-new open request for `ask`.
pub fn new_request(
    ask: &Ask,
    settings: &QueueSettings,
    id: RequestId,
    short_id: ShortId,
    at: Timestamp,
) -> Request {
    let state = if needs_approval(ask.actor.role, settings) {
        State::AwaitingApproval
    } else {
        State::Queued
    };
    Request {
        id,
        short_id,
        kind: ask.kind,
        state,
        reason: ask.reason.clone(),
        idle_seconds: ask.idle_seconds,
        idle_set_by_admin: ask.actor.role == Role::Admin && ask.idle_explicit,
        ignore_windows: ask.actor.role == Role::Admin && ask.ignore_windows,
        requested_by: vec![Requester::first_ask(&ask.actor)],
        unlisted_requesters: 0,
        phase: None,
        phase_since: None,
        fencing_token: None,
        created_at: at,
        transitions: vec![Transition {
            state,
            at,
            by: ask.actor.by(),
        }],
        result: None,
    }
}

fn needs_approval(role: Role, settings: &QueueSettings) -> bool {
    role == Role::Agent && settings.agent_requests == AgentRequests::Approve
}

/// Merges `ask` into the open request `request`.
///
/// The rules, as docs/queue.md states them: the asker is added once (repeats raise its count, so the record
/// does not grow); an admin's explicit idle window wins, otherwise the longest; an update
/// upgrades a restart in place; an agent's upgrade under `agent_requests = "approve"` sends a
/// queued request back for approval; an admin's ask approves a request awaiting approval (the
/// admin is then knowingly a requester of what they approved, which is not self-approval:
/// admins' own asks never await approval).
///
/// `known`: the store already has the asker as a requester of `request` (listed or not).
pub fn merge_into(
    request: &mut Request,
    ask: &Ask,
    settings: &QueueSettings,
    at: Timestamp,
    known: bool,
) -> Result<Merge, TransitionError> {
    debug_assert!(request.state.is_open(), "merge into a closed request");
    let mut merge = Merge::default();
    let by = ask.actor.by();

    // Decide the state change first: a refused transition must leave the request untouched.
    let upgrading = ask.kind == Kind::Update && request.kind == Kind::Restart;
    let event = if request.state == State::AwaitingApproval && ask.actor.role == Role::Admin {
        Some(Event::Approve)
    } else if upgrading
        && request.state == State::Queued
        && needs_approval(ask.actor.role, settings)
    {
        Some(Event::RequireApproval)
    } else {
        None
    };
    if let Some(event) = event {
        request.apply(event, at, &by)?;
        merge.approved = event == Event::Approve;
        merge.sent_back_for_approval = event == Event::RequireApproval;
    }

    match request.requested_by.iter_mut().find(|r| ask.actor.is(r)) {
        Some(existing) => existing.count = existing.count.saturating_add(1),
        // A requester beyond the listed ones: its count is the store's.
        None if known => {}
        None => {
            if request.requested_by.len() < MAX_LISTED_REQUESTERS {
                request.requested_by.push(Requester::first_ask(&ask.actor));
            } else {
                request.unlisted_requesters = request.unlisted_requesters.saturating_add(1);
            }
            merge.new_requester = true;
        }
    }

    if ask.actor.role == Role::Admin && ask.idle_explicit {
        request.idle_seconds = ask.idle_seconds;
        request.idle_set_by_admin = true;
    } else if !request.idle_set_by_admin {
        request.idle_seconds = request.idle_seconds.max(ask.idle_seconds);
    }

    // Only an admin sets it, and a later ask without it does not clear it: the admin's word
    // stands until the request ends. But it was said of a restart: an upgrade to an update by
    // anyone else drops it, so an agent cannot get an update outside the windows that way.
    if ask.actor.role == Role::Admin && ask.ignore_windows {
        request.ignore_windows = true;
    } else if upgrading && ask.actor.role != Role::Admin {
        request.ignore_windows = false;
    }

    if upgrading {
        request.kind = Kind::Update;
        merge.upgraded = true;
        if !ask.reason.is_empty() {
            request.reason = ask.reason.clone();
        }
    } else if request.reason.is_empty() {
        request.reason = ask.reason.clone();
    }
    Ok(merge)
}

/// Cancels `request` on behalf of `actor`.
///
/// An admin cancels the request; anyone else removes only their own ask, and the request is
/// cancelled when no requester is left. `known`: the store has `actor` as a requester of
/// `request` (listed or not).
pub fn withdraw(
    request: &mut Request,
    actor: &Actor,
    at: Timestamp,
    known: bool,
) -> Result<Withdrawal, WithdrawError> {
    let by = actor.by();
    if actor.role == Role::Admin {
        request.apply(Event::Cancel, at, &by)?;
        return Ok(Withdrawal::Cancelled);
    }
    // Check the state first, so a refused cancel of a finished request says why.
    crate::request::next_state(request.state, Event::Cancel).map_err(|illegal| {
        TransitionError {
            short_id: request.short_id.clone(),
            illegal,
        }
    })?;
    match request.requested_by.iter().position(|r| actor.is(r)) {
        Some(index) => {
            request.requested_by.remove(index);
        }
        None if known && request.unlisted_requesters > 0 => request.unlisted_requesters -= 1,
        None => {
            return Err(WithdrawError::NotARequester {
                short_id: request.short_id.clone(),
                actor: actor.to_string(),
            });
        }
    }
    if request.requester_count() == 0 {
        request.apply(Event::Cancel, at, &by)?;
        Ok(Withdrawal::Cancelled)
    } else {
        Ok(Withdrawal::RequesterRemoved {
            remaining: usize::try_from(request.requester_count()).unwrap_or(usize::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requester::Origin;

    fn actor(user: &str, role: Role) -> Actor {
        Actor {
            platform: "telegram".into(),
            chat: Some("42".into()),
            user_id: user.into(),
            display: user.into(),
            role,
            origin: Origin::Chat,
            via: None,
        }
    }

    fn ask(kind: Kind, user: &str, role: Role, idle: u64, explicit: bool) -> Ask {
        Ask {
            kind,
            reason: format!("{user} wants it"),
            idle_seconds: idle,
            idle_explicit: explicit,
            ignore_windows: false,
            actor: actor(user, role),
        }
    }

    fn approve_settings() -> QueueSettings {
        QueueSettings {
            agent_requests: AgentRequests::Approve,
            ..QueueSettings::default()
        }
    }

    fn open(first: &Ask, settings: &QueueSettings) -> Request {
        let id = RequestId::new_random();
        new_request(
            first,
            settings,
            id,
            id.short_id(3),
            Timestamp::from_unix_millis(0),
        )
    }

    const AT: Timestamp = Timestamp::from_unix_millis(1000);

    #[test]
    fn only_an_admin_sets_window_any_and_an_agents_upgrade_drops_it() {
        let at = Timestamp::from_unix_millis(0);
        let settings = QueueSettings::default();
        let mut agent_any = ask(Kind::Restart, "bot", Role::Agent, 600, false);
        agent_any.ignore_windows = true;
        let mut r = new_request(
            &agent_any,
            &settings,
            RequestId::new_random(),
            RequestId::new_random().short_id(3),
            at,
        );
        assert!(!r.ignore_windows, "never from an agent");
        let mut admin_any = ask(Kind::Restart, "boss", Role::Admin, 600, false);
        admin_any.ignore_windows = true;
        merge_into(&mut r, &admin_any, &settings, at, false).unwrap();
        assert!(r.ignore_windows);
        merge_into(
            &mut r,
            &ask(Kind::Restart, "bot", Role::Agent, 600, false),
            &settings,
            at,
            false,
        )
        .unwrap();
        assert!(
            r.ignore_windows,
            "a later restart ask keeps the admin's word"
        );
        merge_into(
            &mut r,
            &ask(Kind::Update, "bot", Role::Agent, 600, false),
            &settings,
            at,
            false,
        )
        .unwrap();
        assert_eq!(r.kind, Kind::Update);
        assert!(
            !r.ignore_windows,
            "an agent's upgrade to an update drops it"
        );
    }

    #[test]
    fn the_longest_window_wins_until_an_admin_sets_one() {
        let s = QueueSettings::default();
        let mut r = open(&ask(Kind::Restart, "a1", Role::Agent, 600, true), &s);
        merge_into(
            &mut r,
            &ask(Kind::Restart, "a2", Role::Agent, 1800, true),
            &s,
            AT,
            false,
        )
        .unwrap();
        assert_eq!(r.idle_seconds, 1800);
        merge_into(
            &mut r,
            &ask(Kind::Restart, "boss", Role::Admin, 60, true),
            &s,
            AT,
            false,
        )
        .unwrap();
        assert_eq!(r.idle_seconds, 60);
        merge_into(
            &mut r,
            &ask(Kind::Restart, "a3", Role::Agent, 7200, true),
            &s,
            AT,
            false,
        )
        .unwrap();
        assert_eq!(
            r.idle_seconds, 60,
            "an agent cannot lengthen an admin's explicit window"
        );
        merge_into(
            &mut r,
            &ask(Kind::Restart, "boss2", Role::Admin, 1200, false),
            &s,
            AT,
            false,
        )
        .unwrap();
        assert_eq!(
            r.idle_seconds, 60,
            "an admin's default window is not explicit"
        );
    }

    #[test]
    fn repeats_raise_the_count_only() {
        let s = QueueSettings::default();
        let a = ask(Kind::Restart, "a1", Role::Agent, 600, false);
        let mut r = open(&a, &s);
        let m = merge_into(&mut r, &a, &s, AT, false).unwrap();
        assert!(!m.new_requester);
        assert_eq!(r.requested_by.len(), 1);
        assert_eq!(r.requested_by[0].count, 2);
        assert_eq!(r.transitions.len(), 1, "a repeat is not a state change");
    }

    #[test]
    fn an_update_upgrades_a_restart_and_an_agent_upgrade_needs_approval_again() {
        let s = approve_settings();
        let mut r = open(&ask(Kind::Restart, "a1", Role::Agent, 600, false), &s);
        assert_eq!(r.state, State::AwaitingApproval);
        let m = merge_into(
            &mut r,
            &ask(Kind::Restart, "boss", Role::Admin, 600, false),
            &s,
            AT,
            false,
        )
        .unwrap();
        assert!(m.approved);
        assert_eq!(r.state, State::Queued);
        let m = merge_into(
            &mut r,
            &ask(Kind::Update, "a2", Role::Agent, 600, false),
            &s,
            AT,
            false,
        )
        .unwrap();
        assert!(m.upgraded && m.sent_back_for_approval);
        assert_eq!((r.kind, r.state), (Kind::Update, State::AwaitingApproval));
        assert_eq!(r.reason, "a2 wants it");
    }

    #[test]
    fn under_queue_policy_an_agent_upgrade_stays_queued() {
        let s = QueueSettings::default();
        let mut r = open(&ask(Kind::Restart, "a1", Role::Agent, 600, false), &s);
        let m = merge_into(
            &mut r,
            &ask(Kind::Update, "a1", Role::Agent, 600, false),
            &s,
            AT,
            false,
        )
        .unwrap();
        assert!(m.upgraded && !m.sent_back_for_approval);
        assert_eq!((r.kind, r.state), (Kind::Update, State::Queued));
    }

    #[test]
    fn a_non_admin_cancel_removes_only_its_ask() {
        let s = QueueSettings::default();
        let mut r = open(&ask(Kind::Restart, "a1", Role::Agent, 600, false), &s);
        merge_into(
            &mut r,
            &ask(Kind::Restart, "a2", Role::Agent, 600, false),
            &s,
            AT,
            false,
        )
        .unwrap();
        let w = withdraw(&mut r, &actor("a1", Role::Agent), AT, false).unwrap();
        assert_eq!(w, Withdrawal::RequesterRemoved { remaining: 1 });
        assert_eq!(r.state, State::Queued);
        let err = withdraw(&mut r, &actor("a1", Role::Agent), AT, false).unwrap_err();
        assert!(matches!(err, WithdrawError::NotARequester { .. }), "{err}");
        assert_eq!(
            withdraw(&mut r, &actor("a2", Role::Agent), AT, false).unwrap(),
            Withdrawal::Cancelled
        );
        assert_eq!(r.state, State::Cancelled);
    }

    #[test]
    fn an_admin_cancel_cancels_for_everyone() {
        let s = QueueSettings::default();
        let mut r = open(&ask(Kind::Restart, "a1", Role::Agent, 600, false), &s);
        assert_eq!(
            withdraw(&mut r, &actor("boss", Role::Admin), AT, false).unwrap(),
            Withdrawal::Cancelled
        );
        let err = withdraw(&mut r, &actor("boss", Role::Admin), AT, false).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("already cancelled; nothing to cancel"),
            "{err}"
        );
    }
}
