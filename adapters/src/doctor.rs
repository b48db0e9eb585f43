//! `lull doctor`: whether this profile will actually restart the gateway, as a checklist with a
//! fix for each failing line. Exit 1 when anything fails.
//!
//! What it looks at, in the order a newcomer meets the trouble: the config; each executor
//! command, resolved as lull will run it (lull's own `PATH`, its cleared environment); the
//! session variables a `systemctl --user` command needs; the profile's and the socket's modes;
//! each chat platform's token (and, `--online`, whether the platform takes it); whether a server
//! runs and an activity source has reported; the maintenance windows; the fleet's lock service.
//! The environment is this command's: run it as lull runs (the same user, the unit's
//! environment) for the answers to hold for `lull serve`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::client::{self, Probe};
use crate::config::{Config, RestartSetting};
use crate::exit::{EXIT_ERROR, Failure};
use crate::profile::Profile;

mod platforms;

use platforms::{check_platforms, http};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Ok,
    Fail,
    /// Worth knowing, nothing wrong.
    Info,
}

/// One line of the checklist.
#[derive(Debug, Serialize)]
struct Check {
    name: String,
    outcome: Outcome,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

#[derive(Default)]
struct Checklist(Vec<Check>);

impl Checklist {
    fn ok(&mut self, name: &str, detail: impl Into<String>) {
        self.push(name, Outcome::Ok, detail.into(), None);
    }

    fn info(&mut self, name: &str, detail: impl Into<String>) {
        self.push(name, Outcome::Info, detail.into(), None);
    }

    fn fail(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.push(name, Outcome::Fail, detail.into(), Some(fix.into()));
    }

    fn push(&mut self, name: &str, outcome: Outcome, detail: String, fix: Option<String>) {
        self.0.push(Check {
            name: name.to_owned(),
            outcome,
            detail,
            fix,
        });
    }

    fn failed(&self) -> bool {
        self.0.iter().any(|c| c.outcome == Outcome::Fail)
    }
}

/// Runs every check and prints the checklist (or its JSON).
pub(crate) async fn run(profile: &Profile, json: bool, online: bool) -> Result<(), Failure> {
    let mut list = Checklist::default();
    if let Some(config) = check_config(profile, &mut list) {
        check_executor(&config, &mut list);
        check_modes(profile, &config, &mut list);
        check_platforms(&config, online, &mut list).await;
        check_server(profile, &config, &mut list).await;
        check_fleet(profile, &config, &mut list).await;
    }
    if json {
        let report = json!({"profile": profile.name, "ok": !list.failed(), "checks": list.0});
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", text(profile, &list));
    }
    if list.failed() {
        Err(Failure::new(EXIT_ERROR, ""))
    } else {
        Ok(())
    }
}

fn text(profile: &Profile, list: &Checklist) -> String {
    let mut out = format!(
        "lull doctor: profile {} ({})\n",
        profile.name,
        profile.dir.display()
    );
    for check in &list.0 {
        let mark = match check.outcome {
            Outcome::Ok => "ok  ",
            Outcome::Fail => "FAIL",
            Outcome::Info => "info",
        };
        out.push_str(&format!("  {mark} {}: {}\n", check.name, check.detail));
        if let Some(fix) = &check.fix {
            out.push_str(&format!("       fix: {fix}\n"));
        }
    }
    let failed = list.0.iter().filter(|c| c.outcome == Outcome::Fail).count();
    out.push_str(&if failed == 0 {
        "Everything lull needs is in place.\n".to_owned()
    } else {
        format!("{failed} check(s) failed: requests will not run as they should until fixed.\n")
    });
    out
}

fn check_config(profile: &Profile, list: &mut Checklist) -> Option<Config> {
    let path = profile.config_path();
    if !path.exists() {
        list.fail(
            "config",
            format!("{} does not exist", path.display()),
            "run `lull init`, then set executor.restart in it",
        );
        return None;
    }
    match Config::load(&path) {
        Ok(config) => {
            list.ok("config", format!("{} parses", path.display()));
            Some(config)
        }
        Err(error) => {
            list.fail(
                "config",
                error.to_string(),
                "correct the key the message names (docs/config.md lists every key)",
            );
            None
        }
    }
}

fn check_executor(config: &Config, list: &mut Checklist) {
    match &config.executor.restart {
        None => list.fail(
            "executor.restart",
            "not set: nothing can restart the gateway",
            "give the argv that restarts it, e.g. restart = [\"systemctl\", \"--user\", \"restart\", \"my-gateway\"]",
        ),
        Some(RestartSetting::SelfExec) => list.fail(
            "executor.restart",
            "\"self\" is for gateways that embed lull; `lull serve` refuses it",
            "give the argv that restarts your gateway",
        ),
        Some(RestartSetting::Argv(argv)) => check_argv("executor.restart", argv, list),
    }
    if let Some(argv) = &config.executor.update {
        check_argv("executor.update", argv, list);
    }
    if let Some(argv) = &config.executor.health_command {
        check_argv("executor.health_command", argv, list);
    }
}

/// A command as lull runs it: its program found on lull's `PATH` (or at its path), executable,
/// and for `systemctl --user`, the session's variables there.
fn check_argv(name: &str, argv: &[String], list: &mut Checklist) {
    let Some(program) = argv.first() else {
        list.fail(
            name,
            "the command is empty",
            "give a program and its arguments",
        );
        return;
    };
    let path_var = std::env::var("PATH").unwrap_or_default();
    match resolve(program, &path_var) {
        Ok(found) => list.ok(
            name,
            format!("{} runs {}", argv.join(" "), found.display()),
        ),
        Err(why) => list.fail(
            name,
            format!("`{program}` {why}"),
            format!(
                "give its absolute path, or start lull with its directory on PATH (lull's PATH is {path_var:?})"
            ),
        ),
    }
    let is_systemctl = Path::new(program)
        .file_name()
        .is_some_and(|n| n == "systemctl");
    if is_systemctl && argv.iter().any(|a| a == "--user") {
        // systemctl --user reaches the user manager through $XDG_RUNTIME_DIR/systemd/private;
        // the bus address is what other user-session tools use.
        let check = format!("{name} session");
        if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
            list.fail(
                &check,
                "systemctl --user needs XDG_RUNTIME_DIR and lull's environment lacks it: it would fail with \"Failed to connect to bus\"",
                "run lull as a user service (`lull service --install`), which has it; or start it with XDG_RUNTIME_DIR=/run/user/$(id -u) (and DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$(id -u)/bus)",
            );
        } else if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
            list.info(
                &check,
                "systemctl --user has XDG_RUNTIME_DIR; DBUS_SESSION_BUS_ADDRESS is not set (systemctl does without it)",
            );
        } else {
            list.ok(
                &check,
                "systemctl --user has XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS",
            );
        }
    }
}

