//! Running one executor command: argv without a shell, a cleared environment, its own process
//! group watched by a [`GroupGuardian`], a timeout that ends the whole group (SIGTERM, the kill
//! grace, then SIGKILL), and the last 4 KiB of its output.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::guardian::GroupGuardian;

/// Most output kept from a command (its end).
pub const OUTPUT_TAIL_BYTES: usize = 4096;

/// How long output is still read after the command exited, in case a child it left behind
/// keeps the pipes open.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// Environment variables every command may see (besides `LULL_REQUEST_*` and `pass_env`). The
/// user session's two let `systemctl --user restart …`, the usual restart command, reach the
/// user's service manager: without them it fails with "Failed to connect to bus".
const BASE_ENV: [&str; 5] = [
    "PATH",
    "HOME",
    "LANG",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
];

/// A command and the environment it runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLine {
    /// Program and arguments; never passed through a shell.
    pub argv: Vec<String>,
    /// Extra variables (`LULL_REQUEST_ID`, …), on top of the allowlisted ones.
    pub vars: Vec<(String, String)>,
    /// Names of variables of lull's own environment the command may see.
    pub pass_env: Vec<String>,
    /// Longest run before the whole process group is ended.
    pub timeout: Duration,
    /// `kill_grace_seconds`: between SIGTERM and SIGKILL when the group is ended (on timeout,
    /// or when lull stops during the run).
    pub kill_grace: Duration,
}

/// How a command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// Exit code, if it exited (not killed by a signal).
    pub exit_code: Option<i32>,
    /// It ran past its timeout and its process group was killed.
    pub timed_out: bool,
    /// The end of stdout and stderr, interleaved as they arrived (not yet redacted).
    pub output_tail: String,
    /// It could not be started at all.
    pub spawn_error: Option<String>,
}

impl Finished {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// A sentence describing the ending.
    pub fn describe(&self) -> String {
        if let Some(error) = &self.spawn_error {
            return format!("could not start: {error}");
        }
        if self.timed_out {
            return "timed out; its process group was killed".into();
        }
        match self.exit_code {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".into(),
        }
    }
}

/// Runs `line` to completion (or timeout). If the returned future is dropped midway (lull shuts
/// down), the command's process group is ended by its guardian: SIGTERM, the kill grace, then
/// SIGKILL, whether or not lull is still there.
pub async fn run(line: &CommandLine) -> Finished {
    let Some((program, args)) = line.argv.split_first() else {
        return spawn_failed("the command is empty".into());
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        // Not tokio's immediate SIGKILL to the leader alone: an abandoned run's whole group is
        // ended by its guardian, TERM first (see `RunningGroup`).
        .kill_on_drop(false);
    // The guardian comes first and the command reports to it before it execs, so the command
    // never runs unguarded (see the guardian's module).
    let guardian = GroupGuardian::arm(line.kill_grace);
    match &guardian {
        Ok(guardian) => {
            let report = guardian.report();
            // SAFETY: `send` makes only async-signal-safe calls, as the hook requires.
            unsafe {
                command.pre_exec(move || {
                    report.send();
                    Ok(())
                })
            };
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not start the process-group guardian; a kill -9 of lull may orphan the command");
        }
    }
    for name in BASE_ENV
        .iter()
        .copied()
        .chain(line.pass_env.iter().map(String::as_str))
    {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    for (name, value) in &line.vars {
        command.env(name, value);
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            // tokio may fail after the command was exec'd, leaving it running unwatched; the
            // guardian kills it then. (A command that failed to exec is already reaped, and its
            // pid given out again only after a wrap-around of every pid: a risk taken over a
            // command left running.)
            if let Ok(guardian) = guardian {
                guardian.abandon(None);
            }
            return spawn_failed(format!("{program}: {e}"));
        }
    };
    let Some(pgid) = child.id().map(|id| id as libc::pid_t) else {
        return spawn_failed(format!("{program}: exited before it could be watched"));
    };
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(OUTPUT_TAIL_BYTES)));
    let readers = [
        child
            .stdout
            .take()
            .map(|s| tokio::spawn(collect(s, tail.clone()))),
        child
            .stderr
            .take()
            .map(|s| tokio::spawn(collect(s, tail.clone()))),
    ];
    let mut group = RunningGroup {
        pgid,
        child: Some(child),
        guardian: guardian.ok(),
        grace: line.kill_grace,
    };
    let child = group.child();
    let waited = tokio::time::timeout(line.timeout, child.wait()).await;
    let (exit_code, timed_out) = match waited {
        Ok(Ok(status)) => (status.code(), false),
        Ok(Err(e)) => {
            // It may still run, unwatched: end it rather than leave it behind.
            tracing::warn!(error = %e, "waiting for the command failed; killing it");
            kill_group(pgid);
            let _ = child.wait().await;
            (None, false)
        }
        Err(_) => {
            end_group(pgid, line.kill_grace, child).await;
            (None, true)
        }
    };
    // It ended (on its own, or killed above) and is reaped, so its pid (the group's id) may be
    // given to another process: stop the guardian and the group's drop at once rather than after
    // the output is drained, lest a kill of lull in between signal a stranger's group. A daemon
    // it started in its group is the host's business, not an orphan of this run.
    group.finished();
    for reader in readers.into_iter().flatten() {
        let abort = reader.abort_handle();
        if tokio::time::timeout(DRAIN_AFTER_EXIT, reader)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    let bytes: Vec<u8> = tail
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .collect();
    Finished {
        exit_code,
        timed_out,
        output_tail: String::from_utf8_lossy(&bytes).into_owned(),
        spawn_error: None,
    }
}

