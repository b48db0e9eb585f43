//! The Discord adapter end to end: the real `lull serve` binary, running real serenity against a
//! fake Discord on 127.0.0.1 (tests/common/fake_discord.rs) — its gateway websocket and REST in
//! gateway mode, and signed posts to lull's interactions endpoint in interactions mode.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::fake_discord::{
    FakeDiscord, Opening, TOKEN, Who, autocomplete_json, click_json, command_json, now, public_key,
    sign, user_json,
};
use common::{Home, MARKER_CONFIG, http};
use serde_json::{Value, json};

const ADMIN: Who<'static> = Who {
    id: 111_000_000_000_000_001,
    name: "alice",
    roles: &[],
};
const MODERATOR: Who<'static> = Who {
    id: 111_000_000_000_000_002,
    name: "mo",
    roles: &[ADMIN_ROLE],
};
const STRANGER: Who<'static> = Who {
    id: 111_000_000_000_000_003,
    name: "eve",
    roles: &[555],
};
const ADMIN_ROLE: u64 = 222_000_000_000_000_001;
const AGENT_BOT: u64 = 333_000_000_000_000_001;
const OTHER_BOT: u64 = 333_000_000_000_000_002;
const CHANNEL: u64 = 444_000_000_000_000_001;
const NOTIFY: u64 = 444_000_000_000_000_009;

fn config(fake: &FakeDiscord, extra_maintenance: &str, extra_discord: &str) -> String {
    MARKER_CONFIG.replace(
        "[maintenance]\n",
        &format!("[maintenance]\n{extra_maintenance}\n"),
    ) + &format!(
        "[discord]\napi_url = \"{}\"\napplication_id = \"{}\"\nadmins = [\"{}\"]\nadmin_roles = [\"{ADMIN_ROLE}\"]\nagents = [\"{AGENT_BOT}\"]\nnotify_channel_id = \"{NOTIFY}\"\n{extra_discord}\n",
        fake.url(),
        common::fake_discord::APP_ID,
        ADMIN.id,
    )
}

fn home(config: &str) -> Home {
    Home::new(config).with_env("DISCORD_BOT_TOKEN", TOKEN)
}

/// Sends `/maintenance <sub>` through the gateway and waits for its first response.
fn invoke(fake: &FakeDiscord, who: Who<'_>, sub: &str, options: &[(&str, &str)]) -> Value {
    let id = fake.next_id();
    fake.dispatch(
        "INTERACTION_CREATE",
        command_json(id, who, CHANNEL, sub, options),
    );
    fake.wait_for_callback(id)
}

fn content(response: &Value) -> &str {
    response["data"]["content"].as_str().unwrap_or_default()
}

fn ephemeral(response: &Value) -> bool {
    response["data"]["flags"].as_u64().unwrap_or(0) & 64 != 0
}

