//! `lull serve`: the sidecar. Opens the profile, settles what was running, starts the scheduler,
//! the control API (Unix socket, optional loopback TCP) and the configured adapters, and stops
//! cleanly on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use lull_queue::{QueueSettings, RestartAction, SourceMode, Store};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;

use crate::access::SocketAccess;
use crate::api::{self, Access, ApiState};
use crate::chat::settings::too_short;
use crate::client::Probe;
use crate::config::{Config, RestartSetting};
use crate::platforms::{ChatAdapters, first_failure};
use crate::profile::Profile;
use crate::stack::{StackOptions, assemble};

/// Unix socket paths longer than this cannot be bound (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// How long `serve` retries opening a store a CLI call holds for a moment.
const STORE_OPEN_RETRIES: u32 = 25;

/// How long each stage of shutdown may take: the execution in progress (abandoned after it; the
/// next start settles it as interrupted), calls and chat sends in flight, closing the store.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The store settings a profile's config implies.
pub fn queue_settings(config: &Config) -> QueueSettings {
    QueueSettings {
        agent_requests: config.maintenance.agent_requests,
        history_limit: config.maintenance.history_limit,
        update_available: config.executor.update.is_some(),
        audit_retention: Duration::from_secs(
            config
                .maintenance
                .audit_retention_days
                .saturating_mul(24 * 3600),
        ),
        ..QueueSettings::default()
    }
}

