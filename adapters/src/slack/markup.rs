//! A plugin [`Reply`] as a Slack message: its markdown spans (read by the chat kit) as Slack
//! mrkdwn in a section block, its buttons as an actions block (each button's value is lull's
//! payload), and a plain-text fallback for notifications.

use lull_plugin::{Button, ButtonStyle, Reply};
use slack_morphism::prelude::*;

use crate::chat::render::{Span, cut, spans};

/// Slack refuses longer section texts.
pub(crate) const MAX_SECTION_CHARS: usize = 3000;

/// The reply's text as Slack mrkdwn. Slack reads only `&`, `<` and `>` specially in text, so
/// those are escaped; anything too long for one section is cut as plain text.
pub(crate) fn mrkdwn(reply: &Reply) -> String {
    let mut out = String::with_capacity(reply.text.len() + 8);
    for span in spans(&reply.text) {
        match span {
            Span::Text(text) => out.push_str(&escape(&text)),
            Span::Bold(text) => {
                out.push('*');
                out.push_str(&escape(&text));
                out.push('*');
            }
            Span::Code(text) => {
                out.push('`');
                out.push_str(&escape(&text));
                out.push('`');
            }
        }
    }
    if out.chars().count() <= MAX_SECTION_CHARS {
        out
    } else {
        fit(&reply.plain)
    }
}

/// `plain` escaped and cut so that the escaped text fits one section. Cut before escaping, so
/// no entity is split.
pub(crate) fn fit(plain: &str) -> String {
    crate::chat::render::fit(plain, MAX_SECTION_CHARS, escape)
}

/// Slack's three special characters as entities, except in a user mention (`<@U0123ABC>`),
/// which Slack shows as the person's name.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(mention) = user_mention(rest) {
            out.push_str(mention);
            rest = &rest[mention.len()..];
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A user mention at the start of `text`: `<@`, a user id (`U…` or `W…`), `>`.
fn user_mention(text: &str) -> Option<&str> {
    let id = text.strip_prefix("<@")?;
    let end = id.find('>')?;
    let id_part = &id[..end];
    let valid = id_part.len() >= 3
        && id_part.starts_with(['U', 'W'])
        && id_part
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    valid.then(|| &text[..end + 3])
}

/// The blocks of a message whose text is `mrkdwn` (already Slack mrkdwn), with `buttons`.
pub(crate) fn blocks(mrkdwn: String, buttons: &[Button]) -> Vec<SlackBlock> {
    let mut blocks = vec![SlackBlock::Section(SlackSectionBlock::new().with_text(
        SlackBlockText::MarkDown(SlackBlockMarkDownText::new(mrkdwn)),
    ))];
    if !buttons.is_empty() {
        let elements = buttons
            .iter()
            .map(|b| {
                let button = SlackBlockButtonElement::new(b.label.as_str().into())
                    .with_action_id(b.payload.clone().into())
                    .with_value(b.payload.clone());
                SlackActionBlockElement::Button(match b.style {
                    ButtonStyle::Primary => button.with_style(SlackBlockButtonStyle::Primary),
                    ButtonStyle::Danger => button.with_style(SlackBlockButtonStyle::Danger),
                    ButtonStyle::Secondary => button,
                })
            })
            .collect();
        blocks.push(SlackBlock::Actions(SlackActionsBlock::new(elements)));
    }
    blocks
}

/// The reply as message content: blocks, and its plain text as the notification fallback.
pub(crate) fn content(reply: &Reply) -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text(cut(&reply.plain, MAX_SECTION_CHARS))
        .with_blocks(blocks(mrkdwn(reply), &reply.buttons))
}

/// Content already in mrkdwn (a clicked prompt's new text), without buttons.
pub(crate) fn replaced(mrkdwn: String, plain: &str) -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text(cut(plain, MAX_SECTION_CHARS))
        .with_blocks(blocks(mrkdwn, &[]))
}

/// Whether the reply is shown in the channel or only to the sender.
pub(crate) fn response_type(reply: &Reply) -> SlackMessageResponseType {
    if reply.ephemeral {
        SlackMessageResponseType::Ephemeral
    } else {
        SlackMessageResponseType::InChannel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_bold_become_mrkdwn_and_entities_are_escaped() {
        let reply = Reply::markdown("*Queued* `r7k2` by <@U0123ABC> <!channel> <@u1> & more");
        assert_eq!(
            mrkdwn(&reply),
            "*Queued* `r7k2` by <@U0123ABC> &lt;!channel&gt; &lt;@u1&gt; &amp; more"
        );
        let long = Reply::markdown("<".repeat(5000));
        let text = mrkdwn(&long);
        assert!(text.chars().count() <= MAX_SECTION_CHARS, "{}", text.len());
        assert!(
            text.trim_end_matches('…').ends_with("&lt;"),
            "no entity split"
        );
        assert!(
            text.chars().count() > MAX_SECTION_CHARS - 10,
            "cut no more than needed"
        );
    }

    #[test]
    fn buttons_become_an_actions_block_carrying_lulls_payload() {
        let id = lull_queue::RequestId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        let mut reply = Reply::markdown("approve?");
        reply.buttons = lull_plugin::approval_buttons(&id.short_id(3));
        let json = serde_json::to_value(content(&reply)).unwrap();
        assert_eq!(json["blocks"][0]["type"], "section");
        assert_eq!(json["blocks"][0]["text"]["type"], "mrkdwn");
        let buttons = &json["blocks"][1]["elements"];
        assert_eq!(json["blocks"][1]["type"], "actions");
        assert!(
            buttons[0]["value"].as_str().unwrap().starts_with("lull:a:"),
            "{buttons}"
        );
        assert_eq!(buttons[0]["action_id"], buttons[0]["value"]);
        assert_eq!(json["text"], "approve?");
    }
}
