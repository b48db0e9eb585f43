//! The control API: HTTP/JSON on the profile's Unix socket (as admin) and optionally on loopback
//! TCP (bearer tokens naming admin or agent). Every route and shape of docs/sidecar.md.

mod metrics;
mod openapi;
mod peer;
mod relay;

pub(crate) use peer::LocalPeer;

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use lull_plugin::{Plugin, Sender, ToolError, actor};
use lull_queue::{AskDraft, Error, Executing, Kind, LeaseError, Role};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub(crate) use openapi::openapi;

/// Every route: method and path, exactly as served and documented.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/status"),
    ("GET", "/v1/requests"),
    ("POST", "/v1/requests"),
    ("POST", "/v1/requests/{id}/cancel"),
    ("POST", "/v1/requests/{id}/approve"),
    ("POST", "/v1/requests/{id}/reject"),
    ("POST", "/v1/tool"),
    ("POST", "/v1/runs"),
    ("POST", "/v1/runs/{lease}/heartbeat"),
    ("DELETE", "/v1/runs/{lease}"),
    ("POST", "/v1/activity"),
    ("POST", "/v1/heartbeat"),
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
    pub plugin: Plugin,
    /// Who may call this listener.
    pub access: Access,
    /// The relay, when `[relay]` is configured.
    pub relay: Option<crate::relay::Relay>,
    /// Cancelled when lull stops: long polls end then.
    pub stop: tokio_util::sync::CancellationToken,
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

/// The caller's role, from the listener and (over TCP) the bearer token.
pub(crate) struct Caller {
    role: Role,
    /// The process on the other end of the Unix socket; `None` over TCP (a bearer token
    /// names only a role).
    peer: Option<LocalPeer>,
    /// The caller presented the relay's token (`[relay].token_env`).
    relay_token: bool,
}

/// The bearer token of a request, if it has one.
fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Whether `presented` is the relay's token.
fn is_relay_token(state: &ApiState, presented: Option<&str>) -> bool {
    let token = state
        .relay
        .as_ref()
        .and_then(|r| r.settings().token.as_ref());
    match (token, presented) {
        (Some(token), Some(presented)) => {
            constant_time_eq(token.expose().as_bytes(), presented.as_bytes())
        }
        _ => false,
    }
}

/// The routes the relay's token opens: the relay's, and the tool (an agent's call naming its chat).
fn relay_token_route(path: &str) -> bool {
    path.starts_with("/v1/relay/") || path == "/v1/tool"
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let relay_token = is_relay_token(state, bearer(parts));
        let Access::Tcp { admin, agent } = &state.access else {
            let peer = parts
                .extensions
                .get::<axum::extract::ConnectInfo<LocalPeer>>()
                .map_or_else(LocalPeer::unknown, |info| info.0.clone());
            return Ok(Caller {
                role: Role::Admin,
                peer: Some(peer),
                relay_token,
            });
        };
        let presented = bearer(parts).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send Authorization: Bearer <token>",
            )
        })?;
        if relay_token {
            if !relay_token_route(parts.uri.path()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "the relay token opens only /v1/relay/… and /v1/tool; use the admin or agent token here",
                ));
            }
            // Speaks for the relay's users, each authorized by [relay]; as itself, an agent.
            return Ok(Caller {
                role: Role::Agent,
                peer: None,
                relay_token,
            });
        }
        let matches = |token: &Option<String>| {
            token
                .as_deref()
                .is_some_and(|t| constant_time_eq(t.as_bytes(), presented.as_bytes()))
        };
        if matches(admin) {
            Ok(Caller {
                role: Role::Admin,
                peer: None,
                relay_token,
            })
        } else if matches(agent) {
            Ok(Caller {
                role: Role::Agent,
                peer: None,
                relay_token,
            })
        } else {
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the bearer token is not valid for this server",
            ))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

impl Caller {
    fn sender(&self) -> Sender {
        match (self.role, &self.peer) {
            (Role::Admin, Some(peer)) => {
                let sender = Sender::local_admin("local", &peer.user);
                match peer.via() {
                    Some(via) => sender.via(via),
                    None => sender,
                }
            }
            (Role::Admin, None) => Sender::local_admin("api", "admin"),
            (Role::Agent, _) => Sender::tool_agent("api-agent"),
        }
    }

    /// Who did it, for the audit: `local:alice (pid 4242)` through the socket, the token's
    /// role over TCP.
    fn by(&self) -> String {
        match (&self.peer, self.role) {
            (Some(peer), _) => peer.by(),
            (None, Role::Admin) => "api:admin".into(),
            (None, Role::Agent) => "tool:api-agent".into(),
        }
    }

