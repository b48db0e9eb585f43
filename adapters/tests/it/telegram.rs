//! The Telegram adapter end to end: the real `lull serve` binary, running real teloxide
//! against a fake Bot API on 127.0.0.1 (tests/common/fake_telegram.rs).

use crate::common;

use std::time::Duration;

use common::fake_telegram::{BOT_USERNAME, FakeTelegram, TOKEN, text_update};
use common::{Home, MARKER_CONFIG, http};
use serde_json::{Value, json};

const ADMIN: i64 = 42;
const AGENT: i64 = 99;
const STRANGER: i64 = 55;
const NOTIFY: i64 = -100_500;

fn config(fake: &FakeTelegram, extra_maintenance: &str, extra_telegram: &str) -> String {
    MARKER_CONFIG.replace(
        "[maintenance]\n",
        &format!("[maintenance]\n{extra_maintenance}\n"),
    ) + &format!(
        "[telegram]\napi_url = \"{}\"\nadmins = [{ADMIN}]\nagents = [{AGENT}]\nnotify_chat_id = {NOTIFY}\n{extra_telegram}\n",
        fake.url()
    )
}

fn home(config: &str) -> Home {
    Home::new(config).with_env("TELEGRAM_BOT_TOKEN", TOKEN)
}

fn text(message: &Value) -> &str {
    message["text"].as_str().unwrap_or_default()
}

/// Waits until lull took every update (a `getUpdates` offset past them arrived) and the replies
/// to them were sent: a last `status` from the admin is answered after everything before it in
/// that chat (teloxide handles one chat's updates in order).
fn settle(fake: &FakeTelegram, chat: i64) {
    let before = fake.messages_in(chat).len();
    fake.send_text(ADMIN, chat, "/maintenance status");
    fake.wait_until("the status reply", |f| f.messages_in(chat).len() > before);
}

#[test]
fn commands_are_routed_authorized_and_answered_in_the_same_chat() {
    let fake = FakeTelegram::start();
    let home = home(&config(&fake, "", ""));
    let server = home.serve();

    fake.wait_until("the command menu", |f| !f.commands().is_empty());
    assert_eq!(fake.commands()[0]["command"], "maintenance");

    // An update of a kind teloxide cannot read is skipped, and holds nothing up.
    fake.send_unknown_kind();
    let update = fake.send_text(ADMIN, ADMIN, "/maintenance restart installed a tool");
    let reply = fake.wait_for_message(ADMIN, "Queued");
    let open = home.status_json()["open"].clone();
    let short_id = open[0]["short_id"].as_str().unwrap().to_owned();
    assert!(text(&reply).contains(&short_id), "{reply}");
    let to_admin: Vec<_> = fake
        .calls("sendMessage")
        .into_iter()
        .filter(|c| c.body["chat_id"] == ADMIN)
        .collect();
    assert_eq!(to_admin.len(), 1);
    assert_eq!(to_admin[0].body["parse_mode"], "HTML");
    assert!(
        to_admin[0].body["reply_parameters"]["message_id"]
            .as_i64()
            .is_some()
    );
    assert!(update > 0);

    // A stranger is refused and nothing changes.
    fake.send_text(STRANGER, STRANGER, "/maintenance restart please");
    let refusal = fake.wait_for_message(STRANGER, "not allowed");
    assert!(text(&refusal).contains(&STRANGER.to_string()), "{refusal}");
    let open = home.status_json()["open"].clone();
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["requested_by"].as_array().unwrap().len(), 1);

    // An anonymous admin is Telegram's shared placeholder account: refused, whoever it is.
    fake.send_as_anonymous_admin(NOTIFY, "/maintenance cancel all");
    fake.wait_for_message(NOTIFY, "as yourself");

    // A command for another bot in a group is not ours: no reply, no change.
    fake.send_text(
        ADMIN,
        NOTIFY,
        "/maintenance@some_other_bot cancel everything",
    );
    fake.send_text(
        ADMIN,
        NOTIFY,
        &format!("/maintenance@{BOT_USERNAME} status"),
    );
    let status_reply = fake.wait_for_message(NOTIFY, "no activity source has reported");
    assert!(text(&status_reply).contains(&short_id), "{status_reply}");
    let replies_in_group: Vec<_> = fake
        .messages_in(NOTIFY)
        .into_iter()
        .filter(|m| !text(m).contains("queued") && !text(m).contains("as yourself"))
        .collect();
    assert_eq!(replies_in_group.len(), 1, "{replies_in_group:#?}");
    assert_eq!(home.status_json()["open"][0]["state"], "queued");
    home.stop(server);
}

