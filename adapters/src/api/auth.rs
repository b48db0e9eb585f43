//! Who is calling: the caller's role from the listener (the socket is an admin) or the bearer
//! token (admin, agent, or the relay's), compared in constant time.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use lull_plugin::Sender;
use lull_queue::{LeaseCaller, Role};

use super::{Access, ApiError, ApiState, LocalPeer};

/// The caller's role, from the listener and (over TCP) the bearer token.
pub(crate) struct Caller {
    pub(super) role: Role,
    /// The process on the other end of the Unix socket; `None` over TCP (a bearer token
    /// names only a role).
    pub(super) peer: Option<LocalPeer>,
    /// The caller presented the relay's token (`[relay].token_env`).
    pub(super) relay_token: bool,
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
    pub(super) fn sender(&self) -> Sender {
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
    pub(super) fn by(&self) -> String {
        match (&self.peer, self.role) {
            (Some(peer), _) => peer.by(),
            (None, Role::Admin) => "api:admin".into(),
            (None, Role::Agent) => "tool:api-agent".into(),
        }
    }

    /// The caller as a lease's owner: the credential it acts with (`socket`, `relay`, `admin`,
    /// `agent`). A lease is heartbeaten and ended only by its credential, or by an admin.
    pub(super) fn lease_caller(&self) -> LeaseCaller<'static> {
        let owner = if self.peer.is_some() {
            "socket"
        } else if self.relay_token {
            "relay"
        } else if self.role == Role::Admin {
            "admin"
        } else {
            "agent"
        };
        LeaseCaller {
            owner,
            admin: self.role == Role::Admin,
        }
    }

    pub(super) fn admin_only(&self, what: &str) -> Result<(), ApiError> {
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
