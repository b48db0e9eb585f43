//! The `lull` command line: what each subcommand does (their shape is in `args`). Through the
//! control socket when a server runs; otherwise directly on the store, which it releases at once.

use std::path::PathBuf;
use std::time::Duration;

use lull_queue::{Actor, Ask, AskDraft, Kind, Origin, Role, Status, Store};
use serde_json::{Value, json};

use crate::client;
use crate::config::{Config, TEMPLATE};
use crate::profile::Profile;

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: an error (I/O, a server that failed, a bad config).
pub const EXIT_ERROR: i32 = 1;
/// Exit status: a usage error (bad arguments or input).
pub const EXIT_USAGE: i32 = 2;
/// Exit status: the request was not found.
pub const EXIT_NOT_FOUND: i32 = 3;
/// Exit status: refused (not allowed, or not possible in the request's state).
pub const EXIT_REFUSED: i32 = 4;

mod args;

use args::DEFAULT_DRAIN_TTL;
pub(crate) use args::session_name;
pub use args::{AskArgs, Cli, Command, DrainState, FleetAction, IdArgs, LogFormat};

/// A failure with its exit status.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub code: i32,
    /// What to print on stderr.
    pub message: String,
}

impl Failure {
    pub(crate) fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Self::new(EXIT_ERROR, format!("{e:#}"))
    }
}

/// The exit status for an error code of the API or tool: a queue error by its kind; the API's
/// own refusals (`executing`, `lease_expired`) are refusals; anything else is a bad input.
pub(crate) fn exit_for(code: &str) -> i32 {
    match lull_queue::ErrorKind::from_code(code) {
        Some(lull_queue::ErrorKind::NotFound) => EXIT_NOT_FOUND,
        Some(lull_queue::ErrorKind::Internal) => EXIT_ERROR,
        Some(_) => EXIT_REFUSED,
        None if matches!(code, "executing" | "lease_expired") => EXIT_REFUSED,
        None => EXIT_USAGE,
    }
}

fn queue_failure(error: lull_queue::Error) -> Failure {
    let tool = lull_plugin::ToolError::from(error);
    Failure::new(exit_for(tool.code), tool.message)
}

/// Where commands go.
enum Target {
    /// A server answers on the socket.
    Server(PathBuf),
    /// No server: the store, opened for this one command.
    Direct(Store, Box<Config>),
}

