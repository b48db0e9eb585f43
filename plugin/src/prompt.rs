//! Buttons on prompts (approval, max-wait escalation), platform-neutral. A payload carries only
//! a verb and a request's short id; whoever clicks is authorized again when they click, so a
//! forged or replayed payload can do no more than typing the command could.

use lull_queue::{ShortId, Timestamp};

use crate::command::Command;

/// Telegram's limit on callback data; every payload fits.
pub const MAX_PAYLOAD_BYTES: usize = 64;
/// What every payload of lull's buttons starts with.
pub const PAYLOAD_PREFIX: &str = "lull:";
const PREFIX: &str = PAYLOAD_PREFIX;

/// How a button looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonStyle {
    /// The suggested action.
    Primary,
    /// A destructive action.
    Danger,
    /// Anything else.
    Secondary,
}

/// A button of a prompt.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Button {
    /// What it says.
    pub label: String,
    /// What comes back when clicked (≤ 64 bytes).
    pub payload: String,
    /// How it looks.
    pub style: ButtonStyle,
}

/// What a click asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Click {
    /// A command, authorized like the typed one.
    Command(Command),
    /// "Keep waiting" on an escalation: nothing changes; the next prompt comes a period later.
    KeepWaiting(String),
}

/// A payload that did not come from lull (or not from this version).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "this button is not one of lull's (or it is from an older version); use /maintenance status"
)]
pub struct ForgedPayload;

fn payload(verb: char, short_id: &ShortId) -> String {
    let payload = format!("{PREFIX}{verb}:{short_id}");
    debug_assert!(payload.len() <= MAX_PAYLOAD_BYTES);
    payload
}

/// Whether a button payload is lull's (so an adapter embedded in a host's bot leaves the host's
/// own buttons alone).
pub fn is_lull_payload(payload: &str) -> bool {
    payload.starts_with(PREFIX)
}

/// Approve / reject buttons for a request awaiting approval.
pub fn approval_buttons(short_id: &ShortId) -> Vec<Button> {
    vec![
        Button {
            label: "Approve".into(),
            payload: payload('a', short_id),
            style: ButtonStyle::Primary,
        },
        Button {
            label: "Reject".into(),
            payload: payload('r', short_id),
            style: ButtonStyle::Danger,
        },
    ]
}

/// Keep waiting / cancel buttons for a request past `max_wait_seconds`.
pub fn escalation_buttons(short_id: &ShortId) -> Vec<Button> {
    vec![
        Button {
            label: "Keep waiting".into(),
            payload: payload('w', short_id),
            style: ButtonStyle::Secondary,
        },
        Button {
            label: "Cancel".into(),
            payload: payload('c', short_id),
            style: ButtonStyle::Danger,
        },
    ]
}

/// Reads a clicked payload.
pub fn parse_click(payload: &str) -> Result<Click, ForgedPayload> {
    let rest = payload.strip_prefix(PREFIX).ok_or(ForgedPayload)?;
    let (verb, id) = rest.split_once(':').ok_or(ForgedPayload)?;
    if !crate::command::is_id(id) || payload.len() > MAX_PAYLOAD_BYTES {
        return Err(ForgedPayload);
    }
    let id = id.to_owned();
    Ok(match verb {
        "a" => Click::Command(Command::Approve(id)),
        "r" => Click::Command(Command::Reject(id)),
        "c" => Click::Command(Command::Cancel(id)),
        "w" => Click::KeepWaiting(id),
        _ => return Err(ForgedPayload),
    })
}

/// What a prompt says once a click was taken: its own text, then what came of the click, who
/// clicked and when. The adapter shows this in place of the prompt, without its buttons, so
/// nobody clicks twice and everyone in the chat sees who decided.
pub fn answered(prompt: &str, outcome: &str, clicker: &str, at: Timestamp) -> String {
    format!("{prompt}\n\n{}", clicked(outcome, clicker, at))
}

/// The outcome of a click on its own ("— who, when" under it), for a prompt that can no longer
/// be edited and is answered by a new message instead.
pub fn clicked(outcome: &str, clicker: &str, at: Timestamp) -> String {
    format!("{outcome}\n— {clicker}, {at}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_fit_telegram() {
        let short = lull_queue::RequestId::new_random().short_id(ShortId::MAX_LEN);
        for button in approval_buttons(&short)
            .into_iter()
            .chain(escalation_buttons(&short))
        {
            assert!(
                button.payload.len() <= MAX_PAYLOAD_BYTES,
                "{}",
                button.payload
            );
            assert!(parse_click(&button.payload).is_ok());
        }
        assert_eq!(
            parse_click(&approval_buttons(&short)[0].payload),
            Ok(Click::Command(Command::Approve(short.to_string())))
        );
    }

    #[test]
    fn forged_payloads_are_refused() {
        for forged in [
            "",
            "approve r7k2",
            "lull:",
            "lull:a",
            "lull:a:",
            "lull:x:r7k2",
            "lull:a:r7k2;drop",
            "other:a:r7k2",
        ] {
            assert_eq!(parse_click(forged), Err(ForgedPayload), "{forged:?}");
        }
    }

    #[test]
    fn an_answered_prompt_keeps_its_text_and_says_what_came_of_it_who_and_when() {
        let at = Timestamp::from_unix_millis(1_795_478_400_000);
        let text = answered("Approve r7k2?", "Approved r7k2.", "@alice", at);
        assert_eq!(
            text,
            format!("Approve r7k2?\n\nApproved r7k2.\n— @alice, {at}")
        );
        assert!(text.ends_with(&clicked("Approved r7k2.", "@alice", at)));
    }
}
