//! Eligible → execution start: the delay from the instant a queued request becomes eligible
//! (the last live run ends) to the executor being called, in real time; beside it, on the same
//! tracker and the same releases, a poller that checks every 500 ms (how OpenClaw defers
//! restarts).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lull_queue::{
    ActivityTracker, Actor, Ask, AskDraft, AskRules, Executor, Kind, Origin, QueueSettings,
    Request, Role, RunResult, Scheduler, SchedulerSettings, SourceMode, StepFuture, StepOutcome,
    Store, SystemClock, TrackerSettings,
};
use tokio::sync::mpsc;

use crate::Scale;
use crate::stats::{Table, latencies};

/// How often the reference poller looks.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// An executor that only notes when it was called.
pub struct Noting {
    pub called: mpsc::UnboundedSender<Instant>,
}

impl Executor for Noting {
    fn update<'a>(&'a self, _request: &'a Request) -> StepFuture<'a> {
        Box::pin(async { StepOutcome::Done(RunResult::default()) })
    }

    fn restart<'a>(&'a self, _request: &'a Request) -> StepFuture<'a> {
        let _ = self.called.send(Instant::now());
        Box::pin(async { StepOutcome::Done(RunResult::default()) })
    }
}

/// `asker` asking for a restart with an explicit idle window: an admin over the API, or an
/// agent through the tool.
pub fn ask(asker: &str, idle_seconds: u64, role: Role) -> Ask {
    let draft = AskDraft {
        kind: Kind::Restart,
        reason: "bench".into(),
        idle: Some(Duration::from_secs(idle_seconds)),
        ignore_windows: false,
        actor: Actor {
            platform: "bench".into(),
            chat: Some("chat".into()),
            user_id: asker.into(),
            display: asker.into(),
            role,
            origin: match role {
                Role::Admin => Origin::Api,
                Role::Agent => Origin::Tool,
            },
            via: None,
        },
    };
    let rules = AskRules {
        default_idle: Duration::from_secs(idle_seconds),
        min_agent_idle: Duration::ZERO,
    };
    Ask::new(draft, &rules).expect("the bench's asks are within bounds")
}

/// A store, tracker and running scheduler whose executor notes its calls.
pub async fn stack(
    dir: &Path,
    queue: QueueSettings,
) -> Result<
    (
        Store,
        ActivityTracker,
        Scheduler,
        mpsc::UnboundedReceiver<Instant>,
    ),
    Box<dyn std::error::Error>,
> {
    let store = Store::open(dir, queue)?;
    let tracker = ActivityTracker::new(
        TrackerSettings {
            mode: SourceMode::Embedded,
            // After a start, lull waits one lease period for leases from before it to come back
            // (boot grace); short here, and waited out below.
            lease_ttl: Duration::from_secs(1),
            ..TrackerSettings::default()
        },
        Arc::new(SystemClock),
    );
    let (called, calls) = mpsc::unbounded_channel();
    let settings = SchedulerSettings {
        cooldown: Duration::ZERO,
        max_executions_per_hour: u32::MAX,
        ..SchedulerSettings::default()
    };
    let scheduler = Scheduler::new(
        "bench",
        store.clone(),
        tracker.clone(),
        Arc::new(Noting { called }),
        settings,
        None,
    )?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while scheduler
        .status()?
        .blockers
        .iter()
        .any(|b| matches!(b, lull_queue::Blocker::BootGrace { .. }))
    {
        if Instant::now() > deadline {
            return Err("the boot grace did not end".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((store, tracker, scheduler, calls))
}

/// Waits (bounded) until nothing is open or running.
pub async fn settled(store: &Store) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.open_request()?.is_some() || store.running_request()?.is_some() {
        if Instant::now() > deadline {
            return Err("a request did not finish within 30 s".into());
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    Ok(())
}

pub async fn run(
    scale: Scale,
    dir: &Path,
    table: &mut Table,
) -> Result<(), Box<dyn std::error::Error>> {
    let runs = scale.pick(1000, 100);
    // The poller is measured on every fifth release: each costs it up to half a second.
    let poller_every = 5;
    println!("eligible → execution start: {runs} runs");
    let (store, tracker, scheduler, mut calls) =
        stack(&dir.join("eligible"), QueueSettings::default()).await?;
    let task = scheduler.spawn();

    let released: Arc<Mutex<Option<Instant>>> = Arc::default();
    let (seen, mut sightings) = mpsc::unbounded_channel::<Duration>();
    let poller = {
        let (released, tracker) = (released.clone(), tracker.clone());
        tokio::spawn(async move {
            let mut every = tokio::time::interval(POLL_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let mut released = released.lock().unwrap();
                if let Some(at) = *released
                    && tracker.live_runs() == 0
                {
                    let _ = seen.send(at.elapsed());
                    *released = None;
                }
            }
        })
    };

    // One run first, not counted: the boot grace's end is rounded to whole seconds in the status
    // this waited on, so the first release can still wait out its remainder.
    let run = tracker.begin_run("bench:chat")?;
    store.submit(ask("admin", 0, Role::Admin)).await?;
    drop(run);
    tokio::time::timeout(Duration::from_secs(10), calls.recv()).await?;
    settled(&store).await?;

    let mut lull = Vec::with_capacity(runs);
    let mut polled = Vec::new();
    for i in 0..runs {
        let run = tracker.begin_run("bench:chat")?;
        store.submit(ask("admin", 0, Role::Admin)).await?;
        let measure_poller = i % poller_every == 0;
        if measure_poller {
            // A release falls anywhere in the poller's period, as it would in a gateway: not
            // just after the tick that saw the previous one.
            let phase = (i as u64 * 7919) % POLL_EVERY.as_millis() as u64;
            tokio::time::sleep(Duration::from_millis(phase)).await;
        }
        let at = Instant::now();
        if measure_poller {
            *released.lock().unwrap() = Some(at);
        }
        drop(run);
        let Ok(called) = tokio::time::timeout(Duration::from_secs(10), calls.recv()).await else {
            return Err(format!(
                "not executed within 10 s: {:?}",
                scheduler.status()?.blockers
            )
            .into());
        };
        let called = called.ok_or("the executor channel closed")?;
        let took = called.duration_since(at);
        if took > Duration::from_millis(100) {
            println!("  (run {i} took {})", crate::stats::ms(took));
        }
        lull.push(took);
        if measure_poller {
            polled.push(
                tokio::time::timeout(Duration::from_secs(5), sightings.recv())
                    .await?
                    .ok_or("the poller stopped")?,
            );
        }
        settled(&store).await?;
    }
    poller.abort();
    task.shutdown().await;
    table.add(
        "eligible → execution start",
        latencies(&mut lull),
        format!("500 ms poller: {}", latencies(&mut polled)),
        "p99 ≤ 10 ms",
    );
    Ok(())
}
