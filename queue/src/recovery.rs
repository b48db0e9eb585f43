//! `recover()`: on boot, settle a request that was running when the previous lull stopped,
//! from what was persisted. Nothing is ever re-run on its own.

use crate::error::Error;
use crate::executor::RESTART_TOKEN_ENV;
use crate::health::HealthCheck;
use crate::request::{Event, Phase, Request, RunResult};
use crate::store::Store;

/// The actor name of changes recovery makes.
const RECOVERY: &str = "lull";

/// What recovery needs to know about this process and its configuration.
#[derive(Clone, Debug, Default)]
pub struct RecoveryOptions {
    /// `executor.restarts_self`: the restart command restarts the process lull lives in.
    pub restarts_self: bool,
    /// The token this process was started with (`LULL_RESTART_TOKEN`), if any.
    pub restart_token: Option<String>,
    /// The health check to pass before a restart counts as succeeded.
    pub health: Option<HealthCheck>,
}

impl RecoveryOptions {
    /// Options with the restart token read from this process's environment.
    pub fn from_env(restarts_self: bool, health: Option<HealthCheck>) -> Self {
        Self {
            restarts_self,
            restart_token: std::env::var(RESTART_TOKEN_ENV)
                .ok()
                .filter(|t| !t.is_empty()),
            health,
        }
    }
}

/// What recovery did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Nothing was running.
    NothingRunning,
    /// The running request was settled; the request as it now stands.
    Settled(Box<Request>),
}

/// Settles the request the previous process left `running`:
///
/// - a self restart whose one-time token this process holds → `succeeded`, with the downtime;
/// - `restarts_self = true` and phase `restarting` → `succeeded`, marked as inferred;
/// - anything else → `interrupted`, never re-run on its own.
///
/// A restart counts as succeeded only once the health check (if any) passes.
pub async fn recover(store: &Store, options: &RecoveryOptions) -> Result<Recovery, Error> {
    let Some(running) = store.running_request()? else {
        return Ok(Recovery::NothingRunning);
    };
    let now = store.now();
    let marker = store.restart_marker()?.filter(|m| m.request == running.id);
    let token_matches = marker
        .as_ref()
        .zip(options.restart_token.as_deref())
        .is_some_and(|(m, token)| m.token == token);
    let restarting = running.phase == Some(Phase::Restarting);

    let (event, result) = if token_matches {
        let since = marker.as_ref().map_or(now, |m| m.at);
        let result = RunResult {
            downtime_ms: Some(now.saturating_since(since).as_millis() as u64),
            message: Some("restarted itself; back online".into()),
            restarted: true,
            ..RunResult::default()
        };
        checked(store, options, result).await?
    } else if options.restarts_self && restarting {
        let since = running.phase_since.unwrap_or(now);
        let result = RunResult {
            downtime_ms: Some(now.saturating_since(since).as_millis() as u64),
            message: Some(
                "restart inferred: lull lives in the restarted process (restarts_self = true) and came back during the restart step"
                    .into(),
            ),
            restarted: true,
            ..RunResult::default()
        };
        checked(store, options, result).await?
    } else {
        let message = match running.phase {
            // Known: installed, and the restart step had not begun (it is recorded as it begins).
            Some(Phase::AwaitingRestart) => {
                "lull stopped after the update was installed, before its restart step began; \
                 the gateway was not restarted by lull, and the request was not re-run"
                    .to_owned()
            }
            phase => {
                let step = match phase {
                    Some(Phase::Updating) => "updating",
                    Some(Phase::Restarting) => "restarting",
                    _ => "starting",
                };
                format!(
                    "lull stopped while this request was {step} and cannot tell the outcome; it was not re-run"
                )
            }
        };
        let result = RunResult {
            message: Some(message),
            ..RunResult::default()
        };
        (Event::Interrupt, result)
    };
    let settled = store.finish(running.id, event, result, RECOVERY).await?;
    tracing::info!(request = %settled.short_id, state = %settled.state, "recovered the request that was running");
    Ok(Recovery::Settled(Box::new(settled)))
}

