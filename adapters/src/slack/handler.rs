//! The Slack side of the command core: the `/maintenance` slash command, a click on one of
//! lull's Block Kit buttons, and an agent's `/maintenance …` message in; an answer out. Each is
//! handled at most once, across HTTP retries, Socket Mode re-sends and restarts.
//!
//! Slack wants a slash command or a click acknowledged within 3 s. The answer is usually ready
//! in milliseconds and is the acknowledgement; when it is late, the acknowledgement says lull is
//! working on it and the answer follows through the event's `response_url`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lull_plugin::{Input, Invocation, Plugin, Reply, Sender};
use lull_queue::Role;
use slack_morphism::prelude::*;
use tokio_util::task::TaskTracker;

use super::PLATFORM;
use super::click::SlackPrompt;
use super::markup;
use super::send::{SlackApiClient, post_reply, to_response_url};
use crate::chat::at_most_once::{AtMostOnce, Outcome, Redelivery, UNREADABLE};
use crate::chat::click;
use crate::chat::deadline::{Timely, within};

/// How long a handled event id is remembered: Slack retries an event for about an hour.
pub const SEEN_TTL: Duration = Duration::from_secs(48 * 3600);

/// How long the work may take before Slack is answered without it: inside Slack's 3 s.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_millis(2000);

/// The answer to a command or click handled before (a Socket Mode re-send, an HTTP retry).
pub(crate) const HANDLED_BEFORE: &str = "This was already handled; see `/maintenance status`.";

/// The acknowledgement of a command whose answer follows.
pub const WORKING: &str = "Working on it…";

/// lull on one Slack app: the Web API client and bot token it answers with, and the command
/// core. What an embedding host mounts (see `TelegramLull` for the name). Cheap to clone.
#[derive(Clone)]
pub struct SlackLull {
    client: Arc<SlackApiClient>,
    token: SlackApiToken,
    plugin: Plugin,
    /// Slash commands and clicks: Slack does not send them again over HTTP, so a person is told
    /// when lull cannot tell whether one ran.
    commands: AtMostOnce,
    /// Events API deliveries, which Slack retries until acknowledged.
    events: AtMostOnce,
    /// Work that goes on after Slack was answered (late answers, replies to agents, Socket Mode
    /// callbacks): stopping waits for it.
    tasks: TaskTracker,
}

impl SlackLull {
    /// lull answering through `client` with the bot token `token`.
    pub fn new(client: Arc<SlackApiClient>, token: SlackApiToken, plugin: Plugin) -> Self {
        let store = plugin.scheduler().store().clone();
        Self {
            client,
            token,
            commands: AtMostOnce::new(store.clone(), PLATFORM, SEEN_TTL, Redelivery::Never),
            events: AtMostOnce::new(store, PLATFORM, SEEN_TTL, Redelivery::Redelivered),
            plugin,
            tasks: TaskTracker::new(),
        }
    }

    /// The Web API client.
    pub(crate) fn client(&self) -> &Arc<SlackApiClient> {
        &self.client
    }

    /// The bot token.
    pub(crate) fn token(&self) -> &SlackApiToken {
        &self.token
    }

    /// The command core.
    pub(crate) fn plugin(&self) -> &Plugin {
        &self.plugin
    }

