//! `lull serve` as a process beside the bench: finding (or building) the `lull` binary, a fake
//! of the platforms' REST APIs on 127.0.0.1 (Telegram's Bot API, Discord's REST, Slack's Web
//! API: just what start-up and replies call), starting it on a home of its own, and reading its
//! memory and CPU time from /proc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::Uri;
use axum::response::IntoResponse;
use serde_json::{Value, json};

/// The `lull` binary beside this one (the same profile and target directory), built (or
/// brought up to date: a no-op when it is) so that the figures are the checked-out code's.
pub fn lull_binary() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let me = std::env::current_exe()?;
    let dir = me.parent().ok_or("the bench has no directory")?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace above lull-tests")?;
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.current_dir(workspace).args([
        "build",
        "--quiet",
        "--locked",
        "-p",
        "lull-adapters",
        "--bin",
        "lull",
    ]);
    if dir.ends_with("release") {
        cargo.arg("--release");
    }
    if let Some(target) = dir.parent() {
        cargo.env("CARGO_TARGET_DIR", target);
    }
    println!("building the lull binary beside the bench (a no-op when up to date)…");
    if !cargo.status()?.success() {
        return Err("building the lull binary failed".into());
    }
    Ok(dir.join("lull"))
}

/// A fake of the three platforms' REST APIs; answers what lull's start-up and replies call.
/// It runs on a thread and runtime of its own, so that the bench's client tasks do not slow it.
pub fn fake_platforms() -> Result<SocketAddr, Box<dyn std::error::Error>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the fake");
        runtime.block_on(async move {
            let listener =
                tokio::net::TcpListener::from_std(listener).expect("the fake's listener");
            let app = axum::Router::new().fallback(|uri: Uri, body: Bytes| async move {
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                axum::Json(answer(uri.path(), &body)).into_response()
            });
            let _ = axum::serve(listener, app).await;
        });
    });
    Ok(address)
}

fn answer(path: &str, body: &Value) -> Value {
    let user = json!({"id": "800000000000000001", "username": "lull_bench", "discriminator": "0",
        "global_name": null, "avatar": null, "bot": true, "verified": true, "mfa_enabled": false, "flags": 0});
    if let Some(method) = path
        .strip_prefix("/bot")
        .and_then(|p| p.split_once('/'))
        .map(|(_, m)| m)
    {
        // Bot API method names are case-insensitive; teloxide writes `GetMe`.
        let result = match method.to_ascii_lowercase().as_str() {
            "getme" => {
                json!({"id": 700001, "is_bot": true, "first_name": "lull", "username": "lull_bench_bot",
                "can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false, "has_main_web_app": false})
            }
            "sendmessage" => {
                json!({"message_id": 1, "date": 0, "chat": {"id": body["chat_id"], "type": "private", "first_name": "a"},
                "text": body["text"]})
            }
            "getmycommands" => json!([]),
            _ => json!(true),
        };
        return json!({"ok": true, "result": result});
    }
    match path {
        "/api/v10/users/@me" => user,
        p if p.starts_with("/api/v10/applications/") => {
            let mut command = body.clone();
            command["id"] = json!("810000000000000001");
            command["application_id"] = json!("800000000000000001");
            command["version"] = json!("1");
            command["type"] = json!(1);
            command["default_member_permissions"] = Value::Null;
            command
        }
        "/api/auth.test" => json!({"ok": true, "url": "https://bench.slack.com/", "team": "Bench",
            "user": "lull", "team_id": "T1", "user_id": "U0LULL", "bot_id": "B0LULL"}),
        _ => json!({"ok": true}),
    }
}

/// A running `lull serve` on a home of its own; killed when dropped.
pub struct Serve {
    pub child: Child,
    pub home: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `lull serve` with `config` in `home`, and waits (bounded) until its control API
    /// answers.
    pub async fn start(
        lull: &Path,
        home: &Path,
        config: &str,
        env: &[(&str, &str)],
    ) -> Result<(Self, Duration), Box<dyn std::error::Error>> {
        let profile = home.join("profiles/default");
        std::fs::create_dir_all(&profile)?;
        std::fs::write(profile.join("lull.toml"), config)?;
        let log = std::fs::File::create(home.join("serve.log"))?;
        let started = Instant::now();
        let mut command = Command::new(lull);
        // SAFETY: prctl in the child before exec; it only asks the kernel to kill the child
        // when the bench dies, so no `lull serve` outlives a killed bench.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .arg("serve")
            .env("LULL_HOME", home)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let mut serve = Self {
            child,
            home: home.to_owned(),
        };
        let socket = profile.join("control.sock");
        loop {
            let answered = lull_adapters::client::call(&socket, "GET", "/v1/status", None)
                .await
                .is_ok_and(|r| r.status == 200);
            if answered {
                return Ok((serve, started.elapsed()));
            }
            if let Ok(Some(status)) = serve.child.try_wait() {
                return Err(format!("lull serve exited ({status}): {}", serve.log()).into());
            }
            if started.elapsed() > Duration::from_secs(600) {
                return Err(format!("lull serve was not ready: {}", serve.log()).into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The control API's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.home.join("profiles/default/control.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("serve.log")).unwrap_or_default()
    }

    /// The port `listener` logged, waiting (bounded) for the line.
    pub async fn port(&self, listener: &str) -> Result<u16, Box<dyn std::error::Error>> {
        let prefix = format!("{listener} listening on ");
        for _ in 0..3000 {
            if let Some(port) = self.log().lines().find_map(|line| {
                let rest = &line[line.find(&prefix)? + prefix.len()..];
                rest.split_whitespace()
                    .next()?
                    .parse::<SocketAddr>()
                    .ok()
                    .map(|a| a.port())
            }) {
                return Ok(port);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(format!("no \"{prefix}\" line: {}", self.log()).into())
    }

    /// Resident memory, in MiB.
    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    /// User plus system CPU time so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let per_second = crate::stats::command_output("getconf", &["CLK_TCK"])
            .parse::<f64>()
            .unwrap_or(100.0);
        (ticks(11) + ticks(12)) / per_second
    }
}
