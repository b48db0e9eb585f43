//! A plugin [`Reply`] as a Discord message: its markdown spans (read by the chat kit) as
//! Discord markdown, its buttons as one action row of message components, and its ephemeral
//! flag. Mentions are never allowed: a reason that says `@everyone` must not ping anyone.

use lull_plugin::{Button, ButtonStyle as LullStyle, Reply};
use serenity::all::{
    ButtonStyle, CreateActionRow, CreateAllowedMentions, CreateButton,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    EditInteractionResponse,
};

use crate::chat::render::{Span, spans};

/// Discord refuses longer message contents.
pub(crate) const MAX_MESSAGE_CHARS: usize = 2000;
/// Discord allows five buttons in an action row.
const MAX_BUTTONS: usize = 5;

/// The reply's text as Discord markdown. Anything too long for one message is cut as plain
/// text, so no marker is cut in half.
pub(crate) fn content(reply: &Reply) -> String {
    let mut out = String::with_capacity(reply.text.len() + 16);
    for span in spans(&reply.text) {
        match span {
            Span::Text(text) => out.push_str(&escape(&text)),
            Span::Bold(text) => {
                out.push_str("**");
                out.push_str(&escape(&text));
                out.push_str("**");
            }
            // Code is shown as written; a backtick inside needs a double-backtick fence.
            Span::Code(text) if text.contains('`') => {
                out.push_str("`` ");
                out.push_str(&text);
                out.push_str(" ``");
            }
            Span::Code(text) => {
                out.push('`');
                out.push_str(&text);
                out.push('`');
            }
        }
    }
    if out.chars().count() <= MAX_MESSAGE_CHARS {
        out
    } else {
        fit(&reply.plain)
    }
}

/// `plain` escaped and cut so that the escaped text fits one message. Cut before escaping, so
/// no escape is split from its character.
pub(crate) fn fit(plain: &str) -> String {
    crate::chat::render::fit(plain, MAX_MESSAGE_CHARS, escape)
}

/// Discord markdown's markers, made literal with a backslash: emphasis, code, spoilers, quotes
/// and masked links anywhere, headings and list items at the start of a line.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut line_start = true;
    for c in text.chars() {
        let marker = matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '[')
            || (line_start && matches!(c, '#' | '-'));
        if marker {
            out.push('\\');
        }
        out.push(c);
        line_start = c == '\n' || (line_start && c == ' ');
    }
    out
}

/// The reply's buttons as one action row; none without buttons.
pub(crate) fn components(buttons: &[Button]) -> Vec<CreateActionRow> {
    if buttons.is_empty() {
        return Vec::new();
    }
    let row = buttons
        .iter()
        .take(MAX_BUTTONS)
        .map(|b| {
            CreateButton::new(b.payload.clone())
                .label(b.label.clone())
                .style(match b.style {
                    LullStyle::Primary => ButtonStyle::Primary,
                    LullStyle::Danger => ButtonStyle::Danger,
                    LullStyle::Secondary => ButtonStyle::Secondary,
                })
        })
        .collect();
    vec![CreateActionRow::Buttons(row)]
}

fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// The reply as an interaction's response message.
pub(crate) fn response(reply: &Reply) -> CreateInteractionResponseMessage {
    CreateInteractionResponseMessage::new()
        .content(content(reply))
        .components(components(&reply.buttons))
        .ephemeral(reply.ephemeral)
        .allowed_mentions(no_mentions())
}

/// The reply as the edit of a deferred response (or of a clicked prompt): its text and
/// buttons replace what was there.
pub(crate) fn edit(reply: &Reply) -> EditInteractionResponse {
    EditInteractionResponse::new()
        .content(content(reply))
        .components(components(&reply.buttons))
        .allowed_mentions(no_mentions())
}

/// A clicked prompt's new content (already Discord markdown), without buttons.
pub(crate) fn replaced(content: String) -> CreateInteractionResponseMessage {
    CreateInteractionResponseMessage::new()
        .content(content)
        .components(Vec::new())
        .allowed_mentions(no_mentions())
}

/// [`replaced`], as the edit of a deferred click.
pub(crate) fn edit_replaced(content: String) -> EditInteractionResponse {
    EditInteractionResponse::new()
        .content(content)
        .components(Vec::new())
        .allowed_mentions(no_mentions())
}

/// The reply as a follow-up message (an ephemeral answer after a deferral).
pub(crate) fn followup(reply: &Reply) -> CreateInteractionResponseFollowup {
    CreateInteractionResponseFollowup::new()
        .content(content(reply))
        .components(components(&reply.buttons))
        .ephemeral(reply.ephemeral)
        .allowed_mentions(no_mentions())
}

/// The reply as a channel message (a notice, or an answer to an agent's message).
pub fn message(reply: &Reply) -> CreateMessage {
    CreateMessage::new()
        .content(content(reply))
        .components(components(&reply.buttons))
        .allowed_mentions(no_mentions())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_bold_become_markdown_and_the_rest_is_escaped() {
        let reply = Reply::markdown("*Queued* `r7k2` by my_bot ~x~ `a*b`");
        assert_eq!(
            content(&reply),
            "**Queued** `r7k2` by my\\_bot \\~x\\~ `a*b`"
        );
        assert_eq!(content(&Reply::markdown("2 * 3")), "2 \\* 3");
        assert_eq!(
            content(&Reply::markdown(
                "# not a heading\n- not a list, [not](a link) --for"
            )),
            "\\# not a heading\n\\- not a list, \\[not](a link) --for"
        );
    }

    #[test]
    fn long_replies_are_cut_as_plain_text_that_fits_once_escaped() {
        let reply = Reply::markdown(format!("`{}`", "x".repeat(5000)));
        let text = content(&reply);
        assert!(text.chars().count() <= MAX_MESSAGE_CHARS);
        assert!(text.ends_with('…') && !text.contains('`'));
        // Every character escaped doubles it: still one message, no escape split.
        for markers in ["_".repeat(1950), "*".repeat(5000), "a_".repeat(990)] {
            let text = content(&Reply::markdown(markers.clone()));
            assert!(text.chars().count() <= MAX_MESSAGE_CHARS, "{}", text.len());
            assert!(
                !text.trim_end_matches('…').ends_with('\\'),
                "an escape split"
            );
            // (The stars alone are markup, with no text left to show.)
            if Reply::markdown(markers.clone()).plain.chars().count() * 2 > MAX_MESSAGE_CHARS {
                assert!(
                    text.chars().count() > MAX_MESSAGE_CHARS - 10,
                    "cut no more than needed"
                );
            }
        }
    }

    #[test]
    fn buttons_become_one_row_and_mentions_are_never_allowed() {
        let id = lull_queue::RequestId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        let mut reply = Reply::markdown("approve? @everyone");
        reply.buttons = lull_plugin::approval_buttons(&id.short_id(3));
        let json = serde_json::to_value(response(&reply)).unwrap();
        let row = &json["components"][0];
        assert_eq!(row["type"], 1);
        assert_eq!(row["components"].as_array().unwrap().len(), 2);
        assert!(
            row["components"][0]["custom_id"]
                .as_str()
                .unwrap()
                .starts_with("lull:")
        );
        assert_eq!(json["allowed_mentions"]["parse"], serde_json::json!([]));
        assert!(components(&[]).is_empty());
    }
}
