//! The request routes: status, the list, asking (`POST /v1/requests`), cancel, approve,
//! reject, and the agent tool (`POST /v1/tool`).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use lull_plugin::{ToolError, actor};
use lull_queue::{AskDraft, Kind, Role};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::fields::{invalid_query, query_params, whole_seconds};
use super::{ApiError, ApiResult, ApiState, Caller, body, from_tool_error, ok, relay};

/// The status; lease ids only for an admin (a lease id is what ends a run).
pub(super) async fn status(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    let mut status = s.plugin.scheduler().status()?;
    if caller.role != Role::Admin {
        for run in &mut status.live_runs {
            run.lease = None;
        }
    }
    ok(serde_json::to_value(status).unwrap_or_default())
}

/// Entries `GET /v1/audit` gives when no limit is named, and the most it gives.
const AUDIT_DEFAULT_LIMIT: usize = 100;
const AUDIT_MAX_LIMIT: usize = 10_000;

/// `GET /v1/audit?limit=N&request=ID`: the newest entries (of one request), oldest first. Admin
/// only: the log names every caller.
pub(super) async fn audit(
    State(s): State<ApiState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult {
    caller.admin_only("reading the audit log")?;
    let [limit, request] = query_params(query.as_deref(), ["limit", "request"])?;
    let limit = match limit {
        None => AUDIT_DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=AUDIT_MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                invalid_query(format!(
                    "limit must be a whole number from 1 to {AUDIT_MAX_LIMIT}, not {text:?}"
                ))
            })?,
    };
    let store = s.plugin.scheduler().store();
    let request = match request {
        None => None,
        Some(query) => Some(store.find(&query)?.id),
    };
    ok(json!({"entries": store.audit_tail(request, limit)?}))
}

pub(super) async fn list_requests(State(s): State<ApiState>, _: Caller) -> ApiResult {
    let mut requests = s.plugin.scheduler().store().all_requests()?;
    requests.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    ok(json!({"requests": requests}))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SubmitBody {
    #[schemars(schema_with = "kind_schema")]
    kind: Kind,
    #[serde(default)]
    #[schemars(length(max = lull_queue::MAX_REASON_CHARS), regex(pattern = crate::names::TEXT_PATTERN))]
    reason: String,
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schemars(range(max = lull_queue::MAX_IDLE.as_secs()))]
    idle_seconds: Option<u64>,
    /// `"any"`: the request may start outside the maintenance windows (admins only).
    window: Option<WindowOverride>,
}

/// `restart` or `update` (the queue's `Kind`, which knows nothing of schemas).
fn kind_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ["restart", "update"]})
}

/// The only override of the maintenance windows a request may carry.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum WindowOverride {
    Any,
}

pub(super) async fn submit(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
    let b: SubmitBody = body(&bytes)?;
    let draft = AskDraft {
        kind: b.kind,
        reason: b.reason,
        idle: b.idle_seconds.map(Duration::from_secs),
        ignore_windows: matches!(b.window, Some(WindowOverride::Any)),
        actor: actor(&caller.sender(), None, caller.role),
    };
    let (request, deduplicated) = s.plugin.submit(draft).await.map_err(from_tool_error)?;
    let code = if deduplicated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        code,
        axum::Json(json!({"request": request, "deduplicated": deduplicated})),
    )
        .into_response())
}

pub(super) async fn cancel(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let cancelled = s
        .plugin
        .scheduler()
        .store()
        .cancel(&id, actor(&caller.sender(), None, caller.role))
        .await?;
    ok(json!({"request": cancelled.request}))
}

pub(super) async fn approve(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.admin_only("approving")?;
    let request = s
        .plugin
        .scheduler()
        .store()
        .approve(&id, actor(&caller.sender(), None, caller.role))
        .await?;
    ok(json!({"request": request}))
}

pub(super) async fn reject(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.admin_only("rejecting")?;
    let request = s
        .plugin
        .scheduler()
        .store()
        .reject(&id, actor(&caller.sender(), None, caller.role))
        .await?;
    ok(json!({"request": request}))
}

pub(super) async fn tool(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
    let Ok(call) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "the body is not JSON; send the tool call object",
        ));
    };
    // A call naming its chat is the relay's: with a relay token set, only its holder may.
    let names_a_chat = call.get("chat").is_some_and(|c| !c.is_null());
    if names_a_chat && relay::token_required(&s) && !caller.relay_token {
        let refusal = ToolError {
            code: "unauthorized",
            status: 401,
            message: "a tool call that names its chat comes through the relay: send Authorization: Bearer <the token in [relay].token_env>".into(),
        };
        return ok(refusal.to_json());
    }
    // A call naming its chat is a relay call: audited with the caller's uid too.
    let via = match &caller.peer {
        Some(peer) if names_a_chat => Some(peer.relay_via()),
        Some(peer) => Some(peer.relayed()),
        None if caller.relay_token => Some("via api:relay-token".to_owned()),
        None => None,
    };
    // Over TCP the token is all the caller proved: it keys the requester with the agent name.
    let credential = match (&caller.peer, caller.relay_token, caller.role) {
        (Some(_), _, _) => None,
        (None, true, _) => Some("relay-token"),
        (None, false, Role::Admin) => Some("admin-token"),
        (None, false, Role::Agent) => Some("agent-token"),
    };
    ok(s.plugin
        .tool_keyed(&String::from_utf8_lossy(&bytes), via.as_deref(), credential)
        .await)
}