#[test]
fn an_approval_prompt_is_answered_by_an_admins_click_and_edited() {
    let fake = FakeTelegram::start();
    let home = home(&config(&fake, "agent_requests = \"approve\"", ""));
    let server = home.serve();

    fake.send_text(AGENT, AGENT, "/maintenance restart new tool installed");
    fake.wait_for_message(AGENT, "approval");
    let prompt = fake.wait_for_message(NOTIFY, "approve or reject");
    let buttons = prompt["reply_markup"]["inline_keyboard"][0].clone();
    let approve = buttons[0]["callback_data"].as_str().unwrap().to_owned();
    assert!(approve.starts_with("lull:a:"), "{buttons}");
    let prompt_id = prompt["message_id"].as_i64().unwrap();

    // Someone who may not approve is told so, privately; the prompt stays.
    fake.click(STRANGER, prompt_id, &approve);
    fake.wait_until("the refusal", |f| {
        !f.calls("answerCallbackQuery").is_empty()
    });
    let answer = &fake.calls("answerCallbackQuery")[0].body;
    assert_eq!(answer["show_alert"], true);
    assert!(
        answer["text"].as_str().unwrap().contains("not allowed"),
        "{answer}"
    );
    assert_eq!(home.status_json()["open"][0]["state"], "awaiting_approval");
    fake.click(AGENT, prompt_id, &approve);
    fake.wait_until("the agent's refusal", |f| {
        f.calls("answerCallbackQuery").len() == 2
    });
    assert!(
        fake.calls("answerCallbackQuery")[1].body["text"]
            .as_str()
            .unwrap()
            .contains("only an admin")
    );
    assert_eq!(fake.calls("editMessageText").len(), 0);

    fake.click(ADMIN, prompt_id, &approve);
    // The fake records the call before it applies the edit: wait for the stored message.
    fake.wait_until("the edited prompt", |f| {
        f.messages_in(NOTIFY)
            .iter()
            .any(|m| m["message_id"] == prompt_id && text(m).contains("Approved"))
    });
    let edited = fake
        .messages_in(NOTIFY)
        .into_iter()
        .find(|m| m["message_id"] == prompt_id)
        .unwrap();
    assert!(text(&edited).contains("Approved"), "{edited}");
    assert!(text(&edited).contains("@user42"), "who clicked: {edited}");
    assert!(
        edited.get("reply_markup").is_none(),
        "buttons removed: {edited}"
    );
    assert_eq!(home.status_json()["open"][0]["state"], "queued");
    home.stop(server);
}

#[test]
fn an_update_is_confirmed_only_after_it_was_handled_and_a_redelivery_after_kill_9_does_not_queue_twice()
 {
    let fake = FakeTelegram::start();
    let home = home(&config(&fake, "", ""));
    let mut server = home.serve();
    // The reply hangs, so the command is still being handled when lull is killed.
    fake.hold("sendMessage");
    let update = fake.send_text(ADMIN, ADMIN, "/maintenance restart once only");
    fake.wait_until("the reply being sent", |f| {
        f.calls("sendMessage")
            .iter()
            .any(|c| c.body["chat_id"] == ADMIN)
    });
    assert!(
        fake.highest_offset() <= update,
        "not confirmed to Telegram while it is being handled"
    );
    assert_eq!(home.status_json()["open"].as_array().unwrap().len(), 1);
    server.kill().unwrap();
    server.wait().unwrap();
    fake.release("sendMessage");

    // Telegram delivers the unconfirmed update again to the new process.
    let server = home.serve();
    settle(&fake, ADMIN);
    // Confirmed by the next getUpdates once its whole batch was handled, which may come a
    // moment after the status reply.
    fake.wait_until("the redelivered update confirmed once handled", |f| {
        f.highest_offset() > update
    });
    let open = home.status_json()["open"].clone();
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["requested_by"][0]["count"], 1, "{open}");
    let joined = fake
        .messages_in(ADMIN)
        .into_iter()
        .filter(|m| text(m).starts_with("Joined"))
        .count();
    assert_eq!(joined, 0, "{:#?}", fake.messages_in(ADMIN));
    home.stop(server);
}

