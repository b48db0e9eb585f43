//! `lull doctor` against profiles that are right and wrong in each way it checks: the exit
//! status, the failing line, and its fix.

use crate::common;

use common::fake_telegram::{FakeTelegram, TOKEN};
use common::{Home, MARKER_CONFIG};
use serde_json::{Value, json};

/// `lull doctor --json` (with `args`): its exit code and report.
fn doctor(home: &Home, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["doctor", "--json"];
    all.extend_from_slice(args);
    let out = home.lull(&all);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap(), report)
}

/// The check named `name` (the first one whose name starts so).
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"].as_str().unwrap().starts_with(name))
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

fn failed(report: &Value, name: &str, needle: &str) {
    let check = check(report, name);
    assert_eq!(check["outcome"], "fail", "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains(needle),
        "{check}"
    );
    assert!(
        check["fix"].as_str().is_some_and(|f| !f.is_empty()),
        "{check}"
    );
}

#[test]
fn a_profile_that_will_work_passes_and_says_so() {
    let home = Home::new(MARKER_CONFIG);
    let server = home.serve();
    assert!(home.lull(&["heartbeat", "--source", "gw"]).status.success());
    let (code, report) = doctor(&home, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["ok"], true);
    assert_eq!(check(&report, "activity source gw")["outcome"], "ok");
    assert_eq!(check(&report, "control socket")["outcome"], "ok");
    let text = home.lull(&["doctor"]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("Everything lull needs is in place."),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    home.stop(server);
}

#[test]
fn each_thing_that_keeps_requests_from_running_is_a_failing_line_with_its_fix() {
    // No server, and then no source.
    let home = Home::new(MARKER_CONFIG);
    let (code, report) = doctor(&home, &[]);
    assert_eq!(code, 1);
    failed(&report, "server", "lull serve is not running");
    let server = home.serve();
    let (code, report) = doctor(&home, &[]);
    assert_eq!(code, 1);
    failed(&report, "activity source", "no_activity_source");
    // The socket's mode changed by hand.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(home.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    failed(&doctor(&home, &[]).1, "control socket", "mode 666");
    home.stop(server);

    // A config that does not parse, and none at all.
    home.write_config("[maintenance]\nidle_secs = 5\n");
    failed(&doctor(&home, &[]).1, "config", "line 2");
    std::fs::remove_file(home.profile_dir().join("lull.toml")).unwrap();
    failed(&doctor(&home, &[]).1, "config", "does not exist");

    // Executor commands as lull will run them.
    let script = home.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    home.write_config(&format!(
        "[executor]\nrestart = [\"no-such-program-lull\"]\nhealth_command = [\"{}\"]\n",
        script.display()
    ));
    let (code, report) = doctor(&home, &[]);
    assert_eq!(code, 1);
    failed(&report, "executor.restart", "not found on lull's PATH");
    failed(&report, "executor.health_command", "not an executable file");

    // systemctl --user without the session's variables.
    home.write_config("[executor]\nrestart = [\"systemctl\", \"--user\", \"restart\", \"gw\"]\n");
    let out = home
        .command()
        .args(["doctor", "--json"])
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    failed(
        &report,
        "executor.restart session",
        "Failed to connect to bus",
    );
    let out = home
        .command()
        .args(["doctor", "--json"])
        .env("XDG_RUNTIME_DIR", "/run/user/4242")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/4242/bus")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        check(&report, "executor.restart session")["outcome"],
        "ok",
        "{report}"
    );

    // A platform without its token; a fleet whose lock service is not there.
    home.write_config(
        "[executor]\nrestart = [\"true\"]\n[telegram]\nadmins = [1]\n[fleet]\nendpoints = [\"http://127.0.0.1:9\"]\n",
    );
    let report = doctor(&home, &[]).1;
    failed(&report, "telegram", "TELEGRAM_BOT_TOKEN");
    failed(&report, "fleet lock service", "127.0.0.1:9");
}

#[test]
fn online_tells_a_token_taken_refused_unreadable_and_unreachable_apart() {
    let telegram = FakeTelegram::start();
    let config = |url: &str| {
        format!("[executor]\nrestart = [\"true\"]\n[telegram]\napi_url = \"{url}\"\nadmins = [1]\n")
    };
    let home = Home::new(&config(&telegram.url())).with_env("TELEGRAM_BOT_TOKEN", TOKEN);
    // Every report, whatever the platform answered: the token never reaches it.
    let online = |home: &Home| {
        let report = doctor(home, &["--online"]).1;
        assert!(!report.to_string().contains(TOKEN), "{report}");
        let text = home.lull(&["doctor", "--online"]);
        assert!(!String::from_utf8_lossy(&text.stdout).contains(TOKEN));
        report
    };
    let report = online(&home);
    let taken = check(&report, "telegram getMe");
    assert_eq!(taken["outcome"], "ok", "{report}");
    assert!(
        taken["detail"].as_str().unwrap().contains("lull_test_bot"),
        "{taken}"
    );
    telegram.fail_next(
        "getme",
        401,
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
    );
    failed(&online(&home), "telegram getMe", "refused the token");
    telegram.fail_next("getme", 200, json!({"ok": true, "result": {"id": 1}}));
    failed(
        &online(&home),
        "telegram getMe",
        "answered something lull cannot read: HTTP 200 OK, no result.username",
    );
    home.write_config(&config("http://127.0.0.1:9"));
    failed(&online(&home), "telegram getMe", "unreachable");
}

#[test]
fn online_asks_discord_and_slack_too() {
    use common::fake_discord::{self, FakeDiscord};
    use common::fake_slack::{BOT_TOKEN, FakeSlack};
    let discord = FakeDiscord::start();
    let slack = FakeSlack::start();
    let home = Home::new(&format!(
        "[executor]\nrestart = [\"true\"]\n[discord]\napi_url = \"{}\"\napplication_id = \"{}\"\nadmins = [\"1\"]\n[slack]\nmode = \"http\"\nlisten = \"127.0.0.1:0\"\napi_url = \"{}\"\nadmins = [\"U0ADMIN1\"]\n",
        discord.url(),
        fake_discord::APP_ID,
        slack.api_url(),
    ))
    .with_env("DISCORD_BOT_TOKEN", fake_discord::TOKEN)
    .with_env("SLACK_BOT_TOKEN", BOT_TOKEN)
    .with_env("SLACK_SIGNING_SECRET", common::fake_slack::SIGNING_SECRET);
    let report = doctor(&home, &["--online"]).1;
    assert_eq!(
        check(&report, "discord users/@me")["outcome"],
        "ok",
        "{report}"
    );
    assert_eq!(
        check(&report, "slack auth.test")["outcome"],
        "ok",
        "{report}"
    );
    discord.fail_next(
        "GET /users/@me",
        401,
        json!({"message": "401: Unauthorized", "code": 0}),
    );
    slack.fail_next(
        "auth.test",
        200,
        json!({"ok": false, "error": "invalid_auth"}),
        None,
    );
    let report = doctor(&home, &["--online"]).1;
    failed(&report, "discord users/@me", "refused the token");
    failed(
        &report,
        "slack auth.test",
        "refused the token: invalid_auth",
    );
    discord.fail_next("GET /users/@me", 200, json!({"username": "x"}));
    slack.fail_next("auth.test", 200, json!({"ok": true}), None);
    let report = doctor(&home, &["--online"]).1;
    failed(&report, "discord users/@me", "no id in the answer");
    failed(&report, "slack auth.test", "no user_id in the answer");
    for secret in [fake_discord::TOKEN, BOT_TOKEN] {
        assert!(!report.to_string().contains(secret), "{report}");
    }
}