/// Where `program` is found, as `execvp` would look.
fn resolve(program: &str, path_var: &str) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![PathBuf::from(program)]
    } else {
        std::env::split_paths(path_var)
            .map(|dir| dir.join(program))
            .collect()
    };
    let mut not_executable = None;
    for candidate in candidates {
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            return Ok(candidate);
        }
        not_executable = Some(candidate);
    }
    Err(match not_executable {
        Some(path) => format!("is at {} but is not an executable file", path.display()),
        None if program.contains('/') => "does not exist".into(),
        None => "is not found on lull's PATH".into(),
    })
}

fn check_modes(profile: &Profile, config: &Config, list: &mut Checklist) {
    let shared = config.api.socket_group.is_some();
    let (dir_mode, socket_mode) = if shared {
        (0o750, 0o660)
    } else {
        (0o700, 0o600)
    };
    let fix = "`lull serve` sets the modes at each start ([api] socket_group for a group): restart it, or chmod by hand";
    for (what, path, expected) in [
        ("profile directory", profile.dir.clone(), dir_mode),
        ("control socket", profile.socket_path(), socket_mode),
    ] {
        let Ok(meta) = std::fs::metadata(&path) else {
            list.info(what, format!("{} does not exist yet", path.display()));
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        // SAFETY: geteuid cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me && shared && in_group(meta.gid()) {
            list.ok(
                what,
                format!(
                    "{} is shared with your group (mode {mode:o})",
                    path.display()
                ),
            );
        } else if meta.uid() != me {
            list.fail(
                what,
                format!(
                    "{} belongs to uid {}, not to lull's user (uid {me})",
                    path.display(),
                    meta.uid()
                ),
                "run lull as the user that owns its profile, or chown it",
            );
        } else if mode != expected {
            list.fail(
                what,
                format!(
                    "{} is mode {mode:o}; lull keeps it {expected:o}",
                    path.display()
                ),
                fix,
            );
        } else {
            list.ok(what, format!("{} is mode {mode:o}", path.display()));
        }
    }
}

/// Whether this process is in group `gid` (its own group, or a supplementary one).
fn in_group(gid: u32) -> bool {
    // SAFETY: getegid cannot fail; getgroups fills at most the length it is given.
    unsafe {
        if libc::getegid() == gid {
            return true;
        }
        let mut groups = vec![0 as libc::gid_t; 1024];
        let count = libc::getgroups(groups.len() as libc::c_int, groups.as_mut_ptr());
        count > 0 && groups[..count as usize].contains(&gid)
    }
}

