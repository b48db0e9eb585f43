//! The `lull` binary: parses the command line and maps failures to the documented exit statuses
//! (0 ok, 1 error, 2 usage, 3 not found, 4 refused).

use std::process::ExitCode;

use clap::Parser;
use lull_adapters::cli::{self, Cli, Command, LogFormat};
use lull_adapters::config::Config;
use lull_adapters::exit::{EXIT_ERROR, EXIT_USAGE, Failure};
use lull_adapters::profile::Profile;

/// How long the runtime waits, once the command returned, for tasks it still runs.
const RUNTIME_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(10);

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let profile = || {
        Profile::resolve(cli.home.as_deref(), cli.profile.as_deref()).map_err(|e| Failure {
            code: EXIT_USAGE,
            message: e.to_string(),
        })
    };
    match cli.command {
        Command::Serve => {
            init_logging(cli.log_format);
            let profile = profile()?;
            let config = Config::load(&profile.config_path()).map_err(|e| Failure {
                code: EXIT_ERROR,
                message: e.to_string(),
            })?;
            lull_adapters::serve::serve(&profile, config)
                .await
                .map_err(Failure::from)
        }
        Command::Demo { speed } => {
            if cli.log_format == LogFormat::Json {
                init_logging(cli.log_format);
            }
            lull_adapters::demo::demo(speed)
                .await
                .map_err(Failure::from)
        }
        command => cli::run(&profile()?, command).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lull: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_ERROR as u8);
        }
    };
    let outcome = runtime.block_on(run(cli));
    // Tasks and blocking calls still running (an abandoned execution, a store close that did not
    // finish) must not keep the process alive; what was acknowledged is already on disk.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("lull: {}", failure.message);
            }
            ExitCode::from(failure.code as u8)
        }
    }
}
