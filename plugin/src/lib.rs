//! lull-plugin: the platform-neutral command core.
//!
//! An adapter turns a platform event into an [`Invocation`], hands it to [`Plugin::handle`], and
//! sends back the [`Reply`]. Queue events become [`Notice`]s (one per chat) in the queue's
//! durable outbox, which the adapter drains. Nothing here knows sled or any platform crate.

pub mod command;
pub mod notice;
pub mod policy;
pub mod prompt;
pub mod reply;
pub mod tool;

#[cfg(test)]
mod mock_tests;

use std::sync::Arc;
use std::time::Duration;

use lull_queue::{Actor, Error, Kind, NoticeHook, Origin, Role, Scheduler, Withdrawal};
use serde_json::{Value, json};

pub use command::{Command, ParseError, parse};
pub use notice::{ChatRef, Notice, notices_for};
pub use policy::{PlatformPolicy, Policy, Sender};
pub use prompt::{Button, ButtonStyle, Click};
pub use reply::Reply;
pub use tool::{TOOL_NAME, ToolError, tool_schema};

/// The plugin's configuration.
#[derive(Clone, Debug)]
pub struct PluginConfig {
    /// `maintenance.idle_seconds`: the window when an ask gives none.
    pub default_idle: Duration,
    /// `maintenance.min_agent_idle_seconds`: the shortest window an agent may ask for.
    pub min_agent_idle: Duration,
    /// `maintenance.max_wait_seconds` (for the escalation prompt's wording).
    pub max_wait: Duration,
    /// Who may do what on each platform.
    pub policy: Policy,
    /// Chats that hear about every request (`notify_chat_id`, `notify_channel_id`, `notify_channel`).
    pub notify: Vec<ChatRef>,
    /// The relay (`[relay]`), if one is configured: agents' tool calls through it may name
    /// the chat they run in.
    pub relay: Option<ChatRelay>,
}

/// A relay as the tool sees it: the platform its chats are on (`relay:<name>`), and the agents
/// whose tool calls may name a chat there (`[relay].agents`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatRelay {
    /// `relay:<name>`.
    pub platform: String,
    /// Agent names.
    pub agents: Vec<String>,
}

/// What the sender sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Chat text (`/maintenance …`, or a text reply `approve <id>`).
    Text(String),
    /// An already-structured command (Discord's slash command options).
    Command(Command),
    /// A clicked button's payload.
    Click(String),
    /// The agent tool's JSON.
    ToolJson(String),
}

/// One command from one sender in one chat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// Who.
    pub sender: Sender,
    /// The chat or channel it came from (notices about the request go back there).
    pub chat: Option<String>,
    /// What.
    pub input: Input,
    /// The username this bot answers to (`/maintenance@name`), if the platform has one.
    pub bot_username: Option<String>,
}

/// The command core of one profile. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

struct Inner {
    scheduler: Scheduler,
    config: PluginConfig,
}

fn origin_of(platform: &str) -> Origin {
    match platform {
        "cli" => Origin::Cli,
        // The control socket's callers: `local:<user>`.
        "api" | "local" => Origin::Api,
        "tool" => Origin::Tool,
        _ => Origin::Chat,
    }
}

impl Plugin {
    /// A plugin over `scheduler` (and its store and tracker). From now on every queue event's
    /// notices are written to the store's outbox with the change that caused it.
    pub fn new(scheduler: Scheduler, config: PluginConfig) -> Self {
        let hook = notice_hook(config.notify.clone(), config.max_wait);
        scheduler.store().set_notice_hook(hook);
        Self {
            inner: Arc::new(Inner { scheduler, config }),
        }
    }

    /// The scheduler.
    pub fn scheduler(&self) -> &Scheduler {
        &self.inner.scheduler
    }

    /// The configuration.
    pub fn config(&self) -> &PluginConfig {
        &self.inner.config
    }

