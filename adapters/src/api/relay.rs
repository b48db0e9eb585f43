//! The relay's routes (`/v1/relay/…`, docs/relay.md): who may call them, their bodies and
//! queries checked, and the relay's refusals as API errors. What they do is `crate::relay`'s.
//!
//! With `[relay].token_env` set, every relay call must present that token, on the socket too:
//! the socket alone then does not let any process of lull's user speak as the relay's admins.
//! Without it, the socket's callers may (docs/relay.md says what that trusts), and over TCP
//! only the admin token may. Each call is audited with the caller's peer credentials.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use lull_queue::Role;
use serde_json::json;

use super::fields::{invalid_query, query_params};
use super::{ApiError, ApiResult, ApiState, Caller, body, ok};
use crate::relay::{AckBody, CommandBody, Relay, RelayError};

/// Longest long poll.
const MAX_WAIT_SECONDS: u64 = 60;
/// Longest consumer name.
const MAX_CONSUMER_CHARS: usize = 200;

/// Whether relay calls must present the relay token.
pub(super) fn token_required(state: &ApiState) -> bool {
    state
        .relay
        .as_ref()
        .is_some_and(|r| r.settings().token.is_some())
}

/// The relay, if `caller` may call it.
fn relay_for<'a>(state: &'a ApiState, caller: &Caller) -> Result<&'a Relay, ApiError> {
    let relay = state.relay.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "relay_not_configured",
            "no relay is configured: add a [relay] section to lull.toml (docs/relay.md)",
        )
    })?;
    if relay.settings().token.is_some() {
        if !caller.relay_token {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "relay calls need Authorization: Bearer <the token in [relay].token_env>",
            ));
        }
    } else if caller.peer.is_none() && caller.role != Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "over TCP, relay calls need the admin token (or set [relay].token_env and send that)",
        ));
    }
    Ok(relay)
}

/// How the caller reached lull, for the audit: `via local:alice, uid 1000, pid 42`, or the
/// token over TCP.
fn via(caller: &Caller) -> String {
    match (&caller.peer, caller.relay_token) {
        (Some(peer), _) => peer.relay_via(),
        (None, true) => "via api:relay-token".into(),
        // Over TCP without a relay token only the admin token reaches the relay.
        (None, false) => "via api:admin".into(),
    }
}

/// The caller as the audit names it: `local:alice (uid 1000, pid 42)`.
fn by(caller: &Caller) -> String {
    let via = via(caller);
    let via = via.strip_prefix("via ").unwrap_or(&via);
    match via.split_once(", ") {
        Some((who, how)) => format!("{who} ({how})"),
        None => via.to_owned(),
    }
}

impl From<RelayError> for ApiError {
    fn from(error: RelayError) -> Self {
        let message = error.to_string();
        match error {
            RelayError::Invalid { code, .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, code, message)
            }
            RelayError::InProgress(_) => {
                ApiError::new(StatusCode::CONFLICT, "in_progress", message)
            }
            RelayError::ClaimedByAnother { .. } => {
                ApiError::new(StatusCode::CONFLICT, "claimed_by_another", message)
            }
            RelayError::TooManyPolls(_) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_polls", message)
            }
            RelayError::NoSuchNotice(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
            }
            RelayError::Unreadable => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unreadable", message)
            }
            RelayError::Store(error) => error.into(),
            RelayError::Failed => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        }
    }
}

/// `POST /v1/relay/commands`.
pub(super) async fn command(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
    let relay = relay_for(&s, &caller)?;
    let b: CommandBody = body(&bytes)?;
    let answer = relay.command(&s.plugin, b, via(&caller)).await?;
    ok(serde_json::to_value(answer).unwrap_or_default())
}

/// The query of `GET /v1/relay/notices`.
struct NoticesQuery {
    consumer: String,
    wait: Duration,
}

fn notices_query(query: Option<&str>) -> Result<NoticesQuery, ApiError> {
    let [consumer, wait] = query_params(query, ["consumer", "wait_seconds"])?;
    let consumer = consumer
        .filter(|c| !super::fields::is_blank(c) && c.chars().count() <= MAX_CONSUMER_CHARS)
        .ok_or_else(|| {
            invalid_query(format!(
                "consumer is required: 1 to {MAX_CONSUMER_CHARS} characters naming this poller (e.g. the host process), so its claims are its own"
            ))
        })?;
    let wait = match wait {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|w| *w <= MAX_WAIT_SECONDS)
            .ok_or_else(|| {
                invalid_query(format!(
                    "wait_seconds must be a whole number from 0 to {MAX_WAIT_SECONDS}, not {text:?}"
                ))
            })?,
    };
    Ok(NoticesQuery {
        consumer,
        wait: Duration::from_secs(wait),
    })
}

/// `GET /v1/relay/notices?consumer=ID&wait_seconds=N`.
pub(super) async fn notices(
    State(s): State<ApiState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult {
    let relay = relay_for(&s, &caller)?;
    let q = notices_query(query.as_deref())?;
    let notices = relay
        .poll(&s.plugin, &q.consumer, q.wait, &s.stop, &by(&caller))
        .await?;
    ok(json!({"notices": notices}))
}

/// `POST /v1/relay/notices/{id}/ack`.
pub(super) async fn acknowledge(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let relay = relay_for(&s, &caller)?;
    let b: AckBody = body(&bytes)?;
    if super::fields::is_blank(&b.consumer) || b.consumer.chars().count() > MAX_CONSUMER_CHARS {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!(
                "consumer must be 1 to {MAX_CONSUMER_CHARS} characters: the one that polled the notice"
            ),
        ));
    }
    let seq = id
        .parse::<u64>()
        .map_err(|_| RelayError::NoSuchNotice(id.clone()))?;
    let removed = relay.acknowledge(&s.plugin, seq, &b, &by(&caller)).await?;
    ok(json!({"id": id, "removed": removed}))
}

/// `GET /v1/relay/grammar`.
pub(super) async fn grammar(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    relay_for(&s, &caller)?;
    ok(crate::relay::grammar())
}
