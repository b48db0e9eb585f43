//! Who asks for and acts on requests: requesters (with repeat counts) and actors.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a person or program may do, resolved from configuration by the plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May do everything.
    Admin,
    /// An AI agent: queues, reads status and withdraws its own asks.
    Agent,
}

/// Which surface an ask came through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A `/maintenance` command in a chat.
    Chat,
    /// The `lull` command line.
    Cli,
    /// The control API.
    Api,
    /// The agent tool (JSON).
    Tool,
}

/// Someone acting on the queue: asking, cancelling, approving.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `telegram`, `discord`, `slack`, `cli`, `api`, …
    pub platform: String,
    /// The chat or channel the action came from, if any; notices go back there.
    pub chat: Option<String>,
    /// The user's id on that platform.
    pub user_id: String,
    /// A name to show people.
    pub display: String,
    /// The role the plugin resolved.
    pub role: Role,
    /// The surface used.
    pub origin: Origin,
    /// How the actor reached lull, for the audit: a local caller's process (`pid 4242`), or
    /// the local user a tool call came through. Not part of who they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

impl Actor {
    /// The identity that makes requesters distinct: platform and user id.
    pub fn key(&self) -> String {
        format!("{}:{}", self.platform, self.user_id)
    }

    /// Who did it, as the audit log and transitions record it: the identity, and how it
    /// reached lull when known (`local:alice (pid 4242)`).
    pub fn by(&self) -> String {
        match &self.via {
            Some(via) => format!("{} ({via})", self.key()),
            None => self.key(),
        }
    }

    /// Whether this actor is the requester `requester`.
    pub fn is(&self, requester: &Requester) -> bool {
        self.platform == requester.platform && self.user_id == requester.user_id
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.display, self.platform, self.user_id)
    }
}

/// Requesters a request lists (and whose chats hear its notices); more are counted, and kept in
/// the store, but not listed, so a storm of distinct names cannot grow the request record.
pub const MAX_LISTED_REQUESTERS: usize = 32;

/// One distinct requester of a request; repeats of the same ask only raise `count`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requester {
    /// Platform of the first ask.
    pub platform: String,
    /// Chat of the first ask, where notices for this requester go.
    pub chat: Option<String>,
    /// User id on the platform.
    pub user_id: String,
    /// Display name at the first ask.
    pub display: String,
    /// Role at the first ask.
    pub role: Role,
    /// Surface of the first ask.
    pub origin: Origin,
    /// How many times this requester asked.
    pub count: u64,
}

impl Requester {
    /// The identity that makes requesters distinct, as [`Actor::key`] gives it for the asker.
    pub fn key(&self) -> String {
        format!("{}:{}", self.platform, self.user_id)
    }

    /// A requester who has asked once.
    pub fn first_ask(actor: &Actor) -> Self {
        Self {
            platform: actor.platform.clone(),
            chat: actor.chat.clone(),
            user_id: actor.user_id.clone(),
            display: actor.display.clone(),
            role: actor.role,
            origin: actor.origin,
            count: 1,
        }
    }
}
