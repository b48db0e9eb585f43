//! The `lull` command line: what each subcommand does (their shape is in `args`). Through the
//! control socket when a server runs; otherwise directly on the store, which it releases at once.

use std::time::Duration;

use lull_queue::Kind;
use serde_json::{Value, json};

use crate::config::TEMPLATE;
use crate::exit::{EXIT_ERROR, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE, Failure, exit_for};
use crate::profile::Profile;

mod args;
mod audit;
mod requests;
mod status;
mod target;

use args::DEFAULT_DRAIN_TTL;
pub use args::{AskArgs, Cli, Command, DrainState, FleetAction, IdArgs, LogFormat, SourceAction};
use requests::{ask, decide};
use status::{status_text, watch_status};
use target::{Target, api, cli_actor, offline_scheduler, queue_failure, target};

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Runs a non-serve, non-demo command; returns what to print.
pub async fn run(profile: &Profile, command: Command) -> Result<(), Failure> {
    match command {
        Command::ToolSchema => {
            print_json(&lull_plugin::tool_schema());
            Ok(())
        }
        Command::RelayGrammar => {
            print_json(&crate::relay::grammar());
            Ok(())
        }
        Command::Init { force } => init(profile, force),
        Command::Service {
            system,
            install,
            force,
            ..
        } => {
            let scope = if system {
                crate::service::Scope::System
            } else {
                crate::service::Scope::User
            };
            crate::service::run(profile, scope, install, force)
        }
        Command::Serve | Command::Demo { .. } => {
            Err(Failure::new(EXIT_USAGE, "not a client command"))
        }
        Command::Status { json, watch: true } => watch_status(profile, json).await,
        Command::Hold {
            session,
            source,
            command,
        } => {
            let hold = crate::hold::Hold::new(session, source, command)?;
            match crate::hold::run(&profile.socket_path(), hold).await? {
                0 => Ok(()),
                code => Err(Failure::new(code, "")),
            }
        }
        Command::Heartbeat { source } => heartbeat(profile, &source).await,
        Command::Source {
            action: SourceAction::Forget { name },
        } => forget_source(profile, &name).await,
        Command::Doctor { json, online } => crate::doctor::run(profile, json, online).await,
        Command::Completions { shell } => {
            let mut cli = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cli, "lull", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let page = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command());
            match page.render(&mut std::io::stdout()) {
                // Read by `head` or a pager that quit: nothing is wrong.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other.map_err(|e| {
                    Failure::new(EXIT_ERROR, format!("cannot write the man page: {e}"))
                }),
            }
        }
        command => {
            check_arguments(&command)?;
            let target = target(profile).await?;
            client_command(profile, &target, command).await
        }
    }
}

fn init(profile: &Profile, force: bool) -> Result<(), Failure> {
    let path = profile.config_path();
    if path.exists() && !force {
        return Err(Failure::new(
            EXIT_REFUSED,
            format!("{} exists; pass --force to overwrite it", path.display()),
        ));
    }
    std::fs::create_dir_all(&profile.dir).map_err(|e| {
        Failure::new(
            EXIT_ERROR,
            format!("cannot create {}: {e}", profile.dir.display()),
        )
    })?;
    // The owner's alone from the start, as `lull serve` keeps it (without [api] socket_group).
    crate::access::SocketAccess::of(None)
        .and_then(|access| access.apply_to_profile(&profile.dir))
        .map_err(|e| Failure::new(EXIT_ERROR, format!("{e:#}")))?;
    std::fs::write(&path, TEMPLATE)
        .map_err(|e| Failure::new(EXIT_ERROR, format!("cannot write {}: {e}", path.display())))?;
    println!(
        "wrote {}: set executor.restart, then run `lull serve`",
        path.display()
    );
    Ok(())
}

/// Refuses bad arguments before anything is sent or opened.
fn check_arguments(command: &Command) -> Result<(), Failure> {
    match command {
        Command::Pause {
            duration: Some(d), ..
        } if d.as_secs() == 0 || *d > lull_plugin::MAX_PAUSE => Err(Failure::new(
            EXIT_USAGE,
            "--for must be from 1s to 7 days; without it the pause lasts until `lull resume`",
        )),
        Command::Drain { ttl: Some(d), .. } if d.as_secs() == 0 || *d > lull_plugin::MAX_PAUSE => {
            Err(Failure::new(
                EXIT_USAGE,
                "--ttl must be from 1s to 7 days (default 15m)",
            ))
        }
        Command::Cancel(args) | Command::Approve(args) | Command::Reject(args)
            if args.id.is_empty()
                || args.id.len() > 40
                || !args
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            Err(Failure::new(
                EXIT_USAGE,
                format!(
                    "{:?} is not a request id (ids look like r7k2, or a UUID or its prefix)",
                    args.id
                ),
            ))
        }
        _ => Ok(()),
    }
}

