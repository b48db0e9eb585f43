//! `lull demo`: a simulated busy gateway in a temporary home, no config and no tokens. Agent runs
//! start and end in a few chats, an agent asks for a restart, and one live line shows the idle
//! bar, the live runs, the blockers and the ETA until the restart runs and the gateway is back.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use lull_plugin::{blocker_words, human, progress_bar};
use lull_queue::{
    ActivityTracker, Actor, Ask, AskDraft, AskRules, Blocker, Executor, Kind, Origin, QueueEvent,
    QueueSettings, Request, Role, RunResult, Scheduler, SchedulerSettings, SourceMode, StepFuture,
    StepOutcome, Store, SystemClock, TrackerSettings,
};
use tokio::time::Instant;

use crate::terminal::LiveLine;

/// The simulated gateway's runs: (chat, starts at, ends at), in seconds at speed 1.
const RUNS: [(&str, f64, f64); 6] = [
    ("telegram:4242", 0.5, 6.0),
    ("discord:7", 1.0, 9.0),
    ("slack:C01", 4.0, 7.5),
    ("telegram:4242", 8.0, 13.0),
    ("discord:7", 11.0, 14.0),
    ("slack:C01", 12.5, 13.5),
];
/// When the agent asks for the restart.
const ASK_AT: f64 = 2.0;
/// The idle window at speed 1.
const IDLE: f64 = 10.0;
/// How long the simulated restart takes.
const RESTART_TAKES: f64 = 2.0;

/// The demo's executor: a pretend restart.
struct DemoRestart {
    takes: Duration,
}

impl Executor for DemoRestart {
    fn update<'a>(&'a self, _: &'a Request) -> StepFuture<'a> {
        Box::pin(async { StepOutcome::Unchanged(RunResult::default()) })
    }

    fn restart<'a>(&'a self, _: &'a Request) -> StepFuture<'a> {
        Box::pin(async move {
            let began = Instant::now();
            tokio::time::sleep(self.takes).await;
            StepOutcome::Done(RunResult {
                downtime_ms: Some(began.elapsed().as_millis() as u64),
                message: Some("demo gateway restarted".into()),
                ..RunResult::default()
            })
        })
    }
}

/// Event lines, stamped with the time since the demo started, above the live line.
struct Screen {
    line: LiveLine,
    started: Instant,
}

impl Screen {
    fn event(&self, text: &str) {
        let stamp = format!("[{:>5.1}s] {text}", self.started.elapsed().as_secs_f64());
        self.line.println(&stamp);
    }
}

fn live_line(scheduler: &Scheduler) -> String {
    let Ok(status) = scheduler.status() else {
        return String::new();
    };
    let now = scheduler.store().now();
    if let Some(running) = &status.running {
        return format!(
            "🔄 {} {} is running: the gateway is restarting…",
            running.kind, running.short_id
        );
    }
    let Some(open) = status.open.first() else {
        return "· nothing queued".into();
    };
    let mut parts = vec![format!("⏳ {} {}", open.kind, open.short_id)];
    let sessions: Vec<&str> = status
        .live_runs
        .iter()
        .map(|r| r.session.as_str())
        .collect();
    parts.push(format!(
        "live runs: {}{}",
        sessions.len(),
        if sessions.is_empty() {
            String::new()
        } else {
            format!(" ({})", sessions.join(", "))
        }
    ));
    let idle = status.blockers.iter().find_map(|b| match b {
        Blocker::IdleWindow {
            idle_seconds,
            idle_for_seconds,
            ..
        } => Some(progress_bar(
            Duration::from_secs(*idle_for_seconds),
            Duration::from_secs(*idle_seconds),
        )),
        _ => None,
    });
    parts.push(format!(
        "idle {}",
        idle.unwrap_or_else(|| if sessions.is_empty() {
            "ready".into()
        } else {
            "waits for the runs to end".into()
        })
    ));
    let others: Vec<String> = status
        .blockers
        .iter()
        .filter(|b| !matches!(b, Blocker::IdleWindow { .. } | Blocker::LiveRuns { .. }))
        .map(|b| blocker_words(b, &status, now))
        .collect();
    if !others.is_empty() {
        parts.push(others.join("; "));
    }
    parts.push(match status.eta {
        Some(eta) => format!("ETA {}", human(eta.saturating_since(now))),
        None => "ETA when the runs end".into(),
    });
    parts.join(" │ ")
}