async fn checked(
    store: &Store,
    options: &RecoveryOptions,
    restarted: RunResult,
) -> Result<(Event, RunResult), Error> {
    let Some(health) = &options.health else {
        return Ok((Event::Succeed, restarted));
    };
    Ok(match health.run(store).await? {
        Ok(()) => (Event::Succeed, restarted),
        Err(failed) => (
            Event::Fail,
            RunResult {
                downtime_ms: restarted.downtime_ms,
                ..failed
            },
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::request::{Kind, State};
    use crate::requester::Role;
    use crate::settings::QueueSettings;
    use crate::test_support::{TestStore, ask};

    /// A store whose request was left running in `phase` by a process that then died, plus the
    /// self-restart token if that process armed one.
    async fn left_running(phase: Phase, arm_token: bool) -> (TestStore, Request) {
        let t = TestStore::new(QueueSettings::default());
        let r = t
            .store
            .submit(ask(Kind::Update, "boss", Role::Admin))
            .await
            .unwrap()
            .request;
        t.store.start(&r).await.unwrap();
        if phase == Phase::Restarting {
            t.store.set_restarting(r.id).await.unwrap();
        }
        if arm_token {
            t.store
                .arm_self_restart(r.id, "tok-1".into())
                .await
                .unwrap();
        }
        t.clock.advance(Duration::from_secs(7));
        let t = t.reopen(QueueSettings::default());
        (t, r)
    }

    fn options(restarts_self: bool, token: Option<&str>) -> RecoveryOptions {
        RecoveryOptions {
            restarts_self,
            restart_token: token.map(str::to_owned),
            health: None,
        }
    }

    async fn settle(t: &TestStore, options: &RecoveryOptions) -> Request {
        match recover(&t.store, options).await.unwrap() {
            Recovery::Settled(r) => *r,
            Recovery::NothingRunning => panic!("a request was running"),
        }
    }

    #[tokio::test]
    async fn the_token_holder_succeeds_with_its_downtime() {
        let (t, r) = left_running(Phase::Restarting, true).await;
        let settled = settle(&t, &options(false, Some("tok-1"))).await;
        assert_eq!((settled.id, settled.state), (r.id, State::Succeeded));
        let result = settled.result.unwrap();
        assert_eq!(result.downtime_ms, Some(7000));
        assert_eq!(
            result.message.as_deref(),
            Some("restarted itself; back online")
        );
        assert_eq!(
            t.store.restart_marker().unwrap(),
            None,
            "the token is spent"
        );
        assert_eq!(
            recover(&t.store, &options(false, Some("tok-1")))
                .await
                .unwrap(),
            Recovery::NothingRunning
        );
    }

    #[tokio::test]
    async fn without_the_token_the_request_is_interrupted() {
        for token in [None, Some("someone-else")] {
            let (t, _) = left_running(Phase::Restarting, true).await;
            let settled = settle(&t, &options(false, token)).await;
            assert_eq!(settled.state, State::Interrupted, "{token:?}");
            assert!(
                settled
                    .result
                    .unwrap()
                    .message
                    .unwrap()
                    .contains("was restarting")
            );
        }
    }

    #[tokio::test]
    async fn restarts_self_infers_success_only_in_the_restart_step() {
        let (t, _) = left_running(Phase::Restarting, false).await;
        let settled = settle(&t, &options(true, None)).await;
        assert_eq!(settled.state, State::Succeeded);
        let result = settled.result.unwrap();
        assert!(result.message.unwrap().starts_with("restart inferred"));
        assert_eq!(result.downtime_ms, Some(7000));

        let (t, _) = left_running(Phase::Updating, false).await;
        let settled = settle(&t, &options(true, None)).await;
        assert_eq!(
            settled.state,
            State::Interrupted,
            "a crash while updating is not a restart"
        );
        assert!(
            settled
                .result
                .unwrap()
                .message
                .unwrap()
                .contains("was updating")
        );
    }

    #[tokio::test]
    async fn nothing_is_re_run_after_recovery() {
        let (t, _) = left_running(Phase::Updating, false).await;
        settle(&t, &options(false, None)).await;
        assert_eq!(t.store.open_request().unwrap(), None);
        assert_eq!(t.store.running_request().unwrap(), None);
        assert_eq!(
            t.store
                .executions_since(crate::test_support::START)
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn failed_health_checks_in_a_row_pause_the_queue() {
        let health = HealthCheck {
            argv: vec!["sh".into(), "-c".into(), "echo not ready; exit 1".into()],
            timeout: Duration::from_secs(60),
            kill_grace: Duration::from_secs(2),
            pass_env: Vec::new(),
            crash_loop_limit: 2,
            secrets: Vec::new(),
        };
        let (t, _) = left_running(Phase::Restarting, true).await;
        let mut events = t.store.subscribe();
        let with_health = RecoveryOptions {
            health: Some(health.clone()),
            ..options(false, Some("tok-1"))
        };
        let first = settle(&t, &with_health).await;
        assert_eq!(
            first.state,
            State::Failed,
            "back online only after the health check passes"
        );
        let result = first.result.unwrap();
        assert!(result.message.unwrap().contains("health check failed"));
        assert_eq!(result.output_tail.as_deref(), Some("not ready\n"));
        assert_eq!(t.store.pause().unwrap(), None, "one failure is not a loop");

        // Another self restart, another failed check: now it is a crash loop.
        let r = t
            .store
            .submit(ask(Kind::Restart, "boss", Role::Admin))
            .await
            .unwrap()
            .request;
        t.store.start(&r).await.unwrap();
        t.store
            .arm_self_restart(r.id, "tok-2".into())
            .await
            .unwrap();
        let second = settle(
            &t,
            &RecoveryOptions {
                restart_token: Some("tok-2".into()),
                ..with_health
            },
        )
        .await;
        assert_eq!(second.state, State::Failed);
        let pause = t.store.pause().unwrap().expect("paused by the crash loop");
        assert_eq!((pause.by.as_str(), pause.until), ("lull", None));
        let mut saw_alert = false;
        while let Ok(event) = events.try_recv() {
            saw_alert |= matches!(
                event,
                crate::events::QueueEvent::CrashLoop { failures: 2, .. }
            );
        }
        assert!(saw_alert, "admins are alerted");
    }
}
