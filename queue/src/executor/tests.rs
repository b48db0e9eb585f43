//! Tests of the command executor with real processes: environment allowlist, output tail and
//! redaction, update outcomes, and process groups killed on timeout and when lull is killed.

use std::path::Path;
use std::time::Duration;

use super::process::{self, CommandLine, OUTPUT_TAIL_BYTES};
use super::*;
use crate::id::RequestId;
use crate::request::{Kind, State};

fn request(kind: Kind, reason: &str) -> Request {
    let id = RequestId::new_random();
    Request {
        id,
        short_id: id.short_id(3),
        kind,
        state: State::Running,
        reason: reason.into(),
        idle_seconds: 0,
        idle_set_by_admin: false,
        ignore_windows: false,
        requested_by: Vec::new(),
        unlisted_requesters: 0,
        phase: None,
        phase_since: None,
        fencing_token: None,
        created_at: crate::timestamp::Timestamp::from_unix_millis(0),
        transitions: Vec::new(),
        result: None,
    }
}

fn sh(script: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), script.into()]
}

fn executor(restart: &str, update: Option<&str>) -> CommandExecutor {
    CommandExecutor {
        restart: RestartAction::Command(sh(restart)),
        update: update.map(sh),
        unchanged_exit_code: 3,
        timeout: Duration::from_secs(30),
        kill_grace: Duration::from_secs(2),
        pass_env: vec!["CARGO_PKG_NAME".into()],
        secrets: vec!["super-secret-value".into()],
    }
}

