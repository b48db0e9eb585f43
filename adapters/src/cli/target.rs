//! Where a command goes: the server on the control socket when one runs, otherwise the
//! profile's store directly (opened for this one command), and who the operator is there.

use std::path::PathBuf;

use lull_queue::{Actor, Origin, Role, Store};
use serde_json::Value;

use super::{EXIT_ERROR, Failure, exit_for};
use crate::client;
use crate::config::Config;
use crate::profile::Profile;

pub(super) fn queue_failure(error: lull_queue::Error) -> Failure {
    let tool = lull_plugin::ToolError::from(error);
    Failure::new(exit_for(tool.code), tool.message)
}

/// Where commands go.
pub(super) enum Target {
    /// A server answers on the socket.
    Server(PathBuf),
    /// No server: the store, opened for this one command.
    Direct(Store, Box<Config>),
}

pub(super) async fn target(profile: &Profile) -> Result<Target, Failure> {
    let socket = profile.socket_path();
    match client::probe(&socket).await {
        client::Probe::Server => return Ok(Target::Server(socket)),
        client::Probe::Unreachable(error) => {
            return Err(Failure::new(EXIT_ERROR, error.to_string()));
        }
        client::Probe::Absent => {}
    }
    let config = Config::load(&profile.config_path())
        .map_err(|e| Failure::new(EXIT_ERROR, e.to_string()))?;
    let store = crate::serve::open_store(profile, &config).await?;
    Ok(Target::Direct(store, Box::new(config)))
}

pub(super) async fn api(
    socket: &std::path::Path,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Failure> {
    let response = client::call(socket, method, path, body.as_ref())
        .await
        .map_err(|e| Failure::new(EXIT_ERROR, e.to_string()))?;
    if response.status >= 400 {
        let code = response.body["error"]["code"]
            .as_str()
            .unwrap_or("internal")
            .to_owned();
        let message = response.body["error"]["message"]
            .as_str()
            .map_or_else(|| response.body.to_string(), str::to_owned);
        return Err(Failure::new(exit_for(&code), message));
    }
    Ok(response.body)
}

/// The operator running this command on the store directly: the same `local:<user>` a call
/// through the control socket is, with this process's pid.
pub(super) fn cli_actor() -> Actor {
    let me = crate::api::LocalPeer::this_process();
    Actor {
        platform: "local".into(),
        chat: None,
        user_id: me.user.clone(),
        display: me.user.clone(),
        role: Role::Admin,
        origin: Origin::Cli,
        via: me.via(),
    }
}

/// The scheduler of a profile whose server is not running, on its store: what the server would
/// do, for the records a command writes directly.
pub(super) fn offline_scheduler(
    store: &Store,
    config: &Config,
) -> Result<lull_queue::Scheduler, Failure> {
    let plugin = crate::stack::offline(store.clone(), config)
        .map_err(|e| Failure::new(EXIT_ERROR, format!("{e:#}")))?;
    Ok(plugin.scheduler().clone())
}