#[test]
fn the_gateway_registers_the_command_and_answers_admins_by_id_or_role_and_refuses_strangers() {
    let fake = FakeDiscord::start();
    let home = home(&config(&fake, "", ""));
    let server = home.serve();

    fake.wait_until("the command's registration", |f| {
        !f.calls("POST /applications/").is_empty()
    });
    let registration = fake.calls("POST /applications/")[0].clone();
    assert_eq!(
        registration.path,
        format!("/applications/{}/commands", common::fake_discord::APP_ID)
    );
    let body = registration.body;
    assert_eq!(body["name"], "maintenance");
    let subs: Vec<&str> = body["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        subs,
        [
            "status", "restart", "update", "cancel", "approve", "reject", "history", "pause",
            "resume", "release"
        ]
    );
    let restart_options: Vec<&str> = body["options"][1]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(restart_options, ["reason", "idle", "window"]);
    assert_eq!(
        body["options"][3]["options"][0]["autocomplete"], true,
        "cancel's id autocompletes"
    );
    fake.wait_until("the gateway session", |f| !f.identifies().is_empty());
    let intents = fake.identifies()[0]["intents"].as_u64().unwrap();
    assert_ne!(
        intents & (1 << 15),
        0,
        "MESSAGE_CONTENT, for agents' messages: {intents}"
    );

    // A stranger's restart: refused privately, nothing queued.
    let answer = invoke(&fake, STRANGER, "restart", &[("reason", "let me")]);
    assert!(
        ephemeral(&answer) && content(&answer).contains("not allowed"),
        "{answer}"
    );
    assert!(home.open_requests().is_empty());

    // An admin's restart: public, and the answer names the short id.
    let answer = invoke(
        &fake,
        ADMIN,
        "restart",
        &[("reason", "new tool"), ("idle", "20m")],
    );
    assert_eq!(answer["type"], 4, "{answer}");
    assert!(!ephemeral(&answer), "{answer}");
    let open_now = home.open_requests();
    let short_id = open_now[0]["short_id"].as_str().unwrap();
    assert!(content(&answer).contains(short_id), "{answer}");
    assert_eq!(open_now[0]["idle_seconds"], 1200);
    assert_eq!(answer["data"]["allowed_mentions"]["parse"], json!([]));

    // An admin by role.
    let answer = invoke(&fake, MODERATOR, "restart", &[]);
    assert!(!ephemeral(&answer), "{answer}");
    let requesters = home.open_requests()[0]["requested_by"].clone();
    assert_eq!(
        requesters[1]["user_id"],
        MODERATOR.id.to_string(),
        "{requesters}"
    );
    assert_eq!(requesters[1]["role"], "admin", "{requesters}");

    // The same stranger again within the minute: still refused privately, nothing queued, but
    // not audited again (a flood of strangers is answered and audited once a minute each).
    let answer = invoke(&fake, STRANGER, "cancel", &[("id", short_id)]);
    assert!(ephemeral(&answer), "{answer}");
    assert!(
        content(&answer).contains("refused less than a minute ago"),
        "{answer}"
    );
    assert_eq!(home.open_requests().len(), 1);

    // A bad option is the sender's mistake: told privately, with the usage.
    let answer = invoke(&fake, ADMIN, "pause", &[("for", "soon")]);
    assert!(
        ephemeral(&answer) && content(&answer).contains("--for"),
        "{answer}"
    );
    home.stop(server);
    let refused: Vec<_> = home
        .audit()
        .into_iter()
        .filter(|e| e.action == "refused")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(
        refused[0].actor.contains(&STRANGER.id.to_string()),
        "{refused:#?}"
    );
}

#[test]
fn a_reconnect_resumes_where_ready_said_and_a_refused_resume_identifies_at_the_gateway_url() {
    let fake = FakeDiscord::start();
    let home = home(&config(&fake, "", ""));
    let server = home.serve();
    fake.wait_until("the gateway session", |f| !f.identifies().is_empty());
    let answered = |fake: &FakeDiscord| {
        let response = invoke(fake, ADMIN, "status", &[]);
        assert!(content(&response).contains("Queue"), "{response}");
    };
    answered(&fake);
    let gateway = Opening {
        listener: "gateway",
        op: 2,
    };
    let resume = Opening {
        listener: "resume",
        op: 6,
    };
    // Op 7: lull resumes at READY's resume_gateway_url, not where it first connected.
    fake.send_to_session(json!({"op": 7, "d": null}));
    fake.wait_until("a resume", |f| f.openings().len() == 2);
    assert_eq!(fake.openings(), [gateway.clone(), resume.clone()]);
    answered(&fake);
    // A resume Discord refuses (op 9, not resumable): a new session at the gateway URL.
    fake.refuse_resumes(true);
    fake.send_to_session(json!({"op": 7, "d": null}));
    fake.wait_until("a new session", |f| f.identifies().len() == 2);
    assert_eq!(
        fake.openings(),
        [gateway.clone(), resume.clone(), resume, gateway]
    );
    answered(&fake);
    home.stop(server);
}

