//! Sending lull's messages to Slack: a [`Reply`] through `chat.postMessage` (an answer to an
//! agent's message, or a notice) or through an event's `response_url` (a late answer, a clicked
//! prompt), what each Web API error means for a retry, and the notice sink the outbox delivery
//! drives. Slack's `ratelimited` answers (429 with `Retry-After`) are honoured: slack-morphism
//! reads the wait, and a direct reply sits it out when short.

use std::future::Future;
use std::time::Duration;

use lull_plugin::{Notice, Reply};
use serde::Serialize;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use url::Url;

use std::sync::Arc;

use super::PLATFORM;
use super::markup;
use crate::chat::outbox::{NoticeSink, SendError};
use crate::chat::rate_limit::sitting_out_rate_limits;

/// The Web API client: hyper with rustls, HTTPS (or plain HTTP to a local fake).
pub(crate) type SlackApiClient = SlackClient<SlackClientHyperHttpsConnector>;

/// The wait after a `ratelimited` answer that names none.
pub(crate) const UNNAMED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The Web API client for `api_url` (ending in `/api`). HTTPS, or plain HTTP for a fake on
/// loopback.
pub fn client(api_url: &Url) -> std::io::Result<SlackApiClient> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    // slack-morphism joins the base and the method with a `/` of its own.
    let base = api_url.as_str().trim_end_matches('/');
    let connector = SlackClientHyperConnector::with_connector(https).with_slack_api_url(base);
    Ok(SlackClient::new(connector))
}

/// Posts `reply` to `channel` (in `thread`, when given). A direct reply sits out a short rate
/// limit; a notice is retried by the outbox.
pub(crate) async fn post_reply(
    client: &SlackApiClient,
    token: &SlackApiToken,
    channel: &SlackChannelId,
    reply: &Reply,
    thread: Option<SlackTs>,
) -> Result<(), SlackClientError> {
    let request = SlackApiChatPostMessageRequest::new(channel.clone(), markup::content(reply))
        .opt_thread_ts(thread.clone());
    let session = client.open_session(token);
    let send = || within_call_timeout(session.chat_post_message(&request));
    sitting_out_rate_limits(send, |e| thread.as_ref().and(rate_limited(e))).await?;
    Ok(())
}

/// How long one Web API call may take: the client itself has no timeout.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// `call`, or a timeout error after [`CALL_TIMEOUT`] (retried like network trouble).
async fn within_call_timeout<T>(
    call: impl Future<Output = Result<T, SlackClientError>>,
) -> Result<T, SlackClientError> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(SlackClientError::SystemError(
                slack_morphism::errors::SlackClientSystemError::new().with_message(format!(
                    "no answer from Slack within {} s",
                    CALL_TIMEOUT.as_secs()
                )),
            ))
        })
}

/// A message to an event's `response_url`: slack-morphism's webhook request has no
/// `response_type`, which a public answer needs.
#[derive(Serialize)]
struct ResponseUrlMessage {
    #[serde(flatten)]
    content: SlackMessageContent,
    response_type: SlackMessageResponseType,
    replace_original: bool,
}

/// Sends `reply` through `response_url`: in the channel or only to the person as the reply
/// says, or replacing the message the event came from.
pub(crate) async fn to_response_url(
    client: &SlackApiClient,
    response_url: &SlackResponseUrl,
    reply: &Reply,
    replace_original: bool,
) -> Result<(), SlackClientError> {
    send_to_response_url(
        client,
        response_url,
        ResponseUrlMessage {
            content: markup::content(reply),
            response_type: markup::response_type(reply),
            replace_original,
        },
    )
    .await
}

/// Replaces the message `response_url` belongs to with `mrkdwn` (its buttons removed).
pub(crate) async fn replace_through(
    client: &SlackApiClient,
    response_url: &SlackResponseUrl,
    mrkdwn: String,
    plain: &str,
) -> Result<(), SlackClientError> {
    send_to_response_url(
        client,
        response_url,
        ResponseUrlMessage {
            content: markup::replaced(mrkdwn, plain),
            response_type: SlackMessageResponseType::InChannel,
            replace_original: true,
        },
    )
    .await
}

async fn send_to_response_url(
    client: &SlackApiClient,
    response_url: &SlackResponseUrl,
    message: ResponseUrlMessage,
) -> Result<(), SlackClientError> {
    let span = tracing::debug_span!("slack response_url");
    let context = SlackClientApiCallContext {
        rate_control_params: None,
        token: None,
        tracing_span: &span,
        // The URL is a credential for the event: never logged.
        is_sensitive_url: true,
    };
    let _: SlackApiPostWebhookMessageResponse = within_call_timeout(
        client
            .http_api
            .connector
            .http_post_uri(response_url.value().clone(), &message, context),
    )
    .await?;
    Ok(())
}

/// The wait a rate-limit answer asks for.
fn rate_limited(error: &SlackClientError) -> Option<Duration> {
    match error {
        SlackClientError::RateLimitError(limit) => {
            Some(limit.retry_after.unwrap_or(UNNAMED_RETRY_AFTER))
        }
        SlackClientError::ApiError(e) if e.code == "ratelimited" => Some(UNNAMED_RETRY_AFTER),
        _ => None,
    }
}

/// What a Web API error means for another attempt.
pub(crate) fn classify(error: &SlackClientError) -> SendError {
    if let Some(wait) = rate_limited(error) {
        return SendError::RetryAfter(wait);
    }
    match error {
        // A channel that is gone, archived or closed to lull: no retry changes that.
        SlackClientError::ApiError(e)
            if [
                "channel_not_found",
                "not_in_channel",
                "is_archived",
                "msg_too_long",
                "no_text",
                "invalid_blocks",
                "restricted_action",
                "cannot_reply_to_message",
            ]
            .contains(&e.code.as_str()) =>
        {
            SendError::Permanent(error.to_string())
        }
        // A revoked token, network trouble, Slack's own trouble: passes; dropping would not.
        _ => SendError::Transient(error.to_string()),
    }
}

/// Delivers notices from the outbox through the app's bot.
pub struct SlackNotices {
    /// The Web API client.
    pub(crate) client: Arc<SlackApiClient>,
    /// The bot token.
    pub(crate) token: SlackApiToken,
}

impl NoticeSink for SlackNotices {
    fn platform(&self) -> &str {
        PLATFORM
    }

    async fn send(&self, notice: &Notice) -> Result<(), SendError> {
        let channel = SlackChannelId::new(notice.chat.chat.clone());
        post_reply(&self.client, &self.token, &channel, &notice.reply, None)
            .await
            .map_err(|e| classify(&e))
    }
}
