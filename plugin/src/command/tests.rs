//! Table-driven grammar tests, and property tests: parsing never panics, and rendering a command
//! then parsing it gives the command back.

use proptest::prelude::*;

use super::*;

fn ask(reason: &str, idle: Option<u64>) -> ChatAsk {
    ChatAsk {
        reason: reason.into(),
        idle: idle.map(Duration::from_secs),
        ignore_windows: false,
    }
}

const BOT: Option<&str> = Some("lull_bot");

#[test]
fn accepted_forms() {
    let cases: Vec<(&str, Command)> = vec![
        ("/maintenance", Command::Help),
        ("/maintenance help", Command::Help),
        ("  /maintenance   HELP  ", Command::Help),
        ("/maintenance status", Command::Status),
        ("/maintenance Status", Command::Status),
        ("/MAINTENANCE status", Command::Status),
        ("/maintenance@lull_bot status", Command::Status),
        ("/maintenance@LULL_BOT status", Command::Status),
        ("/maintenance\tstatus\n", Command::Status),
        ("/maintenance restart", Command::Restart(ask("", None))),
        (
            "/maintenance restart installed jq",
            Command::Restart(ask("installed jq", None)),
        ),
        (
            "/maintenance restart   installed    jq  ",
            Command::Restart(ask("installed jq", None)),
        ),
        (
            "/maintenance restart \"installed  jq\"",
            Command::Restart(ask("installed  jq", None)),
        ),
        (
            "/maintenance restart 'single quoted'",
            Command::Restart(ask("single quoted", None)),
        ),
        (
            "/maintenance restart “phone quotes”",
            Command::Restart(ask("phone quotes", None)),
        ),
        (
            "/maintenance restart --idle 20m",
            Command::Restart(ask("", Some(1200))),
        ),
        (
            "/maintenance restart --idle=1h30m",
            Command::Restart(ask("", Some(5400))),
        ),
        (
            "/maintenance update nightly build --window any --idle 5m",
            Command::Update(ChatAsk {
                ignore_windows: true,
                ..ask("nightly build", Some(300))
            }),
        ),
        (
            "/maintenance restart --window=ANY",
            Command::Restart(ChatAsk {
                ignore_windows: true,
                ..ask("", None)
            }),
        ),
        (
            "/maintenance restart --idle 1h 30m",
            Command::Restart(ask("30m", Some(3600))),
        ),
        (
            "/maintenance restart --idle 90s new tool",
            Command::Restart(ask("new tool", Some(90))),
        ),
        (
            "/maintenance restart new tool --idle 0s",
            Command::Restart(ask("new tool", Some(0))),
        ),
        (
            "/maintenance restart --idle 600",
            Command::Restart(ask("", Some(600))),
        ),
        (
            "/maintenance restart --idle-seconds 1200",
            Command::Restart(ask("", Some(1200))),
        ),
        (
            "/maintenance restart --idle-seconds=45 x",
            Command::Restart(ask("x", Some(45))),
        ),
        (
            "/maintenance restart --idle 7days",
            Command::Restart(ask("", Some(7 * 86400))),
        ),
        (
            "/maintenance restart -- --idle is a word",
            Command::Restart(ask("--idle is a word", None)),
        ),
        (
            "/maintenance restart \"--idle\" quoted",
            Command::Restart(ask("--idle quoted", None)),
        ),
        (
            "/maintenance restart say \\\"hi\\\"",
            Command::Restart(ask("say \"hi\"", None)),
        ),
        (
            "/maintenance restart \"say \\\"hi\\\"\"",
            Command::Restart(ask("say \"hi\"", None)),
        ),
        (
            "/maintenance RESTART now",
            Command::Restart(ask("now", None)),
        ),
        ("/maintenance update", Command::Update(ask("", None))),
        (
            "/maintenance update v1.2 is out --idle 5m",
            Command::Update(ask("v1.2 is out", Some(300))),
        ),
        ("/maintenance cancel r7k2", Command::Cancel("r7k2".into())),
        ("/maintenance cancel R7K2", Command::Cancel("R7K2".into())),
        (
            "/maintenance cancel 3f2a9c1e-0000-4000-8000-000000000000",
            Command::Cancel("3f2a9c1e-0000-4000-8000-000000000000".into()),
        ),
        ("/maintenance approve r7k2", Command::Approve("r7k2".into())),
        ("/maintenance reject r7k2", Command::Reject("r7k2".into())),
        ("/maintenance history", Command::History),
        ("/maintenance pause", Command::Pause(None)),
        (
            "/maintenance pause --for 2h",
            Command::Pause(Some(Duration::from_secs(7200))),
        ),
        (
            "/maintenance pause --for=30m",
            Command::Pause(Some(Duration::from_secs(1800))),
        ),
        ("/maintenance resume", Command::Resume),
        (
            "/maintenance release telegram:123",
            Command::Release("telegram:123".into()),
        ),
        (
            "/maintenance release \"slack:C1 thread\"",
            Command::Release("slack:C1 thread".into()),
        ),
        ("approve r7k2", Command::Approve("r7k2".into())),
        ("Approve r7k2", Command::Approve("r7k2".into())),
        ("reject r7k2", Command::Reject("r7k2".into())),
        ("cancel r7k2", Command::Cancel("r7k2".into())),
    ];
    for (text, expected) in &cases {
        assert_eq!(parse(text, BOT).as_ref(), Ok(expected), "{text:?}");
    }
}

