//! The plugin over a real store and scheduler (tokio's paused clock); only the executor is a
//! test double. Covers the authorization matrix, the prompt lifecycle, the tool end to end, and
//! notices reaching the outbox once per chat.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lull_queue::{
    ActivityTracker, AgentRequests, AskDraft, Executor, Kind, QueueEvent, QueueSettings, Request,
    RunResult, SchedulerSettings, SourceMode, State, StepFuture, StepOutcome, Store, Timestamp,
    TokioClock, TrackerSettings,
};

use super::*;

struct Restarts;

impl Executor for Restarts {
    fn update<'a>(&'a self, _: &'a Request) -> StepFuture<'a> {
        Box::pin(async { StepOutcome::Done(RunResult::default()) })
    }
    fn restart<'a>(&'a self, _: &'a Request) -> StepFuture<'a> {
        Box::pin(async {
            StepOutcome::Done(RunResult {
                downtime_ms: Some(3000),
                ..RunResult::default()
            })
        })
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    plugin: Plugin,
    store: Store,
    _task: lull_queue::SchedulerTask,
}

fn policy() -> Policy {
    let mut platforms = HashMap::new();
    platforms.insert(
        "telegram".to_owned(),
        PlatformPolicy {
            admins: vec!["1".into(), "2".into()],
            admin_roles: Vec::new(),
            agents: vec!["7".into(), "8".into()],
        },
    );
    platforms.insert(
        "discord".to_owned(),
        PlatformPolicy {
            admins: Vec::new(),
            admin_roles: vec!["mods".into()],
            agents: Vec::new(),
        },
    );
    Policy { platforms }
}

fn harness(queue: QueueSettings) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(TokioClock::new(Timestamp::from_unix_millis(
        1_795_478_400_000,
    )));
    let store = Store::open_with_clock(dir.path().join("db"), queue, clock.clone()).unwrap();
    let tracker = ActivityTracker::new(
        TrackerSettings {
            mode: SourceMode::Embedded,
            lease_ttl: Duration::from_secs(1),
            ..TrackerSettings::default()
        },
        clock,
    );
    let settings = SchedulerSettings {
        approval_expiry: Duration::from_secs(3600),
        ..SchedulerSettings::default()
    };
    let scheduler = lull_queue::Scheduler::new(
        "test",
        store.clone(),
        tracker,
        Arc::new(Restarts),
        settings,
        None,
    )
    .unwrap();
    let task = scheduler.spawn();
    let plugin = Plugin::new(
        scheduler,
        PluginConfig {
            default_idle: Duration::from_secs(1200),
            min_agent_idle: Duration::from_secs(300),
            max_wait: Duration::from_secs(86_400),
            policy: policy(),
            notify: vec![ChatRef {
                platform: "telegram".into(),
                chat: "-100".into(),
            }],
            relay: Some(ChatRelay {
                platform: "relay:hermes".into(),
                agents: vec!["hermes".into()],
            }),
        },
    );
    Harness {
        _dir: dir,
        plugin,
        store,
        _task: task,
    }
}

fn user(id: &str) -> Sender {
    Sender::chat("telegram", id, &format!("user{id}"))
}

async fn say(h: &Harness, sender: Sender, chat: &str, text: &str) -> Reply {
    h.plugin
        .handle(Invocation {
            sender,
            chat: Some(chat.into()),
            input: Input::Text(text.into()),
            bot_username: Some("lull_bot".into()),
        })
        .await
        .expect("a /maintenance command gets a reply")
}

async fn click(h: &Harness, sender: Sender, payload: &str) -> Reply {
    h.plugin
        .handle(Invocation {
            sender,
            chat: Some("-100".into()),
            input: Input::Click(payload.into()),
            bot_username: None,
        })
        .await
        .unwrap()
}

fn refused_by_policy(reply: &Reply) -> bool {
    reply.ephemeral
        && (reply.text.contains("only an admin can")
            || reply.text.contains("not allowed to use /maintenance"))
}

