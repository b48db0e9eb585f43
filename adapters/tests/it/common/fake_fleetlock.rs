//! A FleetLock server on 127.0.0.1 that follows Zincati's protocol document: a counting
//! semaphore per group with recursive locking and ownership. `POST /v1/pre-reboot` takes a slot
//! (200 again for an id that holds one), `POST /v1/steady-state` releases the caller's (200
//! whether or not it held one); both need `fleet-lock-protocol: true` and a body
//! `{"client_params": {"id": non-empty, "group": [a-zA-Z0-9.-]+}}`; failures answer 4xx/5xx with
//! `{"kind", "value"}`. Every call is recorded.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

/// One call the server saw: the operation, the id and the answer's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub operation: &'static str,
    pub id: String,
    pub status: u16,
}

#[derive(Default)]
struct Semaphore {
    slots: usize,
    holders: Vec<String>,
    calls: Vec<Call>,
}

/// The running server.
#[derive(Clone)]
pub struct FakeFleetLock {
    state: Arc<Mutex<Semaphore>>,
    pub port: u16,
}

type Answer = (StatusCode, Json<Value>);

fn refuse(status: StatusCode, kind: &str, value: &str) -> Answer {
    (status, Json(json!({"kind": kind, "value": value})))
}

/// The caller's id, or the protocol's error for a request that breaks the protocol.
fn client_id(headers: &HeaderMap, body: &Value) -> Result<String, Answer> {
    if headers
        .get("fleet-lock-protocol")
        .and_then(|v| v.to_str().ok())
        != Some("true")
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "missing_header",
            "the fleet-lock-protocol: true header is required",
        ));
    }
    let params = &body["client_params"];
    let id = params["id"].as_str().unwrap_or("");
    let group = params["group"].as_str().unwrap_or("");
    let group_ok = !group.is_empty()
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if id.is_empty() || !group_ok {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_client_params",
            "client_params needs a non-empty id and a group matching ^[a-zA-Z0-9.-]+$",
        ));
    }
    Ok(id.to_owned())
}

impl FakeFleetLock {
    /// A server with `slots` slots, `holders` already holding.
    pub async fn start(slots: usize, holders: &[&str]) -> Self {
        let state = Arc::new(Mutex::new(Semaphore {
            slots,
            holders: holders.iter().map(|h| (*h).to_owned()).collect(),
            calls: Vec::new(),
        }));
        let app = axum::Router::new()
            .route("/base/v1/pre-reboot", post(pre_reboot))
            .route("/base/v1/steady-state", post(steady_state))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { state, port }
    }

    /// The base URL replicas are configured with (it has a path, as the document's example).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/base", self.port)
    }

    /// Who holds a slot.
    pub fn holders(&self) -> Vec<String> {
        self.state.lock().unwrap().holders.clone()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Another replica takes a slot.
    pub fn take(&self, id: &str) {
        self.state.lock().unwrap().holders.push(id.to_owned());
    }

    /// Another replica gives its slot back.
    pub fn release(&self, id: &str) {
        self.state.lock().unwrap().holders.retain(|h| h != id);
    }
}

fn record(state: &Mutex<Semaphore>, operation: &'static str, id: &str, answer: Answer) -> Answer {
    state.lock().unwrap().calls.push(Call {
        operation,
        id: id.to_owned(),
        status: answer.0.as_u16(),
    });
    answer
}

/// Answers one operation for the caller `handle` accepts (the protocol's checks first), and
/// records it.
fn answer(
    state: &Mutex<Semaphore>,
    operation: &'static str,
    headers: &HeaderMap,
    body: &Value,
    handle: impl FnOnce(&mut Semaphore, &str) -> Answer,
) -> Answer {
    match client_id(headers, body) {
        Ok(id) => {
            let answer = handle(&mut state.lock().unwrap(), &id);
            record(state, operation, &id, answer)
        }
        Err(refused) => record(state, operation, "", refused),
    }
}

async fn pre_reboot(
    State(state): State<Arc<Mutex<Semaphore>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    answer(&state, "pre-reboot", &headers, &body, |s, id| {
        if s.holders.iter().any(|h| h == id) {
            // Recursive: the holder is granted again.
            (StatusCode::OK, Json(json!({})))
        } else if s.holders.len() >= s.slots {
            refuse(
                StatusCode::CONFLICT,
                "failed_lock_semaphore_full",
                "semaphore currently full, all slots are locked already",
            )
        } else {
            s.holders.push(id.to_owned());
            (StatusCode::OK, Json(json!({})))
        }
    })
}

async fn steady_state(
    State(state): State<Arc<Mutex<Semaphore>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    answer(&state, "steady-state", &headers, &body, |s, id| {
        s.holders.retain(|h| h != id);
        (StatusCode::OK, Json(json!({})))
    })
}