/// One HTTP/1.1 POST to the webhook; returns the status code.
fn post(port: u16, secret: Option<&str>, body: &str) -> u16 {
    let header = secret
        .map(|s| format!("X-Telegram-Bot-Api-Secret-Token: {s}\r\n"))
        .unwrap_or_default();
    http(
        port,
        &format!(
            "POST /telegram/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .0
}

#[test]
fn the_webhook_takes_only_posts_with_the_right_secret() {
    let fake = FakeTelegram::start();
    let home = home(&config(
        &fake,
        "",
        "mode = \"webhook\"\nwebhook_listen = \"127.0.0.1:0\"\nwebhook_url = \"https://lull.example.org/telegram/webhook\"",
    ))
    .with_env("TELEGRAM_WEBHOOK_SECRET", "right_secret-0123456789");
    let server = home.serve();
    fake.wait_until("setWebhook", |f| !f.calls("setWebhook").is_empty());
    let registered = fake.calls("setWebhook")[0].body["multipart"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        registered.contains("right_secret-0123456789") && registered.contains("lull.example.org")
    );
    assert!(
        fake.calls("getUpdates").is_empty(),
        "a webhook bot does not poll"
    );
    let port = home.logged_port("Telegram webhook");

    let update = text_update(5001, 9, ADMIN, ADMIN, "/maintenance restart via webhook").to_string();
    assert_eq!(post(port, None, &update), 401, "missing secret");
    assert_eq!(
        post(port, Some("wrong_secret-0123456789"), &update),
        401,
        "wrong secret"
    );
    assert_eq!(
        post(port, Some("right_secret-"), &update),
        401,
        "a prefix of it"
    );
    assert_eq!(
        home.status_json()["open"],
        json!([]),
        "nothing queued by a refused post"
    );
    assert_eq!(
        post(port, Some("right_secret-0123456789"), "{not json"),
        400
    );
    let huge = format!("{{\"update_id\": 1, \"pad\": \"{}\"}}", "x".repeat(1 << 20));
    assert_eq!(post(port, Some("right_secret-0123456789"), &huge), 413);

    // The post is answered only once the update was handled (its reply is held here).
    fake.hold("sendMessage");
    let posting = {
        let update = update.clone();
        std::thread::spawn(move || post(port, Some("right_secret-0123456789"), &update))
    };
    fake.wait_until("the reply being sent", |f| {
        !f.calls("sendMessage").is_empty()
    });
    assert!(
        !posting.is_finished(),
        "answered before the update was handled"
    );
    fake.release("sendMessage");
    assert_eq!(posting.join().unwrap(), 200);
    fake.wait_for_message(ADMIN, "Queued");
    // Telegram retries a post it thinks failed: the same update_id is not applied twice.
    assert_eq!(post(port, Some("right_secret-0123456789"), &update), 200);
    settle_webhook(&fake, port);
    let open = home.status_json()["open"].clone();
    assert_eq!(open[0]["requested_by"][0]["count"], 1, "{open}");
    assert!(fake.calls("deleteWebhook").is_empty());
    home.stop(server);
    assert_eq!(
        fake.calls("deleteWebhook").len(),
        1,
        "the webhook is removed on stop"
    );
}

#[test]
fn a_signed_post_is_answered_while_a_thousand_idle_connections_are_open_and_they_are_closed() {
    use std::io::{Read, Write};
    raise_open_files_limit();
    let fake = FakeTelegram::start();
    let home = home(&config(
        &fake,
        "",
        "mode = \"webhook\"\nwebhook_listen = \"127.0.0.1:0\"\nwebhook_url = \"https://lull.example.org/telegram/webhook\"",
    ))
    .with_env("TELEGRAM_WEBHOOK_SECRET", "right_secret-0123456789");
    let server = home.serve();
    let port = home.logged_port("Telegram webhook");
    // A flood: a thousand connections that send nothing, and one that stops mid-headers.
    let idle: Vec<std::net::TcpStream> = (0..1000)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects"))
        .collect();
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(b"POST /telegram/webhook HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let update =
        text_update(7001, 9, ADMIN, ADMIN, "/maintenance restart during a flood").to_string();
    assert_eq!(post(port, Some("right_secret-0123456789"), &update), 200);
    fake.wait_for_message(ADMIN, "Queued");
    // lull closes what sends nothing (headers are due within 10 s): each read ends, without
    // an answer, well before this bound.
    for mut connection in idle.into_iter().take(3).chain([stalled]) {
        connection
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut answer = Vec::new();
        let read = connection.read_to_end(&mut answer);
        assert!(read.is_ok(), "not closed by lull: {read:?}");
        let answer = String::from_utf8_lossy(&answer);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    home.stop(server);
}

/// Lets this test process hold a thousand connections where the soft limit is lower.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < 4096 {
            limit.rlim_cur = limit.rlim_max.min(4096);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// The webhook counterpart of [`settle`]: a later status from the same chat is answered after
/// the updates before it.
fn settle_webhook(fake: &FakeTelegram, port: u16) {
    let before = fake.messages_in(ADMIN).len();
    let status = text_update(5002, 10, ADMIN, ADMIN, "/maintenance status").to_string();
    assert_eq!(post(port, Some("right_secret-0123456789"), &status), 200);
    fake.wait_until("the status reply", |f| f.messages_in(ADMIN).len() > before);
}

#[test]
fn a_success_notice_reaches_the_requesters_chat_and_the_notify_chat_once_each() {
    let fake = FakeTelegram::start();
    let home = home(&config(&fake, "", ""));
    let server = home.serve();
    fake.send_text(ADMIN, ADMIN, "/maintenance restart --idle-seconds 0");
    fake.wait_for_message(ADMIN, "Queued");
    // The gateway reports in; the restart may run.
    let response = home.call("POST", "/v1/heartbeat", Some(json!({"source": "gateway"})));
    assert_eq!(response.status, 200, "{}", response.body);
    fake.wait_for_message(ADMIN, "succeeded");
    fake.wait_for_message(NOTIFY, "succeeded");
    assert_eq!(home.marker_lines().len(), 1);
    home.stop(server);
    for chat in [ADMIN, NOTIFY] {
        let succeeded = fake
            .messages_in(chat)
            .into_iter()
            .filter(|m| text(m).contains("succeeded"))
            .count();
        assert_eq!(succeeded, 1, "chat {chat}: {:#?}", fake.messages_in(chat));
    }
    let starting = fake
        .messages_in(ADMIN)
        .into_iter()
        .filter(|m| text(m).to_lowercase().contains("starting"))
        .count();
    assert_eq!(starting, 1, "{:#?}", fake.messages_in(ADMIN));
}

#[test]
fn a_rate_limited_notice_waits_as_told_then_is_delivered_once() {
    let fake = FakeTelegram::start();
    let home = home(&config(&fake, "", ""));
    let server = home.serve();
    fake.wait_until("lull polling", |f| !f.calls("getUpdates").is_empty());
    fake.fail_next(
        "sendMessage",
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
    );
    let out = home.lull(&["restart", "--reason", "from the cli"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let notice = fake.wait_for_message(NOTIFY, "queued");
    assert!(text(&notice).contains("from the cli"), "{notice}");
    let attempts = fake.calls("sendMessage");
    assert_eq!(attempts.len(), 2, "one refused, one accepted");
    assert!(
        attempts[1].at.duration_since(attempts[0].at) >= Duration::from_secs(1),
        "retry_after honoured"
    );
    home.stop(server);
    assert_eq!(fake.messages_in(NOTIFY).len(), 1);
}

#[test]
fn a_notice_pending_while_lull_restarts_is_delivered_after() {
    let fake = FakeTelegram::start();
    let home = home(&config(&fake, "", ""));
    let server = home.serve();
    fake.wait_until("lull polling", |f| !f.calls("getUpdates").is_empty());
    // The Bot API answers garbage (a proxy's error page, say) until it is healed.
    fake.fail_always("sendMessage", 200, json!("<html>bad gateway</html>"));
    let out = home.lull(&["restart", "--reason", "survives a restart"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fake.wait_until("a failed attempt", |f| !f.calls("sendMessage").is_empty());
    home.stop(server);
    assert!(fake.messages_in(NOTIFY).is_empty());

    fake.heal("sendMessage");
    let server = home.serve();
    let notice = fake.wait_for_message(NOTIFY, "survives a restart");
    assert!(text(&notice).contains("queued"));
    home.stop(server);
    assert_eq!(fake.messages_in(NOTIFY).len(), 1);
}

#[test]
fn a_refused_token_stops_serve_with_a_clear_message() {
    let fake = FakeTelegram::start();
    let home = Home::new(&config(&fake, "", "")).with_env("TELEGRAM_BOT_TOKEN", "1:wrong");
    let out = home.lull(&["serve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Telegram refused the bot token"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("1:wrong"),
        "the token is not printed: {stderr}"
    );
}

#[test]
fn an_escalation_prompt_offers_keep_waiting_and_cancel() {
    let fake = FakeTelegram::start();
    let home = home(&config(&fake, "max_wait_seconds = 1", ""));
    let server = home.serve();
    fake.send_text(ADMIN, ADMIN, "/maintenance restart blocked for good");
    fake.wait_for_message(ADMIN, "Queued");
    // No activity source ever reports, so after max_wait_seconds the admins are asked.
    let prompt = fake.wait_for_message(NOTIFY, "Keep waiting or cancel?");
    assert!(text(&prompt).contains("no_activity_source"), "{prompt}");
    let buttons = prompt["reply_markup"]["inline_keyboard"][0].clone();
    let labels: Vec<&str> = buttons
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["text"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Keep waiting", "Cancel"]);
    let prompt_id = prompt["message_id"].as_i64().unwrap();

    fake.click(
        ADMIN,
        prompt_id,
        buttons[0]["callback_data"].as_str().unwrap(),
    );
    fake.wait_until("the kept prompt", |f| f.calls("editMessageText").len() == 1);
    let kept = text(&fake.calls("editMessageText")[0].body).to_owned();
    assert!(
        kept.contains("Still waiting") && kept.contains("@user42"),
        "{kept}"
    );
    assert_eq!(home.status_json()["open"][0]["state"], "queued");

    fake.click(
        ADMIN,
        prompt_id,
        buttons[1]["callback_data"].as_str().unwrap(),
    );
    fake.wait_until("the cancelled prompt", |f| {
        f.calls("editMessageText").len() == 2
    });
    assert_eq!(home.status_json()["open"], json!([]));
    fake.wait_for_message(ADMIN, "was cancelled");
    home.stop(server);
}

#[test]
fn a_bot_api_that_cannot_be_reached_at_start_is_waited_for() {
    let fake = FakeTelegram::start();
    // A proxy's error page instead of the Bot API's answer, once.
    fake.fail_next("getMe", 200, json!("<html>bad gateway</html>"));
    let home = home(&config(&fake, "", ""));
    let server = home.serve();
    fake.send_text(ADMIN, ADMIN, "/maintenance status");
    fake.wait_for_message(ADMIN, "nothing is waiting");
    assert!(fake.calls("getMe").len() >= 2, "getMe was tried again");
    home.stop(server);
}

#[test]
fn an_answer_lull_cannot_read_is_logged_as_such_naming_the_field_not_as_unreachable() {
    let fake = FakeTelegram::start();
    // A Bot API look-alike whose getMe lacks a field lull needs, once.
    fake.fail_next(
        "getMe",
        200,
        json!({"ok": true, "result": {"id": 1, "is_bot": true}}),
    );
    let home = home(&config(&fake, "", ""));
    let server = home.serve();
    fake.send_text(ADMIN, ADMIN, "/maintenance status");
    fake.wait_for_message(ADMIN, "nothing is waiting");
    let log = home.server_log();
    assert!(
        log.contains("the platform answered something lull cannot read")
            && log.contains("getMe: result: missing field")
            && log.contains("check api_url"),
        "{log}"
    );
    assert!(!log.contains("cannot reach the platform"), "{log}");
    assert!(!log.contains(TOKEN), "the token is not logged");
    home.stop(server);
}

#[test]
fn kill_9_at_random_moments_loses_no_command_and_applies_none_twice() {
    const ASKERS: i64 = 120;
    const KILLS: usize = 12;
    let fake = FakeTelegram::start();
    let admins: Vec<String> = (1000..1000 + ASKERS).map(|id| id.to_string()).collect();
    let config = config(&fake, "", "").replace(
        &format!("admins = [{ADMIN}]"),
        &format!("admins = [{ADMIN}, {}]", admins.join(", ")),
    );
    let home = home(&config);
    let mut next = 1000;
    let mut last_update = 0;
    for _ in 0..KILLS {
        let mut server = home.serve();
        // A burst of asks, each from a different admin in their own chat, and a kill somewhere
        // in the middle of handling them.
        for _ in 0..ASKERS / KILLS as i64 {
            last_update = fake.send_text(next, next, "/maintenance restart");
            next += 1;
        }
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..150)));
        server.kill().unwrap();
        server.wait().unwrap();
    }
    let server = home.serve();
    fake.wait_until("every update handled and confirmed", |f| {
        f.highest_offset() > last_update
    });
    settle(&fake, ADMIN);
    let open = home.status_json()["open"].clone();
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    assert_eq!(open[0]["unlisted_requesters"], ASKERS - 32, "{open}");
    let applied = home.asks_applied();
    let mut ids: Vec<i64> = applied.keys().map(|id| id.parse().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (1000..next).collect::<Vec<_>>(), "no command lost");
    assert!(
        applied.values().all(|count| *count == 1),
        "no command applied twice: {applied:#?}"
    );
    home.stop(server);
}
