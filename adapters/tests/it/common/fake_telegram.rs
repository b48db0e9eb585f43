//! A fake Telegram Bot API on 127.0.0.1 for tests: it speaks the wire format teloxide uses
//! (`POST /bot<TOKEN>/<Method>`, JSON or multipart in, `{"ok":…,"result":…}` out), serves
//! queued updates to `getUpdates` long polls, and records every call it gets.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The bot the fake answers `getMe` as.
pub const BOT_ID: i64 = 700_001;
pub const BOT_USERNAME: &str = "lull_test_bot";
/// A token of the right shape.
pub const TOKEN: &str = "700001:TEST-token_abc";

/// One call the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    /// Lower-case method name (`sendmessage`).
    pub method: String,
    /// The JSON body (or `{"multipart": text}`).
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct FakeState {
    calls: Vec<Call>,
    /// Updates not yet confirmed by a `getUpdates` offset.
    pending: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: i64,
    /// Sent and edited messages by id.
    messages: HashMap<i64, Value>,
    commands: Vec<Value>,
    /// Scripted failures by method: each answers one call instead of success.
    failures: HashMap<String, VecDeque<(StatusCode, Value)>>,
    /// Methods that fail until cleared.
    failing: HashMap<String, (StatusCode, Value)>,
    /// Methods whose calls are not answered until released.
    held: std::collections::HashSet<String>,
}

/// The fake server; dropping it stops it.
pub struct FakeTelegram {
    state: Arc<(Mutex<FakeState>, tokio::sync::Notify)>,
    address: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl FakeTelegram {
    pub fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let state = Arc::new((
            Mutex::new(FakeState {
                next_update_id: 1000,
                next_message_id: 1,
                ..FakeState::default()
            }),
            tokio::sync::Notify::new(),
        ));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/{bot}/{method}", axum::routing::post(handle))
            .with_state(state.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        Self {
            state,
            address,
            _runtime: runtime,
        }
    }

    /// What `api_url` should say.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        let out = f(&mut self.state.0.lock().unwrap());
        self.state.1.notify_waiters();
        out
    }

    fn push(&self, make: impl FnOnce(i64) -> Value) -> i64 {
        self.with(|s| {
            let id = s.next_update_id;
            s.next_update_id += 1;
            let update = make(id);
            s.pending.push_back(update);
            id
        })
    }

    /// Queues a text message from user `from` in chat `chat`; returns the update id.
    pub fn send_text(&self, from: i64, chat: i64, text: &str) -> i64 {
        let message_id = self.with(|s| {
            s.next_message_id += 1;
            s.next_message_id
        });
        self.push(|id| text_update(id, message_id, from, chat, text))
    }

    /// Queues a message an anonymous group admin sends in group `chat`: `from` is Telegram's
    /// shared `GroupAnonymousBot`, `sender_chat` the group.
    pub fn send_as_anonymous_admin(&self, chat: i64, text: &str) -> i64 {
        let message_id = self.with(|s| {
            s.next_message_id += 1;
            s.next_message_id
        });
        self.push(|id| {
            json!({"update_id": id, "message": {
                "message_id": message_id,
                "date": 1_795_478_400,
                "chat": chat_json(chat),
                "sender_chat": chat_json(chat),
                "from": {"id": 1_087_968_824, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"},
                "text": text,
                "entities": [{"type": "bot_command", "offset": 0, "length": 12}],
            }})
        })
    }

    /// Queues an update of a kind newer than any client knows.
    pub fn send_unknown_kind(&self) -> i64 {
        self.push(|id| json!({"update_id": id, "brand_new_kind": {"anything": true}}))
    }

    /// Queues a click by `from` on button `data` of the bot's message `message_id`.
    pub fn click(&self, from: i64, message_id: i64, data: &str) -> i64 {
        let message = self
            .with(|s| s.messages.get(&message_id).cloned())
            .expect("a click on a message the bot sent");
        self.push(|id| {
            json!({"update_id": id, "callback_query": {
                "id": format!("cb{id}"),
                "from": user_json(from),
                "message": message,
                "chat_instance": "ci-1",
                "data": data,
            }})
        })
    }

    /// Answers the next call of `method` with `status` and `body` instead of success.
    pub fn fail_next(&self, method: &str, status: u16, body: Value) {
        self.with(|s| {
            s.failures
                .entry(method.to_lowercase())
                .or_default()
                .push_back((StatusCode::from_u16(status).unwrap(), body))
        });
    }

    /// Answers every call of `method` with `status` and `body` until [`Self::heal`].
    pub fn fail_always(&self, method: &str, status: u16, body: Value) {
        self.with(|s| {
            s.failing.insert(
                method.to_lowercase(),
                (StatusCode::from_u16(status).unwrap(), body),
            )
        });
    }

    /// Leaves calls of `method` unanswered until [`Self::release`] (a slow Bot API).
    pub fn hold(&self, method: &str) {
        self.with(|s| s.held.insert(method.to_lowercase()));
    }

    pub fn release(&self, method: &str) {
        self.with(|s| s.held.remove(&method.to_lowercase()));
    }

    /// The highest `getUpdates` offset received: every update below it is confirmed.
    pub fn highest_offset(&self) -> i64 {
        self.calls("getUpdates")
            .iter()
            .filter_map(|c| c.body["offset"].as_i64())
            .max()
            .unwrap_or_default()
    }

    pub fn heal(&self, method: &str) {
        self.with(|s| s.failing.remove(&method.to_lowercase()));
    }

    /// Every call of `method` so far.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        let method = method.to_lowercase();
        self.with(|s| {
            s.calls
                .iter()
                .filter(|c| c.method == method)
                .cloned()
                .collect()
        })
    }