    /// Handles one invocation. `None` means the text was not for lull (ordinary chat, or a
    /// command addressed to another bot): the adapter stays silent.
    pub async fn handle(&self, invocation: Invocation) -> Option<Reply> {
        let command = match &invocation.input {
            Input::Text(text) => match parse(text, invocation.bot_username.as_deref()) {
                Ok(command) => Ok(command),
                Err(ParseError::NotForUs) => return None,
                Err(e) => Err(e.to_string()),
            },
            Input::Command(command) => Ok(command.clone()),
            Input::Click(payload) => match prompt::parse_click(payload) {
                Ok(Click::Command(command)) => Ok(command),
                Ok(Click::KeepWaiting(id)) => {
                    return Some(self.keep_waiting(&invocation, &id).await);
                }
                Err(forged) => Err(forged.to_string()),
            },
            Input::ToolJson(json) => {
                // Authorized like any other input; the requester is the sender, whatever the JSON says.
                let Some(role) = self.inner.config.policy.resolve(&invocation.sender) else {
                    return Some(self.refuse_stranger(&invocation.sender).await);
                };
                let value = self
                    .tool_as(&invocation.sender, invocation.chat.as_deref(), role, json)
                    .await;
                return Some(Reply::markdown(value.to_string()));
            }
        };
        let Some(role) = self.inner.config.policy.resolve(&invocation.sender) else {
            return Some(self.refuse_stranger(&invocation.sender).await);
        };
        let command = match command {
            Ok(command) => command,
            Err(message) => return Some(Reply::refusal(message)),
        };
        let actor = actor(&invocation.sender, invocation.chat.as_deref(), role);
        Some(self.run(command, actor).await)
    }

    async fn refuse_stranger(&self, sender: &Sender) -> Reply {
        let store = self.inner.scheduler.store();
        let detail = format!(
            "{} ({})",
            sender.display,
            if sender.is_bot { "bot" } else { "user" }
        );
        if let Err(error) = store
            .record(
                &format!("{}:{}", sender.platform, sender.user_id),
                "refused",
                detail,
                None,
            )
            .await
        {
            tracing::warn!(%error, "could not audit a refused sender");
        }
        Reply::refusal(Policy::stranger_message(sender))
    }

    async fn keep_waiting(&self, invocation: &Invocation, id: &str) -> Reply {
        match self.inner.config.policy.resolve(&invocation.sender) {
            Some(Role::Admin) => {}
            Some(Role::Agent) => return Reply::refusal("only an admin can answer this prompt"),
            None => return self.refuse_stranger(&invocation.sender).await,
        }
        let store = self.inner.scheduler.store();
        match store.find(id) {
            Ok(request) if request.state.is_open() => {
                // Only time inside maintenance windows counts toward the next prompt.
                let windowed =
                    !request.ignore_windows && self.inner.scheduler.windows().configured();
                let period = reply::human(self.inner.config.max_wait);
                let when = if windowed {
                    format!("after another {period} inside the maintenance windows")
                } else {
                    format!("in {period}")
                };
                Reply::markdown(format!(
                    "Still waiting for {} — it will never be forced. Admins will be asked again {when}.",
                    reply::name(&request),
                ))
            }
            Ok(request) => Reply::refusal(format!(
                "{} is {} now; nothing is waiting.",
                reply::name(&request),
                request.state
            )),
            Err(error) => Reply::refusal(error.to_string()),
        }
    }

    /// Runs an authorized sender's command.
    async fn run(&self, command: Command, actor: Actor) -> Reply {
        if let Err(refusal) = policy::authorize(actor.role, &command) {
            self.audit_refusal(&actor, &command).await;
            return Reply::refusal(refusal.0);
        }
        self.execute(command, actor)
            .await
            .unwrap_or_else(|error| Reply::refusal(error.to_string()))
    }