/// Opens the store, retrying briefly while another short-lived process (the CLI) holds it.
pub(crate) async fn open_store(profile: &Profile, config: &Config) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&profile.dir)
        .with_context(|| format!("cannot create {}", profile.dir.display()))?;
    SocketAccess::of(config.api.socket_group.as_deref())?.apply_to_profile(&profile.dir)?;
    let mut attempt = 0;
    loop {
        match Store::open(profile.store_path(), queue_settings(config)) {
            Ok(store) => {
                SocketAccess::apply_to_store(&profile.store_path())?;
                return Ok(store);
            }
            Err(lull_queue::Error::Open { message, .. })
                if message.contains("lock") && attempt < STORE_OPEN_RETRIES =>
            {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(lull_queue::Error::Open { message, .. }) if message.contains("lock") => {
                bail!(
                    "profile {:?} is in use: another `lull serve` (or another lull process) holds its store at {}",
                    profile.name,
                    profile.store_path().display()
                )
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn check_config(config: &Config) -> anyhow::Result<Vec<String>> {
    let argv = match &config.executor.restart {
        None => bail!(
            "executor.restart is not set in lull.toml: give the argv that restarts your gateway, e.g. restart = [\"systemctl\", \"--user\", \"restart\", \"my-gateway\"]"
        ),
        Some(RestartSetting::SelfExec) => bail!(
            "executor.restart = \"self\" is refused by `lull serve`: \"self\" re-executes the process lull runs in, and here that is lull, not your gateway. \
             It is for Rust gateways that embed lull. Set the argv that restarts your gateway instead."
        ),
        Some(RestartSetting::Argv(argv)) => argv.clone(),
    };
    Ok(argv)
}

/// Binds the control socket: refuses a path too long for a Unix socket, refuses when a server
/// already answers, and removes a stale socket file only when nothing answers on it.
pub(crate) async fn bind_socket(path: &Path, access: SocketAccess) -> anyhow::Result<UnixListener> {
    check_socket(path).await?;
    if path.exists() {
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot bind {}", path.display()))?;
    access.apply_to_socket(path)?;
    Ok(listener)
}

/// Refuses a socket path too long to bind, and a profile whose server already answers.
async fn check_socket(path: &Path) -> anyhow::Result<()> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        bail!(
            "the control socket path {} is {len} bytes, but Unix sockets allow at most {MAX_SOCKET_PATH}; use a shorter --home (or LULL_HOME)",
            path.display()
        );
    }
    match crate::client::probe(path).await {
        Probe::Absent => Ok(()),
        Probe::Server => bail!(
            "a lull server already answers on {}; stop it first (one `lull serve` per profile)",
            path.display()
        ),
        Probe::Unreachable(error) => {
            bail!("cannot tell whether a lull server runs for this profile: {error}")
        }
    }
}

async fn bind_tcp(config: &Config) -> anyhow::Result<Option<(TcpListener, Access)>> {
    let Some(address) = &config.api.tcp_listen else {
        return Ok(None);
    };
    let address: SocketAddr = address.parse().with_context(|| {
        format!("api.tcp_listen = {address:?} is not an address like \"127.0.0.1:7878\"")
    })?;
    if !address.ip().is_loopback() {
        bail!(
            "api.tcp_listen = \"{address}\" is not a loopback address; the control API listens on loopback only (use 127.0.0.1 or ::1)"
        );
    }
    let token = |name: &str| std::env::var(name).ok().filter(|t| !t.is_empty());
    let (admin, agent) = (
        token(&config.api.admin_token_env),
        token(&config.api.agent_token_env),
    );
    if admin.is_none() && agent.is_none() {
        bail!(
            "api.tcp_listen is set but neither {} nor {} holds a token; the TCP listener needs bearer tokens",
            config.api.admin_token_env,
            config.api.agent_token_env
        );
    }
    for (var, token) in [
        (&config.api.admin_token_env, &admin),
        (&config.api.agent_token_env, &agent),
    ] {
        if let Some(short) = token.as_deref().and_then(|t| too_short(var, t)) {
            bail!("{short}");
        }
    }
    if admin.is_some() && admin == agent {
        bail!(
            "{} and {} hold the same token: its holders would all be admins; give the agent token a value of its own",
            config.api.admin_token_env,
            config.api.agent_token_env
        );
    }
    let listener = crate::http_server::bind_tcp(address)
        .with_context(|| format!("cannot listen on {address}"))?;
    // The bound address, not the configured one: with port 0 the system picks it.
    let bound = listener.local_addr().unwrap_or(address);
    tracing::info!("control API listening on {bound} (TCP, bearer tokens)");
    Ok(Some((listener, Access::Tcp { admin, agent })))
}

/// Registers SIGTERM and SIGINT now and returns the wait for either. Registering before the
/// socket is bound matters: a supervisor (or a test) may stop lull as soon as the socket
/// answers, and an unregistered SIGTERM would kill it without the orderly stop. (Before that,
/// during start-up, the default action is right: nothing is in flight.)
fn shutdown_signal() -> impl Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let registered = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = registered else {
            tracing::error!("cannot install signal handlers; stop lull with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
        }
    }
}

/// Serves the control API on `listener` with `access` until `stop` is cancelled; each
/// connection's `peer` (the socket peer's credentials, the TCP client's address) reaches the
/// handlers.
fn serve_api<L, C>(
    listener: L,
    peer: fn(&L::Io, &L::Addr) -> C,
    plugin: &lull_plugin::Plugin,
    relay: Option<&crate::relay::Relay>,
    access: Access,
    stop: &CancellationToken,
) -> tokio::task::JoinHandle<()>
where
    L: axum::serve::Listener,
    C: Clone + Send + Sync + 'static,
{
    let app = api::router(ApiState {
        plugin: plugin.clone(),
        access,
        relay: relay.cloned(),
        stop: stop.clone(),
    });
    tokio::spawn(crate::http_server::serve(
        listener,
        app,
        peer,
        crate::http_server::Bounds::default(),
        stop.clone(),
    ))
}

/// Refuses a relay token that is also an API token: it would give its holder the other role's
/// rights, or shut the admin out of every route but the relay's.
fn check_relay_token(config: &Config, adapters: &ChatAdapters) -> anyhow::Result<()> {
    let Some(token) = adapters
        .find::<crate::relay::Relay>()
        .and_then(|relay| relay.settings().token.clone())
    else {
        return Ok(());
    };
    for (key, var) in [
        ("admin_token_env", &config.api.admin_token_env),
        ("agent_token_env", &config.api.agent_token_env),
    ] {
        if std::env::var(var).is_ok_and(|value| value.trim() == token.expose()) {
            bail!(
                "[relay] token_env holds the same token as api.{key} ({var}): give the relay a token of its own"
            );
        }
    }
    Ok(())
}

/// Runs the sidecar until a signal.
pub async fn serve(profile: &Profile, config: Config) -> anyhow::Result<()> {
    crate::http_server::raise_open_files_limit();
    let restart = check_config(&config)?;
    let adapters = ChatAdapters::from_config(&config)?;
    check_relay_token(&config, &adapters)?;
    let socket = profile.socket_path();
    // Fail fast, before waiting for the store's lock, if this profile is already served.
    check_socket(&socket).await?;
    let store = open_store(profile, &config).await?;
    let stack = assemble(
        store,
        &config,
        &adapters,
        StackOptions {
            profile: profile.name.clone(),
            mode: SourceMode::Sidecar,
            restart: RestartAction::Command(restart),
        },
    )
    .await?;
    let plugin = stack.plugin;
    let scheduler = plugin.scheduler().clone();
    let signalled = shutdown_signal();
    let unix = bind_socket(
        &socket,
        SocketAccess::of(config.api.socket_group.as_deref())?,
    )
    .await?;
    let tcp = bind_tcp(&config).await?;
    let task = scheduler.spawn();
    tracing::info!(profile = %profile.name, socket = %socket.display(), "lull serve is ready");

    let stop = CancellationToken::new();
    let relay = adapters.find::<crate::relay::Relay>();
    let socket_server = serve_api(
        unix,
        |stream, _| api::LocalPeer::of(stream),
        &plugin,
        relay,
        Access::Socket,
        &stop,
    );
    let tcp_server = tcp.map(|(listener, access)| {
        serve_api(listener, |_, peer| *peer, &plugin, relay, access, &stop)
    });
    let (failed, mut failures) = tokio::sync::mpsc::unbounded_channel();
    let chat_adapters = adapters.spawn(&plugin, &stop, &failed);
    drop(failed);
    let failure = tokio::select! {
        () = signalled => None,
        error = first_failure(&mut failures) => Some(error),
    };
    // The scheduler stops first, while the API still answers: a gateway that begins a run
    // meanwhile gets a lease, or a 409 while a restart is executing, never a refused connection
    // it might take as leave to go ahead.
    if tokio::time::timeout(SHUTDOWN_GRACE, task.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "an execution is still running; abandoning it (the next start settles it as interrupted)"
        );
    }
    stop.cancel();
    // Adapters finish a send in flight and API calls in flight finish; every change they made
    // was flushed before it was answered. Bounded: a peer that never finishes must not keep
    // lull from stopping.
    let draining = async {
        for adapter in chat_adapters {
            let _ = adapter.await;
        }
        let _ = socket_server.await;
        if let Some(server) = tcp_server {
            let _ = server.await;
        }
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, draining)
        .await
        .is_err()
    {
        tracing::warn!("chat adapters or API calls were still busy; stopping without them");
    }
    let _ = std::fs::remove_file(&socket);
    // Closing the store joins its writer thread (here, or in the runtime's bounded shutdown if
    // an abandoned task still holds a handle). Bounded as well: every acknowledged change is
    // already on disk, so a stuck disk must not keep the process from exiting.
    let released = tokio::task::spawn_blocking(move || drop((plugin, scheduler)));
    if tokio::time::timeout(SHUTDOWN_GRACE, released)
        .await
        .is_err()
    {
        tracing::warn!("the store did not close in time; exiting anyway");
    }
    if let Some(error) = failure {
        return Err(error);
    }
    tracing::info!("stopped");
    Ok(())
}