fn spawn_failed(error: String) -> Finished {
    Finished {
        exit_code: None,
        timed_out: false,
        output_tail: String::new(),
        spawn_error: Some(error),
    }
}

async fn collect(mut stream: impl AsyncRead + Unpin, tail: Arc<Mutex<VecDeque<u8>>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.extend(&buf[..n]);
        let excess = tail.len().saturating_sub(OUTPUT_TAIL_BYTES);
        tail.drain(..excess);
    }
}

fn kill_group(pgid: libc::pid_t) {
    signal_group(pgid, libc::SIGKILL);
}

fn signal_group(pgid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: sends a signal to a process group we created.
    unsafe { libc::kill(-pgid, signal) };
}

/// Ends a command that ran past its timeout: SIGTERM to its group, up to `grace` for the
/// command to end, then SIGKILL to whatever is left of the group, and the reap. The leader is
/// reaped only after the last signal, so the group's id cannot be another's meanwhile.
async fn end_group(pgid: libc::pid_t, grace: Duration, child: &mut tokio::process::Child) {
    signal_group(pgid, libc::SIGTERM);
    let deadline = tokio::time::Instant::now() + grace;
    while tokio::time::Instant::now() < deadline && !ended_unreaped(pgid) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill_group(pgid);
    let _ = child.wait().await;
}

/// Whether the process `pid` (our child) has ended, without reaping it.
fn ended_unreaped(pid: libc::pid_t) -> bool {
    // SAFETY: waitid fills a siginfo we own; WNOWAIT leaves the child to be reaped later.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let waited = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        waited == 0 && info.si_pid() != 0
    }
}

/// The running command: its leader and group. Abandoned before it finished (the run's future
/// dropped: lull is stopping), the group is ended TERM first: by its guardian, which outlives
/// lull if need be; without one, by a thread of lull's. The leader is then left unreaped until
/// that is done, so the group's id cannot be another's while it is still signalled.
struct RunningGroup {
    pgid: libc::pid_t,
    /// `Some` until the run finished or was abandoned.
    child: Option<tokio::process::Child>,
    guardian: Option<GroupGuardian>,
    grace: Duration,
}

impl RunningGroup {
    fn child(&mut self) -> &mut tokio::process::Child {
        self.child
            .as_mut()
            .expect("the child stays until the run finished or was abandoned")
    }

    /// The command ended and was reaped: nothing is left to end, and the guardian stands down.
    fn finished(mut self) {
        self.child = None;
        if let Some(guardian) = self.guardian.take() {
            guardian.disarm();
        }
    }
}

impl Drop for RunningGroup {
    fn drop(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        // Not dropped: tokio would reap the leader as soon as it exits, and the group's id could
        // then be another's while the guardian still signals it. Reaped below instead.
        std::mem::forget(child);
        if let Some(guardian) = self.guardian.take() {
            guardian.abandon(Some(self.pgid));
            return;
        }
        signal_group(self.pgid, libc::SIGTERM);
        let (pgid, grace) = (self.pgid, self.grace);
        let _ = std::thread::Builder::new()
            .name("lull-kill-grace".into())
            .spawn(move || {
                std::thread::sleep(grace);
                // The leader is not reaped yet, so the group is still ours to signal.
                kill_group(pgid);
                // SAFETY: reaps our own child, the leader.
                unsafe { libc::waitpid(pgid, std::ptr::null_mut(), 0) };
            });
    }
}
