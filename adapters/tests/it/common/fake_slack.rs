//! A fake Slack on 127.0.0.1 for tests: the Web API methods slack-morphism calls (`auth.test`,
//! `apps.connections.open`, `chat.postMessage`), `response_url`s, and a Socket Mode websocket
//! that says hello, sends the envelopes a test pushes and records their acknowledgements. It
//! records every call, and signs HTTP-mode requests as Slack does.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

/// The tokens and secret lull is configured with.
pub const BOT_TOKEN: &str = "xoxb-1-fake";
pub const APP_TOKEN: &str = "xapp-1-A1-fake";
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
/// lull's bot user.
pub const BOT_USER: &str = "U0LULL";

/// One call the fake received: a Web API method (`chat.postMessage`) or `response/<n>`.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct FakeState {
    calls: Vec<Call>,
    next: u64,
    /// Scripted failures by method: status, body and an optional Retry-After.
    failures: Vec<(String, StatusCode, Value, Option<u64>)>,
    /// Open Socket Mode connections' outbound frames.
    sockets: Vec<mpsc::UnboundedSender<Value>>,
    /// Envelopes pushed before a connection was open.
    waiting: VecDeque<Value>,
    /// Acknowledgements received: (envelope id, payload).
    acks: Vec<(String, Value)>,
}

