//! The CLI and the server's guards, with the real binary: no server, a second server, `"self"`,
//! bad config, TCP tokens, and the OpenAPI document against the router.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{Home, MARKER_CONFIG, Server, http, json_body, wait_exit, wait_for};
use serde_json::{Value, json};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn without_a_server_the_cli_queues_ahead_and_reports_status() {
    let home = Home::new(MARKER_CONFIG);
    let out = home.lull(&["restart", "--reason", "new version", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let asked: Value = serde_json::from_slice(&out.stdout).unwrap();
    let short = asked["request"]["short_id"].as_str().unwrap().to_owned();
    assert_eq!(asked["request"]["requested_by"][0]["origin"], "cli");
    let status = home.lull(&["status"]);
    assert!(
        stdout(&status).contains("lull serve is not running"),
        "{}",
        stdout(&status)
    );
    assert!(stdout(&status).contains(&short));
    let json: Value = serde_json::from_slice(&home.lull(&["status", "--json"]).stdout).unwrap();
    assert_eq!(json["blockers"], json!([{"kind": "no_activity_source"}]));
    // Exit statuses: 3 not found, 4 refused, 2 usage.
    assert_eq!(home.lull(&["cancel", "rzzzzzz"]).status.code(), Some(3));
    assert_eq!(
        home.lull(&["approve", &short]).status.code(),
        Some(4),
        "a queued request needs no approval"
    );
    assert_eq!(
        home.lull(&["update"]).status.code(),
        Some(4),
        "no update command is configured"
    );
    assert_eq!(
        home.lull(&["restart", "--idle-seconds", "soon"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(home.lull(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(home.lull(&["cancel", "r7k2/../x"]).status.code(), Some(2));
    assert_eq!(home.lull(&["pause", "--for", "0s"]).status.code(), Some(2));
    // Pause, resume and drain straight on the store, as the server's scheduler records them.
    let offline = |home: &Home| -> Value {
        serde_json::from_slice(&home.lull(&["status", "--json"]).stdout).unwrap()
    };
    let paused = home.lull(&["pause", "--for", "1h", "--reason", "freeze"]);
    assert!(stdout(&paused).contains("(freeze)"), "{}", stderr(&paused));
    assert_eq!(offline(&home)["paused"], true);
    assert!(home.lull(&["resume"]).status.success());
    assert_eq!(offline(&home)["paused"], false);
    assert!(home.lull(&["drain", "on"]).status.success());
    assert_eq!(offline(&home)["host_draining"], true);
    assert!(home.lull(&["drain", "off"]).status.success());
    assert_eq!(offline(&home)["host_draining"], false);
    let cancelled = home.lull(&["cancel", &short]);
    assert!(
        stdout(&cancelled).contains("cancelled"),
        "{}",
        stdout(&cancelled)
    );
    // The store was released each time: a server starts at once.
    let server = home.serve();
    let history = home.lull(&["history", "--json"]);
    let history: Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(history["requests"][0]["short_id"], short.as_str());
    home.stop(server);
}

#[test]
fn a_second_serve_of_the_same_profile_is_refused() {
    let home = Home::new(MARKER_CONFIG);
    let server = home.serve();
    let second = home.lull(&["serve"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(
        stderr(&second).contains("already answers"),
        "{}",
        stderr(&second)
    );
    home.stop(server);
    assert!(
        !home.socket().exists(),
        "the socket is removed on a clean stop"
    );
}

#[test]
fn a_stale_socket_is_replaced() {
    let home = Home::new(MARKER_CONFIG);
    std::os::unix::net::UnixListener::bind(home.socket()).unwrap();
    // The listener is dropped: the file remains, nothing answers.
    let server = home.serve();
    assert_eq!(home.call("GET", "/healthz", None).body, json!({"ok": true}));
    home.stop(server);
}

#[test]
fn serve_refuses_self_missing_restart_and_bad_config_with_clear_messages() {
    let cases = [
        (
            "[executor]\nrestart = \"self\"\n",
            "\"self\" is refused by `lull serve`",
        ),
        ("[maintenance]\n", "executor.restart is not set"),
        ("[maintenance]\nidle_secs = 5\n", "line 2"),
        (
            "[executor]\nrestart = [\"true\"]\n[telegram]\nadmins = [1]\n",
            "TELEGRAM_BOT_TOKEN holds no bot token",
        ),
        (
            "[executor]\nrestart = [\"true\"]\n[telegram]\ntoken_env = \"HOME\"\n",
            "does not look like a bot token",
        ),
        (
            "[executor]\nrestart = [\"true\"]\n[discord]\nadmins = [\"1\"]\n",
            "DISCORD_BOT_TOKEN holds no bot token",
        ),
        (
            "[executor]\nrestart = [\"true\"]\n[slack]\nadmins = [\"U0123\"]\n",
            "SLACK_BOT_TOKEN holds no token",
        ),
        (
            "[executor]\nrestart = [\"true\"]\n[api]\ntcp_listen = \"0.0.0.0:7878\"\n",
            "not a loopback address",
        ),
        (
            "[executor]\nrestart = [\"true\"]\n[api]\nsocket_group = \"no-such-group-lull\"\n",
            "no such group on this system",
        ),
        (
            "[maintenance]\nwindows = [\"Mon-Fri 02:00-05:00\", \"Mon-Fry 02:00-05:00\"]\n",
            "line 2",
        ),
        (
            "[maintenance]\nwindows = [\"Mon-Fry 02:00-05:00\"]\n",
            "invalid maintenance window \"Mon-Fry 02:00-05:00\": \"Fry\" is not a day",
        ),
        (
            "[maintenance]\nwindows = [\"Sat 22:00\"]\n",
            "accepted: \"[days] HH:MM-HH:MM\"",
        ),
        (
            "[maintenance]\ntimezone = \"Europe/Berln\"\n",
            "unknown time zone \"Europe/Berln\"",
        ),
    ];
    for (config, expected) in cases {
        let home = Home::new(config);
        let out = home.lull(&["serve"]);
        assert_eq!(out.status.code(), Some(1), "{config}");
        assert!(
            stderr(&out).contains(expected),
            "{config}: {}",
            stderr(&out)
        );
    }
    let home = Home::new(MARKER_CONFIG).with_env("LULL_IDLE_SECONDS", "soon");
    let out = home.lull(&["status"]);
    assert!(
        stderr(&out).contains("invalid LULL_IDLE_SECONDS=\"soon\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_socket_path_too_long_is_a_clear_error() {
    let home = Home::new(MARKER_CONFIG);
    let deep = home.path().join("x".repeat(100));
    std::fs::create_dir_all(deep.join("profiles/default")).unwrap();
    std::fs::write(
        deep.join("profiles/default/lull.toml"),
        "[executor]\nrestart = [\"true\"]\n",
    )
    .unwrap();
    let out = home.lull(&["--home", deep.to_str().unwrap(), "serve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Unix sockets allow at most 107"),
        "{}",
        stderr(&out)
    );
}

fn tcp(port: u16, token: Option<&str>, path: &str) -> (u16, String) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    http(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
    )
}

#[test]
fn tcp_needs_the_right_bearer_token_and_agents_cannot_administer() {
    let home = with_tokens(MARKER_CONFIG);
    let server = home.serve();
    let port = home.logged_port("control API");
    assert_eq!(tcp(port, None, "/v1/status").0, 401);
    let (status, body) = tcp(port, Some("wrong"), "/v1/status");
    assert_eq!(status, 401);
    assert!(body.contains("\"unauthorized\""), "{body}");
    assert_eq!(
        tcp(port, Some("adm-secret-0123456789"), "/v1/status").0,
        200
    );
    assert_eq!(
        tcp(port, Some("agt-secret-0123456789"), "/v1/status").0,
        200
    );
    // An agent token may not pause.
    let (status, answer) = http(
        port,
        "POST /v1/pause HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer agt-secret-0123456789\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    home.stop(server);
}

/// A home whose server also listens on loopback TCP, with an admin and an agent token.
fn with_tokens(config: &str) -> Home {
    Home::new(&format!("{config}\n[api]\ntcp_listen = \"127.0.0.1:0\"\n"))
        .with_env("LULL_ADMIN_TOKEN", "adm-secret-0123456789")
        .with_env("LULL_AGENT_TOKEN", "agt-secret-0123456789")
}

/// A call over TCP with `token` and a JSON body.
fn tcp_call(port: u16, token: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, answer) = http(
        port,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    (status, json_body(&answer))
}

#[test]
fn a_run_is_ended_only_by_the_credential_that_began_it_or_an_admin() {
    let home = with_tokens(MARKER_CONFIG);
    let server = home.serve();
    let port = home.logged_port("control API");
    let run = |who: &str| json!({"session": format!("telegram:{who}"), "source": "gw"});
    // A run the gateway began over the socket.
    let gateway = home.call("POST", "/v1/runs", Some(run("1")));
    let lease = gateway.body["lease"].as_str().unwrap().to_owned();
    // The agent token sees the run but not its lease, and cannot end it or keep it alive.
    let (status, seen) = tcp_call(port, "agt-secret-0123456789", "GET", "/v1/status", "");
    assert_eq!(status, 200);
    assert_eq!(seen["live_runs"][0]["session"], "telegram:1", "{seen}");
    assert!(seen["live_runs"][0]["lease"].is_null(), "{seen}");
    assert!(!seen.to_string().contains(&lease), "{seen}");
    let end = format!("/v1/runs/{lease}");
    let (status, refused) = tcp_call(port, "agt-secret-0123456789", "DELETE", &end, "{}");
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "forbidden");
    let beat = format!("/v1/runs/{lease}/heartbeat");
    assert_eq!(
        tcp_call(port, "agt-secret-0123456789", "POST", &beat, "{}").0,
        403
    );
    let status_json = home.status_json();
    assert_eq!(
        status_json["live_runs"][0]["lease"],
        lease.as_str(),
        "the run stays"
    );
    // The agent token ends its own runs; the admin token ends anyone's.
    let (status, mine) = tcp_call(
        port,
        "agt-secret-0123456789",
        "POST",
        "/v1/runs",
        &run("2").to_string(),
    );
    assert_eq!(status, 200, "{mine}");
    let own = format!("/v1/runs/{}", mine["lease"].as_str().unwrap());
    assert_eq!(
        tcp_call(port, "agt-secret-0123456789", "DELETE", &own, "{}").1["ended"],
        true
    );
    let (status, ended) = tcp_call(port, "adm-secret-0123456789", "DELETE", &end, "{}");
    assert_eq!((status, &ended["ended"]), (200, &json!(true)), "{ended}");
    assert_eq!(home.status_json()["live_runs"], json!([]));
    home.stop(server);
}

#[test]
fn a_tool_caller_over_tcp_is_keyed_by_its_token_and_cannot_withdraw_another_callers_ask() {
    let home = with_tokens(MARKER_CONFIG);
    let server = home.serve();
    let port = home.logged_port("control API");
    let ask = json!({"agent": "hermes", "action": "queue_restart", "reason": "new tool"});
    let local = home.call("POST", "/v1/tool", Some(ask.clone()));
    assert_eq!(local.body["ok"], true, "{:?}", local.body);
    let id = local.body["request"]["short_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The same agent name over TCP with the agent token is another requester.
    let agent = "agt-secret-0123456789";
    let (_, joined) = tcp_call(port, agent, "POST", "/v1/tool", &ask.to_string());
    assert_eq!(joined["ok"], true, "{joined}");
    let users: Vec<&str> = joined["request"]["requested_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["hermes", "agent-token/hermes"]);
    // Its cancel withdraws only its own ask; the local caller's stands.
    let cancel = json!({"agent": "hermes", "action": "cancel", "request_id": id}).to_string();
    let (_, withdrawn) = tcp_call(port, agent, "POST", "/v1/tool", &cancel);
    assert_eq!(withdrawn["ok"], true, "{withdrawn}");
    let open = home.open_requests();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["requested_by"][0]["user_id"], "hermes");
    let (_, again) = tcp_call(port, agent, "POST", "/v1/tool", &cancel);
    assert_eq!(again["error"]["code"], "forbidden", "{again}");
    assert_eq!(home.open_requests().len(), 1);
    home.stop(server);
}

#[test]
fn ten_thousand_distinct_agents_join_one_small_request_and_an_unlisted_one_can_withdraw() {
    const AGENTS: usize = 10_000;
    const THREADS: usize = 8;
    let home = Home::new(MARKER_CONFIG);
    let server = home.serve();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let home = &home;
            scope.spawn(move || {
                for n in (thread..AGENTS).step_by(THREADS) {
                    let ask = json!({"agent": format!("agent-{n}"), "action": "queue_restart"});
                    let answer = home.call("POST", "/v1/tool", Some(ask));
                    assert_eq!(answer.body["ok"], true, "{:?}", answer.body);
                }
            });
        }
    });
    let open = home.open_requests();
    assert_eq!(open.len(), 1, "one request for every agent");
    let request = &open[0];
    assert_eq!(request["requested_by"].as_array().unwrap().len(), 32);
    assert_eq!(request["unlisted_requesters"], AGENTS - 32);
    let size = request.to_string().len();
    assert!(size <= 64 * 1024, "the request is {size} bytes");
    // An agent beyond the listed ones is still a requester: its cancel withdraws its ask.
    let listed: Vec<&str> = request["requested_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_id"].as_str().unwrap())
        .collect();
    let unlisted = (0..AGENTS)
        .map(|n| format!("agent-{n}"))
        .find(|name| !listed.contains(&name.as_str()))
        .unwrap();
    let id = request["short_id"].as_str().unwrap();
    let cancel = json!({"agent": unlisted, "action": "cancel", "request_id": id});
    let answer = home.call("POST", "/v1/tool", Some(cancel.clone()));
    assert_eq!(answer.body["ok"], true, "{:?}", answer.body);
    assert_eq!(home.open_requests()[0]["unlisted_requesters"], AGENTS - 33);
    let again = home.call("POST", "/v1/tool", Some(cancel));
    assert_eq!(again.body["error"]["code"], "forbidden", "{:?}", again.body);
    home.stop(server);
}

#[test]
fn a_control_character_in_typed_text_is_refused_on_every_surface_and_nothing_is_queued() {
    let home = Home::new(MARKER_CONFIG);
    // Without a server the CLI checks the ask itself; with one, the API does.
    let out = home.lull(&["restart", "--reason", "new\ntool"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("reason contains the control character U+000A"),
        "{}",
        stderr(&out)
    );
    let server = home.serve();
    let asked = home.call(
        "POST",
        "/v1/requests",
        Some(json!({"kind": "restart", "reason": "a\u{0}b"})),
    );
    assert_eq!(asked.status, 400, "{:?}", asked.body);
    assert_eq!(asked.body["error"]["code"], "invalid_reason");
    assert!(
        asked.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("U+0000")
    );
    let tool = home.call(
        "POST",
        "/v1/tool",
        Some(json!({"agent": "bot", "action": "queue_restart", "reason": "x\u{1b}[2J"})),
    );
    assert_eq!(
        tool.body["error"]["code"], "invalid_reason",
        "{:?}",
        tool.body
    );
    let named = home.call(
        "POST",
        "/v1/tool",
        Some(json!({"agent": "bot\nadmin", "action": "status"})),
    );
    assert_eq!(
        named.body["error"]["code"], "invalid_field",
        "{:?}",
        named.body
    );
    let out = home.lull(&["restart", "--reason", "new\ttab is fine"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let open = home.open_requests();
    assert_eq!(
        open.len(),
        1,
        "only the ask with a tab was queued: {open:?}"
    );
    assert_eq!(open[0]["reason"], "new\ttab is fine");
    let run = home.call(
        "POST",
        "/v1/runs",
        Some(json!({"session": "telegram:1\nforged"})),
    );
    assert_eq!(run.status, 400);
    assert_eq!(run.body["error"]["code"], "invalid_session");
    let out = home.lull(&["heartbeat", "--source", "gw\u{7f}"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    home.stop(server);
}

#[test]
fn a_planted_source_is_listed_with_its_announcer_and_forgotten_by_an_admin() {
    let config = MARKER_CONFIG.replace("[maintenance]\n", "[maintenance]\nmax_sources = 2\n");
    let home = with_tokens(&config);
    let server = home.serve();
    let port = home.logged_port("control API");
    let beat = |source: &str| json!({"source": source}).to_string();
    // An agent-token holder plants a source; the gateway announces its own.
    let (status, _) = tcp_call(
        port,
        "agt-secret-0123456789",
        "POST",
        "/v1/heartbeat",
        &beat("planted"),
    );
    assert_eq!(status, 200);
    assert_eq!(
        home.call("POST", "/v1/heartbeat", Some(json!({"source": "gw"})))
            .status,
        200
    );
    let sources = home.status_json()["sources"].clone();
    let by = |name: &str| {
        sources
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["announced_by"].clone())
    };
    assert_eq!(by("planted"), Some(json!("agent")), "{sources}");
    assert_eq!(by("gw"), Some(json!("socket")), "{sources}");
    let out = home.lull(&["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("by agent"));
    // One distinct source more than max_sources is refused; a known one is still heard.
    let (status, refused) = tcp_call(
        port,
        "agt-secret-0123456789",
        "POST",
        "/v1/heartbeat",
        &beat("third"),
    );
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "too_many_sources");
    assert_eq!(
        tcp_call(
            port,
            "agt-secret-0123456789",
            "POST",
            "/v1/heartbeat",
            &beat("planted")
        )
        .0,
        200
    );
    // Only an admin forgets one; audited; the slot is free again.
    let (status, _) = tcp_call(
        port,
        "agt-secret-0123456789",
        "DELETE",
        "/v1/sources/planted",
        "",
    );
    assert_eq!(status, 403);
    let out = home.lull(&["source", "forget", "planted"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let names: Vec<Value> = home.status_json()["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names, [json!("gw")]);
    let out = home.lull(&["source", "forget", "planted"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        tcp_call(
            port,
            "agt-secret-0123456789",
            "POST",
            "/v1/heartbeat",
            &beat("third")
        )
        .0,
        200
    );
    home.stop(server);
    assert_eq!(home.audited("source_forgotten"), 1);
}

#[test]
fn short_or_shared_api_tokens_are_refused_at_start_up_naming_the_variable() {
    let config = format!("{MARKER_CONFIG}\n[api]\ntcp_listen = \"127.0.0.1:0\"\n");
    let short = Home::new(&config).with_env("LULL_AGENT_TOKEN", "agt-secret");
    let out = short.lull(&["serve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("LULL_AGENT_TOKEN holds a secret of 10 characters; at least 16"),
        "{}",
        stderr(&out)
    );
    let shared = Home::new(&config)
        .with_env("LULL_ADMIN_TOKEN", "one-token-for-both-roles")
        .with_env("LULL_AGENT_TOKEN", "one-token-for-both-roles");
    let out = shared.lull(&["serve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("LULL_ADMIN_TOKEN and LULL_AGENT_TOKEN hold the same token"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("one-token-for-both-roles"));
}

#[test]
fn the_audit_log_is_read_by_an_admin_with_and_without_a_server() {
    let home = with_tokens(MARKER_CONFIG);
    // Without a server, from the store.
    let out = home.lull(&["pause", "--reason", "upgrading the host"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = home.lull(&["audit"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("paused: until resumed; upgrading the host"),
        "{text}"
    );
    let server = home.serve();
    let port = home.logged_port("control API");
    let out = home.lull(&["restart", "--reason", "new tool", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let asked: Value = serde_json::from_slice(&out.stdout).unwrap();
    let short = asked["request"]["short_id"].as_str().unwrap().to_owned();
    // Through the server: one request's entries, and the newest N, oldest first.
    let out = home.lull(&["audit", "--json", "--request", &short]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let entries = serde_json::from_slice::<Value>(&out.stdout).unwrap()["entries"].clone();
    assert_eq!(entries[0]["action"], "submitted", "{entries}");
    let out = home.lull(&["audit", "--json", "--limit", "2"]);
    let entries = serde_json::from_slice::<Value>(&out.stdout).unwrap()["entries"].clone();
    assert_eq!(entries.as_array().unwrap().len(), 2, "{entries}");
    assert!(entries[0]["seq"].as_u64() < entries[1]["seq"].as_u64());
    // Admins only; a bad query is named.
    let (status, _) = tcp_call(port, "agt-secret-0123456789", "GET", "/v1/audit", "");
    assert_eq!(status, 403);
    let (status, bad) = tcp_call(
        port,
        "adm-secret-0123456789",
        "GET",
        "/v1/audit?limit=0",
        "",
    );
    assert_eq!(status, 400);
    assert_eq!(bad["error"]["code"], "invalid_query");
    home.stop(server);
}

#[test]
fn the_openapi_document_and_the_router_agree() {
    let home = Home::new(MARKER_CONFIG);
    let server = home.serve();
    let doc = home.call("GET", "/openapi.json", None).body;
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "delete", "put", "patch"] {
            if item.get(method).is_some() {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let mut routes: Vec<(String, String)> = lull_adapters::api::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes);
    for (method, path) in &routes {
        let concrete = path.replace("{id}", "rzzzz").replace("{lease}", "nolease");
        let answer = home.call(method, &concrete, Some(json!({})));
        let message = answer.body["error"]["message"].as_str().unwrap_or("");
        assert!(
            !message.starts_with("no such route") && answer.status != 405,
            "{method} {path} is not routed: {:?}",
            answer.body
        );
    }
    assert_eq!(home.call("GET", "/v1/nothing", None).status, 404);
    assert_eq!(home.call("PUT", "/v1/status", None).status, 405);
    home.stop(server);
}

#[test]
fn bad_bodies_get_specific_errors_and_change_nothing() {
    let home = Home::new(MARKER_CONFIG);
    let server = home.serve();
    let cases = [
        ("POST", "/v1/requests", "{\"kind\":", 400, "invalid_json"),
        (
            "POST",
            "/v1/requests",
            "{\"kind\":\"reboot\"}",
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/requests",
            "{\"kind\":\"restart\",\"force\":true}",
            400,
            "invalid_body",
        ),
        (
            "POST",
            "/v1/requests",
            "{\"kind\":\"restart\",\"idle_seconds\":9999999}",
            400,
            "invalid_idle_seconds",
        ),
        ("POST", "/v1/runs", "{}", 400, "invalid_body"),
        (
            "POST",
            "/v1/runs",
            "{\"session\":\"\"}",
            400,
            "invalid_session",
        ),
        (
            "POST",
            "/v1/drain",
            "{\"ttl_seconds\":0}",
            400,
            "invalid_ttl_seconds",
        ),
        ("POST", "/v1/heartbeat", "{}", 400, "invalid_body"),
        (
            "POST",
            "/v1/heartbeat",
            "{\"source\":\"\"}",
            400,
            "invalid_source",
        ),
        (
            "POST",
            "/v1/runs",
            "{\"session\":\"t:1\",\"source\":\"\"}",
            400,
            "invalid_source",
        ),
        (
            "POST",
            "/v1/runs/bad%20lease/heartbeat",
            "{}",
            400,
            "invalid_lease",
        ),
        ("POST", "/v1/tool", "not json", 400, "invalid_json"),
        (
            "POST",
            "/v1/release",
            "{\"session\":\"telegram:nobody\"}",
            404,
            "not_found",
        ),
        ("POST", "/v1/requests/rzzzz/cancel", "", 404, "not_found"),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (method, path, body, status, code) in cases {
        let answer = runtime.block_on(raw(&home.socket(), method, path, body));
        assert_eq!(
            (answer.0, answer.1["error"]["code"].as_str().unwrap_or("")),
            (status, code),
            "{method} {path} {body}: {}",
            answer.1
        );
    }
    let tool = home.call(
        "POST",
        "/v1/tool",
        Some(json!({"agent": "a", "action": "nope"})),
    );
    assert_eq!(
        (tool.status, tool.body["error"]["code"].as_str()),
        (200, Some("invalid_action"))
    );
    assert_eq!(
        home.call("GET", "/v1/requests", None).body,
        json!({"requests": []}),
        "nothing was queued"
    );
    let metrics = home.call("GET", "/metrics", None).body;
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("lull_requests{state=\"queued\"} 0")
            && text.contains("lull_scheduler_wakeups_total"),
        "{text}"
    );
    home.stop(server);
}

async fn raw(socket: &std::path::Path, method: &str, path: &str, body: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        stream.write_all(request.as_bytes()).await.unwrap();
        stream.read_to_string(&mut answer).await.unwrap();
    })
    .await
    .expect("the server answers within 30s");
    let status = answer.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn init_writes_a_config_that_serve_reads_and_the_schema_prints() {
    let home = Home::new("");
    std::fs::remove_file(home.profile_dir().join("lull.toml")).unwrap();
    let out = home.lull(&["init"]);
    assert!(out.status.success(), "{}", stderr(&out));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(home.profile_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode, 0o700,
        "the profile is its owner's alone from the start"
    );
    assert_eq!(
        home.lull(&["init"]).status.code(),
        Some(4),
        "no overwrite without --force"
    );
    let serve = home.lull(&["serve"]);
    assert!(
        stderr(&serve).contains("executor.restart is not set"),
        "the template parses; only restart is left to fill in: {}",
        stderr(&serve)
    );
    let schema: Value = serde_json::from_slice(&home.lull(&["tool-schema"]).stdout).unwrap();
    assert_eq!(schema["function"]["name"], "gateway_maintenance");
}

/// A window that is certainly closed now: half an hour, twelve hours from the current UTC hour
/// (read in Europe/Berlin, it still opens 9 to 11 hours from now).
fn closed_window() -> String {
    let hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 3600
        % 24;
    format!("{:02}:00-{:02}:30", (hour + 12) % 24, (hour + 12) % 24)
}

#[test]
fn windows_show_in_status_json_and_metrics_and_window_any_is_for_admins() {
    let config = format!(
        "{MARKER_CONFIG}\n[api]\ntcp_listen = \"127.0.0.1:0\"\nagent_token_env = \"T_AGENT\"\n"
    )
    .replace(
        "[maintenance]\n",
        &format!(
            "[maintenance]\nwindows = [\"{}\"]\ntimezone = \"Europe/Berlin\"\n",
            closed_window()
        ),
    );
    let home = Home::new(&config).with_env("T_AGENT", "agent-secret-token");
    // Without a server, status still reads the windows from the config.
    let offline: Value = serde_json::from_slice(&home.lull(&["status", "--json"]).stdout).unwrap();
    assert_eq!(offline["windows"]["open"], false, "{offline}");
    assert_eq!(offline["windows"]["timezone"], "Europe/Berlin");
    assert!(offline["windows"]["next_opening"].is_string(), "{offline}");

    let server = home.serve();
    home.call("POST", "/v1/heartbeat", Some(json!({"source": "gw"})));
    let out = home.lull(&["restart", "--reason", "nightly", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = home.call("GET", "/v1/status", None).body;
    let blocker = status["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "outside_window")
        .unwrap_or_else(|| panic!("no outside_window blocker: {status}"))
        .clone();
    assert_eq!(blocker["timezone"], "Europe/Berlin");
    assert_eq!(blocker["next_opening"], status["windows"]["next_opening"]);
    assert!(
        blocker["next_opening_local"]
            .as_str()
            .unwrap()
            .contains(":00:00+0"),
        "{blocker}"
    );
    assert!(
        blocker["remaining_seconds"].as_u64().unwrap() > 8 * 3600,
        "{blocker}"
    );
    let text = stdout(&home.lull(&["status"]));
    assert!(
        text.contains("outside the maintenance windows: next opening"),
        "{text}"
    );
    assert!(
        text.contains("(Europe/Berlin) — closed; next opening"),
        "{text}"
    );
    let metrics = home.call("GET", "/metrics", None).body;
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("lull_window_open 0"), "{metrics}");
    assert!(
        metrics.contains("lull_window_next_opening_timestamp_seconds 1"),
        "{metrics}"
    );

    // An agent (the TCP agent token) may not ask for --window any: 403, nothing changed.
    let port = home.logged_port("control API");
    let body = r#"{"kind":"restart","window":"any"}"#;
    let (code, answer) = http(
        port,
        &format!(
            "POST /v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer agent-secret-token\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(code, 403, "{answer}");
    assert!(answer.contains("only an admin"), "{answer}");
    assert_eq!(
        home.lull(&["restart", "--window", "night"]).status.code(),
        Some(2),
        "only `any` is accepted"
    );
    // The admin's --window any joins the open request and lifts the windows for it.
    let out = home.lull(&[
        "restart",
        "--window",
        "any",
        "--idle-seconds",
        "0",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let joined: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(joined["request"]["ignore_windows"], true, "{joined}");
    common::wait_for("the restart to run", Duration::from_secs(60), || {
        home.marker_lines().len() == 1
    });
    home.stop(server);
}

/// The user name this test runs as, from the system (what lull reads from the socket peer's uid).
fn local_user() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_audit_names_the_local_user_and_process_and_the_tool_works_without_a_server() {
    let home = Home::new(MARKER_CONFIG);
    let user = local_user();
    let server = home.serve();
    // A call through the socket from this very process (as curl or a host plugin would make).
    let asked = home.call(
        "POST",
        "/v1/requests",
        Some(json!({"kind": "restart", "reason": "through the socket"})),
    );
    assert_eq!(asked.status, 201, "{:?}", asked.body);
    let me = format!("local:{user} (pid {})", std::process::id());
    assert_eq!(asked.body["request"]["transitions"][0]["by"], me.as_str());
    assert_eq!(
        asked.body["request"]["requested_by"][0]["platform"],
        "local"
    );
    assert_eq!(
        asked.body["request"]["requested_by"][0]["user_id"],
        user.as_str()
    );
    let paused = home.call("POST", "/v1/pause", Some(json!({"reason": "audit"})));
    assert_eq!(paused.body["pause"]["by"], me.as_str(), "{:?}", paused.body);
    home.call("POST", "/v1/resume", None);
    home.stop(server);

    // Without a server: the tool answers from the store, says nothing runs yet, and the agent's
    // ask joins the open request, audited with the local process it came through.
    let out = home.lull(&[
        "tool",
        "--agent",
        "hermes",
        r#"{"action":"queue_restart","reason":"installed jq"}"#,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing runs until it starts"),
        "{}",
        stderr(&out)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["deduplicated"], true, "{answer}");
    let requesters = answer["request"]["requested_by"].as_array().unwrap();
    assert!(
        requesters
            .iter()
            .any(|r| r["platform"] == "tool" && r["user_id"] == "hermes"),
        "{answer}"
    );
    let status: Value = serde_json::from_slice(&home.lull(&["status", "--json"]).stdout).unwrap();
    let asks = status["open"][0]["requested_by"].as_array().unwrap();
    assert_eq!(asks.len(), 2, "{status}");
    let tool_ask = status["open"][0]["transitions"].as_array().unwrap();
    assert_eq!(tool_ask.len(), 1, "joining changes no state: {status}");

    // The CLI acting on the store directly is the same person, with its own pid.
    let cancelled = home.lull(&[
        "cancel",
        answer["request"]["short_id"].as_str().unwrap(),
        "--json",
    ]);
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    let cancelled: Value = serde_json::from_slice(&cancelled.stdout).unwrap();
    let by = cancelled["request"]["transitions"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["by"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(by.starts_with(&format!("local:{user} (pid ")), "{by}");
    assert_ne!(by, me, "another process");
    // A bad tool call without a server is refused like one through it.
    let bad = home.lull(&["tool", "--agent", "hermes", r#"{"action":"reboot"}"#]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn completions_and_a_man_page_come_from_the_command_line_definitions() {
    let home = Home::new(MARKER_CONFIG);
    for (shell, marker) in [
        ("bash", "_lull()"),
        ("zsh", "#compdef lull"),
        ("fish", "complete -c lull"),
    ] {
        let out = home.lull(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("watch"), "{shell}: every flag is there");
    }
    assert_eq!(home.lull(&["completions", "tcsh"]).status.code(), Some(2));
    let man = home.lull(&["man"]);
    assert!(man.status.success(), "{}", stderr(&man));
    let page = stdout(&man);
    assert!(page.contains(".TH lull 1"), "{page}");
    assert!(
        page.contains("no agent run is live"),
        "the description: {page}"
    );
    assert!(
        page.contains("completions"),
        "the subcommands are listed: {page}"
    );
}

#[test]
fn status_watch_redraws_until_interrupted_and_never_holds_the_store() {
    let home = Home::new(MARKER_CONFIG);
    let out_path = home.path().join("watch.out");
    let mut watch = Server(
        home.command()
            .args(["status", "--watch"])
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let output = || std::fs::read_to_string(&out_path).unwrap_or_default();
    wait_for("the first status", Duration::from_secs(30), || {
        output().contains("nothing runs until it starts")
    });
    // The watch opens the store only for each look: a server starts meanwhile, and the watch
    // follows it (not a terminal: a changed status is printed again).
    let server = home.serve();
    home.call(
        "POST",
        "/v1/requests",
        Some(json!({"kind": "restart", "reason": "watched"})),
    );
    wait_for(
        "the status from the server",
        Duration::from_secs(30),
        || output().contains("watched"),
    );
    let printed = output();
    let latest = printed.rsplit("\n\n").next().unwrap();
    assert!(
        latest.contains("watched") && !latest.contains("nothing runs until it starts"),
        "the latest status is the server's: {printed}"
    );
    // SAFETY: kill sends a signal; the pid is the child's, still running.
    assert_eq!(unsafe { libc::kill(watch.id() as i32, libc::SIGINT) }, 0);
    let status = wait_exit(&mut watch, Duration::from_secs(10)).expect("Ctrl-C ends the watch");
    assert!(status.success(), "{status}");
    home.stop(server);
}

#[test]
fn serve_error_messages_end_with_a_newline() {
    let home = Home::new("[executor]\nrestart = \"self\"\n");
    let out = home.lull(&["serve"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("refused by `lull serve`") && err.ends_with('\n'),
        "{err:?}"
    );
}

#[test]
fn the_cli_has_the_chats_commands_through_the_server() {
    let home = Home::new(MARKER_CONFIG);
    let server = home.serve();
    // --idle as chat takes it.
    let asked = home.lull(&["restart", "--idle", "20m", "--json"]);
    assert!(asked.status.success(), "{}", stderr(&asked));
    let asked: Value = serde_json::from_slice(&asked.stdout).unwrap();
    assert_eq!(asked["request"]["idle_seconds"], 1200);
    assert_eq!(
        home.lull(&["restart", "--idle", "1.5s"]).status.code(),
        Some(2)
    );
    assert_eq!(
        home.lull(&["restart", "--idle", "5m", "--idle-seconds", "300"])
            .status
            .code(),
        Some(2),
        "one idle window"
    );
    // release: a wedged run's hold ended by an admin.
    let lease = home.call(
        "POST",
        "/v1/runs",
        Some(json!({"session": "telegram:-100123", "source": "gw"})),
    );
    assert_eq!(lease.status, 200, "{:?}", lease.body);
    let released = home.lull(&["release", "telegram:-100123"]);
    assert!(released.status.success(), "{}", stderr(&released));
    assert!(
        stdout(&released).contains("released 1 live run"),
        "{}",
        stdout(&released)
    );
    assert_eq!(
        home.call("GET", "/v1/status", None).body["live_runs"],
        json!([])
    );
    assert_eq!(
        home.lull(&["release", "telegram:-100123"]).status.code(),
        Some(3),
        "nothing left to release"
    );
    // drain on|off.
    let on = home.lull(&["drain", "on", "--ttl", "10m"]);
    assert!(on.status.success(), "{}", stderr(&on));
    assert_eq!(
        home.call("GET", "/v1/status", None).body["host_draining"],
        true
    );
    assert_eq!(
        home.lull(&["drain", "on", "--ttl", "8d"]).status.code(),
        Some(2)
    );
    assert!(home.lull(&["drain", "off"]).status.success());
    assert_eq!(
        home.call("GET", "/v1/status", None).body["host_draining"],
        false
    );
    // pause --reason, kept with the pause.
    let paused = home.lull(&["pause", "--for", "1h", "--reason", "deploy freeze"]);
    assert!(paused.status.success(), "{}", stderr(&paused));
    // As the server stored it (the CLI prints the pause the server answers with).
    assert!(
        stdout(&paused).contains("(deploy freeze)"),
        "{}",
        stdout(&paused)
    );
    assert_eq!(home.call("GET", "/v1/status", None).body["paused"], true);
    assert!(home.lull(&["resume"]).status.success());
    // --for as chat takes it: whole seconds too.
    assert!(home.lull(&["pause", "--for", "1200"]).status.success());
    assert!(home.lull(&["resume"]).status.success());
    // history --limit: three finished, two shown.
    let id = asked["request"]["short_id"].as_str().unwrap().to_owned();
    assert!(home.lull(&["cancel", &id]).status.success());
    for _ in 0..2 {
        let out = home.lull(&["restart", "--json"]);
        let request: Value = serde_json::from_slice(&out.stdout).unwrap();
        let id = request["request"]["short_id"].as_str().unwrap().to_owned();
        assert!(home.lull(&["cancel", &id]).status.success());
    }
    let history = home.lull(&["history", "--limit", "2", "--json"]);
    let history: Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(
        history["requests"].as_array().map(Vec::len),
        Some(2),
        "{history}"
    );
    let all: Value = serde_json::from_slice(&home.lull(&["history", "--json"]).stdout).unwrap();
    assert_eq!(all["requests"].as_array().map(Vec::len), Some(3), "{all}");
    home.stop(server);
}

/// A group lull may give its files to other than its own primary one, so that the test sees
/// the change: as root any group (`nogroup`, …), else a supplementary group of this process;
/// the primary group only when there is no other.
fn sharing_group() -> (String, u32) {
    // SAFETY: getgrnam/getgrgid return pointers into static storage, read at once; getgroups
    // fills at most the length it is given.
    unsafe {
        let primary = libc::getgid();
        let name_of = |group: *mut libc::group| {
            (!group.is_null()).then(|| {
                (
                    std::ffi::CStr::from_ptr((*group).gr_name)
                        .to_string_lossy()
                        .into_owned(),
                    (*group).gr_gid,
                )
            })
        };
        if libc::geteuid() == 0 {
            for name in [c"nogroup", c"users", c"daemon"] {
                if let Some(found) = name_of(libc::getgrnam(name.as_ptr()))
                    && found.1 != primary
                {
                    return found;
                }
            }
        }
        let mut groups = vec![0 as libc::gid_t; 256];
        let count = libc::getgroups(groups.len() as libc::c_int, groups.as_mut_ptr());
        for gid in groups.iter().take(count.max(0) as usize) {
            if *gid != primary
                && let Some(found) = name_of(libc::getgrgid(*gid))
            {
                return found;
            }
        }
        name_of(libc::getgrgid(primary)).expect("this process's group has a name")
    }
}

#[test]
fn socket_group_shares_the_socket_with_a_group_and_is_kept_across_restarts() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // Without it: the owner only.
    let home = Home::new(MARKER_CONFIG);
    let server = home.serve();
    assert_eq!(
        (mode(&home.profile_dir()), mode(&home.socket())),
        (0o700, 0o600)
    );
    home.stop(server);
    // With it: the group too, on the socket and the directory; the store stays the owner's.
    let (group, gid) = sharing_group();
    let home = Home::new(&format!(
        "{MARKER_CONFIG}[api]\nsocket_group = \"{group}\"\n"
    ));
    let server = home.serve();
    let shared = |home: &Home| {
        (
            mode(&home.profile_dir()),
            mode(&home.socket()),
            mode(&home.profile_dir().join("state")),
            std::fs::metadata(home.profile_dir()).unwrap().gid(),
            std::fs::metadata(home.socket()).unwrap().gid(),
        )
    };
    assert_eq!(shared(&home), (0o750, 0o660, 0o700, gid, gid));
    home.stop(server);
    // Changed by hand, put back at the next start.
    std::fs::set_permissions(home.profile_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let server = home.serve();
    assert_eq!(shared(&home), (0o750, 0o660, 0o700, gid, gid));
    // The CLI on the store keeps it as well.
    home.stop(server);
    assert!(home.lull(&["status"]).status.success());
    assert_eq!(mode(&home.profile_dir()), 0o750);
}

#[test]
fn service_prints_a_unit_systemd_accepts_and_installs_it_for_the_profile() {
    let home = Home::new(MARKER_CONFIG);
    let out = home.lull(&["service"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let unit = stdout(&out);
    let binary = std::fs::canonicalize(env!("CARGO_BIN_EXE_lull")).unwrap();
    let exec = format!(
        "ExecStart={} --home {} --profile default serve",
        binary.display(),
        home.path().display()
    );
    assert!(unit.contains(&exec), "{unit}");
    for line in [
        "Restart=on-failure",
        "WantedBy=default.target",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line} missing:\n{unit}");
    }
    // Nothing that would keep the restart command from working: no read-only system, no
    // hidden home, no private users (a user unit's `systemctl --user` needs the session bus).
    for forbidden in [
        "ProtectSystem",
        "ProtectHome",
        "PrivateUsers",
        "DynamicUser",
    ] {
        assert!(!unit.contains(forbidden), "{forbidden} in:\n{unit}");
    }
    let system = stdout(&home.lull(&["service", "--system"]));
    assert!(system.contains("WantedBy=multi-user.target"), "{system}");
    // systemd itself reads both, where it is installed.
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok()
    {
        for text in [&unit, &system] {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("lull.service");
            std::fs::write(&file, text).unwrap();
            let verified = Command::new("systemd-analyze")
                .args(["verify"])
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                verified.status.success() && verified.stderr.is_empty(),
                "systemd-analyze verify: {}\n{text}",
                String::from_utf8_lossy(&verified.stderr)
            );
        }
    }
    // --install writes the user unit where the user's manager reads it.
    let user_home = tempfile::tempdir().unwrap();
    let install = |args: &[&str]| {
        home.command()
            .args(args)
            .env("HOME", user_home.path())
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap()
    };
    let installed = install(&["service", "--install"]);
    assert!(installed.status.success(), "{}", stderr(&installed));
    let path = user_home.path().join(".config/systemd/user/lull.service");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), unit);
    assert!(stdout(&installed).contains("systemctl --user enable --now lull.service"));
    std::fs::write(&path, "[Unit]\n").unwrap();
    assert_eq!(
        install(&["service", "--install"]).status.code(),
        Some(4),
        "differs"
    );
    assert!(
        install(&["service", "--install", "--force"])
            .status
            .success()
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), unit);
    let other = install(&["--profile", "night", "service", "--install"]);
    assert!(other.status.success(), "{}", stderr(&other));
    let night = std::fs::read_to_string(
        user_home
            .path()
            .join(".config/systemd/user/lull-night.service"),
    )
    .unwrap();
    assert!(night.contains("--profile night serve"), "{night}");
}
