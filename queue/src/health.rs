//! The health check after a restart, and crash-loop protection: `crash_loop_limit` failed checks
//! in a row pause the queue and alert admins.

use std::time::Duration;

use crate::error::Error;
use crate::events::QueueEvent;
use crate::executor::process::{self, CommandLine};
use crate::pause::Pause;
use crate::redact::redact;
use crate::request::RunResult;
use crate::store::Store;

/// `executor.health_command` and `executor.crash_loop_limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// The command; exit 0 means healthy.
    pub argv: Vec<String>,
    /// Longest it may run.
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL when it is ended (`executor.kill_grace_seconds`).
    pub kill_grace: Duration,
    /// Variables of lull's environment it may see.
    pub pass_env: Vec<String>,
    /// Failed checks in a row that pause the queue.
    pub crash_loop_limit: u64,
    /// Values never to show in its output.
    pub secrets: Vec<String>,
}

impl HealthCheck {
    /// Runs the check and records it. `Err(result)` describes a failure (and says whether the
    /// queue was paused for a crash loop).
    pub async fn run(&self, store: &Store) -> Result<Result<(), RunResult>, Error> {
        let finished = process::run(&CommandLine {
            argv: self.argv.clone(),
            vars: Vec::new(),
            pass_env: self.pass_env.clone(),
            timeout: self.timeout,
            kill_grace: self.kill_grace,
        })
        .await;
        let passed = finished.success();
        // Shown in chat and status: the command line is redacted like the output.
        let described = redact(
            &format!("`{}` {}", self.argv.join(" "), finished.describe()),
            &self.secrets,
        );
        let failures = store.record_health(passed, described.clone()).await?;
        if passed {
            return Ok(Ok(()));
        }
        let mut message = format!("restarted, but the health check failed: {described}");
        if failures >= self.crash_loop_limit.max(1) {
            let pause = Pause {
                since: store.now(),
                until: None,
                by: "lull".into(),
                reason: format!("crash loop: {failures} health checks failed in a row"),
            };
            store.set_pause(Some(pause.clone()), "lull").await?;
            store
                .report(QueueEvent::CrashLoop { failures, pause })
                .await?;
            message.push_str(&format!(
                "; {failures} failed in a row, so maintenance is paused until an admin resumes it"
            ));
        }
        let tail = redact(&finished.output_tail, &self.secrets);
        Ok(Err(RunResult {
            exit_status: finished.exit_code,
            output_tail: (!tail.is_empty()).then_some(tail),
            message: Some(message),
            ..RunResult::default()
        }))
    }
}