#[test]
fn refused_forms_say_what_is_wrong_and_show_the_usage() {
    let restart_usage =
        "usage: /maintenance restart [reason…] [--idle 20m | --idle-seconds 1200] [--window any]";
    let general = "usage: /maintenance [help|status|restart|update|cancel|approve|reject|history|pause|resume|release]";
    let cases: Vec<(&str, String)> = vec![
        ("/maintenance restrat", format!("unknown subcommand \"restrat\"; did you mean `restart`?\n{general}")),
        ("/maintenance stat", format!("unknown subcommand \"stat\"; did you mean `status`?\n{general}")),
        ("/maintenance updte", format!("unknown subcommand \"updte\"; did you mean `update`?\n{general}")),
        ("/maintenance paws", format!("unknown subcommand \"paws\"; did you mean `pause`?\n{general}")),
        ("/maintenance frobnicate", format!("unknown subcommand \"frobnicate\"\n{general}")),
        ("/maintenance restart \"unclosed", format!("unclosed quote \"\n{general}")),
        ("/maintenance restart --idle", format!("--idle needs a value\n{restart_usage}")),
        ("/maintenance restart --idle soon", format!("invalid --idle value \"soon\": expected a duration like 20m, 1h30m or 90s\n{restart_usage}")),
        ("/maintenance restart --idle 1.5s", format!("invalid --idle value \"1.5s\": use whole seconds\n{restart_usage}")),
        ("/maintenance restart --idle-seconds 20m", format!("invalid --idle-seconds value \"20m\": expected whole seconds, e.g. 1200\n{restart_usage}")),
        ("/maintenance restart --idle-seconds -5", format!("invalid --idle-seconds value \"-5\": expected whole seconds, e.g. 1200\n{restart_usage}")),
        ("/maintenance restart --idle 5m --idle-seconds 60", format!("give the idle window once (--idle and --idle-seconds both given)\n{restart_usage}")),
        ("/maintenance restart --wait 5m", format!("unknown option --wait; accepted: --idle, --idle-seconds, --window\n{restart_usage}")),
        ("/maintenance restart --window night", format!("invalid --window value \"night\": the only accepted value is `any` (start outside the configured maintenance windows)\n{restart_usage}")),
        ("/maintenance restart --window", format!("--window needs a value\n{restart_usage}")),
        ("/maintenance restart --window any --window=any", format!("give --window once\n{restart_usage}")),
        ("/maintenance status now", "`status` takes no arguments (got \"now\")\nusage: /maintenance status".into()),
        ("/maintenance history 5", "`history` takes no arguments (got \"5\")\nusage: /maintenance history".into()),
        ("/maintenance cancel", "missing request id\nusage: /maintenance cancel <id>".into()),
        ("/maintenance cancel r1 r2", "`cancel` takes one request id; unexpected \"r2\"\nusage: /maintenance cancel <id>".into()),
        ("/maintenance approve", "missing request id\nusage: /maintenance approve <id>".into()),
        ("/maintenance reject r7k2!", "\"r7k2!\" is not a request id (ids look like r7k2)\nusage: /maintenance reject <id>".into()),
        ("/maintenance cancel --all", "`cancel` has no option --all\nusage: /maintenance cancel <id>".into()),
        ("/maintenance release", "missing session (platform:chat), or `fleet`\nusage: /maintenance release <session>|fleet".into()),
        ("/maintenance pause 2h", "unexpected \"2h\"; accepted: --for <duration>\nusage: /maintenance pause [--for 2h]".into()),
        ("/maintenance pause --for", "--for needs a value\nusage: /maintenance pause [--for 2h]".into()),
        ("/maintenance pause --for 0s", "--for must be longer than 0s (resume with /maintenance resume)\nusage: /maintenance pause [--for 2h]".into()),
        ("/maintenance pause --for 2h --for 3h", "give --for once\nusage: /maintenance pause [--for 2h]".into()),
        ("/maintenance pause --for 30days", "--for 30days is too long; at most 7 days\nusage: /maintenance pause [--for 2h]".into()),
    ];
    for (text, expected) in &cases {
        match parse(text, BOT) {
            Err(e @ ParseError::Invalid { .. }) => assert_eq!(&e.to_string(), expected, "{text:?}"),
            other => panic!("{text:?} gave {other:?}"),
        }
    }
}

