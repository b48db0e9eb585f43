//! The tool path: an agent's tool call (over the control API, or posted through a chat) run
//! against the queue and answered as the tool's JSON result.

use std::time::Duration;

use lull_queue::{Actor, AskDraft, Kind, Origin, Role, Withdrawal};
use serde_json::{Value, json};

use super::{ToolAction, ToolError, parse_call, parse_value};
use crate::policy::Sender;
use crate::reply;
use crate::{Plugin, actor};

impl Plugin {
    /// Runs the agent tool on `json` (the agent named in it is the requester) and returns the
    /// tool result: `{"ok":true,…}` or `{"ok":false,"error":{"code","message"}}`.
    pub async fn tool(&self, json: &str) -> Value {
        self.tool_via(json, None).await
    }

    /// [`Plugin::tool`], noting for the audit how the call reached lull (the local user and
    /// process a call over the control socket came from).
    pub async fn tool_via(&self, json: &str, via: Option<&str>) -> Value {
        self.tool_keyed(json, via, None).await
    }

    /// [`Plugin::tool_via`] for a caller that proved only a credential (a bearer token over
    /// TCP): the requester is the credential plus the agent name the call gives
    /// (`agent-token/hermes`), so a holder of one token cannot withdraw, or speak for, the asks
    /// of a caller that came another way under the same name.
    pub async fn tool_keyed(
        &self,
        json: &str,
        via: Option<&str>,
        credential: Option<&str>,
    ) -> Value {
        let call = match parse_call(json) {
            Ok(call) => call,
            Err(error) => return error.to_json(),
        };
        let mut sender = Sender::tool_agent(&call.agent);
        sender.via = via.map(str::to_owned);
        if let (Some(credential), None) = (credential, &call.chat) {
            sender.user_id = format!("{credential}/{}", call.agent);
        }
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
        let call = match parse_value(&value) {
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

    async fn tool_call(&self, action: ToolAction, actor: Actor) -> Result<Value, ToolError> {
        let scheduler = &self.inner.scheduler;
        let store = scheduler.store();
        let (request, deduplicated, message) = match action {
            ToolAction::QueueRestart { reason, idle } => {
                let (request, dedup) = self
                    .submit(draft(Kind::Restart, reason, idle, actor))
                    .await?;
                let message = tool_message(&request, dedup);
                (Some(request), dedup, message)
            }
            ToolAction::QueueUpdate { reason, idle } => {
                let (request, dedup) = self
                    .submit(draft(Kind::Update, reason, idle, actor))
                    .await?;
                let message = tool_message(&request, dedup);
                (Some(request), dedup, message)
            }
            ToolAction::Status => {
                let status = scheduler.status().map_err(ToolError::from)?;
                let text = reply::status(&status, store.now()).plain;
                (
                    status.open.into_iter().next().or(status.running),
                    false,
                    text,
                )
            }
            ToolAction::Cancel { request_id } => {
                let cancelled = store
                    .cancel(&request_id, actor)
                    .await
                    .map_err(ToolError::from)?;
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
        let status = scheduler.status().map_err(ToolError::from)?;
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

/// An agent's ask through the tool: never `--window any` (the tool has no such field).
fn draft(kind: Kind, reason: String, idle: Option<Duration>, actor: Actor) -> AskDraft {
    AskDraft {
        kind,
        reason,
        idle,
        ignore_windows: false,
        actor,
    }
}