/// The fake server; dropping it stops it.
pub struct FakeSlack {
    state: Arc<Mutex<FakeState>>,
    address: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl FakeSlack {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Mutex::new(FakeState::default()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let sockets = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let socket_address = sockets.local_addr().unwrap();
        let for_http = state.clone();
        let for_socket = state.clone();
        runtime.spawn(async move {
            while let Ok((stream, _)) = sockets.accept().await {
                tokio::spawn(session(for_socket.clone(), stream));
            }
        });
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = for_http.clone();
                async move { handle(&state, socket_address, method, uri, headers, body) }
            },
        );
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            state,
            address,
            _runtime: runtime,
        }
    }

    /// What `api_url` should say.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.address)
    }

    /// A `response_url` the fake answers.
    pub fn response_url(&self) -> String {
        let n = self.with(|s| {
            s.next += 1;
            s.next
        });
        format!("http://{}/response/{n}", self.address)
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// A fresh id (trigger ids, event ids, envelope ids).
    pub fn next_id(&self, prefix: &str) -> String {
        self.with(|s| {
            s.next += 1;
            format!("{prefix}{}", s.next)
        })
    }

    /// Answers the next call of `method` with `status`, `body` and a `Retry-After`, if given.
    pub fn fail_next(&self, method: &str, status: u16, body: Value, retry_after: Option<u64>) {
        self.with(|s| {
            s.failures.push((
                method.to_owned(),
                StatusCode::from_u16(status).unwrap(),
                body,
                retry_after,
            ))
        });
    }

    /// Calls of `method` (`chat.postMessage`, or `response/` for every response_url).
    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.with(|s| {
            s.calls
                .iter()
                .filter(|c| c.method.starts_with(method))
                .cloned()
                .collect()
        })
    }

    /// Messages posted to `channel`.
    pub fn posted_in(&self, channel: &str) -> Vec<Value> {
        self.calls("chat.postMessage")
            .into_iter()
            .map(|c| c.body)
            .filter(|b| b["channel"] == channel)
            .collect()
    }

    /// What was sent to `response_url`.
    pub fn responses_to(&self, response_url: &str) -> Vec<Value> {
        let path = response_url
            .rsplit_once('/')
            .map(|(_, n)| format!("response/{n}"))
            .unwrap();
        self.with(|s| {
            s.calls
                .iter()
                .filter(|c| c.method == path)
                .map(|c| c.body.clone())
                .collect()
        })
    }

    /// Sends a Socket Mode envelope (now, or once a connection opens).
    pub fn push_envelope(&self, envelope: Value) {
        self.with(|s| {
            s.waiting.push_back(envelope);
            flush(s);
        });
    }

    /// The acknowledgement of envelope `id`, once it came.
    pub fn ack(&self, id: &str) -> Option<Value> {
        self.with(|s| s.acks.iter().find(|(e, _)| e == id).map(|(_, p)| p.clone()))
    }

    pub fn acks_of(&self, id: &str) -> usize {
        self.with(|s| s.acks.iter().filter(|(e, _)| e == id).count())
    }

    pub fn sockets_open(&self) -> usize {
        self.with(|s| s.sockets.iter().filter(|t| !t.is_closed()).count())
    }

    pub fn wait_until(&self, what: &str, mut condition: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !condition(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn flush(state: &mut FakeState) {
    state.sockets.retain(|s| !s.is_closed());
    let Some(socket) = state.sockets.first().cloned() else {
        return;
    };
    while let Some(envelope) = state.waiting.front().cloned() {
        if socket.send(envelope).is_err() {
            return;
        }
        state.waiting.pop_front();
    }
}

fn handle(
    state: &Arc<Mutex<FakeState>>,
    sockets: SocketAddr,
    _method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path().contains("//") {
        // Slack answers such paths with an error; a client must never send them.
        let error = json!({"ok": false, "error": "unknown_method"});
        return (StatusCode::NOT_FOUND, axum::Json(error)).into_response();
    }
    let method = uri
        .path()
        .strip_prefix("/api/")
        .unwrap_or(uri.path().trim_start_matches('/'))
        .to_owned();
    let form = headers.get("content-type").is_some_and(|t| {
        t.as_bytes()
            .starts_with(b"application/x-www-form-urlencoded")
    });
    let body: Value = if form {
        let fields: serde_json::Map<String, Value> = url::form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        Value::Object(fields)
    } else {
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    };
    let mut s = state.lock().unwrap();
    s.calls.push(Call {
        method: method.clone(),
        body: body.clone(),
        at: Instant::now(),
    });
    if let Some(i) = s.failures.iter().position(|(m, ..)| *m == method) {
        let (_, status, body, retry_after) = s.failures.remove(i);
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(wait) = retry_after {
            response.headers_mut().insert("retry-after", wait.into());
        }
        return response;
    }
    s.next += 1;
    let ts = format!("1700000000.{:06}", s.next);
    let answer = match method.as_str() {
        "auth.test" => json!({
            "ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "lull",
            "team_id": "T1", "user_id": BOT_USER, "bot_id": "B0LULL",
        }),
        "apps.connections.open" => json!({"ok": true, "url": format!("ws://{sockets}/link")}),
        "chat.postMessage" => json!({
            "ok": true, "channel": body["channel"], "ts": ts,
            "message": {"ts": ts, "text": body["text"], "user": BOT_USER, "bot_id": "B0LULL"},
        }),
        m if m.starts_with("response/") => json!({"ok": true}),
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    axum::Json(answer).into_response()
}

/// One Socket Mode connection: hello, envelopes out, acknowledgements in.
async fn session(state: Arc<Mutex<FakeState>>, stream: tokio::net::TcpStream) {
    let Ok(socket) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut frames) = socket.split();
    let (out, mut outbound) = mpsc::unbounded_channel::<Value>();
    let writer = tokio::spawn(async move {
        while let Some(frame) = outbound.recv().await {
            if sink.send(Frame::Text(frame.to_string())).await.is_err() {
                return;
            }
        }
    });
    let _ = out.send(json!({
        "type": "hello", "num_connections": 1,
        "debug_info": {"host": "fake", "build_number": 1, "approximate_connection_time": 3600},
        "connection_info": {"app_id": "A1"},
    }));
    {
        let mut s = state.lock().unwrap();
        s.sockets.push(out.clone());
        flush(&mut s);
    }
    while let Some(Ok(frame)) = frames.next().await {
        let Frame::Text(text) = frame else { continue };
        let Ok(ack) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if let Some(id) = ack["envelope_id"].as_str() {
            state.lock().unwrap().acks.push((
                id.to_owned(),
                ack.get("payload").cloned().unwrap_or(Value::Null),
            ));
        }
    }
    drop(out);
    writer.abort();
}

/// A slash command's fields.
pub fn command_fields(
    user: &str,
    channel: &str,
    text: &str,
    trigger: &str,
    response_url: &str,
) -> Value {
    json!({
        "team_id": "T1", "team_domain": "fake", "channel_id": channel, "channel_name": "ops",
        "user_id": user, "user_name": "someone", "command": "/maintenance", "text": text,
        "api_app_id": "A1", "response_url": response_url, "trigger_id": trigger,
    })
}

/// A block_actions payload: `user` clicked the button whose value is `value` on `message`.
pub fn click_payload(
    user: &str,
    channel: &str,
    message: &Value,
    value: &str,
    trigger: &str,
    response_url: &str,
) -> Value {
    json!({
        "type": "block_actions", "team": {"id": "T1", "domain": "fake"},
        "user": {"id": user, "username": "someone", "team_id": "T1"}, "api_app_id": "A1",
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": false},
        "trigger_id": trigger, "channel": {"id": channel, "name": "ops"}, "message": message,
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": value, "block_id": "b1", "value": value,
                     "action_ts": "1700000001.000001", "text": {"type": "plain_text", "text": "Approve"}}],
    })
}

/// An Events API callback for a message from `user` (a bot, `bot_id`) in `channel`.
pub fn message_event(
    event_id: &str,
    user: &str,
    bot_id: Option<&str>,
    channel: &str,
    text: &str,
) -> Value {
    let mut event = json!({"type": "message", "channel": channel, "user": user, "text": text, "ts": "1700000002.000100"});
    if let Some(bot) = bot_id {
        event["bot_id"] = json!(bot);
    }
    json!({
        "type": "event_callback", "team_id": "T1", "api_app_id": "A1", "event": event,
        "event_id": event_id, "event_time": 1_700_000_002,
    })
}

/// Slack's signature headers for `body` at `timestamp`: (signature, timestamp).
pub fn sign(body: &str, timestamp: u64) -> (String, String) {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (format!("v0={hex}"), timestamp.to_string())
}

/// A form body with `fields`.
pub fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

/// A slash command's fields as the form Slack posts.
pub fn command_form(fields: &Value) -> String {
    let pairs: Vec<(String, String)> = fields
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
