//! A fake Discord on 127.0.0.1 for tests: the REST API serenity calls (`/api/v10/…`: the bot
//! user, the gateway's address, command registration, interaction callbacks and webhooks,
//! channel messages) and a gateway websocket that speaks the gateway protocol (HELLO,
//! IDENTIFY, READY, heartbeat ACKs, then the dispatches a test pushes). Its READY names a
//! second listener as `resume_gateway_url`, where RESUME is accepted (RESUMED) or refused (op 9);
//! a test sends op 7 or op 9 down the live session. It records every REST call and how each
//! gateway connection opened, and signs interactions with a test Ed25519 key for the
//! interactions endpoint.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

/// lull's application, and its bot user (a bot user's id is its application's).
pub const APP_ID: u64 = 800_000_000_000_000_001;
/// A token of the right shape.
pub const TOKEN: &str = "ODAw.fake-token_xyz";
/// The guild everything happens in.
pub const GUILD: u64 = 900_000_000_000_000_001;
/// The registered command's id.
const COMMAND_ID: u64 = 810_000_000_000_000_001;
/// The test key's seed; [`public_key`] is its public half.
const SEED: [u8; 32] = [7; 32];

/// One REST call the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    /// The path after `/api/v10`.
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct FakeState {
    calls: Vec<Call>,
    next_id: u64,
    /// Scripted failures by `METHOD path-prefix`: each answers one call instead of success.
    failures: Vec<(String, StatusCode, Value)>,
    /// The connected, identified gateway session's outbound frames.
    session: Option<mpsc::UnboundedSender<Value>>,
    /// Dispatches pushed before a session was ready.
    waiting: VecDeque<(String, Value)>,
    seq: u64,
    /// IDENTIFY payloads received.
    identifies: Vec<Value>,
    /// How each gateway connection opened: which listener, and the first op the client sent.
    openings: Vec<Opening>,
    /// Whether a RESUME is refused with op 9 (`d: false`) rather than accepted.
    refuse_resumes: bool,
}

/// How one gateway connection opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    /// `"gateway"` (the URL `GET /gateway` gives) or `"resume"` (READY's `resume_gateway_url`).
    pub listener: &'static str,
    /// 2 (IDENTIFY) or 6 (RESUME).
    pub op: u64,
}

/// The fake server; dropping it stops it.
pub struct FakeDiscord {
    state: Arc<Mutex<FakeState>>,
    rest: SocketAddr,
    gateway: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

pub fn user_json(id: u64, name: &str, bot: bool) -> Value {
    json!({
        "id": id.to_string(), "username": name, "discriminator": "0", "global_name": null,
        "avatar": null, "bot": bot, "public_flags": 0,
    })
}

fn bot_user() -> Value {
    let mut user = user_json(APP_ID, "lull_test", true);
    user["verified"] = json!(true);
    user["mfa_enabled"] = json!(false);
    user["flags"] = json!(0);
    user
}

pub fn member_json(user: Value, roles: &[u64]) -> Value {
    json!({
        "user": user,
        "roles": roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "joined_at": "2026-01-01T00:00:00.000000+00:00",
        "deaf": false, "mute": false, "flags": 0, "pending": false, "permissions": "0",
        "nick": null, "avatar": null,
    })
}

pub fn message_json(
    id: u64,
    channel: u64,
    author: Value,
    content: &str,
    components: Value,
) -> Value {
    json!({
        "id": id.to_string(), "channel_id": channel.to_string(), "guild_id": GUILD.to_string(),
        "author": author, "content": content, "timestamp": "2026-12-02T10:00:00.000000+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
        "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
        "components": components, "flags": 0,
    })
}

/// Someone who invokes an interaction: a user id, a name, and their role ids.
#[derive(Clone, Copy)]
pub struct Who<'a> {
    pub id: u64,
    pub name: &'a str,
    pub roles: &'a [u64],
}

fn interaction_base(id: u64, kind: u8, who: Who<'_>, channel: u64) -> Value {
    json!({
        "id": id.to_string(), "application_id": APP_ID.to_string(), "type": kind,
        "guild_id": GUILD.to_string(), "channel_id": channel.to_string(),
        "member": member_json(user_json(who.id, who.name, false), who.roles),
        "token": format!("token-{id}"), "version": 1, "app_permissions": "0",
        "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD.to_string()}, "context": 0,
        "attachment_size_limit": 10_485_760,
    })
}

/// A `maintenance` command interaction: `sub` with string `options`.
pub fn command_json(
    id: u64,
    who: Who<'_>,
    channel: u64,
    sub: &str,
    options: &[(&str, &str)],
) -> Value {
    let mut interaction = interaction_base(id, 2, who, channel);
    let options: Vec<Value> = options
        .iter()
        .map(|(name, value)| json!({"name": name, "type": 3, "value": value}))
        .collect();
    interaction["data"] = json!({
        "id": COMMAND_ID.to_string(), "name": "maintenance", "type": 1,
        "options": [{"name": sub, "type": 1, "options": options}],
    });
    interaction
}

