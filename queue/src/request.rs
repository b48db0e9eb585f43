//! A maintenance request, its states and the one pure function that moves it between them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::{RequestId, ShortId};
use crate::requester::Requester;
use crate::timestamp::Timestamp;

/// What the gateway should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Restart the gateway.
    Restart,
    /// Update the gateway, then restart it if anything changed.
    Update,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Restart => "restart",
            Kind::Update => "update",
        })
    }
}

/// Where a request is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// An agent asked under `agent_requests = "approve"`; an admin must approve it.
    AwaitingApproval,
    /// Approved; waits for the scheduler's idle check.
    Queued,
    /// The scheduler started it; the executor is working.
    Running,
    /// The executor finished successfully.
    Succeeded,
    /// The executor failed.
    Failed,
    /// Withdrawn by an admin or by its last requester.
    Cancelled,
    /// Refused by an admin, or its approval expired.
    Rejected,
    /// lull died while it ran and cannot tell the outcome; never re-run on its own.
    Interrupted,
}

impl State {
    /// Every state.
    pub const ALL: [State; 8] = [
        State::AwaitingApproval,
        State::Queued,
        State::Running,
        State::Succeeded,
        State::Failed,
        State::Cancelled,
        State::Rejected,
        State::Interrupted,
    ];

    /// Open requests can still be merged into, approved, cancelled or run.
    pub fn is_open(self) -> bool {
        matches!(self, State::AwaitingApproval | State::Queued)
    }

    /// Finished requests never change again; retention prunes the oldest of them.
    pub fn is_finished(self) -> bool {
        !self.is_open() && self != State::Running
    }

    /// The state as written in JSON and chat (`awaiting_approval`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::AwaitingApproval => "awaiting_approval",
            State::Queued => "queued",
            State::Running => "running",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Rejected => "rejected",
            State::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::AwaitingApproval => "awaiting approval",
            other => other.as_str(),
        })
    }
}

/// The step a running request is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The update command runs; admission stays open.
    Updating,
    /// The restart runs; admission is closed.
    Restarting,
    /// Updated; the restart step waits to begin (for a maintenance window, a pause or drain to
    /// end, or live runs to end) while the old gateway keeps serving with admission open.
    AwaitingRestart,
}

/// Something that happens to a request and may change its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// An admin approves an agent's request.
    Approve,
    /// An admin refuses it.
    Reject,
    /// The approval window passed without a decision.
    ExpireApproval,
    /// An admin (or its last requester) withdraws it.
    Cancel,
    /// An agent upgraded it to an update under `agent_requests = "approve"`.
    RequireApproval,
    /// The scheduler's idle check passed; the executor starts.
    Start,
    /// The executor succeeded.
    Succeed,
    /// The executor failed.
    Fail,
    /// lull died mid-run and cannot tell the outcome.
    Interrupt,
}

impl Event {
    /// Every event.
    pub const ALL: [Event; 9] = [
        Event::Approve,
        Event::Reject,
        Event::ExpireApproval,
        Event::Cancel,
        Event::RequireApproval,
        Event::Start,
        Event::Succeed,
        Event::Fail,
        Event::Interrupt,
    ];

    fn verb(self) -> &'static str {
        match self {
            Event::Approve => "approve",
            Event::Reject => "reject",
            Event::ExpireApproval => "expire",
            Event::Cancel => "cancel",
            Event::RequireApproval => "send back for approval",
            Event::Start => "start",
            Event::Succeed => "mark as succeeded",
            Event::Fail => "mark as failed",
            Event::Interrupt => "mark as interrupted",
        }
    }
}

/// The state machine: the state `event` leads to from `from`, or why it may not happen.
///
/// Every state change of every request goes through here; the store never writes a state
/// this function did not return.
pub fn next_state(from: State, event: Event) -> Result<State, IllegalMove> {
    use Event as E;
    use State as S;
    let to = match (from, event) {
        (S::AwaitingApproval, E::Approve) => S::Queued,
        (S::AwaitingApproval | S::Queued, E::Reject) => S::Rejected,
        (S::AwaitingApproval, E::ExpireApproval) => S::Rejected,
        (S::AwaitingApproval | S::Queued, E::Cancel) => S::Cancelled,
        (S::Queued, E::RequireApproval) => S::AwaitingApproval,
        (S::Queued, E::Start) => S::Running,
        (S::Running, E::Succeed) => S::Succeeded,
        (S::Running, E::Fail) => S::Failed,
        (S::Running, E::Interrupt) => S::Interrupted,
        _ => return Err(IllegalMove { from, event }),
    };
    Ok(to)
}

/// An event that the state machine refuses in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IllegalMove {
    /// The request's state.
    pub from: State,
    /// What was attempted.
    pub event: Event,
}

/// An illegal move on a named request, worded for the person who attempted it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(.short_id, .illegal))]
pub struct TransitionError {
    /// The request's short id.
    pub short_id: ShortId,
    /// The refused move.
    pub illegal: IllegalMove,
}

fn describe(short_id: &ShortId, illegal: &IllegalMove) -> String {
    let IllegalMove { from, event } = *illegal;
    let verb = event.verb();
    if from.is_finished() {
        return format!("request {short_id} already {from}; nothing to {verb}");
    }
    match (from, event) {
        (State::Queued, Event::Approve | Event::ExpireApproval) => {
            format!("request {short_id} is queued, not awaiting approval; nothing to {verb}")
        }
        (State::AwaitingApproval, Event::Start) => {
            format!(
                "request {short_id} is awaiting approval; it cannot start until an admin approves it"
            )
        }
        (State::Running, Event::Cancel | Event::Reject) => {
            let done = if event == Event::Cancel {
                "cancelled"
            } else {
                "rejected"
            };
            format!("request {short_id} is already running; it can no longer be {done}")
        }
        _ => format!("request {short_id} is {from}; cannot {verb} it"),
    }
}

