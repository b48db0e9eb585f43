//! The Slack adapter end to end: the real `lull serve` binary, running real slack-morphism
//! against a fake Slack on 127.0.0.1 (tests/common/fake_slack.rs) — its Web API and a Socket
//! Mode websocket, and requests signed with a test secret posted to lull's HTTP request URLs.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::fake_slack::{
    APP_TOKEN, BOT_TOKEN, FakeSlack, SIGNING_SECRET, click_payload, command_fields, command_form,
    form, message_event, sign,
};
use common::{Home, MARKER_CONFIG, http, try_http};
use serde_json::{Value, json};

const ADMIN: &str = "U0ADMIN";
const STRANGER: &str = "U0EVE";
const AGENT_USER: &str = "U0AGENT";
const AGENT_BOT: &str = "B0AGENT";
const OTHER_BOT: &str = "U0OTHER";
const CHANNEL: &str = "C0OPS";
const NOTIFY: &str = "C0NOTIFY";

fn config(fake: &FakeSlack, extra_maintenance: &str, extra_slack: &str) -> String {
    MARKER_CONFIG.replace(
        "[maintenance]\n",
        &format!("[maintenance]\n{extra_maintenance}\n"),
    ) + &format!(
        "[slack]\napi_url = \"{}\"\nadmins = [\"{ADMIN}\"]\nagents = [\"{AGENT_USER}\"]\nnotify_channel = \"{NOTIFY}\"\n{extra_slack}\n",
        fake.api_url()
    )
}

fn home(config: &str) -> Home {
    Home::new(config)
        .with_env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .with_env("SLACK_APP_TOKEN", APP_TOKEN)
        .with_env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
}

/// Sends `/maintenance <text>` from `user` over Socket Mode; the acknowledgement's payload.
fn command(fake: &FakeSlack, user: &str, text: &str) -> Value {
    let envelope = fake.next_id("env-");
    let fields = command_fields(
        user,
        CHANNEL,
        text,
        &fake.next_id("trigger-"),
        &fake.response_url(),
    );
    fake.push_envelope(json!({
        "envelope_id": envelope, "type": "slash_commands", "accepts_response_payload": true,
        "payload": fields,
    }));
    fake.wait_until("the command's acknowledgement", |f| {
        f.ack(&envelope).is_some()
    });
    fake.ack(&envelope).unwrap()
}