    fn admin_only(&self, what: &str) -> Result<(), ApiError> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("{what} needs the admin token"),
            ))
        }
    }
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
        .route("/v1/runs", post(begin_run))
        .route("/v1/runs/{lease}/heartbeat", post(heartbeat_run))
        .route("/v1/runs/{lease}", delete(end_run))
        .route("/v1/activity", post(activity))
        .route("/v1/heartbeat", post(source_heartbeat))
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

async fn status(State(s): State<ApiState>, _: Caller) -> ApiResult {
    let status = s.plugin.scheduler().status()?;
    ok(serde_json::to_value(status).unwrap_or_default())
}

async fn list_requests(State(s): State<ApiState>, _: Caller) -> ApiResult {
    let mut requests = s.plugin.scheduler().store().all_requests()?;
    requests.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    ok(json!({"requests": requests}))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    #[schemars(schema_with = "kind_schema")]
    kind: Kind,
    #[serde(default)]
    #[schemars(length(max = lull_queue::MAX_REASON_CHARS))]
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

async fn submit(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
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

async fn cancel(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let cancelled = s
        .plugin
        .scheduler()
        .store()
        .cancel(&id, actor(&caller.sender(), None, caller.role))
        .await?;
    ok(json!({"request": cancelled.request}))
}

async fn approve(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    caller.admin_only("approving")?;
    let request = s
        .plugin
        .scheduler()
        .store()
        .approve(&id, actor(&caller.sender(), None, caller.role))
        .await?;
    ok(json!({"request": request}))
}

async fn reject(State(s): State<ApiState>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    caller.admin_only("rejecting")?;
    let request = s
        .plugin
        .scheduler()
        .store()
        .reject(&id, actor(&caller.sender(), None, caller.role))
        .await?;
    ok(json!({"request": request}))
}

async fn tool(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
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
    ok(s.plugin
        .tool_via(&String::from_utf8_lossy(&bytes), via.as_deref())
        .await)
}

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

/// A count of seconds as a whole JSON number: `20`, or `20.0` (JSON does not tell them apart,
/// and neither does JSON Schema's `integer`), or `null`.
fn whole_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_u64() {
        return Ok(Some(whole));
    }
    match number.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "{number} is not a whole number of seconds"
        ))),
    }
}

/// [`whole_seconds`] for a field that must be there.
fn whole_seconds_required<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole_seconds(d)?.ok_or_else(|| serde::de::Error::custom("a number of seconds is required"))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunBody {
    #[schemars(length(min = 1, max = 200), regex(pattern = r"\S"))]
    session: String,
    #[serde(default = "default_source")]
    #[schemars(length(min = 1, max = 100), regex(pattern = r"\S"))]
    source: String,
    /// `false`: this run is no activity source's (a script's, `lull hold`'s): `source` is not
    /// recorded as alive, so its silence once the run ends blocks nothing.
    #[serde(default = "yes")]
    announce_source: bool,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "accepted for the gateway's own bookkeeping; lull keys runs by session"
    )]
    agent: Option<String>,
}

/// Whether `text` is only what the document's `\S` (JSON Schema patterns are ECMA-262) calls
/// white space, so the server and the document agree on what is blank.
fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        matches!(
            c,
            '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}'
                    | '\u{2028}'
                    | '\u{2029}'
                    | '\u{202f}'
                    | '\u{205f}'
                    | '\u{3000}'
                    | '\u{feff}'
        )
    })
}

fn check_source(source: &str) -> Result<(), ApiError> {
    if is_blank(source) || source.chars().count() > 100 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_source",
            "source must be 1 to 100 characters, e.g. \"my-gateway\"",
        ));
    }
    Ok(())
}

fn check_lease(lease: &str) -> Result<(), ApiError> {
    if lease.is_empty()
        || lease.len() > 100
        || !lease
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_lease",
            "a lease id is what POST /v1/runs returned (letters, digits, '-' or '_')",
        ));
    }
    Ok(())
}

fn check_session(session: &str) -> Result<(), ApiError> {
    if is_blank(session) || session.chars().count() > 200 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_session",
            "session must be 1 to 200 characters, e.g. \"telegram:123\"",
        ));
    }
    Ok(())
}

