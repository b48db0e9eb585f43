//! One profile's machinery assembled from its config (a stack of services, not a data
//! structure): recovery of what was running, the
//! activity tracker, the executor, the scheduler and the command core. `lull serve` builds it
//! as a sidecar; a Rust gateway that embeds lull builds it with its own restart action (see
//! `adapters/examples/telegram_embed.rs`).

use std::sync::Arc;
use std::time::Duration;

use lull_plugin::{Plugin, PluginConfig};
use lull_queue::{
    ActivityTracker, CommandExecutor, HealthCheck, Recovery, RecoveryOptions, RestartAction,
    Scheduler, SchedulerSettings, SourceMode, Store, SystemClock, TrackerSettings, recover,
};

use crate::config::Config;
use crate::platforms::ChatAdapters;

/// How the profile runs.
pub struct StackOptions {
    /// The profile's name (in status and logs).
    pub profile: String,
    /// `Sidecar` (activity sources must report over the API) or `Embedded` (the in-process
    /// tracker is the source).
    pub mode: SourceMode,
    /// What a restart does: the configured argv, or (embedded only) `"self"`.
    pub restart: RestartAction,
}

/// The assembled profile.
pub struct Stack {
    /// The command core (and through it the scheduler and the store).
    pub plugin: Plugin,
    /// Where agent runs are reported.
    pub tracker: ActivityTracker,
    /// What recovery settled at start-up.
    pub recovered: Recovery,
}

/// Settles what was running when the process stopped, then builds the tracker, executor,
/// scheduler and command core for `store` (not yet spawned: call
/// `stack.plugin.scheduler().spawn()`).
pub async fn assemble(
    store: Store,
    config: &Config,
    chats: &ChatAdapters,
    options: StackOptions,
) -> anyhow::Result<Stack> {
    let mut secrets = config.secrets();
    secrets.extend(chats.secrets());
    let health = health_check(config, &secrets);
    // Installed before recover(), so what it settles ("back online", "interrupted") is
    // announced through the outbox like everything else.
    store.set_notice_hook(lull_plugin::notice_hook(
        chats.notify(),
        Duration::from_secs(config.maintenance.max_wait_seconds),
    ));
    let recovered = recover(
        &store,
        &RecoveryOptions::from_env(config.executor.restarts_self, health.clone()),
    )
    .await?;
    if let Recovery::Settled(request) = &recovered {
        tracing::info!(request = %request.short_id, state = %request.state, "settled the request that was running when lull stopped");
    }
    let (plugin, tracker) = build(store, config, chats, chats.relay(), options)?;
    let dropped =
        crate::chat::outbox::drop_undeliverable(plugin.scheduler().store(), &chats.platforms())
            .await?;
    if dropped > 0 {
        tracing::warn!(
            dropped,
            "dropped notices for chat platforms that are no longer configured"
        );
    }
    Ok(Stack {
        plugin,
        tracker,
        recovered,
    })
}

/// The tracker, executor, scheduler and command core for `store`, without settling anything
/// and without spawning the scheduler.
fn build(
    store: Store,
    config: &Config,
    chats: &ChatAdapters,
    relay: Option<lull_plugin::ChatRelay>,
    options: StackOptions,
) -> anyhow::Result<(Plugin, ActivityTracker)> {
    let m = &config.maintenance;
    let mut secrets = config.secrets();
    secrets.extend(chats.secrets());
    let health = health_check(config, &secrets);
    let notify = chats.notify();
    let tracker = ActivityTracker::new(
        TrackerSettings {
            mode: options.mode,
            lease_ttl: Duration::from_secs(m.lease_ttl_seconds),
            source_ttl: Duration::from_secs(m.source_ttl_seconds),
            wedged_after: Duration::from_secs(m.wedged_after_seconds),
            max_sources: m.max_sources,
        },
        Arc::new(SystemClock),
    );
    let executor = CommandExecutor {
        restart: options.restart,
        update: config.executor.update.clone(),
        unchanged_exit_code: config.executor.unchanged_exit_code,
        timeout: Duration::from_secs(config.executor.timeout_seconds),
        kill_grace: Duration::from_secs(config.executor.kill_grace_seconds),
        pass_env: config.executor.pass_env.clone(),
        secrets,
    };
    let settings = SchedulerSettings {
        max_wait: Duration::from_secs(m.max_wait_seconds),
        cooldown: Duration::from_secs(m.cooldown_seconds),
        max_executions_per_hour: m.max_executions_per_hour,
        approval_expiry: Duration::from_secs(m.approval_expiry_seconds),
        windows: m.windows(),
    };
    let fleet = crate::fleet::FleetSettings::from_config(config, &options.profile)
        .map_err(|e| config.invalid(e))?;
    let scheduler = Scheduler::new(
        options.profile,
        store,
        tracker.clone(),
        Arc::new(executor),
        settings,
        health,
    )?;
    if let Some(fleet) = fleet {
        let lock = crate::fleet::connect(&fleet);
        tracing::info!("fleet: restarts take a slot as {}", lock.describe());
        scheduler.set_fleet(lock)?;
    }
    let plugin = Plugin::new(
        scheduler,
        PluginConfig {
            default_idle: Duration::from_secs(m.idle_seconds),
            min_agent_idle: Duration::from_secs(m.min_agent_idle_seconds),
            max_wait: Duration::from_secs(m.max_wait_seconds),
            policy: chats.policy(),
            notify,
            relay,
        },
    );
    Ok((plugin, tracker))
}

/// The command core over `store` for a command run while `lull serve` is not (`lull tool`):
/// nothing is settled and the scheduler is not spawned, so nothing runs; the status says no
/// activity source reports.
pub(crate) fn offline(store: Store, config: &Config) -> anyhow::Result<Plugin> {
    let options = StackOptions {
        profile: "offline".into(),
        mode: SourceMode::Sidecar,
        restart: RestartAction::Command(vec!["true".into()]),
    };
    // A relay's agents may name their chat offline too; their notices wait for `lull serve`.
    let relay = crate::relay::chat_relay_of(config);
    Ok(build(store, config, &ChatAdapters::default(), relay, options)?.0)
}

fn health_check(config: &Config, secrets: &[String]) -> Option<HealthCheck> {
    config
        .executor
        .health_command
        .clone()
        .map(|argv| HealthCheck {
            argv,
            timeout: Duration::from_secs(config.executor.timeout_seconds),
            kill_grace: Duration::from_secs(config.executor.kill_grace_seconds),
            pass_env: config.executor.pass_env.clone(),
            crash_loop_limit: config.executor.crash_loop_limit,
            secrets: secrets.to_vec(),
        })
}