#[tokio::test(start_paused = true)]
async fn authorization_matrix() {
    let h = harness(QueueSettings::default());
    let commands = [
        ("help", [true, true, false]),
        ("status", [true, true, false]),
        ("history", [true, true, false]),
        ("restart tool installed", [true, true, false]),
        ("update", [true, true, false]),
        ("restart --window any", [true, false, false]),
        ("cancel rzzz", [true, true, false]),
        ("approve rzzz", [true, false, false]),
        ("reject rzzz", [true, false, false]),
        ("pause --for 1h", [true, false, false]),
        ("resume", [true, false, false]),
        ("release telegram:1", [true, false, false]),
    ];
    let senders = [
        ("admin", user("1")),
        ("agent", user("7")),
        ("stranger", user("99")),
    ];
    for (command, allowed) in commands {
        for ((who, sender), allowed) in senders.iter().zip(allowed) {
            if *who == "stranger" {
                // A stranger is answered once a minute (see the flood test below).
                tokio::time::advance(Duration::from_secs(61)).await;
            }
            let reply = say(
                &h,
                sender.clone(),
                "-100",
                &format!("/maintenance {command}"),
            )
            .await;
            assert_eq!(
                !refused_by_policy(&reply),
                allowed,
                "{who} `{command}`: {}",
                reply.text
            );
        }
    }
    // Strangers are audited; a Discord member with an admin role is an admin.
    let refusals = h
        .store
        .audit(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "refused" && e.actor == "telegram:99")
        .count();
    assert_eq!(refusals, commands.len());
    let moderator = Sender {
        role_ids: vec!["mods".into()],
        ..Sender::chat("discord", "42", "mod")
    };
    assert!(!refused_by_policy(
        &say(&h, moderator, "55", "/maintenance pause").await
    ));
    // Ordinary chat and commands for other bots get no reply at all.
    for text in ["hello", "/maintenance@other_bot status"] {
        let invocation = Invocation {
            sender: user("99"),
            chat: None,
            input: Input::Text(text.into()),
            bot_username: Some("lull_bot".into()),
        };
        assert_eq!(h.plugin.handle(invocation).await, None);
    }
}

#[tokio::test(start_paused = true)]
async fn agents_must_leave_the_minimum_idle_window() {
    let h = harness(QueueSettings::default());
    let reply = say(&h, user("7"), "-100", "/maintenance restart --idle 1m").await;
    assert!(
        reply.ephemeral && reply.text.contains("at least 5m"),
        "{}",
        reply.text
    );
    assert_eq!(h.store.open_request().unwrap(), None, "nothing queued");
    let reply = say(&h, user("1"), "-100", "/maintenance restart --idle 1m").await;
    assert!(!reply.ephemeral, "admins may: {}", reply.text);
}