async fn client_command(
    profile: &Profile,
    target: &Target,
    command: Command,
) -> Result<(), Failure> {
    match (command, target) {
        (Command::Status { json, .. }, target) => {
            println!("{}", status_text(profile, target, json).await?);
            Ok(())
        }
        (Command::Restart(args), target) => ask(Kind::Restart, args, target).await,
        (Command::Update(args), target) => ask(Kind::Update, args, target).await,
        (Command::Cancel(args), target) => decide("cancel", args, target).await,
        (Command::Approve(args), target) => decide("approve", args, target).await,
        (Command::Reject(args), target) => decide("reject", args, target).await,
        (
            Command::Audit {
                limit,
                request,
                json,
            },
            target,
        ) => audit::audit(limit, request.as_deref(), json, target).await,
        (Command::History { limit, json }, target) => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            let requests: Vec<lull_queue::Request> = match target {
                Target::Server(socket) => {
                    let body = api(socket, "GET", "/v1/requests", None).await?;
                    let mut all: Vec<lull_queue::Request> =
                        serde_json::from_value(body["requests"].clone()).unwrap_or_default();
                    all.retain(|r| r.state.is_finished());
                    all.sort_by_key(|r| std::cmp::Reverse(r.state_since()));
                    all.truncate(limit);
                    all
                }
                Target::Direct(store, _) => store.history(limit).map_err(queue_failure)?,
            };
            if json {
                print_json(&json!({"requests": requests}));
            } else {
                println!(
                    "{}",
                    lull_plugin::history_reply(
                        &requests,
                        lull_queue::Timestamp::from_system_time(std::time::SystemTime::now())
                    )
                    .plain
                );
            }
            Ok(())
        }
        (Command::Pause { duration, reason }, Target::Server(socket)) => {
            let body = json!({"for_seconds": duration.map(|d| d.as_secs()), "reason": reason});
            let answer = api(socket, "POST", "/v1/pause", Some(body)).await?;
            let pause: lull_queue::Pause = serde_json::from_value(answer["pause"].clone())
                .map_err(|e| Failure::new(EXIT_ERROR, format!("unexpected answer: {e}")))?;
            print_pause(&pause);
            Ok(())
        }
        (Command::Pause { duration, reason }, Target::Direct(store, config)) => {
            // The scheduler's own pause, as the server records it.
            let pause = offline_scheduler(store, config)?
                .pause(duration, &cli_actor().by(), &reason)
                .await
                .map_err(queue_failure)?;
            print_pause(&pause);
            Ok(())
        }
        (Command::Release { session }, Target::Server(socket)) => {
            let answer = api(
                socket,
                "POST",
                "/v1/release",
                Some(json!({"session": session})),
            )
            .await?;
            println!(
                "released {} live run(s) of {session}; they no longer hold maintenance back",
                answer["released"].as_u64().unwrap_or(0)
            );
            Ok(())
        }
        (Command::Release { session }, Target::Direct(..)) => Err(Failure::new(
            EXIT_NOT_FOUND,
            format!(
                "no live run in session {session}: lull serve is not running for profile {:?}, and runs live only while it does",
                profile.name
            ),
        )),
        (Command::Drain { state, ttl }, target) => drain(state, ttl, target).await,
        (Command::Resume, Target::Server(socket)) => {
            api(socket, "POST", "/v1/resume", None).await?;
            println!("maintenance resumed");
            Ok(())
        }
        (
            Command::Fleet {
                action: FleetAction::Release,
            },
            Target::Server(socket),
        ) => {
            let answer = api(socket, "POST", "/v1/fleet/release", None).await?;
            print_released_slot(&answer["released"]);
            Ok(())
        }
        (
            Command::Fleet {
                action: FleetAction::Release,
            },
            Target::Direct(store, config),
        ) => {
            let hold = offline_scheduler(store, config)?
                .release_fleet_slot(&cli_actor().by())
                .await
                .map_err(queue_failure)?;
            print_released_slot(&serde_json::to_value(hold).unwrap_or_default());
            Ok(())
        }
        (Command::Resume, Target::Direct(store, config)) => {
            offline_scheduler(store, config)?
                .resume(&cli_actor().by())
                .await
                .map_err(queue_failure)?;
            println!("maintenance resumed");
            Ok(())
        }
        (Command::Tool { agent, json: text }, target) => {
            let mut call: Value = serde_json::from_str(&text).map_err(|e| {
                print_json(&json!({"ok": false, "error": {"code": "invalid_json", "message": format!("the tool input is not valid JSON: {e}")}}));
                Failure::new(EXIT_USAGE, "")
            })?;
            if let (Some(agent), Some(object)) = (agent, call.as_object_mut()) {
                object.insert("agent".into(), Value::String(agent));
            }
            let result = match target {
                Target::Server(socket) => api(socket, "POST", "/v1/tool", Some(call)).await?,
                Target::Direct(store, config) => {
                    if let Some(running) = store.running_request().map_err(queue_failure)? {
                        return Err(Failure::new(
                            EXIT_REFUSED,
                            format!(
                                "request {} is still marked running: lull stopped during it, and `lull serve` settles it when it starts",
                                running.short_id
                            ),
                        ));
                    }
                    let names_a_chat = call.get("chat").is_some_and(|c| !c.is_null());
                    let relay_token = config.relay.as_ref().and_then(|r| r.token_env.as_ref());
                    if names_a_chat && relay_token.is_some() {
                        // Only the server checks the relay's token; no process gets around it
                        // by calling while lull serve is down.
                        print_json(
                            &json!({"ok": false, "error": {"code": "unauthorized", "message": "a tool call that names its chat needs the relay token ([relay].token_env), which only `lull serve` checks: start it and call POST /v1/tool with the token"}}),
                        );
                        return Err(Failure::new(EXIT_REFUSED, ""));
                    }
                    let plugin = crate::stack::offline(store.clone(), config)
                        .map_err(|e| Failure::new(EXIT_ERROR, format!("{e:#}")))?;
                    let via = crate::api::LocalPeer::this_process().relayed();
                    let result = plugin.tool_via(&call.to_string(), Some(&via)).await;
                    eprintln!(
                        "(lull serve is not running for profile {:?}: nothing runs until it starts)",
                        profile.name
                    );
                    result
                }
            };
            print_json(&result);
            match result["error"]["code"].as_str() {
                Some(code) => Err(Failure::new(exit_for(code), "")),
                None => Ok(()),
            }
        }
        (
            Command::Serve
            | Command::Demo { .. }
            | Command::ToolSchema
            | Command::RelayGrammar
            | Command::Init { .. }
            | Command::Completions { .. }
            | Command::Hold { .. }
            | Command::Service { .. }
            | Command::Doctor { .. }
            | Command::Heartbeat { .. }
            | Command::Source { .. }
            | Command::Man,
            _,
        ) => Err(Failure::new(EXIT_USAGE, "not a client command")),
    }
}