/// An autocomplete interaction: `sub`'s option `id` typed so far.
pub fn autocomplete_json(id: u64, who: Who<'_>, channel: u64, sub: &str, typed: &str) -> Value {
    let mut interaction = interaction_base(id, 4, who, channel);
    interaction["data"] = json!({
        "id": COMMAND_ID.to_string(), "name": "maintenance", "type": 1,
        "options": [{"name": sub, "type": 1, "options": [
            {"name": "id", "type": 3, "value": typed, "focused": true}]}],
    });
    interaction
}

/// A click on button `custom_id` of `message` (a message lull sent).
pub fn click_json(id: u64, who: Who<'_>, message: &Value, custom_id: &str) -> Value {
    let channel: u64 = message["channel_id"].as_str().unwrap().parse().unwrap();
    let mut interaction = interaction_base(id, 3, who, channel);
    interaction["data"] = json!({"custom_id": custom_id, "component_type": 2});
    interaction["message"] = message.clone();
    interaction
}

/// The test key's public half, as `public_key` in `[discord]`.
pub fn public_key() -> String {
    hex(SigningKey::from_bytes(&SEED).verifying_key().as_bytes())
}

/// The headers Discord would send with `body` at `timestamp`: (signature, timestamp).
pub fn sign(body: &str, timestamp: u64) -> (String, String) {
    let timestamp = timestamp.to_string();
    let message = [timestamp.as_bytes(), body.as_bytes()].concat();
    let signature = SigningKey::from_bytes(&SEED).sign(&message);
    (hex(&signature.to_bytes()), timestamp)
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl FakeDiscord {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new(Mutex::new(FakeState {
            next_id: 1_000_000_000_000_000_000,
            ..FakeState::default()
        }));
        let rest = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let gateway = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let resume = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let (rest_address, gateway_address, resume_address) = (
            rest.local_addr().unwrap(),
            gateway.local_addr().unwrap(),
            resume.local_addr().unwrap(),
        );
        let for_rest = state.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, body: Bytes| {
            let state = for_rest.clone();
            async move { handle(&state, gateway_address, method, uri, body) }
        });
        runtime.spawn(async move { axum::serve(rest, app).await });
        for (listener, name) in [(gateway, "gateway"), (resume, "resume")] {
            let state = state.clone();
            runtime.spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(session(state.clone(), stream, name, resume_address));
                }
            });
        }
        Self {
            state,
            rest: rest_address,
            gateway: gateway_address,
            _runtime: runtime,
        }
    }

    /// What `api_url` should say.
    pub fn url(&self) -> String {
        format!("http://{}", self.rest)
    }

    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.gateway)
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// A fresh snowflake.
    pub fn next_id(&self) -> u64 {
        self.with(|s| {
            s.next_id += 1;
            s.next_id
        })
    }

    /// Sends a dispatch (`INTERACTION_CREATE`, `MESSAGE_CREATE`) down the gateway session, or
    /// when one is ready.
    pub fn dispatch(&self, event: &str, data: Value) {
        self.with(|s| {
            s.waiting.push_back((event.to_owned(), data));
            flush(s);
        });
    }

    /// A message in `channel` from `author`, through the gateway.
    pub fn post_message(&self, author: Value, channel: u64, content: &str) -> u64 {
        let id = self.next_id();
        self.dispatch(
            "MESSAGE_CREATE",
            message_json(id, channel, author, content, json!([])),
        );
        id
    }

    /// Answers the next call whose `METHOD path` starts with `route` with `status` and `body`.
    pub fn fail_next(&self, route: &str, status: u16, body: Value) {
        self.with(|s| {
            s.failures.push((
                route.to_owned(),
                StatusCode::from_u16(status).unwrap(),
                body,
            ))
        });
    }

    /// REST calls whose `METHOD path` starts with `route` (e.g. `POST /channels/5/messages`).
    pub fn calls(&self, route: &str) -> Vec<Call> {
        self.with(|s| {
            s.calls
                .iter()
                .filter(|c| format!("{} {}", c.method, c.path).starts_with(route))
                .cloned()
                .collect()
        })
    }

    /// The first response to interaction `id`, once it was given through REST.
    pub fn callback(&self, id: u64) -> Option<Value> {
        self.calls(&format!("POST /interactions/{id}/"))
            .first()
            .map(|c| c.body.clone())
    }

    /// Waits (bounded) for the first response to interaction `id`.
    pub fn wait_for_callback(&self, id: u64) -> Value {
        self.wait_until("an interaction's response", |f| f.callback(id).is_some());
        self.callback(id).unwrap()
    }

    /// Messages posted to `channel`.
    pub fn messages_in(&self, channel: u64) -> Vec<Value> {
        self.calls(&format!("POST /channels/{channel}/messages"))
            .into_iter()
            .map(|c| c.body)
            .collect()
    }

    pub fn identifies(&self) -> Vec<Value> {
        self.with(|s| s.identifies.clone())
    }

    /// How each gateway connection opened, in order.
    pub fn openings(&self) -> Vec<Opening> {
        self.with(|s| s.openings.clone())
    }

    /// From now on a RESUME is refused (op 9, `d: false`), or accepted again.
    pub fn refuse_resumes(&self, refuse: bool) {
        self.with(|s| s.refuse_resumes = refuse);
    }

    /// Sends `frame` (op 7, op 9) down the live session, which then counts as gone.
    pub fn send_to_session(&self, frame: Value) {
        self.with(|s| {
            let session = s.session.take().expect("a live gateway session");
            let _ = session.send(frame);
        });
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
    let Some(session) = state.session.clone() else {
        return;
    };
    while let Some((event, data)) = state.waiting.front().cloned() {
        let frame = json!({"op": 0, "t": event, "s": state.seq + 1, "d": data});
        if session.send(frame).is_err() {
            // The session closed: the dispatch waits for the next one.
            state.session = None;
            return;
        }
        state.seq += 1;
        state.waiting.pop_front();
    }
}

