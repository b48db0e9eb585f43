//! The host gateway's own start-up, shared by the embedding examples: its `lull.toml` (first
//! argument), lull's store beside the gateway, the profile assembled for an embedded gateway
//! (restarted by its service manager), and the scheduler running. What each example shows is
//! the glue after this.

use std::path::PathBuf;

use lull_adapters::chat::adapter::ChatAdapter;
use lull_adapters::config::Config;
use lull_adapters::platforms::ChatAdapters;
use lull_adapters::serve::queue_settings;
use lull_adapters::stack::{Stack, StackOptions, assemble};
use lull_queue::{RestartAction, SchedulerTask, SourceMode, Store};

/// The started host side of lull.
pub struct Host {
    /// The command core and the tracker the gateway reports its runs to.
    pub stack: Stack,
    chats: ChatAdapters,
    config_path: PathBuf,
    _scheduler: SchedulerTask,
}

impl Host {
    /// Loads the config named by the first argument (default `lull.toml`), opens the store and
    /// starts the scheduler.
    pub async fn start() -> anyhow::Result<Self> {
        tracing_subscriber::fmt().init();
        let config_path: PathBuf = std::env::args()
            .nth(1)
            .unwrap_or_else(|| "lull.toml".into())
            .into();
        let config = Config::load(&config_path)?;
        let chats = ChatAdapters::from_config(&config)?;
        let store = Store::open("gateway-lull.db", queue_settings(&config))?;
        let stack = assemble(
            store,
            &config,
            &chats,
            StackOptions {
                profile: "gateway".into(),
                mode: SourceMode::Embedded,
                // A gateway that can re-execute itself would use RestartAction::SelfExec.
                restart: RestartAction::Command(vec![
                    "systemctl".into(),
                    "--user".into(),
                    "restart".into(),
                    "my-gateway".into(),
                ]),
            },
        )
        .await?;
        let scheduler = stack.plugin.scheduler().spawn();
        Ok(Self {
            stack,
            chats,
            config_path,
            _scheduler: scheduler,
        })
    }

    /// The platform's checked section (`[section]`), which the host's own client is built from.
    pub fn settings<A: ChatAdapter>(&self, section: &str) -> anyhow::Result<&A> {
        self.chats.find::<A>().ok_or_else(|| {
            anyhow::anyhow!("{} has no [{section}] section", self.config_path.display())
        })
    }
}
