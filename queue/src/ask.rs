//! An ask: what someone asks the queue for, checked once, here, whichever surface it came
//! through (chat, the agent tool, the control API, the CLI).
//!
//! Each surface parses its own syntax into an [`AskDraft`] and shows the [`AskError`]
//! [`Ask::new`] gives back; none checks a bound itself. The only way to make an [`Ask`] is
//! [`Ask::new`], so the store never sees one that was not checked.

use std::time::Duration;

use crate::request::Kind;
use crate::requester::{Actor, Origin, Role};
use crate::text::{control_character, control_refusal, fold_controls};

/// Longest reason accepted, in characters, counted after trimming.
pub const MAX_REASON_CHARS: usize = 500;

/// Longest idle window an ask may name.
pub const MAX_IDLE: Duration = Duration::from_secs(7 * 24 * 3600);

/// What an asker gave, before it is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AskDraft {
    /// Restart or update.
    pub kind: Kind,
    /// Why, as given (trimmed by the check; may be empty).
    pub reason: String,
    /// The idle window the asker chose, if any (`--idle`, `idle_seconds`).
    pub idle: Option<Duration>,
    /// `--window any`: start outside the maintenance windows. Admins only.
    pub ignore_windows: bool,
    /// Who asks.
    pub actor: Actor,
}

/// The configured rules an ask is checked against (`[maintenance]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AskRules {
    /// `idle_seconds`: the window when an ask names none.
    pub default_idle: Duration,
    /// `min_agent_idle_seconds`: the shortest window an agent may name.
    pub min_agent_idle: Duration,
}

/// A checked ask (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    pub(crate) kind: Kind,
    pub(crate) reason: String,
    pub(crate) idle_seconds: u64,
    /// Whether the asker chose the window (`--idle`), rather than taking the default: an
    /// explicit window is kept when asks merge.
    pub(crate) idle_explicit: bool,
    pub(crate) ignore_windows: bool,
    pub(crate) actor: Actor,
}

/// Why an ask was refused. Each says what was wrong and what is accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AskError {
    /// The reason is longer than [`MAX_REASON_CHARS`].
    #[error("the reason is {chars} characters; at most {MAX_REASON_CHARS} are accepted")]
    ReasonTooLong {
        /// Its length after trimming.
        chars: usize,
    },
    /// The idle window is longer than [`MAX_IDLE`].
    #[error(
        "the idle window {} is too long; at most 7 days ({} seconds) are accepted",
        humantime::format_duration(*.idle),
        MAX_IDLE.as_secs()
    )]
    IdleTooLong {
        /// What was asked for.
        idle: Duration,
    },
    /// An agent named a window shorter than `min_agent_idle_seconds`.
    #[error(
        "agents must leave at least {} of idle time (min_agent_idle_seconds); {} was asked for",
        humantime::format_duration(*.min),
        humantime::format_duration(*.idle)
    )]
    IdleBelowAgentMinimum {
        /// What was asked for.
        idle: Duration,
        /// The configured minimum.
        min: Duration,
    },
    /// Typed input (the API, the tool, the CLI) whose reason holds a control character; chat's
    /// are cleaned instead (see `text.rs`).
    #[error("{}", control_refusal("reason", *.found))]
    ReasonControlCharacter {
        /// The first one.
        found: char,
    },
    /// Someone other than an admin asked for `--window any`.
    #[error("only an admin can let a request start outside the maintenance windows (--window any)")]
    WindowsForAdminsOnly,
}

impl AskError {
    /// The stable code the tool and the API answer with.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ReasonTooLong { .. } | Self::ReasonControlCharacter { .. } => "invalid_reason",
            Self::IdleTooLong { .. } | Self::IdleBelowAgentMinimum { .. } => "invalid_idle_seconds",
            Self::WindowsForAdminsOnly => crate::ErrorKind::Forbidden.code(),
        }
    }

    /// The control API's HTTP status for it: 400 for a bad value, 403 for a refusal.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::WindowsForAdminsOnly => crate::ErrorKind::Forbidden.http_status(),
            _ => 400,
        }
    }
}

impl Ask {
    /// Checks `draft` against `rules`: cleans chat's reason of control characters (typed ones
    /// holding any are refused), trims the reason and bounds it, bounds the idle window
    /// (and an agent's from below), lets only an admin ignore the windows, and fills in the
    /// default window.
    pub fn new(draft: AskDraft, rules: &AskRules) -> Result<Self, AskError> {
        let reason = match (control_character(&draft.reason), draft.actor.origin) {
            (None, _) => draft.reason.trim().to_owned(),
            (Some(_), Origin::Chat) => fold_controls(&draft.reason).trim().to_owned(),
            (Some(found), _) => return Err(AskError::ReasonControlCharacter { found }),
        };
        let chars = reason.chars().count();
        if chars > MAX_REASON_CHARS {
            return Err(AskError::ReasonTooLong { chars });
        }
        if let Some(idle) = draft.idle {
            if idle > MAX_IDLE {
                return Err(AskError::IdleTooLong { idle });
            }
            if draft.actor.role == Role::Agent && idle < rules.min_agent_idle {
                return Err(AskError::IdleBelowAgentMinimum {
                    idle,
                    min: rules.min_agent_idle,
                });
            }
        }
        if draft.ignore_windows && draft.actor.role != Role::Admin {
            return Err(AskError::WindowsForAdminsOnly);
        }
        Ok(Self {
            kind: draft.kind,
            reason,
            idle_seconds: draft.idle.unwrap_or(rules.default_idle).as_secs(),
            idle_explicit: draft.idle.is_some(),
            ignore_windows: draft.ignore_windows,
            actor: draft.actor,
        })
    }

