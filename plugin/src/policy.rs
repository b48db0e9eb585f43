//! Who may do what: senders resolved against the configuration into admin, agent or refused,
//! and the rules of docs/design.md's "Who may do what" (and docs/commands.md).

use std::collections::HashMap;

use lull_queue::Role;

use crate::command::Command;

/// Who sent a command, as the adapter saw them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    /// `telegram`, `discord`, `slack`, `cli`, `api`, `tool`.
    pub platform: String,
    /// The platform's user id.
    pub user_id: String,
    /// A name to show.
    pub display: String,
    /// Discord role ids (empty elsewhere).
    pub role_ids: Vec<String>,
    /// Whether the platform marks the sender as a bot.
    pub is_bot: bool,
    /// A role fixed by a local surface that authenticated the caller itself (the control socket
    /// acts as admin, `/v1/tool` as the agent it names). Chat adapters never set it.
    pub preset: Option<Role>,
    /// How a local caller reached lull (`pid 4242`), for the audit; see `Actor::via`.
    pub via: Option<String>,
}

impl Sender {
    /// A chat user, to be resolved against the platform's configuration.
    pub fn chat(platform: &str, user_id: &str, display: &str) -> Self {
        Self {
            platform: platform.into(),
            user_id: user_id.into(),
            display: display.into(),
            role_ids: Vec::new(),
            is_bot: false,
            preset: None,
            via: None,
        }
    }

    /// An operator on a local surface (CLI, control socket): always an admin.
    pub fn local_admin(platform: &str, user: &str) -> Self {
        Self {
            preset: Some(Role::Admin),
            ..Self::chat(platform, user, user)
        }
    }

    /// The same sender, noting how they reached lull (the audit shows it after the identity).
    pub fn via(mut self, via: impl Into<String>) -> Self {
        self.via = Some(via.into());
        self
    }

    /// An agent named in a tool call on a local surface.
    pub fn tool_agent(name: &str) -> Self {
        Self {
            preset: Some(Role::Agent),
            is_bot: true,
            ..Self::chat("tool", name, name)
        }
    }
}

/// `admins`, `admin_roles` and `agents` of one platform's section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlatformPolicy {
    /// User ids with every right.
    pub admins: Vec<String>,
    /// Discord role ids whose members are admins.
    pub admin_roles: Vec<String>,
    /// User (or bot) ids of agents.
    pub agents: Vec<String>,
}

/// Every platform's policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// By platform name.
    pub platforms: HashMap<String, PlatformPolicy>,
}

/// A refusal, worded for the sender.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

impl Policy {
    /// The sender's role, or `None` if they are not allowed at all.
    pub fn resolve(&self, sender: &Sender) -> Option<Role> {
        if let Some(role) = sender.preset {
            return Some(role);
        }
        let platform = self.platforms.get(&sender.platform)?;
        if platform.admins.contains(&sender.user_id)
            || sender
                .role_ids
                .iter()
                .any(|r| platform.admin_roles.contains(r))
        {
            Some(Role::Admin)
        } else if platform.agents.contains(&sender.user_id) {
            Some(Role::Agent)
        } else {
            None
        }
    }

    /// The message for a sender the configuration does not know.
    pub fn stranger_message(sender: &Sender) -> String {
        // A relay's senders are `relay:<name>`; its section is `[relay]`.
        let section = sender
            .platform
            .split_once(':')
            .map_or(sender.platform.as_str(), |(section, _)| section);
        format!(
            "Sorry, you are not allowed to use /maintenance here ({} user {}). An admin can add this id to \
             `admins` or `agents` in the [{section}] section of lull.toml.",
            sender.platform, sender.user_id
        )
    }
}

/// Whether `role` may run `command` at all (request-specific rules, such as cancelling only one's
/// own ask or never approving one's own request, are the queue's and are checked there).
pub fn authorize(role: Role, command: &Command) -> Result<(), Refusal> {
    let admin_only = |what: &str| {
        if role == Role::Admin {
            Ok(())
        } else {
            Err(Refusal(format!(
                "only an admin can {what}; agents can queue, cancel their own asks and read status"
            )))
        }
    };
    match command {
        Command::Help
        | Command::Status
        | Command::History
        | Command::Restart(_)
        | Command::Update(_)
        | Command::Cancel(_) => Ok(()),
        Command::Approve(_) => admin_only("approve requests"),
        Command::Reject(_) => admin_only("reject requests"),
        Command::Pause(_) => admin_only("pause maintenance"),
        Command::Resume => admin_only("resume maintenance"),
        Command::Release(_) => admin_only("release a run or the fleet slot"),
    }
}