/// Runs the demo at `speed`× (1.0 takes about half a minute).
pub async fn demo(speed: f64) -> anyhow::Result<()> {
    if !(speed.is_finite() && (0.1..=100.0).contains(&speed)) {
        bail!("--speed must be between 0.1 and 100");
    }
    let scale = move |seconds: f64| Duration::from_secs_f64(seconds / speed);
    let home = tempfile::tempdir().context("cannot create a temporary home")?;
    let store = Store::open(home.path().join("state"), QueueSettings::default())?;
    let tracker = ActivityTracker::new(
        TrackerSettings {
            mode: SourceMode::Sidecar,
            lease_ttl: scale(1.0),
            source_ttl: scale(5.0),
            wedged_after: Duration::from_secs(3600),
            max_sources: 64,
        },
        Arc::new(SystemClock),
    );
    let settings = SchedulerSettings {
        cooldown: Duration::ZERO,
        ..SchedulerSettings::default()
    };
    let executor = Arc::new(DemoRestart {
        takes: scale(RESTART_TAKES),
    });
    let scheduler = Scheduler::new(
        "demo",
        store.clone(),
        tracker.clone(),
        executor,
        settings,
        None,
    )?;
    let mut events = store.subscribe();
    let task = scheduler.spawn();
    let started = Instant::now();
    let screen = Screen {
        line: LiveLine::stdout(),
        started,
    };
    let idle_seconds = (IDLE / speed).round().max(1.0) as u64;
    println!(
        "lull demo: a simulated gateway with agents busy in three chats (home {}).",
        home.path().display()
    );
    println!(
        "An agent asks for a restart; lull waits until no run is live and the gateway has been idle for {}.",
        human(Duration::from_secs(idle_seconds))
    );

    // The gateway: its activity source stays alive, and agent runs come and go.
    let heartbeats = {
        let tracker = tracker.clone();
        tokio::spawn(async move {
            loop {
                tracker.source_heartbeat("demo-gateway", "agent").unwrap();
                tokio::time::sleep(scale(1.0)).await;
            }
        })
    };
    let runs: Vec<_> = RUNS
        .into_iter()
        .map(|(session, from, to)| {
            let tracker = tracker.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(started + scale(from)).await;
                let Ok(run) = tracker.begin_run(session) else {
                    return;
                };
                tokio::time::sleep_until(started + scale(to)).await;
                drop(run);
            })
        })
        .collect();
    let asker = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(started + scale(ASK_AT)).await;
            let rules = AskRules {
                default_idle: Duration::from_secs(idle_seconds),
                min_agent_idle: Duration::ZERO,
            };
            let draft = AskDraft {
                kind: Kind::Restart,
                reason: "installed a new tool".into(),
                idle: Some(Duration::from_secs(idle_seconds)),
                ignore_windows: false,
                actor: Actor {
                    platform: "telegram".into(),
                    chat: Some("4242".into()),
                    user_id: "hermes".into(),
                    display: "agent hermes".into(),
                    role: Role::Agent,
                    origin: Origin::Tool,
                    via: None,
                },
            };
            let ask = Ask::new(draft, &rules).expect("the demo's ask is within bounds");
            store.submit(ask).await
        })
    };

    let deadline = started + scale(120.0);
    // On a terminal the live line is redrawn; elsewhere (logs, CI) a change of blockers is an event.
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let outcome = loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break Err(anyhow::anyhow!("the demo did not finish in time")),
            _ = tick.tick() => screen.line.set(live_line(&scheduler)),
            event = events.recv() => match event {
                Ok(QueueEvent::Queued { request }) => screen.event(&format!(
                    "agent hermes (telegram) asks for {} {}: {:?}", request.kind, request.short_id, request.reason)),
                Ok(QueueEvent::Waiting { blockers, .. }) => {
                    let kinds: Vec<&str> = blockers.iter().map(|b| b.kind()).collect();
                    screen.event(&format!("waiting: {}", kinds.join(", ")));
                }
                Ok(QueueEvent::Starting { request }) => screen.event(&format!(
                    "no run is live and the gateway was idle for {}: starting {} {}",
                    human(Duration::from_secs(request.idle_seconds)), request.kind, request.short_id)),
                Ok(QueueEvent::Succeeded { request }) => break Ok(request),
                Ok(QueueEvent::Failed { request }) => break Err(anyhow::anyhow!("{} {} failed", request.kind, request.short_id)),
                _ => {}
            },
        }
    };
    task.shutdown().await;
    heartbeats.abort();
    for run in runs {
        run.abort();
    }
    asker.await.context("the simulated agent")??;
    let request = outcome?;
    let downtime = request
        .result
        .as_ref()
        .and_then(|r| r.downtime_ms)
        .unwrap_or_default();
    screen.line.clear();
    screen.event(&format!(
        "✅ back online: {} {} succeeded (downtime {}). No conversation was interrupted.",
        request.kind,
        request.short_id,
        human(Duration::from_millis(downtime))
    ));
    Ok(())
}
