//! The control API: HTTP/JSON on the profile's Unix socket (as admin) and optionally on loopback
//! TCP (bearer tokens naming admin or agent). Every route and shape of docs/sidecar.md.

mod auth;
mod controls;
mod fields;
mod metrics;
mod openapi;
mod peer;
mod relay;
mod requests;
mod runs;

pub(crate) use peer::LocalPeer;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use lull_plugin::{Plugin, ToolError};
use lull_queue::{Error, Executing};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub(crate) use auth::Caller;
use controls::{drain, end_drain, pause, release, release_fleet_slot, resume};
pub(crate) use openapi::openapi;
use requests::{approve, audit, cancel, list_requests, reject, status, submit, tool};
use runs::{activity, begin_run, end_run, forget_source, heartbeat_run, source_heartbeat};

/// Every route: method and path, exactly as served and documented.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/status"),
    ("GET", "/v1/requests"),
    ("POST", "/v1/requests"),
    ("POST", "/v1/requests/{id}/cancel"),
    ("POST", "/v1/requests/{id}/approve"),
    ("POST", "/v1/requests/{id}/reject"),
    ("POST", "/v1/tool"),
    ("GET", "/v1/audit"),
    ("POST", "/v1/runs"),
    ("POST", "/v1/runs/{lease}/heartbeat"),
    ("DELETE", "/v1/runs/{lease}"),
    ("POST", "/v1/activity"),
    ("POST", "/v1/heartbeat"),
    ("DELETE", "/v1/sources/{name}"),
    ("POST", "/v1/drain"),
    ("DELETE", "/v1/drain"),
    ("POST", "/v1/pause"),
    ("POST", "/v1/resume"),
    ("POST", "/v1/release"),
    ("POST", "/v1/fleet/release"),
    ("POST", "/v1/relay/commands"),
    ("GET", "/v1/relay/notices"),
    ("POST", "/v1/relay/notices/{id}/ack"),
    ("GET", "/v1/relay/grammar"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

/// How long a runtime refused with `executing` should wait before beginning again.
const RETRY_AFTER_EXECUTING: u64 = 15;

/// Who may call: the socket's owner, or the holders of the TCP bearer tokens.
#[derive(Clone, Debug)]
pub(crate) enum Access {
    /// The Unix socket (mode 0600): every caller is an admin.
    Socket,
    /// Loopback TCP: `Authorization: Bearer <token>` names the role.
    Tcp {
        /// The admin token, if configured.
        admin: Option<String>,
        /// The agent token, if configured.
        agent: Option<String>,
    },
}

/// What the handlers share.
#[derive(Clone)]
pub(crate) struct ApiState {
    /// The command core (and through it the scheduler, store and tracker).
    pub(crate) plugin: Plugin,
    /// Who may call this listener.
    pub(crate) access: Access,
    /// The relay, when `[relay]` is configured.
    pub(crate) relay: Option<crate::relay::Relay>,
    /// Cancelled when lull stops: long polls end then.
    pub(crate) stop: tokio_util::sync::CancellationToken,
}

/// An error answer: `{"error":{"code","message"}}` with a 4xx/5xx status.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    extra: Option<(&'static str, Value)>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            extra: None,
        }
    }

    fn executing() -> Self {
        Self {
            extra: Some(("retry_after_seconds", json!(RETRY_AFTER_EXECUTING))),
            ..Self::new(StatusCode::CONFLICT, "executing", Executing.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if let Some((key, value)) = self.extra {
            body[key] = value;
        }
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        from_tool_error(ToolError::from(error))
    }
}

fn from_tool_error(error: ToolError) -> ApiError {
    // The status the error's kind carries (400 for a bad tool input).
    let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    ApiError::new(status, error.code, error.message)
}

type ApiResult = Result<Response, ApiError>;

fn ok(value: Value) -> ApiResult {
    Ok(axum::Json(value).into_response())
}

/// Parses a JSON body strictly; an empty body reads as `{}`.
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    // serde reads a struct from an array too (`[]` as `{}`); the API takes objects only.
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body must be a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("invalid body: {e}"),
        )
    })
}

/// The router for one listener.
pub(crate) fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/requests", get(list_requests).post(submit))
        .route("/v1/requests/{id}/cancel", post(cancel))
        .route("/v1/requests/{id}/approve", post(approve))
        .route("/v1/requests/{id}/reject", post(reject))
        .route("/v1/tool", post(tool))
        .route("/v1/audit", get(audit))
        .route("/v1/runs", post(begin_run))
        .route("/v1/runs/{lease}/heartbeat", post(heartbeat_run))
        .route("/v1/runs/{lease}", delete(end_run))
        .route("/v1/activity", post(activity))
        .route("/v1/heartbeat", post(source_heartbeat))
        .route("/v1/sources/{name}", delete(forget_source))
        .route("/v1/drain", post(drain).delete(end_drain))
        .route("/v1/pause", post(pause))
        .route("/v1/resume", post(resume))
        .route("/v1/release", post(release))
        .route("/v1/fleet/release", post(release_fleet_slot))
        .route("/v1/relay/commands", post(relay::command))
        .route("/v1/relay/notices", get(relay::notices))
        .route("/v1/relay/notices/{id}/ack", post(relay::acknowledge))
        .route("/v1/relay/grammar", get(relay::grammar))
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"ok": true})) }),
        )
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(|| async { axum::Json(openapi()) }))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route; GET /openapi.json lists them",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method; GET /openapi.json lists them",
            )
        })
        .with_state(state)
}
