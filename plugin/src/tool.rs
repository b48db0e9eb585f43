//! The agent tool: the JSON form of the commands an agent may use, its schema, and its errors.
//! The call is parsed here; [`run`] runs it against the queue.

mod run;

use std::time::Duration;

use lull_queue::{AskError, MAX_IDLE, MAX_REASON_CHARS};
use serde_json::{Value, json};

/// The tool's name in the function-calling schema.
pub const TOOL_NAME: &str = "gateway_maintenance";

const FIELDS: [&str; 6] = [
    "agent",
    "action",
    "reason",
    "idle_seconds",
    "request_id",
    "chat",
];
/// Longest chat id a relayed tool call may name.
const MAX_CHAT_CHARS: usize = 200;
const ACTIONS: [&str; 4] = ["queue_restart", "queue_update", "status", "cancel"];

/// What the agent asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolAction {
    /// `queue_restart`.
    QueueRestart {
        /// Why.
        reason: String,
        /// An explicit idle window.
        idle: Option<Duration>,
    },
    /// `queue_update`.
    QueueUpdate {
        /// Why.
        reason: String,
        /// An explicit idle window.
        idle: Option<Duration>,
    },
    /// `status`.
    Status,
    /// `cancel` (withdraws the agent's own ask).
    Cancel {
        /// The request.
        request_id: String,
    },
}

/// A parsed tool call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The agent's name (required; it is the requester).
    pub agent: String,
    /// What it asks for.
    pub action: ToolAction,
    /// The chat the agent runs in, named by a relay's host (`[relay].agents`); the request is
    /// answered there. Not in the schema the model sees: the host fills it in.
    pub chat: Option<String>,
}

/// A tool error: a stable code for programs and a sentence for the model.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ToolError {
    /// The tool's own (`invalid_json`, `invalid_action`, `invalid_field`,
    /// `invalid_idle_seconds`, `invalid_reason`, `missing_agent`, `missing_request_id`), or a
    /// queue error kind's ([`lull_queue::ErrorKind::code`]).
    pub code: &'static str,
    /// The control API's HTTP status for it: 400 for the tool's own, the kind's otherwise.
    pub status: u16,
    /// What was wrong and what is accepted.
    pub message: String,
}

impl ToolError {
    /// A bad input, with `code` (answered 400 by the API).
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            status: 400,
            message: message.into(),
        }
    }

    /// A refusal of the queue's `kind` (its code and status), with `message`.
    pub fn of_kind(kind: lull_queue::ErrorKind, message: impl Into<String>) -> Self {
        Self {
            code: kind.code(),
            status: kind.http_status(),
            message: message.into(),
        }
    }

    /// `{"ok":false,"error":{"code","message"}}`.
    pub fn to_json(&self) -> Value {
        json!({"ok": false, "error": {"code": self.code, "message": self.message}})
    }
}

impl From<lull_queue::Error> for ToolError {
    /// A queue error: the code and status its kind carries.
    fn from(error: lull_queue::Error) -> Self {
        Self::of_kind(error.kind(), error.to_string())
    }
}

impl From<AskError> for ToolError {
    /// An ask the queue refused as it was checked: its own code and status.
    fn from(error: AskError) -> Self {
        Self {
            code: error.code(),
            status: error.http_status(),
            message: error.to_string(),
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a tool call: its JSON shape and types. The ask's bounds are the queue's to check
/// ([`lull_queue::Ask::new`]).
pub fn parse_call(text: &str) -> Result<ToolCall, ToolError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ToolError::new(
            "invalid_json",
            format!("the tool input is not valid JSON: {e}"),
        )
    })?;
    parse_value(&value)
}