fn text(response: &Value) -> String {
    response["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn socket_mode_answers_in_the_acknowledgement_and_refuses_strangers() {
    let fake = FakeSlack::start();
    let home = home(&config(&fake, "", ""));
    let server = home.serve();
    fake.wait_until("the Socket Mode connection", |f| f.sockets_open() > 0);

    let refused = command(&fake, STRANGER, "restart please");
    assert_eq!(refused["response_type"], "ephemeral", "{refused}");
    assert!(text(&refused).contains("not allowed"), "{refused}");
    assert!(home.open_requests().is_empty(), "nothing queued");

    let queued = command(&fake, ADMIN, "restart installed a tool");
    assert_eq!(queued["response_type"], "in_channel", "{queued}");
    let short_id = home.open_requests()[0]["short_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text(&queued).contains(&short_id), "{queued}");

    let status = command(&fake, ADMIN, "status");
    let status = text(&status);
    assert!(
        status.contains(&short_id) && status.contains("no activity source has reported"),
        "{status}"
    );

    let bad = command(&fake, ADMIN, "pause --for soon");
    assert_eq!(bad["response_type"], "ephemeral");
    assert!(text(&bad).contains("--for"), "{bad}");
    home.stop(server);
    let refused: Vec<_> = home
        .audit()
        .into_iter()
        .filter(|e| e.action == "refused")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(refused[0].actor.contains(STRANGER), "{refused:#?}");
}

#[test]
fn an_agents_message_queues_for_approval_and_clicks_are_authorized_again() {
    let fake = FakeSlack::start();
    let home = home(&config(&fake, "agent_requests = \"approve\"", ""));
    let server = home.serve();
    fake.wait_until("the Socket Mode connection", |f| f.sockets_open() > 0);

    // Another bot's /maintenance is ignored; the agent's is the text form, handled once even
    // when Slack sends the event again.
    let other = fake.next_id("Ev");
    fake.push_envelope(json!({
        "envelope_id": fake.next_id("env-"), "type": "events_api", "accepts_response_payload": false,
        "payload": message_event(&other, OTHER_BOT, Some("B0OTHER"), CHANNEL, "/maintenance restart mine"),
    }));
    let event = fake.next_id("Ev");
    let payload = message_event(
        &event,
        AGENT_USER,
        Some(AGENT_BOT),
        CHANNEL,
        "/maintenance restart installed a tool",
    );
    for _ in 0..2 {
        let envelope = fake.next_id("env-");
        fake.push_envelope(json!({
            "envelope_id": envelope, "type": "events_api", "accepts_response_payload": false,
            "payload": payload, "retry_attempt": 1, "retry_reason": "timeout",
        }));
        fake.wait_until("the event's acknowledgement", |f| {
            f.ack(&envelope).is_some()
        });
    }
    let answers = fake.posted_in(CHANNEL);
    assert_eq!(answers.len(), 1, "answered once: {answers:#?}");
    assert!(
        answers[0]["text"].as_str().unwrap().contains("approval"),
        "{answers:#?}"
    );
    assert_eq!(answers[0]["thread_ts"], "1700000002.000100");
    let open_now = home.open_requests();
    let requesters = open_now[0]["requested_by"].as_array().unwrap();
    assert_eq!(requesters.len(), 1, "{requesters:?}");
    assert_eq!(requesters[0]["user_id"], AGENT_USER);
    assert_eq!(requesters[0]["role"], "agent");
    assert_eq!(requesters[0]["count"], 1);
    assert_eq!(open_now[0]["state"], "awaiting_approval");

    // The prompt in the notify channel, with buttons.
    fake.wait_until("the approval prompt", |f| {
        f.posted_in(NOTIFY)
            .iter()
            .any(|m| m["blocks"].as_array().is_some_and(|b| b.len() > 1))
    });
    let prompt = fake
        .posted_in(NOTIFY)
        .into_iter()
        .find(|m| m["blocks"].as_array().is_some_and(|b| b.len() > 1))
        .unwrap();
    let approve = prompt["blocks"][1]["elements"][0]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(approve.starts_with("lull:a:"), "{prompt}");
    let message = json!({"ts": "1700000003.000001", "text": prompt["text"], "blocks": prompt["blocks"], "user": "U0LULL"});

    // A stranger's click: told privately, the prompt stays.
    let refused_url = fake.response_url();
    let envelope = fake.next_id("env-");
    fake.push_envelope(json!({
        "envelope_id": envelope, "type": "interactive", "accepts_response_payload": false,
        "payload": click_payload(STRANGER, NOTIFY, &message, &approve, &fake.next_id("trigger-"), &refused_url),
    }));
    fake.wait_until("the click's acknowledgement", |f| {
        f.ack(&envelope).is_some()
    });
    let refusal = fake.responses_to(&refused_url);
    assert_eq!(refusal.len(), 1, "{refusal:?}");
    assert_eq!(refusal[0]["response_type"], "ephemeral");
    assert_eq!(refusal[0]["replace_original"], false);
    assert_eq!(home.open_requests()[0]["state"], "awaiting_approval");

    // An admin's click: the prompt replaced by its text and the outcome, without buttons.
    let taken_url = fake.response_url();
    let envelope = fake.next_id("env-");
    fake.push_envelope(json!({
        "envelope_id": envelope, "type": "interactive", "accepts_response_payload": false,
        "payload": click_payload(ADMIN, NOTIFY, &message, &approve, &fake.next_id("trigger-"), &taken_url),
    }));
    fake.wait_until("the click's acknowledgement", |f| {
        f.ack(&envelope).is_some()
    });
    let taken = fake.responses_to(&taken_url);
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0]["replace_original"], true);
    assert_eq!(
        taken[0]["blocks"].as_array().unwrap().len(),
        1,
        "no buttons: {}",
        taken[0]
    );
    let replaced = text(&taken[0]);
    assert!(
        replaced.starts_with(prompt["blocks"][0]["text"]["text"].as_str().unwrap()),
        "{replaced}"
    );
    assert!(
        replaced.contains(&format!("<@{ADMIN}>")),
        "the clicker as a mention: {replaced}"
    );
    assert_eq!(home.open_requests()[0]["state"], "queued");
    home.stop(server);
}