    /// Restart or update.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Who asks.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::requester::Origin;

    fn actor(role: Role) -> Actor {
        Actor {
            platform: "test".into(),
            chat: None,
            user_id: "u1".into(),
            display: "U".into(),
            role,
            origin: Origin::Chat,
            via: None,
        }
    }

    const RULES: AskRules = AskRules {
        default_idle: Duration::from_secs(600),
        min_agent_idle: Duration::from_secs(300),
    };

    fn draft(role: Role, reason: &str, idle: Option<u64>, ignore_windows: bool) -> AskDraft {
        AskDraft {
            kind: Kind::Restart,
            reason: reason.into(),
            idle: idle.map(Duration::from_secs),
            ignore_windows,
            actor: actor(role),
        }
    }

    #[test]
    fn a_reason_is_trimmed_before_it_is_counted_and_stored() {
        let padded = format!("  {}  ", "x".repeat(MAX_REASON_CHARS));
        let ask = Ask::new(draft(Role::Admin, &padded, None, false), &RULES).unwrap();
        assert_eq!(ask.reason.len(), MAX_REASON_CHARS);
        let long = "é".repeat(MAX_REASON_CHARS + 1);
        let error = Ask::new(draft(Role::Admin, &long, None, false), &RULES).unwrap_err();
        assert_eq!(error, AskError::ReasonTooLong { chars: 501 });
        assert_eq!(
            error.to_string(),
            "the reason is 501 characters; at most 500 are accepted"
        );
        assert_eq!(error.code(), "invalid_reason");
    }

    #[test]
    fn the_default_window_is_taken_only_when_none_is_named() {
        let default = Ask::new(draft(Role::Admin, "", None, false), &RULES).unwrap();
        assert_eq!((default.idle_seconds, default.idle_explicit), (600, false));
        let named = Ask::new(draft(Role::Admin, "", Some(0), false), &RULES).unwrap();
        assert_eq!((named.idle_seconds, named.idle_explicit), (0, true));
    }

    #[test]
    fn the_idle_window_is_bounded_above_for_everyone_and_below_for_agents() {
        let week = MAX_IDLE.as_secs();
        assert!(Ask::new(draft(Role::Admin, "", Some(week), false), &RULES).is_ok());
        let error = Ask::new(draft(Role::Admin, "", Some(week + 1), false), &RULES).unwrap_err();
        assert_eq!(error.code(), "invalid_idle_seconds");
        assert_eq!(
            error.to_string(),
            "the idle window 7days 1s is too long; at most 7 days (604800 seconds) are accepted"
        );
        let error = Ask::new(draft(Role::Agent, "", Some(299), false), &RULES).unwrap_err();
        assert_eq!(
            error.to_string(),
            "agents must leave at least 5m of idle time (min_agent_idle_seconds); 4m 59s was asked for"
        );
        assert!(Ask::new(draft(Role::Agent, "", Some(300), false), &RULES).is_ok());
        // The minimum is an agent's: an admin chooses what they like.
        assert!(Ask::new(draft(Role::Admin, "", Some(1), false), &RULES).is_ok());
    }

    #[test]
    fn a_typed_reason_with_a_control_character_is_refused_and_a_chat_one_cleaned() {
        for origin in [Origin::Api, Origin::Tool, Origin::Cli] {
            let mut typed = draft(Role::Admin, "new\0tool", None, false);
            typed.actor.origin = origin;
            let error = Ask::new(typed, &RULES).unwrap_err();
            assert_eq!(error, AskError::ReasonControlCharacter { found: '\0' });
            assert_eq!(error.code(), "invalid_reason");
        }
        let chat = draft(Role::Admin, " installed\njq\u{1b} ", None, false);
        let ask = Ask::new(chat, &RULES).unwrap();
        assert_eq!(ask.reason, "installed jq");
    }

    #[test]
    fn only_an_admin_may_ignore_the_windows() {
        let error = Ask::new(draft(Role::Agent, "", None, true), &RULES).unwrap_err();
        assert_eq!(error, AskError::WindowsForAdminsOnly);
        assert_eq!((error.code(), error.http_status()), ("forbidden", 403));
        let ask = Ask::new(draft(Role::Admin, "", None, true), &RULES).unwrap();
        assert!(ask.ignore_windows);
    }
}