async fn check_server(profile: &Profile, config: &Config, list: &mut Checklist) {
    let socket = profile.socket_path();
    match client::probe(&socket).await {
        Probe::Absent => {
            list.fail(
                "server",
                "lull serve is not running for this profile: nothing is scheduled, nothing restarts",
                "`lull service --install`, then enable it as it says (or run `lull serve`)",
            );
            return;
        }
        Probe::Unreachable(error) => {
            list.fail(
                "server",
                error.to_string(),
                "run doctor as lull's user, or share the socket with [api] socket_group",
            );
            return;
        }
        Probe::Server => {}
    }
    let status = match client::call(&socket, "GET", "/v1/status", None).await {
        Ok(answer) if answer.status == 200 => answer.body,
        Ok(answer) => {
            list.fail(
                "server",
                format!("status answered {}", answer.status),
                "see lull's log",
            );
            return;
        }
        Err(error) => {
            list.fail("server", error.to_string(), "see lull's log");
            return;
        }
    };
    list.ok(
        "server",
        format!("lull serve answers on {}", socket.display()),
    );
    check_sources(&status, config, list);
    check_windows(&status, list);
}

fn check_sources(status: &serde_json::Value, config: &Config, list: &mut Checklist) {
    let sources = status["sources"].as_array().cloned().unwrap_or_default();
    let hint = "connect the gateway: the Hermes plugin (docs/hermes.md), the relay (docs/relay.md), POST /v1/heartbeat from your own code, or `lull heartbeat --source NAME` to try it";
    if sources.is_empty() {
        list.fail(
            "activity source",
            "no source has reported: requests will wait on no_activity_source (docs/scheduling.md), since lull never assumes the chats are idle",
            hint,
        );
        return;
    }
    let now = lull_queue::Timestamp::from_system_time(std::time::SystemTime::now());
    let ttl = config.maintenance.source_ttl_seconds;
    for source in sources {
        let name = source["name"].as_str().unwrap_or("?");
        let age = source["last_seen"]
            .as_str()
            .and_then(|t| lull_queue::Timestamp::parse(t).ok())
            .map(|seen| now.saturating_since(seen).as_secs());
        match age {
            Some(age) if age <= ttl => list.ok(
                &format!("activity source {name}"),
                format!("last reported {age}s ago (it must report within source_ttl_seconds, {ttl}s)"),
            ),
            Some(age) => list.fail(
                &format!("activity source {name}"),
                format!("silent for {age}s, longer than source_ttl_seconds ({ttl}s): requests wait until it reports"),
                hint,
            ),
            None => list.info(&format!("activity source {name}"), "reported at an unknown time"),
        }
    }
}

fn check_windows(status: &serde_json::Value, list: &mut Checklist) {
    let windows = &status["windows"];
    if windows.is_null() {
        list.info(
            "windows",
            "none configured: a request may start at any hour",
        );
    } else if windows["open"] == true {
        list.info(
            "windows",
            format!(
                "open now, until {}",
                windows["closes_at"].as_str().unwrap_or("beyond two weeks")
            ),
        );
    } else {
        let next = windows["next_opening_local"]
            .as_str()
            .or(windows["next_opening"].as_str())
            .unwrap_or("not within two weeks");
        list.info("windows", format!("closed now; the next opens {next}"));
    }
}

async fn check_fleet(profile: &Profile, config: &Config, list: &mut Checklist) {
    let settings = match crate::fleet::FleetSettings::from_config(config, &profile.name) {
        Ok(Some(settings)) => settings,
        Ok(None) => return,
        Err(error) => {
            list.fail("fleet", error.to_string(), "see docs/fleet.md");
            return;
        }
    };
    let urls: Vec<String> = match &settings.backend {
        crate::fleet::Backend::Etcd { endpoints, .. } => endpoints
            .iter()
            .map(|u| format!("{}/version", u.as_str().trim_end_matches('/')))
            .collect(),
        crate::fleet::Backend::FleetLock { url } => vec![url.to_string()],
    };
    for url in &urls {
        // Any HTTP answer means the service is there; the protocol is checked when it is used.
        if let Ok(answer) = http().get(url).send().await {
            list.ok(
                "fleet lock service",
                format!("{url} answers (HTTP {})", answer.status()),
            );
            return;
        }
    }
    list.fail(
        "fleet lock service",
        format!("nothing answers at {}", urls.join(", ")),
        "start it, or correct [fleet] endpoints / url; restarts wait on fleet_unreachable meanwhile",
    );
}