    /// Messages the bot sent to `chat` (oldest first), as stored after any edits.
    pub fn messages_in(&self, chat: i64) -> Vec<Value> {
        let mut messages: Vec<Value> = self.with(|s| {
            s.messages
                .values()
                .filter(|m| m["chat"]["id"] == chat && m["from"]["id"] == BOT_ID)
                .cloned()
                .collect()
        });
        messages.sort_by_key(|m| m["message_id"].as_i64());
        messages
    }

    /// Waits (bounded) until the bot sent `chat` a message whose text contains `needle`.
    pub fn wait_for_message(&self, chat: i64, needle: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(m) = self
                .messages_in(chat)
                .into_iter()
                .find(|m| m["text"].as_str().unwrap_or_default().contains(needle))
            {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no message containing {needle:?} reached chat {chat} within 30s; got {:#?}",
                self.messages_in(chat)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) until `condition` holds of the recorded calls.
    pub fn wait_until(&self, what: &str, mut condition: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !condition(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether every pushed update was confirmed (a `getUpdates` offset past it arrived).
    pub fn all_confirmed(&self) -> bool {
        self.with(|s| s.pending.is_empty())
    }

    pub fn commands(&self) -> Vec<Value> {
        self.with(|s| s.commands.clone())
    }

    pub fn set_commands(&self, commands: Value) {
        self.with(|s| s.commands = commands.as_array().cloned().unwrap_or_default());
    }
}

/// Update `update_id`: text message `message_id` from user `from` in chat `chat`, a command's
/// entity included when the text starts with `/` (what the fake queues, and what a test posts to
/// the webhook).
pub fn text_update(update_id: i64, message_id: i64, from: i64, chat: i64, text: &str) -> Value {
    let mut message = json!({
        "message_id": message_id,
        "date": 1_795_478_400,
        "chat": chat_json(chat),
        "from": user_json(from),
        "text": text,
    });
    if text.starts_with('/') {
        let command = text.split_whitespace().next().unwrap_or_default();
        message["entities"] = json!([{
            "type": "bot_command",
            "offset": 0,
            "length": command.encode_utf16().count(),
        }]);
    }
    json!({"update_id": update_id, "message": message})
}

fn user_json(id: i64) -> Value {
    json!({"id": id, "is_bot": false, "first_name": format!("User{id}"), "username": format!("user{id}")})
}

fn bot_json() -> Value {
    json!({"id": BOT_ID, "is_bot": true, "first_name": "lull", "username": BOT_USERNAME})
}

fn chat_json(chat: i64) -> Value {
    if chat < 0 {
        json!({"id": chat, "type": "supergroup", "title": "Ops"})
    } else {
        json!({"id": chat, "type": "private", "first_name": format!("User{chat}")})
    }
}

/// The text as Telegram stores it: with `parse_mode = "HTML"` the tags become entities and
/// only the text is left. HTML Telegram would refuse gets its error.
fn shown_text(body: &Value) -> Result<Value, String> {
    let text = body["text"].as_str().unwrap_or_default();
    if body["parse_mode"] != "HTML" {
        return Ok(Value::String(text.to_owned()));
    }
    let refuse = |why: String| why;
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>').map(|e| e + start) else {
            return Err(refuse("unclosed start tag".into()));
        };
        let tag = &rest[start + 1..end];
        if !["b", "/b", "code", "/code"].contains(&tag) {
            return Err(refuse(format!("unsupported start tag \"{tag}\"")));
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(Value::String(
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    ))
}

fn cant_parse(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"ok": false, "error_code": 400, "description": format!("Bad Request: can't parse entities: {why}")})),
    )
        .into_response()
}