#[test]
fn a_notice_reaches_the_notify_channel_once_after_a_rate_limit() {
    let fake = FakeSlack::start();
    let home = home(&config(&fake, "", ""));
    fake.fail_next(
        "chat.postMessage",
        429,
        json!({"ok": false, "error": "ratelimited"}),
        Some(2),
    );
    let server = home.serve();
    fake.wait_until("the Socket Mode connection", |f| f.sockets_open() > 0);
    command(&fake, ADMIN, "restart notice me");
    fake.wait_until("the notice after the 429", |f| {
        f.posted_in(NOTIFY).len() >= 2
    });
    let posts: Vec<_> = fake
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.body["channel"] == NOTIFY)
        .collect();
    assert!(
        posts[1].at.duration_since(posts[0].at) >= Duration::from_secs(2),
        "Retry-After honoured"
    );
    let short_id = home.open_requests()[0]["short_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(posts[1].body["text"].as_str().unwrap().contains(&short_id));
    command(&fake, ADMIN, "status");
    assert_eq!(fake.posted_in(NOTIFY).len(), 2, "delivered once");
    home.stop(server);
}

fn http_config(fake: &FakeSlack) -> String {
    config(fake, "", "mode = \"http\"\nlisten = \"127.0.0.1:0\"")
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The request Slack would post to `path`: `body`, signed (or not) as given.
fn request(
    path: &str,
    content_type: &str,
    body: &str,
    signature: Option<(String, String)>,
    extra: &str,
) -> String {
    let headers = signature
        .map(|(sig, ts)| format!("X-Slack-Signature: {sig}\r\nX-Slack-Request-Timestamp: {ts}\r\n"))
        .unwrap_or_default();
    common::post_request(path, content_type, &format!("{headers}{extra}"), body)
}

const FORM: &str = "application/x-www-form-urlencoded";

#[test]
fn http_requests_are_checked_before_parsing_and_a_retried_event_is_handled_once() {
    let fake = FakeSlack::start();
    let home = home(&http_config(&fake));
    let server = home.serve();
    let port = home.logged_port("Slack HTTP");

    let check = json!({"type": "url_verification", "token": "t", "challenge": "c-123"}).to_string();
    let (status, answer) = http(
        port,
        &request(
            "/slack/events",
            "application/json",
            &check,
            Some(sign(&check, now())),
            "",
        ),
    );
    assert_eq!(
        (status, common::json_body(&answer)),
        (200, json!({"challenge": "c-123"}))
    );

    let restart = command_form(&command_fields(
        ADMIN,
        CHANNEL,
        "restart signed",
        &fake.next_id("trigger-"),
        &fake.response_url(),
    ));
    let (forged, ts) = sign(&restart.replace("signed", "forged"), now());
    for (signature, why) in [
        (None, "missing headers"),
        (Some((forged, ts)), "forged"),
        (Some(sign(&restart, now() - 600)), "stale"),
    ] {
        let (status, _) = http(
            port,
            &request("/slack/commands", FORM, &restart, signature, ""),
        );
        assert_eq!(status, 401, "{why}");
    }
    assert!(home.open_requests().is_empty(), "nothing changed");

    let (status, answer) = http(
        port,
        &request(
            "/slack/commands",
            FORM,
            &restart,
            Some(sign(&restart, now())),
            "",
        ),
    );
    assert_eq!(status, 200);
    let answer = common::json_body(&answer);
    assert_eq!(answer["response_type"], "in_channel", "{answer}");
    let short_id = home.open_requests()[0]["short_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text(&answer).contains(&short_id), "{answer}");

    // An agent's message event, then Slack's retry of it (same event_id): handled once.
    let event = message_event(
        &fake.next_id("Ev"),
        AGENT_USER,
        Some(AGENT_BOT),
        CHANNEL,
        "/maintenance restart from the agent",
    )
    .to_string();
    for retry in [
        "",
        "X-Slack-Retry-Num: 1\r\nX-Slack-Retry-Reason: http_timeout\r\n",
    ] {
        let (status, _) = http(
            port,
            &request(
                "/slack/events",
                "application/json",
                &event,
                Some(sign(&event, now())),
                retry,
            ),
        );
        assert_eq!(status, 200);
    }
    let requesters = home.open_requests()[0]["requested_by"].clone();
    assert_eq!(requesters.as_array().unwrap().len(), 2, "{requesters}");
    assert_eq!(requesters[1]["count"], 1, "{requesters}");
    assert_eq!(fake.posted_in(CHANNEL).len(), 1, "one answer to the agent");

    // A click posted as a form with a payload: a stranger's is refused privately.
    let click_url = fake.response_url();
    let message = json!({"ts": "1.1", "text": "x", "user": "U0LULL"});
    let click = form(&[(
        "payload",
        &click_payload(
            STRANGER,
            CHANNEL,
            &message,
            &format!("lull:c:{short_id}"),
            "trig-c",
            &click_url,
        )
        .to_string(),
    )]);
    let (status, _) = http(
        port,
        &request(
            "/slack/interactions",
            FORM,
            &click,
            Some(sign(&click, now())),
            "",
        ),
    );
    assert_eq!(status, 200);
    assert_eq!(
        home.open_requests().len(),
        1,
        "a stranger's click changes nothing"
    );
    fake.wait_until("the refusal", |f| !f.responses_to(&click_url).is_empty());
    let refusal = &fake.responses_to(&click_url)[0];
    assert_eq!(refusal["response_type"], "ephemeral", "{refusal}");
    assert!(text(refusal).contains("not allowed"), "{refusal}");
    home.stop(server);
}

#[test]
fn kill_9_during_a_stream_of_commands_and_events_applies_every_acknowledged_one_exactly_once() {
    const ASKERS: usize = 120;
    const KILLS: usize = 6;
    let fake = FakeSlack::start();
    // Even askers are admins typing the slash command; odd ones agents posting the text form
    // (an Events API message event, which Slack delivers again until it is acknowledged).
    let askers: Vec<String> = (0..ASKERS)
        .map(|i| {
            if i % 2 == 0 {
                format!("U0ASK{i:03}")
            } else {
                format!("U0AGT{i:03}")
            }
        })
        .collect();
    let quoted = |odd: usize| -> String {
        askers
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == odd)
            .map(|(_, a)| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let config = http_config(&fake)
        .replace(
            &format!("admins = [\"{ADMIN}\"]"),
            &format!("admins = [\"{ADMIN}\", {}]", quoted(0)),
        )
        .replace(
            &format!("agents = [\"{AGENT_USER}\"]"),
            &format!("agents = [\"{AGENT_USER}\", {}]", quoted(1)),
        );
    let home = home(&config);
    // (asker, path, content type, body)
    let posts: Vec<(String, &'static str, &'static str, String)> = askers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i % 2 == 0 {
                let fields = command_fields(
                    a,
                    CHANNEL,
                    "restart",
                    &fake.next_id("trigger-"),
                    &fake.response_url(),
                );
                (a.clone(), "/slack/commands", FORM, command_form(&fields))
            } else {
                let event = message_event(
                    &fake.next_id("Ev"),
                    a,
                    Some("B0AGT"),
                    CHANNEL,
                    "/maintenance restart",
                );
                (
                    a.clone(),
                    "/slack/events",
                    "application/json",
                    event.to_string(),
                )
            }
        })
        .collect();
    let mut acknowledged = BTreeSet::new();
    for round in 0..KILLS {
        let earlier = home.logged_ports("Slack HTTP").len();
        let mut server = home.serve();
        let port = home.logged_port_after("Slack HTTP", earlier);
        let batch: Vec<_> = posts
            .iter()
            .skip(round * ASKERS / KILLS)
            .take(ASKERS / KILLS)
            .cloned()
            .collect();
        let answered = Arc::new(AtomicUsize::new(0));
        let counting = answered.clone();
        let posting = std::thread::spawn(move || {
            std::thread::scope(|scope| {
                let sent: Vec<_> = batch
                    .iter()
                    .map(|(asker, path, content_type, body)| {
                        let answered = &counting;
                        scope.spawn(move || {
                            let request =
                                request(path, content_type, body, Some(sign(body, now())), "");
                            let answer = try_http(port, &request)?;
                            answered.fetch_add(1, Ordering::SeqCst);
                            // A command is acknowledged by its answer, an event by its 200.
                            let taken = answer.starts_with("HTTP/1.1 200")
                                && (*path == "/slack/events"
                                    || common::json_body(&answer)["response_type"] == "in_channel");
                            taken.then(|| asker.clone())
                        })
                    })
                    .collect();
                sent.into_iter()
                    .filter_map(|p| p.join().unwrap())
                    .collect::<Vec<String>>()
            })
        });
        common::wait_for("a first answer", Duration::from_secs(30), || {
            answered.load(Ordering::SeqCst) > 0
        });
        std::thread::sleep(Duration::from_millis(fastrand::u64(0..20)));
        server.kill().unwrap();
        server.wait().unwrap();
        acknowledged.extend(posting.join().unwrap());
    }
    assert!(
        acknowledged.iter().any(|a| a.starts_with("U0ASK")),
        "{acknowledged:?}"
    );
    assert!(
        acknowledged.iter().any(|a| a.starts_with("U0AGT")),
        "{acknowledged:?}"
    );

    let earlier = home.logged_ports("Slack HTTP").len();
    let server = home.serve();
    let port = home.logged_port_after("Slack HTTP", earlier);
    let requesters =
        |home: &Home| -> Vec<(String, u64)> { home.asks_applied().into_iter().collect() };
    let applied = requesters(&home);
    assert!(
        applied.iter().all(|(_, c)| *c == 1),
        "applied twice: {applied:?}"
    );
    let applied_ids: BTreeSet<String> = applied.iter().map(|(id, _)| id.clone()).collect();
    assert!(
        acknowledged.is_subset(&applied_ids),
        "acknowledged but lost: {:?}",
        acknowledged.difference(&applied_ids).collect::<Vec<_>>()
    );

    // Everything delivered again (Slack retries events it did not see acknowledged): none
    // applied twice, and every one applied in the end.
    for (_, path, content_type, body) in &posts {
        let (status, _) = http(
            port,
            &request(path, content_type, body, Some(sign(body, now())), ""),
        );
        assert_eq!(status, 200);
    }
    let after = requesters(&home);
    assert_eq!(after.len(), ASKERS, "{after:?}");
    assert!(
        after.iter().all(|(_, c)| *c == 1),
        "applied twice: {after:?}"
    );
    home.stop(server);
}

/// `lull serve` stops when Slack refuses `method` with `invalid_auth`, saying `said` and never
/// showing `token`.
fn serve_stops_when_refused(method: &str, said: &str, token: &str) {
    let fake = FakeSlack::start();
    fake.fail_next(
        method,
        200,
        json!({"ok": false, "error": "invalid_auth"}),
        None,
    );
    let home = home(&config(&fake, "", ""));
    let out = home.lull(&["serve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(said), "{stderr}");
    assert!(!stderr.contains(token), "{stderr}");
}

#[test]
fn a_refused_token_stops_serve_with_a_clear_message() {
    serve_stops_when_refused(
        "auth.test",
        "Slack refused the bot token (invalid_auth)",
        BOT_TOKEN,
    );
}

#[test]
fn a_late_answer_is_acknowledged_as_working_then_sent_through_the_response_url() {
    use lull_adapters::slack::handler::{WORKING, answer_in_time};
    use lull_plugin::Reply;

    let fake = FakeSlack::start();
    let client = std::sync::Arc::new(
        lull_adapters::slack::send::client(&fake.api_url().parse().unwrap()).unwrap(),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = fake.response_url();
    let response_url = slack_morphism::prelude::SlackResponseUrl::new(url.parse().unwrap());
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let tasks = tokio_util::task::TaskTracker::new();
    let acknowledgement =
        runtime.block_on(answer_in_time(client, &tasks, response_url, async move {
            let _ = released.await;
            Reply::markdown("*Queued* r7k2")
        }));
    let acknowledgement = serde_json::to_value(acknowledgement).unwrap();
    assert_eq!(acknowledgement["response_type"], "ephemeral");
    assert_eq!(acknowledgement["text"], WORKING);
    assert!(fake.responses_to(&url).is_empty(), "nothing yet");
    release.send(()).unwrap();
    fake.wait_until("the late answer", |f| !f.responses_to(&url).is_empty());
    let late = &fake.responses_to(&url)[0];
    assert_eq!(late["response_type"], "in_channel", "{late}");
    assert_eq!(late["replace_original"], false);
    assert_eq!(text(late), "*Queued* r7k2");
}

#[test]
fn a_refused_app_token_stops_serve_with_a_clear_message() {
    serve_stops_when_refused(
        "apps.connections.open",
        "Slack refused the app-level token (invalid_auth)",
        APP_TOKEN,
    );
}
