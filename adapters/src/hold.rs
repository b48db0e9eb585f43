//! `lull hold -- COMMAND…`: runs a command as a live run, the way `systemd-inhibit` holds a
//! shutdown. A backup, a cron job or a deploy script keeps maintenance back while it runs: the
//! run begins before the command starts, is heartbeaten while it runs, and ends when it exits;
//! the command's exit status is passed through.
//!
//! Decisions, for a job that must not be cut and must not be stopped by lull either:
//! - lull not running: the command runs anyway (no restart can happen without `lull serve`), and
//!   the hold is taken as soon as a server answers, so one started meanwhile is held back too.
//! - maintenance running now: the command waits until it is over before it starts (it would
//!   otherwise run during the restart it was meant to avoid), saying so once.
//! - a lease lull forgot (lull restarted): begun again at the next heartbeat.
//! - SIGTERM or SIGHUP to `lull hold` reach the command; Ctrl-C reaches it from the terminal,
//!   and the hold ends when the command does. Stopped while it waits for maintenance to end, it
//!   exits with 128 + the signal, and the command never starts.
//! - A run that lapsed or that an admin released while the command runs is held again (the
//!   command still runs), and `lull hold` says so: to stop holding, stop the command.
//! - Without `--source` the run is no activity source's: its silence afterwards blocks nothing.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

use crate::client::{self, ClientError};
use crate::exit::{EXIT_ERROR, EXIT_USAGE, Failure};

/// The source named in the calls when `--source` is not given (not announced: see above).
const UNANNOUNCED_SOURCE: &str = "lull-hold";
/// How often a hold without a lease tries to begin one (lull down, or maintenance running).
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// Shortest time between heartbeats, whatever the lease TTL.
const SHORTEST_BEAT: Duration = Duration::from_secs(1);

/// One `lull hold` call: the command run as a live run that holds maintenance back while it
/// runs (as `systemd-inhibit` holds shutdown), and how it is named in status.
pub(crate) struct Hold {
    /// The session the run is shown as (default `hold:<program>`).
    pub(crate) session: String,
    /// The activity source it announces, if any.
    pub(crate) source: Option<String>,
    /// The command and its arguments.
    pub(crate) command: Vec<String>,
}

impl Hold {
    /// The hold `lull hold` was asked for, before anything runs.
    pub fn new(
        session: Option<String>,
        source: Option<String>,
        command: Vec<String>,
    ) -> Result<Self, Failure> {
        let Some(program) = command.first() else {
            return Err(Failure::new(
                EXIT_USAGE,
                "give the command to run after --, e.g. lull hold -- ./backup.sh",
            ));
        };
        // --session and --source were checked as the command line was parsed; the default
        // session, made of the program's name, is checked the same way.
        let session = match session {
            Some(session) => session,
            None => {
                let name = Path::new(program)
                    .file_name()
                    .map_or_else(|| program.clone(), |n| n.to_string_lossy().into_owned());
                crate::names::session_name(&format!("hold:{name}"))
                    .map_err(|e| Failure::new(EXIT_USAGE, format!("{e}; pass --session")))?
            }
        };
        Ok(Self {
            session,
            source,
            command,
        })
    }

    fn body(&self) -> Value {
        json!({
            "session": self.session,
            "source": self.source.as_deref().unwrap_or(UNANNOUNCED_SOURCE),
            "announce_source": self.source.is_some(),
        })
    }
}

/// What a try to begin the run came to.
enum Begun {
    /// Held: the lease and how often to heartbeat it.
    Lease(String, Duration),
    /// Maintenance runs now: the run cannot begin until it is over.
    Executing,
    /// No server answers (or it cannot be reached): nothing to hold against now.
    NoServer(String),
}

async fn begin(socket: &Path, hold: &Hold) -> Begun {
    match client::call(socket, "POST", "/v1/runs", Some(&hold.body())).await {
        Ok(answer) if answer.status == 200 => {
            let lease = answer.body["lease"].as_str().unwrap_or_default().to_owned();
            let ttl = Duration::from_secs(answer.body["ttl_seconds"].as_u64().unwrap_or(90));
            Begun::Lease(lease, (ttl / 3).max(SHORTEST_BEAT))
        }
        Ok(answer) if answer.body["error"]["code"] == "executing" => Begun::Executing,
        Ok(answer) => Begun::NoServer(format!(
            "lull refused the run: {}",
            answer.body["error"]["message"]
                .as_str()
                .map_or_else(|| answer.body.to_string(), str::to_owned)
        )),
        Err(error) => Begun::NoServer(describe(&error)),
    }
}

fn describe(error: &ClientError) -> String {
    match error {
        ClientError::NotRunning(_) => "lull serve is not running for this profile".into(),
        other => other.to_string(),
    }
}