    async fn execute(&self, command: Command, actor: Actor) -> Result<Reply, Error> {
        let scheduler = &self.inner.scheduler;
        let store = scheduler.store();
        let now = store.now();
        let by = actor.by();
        Ok(match command {
            Command::Help => reply::help(),
            Command::Status => reply::status(&scheduler.status()?, now),
            Command::History => reply::history(&store.history(10)?, now),
            Command::Restart(ask) => self.ask(Kind::Restart, ask, actor).await,
            Command::Update(ask) => self.ask(Kind::Update, ask, actor).await,
            Command::Cancel(id) => {
                let cancelled = store.cancel(&id, actor).await?;
                match cancelled.withdrawal {
                    Withdrawal::Cancelled => {
                        Reply::markdown(format!("Cancelled {}.", reply::name(&cancelled.request)))
                    }
                    Withdrawal::RequesterRemoved { remaining } => Reply::markdown(format!(
                        "Withdrew your ask; {} stays queued for {remaining} other requester{}.",
                        reply::name(&cancelled.request),
                        if remaining == 1 { "" } else { "s" }
                    )),
                }
                .about(&cancelled.request)
            }
            Command::Approve(id) => {
                let request = store.approve(&id, actor.clone()).await?;
                Reply::markdown(format!(
                    "Approved {} ({}, {now}); it runs when the gateway is idle.",
                    reply::name(&request),
                    actor.display
                ))
                .about(&request)
            }
            Command::Reject(id) => {
                let request = store.reject(&id, actor.clone()).await?;
                Reply::markdown(format!(
                    "Rejected {} ({}, {now}).",
                    reply::name(&request),
                    actor.display
                ))
                .about(&request)
            }
            Command::Pause(duration) => {
                let pause = scheduler.pause(duration, &by, "").await?;
                Reply::markdown(match pause.until {
                    Some(until) => format!("Maintenance paused until {until}."),
                    None => "Maintenance paused until `/maintenance resume`.".into(),
                })
            }
            Command::Resume => {
                scheduler.resume(&by).await?;
                Reply::markdown("Maintenance resumed.")
            }
            Command::Release(session) if session == command::FLEET_SLOT => {
                let hold = scheduler.release_fleet_slot(&by).await?;
                Reply::markdown(format!(
                    "Released this replica's fleet slot ({} in group {}); other replicas may restart now.",
                    hold.key, hold.group
                ))
            }
            Command::Release(session) => {
                let released = scheduler.release(&session, &by).await?;
                Reply::markdown(format!(
                    "Released {released} run{} of {session}; it no longer holds maintenance back.",
                    if released == 1 { "" } else { "s" }
                ))
            }
        })
    }

    async fn audit_refusal(&self, actor: &Actor, command: &Command) {
        let store = self.inner.scheduler.store();
        if let Err(error) = store
            .record(&actor.by(), "refused", command.to_string(), None)
            .await
        {
            tracing::warn!(%error, "could not audit a refusal");
        }
    }

    async fn ask(&self, kind: Kind, ask: command::Ask, actor: Actor) -> Reply {
        match self
            .submit(kind, ask.reason, ask.idle, ask.ignore_windows, actor)
            .await
        {
            Ok((request, deduplicated)) => {
                let store = self.inner.scheduler.store();
                match self.inner.scheduler.status() {
                    Ok(status) => reply::queued(&request, deduplicated, &status, store.now()),
                    Err(error) => Reply::refusal(error.to_string()),
                }
            }
            Err(error) => Reply::refusal(error.message),
        }
    }

    /// Asks for a restart or update on behalf of `actor` (agents must leave `min_agent_idle`;
    /// only admins may set `ignore_windows`).
    pub async fn submit(
        &self,
        kind: Kind,
        reason: String,
        idle: Option<Duration>,
        ignore_windows: bool,
        actor: Actor,
    ) -> Result<(lull_queue::Request, bool), ToolError> {
        let config = &self.inner.config;
        // The limit is on the reason as given; what is stored is trimmed.
        check_ask(&reason, idle)?;
        let reason = reason.trim().to_owned();
        if ignore_windows && actor.role != Role::Admin {
            // The one place every surface passes (chat, the control API's agent token), so the
            // refusal is worded and audited alike; the store refuses it too, as a last guard.
            let detail = format!("{kind} --window any");
            let store = self.inner.scheduler.store();
            if let Err(error) = store.record(&actor.by(), "refused", detail, None).await {
                tracing::warn!(%error, "could not audit a refusal");
            }
            return Err(ToolError::of_kind(
                lull_queue::ErrorKind::Forbidden,
                "only an admin can let a request start outside the maintenance windows (--window any)",
            ));
        }
        if actor.role == Role::Agent && idle.is_some_and(|i| i < config.min_agent_idle) {
            return Err(ToolError::new(
                "invalid_idle_seconds",
                format!(
                    "agents must leave at least {} of idle time (min_agent_idle_seconds)",
                    reply::human(config.min_agent_idle)
                ),
            ));
        }
        let ask = lull_queue::Ask {
            kind,
            reason,
            idle_seconds: idle.unwrap_or(config.default_idle).as_secs(),
            idle_explicit: idle.is_some(),
            ignore_windows,
            actor,
        };
        let submitted = self
            .inner
            .scheduler
            .store()
            .submit(ask)
            .await
            .map_err(tool_error)?;
        Ok((submitted.request, submitted.deduplicated))
    }

