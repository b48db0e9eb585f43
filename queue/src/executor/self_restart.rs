//! Self restart for embedded hosts: stop gracefully, drop the tokio runtime and the store, then
//! exec the binary path saved at start-up with a one-time token in the environment.
//!
//! The path is saved at start-up because after an update `/proc/self/exe` (and
//! `std::env::current_exe()`) names a deleted file. A host's `main` needs a few lines:
//!
//! ```no_run
//! # fn serve(_: std::sync::Arc<lull_queue::SelfRestart>) -> impl std::future::Future<Output = ()> { async {} }
//! # fn open_store() -> lull_queue::Store { lull_queue::Store::open("/tmp/lull-doc", Default::default()).unwrap() }
//! fn main() -> std::io::Result<()> {
//!     let binary = lull_queue::StartupBinary::capture()?; // first thing: before any update
//!     let runtime = tokio::runtime::Runtime::new()?;
//!     let exec = runtime.block_on(async {
//!         let restart = lull_queue::SelfRestart::new(binary, open_store());
//!         tokio::select! {
//!             exec = restart.requested() => Some(exec), // a restart is due: stop serving
//!             () = serve(restart.clone()) => None,
//!         }
//!     });
//!     drop(runtime); // every task, and with them the store, is gone: sled's lock is released
//!     match exec {
//!         Some(exec) => Err(exec.exec()), // returns only if exec failed
//!         None => Ok(()),
//!     }
//! }
//! ```

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use super::StepOutcome;
use crate::request::{Request, RunResult};
use crate::store::Store;

/// The environment variable carrying the one-time restart token to the new process.
pub const RESTART_TOKEN_ENV: &str = "LULL_RESTART_TOKEN";

/// The binary and arguments this process was started with, captured before anything can replace
/// the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartupBinary {
    /// The executable's path at start-up.
    pub path: PathBuf,
    /// Arguments after the program name.
    pub args: Vec<OsString>,
}

impl StartupBinary {
    /// Captures `current_exe()` and the arguments. Call it first thing in `main`.
    pub fn capture() -> io::Result<Self> {
        Ok(Self {
            path: std::env::current_exe()?,
            args: std::env::args_os().skip(1).collect(),
        })
    }
}

/// A restart the host must carry out once its runtime and store are dropped.
#[derive(Debug)]
#[must_use = "call exec() after dropping the runtime"]
pub struct PendingExec {
    binary: StartupBinary,
    token: String,
}

impl PendingExec {
    /// Replaces this process with the saved binary. Returns only if that failed.
    pub fn exec(self) -> io::Error {
        std::process::Command::new(&self.binary.path)
            .args(&self.binary.args)
            .env(RESTART_TOKEN_ENV, &self.token)
            .exec()
    }

    /// The one-time token the new process will carry.
    pub fn token(&self) -> &str {
        &self.token
    }
}

/// The `"self"` restart of an embedded host.
pub struct SelfRestart {
    binary: StartupBinary,
    store: Store,
    requested: watch::Sender<Option<String>>,
}

impl SelfRestart {
    /// A self restart of `binary`, recording its token in `store`.
    pub fn new(binary: StartupBinary, store: Store) -> Arc<Self> {
        Arc::new(Self {
            binary,
            store,
            requested: watch::channel(None).0,
        })
    }

    /// Resolves when the scheduler has decided to restart this process. The host then stops
    /// serving, drops its runtime (and with it the store), and calls [`PendingExec::exec`].
    pub async fn requested(&self) -> PendingExec {
        let mut requested = self.requested.subscribe();
        let token = loop {
            if let Some(token) = requested.borrow_and_update().clone() {
                break token;
            }
            if requested.changed().await.is_err() {
                // The sender lives in `self`; it cannot be gone while we borrow `self`.
                std::future::pending::<()>().await;
            }
        };
        PendingExec {
            binary: self.binary.clone(),
            token,
        }
    }

    /// The executor's restart step: persists the token, tells the host, and never completes
    /// (the process is about to be replaced; `recover()` in the new one finishes the request).
    pub(crate) async fn restart(&self, request: &Request) -> StepOutcome {
        let token = uuid::Uuid::new_v4().simple().to_string();
        if let Err(error) = self.store.arm_self_restart(request.id, token.clone()).await {
            return StepOutcome::Failed(RunResult {
                message: Some(format!("could not record the self restart: {error}")),
                ..RunResult::default()
            });
        }
        tracing::info!(request = %request.short_id, path = %self.binary.path.display(), "restarting this process");
        self.requested.send_replace(Some(token));
        std::future::pending().await
    }
}
