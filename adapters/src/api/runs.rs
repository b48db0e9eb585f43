//! The run routes a sidecar host reports its agent runs through (begin, heartbeat, end,
//! activity, a source's heartbeat), with the validators of their bodies.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use lull_queue::{LeaseError, SourceError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::fields::{check_lease, check_session, check_source};
use super::{ApiError, ApiResult, ApiState, Caller, body, ok};

fn default_source() -> String {
    "default".into()
}

fn yes() -> bool {
    true
}

/// The source a run's call marks alive, unless the call says the run is no source's.
fn announced(source: &str, announce: bool) -> Option<&str> {
    announce.then_some(source)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RunBody {
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::names::NAME_PATTERN))]
    session: String,
    #[serde(default = "default_source")]
    #[schemars(length(min = 1, max = 100), regex(pattern = crate::names::NAME_PATTERN))]
    source: String,
    /// `false`: this run is no activity source's (a script's, `lull hold`'s): `source` is not
    /// recorded as alive, so its silence once the run ends blocks nothing.
    #[serde(default = "yes")]
    announce_source: bool,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for the gateway's own bookkeeping; lull keys runs by session"
    )]
    agent: Option<String>,
}

pub(super) async fn begin_run(
    State(s): State<ApiState>,
    caller: Caller,
    bytes: Bytes,
) -> ApiResult {
    let b: RunBody = body(&bytes)?;
    check_session(&b.session)?;
    check_source(&b.source)?;
    let grant = s
        .plugin
        .scheduler()
        .tracker()
        .begin_lease(
            &b.session,
            announced(&b.source, b.announce_source),
            caller.lease_caller().owner,
        )
        .map_err(|refused| lease_refused(&refused))?;
    ok(json!({"lease": grant.lease, "ttl_seconds": grant.ttl.as_secs()}))
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HeartbeatBody {
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::names::NAME_PATTERN))]
    session: Option<String>,
    #[serde(default = "default_source")]
    #[schemars(length(min = 1, max = 100), regex(pattern = crate::names::NAME_PATTERN))]
    source: String,
    /// As when the run began.
    #[serde(default = "yes")]
    announce_source: bool,
}

pub(super) async fn heartbeat_run(
    State(s): State<ApiState>,
    caller: Caller,
    Path(lease): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let b: HeartbeatBody = body(&bytes)?;
    check_lease(&lease)?;
    check_source(&b.source)?;
    if let Some(session) = &b.session {
        check_session(session)?;
    }
    let tracker = s.plugin.scheduler().tracker();
    match tracker.heartbeat(
        &lease,
        b.session.as_deref(),
        announced(&b.source, b.announce_source),
        caller.lease_caller(),
    ) {
        Ok(beat) => ok(json!({
            "lease": lease,
            "ttl_seconds": tracker.settings().lease_ttl.as_secs(),
            "reregistered": beat == lull_queue::Heartbeat::Reregistered,
        })),
        Err(refused) => Err(lease_refused(&refused)),
    }
}

/// A run call lull refused: the lease expired, admission is closed, or another credential began
/// the lease (the run stays).
fn lease_refused(refused: &LeaseError) -> ApiError {
    match refused {
        LeaseError::Expired(_) => ApiError::new(
            StatusCode::GONE,
            "lease_expired",
            "the lease expired (no heartbeat within the lease TTL) or was released; begin the run again with POST /v1/runs",
        ),
        LeaseError::Executing(_) => ApiError::executing(),
        LeaseError::NotYours { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", refused.to_string())
        }
    }
}

/// One source more than `max_sources`.
fn source_refused(refused: &SourceError) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "too_many_sources",
        refused.to_string(),
    )
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SourceBody {
    #[serde(default = "default_source")]
    #[schemars(length(min = 1, max = 100), regex(pattern = crate::names::NAME_PATTERN))]
    source: String,
    /// As when the run began.
    #[serde(default = "yes")]
    announce_source: bool,
}

pub(super) async fn end_run(
    State(s): State<ApiState>,
    caller: Caller,
    Path(lease): Path<String>,
    bytes: Bytes,
) -> ApiResult {
    let b: SourceBody = body(&bytes)?;
    check_lease(&lease)?;
    check_source(&b.source)?;
    let ended = s
        .plugin
        .scheduler()
        .tracker()
        .end_lease(
            &lease,
            announced(&b.source, b.announce_source),
            caller.lease_caller(),
        )
        .map_err(|refused| lease_refused(&refused))?;
    ok(json!({"ended": ended}))
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ActivityBody {
    #[serde(default = "default_source")]
    #[schemars(length(min = 1, max = 100), regex(pattern = crate::names::NAME_PATTERN))]
    source: String,
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted for logs; activity is global, not per session"
    )]
    session: Option<String>,
}

pub(super) async fn activity(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
    let b: ActivityBody = body(&bytes)?;
    check_source(&b.source)?;
    s.plugin
        .scheduler()
        .tracker()
        .note_source_activity(&b.source, caller.lease_caller().owner)
        .map_err(|refused| source_refused(&refused))?;
    ok(json!({"ok": true}))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct HeartbeatSourceBody {
    #[schemars(length(min = 1, max = 100), regex(pattern = crate::names::NAME_PATTERN))]
    source: String,
}

pub(super) async fn source_heartbeat(
    State(s): State<ApiState>,
    caller: Caller,
    bytes: Bytes,
) -> ApiResult {
    let b: HeartbeatSourceBody = body(&bytes)?;
    check_source(&b.source)?;
    s.plugin
        .scheduler()
        .tracker()
        .source_heartbeat(&b.source, caller.lease_caller().owner)
        .map_err(|refused| source_refused(&refused))?;
    ok(json!({"ok": true}))
}

/// `DELETE /v1/sources/{name}`: an admin forgets a stale or invented source; audited.
pub(super) async fn forget_source(
    State(s): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult {
    caller.admin_only("forgetting a source")?;
    check_source(&name)?;
    s.plugin
        .scheduler()
        .forget_source(&name, &caller.by())
        .await?;
    ok(json!({"forgotten": name}))
}