    /// Runs the agent tool on `json` (the agent named in it is the requester) and returns the
    /// tool result: `{"ok":true,…}` or `{"ok":false,"error":{"code","message"}}`.
    pub async fn tool(&self, json: &str) -> Value {
        self.tool_via(json, None).await
    }

    /// [`Plugin::tool`], noting for the audit how the call reached lull (the local user and
    /// process a call over the control socket came from).
    pub async fn tool_via(&self, json: &str, via: Option<&str>) -> Value {
        let call = match tool::parse_call(json, self.inner.config.min_agent_idle) {
            Ok(call) => call,
            Err(error) => return error.to_json(),
        };
        let mut sender = Sender::tool_agent(&call.agent);
        sender.via = via.map(str::to_owned);
        let actor = match &call.chat {
            None => actor(&sender, None, Role::Agent),
            Some(chat) => match self.relayed_agent(sender, chat) {
                Ok(actor) => actor,
                Err(error) => return error.to_json(),
            },
        };
        self.tool_call(call.action, actor)
            .await
            .unwrap_or_else(|e| e.to_json())
    }

    /// The requester of a tool call that names its chat: the agent as a sender of the relay,
    /// so the request is answered in that chat through the relay. Only `[relay].agents` may.
    fn relayed_agent(&self, sender: Sender, chat: &str) -> Result<Actor, ToolError> {
        let Some(relay) = &self.inner.config.relay else {
            return Err(ToolError::new(
                "invalid_field",
                "chat is accepted only when lull.toml has a [relay] section: it names a chat of the relay's host; leave it out otherwise",
            ));
        };
        if !relay.agents.contains(&sender.user_id) {
            return Err(ToolError::of_kind(
                lull_queue::ErrorKind::Forbidden,
                format!(
                    "agent {:?} may not name a chat: only the agents in [relay].agents may (the relay delivers their answers)",
                    sender.user_id
                ),
            ));
        }
        let relayed = Sender {
            platform: relay.platform.clone(),
            ..sender
        };
        Ok(Actor {
            origin: Origin::Tool,
            ..actor(&relayed, Some(chat), Role::Agent)
        })
    }

    /// Runs the agent tool for an authorized `sender` (who is the requester; the JSON's `agent`
    /// may be left out).
    pub async fn tool_as(
        &self,
        sender: &Sender,
        chat: Option<&str>,
        role: Role,
        json: &str,
    ) -> Value {
        let mut value: Value = match serde_json::from_str(json) {
            Ok(value) => value,
            Err(e) => {
                return ToolError::new(
                    "invalid_json",
                    format!("the tool input is not valid JSON: {e}"),
                )
                .to_json();
            }
        };
        if let Some(object) = value.as_object_mut() {
            object.insert("agent".into(), Value::String(sender.display.clone()));
        }
        let call = match tool::parse_value(&value, self.inner.config.min_agent_idle) {
            Ok(call) => call,
            Err(error) => return error.to_json(),
        };
        if call.chat.is_some() {
            return ToolError::new(
                "invalid_field",
                "chat is set by the platform here (the chat the call was posted in); leave it out",
            )
            .to_json();
        }
        self.tool_call(call.action, actor(sender, chat, role))
            .await
            .unwrap_or_else(|e| e.to_json())
    }