fn handle(
    state: &Arc<Mutex<FakeState>>,
    gateway: SocketAddr,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().trim_start_matches("/api/v10").to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = state.lock().unwrap();
    s.calls.push(Call {
        method: method.to_string(),
        path: path.clone(),
        body: body.clone(),
        at: Instant::now(),
    });
    let route = format!("{method} {path}");
    if let Some(i) = s
        .failures
        .iter()
        .position(|(prefix, ..)| route.starts_with(prefix.as_str()))
    {
        let (_, status, body) = s.failures.remove(i);
        return (status, axum::Json(body)).into_response();
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    s.next_id += 1;
    let new_id = s.next_id;
    let message = |channel: u64| {
        let mut message = message_json(
            new_id,
            channel,
            bot_user(),
            body["content"].as_str().unwrap_or_default(),
            body.get("components").cloned().unwrap_or(json!([])),
        );
        message["flags"] = body.get("flags").cloned().unwrap_or(json!(0));
        axum::Json(message).into_response()
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["users", "@me"]) => axum::Json(bot_user()).into_response(),
        ("GET", ["gateway"] | ["gateway", "bot"]) => axum::Json(json!({
            "url": format!("ws://{gateway}"), "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
        }))
        .into_response(),
        ("POST", ["applications", _, "commands"] | ["applications", _, "guilds", _, "commands"]) => {
            let mut command = body.clone();
            command["id"] = json!(COMMAND_ID.to_string());
            command["application_id"] = json!(APP_ID.to_string());
            command["version"] = json!("1");
            command["type"] = json!(1);
            command["default_member_permissions"] = Value::Null;
            axum::Json(command).into_response()
        }
        ("POST", ["interactions", _, _, "callback"]) => StatusCode::NO_CONTENT.into_response(),
        ("PATCH", ["webhooks", _, _, "messages", "@original"]) => message(1),
        ("DELETE", ["webhooks", _, _, "messages", "@original"]) => StatusCode::NO_CONTENT.into_response(),
        ("POST", ["webhooks", _, _]) => message(1),
        ("POST", ["channels", channel, "messages"]) => message(channel.parse().unwrap_or(1)),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"code": 0, "message": "404: Not Found"})),
        )
            .into_response(),
    }
}

/// One gateway connection on `listener`: HELLO, then IDENTIFY → READY (naming `resume` as
/// `resume_gateway_url`) or RESUME → RESUMED (or op 9 when resumes are refused), heartbeats
/// ACKed, dispatches sent.
async fn session(
    state: Arc<Mutex<FakeState>>,
    stream: tokio::net::TcpStream,
    listener: &'static str,
    resume: SocketAddr,
) {
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
    let _ = out.send(json!({"op": 10, "d": {"heartbeat_interval": 41_250}}));
    while let Some(Ok(frame)) = frames.next().await {
        let Frame::Text(text) = frame else { continue };
        let Ok(payload) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let op = payload["op"].as_u64();
        if let Some(op @ (2 | 6)) = op {
            state
                .lock()
                .unwrap()
                .openings
                .push(Opening { listener, op });
        }
        match op {
            Some(1) => {
                let _ = out.send(json!({"op": 11}));
            }
            Some(2) => {
                let mut s = state.lock().unwrap();
                s.identifies.push(payload["d"].clone());
                s.seq = 1;
                let _ = out.send(json!({"op": 0, "t": "READY", "s": 1, "d": {
                    "v": 10, "user": bot_user(),
                    "guilds": [{"id": GUILD.to_string(), "unavailable": true}],
                    "session_id": "fake-session", "resume_gateway_url": format!("ws://{resume}"),
                    "shard": [0, 1], "application": {"id": APP_ID.to_string(), "flags": 0},
                }}));
                s.session = Some(out.clone());
                flush(&mut s);
            }
            Some(6) => {
                let mut s = state.lock().unwrap();
                let known = payload["d"]["session_id"] == "fake-session"
                    && payload["d"]["seq"].as_u64() == Some(s.seq);
                if s.refuse_resumes || !known {
                    let _ = out.send(json!({"op": 9, "d": false}));
                } else {
                    s.seq += 1;
                    let _ = out.send(json!({"op": 0, "t": "RESUMED", "s": s.seq, "d": {}}));
                    s.session = Some(out.clone());
                    flush(&mut s);
                }
            }
            _ => {}
        }
    }
    writer.abort();
}