fn alive(pid: i32) -> bool {
    // /proc/PID/stat's third field is the state; a zombie (Z) is as good as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Waits (bounded at 30 s) until `pid` is gone.
fn wait_gone(pid: i32) -> bool {
    for _ in 0..3000 {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[tokio::test]
async fn commands_see_only_the_allowlisted_environment() {
    // The test runner's CARGO_MANIFEST_DIR stands in for a token in lull's environment.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let e = executor("env", None);
    let StepOutcome::Done(result) = e.restart(&request(Kind::Restart, "tool installed")).await
    else {
        panic!("env failed");
    };
    let env = result.output_tail.unwrap();
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(n, _)| n))
        .collect();
    for expected in [
        "PATH",
        "LULL_REQUEST_ID",
        "LULL_REQUEST_KIND",
        "LULL_REASON",
        "CARGO_PKG_NAME",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        !names.contains(&"CARGO_MANIFEST_DIR"),
        "a variable outside the allowlist leaked: {env}"
    );
    assert!(
        names.iter().all(|n| [
            "PATH",
            "HOME",
            "LANG",
            "XDG_RUNTIME_DIR",
            "DBUS_SESSION_BUS_ADDRESS",
            "LULL_REQUEST_ID",
            "LULL_REQUEST_KIND",
            "LULL_REASON",
            "CARGO_PKG_NAME",
            "PWD",
            "SHLVL",
            "_"
        ]
        .contains(n)),
        "{names:?}"
    );
    assert!(env.contains("LULL_REQUEST_KIND=restart"));
}

#[tokio::test]
async fn a_stored_reason_holding_a_nul_never_keeps_the_command_from_starting() {
    // Stored before control characters were refused: the NUL is dropped, the rest passes.
    let e = executor("printf '%s' \"$LULL_REASON\"", None);
    let StepOutcome::Done(result) = e.restart(&request(Kind::Restart, "new\0tool\n")).await else {
        panic!("the command did not start");
    };
    assert_eq!(result.output_tail.unwrap(), "newtool\n");
}

#[tokio::test]
async fn the_reason_reaches_the_command_verbatim_and_never_as_argv() {
    let reason = "installed $(touch /tmp/pwned); echo `id` \"quoted\"";
    let e = executor("printf '%s' \"$LULL_REASON\"; echo; echo \"$#\"", None);
    let StepOutcome::Done(result) = e.restart(&request(Kind::Restart, reason)).await else {
        panic!("printf failed");
    };
    let tail = result.output_tail.unwrap();
    assert_eq!(tail, format!("{reason}\n0\n"));
}

#[tokio::test]
async fn the_command_line_shown_in_chat_is_redacted_like_the_output() {
    // A token written into the executor's argv must not reach chat or status.
    let e = executor("exit 4 # super-secret-value", None);
    let StepOutcome::Failed(result) = e.restart(&request(Kind::Restart, "")).await else {
        panic!("exit 4 must fail");
    };
    let message = result.message.unwrap();
    assert!(message.contains("[redacted]"), "{message}");
    assert!(!message.contains("super-secret-value"), "{message}");
}

#[tokio::test]
async fn output_is_cut_to_its_last_4_kib_and_redacted() {
    let script = "head -c 100000 /dev/zero | tr '\\0' a; echo; echo 'token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 and super-secret-value'; exit 1";
    let e = executor(script, None);
    let StepOutcome::Failed(result) = e.restart(&request(Kind::Restart, "")).await else {
        panic!("exit 1 must fail");
    };
    let tail = result.output_tail.unwrap();
    assert!(tail.len() <= OUTPUT_TAIL_BYTES + 64, "{}", tail.len());
    assert!(
        tail.ends_with("token [redacted] and [redacted]\n"),
        "{}",
        &tail[tail.len() - 80..]
    );
    assert_eq!(result.exit_status, Some(1));
    assert!(result.message.unwrap().contains("exited with status 1"));
}

#[tokio::test]
async fn update_outcomes_follow_the_exit_status() {
    let updated = executor("true", Some("echo updated"));
    let r = request(Kind::Update, "");
    assert!(matches!(updated.update(&r).await, StepOutcome::Done(_)));
    let unchanged = executor("true", Some("exit 3"));
    let StepOutcome::Unchanged(result) = unchanged.update(&r).await else {
        panic!("exit 3 is unchanged")
    };
    assert_eq!(
        result.message.as_deref(),
        Some("already up to date; no restart needed")
    );
    let failed = executor("true", Some("exit 7"));
    assert!(matches!(
        failed.update(&r).await,
        StepOutcome::Failed(RunResult {
            exit_status: Some(7),
            ..
        })
    ));
    let missing = executor("true", None);
    assert!(!missing.can_update());
    assert!(matches!(missing.update(&r).await, StepOutcome::Failed(_)));
    let not_found = CommandExecutor {
        restart: RestartAction::Command(vec!["/nonexistent/restart".into()]),
        ..executor("", None)
    };
    let StepOutcome::Failed(result) = not_found.restart(&r).await else {
        panic!()
    };
    assert!(
        result.message.unwrap().contains("could not start"),
        "a clear reason"
    );
}

/// `script` run by `sh -c`, with no extra environment.
fn sh_line(script: &str, timeout: Duration) -> CommandLine {
    CommandLine {
        argv: sh(script),
        vars: Vec::new(),
        pass_env: Vec::new(),
        timeout,
        kill_grace: Duration::from_secs(2),
    }
}

/// Starts `sleep 300` in the background, writes its pid to `pidfile` and waits. The pid is
/// written whole (rename) so that a kill can never leave an empty pid file behind.
fn background_sleep(pidfile: &Path) -> String {
    format!(
        "sleep 300 & echo $! > {0}.tmp && mv {0}.tmp {0}; wait",
        pidfile.display()
    )
}

/// Runs the script `wrap` makes of [`background_sleep`] with a 5 s timeout (ample for a loaded
/// machine to write the pid) and checks the timeout killed the background sleep too.
async fn assert_a_timeout_kills_the_group(wrap: impl FnOnce(String) -> String) {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = wrap(background_sleep(&pidfile));
    let finished = tokio::time::timeout(
        Duration::from_secs(60),
        process::run(&sh_line(&script, Duration::from_secs(5))),
    )
    .await
    .expect("the timeout reached the command's group");
    assert!(finished.timed_out);
    let grandchild = read_pid(&pidfile).expect("the script wrote its child's pid");
    assert!(
        wait_gone(grandchild),
        "the background sleep survived the timeout"
    );
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    assert_a_timeout_kills_the_group(|script| script).await;
}

/// coreutils `timeout` calls setpgid(0, 0) itself: the group must stay the one lull knows.
#[tokio::test]
async fn a_command_that_sets_its_own_group_is_still_killed_on_timeout() {
    assert_a_timeout_kills_the_group(|script| format!("exec timeout 300 sh -c '{script}'")).await;
}

/// lull stopping mid-run drops the run's future: the group dies with it, and the drop does not
/// hang on the guardian.
#[tokio::test]
async fn an_abandoned_run_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let script = background_sleep(&pidfile);
    let run =
        tokio::spawn(
            async move { process::run(&sh_line(&script, Duration::from_secs(600))).await },
        );
    let grandchild = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            if let Some(pid) = read_pid(&pidfile) {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the script wrote its child's pid");
    run.abort();
    assert!(
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the abandoned run finished dropping")
            .unwrap_err()
            .is_cancelled()
    );
    assert!(
        wait_gone(grandchild),
        "the background sleep survived the abandoned run"
    );
}

/// A command past its timeout gets SIGTERM first: one that traps it cleans up and says so.
/// Its clean-up takes a second, which it gets: SIGKILL waits for the grace, not for nothing.
#[tokio::test]
async fn a_timeout_sends_term_first_and_kill_only_after_the_grace() {
    let trapped = "trap 'sleep 1; echo got TERM; exit 7' TERM; sleep 300 & wait";
    let finished = tokio::time::timeout(
        Duration::from_secs(60),
        process::run(&sh_line(trapped, Duration::from_secs(1))),
    )
    .await
    .expect("the timeout ended the command");
    assert!(finished.timed_out);
    assert!(
        finished.output_tail.contains("got TERM"),
        "{:?}",
        finished.output_tail
    );
    // One that ignores TERM (and whose child does too) is killed once the grace is over.
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let stubborn = format!("trap '' TERM; {}", background_sleep(&pidfile));
    let finished = tokio::time::timeout(
        Duration::from_secs(60),
        process::run(&sh_line(&stubborn, Duration::from_secs(1))),
    )
    .await
    .expect("SIGKILL followed the grace");
    assert!(finished.timed_out);
    let grandchild = read_pid(&pidfile).expect("the script wrote its child's pid");
    assert!(wait_gone(grandchild), "the TERM-proof sleep survived");
}

/// lull stopping mid-run leaves the command to its guardian, which sends SIGTERM first: a
/// command that traps it gets to clean up, a second of it, before any SIGKILL.
#[tokio::test]
async fn an_abandoned_run_gets_term_before_kill() {
    let dir = tempfile::tempdir().unwrap();
    let said = dir.path().join("said");
    let started = dir.path().join("started");
    let script = format!(
        "trap 'sleep 1; echo bye > {said}; exit 0' TERM; touch {started}; sleep 300 & wait",
        said = said.display(),
        started = started.display()
    );
    let run =
        tokio::spawn(
            async move { process::run(&sh_line(&script, Duration::from_secs(600))).await },
        );
    let appeared = |path: std::path::PathBuf| async move {
        tokio::time::timeout(Duration::from_secs(60), async {
            while !path.exists() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .is_ok()
    };
    assert!(appeared(started).await, "the command started");
    run.abort();
    assert!(appeared(said.clone()).await, "the command was sent SIGTERM");
    assert_eq!(std::fs::read_to_string(&said).unwrap(), "bye\n");
}

const CHILD_ENV: &str = "LULL_EXECUTOR_CHILD_DIR";

/// Child mode for the test below: runs a command whose group must die with this process.
#[tokio::test]
async fn executor_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    // Wrapped in coreutils `timeout`, which calls setpgid(0, 0) itself: the group must stay
    // the one lull and its guardian know.
    let script = format!(
        "exec timeout 300 sh -c 'echo $$ > {dir}/sh.pid; sleep 300 & echo $! > {dir}/sleep.pid; wait'"
    );
    process::run(&sh_line(&script, Duration::from_secs(600))).await;
}

#[test]
fn a_kill_9_of_lull_leaves_no_orphan() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The test's name as the harness knows it: its module path without the crate's name, so
    // moving this file cannot leave the name stale.
    let (_, module) = module_path!().split_once("::").unwrap();
    let mut lull = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &format!("{module}::executor_child"),
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut sh_pid, mut sleep_pid) = (None, None);
    for _ in 0..3000 {
        sh_pid = read_pid(&dir.path().join("sh.pid"));
        sleep_pid = read_pid(&dir.path().join("sleep.pid"));
        if sh_pid.is_some() && sleep_pid.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (sh_pid, sleep_pid) = (
        sh_pid.expect("command started"),
        sleep_pid.expect("background child started"),
    );
    assert!(alive(sh_pid) && alive(sleep_pid));
    lull.kill().unwrap();
    lull.wait().unwrap();
    assert!(wait_gone(sh_pid), "the command outlived lull");
    assert!(wait_gone(sleep_pid), "the command's child outlived lull");
}
