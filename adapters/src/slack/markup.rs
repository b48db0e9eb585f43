//! A plugin [`Reply`] as a Slack message: its markdown spans (read by the chat kit) as Slack
//! mrkdwn in a section block, its buttons as an actions block (each button's value is lull's
//! payload), and a plain-text fallback for notifications.

use lull_plugin::{Button, Reply, prompt::ButtonStyle};
use slack_morphism::prelude::*;

use crate::chat::render::{Span, cut, spans};

/// Slack refuses longer section texts.
pub const MAX_SECTION_CHARS: usize = 3000;

/// The reply's text as Slack mrkdwn. Slack reads only `&`, `<` and `>` specially in text, so
/// those are escaped; anything too long for one section is cut as plain text.
pub fn mrkdwn(reply: &Reply) -> String {
    if reply.text.chars().count() > MAX_SECTION_CHARS - 100 {
        return escape(&cut(&reply.plain, MAX_SECTION_CHARS - 100));
    }
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
    out
}

/// Slack's three special characters, as entities.
pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The blocks of a message whose text is `mrkdwn` (already Slack mrkdwn), with `buttons`.
pub fn blocks(mrkdwn: String, buttons: &[Button]) -> Vec<SlackBlock> {
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
pub fn content(reply: &Reply) -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text(cut(&reply.plain, MAX_SECTION_CHARS))
        .with_blocks(blocks(mrkdwn(reply), &reply.buttons))
}

/// Content already in mrkdwn (a clicked prompt's new text), without buttons.
pub fn replaced(mrkdwn: String, plain: &str) -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text(cut(plain, MAX_SECTION_CHARS))
        .with_blocks(blocks(mrkdwn, &[]))
}

/// Whether the reply is shown in the channel or only to the sender.
pub fn response_type(reply: &Reply) -> SlackMessageResponseType {
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
        let reply = Reply::markdown("*Queued* `r7k2` <@U1> & more");
        assert_eq!(mrkdwn(&reply), "*Queued* `r7k2` &lt;@U1&gt; &amp; more");
    }

    #[test]
    fn buttons_become_an_actions_block_carrying_lulls_payload() {
        let id = lull_queue::RequestId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        let mut reply = Reply::markdown("approve?");
        reply.buttons = lull_plugin::prompt::approval_buttons(&id.short_id(3));
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