/// The signals `lull hold` watches from its start: TERM and HUP are passed to the command;
/// INT (Ctrl-C, which the terminal gives the command too) is not passed again, and the hold
/// lasts as long as the command does.
struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn watch() -> Result<Self, Failure> {
        let watch = |kind| {
            signal(kind).map_err(|e| {
                Failure::new(
                    EXIT_ERROR,
                    format!("cannot watch for signals to pass on: {e}"),
                )
            })
        };
        Ok(Self {
            term: watch(SignalKind::terminate())?,
            hup: watch(SignalKind::hangup())?,
            int: watch(SignalKind::interrupt())?,
        })
    }

    /// The next signal's number.
    async fn next(&mut self) -> libc::c_int {
        tokio::select! {
            _ = self.term.recv() => libc::SIGTERM,
            _ = self.hup.recv() => libc::SIGHUP,
            _ = self.int.recv() => libc::SIGINT,
        }
    }
}

/// Runs the hold: returns the command's exit status (128 + the signal that killed it; 127 when
/// it cannot be found, 126 when it cannot be run).
pub(crate) async fn run(socket: &Path, hold: Hold) -> Result<i32, Failure> {
    // Watched from the start, so no signal finds lull hold with a lease and no handler.
    let mut signals = Signals::watch()?;
    let mut lease = None;
    let mut said_executing = false;
    let mut said_no_server = false;
    // Before the command starts: held, or lull is down, but never during maintenance.
    loop {
        match begin(socket, &hold).await {
            Begun::Lease(id, beat) => {
                lease = Some((id, beat));
                break;
            }
            Begun::Executing => {
                if !said_executing {
                    eprintln!(
                        "lull hold: maintenance is running now; {} starts once it is over",
                        hold.command[0]
                    );
                    said_executing = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(RETRY_EVERY) => {}
                    // Stopped while waiting: the command never started.
                    signal = signals.next() => return Ok(128 + signal),
                }
            }
            Begun::NoServer(why) => {
                eprintln!(
                    "lull hold: {why}; running {} without a hold (taken as soon as lull answers)",
                    hold.command[0]
                );
                said_no_server = true;
                break;
            }
        }
    }
    let mut child = match tokio::process::Command::new(&hold.command[0])
        .args(&hold.command[1..])
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            end(socket, &hold, lease.as_ref()).await;
            let code = if error.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            eprintln!("lull hold: cannot run {}: {error}", hold.command[0]);
            return Ok(code);
        }
    };
    let status = loop {
        let wait = lease.as_ref().map_or(RETRY_EVERY, |(_, beat)| *beat);
        tokio::select! {
            status = child.wait() => break status,
            () = tokio::time::sleep(wait) => {
                lease = tend(socket, &hold, lease.take(), &mut said_no_server).await;
            }
            signal = signals.next() => {
                if signal != libc::SIGINT {
                    forward(&child, signal);
                }
            }
        }
    };
    end(socket, &hold, lease.as_ref()).await;
    let status = status.map_err(|e| {
        Failure::new(
            EXIT_ERROR,
            format!("lost track of {}: {e}", hold.command[0]),
        )
    })?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(EXIT_ERROR))
}

/// One heartbeat (or, without a lease, one try to begin).
async fn tend(
    socket: &Path,
    hold: &Hold,
    lease: Option<(String, Duration)>,
    said_no_server: &mut bool,
) -> Option<(String, Duration)> {
    if let Some((id, beat)) = lease {
        let path = format!("/v1/runs/{id}/heartbeat");
        match client::call(socket, "POST", &path, Some(&hold.body())).await {
            // The TTL as lull says now (a lull restarted meanwhile may have another).
            Ok(answer) if answer.status == 200 => {
                let beat = answer.body["ttl_seconds"].as_u64().map_or(beat, |ttl| {
                    (Duration::from_secs(ttl) / 3).max(SHORTEST_BEAT)
                });
                return Some((id, beat));
            }
            // Lapsed or released by an admin while the command still runs: held again, and
            // said so (to stop holding, stop the command).
            Ok(answer) if answer.status == 410 => {
                eprintln!(
                    "lull hold: the run lapsed or was released while {} runs; holding again",
                    hold.command[0]
                );
            }
            // Anything else (lull busy, restarting, a refusal): kept, and tried again.
            _ => return Some((id, beat)),
        }
    }
    match begin(socket, hold).await {
        Begun::Lease(id, beat) => {
            if *said_no_server {
                eprintln!("lull hold: lull answers now; the run is held");
                *said_no_server = false;
            }
            Some((id, beat))
        }
        Begun::Executing | Begun::NoServer(_) => None,
    }
}

async fn end(socket: &Path, hold: &Hold, lease: Option<&(String, Duration)>) {
    if let Some((id, _)) = lease {
        let path = format!("/v1/runs/{id}");
        let body = json!({
            "source": hold.source.as_deref().unwrap_or(UNANNOUNCED_SOURCE),
            "announce_source": hold.source.is_some(),
        });
        // A lease that cannot be ended expires after lull's lease TTL.
        let _ = client::call(socket, "DELETE", &path, Some(&body)).await;
    }
}

fn forward(child: &tokio::process::Child, signal: libc::c_int) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) with a pid of our own child (not yet reaped) and a valid signal.
        unsafe {
            libc::kill(pid as libc::pid_t, signal);
        }
    }
}
