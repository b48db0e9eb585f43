//! A clicked lull prompt in Slack, over the click's `response_url`: a refusal is sent only to
//! the clicker (the prompt keeps its buttons), a taken click replaces the prompt with its text
//! and the outcome, without buttons.

use std::sync::Arc;

use lull_plugin::Reply;
use slack_morphism::prelude::*;

use super::markup;
use super::send::{SlackApiClient, replace_through, to_response_url};
use crate::chat::click::ClickedPrompt;

/// The prompt a click came from.
pub(crate) struct SlackPrompt {
    client: Arc<SlackApiClient>,
    response_url: SlackResponseUrl,
    /// Its text as mrkdwn (the first section block's), when Slack sent the message.
    text: Option<String>,
}

impl SlackPrompt {
    pub fn new(
        client: Arc<SlackApiClient>,
        response_url: SlackResponseUrl,
        message: Option<&SlackHistoryMessage>,
    ) -> Self {
        let text = message.and_then(|m| {
            let section = m.content.blocks.iter().flatten().find_map(|b| match b {
                SlackBlock::Section(SlackSectionBlock {
                    text: Some(SlackBlockText::MarkDown(md)),
                    ..
                }) => Some(md.text.clone()),
                _ => None,
            });
            section.or_else(|| m.content.text.clone())
        });
        Self {
            client,
            response_url,
            text,
        }
    }
}

impl ClickedPrompt for SlackPrompt {
    async fn answer(&self, text: &str, alert: bool) {
        // A taken click is answered by the replacement that follows; only a refusal is a message.
        if !alert {
            return;
        }
        let reply = Reply::refusal(text);
        if let Err(error) = to_response_url(&self.client, &self.response_url, &reply, false).await {
            tracing::warn!(%error, "slack: could not answer a click");
        }
    }

    fn text(&self) -> Option<String> {
        self.text.clone()
    }

    async fn replace(&self, text: &str) {
        // The prompt's own text is mrkdwn already; only what was added is escaped.
        let mrkdwn = match self
            .text
            .as_deref()
            .and_then(|t| text.strip_prefix(t).map(|added| (t, added)))
        {
            Some((prompt, added)) => format!("{prompt}{}", markup::escape(added)),
            None => markup::escape(text),
        };
        if let Err(error) = replace_through(&self.client, &self.response_url, mrkdwn, text).await {
            tracing::warn!(%error, "slack: could not replace a prompt");
        }
    }

    async fn send(&self, reply: &Reply) {
        if let Err(error) = to_response_url(&self.client, &self.response_url, reply, false).await {
            tracing::warn!(%error, "slack: could not send a click's outcome");
        }
    }
}
