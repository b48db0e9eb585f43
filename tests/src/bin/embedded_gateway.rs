//! An example gateway that embeds lull: it holds its agent runs through the tracker, and when
//! maintenance is due it restarts itself with `"self"` (a re-exec of the saved binary path).
//!
//! Usage: `embedded_gateway DIR`. The first incarnation opens `DIR/db`, holds a run in one chat,
//! has an agent ask for a restart, ends the run, and re-executes itself when the scheduler says
//! so. The second incarnation's `recover()` settles the request and prints the outcome.

use std::sync::Arc;
use std::time::Duration;

use lull_queue::{
    ActivityTracker, Actor, Ask, AskDraft, AskRules, CommandExecutor, Kind, Origin, QueueSettings,
    Recovery, RecoveryOptions, RestartAction, Role, Scheduler, SchedulerSettings, SelfRestart,
    SourceMode, StartupBinary, Store, SystemClock, TrackerSettings, recover,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // First thing: after an update the file behind /proc/self/exe may be gone.
    let binary = StartupBinary::capture()?;
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: embedded_gateway DIR")?;
    let runtime = tokio::runtime::Runtime::new()?;
    let exec = runtime.block_on(async move {
        let store = Store::open(format!("{dir}/db"), QueueSettings::default())?;
        if let Recovery::Settled(request) =
            recover(&store, &RecoveryOptions::from_env(false, None)).await?
        {
            let result = request.result.unwrap_or_default();
            println!(
                "recovered {} {} downtime_ms={}",
                request.short_id,
                request.state.as_str(),
                result.downtime_ms.unwrap_or_default()
            );
            return Ok::<_, Box<dyn std::error::Error>>(None);
        }

        let tracker = ActivityTracker::new(
            TrackerSettings {
                mode: SourceMode::Embedded,
                lease_ttl: Duration::from_millis(200),
                ..TrackerSettings::default()
            },
            Arc::new(SystemClock),
        );
        let restart = SelfRestart::new(binary, store.clone());
        let executor = CommandExecutor {
            restart: RestartAction::SelfExec(restart.clone()),
            update: None,
            unchanged_exit_code: 3,
            timeout: Duration::from_secs(60),
            kill_grace: Duration::from_secs(2),
            pass_env: Vec::new(),
            secrets: Vec::new(),
        };
        let settings = SchedulerSettings {
            cooldown: Duration::ZERO,
            ..SchedulerSettings::default()
        };
        let scheduler = Scheduler::new(
            "example",
            store.clone(),
            tracker.clone(),
            Arc::new(executor),
            settings,
            None,
        )?;
        let task = scheduler.spawn();

        // A conversation is under way when an agent asks for a restart.
        let run = tracker.begin_run("example:chat-1")?;
        let draft = AskDraft {
            kind: Kind::Restart,
            reason: "installed a new tool".into(),
            idle: Some(Duration::from_secs(1)),
            ignore_windows: false,
            actor: Actor {
                platform: "example".into(),
                chat: Some("chat-1".into()),
                user_id: "agent-7".into(),
                display: "agent".into(),
                role: Role::Agent,
                origin: Origin::Tool,
                via: None,
            },
        };
        // The host's own rules (`[maintenance]` in a lull.toml): here, no minimum for agents.
        let rules = AskRules {
            default_idle: Duration::from_secs(1200),
            min_agent_idle: Duration::ZERO,
        };
        let asked = store.submit(Ask::new(draft, &rules)?).await?;
        println!("queued {}", asked.request.short_id);
        tokio::time::sleep(Duration::from_millis(300)).await;
        println!("run ended");
        drop(run);

        let exec = restart.requested().await;
        println!("restarting");
        task.abort();
        Ok(Some(exec))
    })?;
    // The runtime, its tasks and every store handle are gone: sled's lock is released.
    drop(runtime);
    match exec {
        Some(exec) => Err(exec.exec().into()),
        None => Ok(()),
    }
}
