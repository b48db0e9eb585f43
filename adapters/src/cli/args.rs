//! The command line's shape: every subcommand and option, as clap parses them (and as
//! `lull completions` and `lull man` print them).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::names::{session_name, source_name};

/// lull holds gateway restarts and updates until no agent run is live and the gateway is idle.
#[derive(Debug, Parser)]
#[command(name = "lull", version, long_about = None)]
pub struct Cli {
    /// lull's home (default ~/.lull).
    #[arg(long, env = "LULL_HOME", global = true)]
    pub home: Option<PathBuf>,
    /// The profile (default "default").
    #[arg(long, env = "LULL_PROFILE", global = true)]
    pub profile: Option<String>,
    /// Log format of `serve` and `demo` (logs go to stderr).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the sidecar: scheduler, control API and adapters of this profile.
    Serve,
    /// A simulated busy gateway: watch a restart wait for a lull, then run. No config, no tokens.
    Demo {
        /// Run the simulation this many times faster.
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
    /// What is queued, running, and why it waits.
    Status {
        /// Print the status JSON.
        #[arg(long)]
        json: bool,
        /// Redraw the status every second until interrupted (Ctrl-C).
        #[arg(long)]
        watch: bool,
    },
    /// Ask for a restart when the gateway is idle.
    Restart(AskArgs),
    /// Ask for an update (then a restart) when the gateway is idle.
    Update(AskArgs),
    /// Cancel a request (id, short id or unique prefix).
    Cancel(IdArgs),
    /// Approve a request awaiting approval.
    Approve(IdArgs),
    /// Reject an open request.
    Reject(IdArgs),
    /// Recently finished requests, newest first.
    History {
        /// How many (1 to 10000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The audit log: who changed what, when; the newest entries, oldest first.
    Audit {
        /// How many of the newest entries (1 to 10000).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=10_000))]
        limit: u64,
        /// Only this request's entries (id, short id or unique prefix).
        #[arg(long)]
        request: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pause all execution.
    Pause {
        /// For how long (e.g. 2h, or whole seconds); without it, until `lull resume`.
        #[arg(long = "for", value_parser = whole_duration, value_name = "DURATION")]
        duration: Option<Duration>,
        /// Why (kept with the pause, and in the audit).
        #[arg(long, default_value = "", value_parser = crate::names::free_text)]
        reason: String,
    },
    /// Resume execution.
    Resume,
    /// End the live runs of a session that will never end them (a wedged run; audited).
    Release {
        /// The session, as status shows it (e.g. telegram:-100123).
        #[arg(value_parser = session_name)]
        session: String,
    },
    /// Tell lull the gateway is draining (no restart starts meanwhile), or that it no longer is.
    Drain {
        /// `on` or `off`.
        #[arg(value_enum)]
        state: DrainState,
        /// How long the drain holds unless ended before (default 15m; at most 7 days).
        #[arg(long, value_parser = whole_duration, value_name = "DURATION")]
        ttl: Option<Duration>,
    },
    /// Run a command as a live run: maintenance waits while it runs (like systemd-inhibit).
    /// Exits with the command's status.
    Hold {
        /// The session it shows as in status (default hold:<program>).
        #[arg(long, value_parser = session_name)]
        session: Option<String>,
        /// Announce this activity source while it runs (default: none, so its end leaves
        /// nothing behind that could block maintenance).
        #[arg(long, value_parser = source_name)]
        source: Option<String>,
        /// The command, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Announce an activity source once ("the gateway is connected"); repeat it at least every
    /// maintenance.source_ttl_seconds.
    Heartbeat {
        /// The source's name (as the gateway's runs name it).
        #[arg(long, value_parser = source_name)]
        source: String,
    },
    /// The activity sources a running server tracks.
    Source {
        /// What to do.
        #[command(subcommand)]
        action: SourceAction,
    },
    /// This replica's fleet slot ([fleet], docs/fleet.md).
    Fleet {
        /// What to do.
        #[command(subcommand)]
        action: FleetAction,
    },
    /// Run the agent tool with this JSON and print its result.
    Tool {
        /// The agent's name (sets "agent" in the JSON).
        #[arg(long)]
        agent: Option<String>,
        /// The tool call, e.g. '{"action":"status"}'.
        json: String,
    },
    /// Print the agent tool's OpenAI function-calling schema.
    ToolSchema,
    /// Print what a relay's host should pass on to lull (docs/relay.md).
    RelayGrammar,
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print lull's man page (roff), e.g. `lull man > lull.1`.
    Man,
    /// Check that this profile will work: config, executor commands, socket, tokens, server,
    /// activity sources, windows, fleet. A fix for each failing line; exit 1 if any fails.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also ask each chat platform whether it takes the token.
        #[arg(long)]
        online: bool,
    },
    /// Print (or write, with --install) a systemd unit that runs this profile's `lull serve`.
    Service {
        /// A user unit (the default): lull runs as you, beside your gateway.
        #[arg(long, conflicts_with = "system")]
        user: bool,
        /// A system unit (/etc/systemd/system; root to install).
        #[arg(long)]
        system: bool,
        /// Write it where the service manager reads it, and say how to enable it.
        #[arg(long)]
        install: bool,
        /// Replace a unit that differs.
        #[arg(long, requires = "install")]
        force: bool,
    },
    /// Write a fully commented lull.toml for this profile.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// `lull drain on|off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DrainState {
    /// The gateway drains: no restart starts until it ends or its TTL runs out.
    On,
    /// The drain is over.
    Off,
}

/// How long `lull drain on` holds without `--ttl`.
pub(crate) const DEFAULT_DRAIN_TTL: Duration = Duration::from_secs(15 * 60);

/// A duration as chat takes it: whole seconds (`1200`) or humantime (`20m`, `1h30m`).
fn whole_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not a duration: give whole seconds or e.g. 20m, 1h30m, 90s");
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let parsed = humantime::parse_duration(text).map_err(|_| bad())?;
    if parsed.subsec_nanos() != 0 {
        return Err(format!("{text:?} is not whole seconds"));
    }
    Ok(parsed)
}

/// `lull source …`.
#[derive(Debug, Subcommand)]
pub enum SourceAction {
    /// Forget a source (a stale or invented name that keeps requests waiting on
    /// `no_activity_source` or a silent source); audited. Needs the server.
    Forget {
        /// The source's name, as `lull status` lists it.
        #[arg(value_parser = source_name)]
        name: String,
    },
}

/// `lull fleet …`.
#[derive(Debug, Subcommand)]
pub enum FleetAction {
    /// Give back the slot this replica keeps after a failed restart (audited); check the
    /// gateway first: other replicas may restart as soon as it is free.
    Release,
}

/// Arguments of restart and update.
#[derive(Debug, clap::Args)]
pub struct AskArgs {
    /// Why.
    #[arg(long, default_value = "")]
    pub(crate) reason: String,
    /// The idle window in seconds (default: maintenance.idle_seconds).
    #[arg(long, conflicts_with = "idle")]
    pub(crate) idle_seconds: Option<u64>,
    /// The idle window as chat takes it: 20m, 1h30m, 90s.
    #[arg(long, value_parser = whole_duration, value_name = "DURATION")]
    pub(crate) idle: Option<Duration>,
    /// `any`: this request may start outside the maintenance windows (admins only; audited).
    #[arg(long, value_name = "any", value_parser = ["any"])]
    pub(crate) window: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// A request id.
#[derive(Debug, clap::Args)]
pub struct IdArgs {
    /// Id, short id or unique prefix.
    pub(crate) id: String,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}
