//! The relay through the real `lull serve` on a temporary home: a host's users' commands (who,
//! where), each event applied once (also across a kill -9), answers to lull's own messages,
//! clicks, the notices' claims, order and acknowledgements, a self-restart's "back online",
//! the relay token, and bad bodies.

use crate::common;

use std::time::Duration;

use common::{Home, http, wait_exit};
use lull_adapters::client::Response;
use lull_queue::AuditEntry;
use serde_json::{Value, json};

/// Nothing runs (no activity source reports); agents' asks wait for an admin.
const CONFIG: &str = r#"
[maintenance]
agent_requests = "approve"
[executor]
restart = ["true"]
[relay]
name = "hermes"
admins = ["telegram:1"]
agents = ["telegram:7", "hermes"]
notify_chats = ["telegram:-100"]
claim_seconds = 30
"#;

fn send(home: &Home, body: Value) -> Response {
    home.call("POST", "/v1/relay/commands", Some(body))
}

fn command(home: &Home, event: &str, user: &str, chat: &str, text: &str) -> Response {
    send(
        home,
        json!({"event_id": event, "user": user, "chat": chat, "text": text}),
    )
}

fn reply(response: &Response) -> Value {
    assert_eq!(response.status, 200, "{:?}", response.body);
    response.body["reply"].clone()
}

fn text(response: &Response) -> String {
    reply(response)["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn poll(home: &Home, consumer: &str, wait: u64) -> Vec<Value> {
    let r = home.call(
        "GET",
        &format!("/v1/relay/notices?consumer={consumer}&wait_seconds={wait}"),
        None,
    );
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["notices"].as_array().unwrap().clone()
}

/// A long poll on its own thread (the test goes on while it waits).
fn poll_in_background(
    home: &Home,
    consumer: &str,
    wait: u64,
) -> std::thread::JoinHandle<Result<Response, lull_adapters::client::ClientError>> {
    let socket = home.socket();
    let path = format!("/v1/relay/notices?consumer={consumer}&wait_seconds={wait}");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(lull_adapters::client::call(&socket, "GET", &path, None))
    })
}

fn ack(home: &Home, notice: &Value, consumer: &str) -> Response {
    home.call(
        "POST",
        &format!("/v1/relay/notices/{}/ack", notice["id"].as_str().unwrap()),
        Some(json!({"consumer": consumer, "outcome": "delivered"})),
    )
}

fn status(home: &Home) -> Value {
    home.call("GET", "/v1/status", None).body
}

fn open_request(home: &Home) -> Value {
    status(home)["open"][0].clone()
}

fn chats(notices: &[Value]) -> Vec<&str> {
    notices
        .iter()
        .map(|n| n["chat"].as_str().unwrap())
        .collect()
}