    async fn tool_call(&self, action: tool::ToolAction, actor: Actor) -> Result<Value, ToolError> {
        let scheduler = &self.inner.scheduler;
        let store = scheduler.store();
        let (request, deduplicated, message) = match action {
            tool::ToolAction::QueueRestart { reason, idle } => {
                let (request, dedup) = self
                    .submit(Kind::Restart, reason, idle, false, actor)
                    .await?;
                let message = tool_message(&request, dedup);
                (Some(request), dedup, message)
            }
            tool::ToolAction::QueueUpdate { reason, idle } => {
                let (request, dedup) = self
                    .submit(Kind::Update, reason, idle, false, actor)
                    .await?;
                let message = tool_message(&request, dedup);
                (Some(request), dedup, message)
            }
            tool::ToolAction::Status => {
                let status = scheduler.status().map_err(tool_error)?;
                let text = reply::status(&status, store.now()).plain;
                (
                    status.open.into_iter().next().or(status.running),
                    false,
                    text,
                )
            }
            tool::ToolAction::Cancel { request_id } => {
                let cancelled = store.cancel(&request_id, actor).await.map_err(tool_error)?;
                let message = match cancelled.withdrawal {
                    Withdrawal::Cancelled => format!("Cancelled {}.", cancelled.request.short_id),
                    Withdrawal::RequesterRemoved { remaining } => format!(
                        "Withdrew your ask; {} stays queued for {remaining} other requester(s).",
                        cancelled.request.short_id
                    ),
                };
                (Some(cancelled.request), false, message)
            }
        };
        let status = scheduler.status().map_err(tool_error)?;
        let now = store.now();
        let blockers: Vec<String> = status
            .blockers
            .iter()
            .map(|b| reply::blocker_words(b, &status, now))
            .collect();
        Ok(json!({
            "ok": true,
            "request": request,
            "deduplicated": deduplicated,
            "message": message,
            "blockers": blockers,
            "eta": reply::eta_words(&status, now),
        }))
    }

    /// The notices an event produces, one per chat.
    pub fn notices(&self, event: &lull_queue::QueueEvent) -> Vec<Notice> {
        let config = &self.inner.config;
        notices_for(
            event,
            &config.notify,
            config.max_wait,
            self.inner.scheduler.store().now(),
        )
    }
}

/// The hook that writes each queue event's notices to the store's outbox, in the same flush as
/// the change that caused the event (see `Store::set_notice_hook`).
pub fn notice_hook(notify: Vec<ChatRef>, max_wait: Duration) -> NoticeHook {
    Arc::new(move |event, now| {
        notices_for(event, &notify, max_wait, now)
            .into_iter()
            .filter_map(|notice| serde_json::to_value(notice).ok())
            .collect()
    })
}

/// The bounds every ask must keep, whichever surface it came through: a reason of at most 500
/// characters and an idle window of at most 7 days.
pub fn check_ask(reason: &str, idle: Option<Duration>) -> Result<(), ToolError> {
    let chars = reason.chars().count();
    if chars > command::MAX_REASON_CHARS {
        return Err(ToolError::new(
            "invalid_reason",
            format!(
                "the reason is {chars} characters; at most {} are accepted",
                command::MAX_REASON_CHARS
            ),
        ));
    }
    if idle.is_some_and(|i| i > command::MAX_IDLE) {
        return Err(ToolError::new(
            "invalid_idle_seconds",
            "the idle window is more than 7 days (604800 seconds)",
        ));
    }
    Ok(())
}

/// The queue's actor for a sender with a resolved role.
pub fn actor(sender: &Sender, chat: Option<&str>, role: Role) -> Actor {
    Actor {
        platform: sender.platform.clone(),
        chat: chat.map(str::to_owned),
        user_id: sender.user_id.clone(),
        display: sender.display.clone(),
        role,
        origin: origin_of(&sender.platform),
        via: sender.via.clone(),
    }
}

fn tool_message(request: &lull_queue::Request, deduplicated: bool) -> String {
    if deduplicated {
        format!(
            "You joined the pending {} {}; asking again is not needed. It runs only when the gateway is idle — it will not interrupt your conversation.",
            request.kind, request.short_id
        )
    } else {
        format!(
            "Queued {} {}. Nothing happens now: it runs only when no agent run is live and the gateway has been idle for {}s.",
            request.kind, request.short_id, request.idle_seconds
        )
    }
}

/// A queue error as a tool error: the code and status its kind carries.
pub fn tool_error(error: Error) -> ToolError {
    ToolError::of_kind(error.kind(), error.to_string())
}
