//! A clicked lull prompt in Discord. A click gets exactly one response, so what the chat kit's
//! [`settle`](crate::chat::click::settle) decides is collected into that one [`Answer`]: a
//! refusal as an ephemeral message (the prompt keeps its buttons), a taken click as the prompt
//! replaced by its text and the outcome, without buttons.

use std::sync::Mutex;

use lull_plugin::Reply;

use super::markup;
use super::respond::Answer;
use crate::chat::click::ClickedPrompt;

/// The prompt a click came from, and the answer decided so far.
pub(crate) struct DiscordPrompt {
    /// Its content as Discord shows it (Discord markdown).
    content: String,
    answer: Mutex<Option<Answer>>,
}

impl DiscordPrompt {
    pub fn new(content: String) -> Self {
        Self {
            content,
            answer: Mutex::new(None),
        }
    }

    /// The one response to the click.
    pub(crate) fn into_answer(self) -> Option<Answer> {
        self.answer.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn decide(&self, answer: Answer) {
        *self.answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(answer);
    }
}

impl ClickedPrompt for DiscordPrompt {
    async fn answer(&self, text: &str, alert: bool) {
        // A taken click is answered by the edit that follows; only a refusal is a message.
        if alert {
            self.decide(Answer::Message(Reply::refusal(text)));
        }
    }

    fn text(&self) -> Option<String> {
        // Discord always sends the clicked message with the click.
        Some(self.content.clone())
    }

    async fn replace(&self, text: &str) {
        // The prompt's own content is markdown already; only what was added is escaped.
        let content = match text.strip_prefix(self.content.as_str()) {
            Some(added) => format!("{}{}", self.content, markup::escape(added)),
            None => markup::escape(text),
        };
        // A prompt near Discord's limit keeps the outcome, which is what matters now.
        let content = if content.chars().count() <= markup::MAX_MESSAGE_CHARS {
            content
        } else {
            markup::fit(
                text.strip_prefix(self.content.as_str())
                    .unwrap_or(text)
                    .trim(),
            )
        };
        self.decide(Answer::Update(content));
    }

    async fn send(&self, reply: &Reply) {
        self.decide(Answer::Message(reply.clone()));
    }
}

#[cfg(test)]
mod tests {
    use lull_queue::Timestamp;

    use super::*;

    #[tokio::test]
    async fn a_refusal_is_private_and_a_taken_click_replaces_the_prompt() {
        let refused = DiscordPrompt::new("**Approve?**".into());
        crate::chat::click::settle(
            &refused,
            &Reply::refusal("only an admin"),
            "@eve",
            Timestamp::from_system_time(std::time::SystemTime::UNIX_EPOCH),
        )
        .await;
        match refused.into_answer() {
            Some(Answer::Message(reply)) => {
                assert!(reply.ephemeral && reply.plain == "only an admin")
            }
            other => panic!("{other:?}"),
        }
        let taken = DiscordPrompt::new("**Approve?**".into());
        crate::chat::click::settle(
            &taken,
            &Reply::markdown("Approved r7k2."),
            "@a_dmin",
            Timestamp::from_system_time(std::time::SystemTime::UNIX_EPOCH),
        )
        .await;
        match taken.into_answer() {
            Some(Answer::Update(content)) => {
                assert!(
                    content.starts_with("**Approve?**\n\nApproved r7k2.\n— @a\\_dmin"),
                    "{content}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