async fn begin_run(State(s): State<ApiState>, _: Caller, bytes: Bytes) -> ApiResult {
    let b: RunBody = body(&bytes)?;
    check_session(&b.session)?;
    check_source(&b.source)?;
    let grant = s
        .plugin
        .scheduler()
        .tracker()
        .begin_lease(&b.session, announced(&b.source, b.announce_source))
        .map_err(|_| ApiError::executing())?;
    ok(json!({"lease": grant.lease, "ttl_seconds": grant.ttl.as_secs()}))
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HeartbeatBody {
    #[schemars(length(min = 1, max = 200), regex(pattern = r"\S"))]
    session: Option<String>,
    #[serde(default = "default_source")]
    #[schemars(length(min = 1, max = 100), regex(pattern = r"\S"))]
    source: String,
    /// As when the run began.
    #[serde(default = "yes")]
    announce_source: bool,
}

async fn heartbeat_run(
    State(s): State<ApiState>,
    _: Caller,
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
    ) {
        Ok(beat) => ok(json!({
            "lease": lease,
            "ttl_seconds": tracker.settings().lease_ttl.as_secs(),
            "reregistered": beat == lull_queue::Heartbeat::Reregistered,
        })),
        Err(LeaseError::Expired(_)) => Err(ApiError::new(
            StatusCode::GONE,
            "lease_expired",
            "the lease expired (no heartbeat within the lease TTL) or was released; begin the run again with POST /v1/runs",
        )),
        Err(LeaseError::Executing(_)) => Err(ApiError::executing()),
    }
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SourceBody {
    #[serde(default = "default_source")]
    #[schemars(length(min = 1, max = 100), regex(pattern = r"\S"))]
    source: String,
    /// As when the run began.
    #[serde(default = "yes")]
    announce_source: bool,
}

async fn end_run(
    State(s): State<ApiState>,
    _: Caller,
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
        .end_lease(&lease, announced(&b.source, b.announce_source));
    ok(json!({"ended": ended}))
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ActivityBody {
    #[serde(default = "default_source")]
    #[schemars(length(min = 1, max = 100), regex(pattern = r"\S"))]
    source: String,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "accepted for logs; activity is global, not per session"
    )]
    session: Option<String>,
}

async fn activity(State(s): State<ApiState>, _: Caller, bytes: Bytes) -> ApiResult {
    let b: ActivityBody = body(&bytes)?;
    check_source(&b.source)?;
    s.plugin
        .scheduler()
        .tracker()
        .note_activity(Some(&b.source));
    ok(json!({"ok": true}))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HeartbeatSourceBody {
    #[schemars(length(min = 1, max = 100), regex(pattern = r"\S"))]
    source: String,
}

async fn source_heartbeat(State(s): State<ApiState>, _: Caller, bytes: Bytes) -> ApiResult {
    let b: HeartbeatSourceBody = body(&bytes)?;
    check_source(&b.source)?;
    s.plugin.scheduler().tracker().source_heartbeat(&b.source);
    ok(json!({"ok": true}))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DrainBody {
    #[serde(deserialize_with = "whole_seconds_required")]
    #[schemars(range(min = 1, max = 604_800))]
    ttl_seconds: u64,
}

async fn drain(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
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

async fn end_drain(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    caller.admin_only("ending a drain")?;
    s.plugin.scheduler().end_drain(&caller.by()).await?;
    ok(json!({"drain": null}))
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    #[serde(default, deserialize_with = "whole_seconds")]
    #[schemars(range(min = 1, max = 604_800))]
    for_seconds: Option<u64>,
    #[serde(default)]
    reason: String,
}

async fn pause(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
    caller.admin_only("pausing")?;
    let b: PauseBody = body(&bytes)?;
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

async fn resume(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    caller.admin_only("resuming")?;
    s.plugin.scheduler().resume(&caller.by()).await?;
    ok(json!({"pause": null}))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    #[schemars(length(min = 1, max = 200), regex(pattern = r"\S"))]
    session: String,
}

async fn release(State(s): State<ApiState>, caller: Caller, bytes: Bytes) -> ApiResult {
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

async fn release_fleet_slot(State(s): State<ApiState>, caller: Caller) -> ApiResult {
    caller.admin_only("releasing the fleet slot")?;
    let hold = s
        .plugin
        .scheduler()
        .release_fleet_slot(&caller.by())
        .await?;
    ok(json!({"released": hold}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_what_the_documents_pattern_calls_white_space() {
        for blank in ["", " ", "\t\n", "\u{feff}", "\u{3000} \u{a0}"] {
            assert!(is_blank(blank), "{blank:?}");
        }
        // Not white space to an ECMA-262 `\s`, so not blank to the server either.
        for text in ["a", " x ", "\u{85}", "\u{1c}"] {
            assert!(!is_blank(text), "{text:?}");
        }
    }
}