/// Parses a tool call already decoded from JSON.
pub fn parse_value(value: &Value) -> Result<ToolCall, ToolError> {
    let Some(object) = value.as_object() else {
        return Err(ToolError::new(
            "invalid_json",
            format!("expected a JSON object, got {}", type_name(value)),
        ));
    };
    if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ToolError::new(
            "invalid_field",
            format!("unknown field {unknown:?}; accepted: {}", FIELDS.join(", ")),
        ));
    }
    let string = |field: &str| -> Result<Option<&str>, ToolError> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ToolError::new(
                "invalid_field",
                format!("{field} must be a string, not {}", type_name(other)),
            )),
        }
    };
    let agent = string("agent")?
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ToolError::new(
                "missing_agent",
                "agent is required: the name of the agent making the call",
            )
        })?;
    if let Some(found) = lull_queue::control_character(agent) {
        return Err(ToolError::new(
            "invalid_field",
            lull_queue::control_refusal("agent", found),
        ));
    }
    if agent.chars().count() > 100 {
        return Err(ToolError::new(
            "invalid_field",
            "agent must be at most 100 characters",
        ));
    }
    let action = string("action")?.ok_or_else(|| {
        ToolError::new(
            "invalid_action",
            format!("action is required; one of {}", ACTIONS.join(", ")),
        )
    })?;
    let reason = string("reason")?.unwrap_or("").to_owned();
    let idle = match object.get("idle_seconds") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => {
            let seconds = n.as_u64().ok_or_else(|| {
                ToolError::new(
                    "invalid_idle_seconds",
                    format!("idle_seconds must be a whole number of seconds ≥ 0, got {n}"),
                )
            })?;
            Some(Duration::from_secs(seconds))
        }
        Some(other) => {
            return Err(ToolError::new(
                "invalid_idle_seconds",
                format!("idle_seconds must be a number, not {}", type_name(other)),
            ));
        }
    };
    let chat = match string("chat")?.map(str::trim) {
        None => None,
        Some(chat) if lull_queue::control_character(chat).is_some() => {
            return Err(ToolError::new(
                "invalid_field",
                "chat contains a control character; it names a chat, e.g. \"telegram:-1001234567890\"",
            ));
        }
        Some(chat) if chat.is_empty() || chat.chars().count() > MAX_CHAT_CHARS => {
            return Err(ToolError::new(
                "invalid_field",
                format!(
                    "chat must be 1 to {MAX_CHAT_CHARS} characters, e.g. \"telegram:-1001234567890\""
                ),
            ));
        }
        Some(chat) => Some(chat.to_owned()),
    };
    let action = match action {
        "queue_restart" => ToolAction::QueueRestart { reason, idle },
        "queue_update" => ToolAction::QueueUpdate { reason, idle },
        "status" => ToolAction::Status,
        "cancel" => {
            let request_id = string("request_id")?
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ToolError::new(
                        "missing_request_id",
                        "cancel needs request_id (the id a queue_* call returned)",
                    )
                })?;
            ToolAction::Cancel {
                request_id: request_id.to_owned(),
            }
        }
        other => {
            return Err(ToolError::new(
                "invalid_action",
                format!("unknown action {other:?}; one of {}", ACTIONS.join(", ")),
            ));
        }
    };
    Ok(ToolCall {
        agent: agent.to_owned(),
        action,
        chat,
    })
}

