//! Helpers for tests that spawn the real `lull` binary on a temporary home.

#![allow(
    dead_code,
    reason = "a build without a platform's feature leaves out its modules and the helpers only they use; `expect` cannot say that, as a build with every feature uses them all"
)]

pub mod etcd;
pub mod fake_discord;
pub mod fake_fleetlock;
pub mod fake_slack;
pub mod fake_telegram;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use lull_adapters::client::{self, Response};
use serde_json::Value;

/// A temporary lull home with one profile; short, so the socket path stays under 107 bytes.
pub struct Home {
    pub dir: tempfile::TempDir,
    /// Extra environment for every `lull` this home runs.
    pub env: Vec<(String, String)>,
}

impl Home {
    pub fn new(config: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("lull")
            .tempdir_in("/tmp")
            .unwrap();
        let home = Self {
            dir,
            env: Vec::new(),
        };
        std::fs::create_dir_all(home.profile_dir()).unwrap();
        let config = config.replace("{home}", &home.path().display().to_string());
        std::fs::write(home.profile_dir().join("lull.toml"), config).unwrap();
        home
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn profile_dir(&self) -> PathBuf {
        self.path().join("profiles/default")
    }

    pub fn socket(&self) -> PathBuf {
        self.profile_dir().join("control.sock")
    }

    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lull"));
        command
            .env("LULL_HOME", self.path())
            .env_remove("LULL_PROFILE")
            .env_remove("LULL_IDLE_SECONDS")
            .env_remove("TELEGRAM_BOT_TOKEN")
            .env_remove("TELEGRAM_WEBHOOK_SECRET")
            .env_remove("DISCORD_BOT_TOKEN")
            .env_remove("SLACK_BOT_TOKEN")
            .env_remove("SLACK_APP_TOKEN")
            .env_remove("SLACK_SIGNING_SECRET")
            // Tests read info lines from the log (`logged_port`), whatever the caller's RUST_LOG.
            .env("RUST_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Sets `name=value` for every `lull` this home runs.
    pub fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Rewrites the profile's config.
    pub fn write_config(&self, config: &str) {
        let config = config.replace("{home}", &self.path().display().to_string());
        std::fs::write(self.profile_dir().join("lull.toml"), config).unwrap();
    }

    /// Runs `lull ARGS` to completion (bounded: killed and failed after 60 s).
    pub fn lull(&self, args: &[&str]) -> Output {
        // Files, not pipes: nothing has to read while waiting for the exit.
        let out_path = self.path().join(format!("lull-{}.out", fastrand::u64(..)));
        let err_path = out_path.with_extension("err");
        let mut child = self
            .command()
            .args(args)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap();
        let Some(status) = wait_exit(&mut child, Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`lull {}` did not finish within 60s", args.join(" "));
        };
        let output = Output {
            status,
            stdout: std::fs::read(&out_path).unwrap(),
            stderr: std::fs::read(&err_path).unwrap(),
        };
        let _ = std::fs::remove_file(out_path);
        let _ = std::fs::remove_file(err_path);
        output
    }

    /// Starts `lull serve` and waits (bounded) until its socket answers.
    ///
    /// Its log is appended to a file rather than a pipe: a pipe nobody reads fills up and then
    /// blocks the server on its next log line.
    pub fn serve(&self) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.server_log_path())
            .unwrap();
        let mut server = Server(
            self.command()
                .arg("serve")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        // Ready means this server answered a request; a bare connect could reach the killed
        // predecessor's listener while a process it forked still holds it.
        while !self.answers() {
            if let Some(status) = server.try_wait().unwrap() {
                panic!(
                    "lull serve exited ({status}) before it was ready: {}",
                    self.server_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "lull serve was not ready within 30s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // The answer must have come from this server, not from one left running.
        if let Some(status) = server.try_wait().unwrap() {
            panic!(
                "lull serve exited ({status}) although a server answered: {}",
                self.server_log()
            );
        }
        server
    }

    /// Whether a server answers a status request on the socket now.
    pub fn answers(&self) -> bool {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(client::call(&self.socket(), "GET", "/v1/status", None))
            .is_ok_and(|r| r.status == 200)
    }

    fn server_log_path(&self) -> PathBuf {
        self.path().join("serve.log")
    }

    /// The end of what every `lull serve` of this home logged.
    pub fn server_log(&self) -> String {
        let log = std::fs::read_to_string(self.server_log_path()).unwrap_or_default();
        let start = log.len().saturating_sub(8 * 1024);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        log[start..].to_owned()
    }

    /// The port a server of this home logged for `listener` ("control API", "Telegram webhook"),
    /// waiting (bounded) for the line. Tests configure port 0 and read the port the system
    /// chose: a port picked free beforehand may be taken by then.
    pub fn logged_port(&self, listener: &str) -> u16 {
        self.logged_port_after(listener, 0)
    }

    /// The ports servers of this home logged for `listener` so far, in order.
    pub fn logged_ports(&self, listener: &str) -> Vec<u16> {
        let prefix = format!("{listener} listening on ");
        let log = std::fs::read_to_string(self.server_log_path()).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                let rest = &line[line.find(&prefix)? + prefix.len()..];
                let address = rest.split_whitespace().next()?;
                address
                    .parse::<std::net::SocketAddr>()
                    .ok()
                    .map(|a| a.port())
            })
            .collect()
    }

    /// [`Home::logged_port`], once more than `earlier` such lines were logged (a server started
    /// after `earlier` were): the last one, since a retried start logs its new port after the
    /// old one.
    pub fn logged_port_after(&self, listener: &str, earlier: usize) -> u16 {
        let mut port = None;
        wait_for(listener, Duration::from_secs(30), || {
            let ports = self.logged_ports(listener);
            port = ports.last().copied().filter(|_| ports.len() > earlier);
            port.is_some()
        });
        port.unwrap()
    }

    /// Stops a server with SIGTERM and checks (bounded) that it exits 0.
    pub fn stop(&self, mut server: Server) {
        let child = &mut server.0;
        if let Ok(None) = child.try_wait() {
            // SAFETY: signals our own child, which has not been reaped (so its pid is still ours).
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        let status = wait_exit(child, Duration::from_secs(60));
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "lull serve did not stop within 60s of SIGTERM; its log ends:\n{}",
                self.server_log()
            );
        };
        assert!(
            status.success(),
            "lull serve did not stop cleanly: {status}; its log ends:\n{}",
            self.server_log()
        );
    }

    /// One control API call.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(client::call(&self.socket(), method, path, body.as_ref()))
            .unwrap_or_else(|e| {
                panic!(
                    "{method} {path}: {e}; the server log ends:\n{}",
                    self.server_log()
                )
            })
    }

