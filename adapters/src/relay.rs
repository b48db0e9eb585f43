//! The relay: a host gateway, in any language, made a chat adapter of lull over the control
//! API. The host hands lull the `/maintenance` commands its users type (who, where), shows
//! lull's reply, and delivers lull's notices through its own bot (docs/relay.md).
//!
//! - [`settings`]: `[relay]` checked;
//! - `commands`: `POST /v1/relay/commands`, each `event_id` applied once and answered alike;
//! - `notices`: `GET /v1/relay/notices` (long poll, claims) and their acknowledgements;
//! - `grammar`: what a host should pass on (`GET /v1/relay/grammar`, `lull relay-grammar`).
//!
//! The relay's senders and chats are on the platform `relay:<name>`: its users can never be
//! taken for users of lull's own bots, and its notices go only to it.

mod commands;
mod grammar;
mod notices;
mod poll_slots;
pub mod settings;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lull_plugin::{ChatRelay, PlatformPolicy, Plugin};
use lull_queue::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use commands::{CommandBody, RelayAnswer, RelayReply};
pub use grammar::grammar;
pub use notices::{AckBody, AckOutcome, RelayNotice};
pub use settings::RelaySettings;

use crate::chat::adapter::{ChatAdapter, Platform, Running};
use crate::chat::at_most_once::{AtMostOnce, Redelivery};

/// How long a relayed command's `event_id` is remembered (and its answer kept): longer than
/// any host retries.
pub(crate) const EVENT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a relay call was refused (the control API answers each with its status and code).
#[derive(Debug, thiserror::Error)]
pub(crate) enum RelayError {
    /// A body or query that is not what the contract says.
    #[error("{message}")]
    Invalid {
        /// `invalid_body`, `invalid_query`, …
        code: &'static str,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// A copy of a command whose first copy is still being handled.
    #[error(
        "event_id {0:?} is being handled now; ask again in a moment for its answer (it is applied once)"
    )]
    InProgress(String),
    /// The store could not say whether the command was handled before: nothing was done.
    #[error("{}", crate::chat::at_most_once::UNREADABLE)]
    Unreadable,
    /// No pending notice of this relay has that id.
    #[error("no notice {0} of this relay is pending")]
    NoSuchNotice(String),
    /// The notice is claimed by another consumer, which never gave it to this one.
    #[error(
        "notice {id} was given to another consumer ({holder}), not to {consumer}; poll for notices before acknowledging them"
    )]
    ClaimedByAnother {
        /// The notice.
        id: u64,
        /// Who holds the claim.
        holder: String,
        /// Who acknowledged.
        consumer: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] lull_queue::Error),
    /// Too many notice long polls are waiting (this consumer's, or everyone's).
    #[error(
        "{} long polls for notices are already waiting{}; poll again when one has answered",
        match .0 { poll_slots::Refused::Consumer => poll_slots::MAX_POLLS_PER_CONSUMER, poll_slots::Refused::All => poll_slots::MAX_POLLS },
        match .0 { poll_slots::Refused::Consumer => " for this consumer", poll_slots::Refused::All => "" }
    )]
    TooManyPolls(poll_slots::Refused),
    /// The handling ended without an answer (it panicked); what it changed is on disk.
    #[error("handling the command failed; `/maintenance status` shows where things stand")]
    Failed,
}

/// What the relay's calls share: its in-memory claims on notices, the wake-up for waiting polls,
/// and the once-per-event rule (built over the store on first use).
#[derive(Default)]
struct Shared {
    claims: Mutex<notices::Claims>,
    /// Held while a look reads the outbox and claims, and while an acknowledgement removes a
    /// notice and releases its claim: a look never reads a notice that an acknowledgement is
    /// removing, and so never gives out again what was acknowledged.
    outbox: tokio::sync::Mutex<()>,
    changed: Notify,
    once: OnceLock<AtMostOnce>,
    polls: Arc<poll_slots::PollSlots>,
}

/// The relay of a config's `[relay]`: its settings and the state its calls share. Cheap to
/// clone; clones share the state.
#[derive(Clone)]
pub(crate) struct Relay {
    settings: Arc<RelaySettings>,
    platform: String,
    shared: Arc<Shared>,
}

impl Relay {
    /// The relay for checked settings.
    pub fn new(settings: RelaySettings) -> Self {
        Self {
            platform: settings.platform(),
            settings: Arc::new(settings),
            shared: Arc::default(),
        }
    }

    /// Its settings.
    pub(crate) fn settings(&self) -> &RelaySettings {
        &self.settings
    }

    /// The relay as the tool sees it.
    pub(crate) fn chat_relay(&self) -> ChatRelay {
        ChatRelay {
            platform: self.platform.clone(),
            agents: self.settings.agents.clone(),
        }
    }

    /// The once-per-event rule over `store` (one per relay, shared by every call).
    fn once(&self, store: &Store) -> &AtMostOnce {
        self.shared.once.get_or_init(|| {
            AtMostOnce::new(store.clone(), "relay", EVENT_TTL, Redelivery::Redelivered)
        })
    }
}

/// The relay as the tool sees it, straight from `[relay]` (its token is not read): for commands
/// that run without `lull serve` and so without its adapters (`lull tool`).
pub(crate) fn chat_relay_of(config: &crate::config::Config) -> Option<ChatRelay> {
    config.relay.as_ref().map(|relay| ChatRelay {
        platform: format!("relay:{}", relay.name.as_deref().unwrap_or("relay")),
        agents: relay.agents.clone(),
    })
}

/// The relay in the list of platforms: `[relay]`.
pub(crate) const PLATFORM_ENTRY: Platform = Platform {
    section: "relay",
    enable: |config, env| {
        let section = config.relay.clone().unwrap_or_default();
        Ok(Box::new(Relay::new(RelaySettings::from_config(
            &section, env,
        )?)))
    },
};

impl ChatAdapter for Relay {
    fn platform(&self) -> &str {
        &self.platform
    }

    fn policy(&self) -> PlatformPolicy {
        PlatformPolicy {
            admins: self.settings.admins.clone(),
            admin_roles: Vec::new(),
            agents: self.settings.agents.clone(),
        }
    }

    fn notify_chats(&self) -> Vec<String> {
        self.settings.notify_chats.clone()
    }

    fn secrets(&self) -> Vec<String> {
        self.settings.secrets()
    }

    fn relay(&self) -> Option<ChatRelay> {
        Some(self.chat_relay())
    }

    /// The host delivers; what runs here is the sweep that drops notices nobody takes.
    fn run(&self, plugin: Plugin, stop: CancellationToken) -> Running {
        let relay = self.clone();
        Box::pin(async move {
            relay.sweep_until(plugin.scheduler().store(), &stop).await;
            Ok(())
        })
    }
}