#[test]
fn the_hosts_admins_agents_and_strangers_are_told_apart_and_each_call_is_audited() {
    let home = Home::new(CONFIG);
    let server = home.serve();
    let asked = command(
        &home,
        "e1",
        "telegram:1",
        "telegram:-5",
        "/maintenance restart new tool",
    );
    let id = open_request(&home)["short_id"].as_str().unwrap().to_owned();
    assert_eq!(reply(&asked)["request"], id.as_str(), "{:?}", asked.body);
    assert!(text(&asked).contains(&id), "{:?}", asked.body);
    assert_eq!(reply(&asked)["ephemeral"], false);
    let requester = open_request(&home)["requested_by"][0].clone();
    assert_eq!(requester["platform"], "relay:hermes");
    assert_eq!(requester["user_id"], "telegram:1");
    assert_eq!(requester["chat"], "telegram:-5");
    assert_eq!(requester["role"], "admin");

    // An agent reads status but may not approve.
    let seen = command(
        &home,
        "e2",
        "telegram:7",
        "telegram:-5",
        "/maintenance status",
    );
    assert!(text(&seen).contains(&id), "{:?}", seen.body);
    let refused = command(
        &home,
        "e3",
        "telegram:7",
        "telegram:-5",
        &format!("/maintenance approve {id}"),
    );
    assert_eq!(reply(&refused)["ephemeral"], true);
    assert!(
        text(&refused).contains("only an admin"),
        "{:?}",
        refused.body
    );

    // A stranger is refused, and nothing queues.
    let stranger = command(
        &home,
        "e4",
        "telegram:99",
        "telegram:-5",
        "/maintenance update",
    );
    assert!(
        text(&stranger).contains("not allowed") && text(&stranger).contains("[relay]"),
        "{:?}",
        stranger.body
    );
    assert_eq!(
        open_request(&home)["kind"],
        "restart",
        "the update did not queue"
    );
    assert_eq!(
        open_request(&home)["requested_by"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Text that is not lull's gets no reply; a command is not activity.
    let chat = command(&home, "e5", "telegram:1", "telegram:-5", "hello there");
    assert_eq!(reply(&chat), Value::Null);
    let idle_since = status(&home)["idle_since"].clone();
    let again = command(
        &home,
        "e6",
        "telegram:1",
        "telegram:-5",
        "/maintenance status",
    );
    assert_eq!(again.status, 200);
    assert_eq!(
        status(&home)["idle_since"],
        idle_since,
        "the idle window went on"
    );
    assert!(status(&home)["sources"].as_array().unwrap().is_empty());
    home.stop(server);

    let audit = home.audit();
    let relayed: Vec<&AuditEntry> = audit
        .iter()
        .filter(|e| e.action == "relay_command")
        .collect();
    assert_eq!(relayed.len(), 6, "every call: {audit:#?}");
    // Who called the relay: the socket's peer, with uid and pid.
    let uid = unsafe { libc::getuid() };
    assert!(
        relayed[0]
            .actor
            .starts_with("relay:hermes:telegram:1 (via local:")
            && relayed[0].actor.contains(&format!(", uid {uid}, pid ")),
        "{}",
        relayed[0].actor
    );
    assert!(
        audit
            .iter()
            .any(|e| e.action == "refused" && e.actor == "relay:hermes:telegram:99"),
        "{audit:#?}"
    );
}

#[test]
fn answers_count_only_as_replies_to_lull_and_clicks_are_authorized_again() {
    let home = Home::new(CONFIG);
    let server = home.serve();
    let asked = command(
        &home,
        "a1",
        "telegram:7",
        "telegram:-5",
        "/maintenance restart jq",
    );
    assert!(text(&asked).contains("approval"), "{:?}", asked.body);
    let id = open_request(&home)["short_id"].as_str().unwrap().to_owned();
    let answer = format!("approve {id}");

    // Not a reply to lull: ordinary chat, whoever says it.
    assert_eq!(
        reply(&command(
            &home,
            "a2",
            "telegram:1",
            "telegram:-100",
            &answer
        )),
        Value::Null
    );
    assert_eq!(open_request(&home)["state"], "awaiting_approval");

    // The prompt went to the notify chat, with buttons; an agent's click is refused.
    let notices = poll(&home, "host", 5);
    let prompt = notices
        .iter()
        .find(|n| n["chat"] == "telegram:-100" && !n["buttons"].as_array().unwrap().is_empty())
        .unwrap_or_else(|| panic!("an approval prompt: {notices:?}"));
    let approve = prompt["buttons"][0]["payload"].as_str().unwrap().to_owned();
    assert_eq!(prompt["buttons"][0]["label"], "Approve");
    let click = |event: &str, user: &str, payload: &str| {
        send(
            &home,
            json!({"event_id": event, "user": user, "chat": "telegram:-100", "click": payload}),
        )
    };
    let refused = click("a3", "telegram:7", &approve);
    assert_eq!(reply(&refused)["ephemeral"], true, "{:?}", refused.body);
    assert_eq!(open_request(&home)["state"], "awaiting_approval");

    // As a reply to lull's message, the admin's answer counts.
    let approved = send(
        &home,
        json!({"event_id": "a4", "user": "telegram:1", "chat": "telegram:-100",
               "reply_to_lull": true, "text": answer}),
    );
    assert!(
        text(&approved).starts_with(&format!("Approved restart {id}")),
        "{:?}",
        approved.body
    );
    assert_eq!(open_request(&home)["state"], "queued");

    // A second ask, approved by the admin's click on its prompt.
    command(
        &home,
        "a5",
        "telegram:1",
        "telegram:-100",
        &format!("/maintenance cancel {id}"),
    );
    command(
        &home,
        "a6",
        "telegram:7",
        "telegram:-5",
        "/maintenance restart again",
    );
    let second = open_request(&home)["short_id"].as_str().unwrap().to_owned();
    assert_ne!(second, id);
    let clicked = click("a7", "telegram:1", &approve.replace(&id, &second));
    assert_eq!(reply(&clicked)["ephemeral"], false, "{:?}", clicked.body);
    assert_eq!(reply(&clicked)["request"], second.as_str());
    assert_eq!(open_request(&home)["state"], "queued");
    // A payload lull never made is refused as such.
    let forged = click("a8", "telegram:1", "lull:x:nothing");
    assert!(
        text(&forged).contains("not one of lull's"),
        "{:?}",
        forged.body
    );
    home.stop(server);
}

#[test]
fn a_repeated_event_is_answered_as_before_and_applied_once_even_across_a_kill_9() {
    let home = Home::new(CONFIG);
    let mut server = home.serve();
    let first = command(
        &home,
        "e1",
        "telegram:1",
        "telegram:-5",
        "/maintenance restart a",
    );
    let again = command(
        &home,
        "e1",
        "telegram:1",
        "telegram:-5",
        "/maintenance restart a",
    );
    assert_eq!(first, again, "the stored original reply");
    let count = |home: &Home| open_request(home)["requested_by"][0]["count"].clone();
    assert_eq!(count(&home), 1);

    // Sixteen copies at once: the first is applied, the others answer as it did or are told
    // it is in progress.
    let socket = home.socket();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = json!({"event_id": "e2", "user": "telegram:1", "chat": "telegram:-5",
                      "text": "/maintenance restart b"});
    let answers: Vec<Response> = runtime.block_on(async {
        let calls = (0..16).map(|_| {
            lull_adapters::client::call(&socket, "POST", "/v1/relay/commands", Some(&body))
        });
        futures_util::future::join_all(calls)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect()
    });
    let replies: Vec<&Response> = answers.iter().filter(|a| a.status == 200).collect();
    assert!(!replies.is_empty());
    assert!(
        replies.iter().all(|r| r.body == replies[0].body),
        "{answers:?}"
    );
    for other in answers.iter().filter(|a| a.status != 200) {
        assert_eq!(
            (other.status, other.body["error"]["code"].as_str()),
            (409, Some("in_progress")),
            "{other:?}"
        );
    }
    assert_eq!(count(&home), 2, "e2 applied once");
    let acknowledged = replies[0].body.clone();

    // Killed without a chance to stop: the acknowledged command stays applied once.
    server.kill().unwrap();
    server.wait().unwrap();
    drop(server);
    let server = home.serve();
    let after = command(
        &home,
        "e2",
        "telegram:1",
        "telegram:-5",
        "/maintenance restart b",
    );
    assert_eq!(after.body, acknowledged);
    assert_eq!(count(&home), 2);
    // Another host's event id is another event; the same id on a new event is still the old.
    let third = command(
        &home,
        "e3",
        "telegram:1",
        "telegram:-5",
        "/maintenance restart c",
    );
    assert_eq!(third.status, 200);
    assert_eq!(count(&home), 3);
    home.stop(server);
}

#[test]
fn notices_are_claimed_kept_in_order_per_chat_acknowledged_and_given_out_again() {
    let home = Home::new(&CONFIG.replace("claim_seconds = 30", "claim_seconds = 5"))
        .with_env("RUST_LOG", "info,lull_adapters::relay=debug");
    let server = home.serve();
    command(
        &home,
        "n1",
        "telegram:7",
        "telegram:-5",
        "/maintenance restart",
    );
    // The prompt goes to the notify chat; consumer A claims it and B gets nothing meanwhile.
    let a = poll(&home, "A", 10);
    assert_eq!(chats(&a), ["telegram:-100"], "{a:?}");
    assert!(a[0]["text"].as_str().unwrap().contains("approve"), "{a:?}");
    assert!(poll(&home, "B", 0).is_empty(), "one claim wins");

    // The approval is told in both chats; the notify chat's copy waits behind the prompt A
    // holds, the requester's chat is free.
    let id = open_request(&home)["short_id"].as_str().unwrap().to_owned();
    command(
        &home,
        "n2",
        "telegram:1",
        "telegram:-100",
        &format!("/maintenance approve {id}"),
    );
    let b = poll(&home, "B", 0);
    assert_eq!(chats(&b), ["telegram:-5"], "{b:?}");
    assert!(
        b[0]["text"].as_str().unwrap().contains("was approved"),
        "{b:?}"
    );
    assert_eq!(ack(&home, &b[0], "B").body["removed"], true);

    // A consumer that never got the prompt may not acknowledge it while A holds it.
    let stolen = ack(&home, &a[0], "C");
    assert_eq!(
        (stolen.status, stolen.body["error"]["code"].as_str()),
        (409, Some("claimed_by_another")),
        "{stolen:?}"
    );
    // A does not acknowledge: after the claim lapses the prompt is given out again, first.
    let again = poll(&home, "B", 10);
    assert_eq!(again[0]["id"], a[0]["id"], "the same notice: {again:?}");
    assert_eq!(
        chats(&again),
        ["telegram:-100", "telegram:-100"],
        "{again:?}"
    );
    assert!(again[1]["text"].as_str().unwrap().contains("was approved"));
    // A's late acknowledgement still counts; acknowledging twice is harmless.
    assert_eq!(ack(&home, &a[0], "A").body["removed"], true);
    assert_eq!(ack(&home, &a[0], "B").body["removed"], false);
    // A poll waiting on an empty chat is woken by the notice that arrives for it.
    let waiting = poll_in_background(&home, "D", 30);
    common::wait_for("D's poll to wait", Duration::from_secs(30), || {
        home.server_log()
            .lines()
            .any(|l| l.contains("relay poll waiting for notices") && l.contains("\"D\""))
    });
    command(
        &home,
        "n3",
        "telegram:1",
        "telegram:-9",
        &format!("/maintenance cancel {id}"),
    );
    let woken = waiting.join().unwrap().unwrap();
    let woken = woken.body["notices"].as_array().unwrap().clone();
    // The notify chat's copy waits behind the approval B still holds there.
    assert_eq!(chats(&woken), ["telegram:-5"], "{woken:?}");
    assert!(woken[0]["text"].as_str().unwrap().contains("was cancelled"));
    for notice in &woken {
        ack(&home, notice, "D");
    }
    let undeliverable = home.call(
        "POST",
        &format!("/v1/relay/notices/{}/ack", again[1]["id"].as_str().unwrap()),
        Some(json!({"consumer": "B", "outcome": "undeliverable"})),
    );
    assert_eq!(undeliverable.body["removed"], true, "{undeliverable:?}");
    let last = poll(&home, "B", 0);
    assert_eq!(chats(&last), ["telegram:-100"], "{last:?}");
    assert!(last[0]["text"].as_str().unwrap().contains("was cancelled"));
    ack(&home, &last[0], "B");
    assert!(poll(&home, "B", 0).is_empty());
    home.stop(server);
    let actions: Vec<String> = home.audit().into_iter().map(|e| e.action).collect();
    for action in [
        "notices_claimed",
        "notice_delivered",
        "notice_undeliverable",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[test]
fn starting_now_is_dropped_and_back_online_reaches_the_requesters_chat_after_a_self_restart() {
    // The restart command kills lull: it restarts the process lull lives in.
    let home = Home::new(
        r#"
[maintenance]
idle_seconds = 0
lease_ttl_seconds = 1
[executor]
restart = ["sh", "-c", "kill -9 $PPID"]
restarts_self = true
[relay]
name = "hermes"
admins = ["telegram:1"]
"#,
    );
    let mut server = home.serve();
    home.call("POST", "/v1/heartbeat", Some(json!({"source": "gw"})));
    let asked = command(
        &home,
        "s1",
        "telegram:1",
        "telegram:-5",
        "/maintenance restart",
    );
    assert_eq!(asked.status, 200);
    assert!(
        wait_exit(&mut server, Duration::from_secs(30)).is_some(),
        "the restart killed lull: {}",
        home.server_log()
    );
    drop(server);
    let server = home.serve();
    let notices = poll(&home, "host", 10);
    assert_eq!(chats(&notices), ["telegram:-5"], "{notices:?}");
    assert!(
        notices[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Back online"),
        "{notices:?}"
    );
    assert_eq!(ack(&home, &notices[0], "host").body["removed"], true);
    home.stop(server);
    assert_eq!(
        home.audited("notice_superseded"),
        1,
        "\"starting now\" was dropped, not delivered"
    );
}

#[test]
fn an_agents_tool_call_naming_its_chat_is_answered_there() {
    let home = Home::new(&CONFIG.replace("agent_requests = \"approve\"", ""));
    let server = home.serve();
    let asked = home.call(
        "POST",
        "/v1/tool",
        Some(json!({"agent": "hermes", "action": "queue_restart", "chat": "telegram:-7"})),
    );
    assert_eq!(asked.body["ok"], true, "{:?}", asked.body);
    let requester = &asked.body["request"]["requested_by"][0];
    assert_eq!(
        (
            requester["platform"].as_str(),
            requester["chat"].as_str(),
            requester["origin"].as_str()
        ),
        (Some("relay:hermes"), Some("telegram:-7"), Some("tool"))
    );
    let id = asked.body["request"]["short_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Queued: told in the notify chat. Cancelled: told in the agent's chat too.
    assert_eq!(chats(&poll(&home, "host", 5)), ["telegram:-100"]);
    command(
        &home,
        "t1",
        "telegram:1",
        "telegram:-100",
        &format!("/maintenance cancel {id}"),
    );
    let notices = poll(&home, "other", 5);
    assert!(chats(&notices).contains(&"telegram:-7"), "{notices:?}");
    // An agent the relay does not list may not name a chat.
    let refused = home.call(
        "POST",
        "/v1/tool",
        Some(json!({"agent": "someone", "action": "status", "chat": "telegram:-7"})),
    );
    assert_eq!(
        refused.body["error"]["code"], "forbidden",
        "{:?}",
        refused.body
    );
    home.stop(server);
    // Without a server too: the relay's agents may name their chat.
    let offline = home.lull(&[
        "tool",
        r#"{"agent":"hermes","action":"queue_restart","chat":"telegram:-7"}"#,
    ]);
    let result: Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        result["request"]["requested_by"][0]["platform"],
        "relay:hermes"
    );
}

#[test]
fn with_a_relay_token_every_relay_call_needs_it_and_it_opens_nothing_else() {
    let home = Home::new(&format!(
        "{CONFIG}token_env = \"LULL_RELAY_TOKEN\"\n[api]\ntcp_listen = \"127.0.0.1:0\"\n"
    ))
    .with_env("LULL_RELAY_TOKEN", "relay-secret-0123456789")
    .with_env("LULL_ADMIN_TOKEN", "admin-secret-0123456789");
    let server = home.serve();
    let port = home.logged_port("control API");
    let body = r#"{"event_id":"k1","user":"telegram:1","chat":"telegram:-5","text":"/maintenance status"}"#;
    let post = |path: &str, token: &str, body: &str| {
        http(
            port,
            &common::post_request(
                path,
                "application/json",
                &format!("Authorization: Bearer {token}\r\n"),
                body,
            ),
        )
    };
    // The socket alone is not enough, nor is the admin token.
    let socket = send(&home, serde_json::from_str(body).unwrap());
    assert_eq!(socket.status, 401, "{socket:?}");
    assert_eq!(
        post("/v1/relay/commands", "admin-secret-0123456789", body).0,
        401
    );
    let (code, answer) = post("/v1/relay/commands", "relay-secret-0123456789", body);
    assert_eq!(code, 200, "{answer}");
    assert!(answer.contains("\"reply\""), "{answer}");
    // The relay token opens the relay and the tool, nothing else.
    let (code, answer) = http(
        port,
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer relay-secret-0123456789\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 403, "{answer}");
    let tool = r#"{"agent":"hermes","action":"status","chat":"telegram:-5"}"#;
    let (code, answer) = post("/v1/tool", "relay-secret-0123456789", tool);
    assert!(code == 200 && answer.contains("\"ok\":true"), "{answer}");
    let without = home.call(
        "POST",
        "/v1/tool",
        Some(serde_json::from_str(tool).unwrap()),
    );
    assert_eq!(without.body["error"]["code"], "unauthorized", "{without:?}");
    // Every relay route, on the socket, without the token.
    for (method, path, body) in [
        ("GET", "/v1/relay/notices?consumer=a", None),
        ("GET", "/v1/relay/grammar", None),
        (
            "POST",
            "/v1/relay/notices/0/ack",
            Some(json!({"consumer": "a", "outcome": "delivered"})),
        ),
    ] {
        let r = home.call(method, path, body);
        assert_eq!(r.status, 401, "{method} {path}: {r:?}");
    }
    let (code, answer) = http(
        port,
        "GET /v1/relay/grammar HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer relay-secret-0123456789\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200, "{answer}");
    // With a relay token set, the API's tokens do not make a tool call that names a chat.
    let (code, answer) = post("/v1/tool", "admin-secret-0123456789", tool);
    assert!(
        code == 200 && answer.contains("\"unauthorized\""),
        "{answer}"
    );
    home.stop(server);
    // Offline, only the server could check the token: a call naming a chat is refused.
    let offline = home.lull(&["tool", tool]);
    assert_eq!(offline.status.code(), Some(4), "{offline:?}");
    let result: Value = serde_json::from_slice(&offline.stdout).unwrap();
    assert_eq!(result["error"]["code"], "unauthorized", "{result}");
    // The token never reaches the log.
    assert!(!home.server_log().contains("relay-secret-0123456789"));
}

#[test]
fn bad_bodies_and_queries_are_refused_with_a_code_and_change_nothing() {
    let home = Home::new(CONFIG);
    let server = home.serve();
    let bodies = [
        (
            json!({"user": "telegram:1", "text": "/maintenance restart"}),
            "invalid_body",
        ),
        (
            json!({"event_id": "b1", "text": "/maintenance restart"}),
            "invalid_body",
        ),
        (
            json!({"event_id": "b1", "user": "telegram:1"}),
            "invalid_body",
        ),
        (
            json!({"event_id": "b1", "user": "telegram:1", "text": "/maintenance restart", "click": "lull:a:r7k2"}),
            "invalid_body",
        ),
        (
            json!({"event_id": " ", "user": "telegram:1", "text": "/maintenance restart"}),
            "invalid_body",
        ),
        (
            json!({"event_id": "b1", "user": "telegram:1", "text": "x".repeat(4001)}),
            "invalid_body",
        ),
        (
            json!({"event_id": "b1", "user": "telegram:1", "text": "/maintenance restart", "extra": 1}),
            "invalid_body",
        ),
        (json!(["not", "an", "object"]), "invalid_body"),
    ];
    for (body, code) in bodies {
        let r = send(&home, body.clone());
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}: {r:?}"
        );
    }
    for query in [
        "",
        "consumer=",
        "consumer=a&wait_seconds=61",
        "consumer=a&wait_seconds=-1",
        "consumer=a&consumer=b",
        "consumer=a&limit=3",
    ] {
        let r = home.call("GET", &format!("/v1/relay/notices?{query}"), None);
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (400, Some("invalid_query")),
            "{query}: {r:?}"
        );
    }
    let bad_ack = home.call(
        "POST",
        "/v1/relay/notices/1/ack",
        Some(json!({"consumer": "a", "outcome": "read"})),
    );
    assert_eq!(bad_ack.status, 400, "{bad_ack:?}");
    let no_notice = home.call(
        "POST",
        "/v1/relay/notices/abc/ack",
        Some(json!({"consumer": "a", "outcome": "delivered"})),
    );
    assert_eq!(no_notice.status, 404, "{no_notice:?}");
    assert!(status(&home)["open"].as_array().unwrap().is_empty());
    // The same event id, sent well after a refused body, is still new.
    let good = command(
        &home,
        "b1",
        "telegram:1",
        "telegram:-5",
        "/maintenance restart",
    );
    assert_eq!(good.status, 200);
    assert_eq!(open_request(&home)["requested_by"][0]["count"], 1);
    home.stop(server);
    assert_eq!(
        home.audited("relay_command"),
        1,
        "refused bodies were not handled"
    );
}

#[test]
fn without_a_relay_section_the_routes_say_so_and_the_grammar_is_published() {
    let home = Home::new("[executor]\nrestart = [\"true\"]\n");
    let server = home.serve();
    let r = home.call("GET", "/v1/relay/notices?consumer=a", None);
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (404, Some("relay_not_configured"))
    );
    home.stop(server);
    let out = home.lull(&["relay-grammar"]);
    assert!(out.status.success(), "{out:?}");
    let grammar: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(grammar["command"], "/maintenance");
    assert_eq!(grammar["pass_on"][1]["what"], "answer");
}

#[test]
fn a_long_poll_ends_empty_when_lull_stops() {
    let home = Home::new(CONFIG).with_env("RUST_LOG", "info,lull_adapters::relay=debug");
    let server = home.serve();
    let started = std::time::Instant::now();
    let poll = poll_in_background(&home, "host", 60);
    common::wait_for("the poll to wait", Duration::from_secs(30), || {
        home.server_log().contains("relay poll waiting for notices")
    });
    home.stop(server);
    let answer = poll.join().unwrap().unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["notices"], json!([]));
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "it did not wait out its 60 s"
    );
}

#[test]
fn without_a_relay_token_the_agent_token_cannot_call_the_relay_and_a_shared_token_is_refused() {
    let tcp = "[api]\ntcp_listen = \"127.0.0.1:0\"\n";
    let home = Home::new(&format!("{CONFIG}{tcp}"))
        .with_env("LULL_AGENT_TOKEN", "agent-secret-0123456789");
    let server = home.serve();
    let port = home.logged_port("control API");
    let (code, answer) = http(
        port,
        "GET /v1/relay/grammar HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer agent-secret-0123456789\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 403, "{answer}");
    assert!(answer.contains("admin token"), "{answer}");
    home.stop(server);
    // A relay token that is also an API token is refused at start.
    let shared = Home::new(&format!("{CONFIG}token_env = \"LULL_RELAY_TOKEN\"\n{tcp}"))
        .with_env("LULL_RELAY_TOKEN", "same-token-0123456789")
        .with_env("LULL_AGENT_TOKEN", "same-token-0123456789");
    let out = shared.lull(&["serve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[relay] token_env holds the same token as api.agent_token_env"),
        "{stderr}"
    );
}