#[tokio::test(start_paused = true)]
async fn an_ask_out_of_bounds_is_refused_alike_from_chat_and_the_tool() {
    let h = harness(QueueSettings::default());
    let long = "x".repeat(501);
    let reply = say(
        &h,
        user("1"),
        "-100",
        &format!("/maintenance restart {long}"),
    )
    .await;
    assert_eq!(
        reply.text,
        "the reason is 501 characters; at most 500 are accepted"
    );
    let reply = say(&h, user("1"), "-100", "/maintenance restart --idle 8days").await;
    assert_eq!(
        reply.text,
        "the idle window 8days is too long; at most 7 days (604800 seconds) are accepted"
    );
    // A reason is counted once trimmed: padding does not push it over.
    let padded = format!(" {} ", "x".repeat(500));
    let call = |fields: &str| format!(r#"{{"agent":"hermes","action":"queue_restart",{fields}}}"#);
    let cases = [
        (call(&format!(r#""reason":"{long}""#)), "invalid_reason"),
        (call(r#""idle_seconds":60"#), "invalid_idle_seconds"),
        (call(r#""idle_seconds":999999999"#), "invalid_idle_seconds"),
    ];
    for (json, code) in cases {
        let answer = h.plugin.tool(&json).await;
        assert_eq!(answer["error"]["code"], code, "{json}: {answer}");
    }
    assert_eq!(h.store.open_request().unwrap(), None, "nothing queued");
    let answer = h
        .plugin
        .tool(&call(&format!(r#""reason":"{padded}""#)))
        .await;
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["request"]["reason"].as_str().unwrap().len(), 500);
}

#[tokio::test(start_paused = true)]
async fn window_any_from_an_agent_is_refused_and_audited_on_every_surface() {
    let h = harness(QueueSettings::default());
    // The control API's agent token reaches `submit` directly, past the chat policy.
    let agent = actor(&Sender::tool_agent("hermes"), None, Role::Agent);
    let draft = AskDraft {
        kind: Kind::Restart,
        reason: String::new(),
        idle: None,
        ignore_windows: true,
        actor: agent,
    };
    let error = h.plugin.submit(draft).await.unwrap_err();
    assert_eq!(error.code, "forbidden");
    assert!(error.message.contains("only an admin"), "{}", error.message);
    assert_eq!(h.store.open_request().unwrap(), None, "nothing queued");
    let refused: Vec<_> = h
        .store
        .audit(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "refused" && e.detail.contains("--window any"))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let reply = say(&h, user("1"), "-100", "/maintenance restart --window any").await;
    assert!(!reply.ephemeral, "admins may: {}", reply.text);
    assert!(h.store.open_request().unwrap().unwrap().ignore_windows);
}

#[tokio::test(start_paused = true)]
async fn a_restart_ask_names_the_short_id_and_why_it_waits() {
    let h = harness(QueueSettings::default());
    let reply = say(&h, user("1"), "-100", "/maintenance restart installed jq").await;
    let open = h.store.open_request().unwrap().unwrap();
    assert!(
        reply
            .text
            .starts_with(&format!("Queued restart `{}`", open.short_id)),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("idle ░░░░░░░░"), "{}", reply.text);
    let again = say(&h, user("2"), "-100", "/maintenance restart").await;
    assert!(
        again.text.starts_with(&format!(
            "Joined restart `{}` (2 requesters)",
            open.short_id
        )),
        "{}",
        again.text
    );
}

#[tokio::test(start_paused = true)]
async fn approval_prompt_lifecycle() {
    let h = harness(QueueSettings {
        agent_requests: AgentRequests::Approve,
        ..QueueSettings::default()
    });
    let mut events = h.store.subscribe();
    say(&h, user("7"), "-100", "/maintenance restart new tool").await;
    let request = h.store.open_request().unwrap().unwrap();
    assert_eq!(request.state, State::AwaitingApproval);
    let QueueEvent::Queued { .. } = events.recv().await.unwrap() else {
        panic!("queued event first")
    };
    let notices = h.plugin.notices(&QueueEvent::Queued {
        request: request.clone(),
    });
    assert_eq!(notices.len(), 1, "the notify chat, once: {notices:?}");
    let buttons = notices[0].reply.buttons.clone();
    assert_eq!(
        buttons.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(),
        ["Approve", "Reject"]
    );

    // The requesting agent and another agent may not click; a forged payload does nothing.
    assert!(refused_by_policy(
        &click(&h, user("7"), &buttons[0].payload).await
    ));
    assert!(refused_by_policy(
        &click(&h, user("8"), &buttons[0].payload).await
    ));
    let forged = click(&h, user("1"), "lull:a:r7k2;rm").await;
    assert!(
        forged.ephemeral && forged.text.contains("not one of lull's"),
        "{}",
        forged.text
    );
    let stranger = click(&h, user("99"), &buttons[0].payload).await;
    assert!(refused_by_policy(&stranger));
    assert_eq!(
        h.store.get(request.id).unwrap().unwrap().state,
        State::AwaitingApproval
    );

    let approved = click(&h, user("1"), &buttons[0].payload).await;
    assert!(
        approved
            .text
            .starts_with(&format!("Approved restart `{}` (user1, ", request.short_id)),
        "{}",
        approved.text
    );
    assert_eq!(
        h.store.get(request.id).unwrap().unwrap().state,
        State::Queued
    );
    let replayed = click(&h, user("2"), &buttons[0].payload).await;
    assert!(
        replayed.ephemeral && replayed.text.contains("is queued, not awaiting approval"),
        "{}",
        replayed.text
    );

    // Reject by text reply; then an approval that nobody gives expires.
    say(
        &h,
        user("1"),
        "-100",
        &format!("/maintenance cancel {}", request.short_id),
    )
    .await;
    say(&h, user("8"), "-100", "/maintenance update").await;
    let second = h.store.open_request().unwrap().unwrap();
    let rejected = say(
        &h,
        user("2"),
        "-100",
        &format!("reject {}", second.short_id),
    )
    .await;
    assert!(rejected.text.starts_with("Rejected"), "{}", rejected.text);
    say(&h, user("7"), "-100", "/maintenance restart").await;
    let third = h.store.open_request().unwrap().unwrap();
    let expired = loop {
        match tokio::time::timeout(Duration::from_secs(7200), events.recv())
            .await
            .expect("expiry within 2h")
        {
            Ok(QueueEvent::Expired { request }) => break request,
            _ => continue,
        }
    };
    assert_eq!(expired.id, third.id);
    let notices = h.plugin.notices(&QueueEvent::Expired { request: expired });
    assert_eq!(
        notices.len(),
        1,
        "requester and notify chat are the same chat: one notice"
    );
    assert!(
        notices[0]
            .reply
            .text
            .ends_with("was rejected: approval expired."),
        "{}",
        notices[0].reply.text
    );
}

#[tokio::test(start_paused = true)]
async fn escalation_prompts_keep_waiting_or_cancel() {
    let h = harness(QueueSettings::default());
    say(&h, user("7"), "-100", "/maintenance restart").await;
    let request = h.store.open_request().unwrap().unwrap();
    let notices = h.plugin.notices(&QueueEvent::Escalated {
        request: request.clone(),
        blockers: vec![lull_queue::Blocker::NoActivitySource],
    });
    let buttons = &notices[0].reply.buttons;
    assert_eq!(
        buttons.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(),
        ["Keep waiting", "Cancel"]
    );
    assert!(notices[0].reply.text.contains("It will never be forced"));
    assert!(
        refused_by_policy(&click(&h, user("7"), &buttons[0].payload).await),
        "agents cannot answer"
    );
    let kept = click(&h, user("1"), &buttons[0].payload).await;
    assert!(
        kept.text.starts_with("Still waiting for restart"),
        "{}",
        kept.text
    );
    let cancelled = click(&h, user("1"), &buttons[1].payload).await;
    assert!(
        cancelled.text.starts_with("Cancelled restart"),
        "{}",
        cancelled.text
    );
    let late = click(&h, user("1"), &buttons[0].payload).await;
    assert!(late.text.contains("is cancelled now"), "{}", late.text);
}

#[tokio::test(start_paused = true)]
async fn the_tool_end_to_end() {
    let h = harness(QueueSettings {
        update_available: false,
        ..QueueSettings::default()
    });
    let first = h
        .plugin
        .tool(r#"{"agent":"hermes","action":"queue_restart","reason":"installed jq"}"#)
        .await;
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(first["deduplicated"], false);
    assert_eq!(first["request"]["state"], "queued");
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("Nothing happens now")
    );
    assert!(
        first["eta"].as_str().unwrap().starts_with("in about 20m"),
        "{first}"
    );
    let short = first["request"]["short_id"].as_str().unwrap().to_owned();
    let again = h
        .plugin
        .tool(r#"{"agent":"hermes","action":"queue_restart"}"#)
        .await;
    assert_eq!(again["deduplicated"], true);
    assert_eq!(again["request"]["requested_by"][0]["count"], 2);

    let others = h
        .plugin
        .tool(&format!(
            r#"{{"agent":"other","action":"cancel","request_id":"{short}"}}"#
        ))
        .await;
    assert_eq!(others["error"]["code"], "forbidden", "{others}");
    let missing = h
        .plugin
        .tool(r#"{"agent":"hermes","action":"cancel","request_id":"rzzzzz"}"#)
        .await;
    assert_eq!(missing["error"]["code"], "not_found");
    let update = h
        .plugin
        .tool(r#"{"agent":"hermes","action":"queue_update"}"#)
        .await;
    assert_eq!(update["error"]["code"], "update_not_configured");
    let short_idle = h
        .plugin
        .tool(r#"{"agent":"hermes","action":"queue_restart","idle_seconds":10}"#)
        .await;
    assert_eq!(short_idle["error"]["code"], "invalid_idle_seconds");
    let status = h
        .plugin
        .tool(r#"{"agent":"hermes","action":"status"}"#)
        .await;
    assert_eq!(status["request"]["short_id"], short.as_str());
    assert!(
        status["blockers"][0].as_str().unwrap().starts_with("idle "),
        "{status}"
    );

    let withdrawn = h
        .plugin
        .tool(&format!(
            r#"{{"agent":"hermes","action":"cancel","request_id":"{short}"}}"#
        ))
        .await;
    assert_eq!(withdrawn["request"]["state"], "cancelled", "{withdrawn}");
    assert_eq!(h.store.open_request().unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn notices_reach_the_outbox_once_per_chat() {
    let h = harness(QueueSettings::default());
    say(&h, user("7"), "-100", "/maintenance restart --idle 10m").await;
    let moderator = Sender {
        role_ids: vec!["mods".into()],
        ..Sender::chat("discord", "42", "mod")
    };
    say(&h, moderator, "55", "/maintenance restart").await;
    let mut events = h.store.subscribe();
    loop {
        match tokio::time::timeout(Duration::from_secs(3600), events.recv())
            .await
            .expect("runs within the hour")
        {
            Ok(QueueEvent::Succeeded { .. }) => break,
            _ => continue,
        }
    }
    // The notices were flushed with the change, before the event was published.
    let pending = h.store.outbox_pending(100).unwrap();
    let notices: Vec<Notice> = pending
        .into_iter()
        .map(|e| serde_json::from_value(e.payload).unwrap())
        .collect();
    let back_online: Vec<(String, String)> = notices
        .iter()
        .filter(|n| n.reply.text.starts_with("Back online"))
        .map(|n| (n.chat.platform.clone(), n.chat.chat.clone()))
        .collect();
    assert_eq!(
        back_online,
        [
            ("telegram".to_owned(), "-100".to_owned()),
            ("discord".to_owned(), "55".to_owned())
        ]
    );
    assert!(notices.iter().any(|n| n.reply.text.contains("downtime 3s")));
    let starting = notices
        .iter()
        .filter(|n| n.reply.text.contains("is starting now"))
        .count();
    assert_eq!(starting, 2, "one per chat");
}

#[tokio::test(start_paused = true)]
async fn tool_json_from_a_chat_is_authorized_and_acts_as_the_sender() {
    let h = harness(QueueSettings::default());
    let tool = |sender: Sender| Invocation {
        sender,
        chat: Some("-100".into()),
        input: Input::ToolJson(r#"{"agent":"someone-else","action":"queue_restart"}"#.into()),
        bot_username: None,
    };
    let refused = h.plugin.handle(tool(user("99"))).await.unwrap();
    assert!(refused_by_policy(&refused), "{}", refused.text);
    assert_eq!(h.store.open_request().unwrap(), None);
    let reply = h.plugin.handle(tool(user("7"))).await.unwrap();
    let result: serde_json::Value = serde_json::from_str(&reply.text).unwrap();
    assert_eq!(result["ok"], true, "{result}");
    let requester = &result["request"]["requested_by"][0];
    assert_eq!(
        (
            requester["platform"].as_str(),
            requester["user_id"].as_str()
        ),
        (Some("telegram"), Some("7"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_tool_call_is_audited_with_the_way_it_came_and_the_agent_stays_the_requester() {
    let h = harness(QueueSettings::default());
    let asked = h
        .plugin
        .tool_via(
            r#"{"agent":"hermes","action":"queue_restart","reason":"installed jq"}"#,
            Some("via local:alice, pid 4242"),
        )
        .await;
    assert_eq!(asked["ok"], true, "{asked}");
    let id = lull_queue::RequestId::parse(asked["request"]["id"].as_str().unwrap()).unwrap();
    let audit = h.plugin.scheduler().store().audit(Some(id)).unwrap();
    assert_eq!(audit[0].actor, "tool:hermes (via local:alice, pid 4242)");
    // The same agent without a via is the same requester: its repeat only raises the count.
    let again = h
        .plugin
        .tool(r#"{"agent":"hermes","action":"queue_restart","reason":"again"}"#)
        .await;
    assert_eq!(again["deduplicated"], true, "{again}");
    assert_eq!(again["request"]["requested_by"][0]["count"], 2, "{again}");
}

#[tokio::test(start_paused = true)]
async fn a_relay_agent_naming_its_chat_is_answered_there_and_others_may_not_name_one() {
    let h = harness(QueueSettings::default());
    let asked = h
        .plugin
        .tool_via(
            r#"{"agent":"hermes","action":"queue_restart","chat":"telegram:-100123"}"#,
            Some("via local:alice, pid 4242"),
        )
        .await;
    assert_eq!(asked["ok"], true, "{asked}");
    let requester = &asked["request"]["requested_by"][0];
    assert_eq!(requester["platform"], "relay:hermes", "{asked}");
    assert_eq!(requester["chat"], "telegram:-100123", "{asked}");
    assert_eq!(requester["origin"], "tool", "{asked}");
    assert_eq!(requester["role"], "agent", "{asked}");
    let refused = h
        .plugin
        .tool(r#"{"agent":"stranger","action":"queue_restart","chat":"telegram:-1"}"#)
        .await;
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[relay].agents"),
        "{refused}"
    );
    // In a chat the platform names the chat; the JSON may not name another.
    let reply = h
        .plugin
        .handle(Invocation {
            sender: user("7"),
            chat: Some("-100".into()),
            input: Input::ToolJson(r#"{"action":"queue_restart","chat":"telegram:-9"}"#.into()),
            bot_username: None,
        })
        .await
        .unwrap();
    let result: serde_json::Value = serde_json::from_str(&reply.text).unwrap();
    assert_eq!(result["error"]["code"], "invalid_field", "{result}");
    let request = h.store.open_request().unwrap().unwrap();
    assert_eq!(request.requested_by.len(), 1, "only hermes asked");
}

#[tokio::test(start_paused = true)]
async fn release_forgets_an_activity_source_when_no_run_has_that_name() {
    let h = harness(QueueSettings::default());
    let tracker = h.plugin.scheduler().tracker();
    tracker.source_heartbeat("planted", "agent").unwrap();
    let reply = say(&h, user("1"), "-100", "/maintenance release planted").await;
    assert_eq!(
        reply.text,
        "Forgot the activity source planted; requests no longer wait on it."
    );
    let sources = tracker.snapshot(tokio::time::Instant::now()).sources;
    assert!(sources.is_empty(), "{sources:?}");
    let forgotten: Vec<_> = h
        .store
        .audit(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "source_forgotten")
        .collect();
    assert_eq!(forgotten.len(), 1);
    // Neither a run nor a source: refused, saying so.
    let reply = say(&h, user("1"), "-100", "/maintenance release nothing").await;
    assert!(
        reply.ephemeral && reply.text.starts_with("No live run in session nothing"),
        "{}",
        reply.text
    );
}

#[tokio::test(start_paused = true)]
async fn a_flood_from_a_stranger_is_answered_and_audited_once_a_minute() {
    let h = harness(QueueSettings::default());
    let from_stranger = || Invocation {
        sender: user("666"),
        chat: Some("-100".into()),
        input: Input::Text("/maintenance restart".into()),
        bot_username: Some("lull_bot".into()),
    };
    let first = h.plugin.handle(from_stranger()).await;
    assert!(first.is_some_and(|reply| reply.ephemeral));
    for _ in 0..4 {
        assert_eq!(
            h.plugin.handle(from_stranger()).await,
            None,
            "silent within the minute"
        );
    }
    let refused = |h: &Harness| -> Vec<String> {
        h.store
            .audit(None)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "refused")
            .map(|e| e.detail)
            .collect()
    };
    assert_eq!(refused(&h).len(), 1);
    tokio::time::advance(Duration::from_secs(61)).await;
    assert!(h.plugin.handle(from_stranger()).await.is_some());
    let details = refused(&h);
    assert_eq!(details.len(), 2);
    assert!(
        details[1].ends_with("; 4 more refused since the last entry, unanswered"),
        "{details:?}"
    );
    assert_eq!(h.store.open_request().unwrap(), None);
}
