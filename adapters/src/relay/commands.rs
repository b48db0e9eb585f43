//! `POST /v1/relay/commands`: one command a user of the host typed (or a button they clicked),
//! with who and where, answered with lull's reply, or `{"reply": null}` when the text is not
//! lull's.
//!
//! Each `event_id` is applied once, per relay: the id is recorded with the first change the
//! command makes, and the answer is kept with it, so a host that asks again (after a timeout,
//! or after lull was killed) gets the original answer and nothing is applied twice. A copy that
//! arrives while the first is handled is refused with `in_progress`.

use lull_plugin::{Button, Input, Invocation, Plugin, Reply, Sender};
use lull_queue::AuditNote;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Relay, RelayError};
use crate::chat::at_most_once::Outcome;

/// Longest `event_id`, `user`, `display` or `chat`, in characters.
const MAX_ID_CHARS: usize = 200;
/// Longest command text, in characters.
const MAX_TEXT_CHARS: usize = 4000;
/// Longest click payload, in characters (lull's own are at most 64 bytes).
const MAX_CLICK_CHARS: usize = 64;
/// Longest command text the audit quotes.
const AUDIT_QUOTE_CHARS: usize = 120;

/// The body of `POST /v1/relay/commands`: `text` or `click`, exactly one.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["text"], "properties": {"text": {"type": "string"}}},
    {"required": ["click"], "properties": {"click": {"type": "string"}}},
]))]
pub struct CommandBody {
    /// The host's id of this message or click, unique per relay (put the chat in it where
    /// message ids are per chat).
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::names::NAME_PATTERN))]
    pub(crate) event_id: String,
    /// The host's id of the sender (what `[relay].admins` and `agents` list).
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::names::NAME_PATTERN))]
    pub(crate) user: String,
    /// A name to show for the sender.
    #[serde(default)]
    #[schemars(length(max = 200), regex(pattern = crate::names::TEXT_PATTERN))]
    pub(crate) display: Option<String>,
    /// The host's chat the command came from (notices about the request go back there).
    #[serde(default)]
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::names::NAME_PATTERN))]
    pub(crate) chat: Option<String>,
    /// Whether the message replies to one of lull's messages (then `approve r7k2` counts).
    #[serde(default)]
    pub(crate) reply_to_lull: bool,
    /// What the user typed.
    #[serde(default)]
    #[schemars(length(max = 4000))]
    pub(crate) text: Option<String>,
    /// The payload of a button of lull's they clicked.
    #[serde(default)]
    #[schemars(length(max = 64))]
    pub(crate) click: Option<String>,
}

/// What a host shows: lull's reply, or nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayAnswer {
    /// `None`: the text was not lull's; stay silent.
    pub(crate) reply: Option<RelayReply>,
}

/// lull's reply, for the host to show in the chat the command came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayReply {
    /// Without markup.
    pub(crate) text: String,
    /// With markdown (backtick code spans, `*bold*`).
    pub(crate) markdown: String,
    /// Show it only to the sender where the platform can (errors and refusals).
    pub(crate) ephemeral: bool,
    /// A prompt's buttons.
    pub(crate) buttons: Vec<Button>,
    /// The request it is about (short id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) request: Option<String>,
}

impl From<Reply> for RelayReply {
    fn from(reply: Reply) -> Self {
        Self {
            text: reply.plain,
            markdown: reply.text,
            ephemeral: reply.ephemeral,
            buttons: reply.buttons,
            request: reply.request,
        }
    }
}

/// What was sent: text or a click.
enum Sent<'a> {
    Text(&'a str),
    Click(&'a str),
}

/// `text` is only white space as the schema's patterns count it (ECMA-262's, with U+FEFF).
fn blank(text: &str) -> bool {
    crate::names::is_blank(text)
}

impl CommandBody {
    /// The checks the schema states, on characters as the schema counts them.
    fn check(&self) -> Result<Sent<'_>, RelayError> {
        let invalid = |message: String| RelayError::Invalid {
            code: "invalid_body",
            message,
        };
        for (field, value) in [
            ("event_id", Some(&self.event_id)),
            ("user", Some(&self.user)),
            ("chat", self.chat.as_ref()),
        ] {
            if let Some(value) = value
                && (blank(value) || value.chars().count() > MAX_ID_CHARS)
            {
                return Err(invalid(format!(
                    "{field} must be 1 to {MAX_ID_CHARS} characters, not only white space"
                )));
            }
        }
        // Ids and names are typed by the host, not by people: a control character is refused
        // (a newline in a display name could forge a line of lull's messages). The text is
        // chat, and is cleaned where it is kept.
        for (field, value) in [
            ("event_id", Some(&self.event_id)),
            ("user", Some(&self.user)),
            ("chat", self.chat.as_ref()),
            ("display", self.display.as_ref()),
        ] {
            if let Some(found) = value.and_then(|v| lull_queue::control_character(v)) {
                return Err(invalid(lull_queue::control_refusal(field, found)));
            }
        }
        if self
            .display
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_ID_CHARS)
        {
            return Err(invalid(format!(
                "display must be at most {MAX_ID_CHARS} characters"
            )));
        }
        match (&self.text, &self.click) {
            (Some(text), None) if text.chars().count() <= MAX_TEXT_CHARS => Ok(Sent::Text(text)),
            (None, Some(click)) if click.chars().count() <= MAX_CLICK_CHARS => {
                Ok(Sent::Click(click))
            }
            (Some(_), None) => Err(invalid(format!(
                "text must be at most {MAX_TEXT_CHARS} characters"
            ))),
            (None, Some(_)) => Err(invalid(format!(
                "click must be at most {MAX_CLICK_CHARS} characters (the payload of one of lull's buttons)"
            ))),
            _ => Err(invalid(
                "give exactly one of text (what the user typed) and click (the payload of a button they clicked)"
                    .into(),
            )),
        }
    }
}