/// One entry of a request's history of states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The state entered.
    pub state: State,
    /// When.
    pub at: Timestamp,
    /// Who caused it: `platform:user` of a person, or `scheduler` / `lull`.
    pub by: String,
}

/// What the executor reported for a finished run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunResult {
    /// Exit status of the executor command, if it ran one.
    pub exit_status: Option<i32>,
    /// The end of its output, redacted before it was stored.
    pub output_tail: Option<String>,
    /// How long the gateway was unavailable, in milliseconds.
    pub downtime_ms: Option<u64>,
    /// Gateway version before the run, if known.
    pub version_before: Option<String>,
    /// Gateway version after the run, if known.
    pub version_after: Option<String>,
    /// A sentence for people ("restart inferred from restarts_self", "approval expired").
    pub message: Option<String>,
    /// The gateway was restarted (so "back online" applies); false for an update that found
    /// nothing to do, and for anything that failed before its restart.
    #[serde(default)]
    pub restarted: bool,
    /// The step's command could not even be started, so nothing went down (a fleet slot taken
    /// for it is given back rather than kept).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_started: bool,
}

/// A durable maintenance request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Full id.
    pub id: RequestId,
    /// Id to type in chat.
    pub short_id: ShortId,
    /// Restart or update.
    pub kind: Kind,
    /// Current state.
    pub state: State,
    /// Why it was asked for (the first non-empty reason; an upgrade's reason replaces it).
    pub reason: String,
    /// How long the gateway must have been idle before it runs.
    pub idle_seconds: u64,
    /// Whether an admin set `idle_seconds` explicitly; then it is no longer lengthened by merges.
    #[serde(default)]
    pub idle_set_by_admin: bool,
    /// An admin asked this request to start outside the maintenance windows (`--window any`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_windows: bool,
    /// Distinct requesters in the order they first asked: the first
    /// [`MAX_LISTED_REQUESTERS`](crate::requester::MAX_LISTED_REQUESTERS) (notices go to their
    /// chats); the store keeps every requester, listed or not, in a tree of its own.
    pub requested_by: Vec<Requester>,
    /// Distinct requesters beyond those listed in `requested_by`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unlisted_requesters: u64,
    /// The step while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// When the current phase began (for the downtime of a restart lull did not survive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_since: Option<Timestamp>,
    /// `[fleet]`: the fencing token of the slot its restart step holds (`LULL_FENCING_TOKEN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<u64>,
    /// When it was first asked for.
    pub created_at: Timestamp,
    /// Every state it entered.
    pub transitions: Vec<Transition>,
    /// The executor's report once it finished running.
    pub result: Option<RunResult>,
}

/// For `skip_serializing_if`: a count of zero is left out.
fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Request {
    /// How many distinct requesters it has, listed or not.
    pub fn requester_count(&self) -> u64 {
        self.requested_by.len() as u64 + self.unlisted_requesters
    }

    /// Applies `event` through `next_state`, recording the transition.
    pub fn apply(&mut self, event: Event, at: Timestamp, by: &str) -> Result<(), TransitionError> {
        let to = next_state(self.state, event).map_err(|illegal| TransitionError {
            short_id: self.short_id.clone(),
            illegal,
        })?;
        self.state = to;
        if to != State::Running {
            self.phase = None;
            self.phase_since = None;
        }
        self.transitions.push(Transition {
            state: to,
            at,
            by: by.to_owned(),
        });
        Ok(())
    }

    /// When the request entered its current state.
    pub fn state_since(&self) -> Timestamp {
        self.transitions.last().map_or(self.created_at, |t| t.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_states_accept_no_event() {
        for from in State::ALL.into_iter().filter(|s| s.is_finished()) {
            for event in Event::ALL {
                assert!(next_state(from, event).is_err(), "{from:?} + {event:?}");
            }
        }
    }

    #[test]
    fn only_start_reaches_running_and_only_from_queued() {
        for from in State::ALL {
            for event in Event::ALL {
                if next_state(from, event) == Ok(State::Running) {
                    assert_eq!((from, event), (State::Queued, Event::Start));
                }
            }
        }
    }

    #[test]
    fn cancel_and_reject_only_from_open_states() {
        for from in State::ALL {
            for event in [Event::Cancel, Event::Reject] {
                assert_eq!(next_state(from, event).is_ok(), from.is_open(), "{from:?}");
            }
        }
    }

    #[test]
    fn errors_read_like_sentences() {
        let short_id = RequestId::new_random().short_id(3);
        let err = |from, event| {
            TransitionError {
                short_id: short_id.clone(),
                illegal: next_state(from, event).unwrap_err(),
            }
            .to_string()
        };
        assert_eq!(
            err(State::Succeeded, Event::Cancel),
            format!("request {short_id} already succeeded; nothing to cancel")
        );
        assert_eq!(
            err(State::Queued, Event::Approve),
            format!("request {short_id} is queued, not awaiting approval; nothing to approve")
        );
        assert_eq!(
            err(State::Running, Event::Cancel),
            format!("request {short_id} is already running; it can no longer be cancelled")
        );
    }

    #[test]
    fn state_serializes_as_in_the_design() {
        assert_eq!(
            serde_json::to_string(&State::AwaitingApproval).unwrap(),
            "\"awaiting_approval\""
        );
    }
}