/// `lull heartbeat --source NAME`: a source lives only in a running server.
async fn heartbeat(profile: &Profile, source: &str) -> Result<(), Failure> {
    let Target::Server(socket) = target(profile).await? else {
        return Err(Failure::new(
            EXIT_ERROR,
            format!(
                "lull serve is not running for profile {:?}: a source is announced to a running server",
                profile.name
            ),
        ));
    };
    api(
        &socket,
        "POST",
        "/v1/heartbeat",
        Some(json!({"source": source})),
    )
    .await?;
    println!("source {source} announced; announce it again within maintenance.source_ttl_seconds");
    Ok(())
}

/// `lull source forget NAME`: sources live only in a running server.
async fn forget_source(profile: &Profile, name: &str) -> Result<(), Failure> {
    let Target::Server(socket) = target(profile).await? else {
        return Err(Failure::new(
            EXIT_ERROR,
            format!(
                "lull serve is not running for profile {:?}: sources live in a running server, and one that starts knows none",
                profile.name
            ),
        ));
    };
    let path = format!("/v1/sources/{}", path_segment(name));
    api(&socket, "DELETE", &path, None).await?;
    println!("forgot source {name}; requests no longer wait on it");
    Ok(())
}

/// `text` percent-encoded for one segment of a URL path.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn drain(state: DrainState, ttl: Option<Duration>, target: &Target) -> Result<(), Failure> {
    let ttl = ttl.unwrap_or(DEFAULT_DRAIN_TTL);
    match (state, target) {
        (DrainState::On, Target::Server(socket)) => {
            let body = json!({"ttl_seconds": ttl.as_secs()});
            api(socket, "POST", "/v1/drain", Some(body)).await?;
        }
        (DrainState::Off, Target::Server(socket)) => {
            api(socket, "DELETE", "/v1/drain", None).await?;
        }
        (state, Target::Direct(store, config)) => {
            let scheduler = offline_scheduler(store, config)?;
            let by = cli_actor().by();
            match state {
                DrainState::On => scheduler.drain(ttl, &by).await.map(drop),
                DrainState::Off => scheduler.end_drain(&by).await,
            }
            .map_err(queue_failure)?;
        }
    }
    match state {
        DrainState::On => println!(
            "the gateway drains: no restart starts for {} unless `lull drain off` comes first",
            humantime::format_duration(ttl)
        ),
        DrainState::Off => println!("the drain is over"),
    }
    Ok(())
}

fn print_released_slot(hold: &Value) {
    println!(
        "released the fleet slot {} of group {}; other replicas may restart now",
        hold["key"].as_str().unwrap_or("?"),
        hold["group"].as_str().unwrap_or("?")
    );
}

fn print_pause(pause: &lull_queue::Pause) {
    let why = if pause.reason.is_empty() {
        String::new()
    } else {
        format!(" ({})", pause.reason)
    };
    match pause.until {
        Some(until) => println!("maintenance paused until {until}{why}"),
        None => println!("maintenance paused until `lull resume`{why}"),
    }
}