/// The answer to a command whose first copy was applied before lull could keep its answer.
fn answer_lost(event_id: &str) -> RelayAnswer {
    RelayAnswer {
        reply: Some(
            Reply::refusal(format!(
                "This command (event {event_id}) was already handled, but its reply was lost when lull stopped. `/maintenance status` shows where things stand."
            ))
            .into(),
        ),
    }
}

impl Relay {
    /// Handles one relayed command from the caller `via` (`via local:alice, uid 1000, pid 42`,
    /// for the audit).
    pub async fn command(
        &self,
        plugin: &Plugin,
        body: CommandBody,
        via: String,
    ) -> Result<RelayAnswer, RelayError> {
        body.check()?;
        let (relay, plugin) = (self.clone(), plugin.clone());
        // Its own task: a host that hangs up mid-command (its timeout) must not cut the handling
        // between the change and keeping the answer and the audit note. Its retry gets
        // `in_progress` meanwhile, then the answer.
        tokio::spawn(async move { relay.command_to_the_end(&plugin, body, via).await })
            .await
            .map_err(|_| RelayError::Failed)?
    }

    async fn command_to_the_end(
        &self,
        plugin: &Plugin,
        body: CommandBody,
        via: String,
    ) -> Result<RelayAnswer, RelayError> {
        let sent = body.check()?;
        let store = plugin.scheduler().store();
        let display = body
            .display
            .as_deref()
            .filter(|d| !blank(d))
            .unwrap_or(&body.user);
        let by = format!("{}:{} ({via})", self.platform, body.user);
        let sender = Sender::chat(&self.platform, &body.user, display).via(via);
        let id = format!("{}:{}", self.settings.name, body.event_id);
        let handling = async {
            let reply = self.handle(plugin, &body, &sent, sender).await;
            let detail = audit_detail(&sent, body.chat.as_deref(), reply.as_ref());
            let answer = RelayAnswer {
                reply: reply.map(RelayReply::from),
            };
            (answer, AuditNote::new(by.clone(), "relay_command", detail))
        };
        match self.once(store).run_answered(&id, handling).await {
            Outcome::Ran(answer) | Outcome::Repeated(answer) => Ok(answer),
            Outcome::Seen => Ok(answer_lost(&body.event_id)),
            Outcome::Copy => Err(RelayError::InProgress(body.event_id.clone())),
            Outcome::Unreadable { .. } => Err(RelayError::Unreadable),
        }
    }

    async fn handle(
        &self,
        plugin: &Plugin,
        body: &CommandBody,
        sent: &Sent<'_>,
        sender: Sender,
    ) -> Option<Reply> {
        let input = match sent {
            // Only a command, or an answer (`approve r7k2`) to one of lull's own messages, as
            // lull's Telegram bot takes answers only as replies inside a host's bot.
            Sent::Text(text) if text.trim_start().starts_with('/') || body.reply_to_lull => {
                Input::Text((*text).to_owned())
            }
            Sent::Text(_) => return None,
            Sent::Click(payload) => Input::Click((*payload).to_owned()),
        };
        plugin
            .handle(Invocation {
                sender,
                chat: body.chat.clone(),
                input,
                // The host filters commands addressed to other bots (`/maintenance@other`).
                bot_username: None,
            })
            .await
    }
}

/// `"/maintenance restart" in telegram:-100 → Queued restart r7k2…` for the audit.
fn audit_detail(sent: &Sent<'_>, chat: Option<&str>, reply: Option<&Reply>) -> String {
    let what = match sent {
        Sent::Text(text) => {
            let quoted: String = text.chars().take(AUDIT_QUOTE_CHARS).collect();
            format!("{quoted:?}")
        }
        Sent::Click(payload) => format!("click {payload:?}"),
    };
    let answer = match reply {
        Some(reply) => reply.plain.lines().next().unwrap_or_default().to_owned(),
        None => "not lull's".to_owned(),
    };
    format!("{what} in {} → {answer}", chat.unwrap_or("no chat"))
}