    /// `lull status --json`, which must succeed.
    pub fn status_json(&self) -> Value {
        let out = self.lull(&["status", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The open requests, from [`Home::status_json`].
    pub fn open_requests(&self) -> Vec<Value> {
        self.status_json()["open"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// How often each requester's ask was applied to the open request, by user id, from the
    /// running server's audit (the request lists only its first requesters; the audit has every
    /// ask: `submitted`, `joined`, or `repeated` for an ask applied twice).
    pub fn asks_applied(&self) -> std::collections::BTreeMap<String, u64> {
        let mut applied = std::collections::BTreeMap::new();
        let Some(open) = self.open_requests().first().cloned() else {
            return applied;
        };
        let id = open["id"].as_str().unwrap();
        let audit = self.call("GET", &format!("/v1/audit?request={id}&limit=10000"), None);
        assert_eq!(audit.status, 200, "{:?}", audit.body);
        for entry in audit.body["entries"].as_array().unwrap() {
            let action = entry["action"].as_str().unwrap();
            if ![
                "submitted",
                "joined",
                "repeated",
                "upgraded",
                "approved_by_ask",
            ]
            .contains(&action)
            {
                continue;
            }
            let actor = entry["actor"].as_str().unwrap();
            let actor = actor.split(" (").next().unwrap();
            let user = actor.split_once(':').map_or(actor, |(_, user)| user);
            *applied.entry(user.to_owned()).or_default() += 1;
        }
        applied
    }

    /// The audit, read from the store once the server has stopped.
    pub fn audit(&self) -> Vec<lull_queue::AuditEntry> {
        let store = lull_queue::Store::open(
            self.profile_dir().join("state"),
            lull_queue::QueueSettings::default(),
        )
        .unwrap();
        store.audit(None).unwrap()
    }

    /// How many audit entries record `action`.
    pub fn audited(&self, action: &str) -> usize {
        self.audit().iter().filter(|e| e.action == action).count()
    }

    pub fn marker_lines(&self) -> Vec<String> {
        std::fs::read_to_string(self.path().join("marker"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The Python virtual environment `scripts/test` made: `$var`, else `~/.cache/<name>`
/// (`XDG_CACHE_HOME` respected).
pub fn venv(var: &str, name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(var) {
        return dir.into();
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join(name)
}

/// `bin/<tool>` of that environment, which must exist.
pub fn venv_tool(var: &str, name: &str, tool: &str) -> PathBuf {
    let path = venv(var, name).join("bin").join(tool);
    assert!(
        path.exists(),
        "{} is missing: run `scripts/test` (it creates the Python environment this test uses)",
        path.display()
    );
    path
}

/// lull assembled for an embedded host gateway, as a host's start-up does (its store in `dir`,
/// restarts by `true`), with its scheduler running.
pub async fn embedded(
    dir: &Path,
    config: &lull_adapters::config::Config,
    chats: &lull_adapters::platforms::ChatAdapters,
) -> (lull_adapters::stack::Stack, lull_queue::SchedulerTask) {
    use lull_adapters::stack::{StackOptions, assemble};
    let store =
        lull_queue::Store::open(dir.join("db"), lull_adapters::serve::queue_settings(config))
            .unwrap();
    let stack = assemble(
        store,
        config,
        chats,
        StackOptions {
            profile: "host".into(),
            mode: lull_queue::SourceMode::Embedded,
            restart: lull_queue::RestartAction::Command(vec!["true".into()]),
        },
    )
    .await
    .unwrap();
    let scheduler = stack.plugin.scheduler().spawn();
    (stack, scheduler)
}

/// Waits (bounded) for `condition`.
pub fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A running `lull serve`, killed if a failing test leaves it behind.
pub struct Server(pub Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits at most `limit` for `child` to exit.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A config whose restart appends the request id to `{home}/marker`.
pub const MARKER_CONFIG: &str = r#"
[maintenance]
lease_ttl_seconds = 1
cooldown_seconds = 0
max_executions_per_hour = 1000
[executor]
restart = ["sh", "-c", "echo $LULL_REQUEST_ID >> {home}/marker"]
"#;

/// Sends `request` (a whole HTTP/1.1 request, `Connection: close`) to 127.0.0.1:`port`;
/// returns the status and the whole answer. A server refusing a large body may answer and
/// close before reading it all: the write can then fail, and the answer is still there to read.
pub fn http(port: u16, request: &str) -> (u16, String) {
    let answer = try_http(port, request).expect("nothing listens on the port");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {answer:?}"));
    (status, answer)
}

/// A whole HTTP/1.1 POST of `body` to `path` with `Connection: close`; `headers` are extra
/// header lines, each ending in `\r\n`.
pub fn post_request(path: &str, content_type: &str, headers: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The JSON body of a raw HTTP answer ([`http`]), or null when it has none.
pub fn json_body(answer: &str) -> Value {
    answer
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b.trim()).ok())
        .unwrap_or(Value::Null)
}

/// [`http`]'s raw answer, or `None` when nothing listens (a server being killed); an answer cut
/// off is whatever arrived, possibly empty.
pub fn try_http(port: u16, request: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = stream.write_all(request.as_bytes());
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    Some(String::from_utf8_lossy(&answer).into_owned())
}