fn ok(result: Value) -> Response {
    axum::Json(json!({"ok": true, "result": result})).into_response()
}

async fn handle(
    State(state): State<Arc<(Mutex<FakeState>, tokio::sync::Notify)>>,
    Path((bot, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if bot != format!("bot{TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"})),
        )
            .into_response();
    }
    let method = method.to_lowercase();
    let multipart = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let body: Value = if multipart {
        json!({ "multipart": body })
    } else {
        serde_json::from_str(&body).unwrap_or(Value::Null)
    };
    let (lock, notify) = &*state;
    {
        let mut s = lock.lock().unwrap();
        s.calls.push(Call {
            method: method.clone(),
            body: body.clone(),
            at: Instant::now(),
        });
        let scripted = s
            .failures
            .get_mut(&method)
            .and_then(VecDeque::pop_front)
            .or_else(|| s.failing.get(&method).cloned());
        if let Some((status, body)) = scripted {
            notify.notify_waiters();
            return (status, axum::Json(body)).into_response();
        }
    }
    notify.notify_waiters();
    let held_until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let released = notify.notified();
        if !lock.lock().unwrap().held.contains(&method) {
            break;
        }
        if tokio::time::timeout_at(held_until, released).await.is_err() {
            break;
        }
    }
    match method.as_str() {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "lull", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false,
        })),
        "getupdates" => get_updates(&state, &body).await,
        "sendmessage" => {
            let text = match shown_text(&body) {
                Ok(text) => text,
                Err(why) => return cant_parse(&why),
            };
            let mut s = lock.lock().unwrap();
            s.next_message_id += 1;
            let id = s.next_message_id;
            let chat = body["chat_id"].as_i64().unwrap_or_default();
            let mut message = json!({
                "message_id": id, "date": 1_795_478_400, "chat": chat_json(chat),
                "from": bot_json(), "text": text,
            });
            if let Some(markup) = body.get("reply_markup") {
                message["reply_markup"] = markup.clone();
            }
            s.messages.insert(id, message.clone());
            drop(s);
            notify.notify_waiters();
            ok(message)
        }
        "editmessagetext" => {
            let text = match shown_text(&body) {
                Ok(text) => text,
                Err(why) => return cant_parse(&why),
            };
            let mut s = lock.lock().unwrap();
            let id = body["message_id"].as_i64().unwrap_or_default();
            let Some(message) = s.messages.get_mut(&id) else {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"ok": false, "error_code": 400, "description": "Bad Request: message to edit not found"})),
                )
                    .into_response();
            };
            message["text"] = text;
            match body.get("reply_markup") {
                Some(markup) => message["reply_markup"] = markup.clone(),
                None => {
                    message.as_object_mut().unwrap().remove("reply_markup");
                }
            }
            let message = message.clone();
            drop(s);
            notify.notify_waiters();
            ok(message)
        }
        "answercallbackquery" | "setwebhook" | "deletewebhook" => ok(json!(true)),
        "setmycommands" => {
            lock.lock().unwrap().commands = body["commands"].as_array().cloned().unwrap_or_default();
            ok(json!(true))
        }
        "getmycommands" => ok(Value::Array(lock.lock().unwrap().commands.clone())),
        "getwebhookinfo" => ok(json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0})),
        other => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"ok": false, "error_code": 404, "description": format!("Not Found: method {other}")})),
        )
            .into_response(),
    }
}

/// Confirms updates below `offset`, then answers what is pending, waiting (briefly: a real
/// server may answer early too) for an update if there is none.
async fn get_updates(
    state: &Arc<(Mutex<FakeState>, tokio::sync::Notify)>,
    body: &Value,
) -> Response {
    let (lock, notify) = &**state;
    let offset = body["offset"].as_i64();
    // The offset confirms on arrival, once: a poll still waiting when its client died must not
    // confirm what a test makes pending again afterwards.
    if let Some(offset) = offset {
        lock.lock()
            .unwrap()
            .pending
            .retain(|u| u["update_id"].as_i64().unwrap_or_default() >= offset);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    loop {
        let notified = notify.notified();
        {
            let s = lock.lock().unwrap();
            if !s.pending.is_empty() {
                return ok(Value::Array(s.pending.iter().cloned().collect()));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return ok(json!([]));
        }
    }
}