async fn target(profile: &Profile) -> Result<Target, Failure> {
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

async fn api(
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
fn cli_actor() -> Actor {
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

/// How often `status --watch` looks again.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Redraws the status until Ctrl-C. Each look finds the server anew (or opens the store for a
/// moment and releases it), so a watch never keeps `lull serve` from starting, and follows it
/// when it does.
async fn watch_status(profile: &Profile, json: bool) -> Result<(), Failure> {
    let mut screen = crate::terminal::Screen::stdout();
    // Registered before the first look, and awaited during looks too, so a Ctrl-C at any
    // moment ends the watch cleanly.
    let mut interrupted = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| Failure::new(EXIT_ERROR, format!("cannot watch for Ctrl-C: {e}")))?;
    loop {
        let look = async {
            let target = target(profile).await?;
            status_text(profile, &target, json).await
        };
        let text = tokio::select! {
            looked = look => match looked {
                Ok(text) => text,
                // Passing trouble (a server starting holds the store for a moment): shown, and
                // looked at again, rather than ending the watch.
                Err(failure) => format!("lull: {} (looking again every second)", failure.message),
            },
            _ = interrupted.recv() => return Ok(()),
        };
        screen.show(&text);
        tokio::select! {
            () = tokio::time::sleep(WATCH_EVERY) => {}
            _ = interrupted.recv() => return Ok(()),
        }
    }
}

/// The status as printed: JSON, or the text people read (saying when nothing runs because no
/// server does).
async fn status_text(profile: &Profile, target: &Target, json: bool) -> Result<String, Failure> {
    let status: Status = match target {
        Target::Server(socket) => {
            serde_json::from_value(api(socket, "GET", "/v1/status", None).await?).map_err(|e| {
                Failure::new(
                    EXIT_ERROR,
                    format!("unexpected status from the server: {e}"),
                )
            })?
        }
        Target::Direct(store, config) => {
            offline_status(profile, store, &config.maintenance.windows()).map_err(queue_failure)?
        }
    };
    if json {
        return Ok(serde_json::to_string_pretty(&status).unwrap_or_default());
    }
    let mut text = String::new();
    if matches!(target, Target::Direct(..)) {
        text.push_str(&format!(
            "(lull serve is not running for profile {:?}: nothing runs until it starts)\n",
            profile.name
        ));
    }
    let now = lull_queue::Timestamp::from_system_time(std::time::SystemTime::now());
    text.push_str(&lull_plugin::status_reply(&status, now).plain);
    if matches!(target, Target::Server(_)) {
        text.push_str(&sources_line(&status, now));
    }
    Ok(text)
}

/// The activity sources and when each was last heard: what tells an operator the gateway is
/// connected (chat replies leave it out; the CLI is the operator's view).
fn sources_line(status: &Status, now: lull_queue::Timestamp) -> String {
    if status.sources.is_empty() {
        return "\nSources: none has reported (requests wait on no_activity_source; `lull doctor` says more)".into();
    }
    let heard: Vec<String> = status
        .sources
        .iter()
        .map(|s| {
            format!(
                "{} ({}s ago)",
                s.name,
                now.saturating_since(s.last_seen).as_secs()
            )
        })
        .collect();
    format!("\nSources: {}", heard.join(", "))
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

async fn ask(kind: Kind, mut args: AskArgs, target: &Target) -> Result<(), Failure> {
    if let Some(idle) = args.idle {
        args.idle_seconds = Some(idle.as_secs());
    }
    let (request, deduplicated) = match target {
        Target::Server(socket) => {
            let mut body =
                json!({"kind": kind, "reason": args.reason, "idle_seconds": args.idle_seconds});
            if let Some(window) = &args.window {
                body["window"] = json!(window);
            }
            let answer = api(socket, "POST", "/v1/requests", Some(body)).await?;
            let request: lull_queue::Request = serde_json::from_value(answer["request"].clone())
                .map_err(|e| Failure::new(EXIT_ERROR, format!("unexpected answer: {e}")))?;
            (request, answer["deduplicated"].as_bool().unwrap_or(false))
        }
        Target::Direct(store, config) => {
            let draft = AskDraft {
                kind,
                reason: args.reason,
                idle: args.idle_seconds.map(Duration::from_secs),
                ignore_windows: args.window.is_some(),
                actor: cli_actor(),
            };
            let ask = Ask::new(draft, &config.maintenance.ask_rules())
                .map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?;
            let submitted = store.submit(ask).await.map_err(queue_failure)?;
            (submitted.request, submitted.deduplicated)
        }
    };
    if args.json {
        print_json(&json!({"request": request, "deduplicated": deduplicated}));
    } else if deduplicated {
        println!(
            "joined {} {} ({} requesters)",
            request.kind,
            request.short_id,
            request.requested_by.len()
        );
    } else {
        println!(
            "queued {} {} ({}); it runs when the gateway has been idle for {}s",
            request.kind, request.short_id, request.state, request.idle_seconds
        );
    }
    Ok(())
}

async fn decide(verb: &str, args: IdArgs, target: &Target) -> Result<(), Failure> {
    let request = match target {
        Target::Server(socket) => {
            let answer = api(
                socket,
                "POST",
                &format!("/v1/requests/{}/{verb}", args.id),
                None,
            )
            .await?;
            serde_json::from_value(answer["request"].clone())
                .map_err(|e| Failure::new(EXIT_ERROR, format!("unexpected answer: {e}")))?
        }
        Target::Direct(store, _) => match verb {
            "cancel" => store.cancel(&args.id, cli_actor()).await.map(|c| c.request),
            "approve" => store.approve(&args.id, cli_actor()).await,
            _ => store.reject(&args.id, cli_actor()).await,
        }
        .map_err(queue_failure)?,
    };
    let request: lull_queue::Request = request;
    if args.json {
        print_json(&json!({"request": request}));
    } else {
        println!(
            "{} {} is now {}",
            request.kind, request.short_id, request.state
        );
    }
    Ok(())
}

/// The scheduler of a profile whose server is not running, on its store: what the server would
/// do, for the records a command writes directly.
fn offline_scheduler(store: &Store, config: &Config) -> Result<lull_queue::Scheduler, Failure> {
    let plugin = crate::stack::offline(store.clone(), config)
        .map_err(|e| Failure::new(EXIT_ERROR, format!("{e:#}")))?;
    Ok(plugin.scheduler().clone())
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

/// Status without a server: what is stored, and the one blocker that matters: nothing reports.
fn offline_status(
    profile: &Profile,
    store: &Store,
    windows: &lull_queue::Windows,
) -> Result<Status, lull_queue::Error> {
    let open: Vec<_> = store.open_request()?.into_iter().collect();
    let pause = store.pause()?;
    let now = store.now();
    let pause = pause.filter(|p| p.holds_at(now));
    Ok(Status {
        profile: profile.name.clone(),
        blockers: if open.is_empty() {
            Vec::new()
        } else {
            vec![lull_queue::Blocker::NoActivitySource]
        },
        open,
        running: store.running_request()?,
        live_runs: Vec::new(),
        sources: Vec::new(),
        host_draining: store.drain()?.is_some_and(|d| d.until > now),
        paused: pause.is_some(),
        paused_until: pause.and_then(|p| p.until),
        idle_since: None,
        eta: None,
        last_finished: store.history(1)?.into_iter().next(),
        windows: lull_queue::WindowsStatus::of(windows, now),
        fleet: None,
    })
}
