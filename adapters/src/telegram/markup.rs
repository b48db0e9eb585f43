//! A plugin [`Reply`] as a Telegram message: its markdown spans (read by the chat kit) as
//! Telegram HTML, and its buttons as an inline keyboard.

use lull_plugin::{Button, Reply};
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use crate::chat::render::{Span, cut, spans};

/// Telegram refuses longer messages.
pub(crate) const MAX_MESSAGE_CHARS: usize = 4096;
/// Telegram refuses longer `answerCallbackQuery` texts.
pub(crate) const MAX_ALERT_CHARS: usize = 200;

/// The reply's text as Telegram HTML. Unpaired markers stay literal; anything too long for one
/// message is cut (as plain text, so no tag is cut in half).
pub(crate) fn html(reply: &Reply) -> String {
    if reply.text.chars().count() > MAX_MESSAGE_CHARS - 100 {
        return escape(&cut(&reply.plain, MAX_MESSAGE_CHARS - 100));
    }
    let mut out = String::with_capacity(reply.text.len() + 32);
    for span in spans(&reply.text) {
        let (open, text, close) = match &span {
            Span::Text(text) => ("", text, ""),
            Span::Bold(text) => ("<b>", text, "</b>"),
            Span::Code(text) => ("<code>", text, "</code>"),
        };
        out.push_str(open);
        out.push_str(&escape(text));
        out.push_str(close);
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The reply's buttons as one row of an inline keyboard, if it has any.
pub(crate) fn keyboard(buttons: &[Button]) -> Option<InlineKeyboardMarkup> {
    (!buttons.is_empty()).then(|| {
        InlineKeyboardMarkup::new([buttons
            .iter()
            .map(|b| InlineKeyboardButton::callback(b.label.clone(), b.payload.clone()))
            .collect::<Vec<_>>()])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_bold_become_tags_and_the_rest_is_escaped() {
        let reply = Reply::markdown("*Queued* `r7k2` <now> & `a<b`");
        assert_eq!(
            html(&reply),
            "<b>Queued</b> <code>r7k2</code> &lt;now&gt; &amp; <code>a&lt;b</code>"
        );
    }

    #[test]
    fn unpaired_markers_stay_literal() {
        assert_eq!(html(&Reply::markdown("2 * 3 `x")), "2 * 3 `x");
        assert_eq!(html(&Reply::markdown("*a* b*")), "<b>a</b> b*");
        assert_eq!(html(&Reply::markdown("`*x*` y")), "<code>*x*</code> y");
    }

    #[test]
    fn long_replies_are_cut_as_plain_text() {
        let reply = Reply::markdown(format!("`{}`", "x".repeat(5000)));
        let text = html(&reply);
        assert!(text.chars().count() < MAX_MESSAGE_CHARS);
        assert!(text.ends_with('…') && !text.contains("<code>"));
    }

    #[test]
    fn buttons_become_one_row_of_callback_buttons() {
        let id = lull_queue::RequestId::parse("67e55044-10b1-426f-9247-bb680e5fe0c8").unwrap();
        let buttons = lull_plugin::approval_buttons(&id.short_id(3));
        let markup = keyboard(&buttons).unwrap();
        assert_eq!(markup.inline_keyboard.len(), 1);
        assert_eq!(markup.inline_keyboard[0].len(), 2);
        assert!(keyboard(&[]).is_none());
    }
}
