//! Config parsing: the template is valid and complete, and bad files name the key and the line.

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("/p/lull.toml")).map_err(|e| e.to_string())
}

#[test]
fn the_template_parses_to_the_defaults() {
    assert_eq!(parse(TEMPLATE).unwrap(), Config::default());
}

#[test]
fn the_template_names_every_key() {
    let keys = [
        "idle_seconds",
        "min_agent_idle_seconds",
        "max_wait_seconds",
        "cooldown_seconds",
        "max_executions_per_hour",
        "agent_requests",
        "approval_expiry_seconds",
        "lease_ttl_seconds",
        "source_ttl_seconds",
        "wedged_after_seconds",
        "history_limit",
        "windows",
        "timezone",
        "restart",
        "restarts_self",
        "update",
        "unchanged_exit_code",
        "timeout_seconds",
        "pass_env",
        "health_command",
        "crash_loop_limit",
        "tcp_listen",
        "admin_token_env",
        "agent_token_env",
        "socket_group",
        "token_env",
        "api_url",
        "mode",
        "webhook_listen",
        "webhook_url",
        "webhook_secret_env",
        "admins",
        "agents",
        "notify_chat_id",
        "application_id",
        "interactions_listen",
        "public_key",
        "guild_id",
        "admin_roles",
        "notify_channel_id",
        "app_token_env",
        "bot_token_env",
        "signing_secret_env",
        "listen",
        "notify_channel",
    ];
    for key in keys {
        assert!(
            TEMPLATE.contains(&format!("{key} =")),
            "{key} missing from the template"
        );
    }
}

#[test]
fn a_full_file_parses_with_ids_as_strings_or_integers() {
    let config = parse(
        r#"
[maintenance]
idle_seconds = 600
agent_requests = "approve"
[executor]
restart = ["systemctl", "--user", "restart", "gw"]
update = ["gw", "self-update"]
[telegram]
admins = [123456789, "42"]
notify_chat_id = -1001234567890
[discord]
application_id = 123
admin_roles = ["555"]
"#,
    )
    .unwrap();
    assert_eq!(config.maintenance.idle_seconds, 600);
    assert_eq!(config.maintenance.agent_requests, AgentRequests::Approve);
    assert_eq!(
        config.executor.restart,
        Some(RestartSetting::Argv(vec![
            "systemctl".into(),
            "--user".into(),
            "restart".into(),
            "gw".into()
        ]))
    );
    let telegram = config.telegram.unwrap();
    assert_eq!(telegram.admins, ["123456789", "42"]);
    assert_eq!(telegram.notify_chat_id.as_deref(), Some("-1001234567890"));
    assert_eq!(
        config.discord.unwrap().application_id.as_deref(),
        Some("123")
    );
    assert_eq!(
        parse("[executor]\nrestart = \"self\"\n")
            .unwrap()
            .executor
            .restart,
        Some(RestartSetting::SelfExec)
    );
}

#[test]
fn bad_files_name_the_key_and_the_line() {
    let cases = [
        (
            "[maintenance]\nidle_secs = 5\n",
            &["line 2", "unknown field `idle_secs`", "idle_seconds"][..],
        ),
        (
            "[maintenance]\n\nidle_seconds = \"20m\"\n",
            &["line 3", "invalid type: string \"20m\", expected u64"][..],
        ),
        (
            "[maintenance]\nidle_seconds = 999999999\n",
            &["line 2", "at most 604800"][..],
        ),
        (
            "[maintenance]\nmax_executions_per_hour = 0\n",
            &["line 2", "at least 1"][..],
        ),
        (
            "[maintenance]\nmax_wait_seconds = 9999999999\n",
            &["line 2", "at most 31536000"][..],
        ),
        (
            "[maintenance]\ncooldown_seconds = 9999999999\n",
            &["line 2", "at most 31536000"][..],
        ),
        (
            "[maintenance]\nagent_requests = \"sometimes\"\n",
            &[
                "line 2",
                "unknown variant `sometimes`",
                "expected `queue` or `approve`",
            ][..],
        ),
        (
            "[executor]\nrestart = \"systemctl restart gw\"\n",
            &["line 2", "argv array", "no shell"][..],
        ),
        (
            "[executor]\nrestart = []\n",
            &["line 2", "must not be empty"][..],
        ),
        (
            "[executor]\nupdate = []\n",
            &["line 2", "non-empty argv"][..],
        ),
        (
            "[telegram]\nadmins = [1.5]\n",
            &["line 2", "an id, as a string or an integer"][..],
        ),
        ("[matrix]\n", &["line 1", "unknown field `matrix`"][..]),
        ("[maintenance\n", &["line 1"][..]),
    ];
    for (text, needles) in cases {
        let message = parse(text).unwrap_err();
        assert!(
            message.starts_with("invalid config /p/lull.toml: "),
            "{message}"
        );
        for needle in needles {
            assert!(
                message.contains(needle),
                "{text:?}: {needle:?} not in {message}"
            );
        }
    }
}

#[test]
fn windows_and_their_zone_parse_and_bad_ones_name_the_entry_and_the_line() {
    let config = parse(
        "[maintenance]\nwindows = [\"Mon-Fri 02:00-05:00\", \"Fri 22:00-02:00\"]\ntimezone = \"Europe/Berlin\"\n",
    )
    .unwrap();
    let windows = config.maintenance.windows();
    assert!(windows.configured());
    assert_eq!(windows.zone().name(), "Europe/Berlin");
    assert_eq!(
        windows.entries(),
        ["Mon-Fri 02:00-05:00", "Fri 22:00-02:00"]
    );
    assert!(!Config::default().maintenance.windows().configured());

    let bad =
        parse("[maintenance]\nidle_seconds = 60\nwindows = [\"Mon 02:00-02:00\"]\n").unwrap_err();
    assert!(bad.contains("line 3"), "{bad}");
    assert!(
        bad.contains("\"Mon 02:00-02:00\": it starts and ends at 02:00"),
        "{bad}"
    );
    let zone = parse("[maintenance]\ntimezone = \"CEST\"\n").unwrap_err();
    assert!(
        zone.contains("line 2") && zone.contains("unknown time zone \"CEST\""),
        "{zone}"
    );
}