#[test]
fn texts_for_others_are_not_ours() {
    for text in [
        "",
        "hello there",
        "/restart",
        "/maintenances status",
        "/maintenance@other_bot status",
        "approve",
        "approve r7k2 please",
        "approve --kpkp",
        "cancel tomorrow",
        "approve it",
        "reject r7",
        "please approve r7k2",
        "maintenance status",
    ] {
        assert_eq!(parse(text, BOT), Err(ParseError::NotForUs), "{text:?}");
    }
    // Without a known username, an addressed command is taken as ours.
    assert_eq!(
        parse("/maintenance@any_bot status", None),
        Ok(Command::Status)
    );
}

#[test]
fn discord_options_map_to_the_same_commands() {
    assert_eq!(
        from_options("restart", &[("reason", "new tool --idle"), ("idle", "20m")]),
        Ok(Command::Restart(ask("new tool --idle", Some(1200))))
    );
    assert_eq!(
        from_options("cancel", &[("id", "r7k2")]),
        Ok(Command::Cancel("r7k2".into()))
    );
    assert_eq!(
        from_options("pause", &[("for", "2h")]),
        Ok(Command::Pause(Some(Duration::from_secs(7200))))
    );
    assert_eq!(from_options("status", &[]), Ok(Command::Status));
    assert!(from_options("restart", &[("idle", "never")]).is_err());
    assert!(from_options("restart", &[("colour", "red")]).is_err());
}

fn command() -> impl Strategy<Value = Command> {
    let reason = "[^\\x00-\\x1f]{0,60}".prop_map(|s: String| s.trim().to_owned());
    let idle = proptest::option::of(0u64..=7 * 86400);
    let ask = (reason, idle, any::<bool>()).prop_map(|(reason, idle, ignore_windows)| ChatAsk {
        reason,
        idle: idle.map(Duration::from_secs),
        ignore_windows,
    });
    let id = "[a-z0-9]{1,12}";
    prop_oneof![
        Just(Command::Help),
        Just(Command::Status),
        ask.clone().prop_map(Command::Restart),
        ask.prop_map(Command::Update),
        id.prop_map(Command::Cancel),
        id.prop_map(Command::Approve),
        id.prop_map(Command::Reject),
        Just(Command::History),
        proptest::option::of(1u64..=7 * 86400)
            .prop_map(|d| Command::Pause(d.map(Duration::from_secs))),
        Just(Command::Resume),
        "[a-z]{1,8}:[^\\x00-\\x1f]{1,20}".prop_map(Command::Release),
    ]
}

proptest! {
    #[test]
    fn parsing_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text, BOT);
        let _ = parse(&format!("/maintenance {text}"), BOT);
    }

    #[test]
    fn rendering_then_parsing_gives_the_command_back(command in command()) {
        let text = command.to_string();
        prop_assert_eq!(parse(&text, BOT), Ok(command), "{}", text);
    }
}