/// The OpenAI function-calling schema of the tool.
pub fn tool_schema() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": "Ask for a restart or update of the chat gateway you run in, read the maintenance status, or withdraw your ask. \
                Nothing happens immediately: lull queues the request and runs it only when no chat session has a live agent run \
                (including yours) and the gateway has been idle for the idle window. Your current conversation is never cut off. \
                Ask once: asking again is not needed and only adds you as a repeat requester. You will be told in chat when it \
                starts and when the gateway is back.",
            "parameters": {
                "type": "object",
                "properties": {
                    "agent": {"type": "string", "description": "Your agent name; you become a requester under this name."},
                    "action": {
                        "type": "string",
                        "enum": ACTIONS,
                        "description": "queue_restart: restart the gateway when idle (e.g. after installing a tool). queue_update: update then restart when idle. status: what is queued and why it waits. cancel: withdraw your own ask."
                    },
                    "reason": {"type": "string", "maxLength": MAX_REASON_CHARS, "description": "Why, for the people who will see it (queue_* only)."},
                    "idle_seconds": {"type": "integer", "minimum": 0, "maximum": MAX_IDLE.as_secs(), "description": "How long the gateway must be idle first; leave it out for the configured default."},
                    "request_id": {"type": "string", "description": "The request to cancel (its id or short id)."}
                },
                "required": ["agent", "action"],
                "additionalProperties": false
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> &'static str {
        parse_call(text).unwrap_err().code
    }

    #[test]
    fn good_calls_parse() {
        assert_eq!(
            parse_call(
                r#"{"agent":"hermes","action":"queue_restart","reason":"new tool","idle_seconds":600}"#
            ),
            Ok(ToolCall {
                agent: "hermes".into(),
                action: ToolAction::QueueRestart {
                    reason: "new tool".into(),
                    idle: Some(Duration::from_secs(600))
                },
                chat: None,
            })
        );
        assert_eq!(
            parse_call(r#"{"agent":"a","action":"status","chat":" telegram:-100 "}"#)
                .unwrap()
                .chat
                .as_deref(),
            Some("telegram:-100")
        );
        assert_eq!(
            code(r#"{"agent":"a","action":"status","chat":""}"#),
            "invalid_field"
        );
        assert_eq!(
            code(r#"{"agent":"a","action":"status","chat":7}"#),
            "invalid_field"
        );
        assert_eq!(
            parse_call(r#"{"agent":"a","action":"status"}"#)
                .unwrap()
                .action,
            ToolAction::Status
        );
        assert_eq!(
            parse_call(r#"{"agent":"a","action":"cancel","request_id":"r7k2"}"#)
                .unwrap()
                .action,
            ToolAction::Cancel {
                request_id: "r7k2".into()
            }
        );
        assert!(
            parse_call(
                r#"{"agent":"a","action":"queue_update","reason":null,"idle_seconds":null}"#
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_calls_get_specific_codes() {
        let cases = [
            ("not json", "invalid_json"),
            ("[1,2]", "invalid_json"),
            (r#"{"action":"status"}"#, "missing_agent"),
            (r#"{"agent":"  ","action":"status"}"#, "missing_agent"),
            (r#"{"agent":7,"action":"status"}"#, "invalid_field"),
            (r#"{"agent":"a"}"#, "invalid_action"),
            (r#"{"agent":"a","action":"restart_now"}"#, "invalid_action"),
            (
                r#"{"agent":"a","action":"status","force":true}"#,
                "invalid_field",
            ),
            (
                r#"{"agent":"a","action":"queue_restart","idle_seconds":"20m"}"#,
                "invalid_idle_seconds",
            ),
            (
                r#"{"agent":"a","action":"queue_restart","idle_seconds":-1}"#,
                "invalid_idle_seconds",
            ),
            (
                r#"{"agent":"a","action":"queue_restart","idle_seconds":1.5}"#,
                "invalid_idle_seconds",
            ),
            (
                r#"{"agent":"a","action":"queue_restart","reason":["x"]}"#,
                "invalid_field",
            ),
            (r#"{"agent":"a","action":"cancel"}"#, "missing_request_id"),
        ];
        for (text, expected) in cases {
            assert_eq!(code(text), expected, "{text}");
        }
        let err = parse_call(r#"{"agent":"a","action":"restart_now"}"#).unwrap_err();
        assert_eq!(
            err.message,
            "unknown action \"restart_now\"; one of queue_restart, queue_update, status, cancel"
        );
    }

    #[test]
    fn the_schema_names_every_field_and_says_what_never_happens() {
        let schema = tool_schema();
        assert_eq!(schema["function"]["name"], TOOL_NAME);
        let properties = schema["function"]["parameters"]["properties"]
            .as_object()
            .unwrap();
        let mut names: Vec<&str> = properties.keys().map(String::as_str).collect();
        names.sort_unstable();
        // Every field but the chat, which a relay's host fills in, never the model.
        let mut fields: Vec<&str> = FIELDS.into_iter().filter(|f| *f != "chat").collect();
        fields.sort_unstable();
        assert_eq!(names, fields);
        let description = schema["function"]["description"].as_str().unwrap();
        assert!(
            description.contains("Nothing happens immediately")
                && description.contains("asking again is not needed")
        );
    }
}
