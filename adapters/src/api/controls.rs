//! The operator's routes: drain and its end, pause and resume, release of a run or of the
//! fleet slot. Each is admin-only.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::fields::{check_session, check_text, whole_seconds, whole_seconds_required};
use super::{ApiError, ApiResult, ApiState, Caller, body, ok};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct DrainBody {
    #[serde(deserialize_with = "whole_seconds_required")]
    #[schemars(range(min = 1, max = 604_800))]
    ttl_seconds: u64,
}

pub(super) async fn drain(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
    caller.admin_only("draining")?;
    let b: DrainBody = body(&bytes)?;
    if b.ttl_seconds == 0 || b.ttl_seconds > 7 * 86_400 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_ttl_seconds",
            "ttl_seconds must be 1 to 604800 (7 days)",
        ));
    }
    let drain = s
        .plugin
        .scheduler()
        .drain(Duration::from_secs(b.ttl_seconds), &caller.by())
        .await?;
    ok(json!({"drain": drain}))
}

pub(super) async fn end_drain(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    caller.admin_only("ending a drain")?;
    s.plugin.scheduler().end_drain(&caller.by()).await?;
    ok(json!({"drain": null}))
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PauseBody {
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schemars(range(min = 1, max = 604_800))]
    for_seconds: Option<u64>,
    #[serde(default)]
    #[schemars(regex(pattern = crate::names::TEXT_PATTERN))]
    reason: String,
}

pub(super) async fn pause(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
    caller.admin_only("pausing")?;
    let b: PauseBody = body(&bytes)?;
    check_text("reason", "invalid_reason", &b.reason)?;
    if b.for_seconds.is_some_and(|f| f == 0 || f > 7 * 86_400) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_for_seconds",
            "for_seconds must be 1 to 604800 (7 days), or absent to pause until resumed",
        ));
    }
    let pause = s
        .plugin
        .scheduler()
        .pause(
            b.for_seconds.map(Duration::from_secs),
            &caller.by(),
            &b.reason,
        )
        .await?;
    ok(json!({"pause": pause}))
}

pub(super) async fn resume(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    caller.admin_only("resuming")?;
    s.plugin.scheduler().resume(&caller.by()).await?;
    ok(json!({"pause": null}))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReleaseBody {
    #[schemars(length(min = 1, max = 200), regex(pattern = crate::names::NAME_PATTERN))]
    session: String,
}

pub(super) async fn release(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
    caller.admin_only("releasing a run")?;
    let b: ReleaseBody = body(&bytes)?;
    check_session(&b.session)?;
    let released = s
        .plugin
        .scheduler()
        .release(&b.session, &caller.by())
        .await?;
    ok(json!({"released": released}))
}

pub(super) async fn release_fleet_slot(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    caller.admin_only("releasing the fleet slot")?;
    let hold = s
        .plugin
        .scheduler()
        .release_fleet_slot(&caller.by())
        .await?;
    ok(json!({"released": hold}))
}
