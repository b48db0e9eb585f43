//! `CommandExecutor`: the configured restart and update commands (or `"self"` for the restart,
//! embedded hosts only).

use std::sync::Arc;
use std::time::Duration;

use super::process::{self, CommandLine, Finished};
use super::self_restart::SelfRestart;
use super::{Executor, StepFuture, StepOutcome};
use crate::redact::redact;
use crate::request::{Request, RunResult};

/// How the gateway restarts.
#[derive(Clone)]
pub enum RestartAction {
    /// Run this argv (no shell).
    Command(Vec<String>),
    /// Re-execute this very process (embedded hosts only).
    SelfExec(Arc<SelfRestart>),
}

/// The `[executor]` configuration, resolved.
#[derive(Clone)]
pub struct CommandExecutor {
    /// `executor.restart`.
    pub restart: RestartAction,
    /// `executor.update`; without it update requests are refused when submitted.
    pub update: Option<Vec<String>>,
    /// `executor.unchanged_exit_code`: the update found nothing to do.
    pub unchanged_exit_code: i32,
    /// `executor.timeout_seconds`.
    pub timeout: Duration,
    /// `executor.kill_grace_seconds`: between SIGTERM and SIGKILL when a command is ended.
    pub kill_grace: Duration,
    /// `executor.pass_env`.
    pub pass_env: Vec<String>,
    /// Values never to show in output tails (lull's own tokens).
    pub secrets: Vec<String>,
}

impl CommandExecutor {
    fn line(&self, argv: &[String], request: &Request) -> CommandLine {
        CommandLine {
            argv: argv.to_vec(),
            vars: request_vars(request),
            pass_env: self.pass_env.clone(),
            timeout: self.timeout,
            kill_grace: self.kill_grace,
        }
    }

    fn result(&self, argv: &[String], finished: &Finished) -> RunResult {
        let tail = redact(&finished.output_tail, &self.secrets);
        RunResult {
            exit_status: finished.exit_code,
            output_tail: (!tail.is_empty()).then_some(tail),
            // The command line is shown in chat and status: redacted like the output.
            message: Some(redact(
                &format!("`{}` {}", argv.join(" "), finished.describe()),
                &self.secrets,
            )),
            not_started: finished.spawn_error.is_some(),
            ..RunResult::default()
        }
    }
}

/// The variables every executor command gets about the request. The reason travels only here,
/// never in argv.
pub fn request_vars(request: &Request) -> Vec<(String, String)> {
    let mut vars = vec![
        ("LULL_REQUEST_ID".into(), request.id.to_string()),
        ("LULL_REQUEST_KIND".into(), request.kind.to_string()),
        // A reason stored before control characters were refused may hold a NUL, which no
        // environment variable can: dropped, so the command always starts.
        ("LULL_REASON".into(), request.reason.replace('\0', "")),
    ];
    if let Some(token) = request.fencing_token {
        vars.push((crate::fleet::FENCING_TOKEN_ENV.into(), token.to_string()));
    }
    vars
}

impl Executor for CommandExecutor {
    fn update<'a>(&'a self, request: &'a Request) -> StepFuture<'a> {
        Box::pin(async move {
            let Some(argv) = &self.update else {
                return StepOutcome::Failed(RunResult {
                    message: Some("no update command is configured (executor.update)".into()),
                    ..RunResult::default()
                });
            };
            let finished = process::run(&self.line(argv, request)).await;
            let result = self.result(argv, &finished);
            match finished.exit_code {
                Some(0) => StepOutcome::Done(result),
                Some(code) if code == self.unchanged_exit_code && !finished.timed_out => {
                    StepOutcome::Unchanged(RunResult {
                        message: Some("already up to date; no restart needed".into()),
                        ..result
                    })
                }
                _ => StepOutcome::Failed(result),
            }
        })
    }

    fn restart<'a>(&'a self, request: &'a Request) -> StepFuture<'a> {
        Box::pin(async move {
            match &self.restart {
                RestartAction::SelfExec(this_process) => this_process.restart(request).await,
                RestartAction::Command(argv) => {
                    let finished = process::run(&self.line(argv, request)).await;
                    let result = self.result(argv, &finished);
                    if finished.success() {
                        StepOutcome::Done(result)
                    } else {
                        StepOutcome::Failed(result)
                    }
                }
            }
        })
    }

    fn can_update(&self) -> bool {
        self.update.is_some()
    }
}