#[test]
fn autocomplete_suggests_the_open_id_and_a_replayed_interaction_acts_once() {
    let fake = FakeDiscord::start();
    let home = home(&config(&fake, "", ""));
    let server = home.serve();
    fake.wait_until("the gateway session", |f| !f.identifies().is_empty());

    let id = fake.next_id();
    let restart = command_json(id, ADMIN, CHANNEL, "restart", &[("reason", "once")]);
    fake.dispatch("INTERACTION_CREATE", restart.clone());
    fake.wait_for_callback(id);
    let short_id = home.open_requests()[0]["short_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The same interaction again (a replay after a reconnect): nothing changes.
    fake.dispatch("INTERACTION_CREATE", restart);
    fake.wait_until("the replay's answer", |f| {
        f.calls(&format!("POST /interactions/{id}/")).len() == 2
    });
    let replayed = fake.calls(&format!("POST /interactions/{id}/"))[1]
        .body
        .clone();
    assert!(content(&replayed).contains("already handled"), "{replayed}");
    assert_eq!(home.open_requests()[0]["requested_by"][0]["count"], 1);

    let typed = &short_id[..2];
    let id = fake.next_id();
    fake.dispatch(
        "INTERACTION_CREATE",
        autocomplete_json(id, ADMIN, CHANNEL, "cancel", typed),
    );
    let choices = fake.wait_for_callback(id);
    assert_eq!(choices["type"], 8, "{choices}");
    assert_eq!(
        choices["data"]["choices"][0]["value"],
        short_id.as_str(),
        "{choices}"
    );
    // A stranger learns nothing.
    let id = fake.next_id();
    fake.dispatch(
        "INTERACTION_CREATE",
        autocomplete_json(id, STRANGER, CHANNEL, "cancel", ""),
    );
    assert_eq!(fake.wait_for_callback(id)["data"]["choices"], json!([]));
    home.stop(server);
}

#[test]
fn an_agents_message_queues_for_approval_and_the_prompt_is_clicked_by_a_non_admin_then_an_admin() {
    let fake = FakeDiscord::start();
    let home = home(&config(&fake, "agent_requests = \"approve\"", ""));
    let server = home.serve();
    fake.wait_until("the gateway session", |f| !f.identifies().is_empty());

    // Another bot's /maintenance is ignored; the agent's is the text form.
    fake.post_message(
        user_json(OTHER_BOT, "other", true),
        CHANNEL,
        "/maintenance restart mine",
    );
    fake.post_message(
        user_json(AGENT_BOT, "agent", true),
        CHANNEL,
        "/maintenance restart installed a tool",
    );
    fake.wait_until("the agent's answer", |f| !f.messages_in(CHANNEL).is_empty());
    let answer = fake.messages_in(CHANNEL)[0].clone();
    assert!(
        answer["content"].as_str().unwrap().contains("approval"),
        "{answer}"
    );
    assert!(
        answer["message_reference"]["message_id"].is_string(),
        "{answer}"
    );
    let open_now = home.open_requests();
    assert_eq!(open_now.len(), 1);
    let requesters = open_now[0]["requested_by"].as_array().unwrap();
    assert_eq!(
        requesters.len(),
        1,
        "the other bot was ignored: {requesters:?}"
    );
    assert_eq!(requesters[0]["user_id"], AGENT_BOT.to_string());
    assert_eq!(requesters[0]["role"], "agent");
    assert_eq!(open_now[0]["state"], "awaiting_approval");

    // The prompt in the notify channel, with buttons.
    fake.wait_until("the approval prompt", |f| {
        f.messages_in(NOTIFY)
            .iter()
            .any(|m| m["components"].as_array().is_some_and(|c| !c.is_empty()))
    });
    let prompt_body = fake
        .messages_in(NOTIFY)
        .into_iter()
        .find(|m| m["components"].as_array().is_some_and(|c| !c.is_empty()))
        .unwrap();
    let buttons = prompt_body["components"][0]["components"].clone();
    let approve = buttons[0]["custom_id"].as_str().unwrap().to_owned();
    assert!(approve.starts_with("lull:a:"), "{buttons}");
    let prompt = common::fake_discord::message_json(
        fake.next_id(),
        NOTIFY,
        user_json(common::fake_discord::APP_ID, "lull_test", true),
        prompt_body["content"].as_str().unwrap(),
        prompt_body["components"].clone(),
    );

    // A non-admin's click: refused privately, the prompt keeps its buttons.
    let id = fake.next_id();
    fake.dispatch(
        "INTERACTION_CREATE",
        click_json(id, STRANGER, &prompt, &approve),
    );
    let refused = fake.wait_for_callback(id);
    assert_eq!(refused["type"], 4, "{refused}");
    assert!(ephemeral(&refused), "{refused}");
    assert_eq!(home.open_requests()[0]["state"], "awaiting_approval");

    // An admin's click: the prompt is replaced by its text and the outcome, without buttons.
    let id = fake.next_id();
    fake.dispatch(
        "INTERACTION_CREATE",
        click_json(id, ADMIN, &prompt, &approve),
    );
    let taken = fake.wait_for_callback(id);
    assert_eq!(taken["type"], 7, "{taken}");
    assert_eq!(taken["data"]["components"], json!([]));
    let text = content(&taken);
    assert!(
        text.starts_with(prompt_body["content"].as_str().unwrap()),
        "{text}"
    );
    assert!(text.contains("@alice"), "{text}");
    assert_eq!(home.open_requests()[0]["state"], "queued");
    home.stop(server);
}

#[test]
fn a_notice_refused_with_429_is_delivered_once_after_waiting() {
    let fake = FakeDiscord::start();
    let home = home(&config(&fake, "", ""));
    fake.fail_next(
        &format!("POST /channels/{NOTIFY}/messages"),
        429,
        json!({"message": "You are being rate limited.", "retry_after": 0.2, "global": false}),
    );
    let server = home.serve();
    fake.wait_until("the gateway session", |f| !f.identifies().is_empty());
    invoke(&fake, ADMIN, "restart", &[("reason", "notice me")]);
    fake.wait_until("the notice, after the 429", |f| {
        f.messages_in(NOTIFY).len() >= 2
    });
    let posts = fake.calls(&format!("POST /channels/{NOTIFY}/messages"));
    // With an api_url other than Discord's, serenity does not pass the 429's wait on: lull
    // waits its fixed second (against Discord, serenity's limiter waits what Discord asks).
    assert!(
        posts[1].at.duration_since(posts[0].at) >= Duration::from_millis(900),
        "waited after the 429"
    );
    let short_id = home.open_requests()[0]["short_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        posts[1].body["content"]
            .as_str()
            .unwrap()
            .contains(&short_id),
        "{:?}",
        posts[1].body
    );
    // Once: nothing more arrives for it (a status round trip lets the outbox run again).
    invoke(&fake, ADMIN, "status", &[]);
    let notices = fake.messages_in(NOTIFY);
    assert_eq!(
        notices.len(),
        2,
        "the refused attempt and the one delivery: {notices:#?}"
    );
    home.stop(server);
}

/// The request Discord would post: `body`, signed (or not) as given.
fn signed_request(body: &str, signature: Option<(String, String)>) -> String {
    let headers = signature
        .map(|(sig, ts)| format!("X-Signature-Ed25519: {sig}\r\nX-Signature-Timestamp: {ts}\r\n"))
        .unwrap_or_default();
    common::post_request("/discord/interactions", "application/json", &headers, body)
}

/// Posts `body` to lull's interactions endpoint, signed (or not) as given; the status and body.
fn post(port: u16, body: &str, signature: Option<(String, String)>) -> (u16, Value) {
    let (status, answer) = http(port, &signed_request(body, signature));
    (status, common::json_body(&answer))
}

fn interactions_config(fake: &FakeDiscord) -> String {
    config(
        fake,
        "",
        &format!(
            "mode = \"interactions\"\ninteractions_listen = \"127.0.0.1:0\"\npublic_key = \"{}\"\nguild_id = \"{}\"",
            public_key(),
            common::fake_discord::GUILD
        ),
    )
}

#[test]
fn the_endpoint_answers_only_signed_posts_and_pings() {
    let fake = FakeDiscord::start();
    let home = home(&interactions_config(&fake));
    let server = home.serve();
    let port = home.logged_port("Discord interactions");
    // With guild_id, the command is created in that guild only.
    fake.wait_until("the registration", |f| {
        !f.calls("POST /applications/").is_empty()
    });
    assert_eq!(
        fake.calls("POST /applications/")[0].path,
        format!(
            "/applications/{}/guilds/{}/commands",
            common::fake_discord::APP_ID,
            common::fake_discord::GUILD
        )
    );

    let ping = json!({"id": "1", "application_id": common::fake_discord::APP_ID.to_string(), "type": 1, "token": "t", "version": 1}).to_string();
    let (status, answer) = post(port, &ping, Some(sign(&ping, now())));
    assert_eq!((status, answer), (200, json!({"type": 1})));

    let restart = command_json(
        fake.next_id(),
        ADMIN,
        CHANNEL,
        "restart",
        &[("reason", "signed")],
    )
    .to_string();
    // Missing, forged and stale signatures: 401, nothing changes.
    assert_eq!(post(port, &restart, None).0, 401);
    let (forged, _) = sign(&restart.replace("signed", "forged"), now());
    assert_eq!(
        post(port, &restart, Some((forged, now().to_string()))).0,
        401
    );
    assert_eq!(
        post(port, &restart, Some(sign(&restart, now() - 600))).0,
        401
    );
    assert!(home.open_requests().is_empty());

    let (status, answer) = post(port, &restart, Some(sign(&restart, now())));
    assert_eq!(
        (status, answer["type"].clone()),
        (200, json!(4)),
        "{answer}"
    );
    let short_id = home.open_requests()[0]["short_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(content(&answer).contains(&short_id), "{answer}");
    // The same post again (a replay): answered, applied once.
    let (status, again) = post(port, &restart, Some(sign(&restart, now())));
    assert_eq!(status, 200);
    assert!(content(&again).contains("already handled"), "{again}");
    assert_eq!(home.open_requests()[0]["requested_by"][0]["count"], 1);
    home.stop(server);
}

#[test]
fn kill_9_during_a_stream_of_interactions_applies_every_acknowledged_command_exactly_once() {
    const ASKERS: u64 = 120;
    const KILLS: u64 = 6;
    let fake = FakeDiscord::start();
    let first = 120_000_000_000_000_000;
    let askers: Vec<u64> = (first..first + ASKERS).collect();
    let admins: Vec<String> = askers.iter().map(|id| format!("\"{id}\"")).collect();
    let config = interactions_config(&fake).replace(
        &format!("admins = [\"{}\"]", ADMIN.id),
        &format!("admins = [\"{}\", {}]", ADMIN.id, admins.join(", ")),
    );
    let home = home(&config);
    let names: Vec<String> = askers.iter().map(|id| format!("u{id}")).collect();
    let bodies: Vec<String> = askers
        .iter()
        .zip(&names)
        .map(|(id, name)| {
            let who = Who {
                id: *id,
                name,
                roles: &[],
            };
            command_json(fake.next_id(), who, CHANNEL, "restart", &[]).to_string()
        })
        .collect();
    let mut acknowledged = std::collections::BTreeSet::new();
    for round in 0..KILLS {
        let earlier = home.logged_ports("Discord interactions").len();
        let mut server = home.serve();
        let port = home.logged_port_after("Discord interactions", earlier);
        let batch: Vec<(u64, String)> = askers
            .iter()
            .copied()
            .zip(bodies.iter().cloned())
            .skip((round * ASKERS / KILLS) as usize)
            .take((ASKERS / KILLS) as usize)
            .collect();
        // The batch posted at once, and lull killed somewhere in the middle of it: after the
        // first answer (so that every round has acknowledged commands), at a random moment.
        let answered = Arc::new(AtomicUsize::new(0));
        let answered_by_posts = answered.clone();
        let posting = std::thread::spawn(move || {
            let answered = &answered_by_posts;
            std::thread::scope(|scope| {
                let posts: Vec<_> = batch
                    .iter()
                    .map(|(asker, body)| {
                        scope.spawn(move || {
                            // Answered 200 with the answer: acknowledged. Refused, cut off or
                            // never connected: Discord would have shown a failure.
                            let answer = common::try_http(
                                port,
                                &signed_request(body, Some(sign(body, now()))),
                            )?;
                            answered.fetch_add(1, Ordering::SeqCst);
                            (answer.starts_with("HTTP/1.1 200")
                                && common::json_body(&answer)["type"] == 4)
                                .then_some(*asker)
                        })
                    })
                    .collect();
                posts
                    .into_iter()
                    .filter_map(|p| p.join().unwrap())
                    .collect::<Vec<u64>>()
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
        !acknowledged.is_empty(),
        "some commands were answered before a kill"
    );

    // After the kills: every acknowledged command is there, once.
    let earlier = home.logged_ports("Discord interactions").len();
    let server = home.serve();
    let port = home.logged_port_after("Discord interactions", earlier);
    let requesters = |home: &Home| -> Vec<(u64, u64)> {
        home.asks_applied()
            .into_iter()
            .map(|(id, count)| (id.parse().unwrap(), count))
            .collect()
    };
    let applied = requesters(&home);
    assert!(
        applied.iter().all(|(_, count)| *count == 1),
        "applied twice: {applied:?}"
    );
    let applied_ids: std::collections::BTreeSet<u64> = applied.iter().map(|(id, _)| *id).collect();
    assert!(
        acknowledged.is_subset(&applied_ids),
        "acknowledged but lost: {:?}",
        acknowledged.difference(&applied_ids).collect::<Vec<_>>()
    );

    // Every interaction delivered again (a replay): the ones applied are not applied again.
    for body in &bodies {
        let (status, _) = post(port, body, Some(sign(body, now())));
        assert_eq!(status, 200);
    }
    let after = requesters(&home);
    assert_eq!(
        after.len() as u64,
        ASKERS,
        "every command applied once in the end"
    );
    assert!(
        after.iter().all(|(_, count)| *count == 1),
        "applied twice: {after:?}"
    );
    home.stop(server);
}

#[test]
fn a_late_answer_is_deferred_then_follows_through_the_interactions_webhook() {
    use lull_adapters::discord::respond::{Answer, Initial, Target, respond};
    use lull_adapters::discord::{DiscordSettings, http};
    use lull_plugin::Reply;

    let fake = FakeDiscord::start();
    let section = lull_adapters::config::DiscordConfig {
        api_url: Some(fake.url()),
        application_id: Some(common::fake_discord::APP_ID.to_string()),
        ..Default::default()
    };
    let settings = DiscordSettings::from_config(&section, |_| Some(TOKEN.into())).unwrap();
    let http = http(&settings);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = &fake;
    let ids = [fake.next_id(), fake.next_id(), fake.next_id()];
    // Each answer is ready only once Discord has seen the deferral.
    let late = |id: u64, answer: Answer| async move {
        for _ in 0..1500 {
            if fake.callback(id).is_some() {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no deferral for {id}");
    };
    let token = |id: u64| format!("token-{id}");
    let (t0, t1, t2) = (token(ids[0]), token(ids[1]), token(ids[2]));
    let targets = [
        Target {
            id: ids[0].into(),
            token: &t0,
            component: false,
        },
        Target {
            id: ids[1].into(),
            token: &t1,
            component: false,
        },
        Target {
            id: ids[2].into(),
            token: &t2,
            component: true,
        },
    ];
    // Discord does not know the first deferral yet when its edit arrives.
    fake.fail_next(
        &format!("PATCH /webhooks/{}/{t0}/", common::fake_discord::APP_ID),
        404,
        json!({"message": "Unknown Webhook", "code": 10015}),
    );
    runtime.block_on(async {
        tokio::join!(
            respond(
                &http,
                &targets[0],
                Initial::Rest,
                late(ids[0], Answer::Message(Reply::markdown("*Queued* r7k2"))),
            ),
            respond(
                &http,
                &targets[1],
                Initial::Rest,
                late(ids[1], Answer::Message(Reply::refusal("only you see this"))),
            ),
            respond(
                &http,
                &targets[2],
                Initial::Rest,
                late(ids[2], Answer::Update("prompt\n\napproved".into())),
            ),
        )
    });
    // A public answer: "thinking…", then that message edited into the answer.
    assert_eq!(fake.callback(ids[0]).unwrap()["type"], 5);
    let edits = fake.calls(&format!(
        "PATCH /webhooks/{}/{t0}/messages/@original",
        common::fake_discord::APP_ID
    ));
    assert_eq!(edits.len(), 2, "tried again after Discord's 404: {edits:?}");
    assert_eq!(edits[0].body["content"], "**Queued** r7k2");
    // A private answer: the public "thinking…" filled with a neutral line, the answer sent
    // privately.
    assert_eq!(fake.callback(ids[1]).unwrap()["type"], 5);
    let placeholder = fake.calls(&format!(
        "PATCH /webhooks/{}/{t1}/messages/@original",
        common::fake_discord::APP_ID
    ));
    assert_eq!(placeholder[0].body["content"], "(answered privately)");
    let followups = fake.calls(&format!(
        "POST /webhooks/{}/{t1}",
        common::fake_discord::APP_ID
    ));
    assert_eq!(followups.len(), 1);
    assert_eq!(followups[0].body["flags"], 64);
    // A click: acknowledged silently, then the prompt edited, its buttons removed.
    assert_eq!(fake.callback(ids[2]).unwrap()["type"], 6);
    let edits = fake.calls(&format!(
        "PATCH /webhooks/{}/{t2}/messages/@original",
        common::fake_discord::APP_ID
    ));
    assert_eq!(edits[0].body["components"], json!([]));
}

#[test]
fn a_refused_token_stops_serve_with_a_clear_message() {
    let fake = FakeDiscord::start();
    fake.fail_next(
        "GET /users/@me",
        401,
        json!({"message": "401: Unauthorized", "code": 0}),
    );
    let home = Home::new(&config(&fake, "", "")).with_env("DISCORD_BOT_TOKEN", "MTIz.wrong-token");
    let out = home.lull(&["serve"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Discord refused the bot token"), "{stderr}");
    assert!(
        !stderr.contains("MTIz.wrong-token"),
        "the token is not printed: {stderr}"
    );
}