    /// Work that goes on after Slack was answered.
    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Lets work that goes on after Slack was answered finish, for at most `limit` (when lull
    /// or its host stops).
    pub(crate) async fn finish(&self, limit: Duration) {
        self.tasks.close();
        if tokio::time::timeout(limit, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("slack: answers were still being sent when lull stopped");
        }
        self.tasks.reopen();
    }

    /// Answers a `/maintenance` slash command: the response to acknowledge it with. When the
    /// work is late, the response says so and the answer follows through `response_url`.
    pub async fn command(&self, event: SlackCommandEvent) -> SlackCommandEventResponse {
        let lull = self.clone();
        let response_url = event.response_url.clone();
        let work = async move {
            let invocation = Invocation {
                sender: Sender::chat(
                    PLATFORM,
                    event.user_id.value(),
                    &display(event.user_id.value()),
                ),
                chat: Some(event.channel_id.to_string()),
                input: Input::Text(format!(
                    "{} {}",
                    event.command.value(),
                    event.text.as_deref().unwrap_or_default()
                )),
                bot_username: None,
            };
            let id = format!("command:{}", event.trigger_id);
            match lull.commands.run(&id, lull.plugin.handle(invocation)).await {
                Outcome::Ran(Some(reply)) => reply,
                Outcome::Ran(None) if event.command.value() == "/maintenance" => {
                    // A stranger refused a moment ago.
                    Reply::refusal(lull_plugin::QUIETED_STRANGER)
                }
                Outcome::Ran(None) => Reply::refusal(format!(
                    "lull answers `/maintenance`, not `{}`.",
                    event.command.value()
                )),
                Outcome::Copy | Outcome::Seen | Outcome::Repeated(_) => {
                    Reply::refusal(HANDLED_BEFORE)
                }
                Outcome::Unreadable { tell } => tell.unwrap_or_else(|| Reply::refusal(UNREADABLE)),
            }
        };
        answer_in_time(self.client.clone(), &self.tasks, response_url, work).await
    }

    /// Handles a click if it is on one of lull's buttons; the outcome goes through the event's
    /// `response_url` (the prompt replaced, or a private refusal). Resolves once handled, or
    /// when Slack must be acknowledged and the rest goes on.
    pub async fn interaction(&self, event: SlackInteractionEvent) {
        let SlackInteractionEvent::BlockActions(event) = event else {
            return;
        };
        let Some(payload) = event
            .actions
            .iter()
            .flatten()
            .find_map(|a| a.value.clone().filter(|v| lull_plugin::is_lull_payload(v)))
        else {
            return;
        };
        let (Some(user), Some(response_url)) = (event.user.clone(), event.response_url.clone())
        else {
            return;
        };
        let lull = self.clone();
        let work = async move {
            let clicker = Sender::chat(PLATFORM, user.id.value(), &display(user.id.value()));
            let prompt =
                SlackPrompt::new(lull.client.clone(), response_url, event.message.as_ref());
            let invocation = Invocation {
                sender: clicker.clone(),
                chat: event.channel.as_ref().map(|c| c.id.to_string()),
                input: Input::Click(payload),
                bot_username: None,
            };
            let id = format!("action:{}", event.trigger_id);
            let handled = lull
                .commands
                .run(&id, async {
                    let reply = lull.plugin.handle(invocation).await?;
                    let now = lull.plugin.scheduler().store().now();
                    click::settle(&prompt, &reply, &clicker.display, now).await;
                    Some(())
                })
                .await;
            match handled {
                Outcome::Copy | Outcome::Seen | Outcome::Repeated(_) => {
                    click::ClickedPrompt::answer(&prompt, HANDLED_BEFORE, true).await;
                }
                Outcome::Unreadable { tell: Some(reply) } => {
                    click::ClickedPrompt::answer(&prompt, &reply.plain, true).await;
                }
                _ => {}
            }
        };
        if let Timely::Late(work) = within(ANSWER_WITHIN, work).await {
            self.tasks.spawn(work);
        }
    }

    /// Handles an Events API delivery: an agent's `/maintenance …` message is the text form;
    /// everything else is ignored. `Err` when it could not be handled and Slack should deliver
    /// it again.
    pub async fn push_event(&self, event: &SlackPushEventCallback) -> Result<(), String> {
        let SlackEventCallbackBody::Message(message) = &event.event else {
            return Ok(());
        };
        let Some(text) = message.content.as_ref().and_then(|c| c.text.as_deref()) else {
            return Ok(());
        };
        if !text.trim_start().starts_with("/maintenance")
            || message
                .subtype
                .as_ref()
                .is_some_and(|s| *s != SlackMessageEventType::BotMessage)
        {
            return Ok(());
        }
        let Some(channel) = message.origin.channel.clone() else {
            return Ok(());
        };
        // An agent is named by its bot user (U…) or its bot id (B…).
        let ids = [
            message.sender.user.as_ref().map(|u| u.to_string()),
            message.sender.bot_id.as_ref().map(|b| b.to_string()),
        ];
        let policy = &self.plugin.config().policy;
        let Some(sender) = ids
            .into_iter()
            .flatten()
            .map(|id| Sender {
                is_bot: message.sender.bot_id.is_some(),
                ..Sender::chat(PLATFORM, &id, &display(&id))
            })
            .find(|s| policy.resolve(s) == Some(Role::Agent))
        else {
            return Ok(());
        };
        let invocation = Invocation {
            sender,
            chat: Some(channel.to_string()),
            input: Input::Text(text.to_owned()),
            bot_username: None,
        };
        let thread = message
            .origin
            .thread_ts
            .clone()
            .unwrap_or(message.origin.ts.clone());
        let id = format!("event:{}", event.event_id);
        match self.events.run(&id, self.plugin.handle(invocation)).await {
            // The event is acknowledged once recorded; the answer follows on its own, so a slow
            // or rate-limited post holds up no other event.
            Outcome::Ran(Some(reply)) => {
                let lull = self.clone();
                self.tasks.spawn(async move {
                    if let Err(error) = post_reply(lull.client(), lull.token(), &channel, &reply, Some(thread)).await {
                        tracing::warn!(%channel, %error, "slack: could not answer an agent's message");
                    }
                });
                Ok(())
            }
            Outcome::Unreadable { .. } => {
                Err("the store could not say whether the event was handled".into())
            }
            _ => Ok(()),
        }
    }
}

/// How a Slack id is shown: a user as a mention (Slack shows the name), a bot id as itself.
fn display(id: &str) -> String {
    if id.starts_with(['U', 'W']) {
        format!("<@{id}>")
    } else {
        id.to_owned()
    }
}

/// The response to acknowledge a slash command with: `work`'s answer when it is ready within
/// [`ANSWER_WITHIN`]; otherwise [`WORKING`], and the answer through `response_url` once ready.
pub async fn answer_in_time(
    client: Arc<SlackApiClient>,
    tasks: &TaskTracker,
    response_url: SlackResponseUrl,
    work: impl Future<Output = Reply> + Send + 'static,
) -> SlackCommandEventResponse {
    match within(ANSWER_WITHIN, work).await {
        Timely::Ready(reply) => response(&reply),
        Timely::Late(work) => {
            tasks.spawn(async move {
                let reply = work.await;
                if let Err(error) = to_response_url(&client, &response_url, &reply, false).await {
                    tracing::warn!(%error, "slack: could not send a late answer");
                }
            });
            response(&Reply::refusal(WORKING))
        }
    }
}

/// The reply as a slash command's response.
pub(crate) fn response(reply: &Reply) -> SlackCommandEventResponse {
    SlackCommandEventResponse::new(markup::content(reply))
        .with_response_type(markup::response_type(reply))
}
