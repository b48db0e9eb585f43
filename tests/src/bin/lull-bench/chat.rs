//! Chat paths: 500 concurrent signed Slack slash commands, 500 signed Discord interactions and
//! 500 Telegram webhook updates against `lull serve` on loopback, each timed from connect to the
//! whole answer (which lull gives once the command was handled); and the memory and idle CPU of
//! that `lull serve`, with all three adapters configured against fakes.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::{Signer, SigningKey};
use hmac::{KeyInit, Mac};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Scale;
use crate::server::{Serve, fake_platforms};
use crate::stats::{Table, latencies, p99};

const SLACK_SECRET: &str = "bench-signing-secret";
const TELEGRAM_SECRET: &str = "bench_webhook_secret";
const SEED: [u8; 32] = [9; 32];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// What counts as lull's answer to a command (not a deferral, not a refusal).
type Answered = fn(&str) -> bool;

/// An HTTP/1.1 POST of `body`, closing the connection after the answer.
fn post(path: &str, headers: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: {content_type}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// One exchange on a new connection, bounded at 30 s: the time from connect to the whole
/// answer, if it was 200 and `answered` accepts its body.
async fn exchange(port: u16, request: &str, answered: Answered) -> Option<Duration> {
    let sent = exchange_once(port, request, answered);
    tokio::time::timeout(Duration::from_secs(30), sent)
        .await
        .ok()
        .flatten()
}

async fn exchange_once(port: u16, request: &str, answered: Answered) -> Option<Duration> {
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok()?;
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&answer);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (answer.starts_with("HTTP/1.1 200") && answered(body)).then_some(took)
}

/// `GET /healthz`: the reference, a request lull answers without work.
fn healthy(body: &str) -> bool {
    body.contains("\"ok\":true")
}

/// Slack: the status itself, in the channel (not "Working on it…", not a refusal).
fn slack_answered(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| {
        v["response_type"] == "in_channel"
            && !v["text"].as_str().unwrap_or("").starts_with("Working")
    })
}

/// Discord: a public message answer (type 4); not a deferral (type 5) or a refusal.
fn discord_answered(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .is_ok_and(|v| v["type"] == 4 && v["data"]["flags"].as_u64().unwrap_or(0) & 64 == 0)
}

/// Telegram: the post is answered once the update was handled; the reply itself goes to the
/// fake Bot API.
fn telegram_answered(_body: &str) -> bool {
    true
}

/// Fires `requests` (each the whole request text) at `port` at once; their latencies, or how
/// many failed.
async fn burst(
    port: u16,
    requests: Vec<String>,
    answered: Answered,
) -> Result<Vec<Duration>, String> {
    let total = requests.len();
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| tokio::spawn(async move { exchange(port, &request, answered).await }))
        .collect();
    let mut latencies = Vec::with_capacity(total);
    for task in tasks {
        if let Some(took) = task.await.map_err(|e| e.to_string())? {
            latencies.push(took);
        }
    }
    if latencies.len() < total {
        return Err(format!(
            "{} of {total} requests failed",
            total - latencies.len()
        ));
    }
    Ok(latencies)
}

pub async fn run(
    scale: Scale,
    lull: &Path,
    table: &mut Table,
) -> Result<(), Box<dyn std::error::Error>> {
    // LULL_BENCH_CHAT overrides the burst size (to look at one path at full size in a quick run).
    let n = std::env::var("LULL_BENCH_CHAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(scale.pick(500, 50));
    let idle = Duration::from_secs(scale.pick(60, 5) as u64);
    let fake = fake_platforms()?;
    let key = SigningKey::from_bytes(&SEED);
    let config = format!(
        r#"[maintenance]
[api]
tcp_listen = "127.0.0.1:0"
[executor]
restart = ["true"]
[telegram]
api_url = "http://{fake}"
mode = "webhook"
webhook_listen = "127.0.0.1:0"
webhook_url = "https://bench.example.org/telegram/webhook"
admins = [42]
[discord]
api_url = "http://{fake}"
application_id = "800000000000000001"
mode = "interactions"
interactions_listen = "127.0.0.1:0"
public_key = "{}"
admins = ["111000000000000001"]
[slack]
api_url = "http://{fake}/api"
mode = "http"
listen = "127.0.0.1:0"
admins = ["U0ADMIN"]
"#,
        hex(key.verifying_key().as_bytes())
    );
    let home = tempfile::Builder::new()
        .prefix("lull-bench")
        .tempdir_in("/tmp")?;
    let env = [
        ("TELEGRAM_BOT_TOKEN", "700001:BENCH-token_x"),
        ("TELEGRAM_WEBHOOK_SECRET", TELEGRAM_SECRET),
        ("DISCORD_BOT_TOKEN", "ODAw.bench-token"),
        ("SLACK_BOT_TOKEN", "xoxb-bench"),
        ("SLACK_SIGNING_SECRET", SLACK_SECRET),
        // The TCP API (for the health-check reference) listens only with a token set.
        ("LULL_ADMIN_TOKEN", "bench-admin-token-0123456789"),
    ];
    let (serve, _) = Serve::start(lull, home.path(), &config, &env).await?;
    let telegram = serve.port("Telegram webhook").await?;
    let discord = serve.port("Discord interactions").await?;
    let slack = serve.port("Slack HTTP").await?;
    let api = serve.port("control API").await?;

    // Idle: memory once started, and CPU time over the idle period.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss = serve.rss_mib();
    let cpu_before = serve.cpu_seconds();
    println!(
        "idle lull serve: {rss:.1} MiB; measuring CPU over {} s",
        idle.as_secs()
    );
    tokio::time::sleep(idle).await;
    let idle_cpu = serve.cpu_seconds() - cpu_before;
    table.add(
        "idle lull serve, 3 adapters against fakes",
        format!(
            "RSS {rss:.1} MiB, CPU {idle_cpu:.3} s over {} s",
            idle.as_secs()
        ),
        "—".into(),
        "RSS ≤ 30 MB, CPU ≈ 0",
    );

    println!("chat paths: {n} concurrent commands per platform");
    let slack_requests = (0..n)
        .map(|i| {
            let body = url_form(&[
                ("team_id", "T1"),
                ("channel_id", "C0OPS"),
                ("user_id", "U0ADMIN"),
                ("command", "/maintenance"),
                ("text", "status"),
                ("response_url", "https://hooks.slack.com/commands/T1/1/x"),
                ("trigger_id", &format!("bench-trigger-{i}")),
            ]);
            let ts = now();
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SLACK_SECRET.as_bytes())
                .expect("any key");
            mac.update(format!("v0:{ts}:{body}").as_bytes());
            let signature = hex(&mac.finalize().into_bytes());
            let headers =
                format!("X-Slack-Signature: v0={signature}\r\nX-Slack-Request-Timestamp: {ts}\r\n");
            post(
                "/slack/commands",
                &headers,
                "application/x-www-form-urlencoded",
                &body,
            )
        })
        .collect();
    let mut slack_latencies = burst(slack, slack_requests, slack_answered).await?;

    let discord_requests = (0..n)
        .map(|i| {
            let id = 1_200_000_000_000_000_000u64 + i as u64;
            let body = json!({
                "id": id.to_string(), "application_id": "800000000000000001", "type": 2,
                "guild_id": "900000000000000001", "channel_id": "444000000000000001",
                "member": {"user": {"id": "111000000000000001", "username": "admin", "discriminator": "0",
                    "global_name": null, "avatar": null, "bot": false, "public_flags": 0},
                    "roles": [], "joined_at": "2026-01-01T00:00:00.000000+00:00", "deaf": false,
                    "mute": false, "flags": 0, "pending": false, "permissions": "0", "nick": null, "avatar": null},
                "token": format!("token-{id}"), "version": 1, "app_permissions": "0", "locale": "en-US",
                "guild_locale": "en-US", "entitlements": [], "authorizing_integration_owners": {},
                "context": 0, "attachment_size_limit": 10_485_760,
                "data": {"id": "810000000000000001", "name": "maintenance", "type": 1,
                    "options": [{"name": "status", "type": 1, "options": []}]},
            })
            .to_string();
            let ts = now().to_string();
            let signature = hex(&key.sign(&[ts.as_bytes(), body.as_bytes()].concat()).to_bytes());
            let headers = format!("X-Signature-Ed25519: {signature}\r\nX-Signature-Timestamp: {ts}\r\n");
            post("/discord/interactions", &headers, "application/json", &body)
        })
        .collect();
    let mut discord_latencies = burst(discord, discord_requests, discord_answered).await?;

    let telegram_requests = (0..n)
        .map(|i| {
            let body = json!({
                "update_id": 5000 + i,
                "message": {"message_id": 10 + i, "date": 1_795_478_400,
                    // The admin in 500 group chats: teloxide handles one chat's updates in order,
                    // so one chat's burst would measure that queue rather than lull.
                    "chat": {"id": -1_000_000 - i as i64, "type": "group", "title": "ops"},
                    "from": {"id": 42, "is_bot": false, "first_name": "Admin"},
                    "text": "/maintenance status"},
            })
            .to_string();
            let headers = format!("X-Telegram-Bot-Api-Secret-Token: {TELEGRAM_SECRET}\r\n");
            post("/telegram/webhook", &headers, "application/json", &body)
        })
        .collect();
    let mut telegram_latencies = burst(telegram, telegram_requests, telegram_answered).await?;

    // The reference: the same burst of health checks on the TCP API, from the same client.
    let health_requests = (0..n)
        .map(|_| "GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".to_owned())
        .collect();
    let mut health_latencies = burst(api, health_requests, healthy).await?;
    let health_p99 = p99(&health_latencies);
    table.add(
        &format!("{n} concurrent GET /healthz → response (the reference)"),
        latencies(&mut health_latencies),
        "—".into(),
        "—",
    );

    for (name, samples) in [
        ("Slack slash commands", &mut slack_latencies),
        ("Discord interactions", &mut discord_latencies),
        ("Telegram webhook updates", &mut telegram_latencies),
    ] {
        let worst = p99(samples);
        let met = |ok: bool| if ok { "met" } else { "missed" };
        table.add(
            &format!("{n} concurrent {name} → response"),
            latencies(samples),
            format!(
                "health checks p99 {} ({:.2} ×)",
                crate::stats::ms(health_p99),
                worst.as_secs_f64() / health_p99.as_secs_f64()
            ),
            &format!(
                "p99 ≤ 50 ms ({}), ≤ 1.5 × health checks ({})",
                met(worst <= Duration::from_millis(50)),
                met(worst.as_secs_f64() <= 1.5 * health_p99.as_secs_f64())
            ),
        );
    }
    // The same Telegram burst and health checks from a second client: Python's asyncio.
    match python_burst(telegram, api, n).await {
        Ok(figures) => table.add(
            &format!("{n} concurrent Telegram webhook updates from Python asyncio → response"),
            figures.telegram,
            format!("health checks from the same client: {}", figures.health),
            "p99 ≤ 1.5 × health checks",
        ),
        Err(e) => println!("  the Python client did not run: {e}"),
    }
    let troubles: Vec<String> = serve
        .log()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .map(str::to_owned)
        .collect();
    if !troubles.is_empty() {
        println!(
            "  lull serve warned during the chat paths: {} lines, first: {}",
            troubles.len(),
            troubles[0]
        );
    }
    drop(serve);
    Ok(())
}

fn url_form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Form encoding of one value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the Python client printed, as "p50 … · p99 …".
struct PythonFigures {
    telegram: String,
    health: String,
}

/// Runs tests/bench/burst.py against the Telegram webhook and the TCP API.
async fn python_burst(telegram: u16, api: u16, n: usize) -> Result<PythonFigures, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/burst.py");
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args([
            telegram.to_string(),
            TELEGRAM_SECRET.into(),
            api.to_string(),
            n.to_string(),
        ])
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|rest| {
                let ms: Vec<&str> = rest.split_whitespace().collect();
                format!(
                    "p50 {} ms · p99 {} ms",
                    ms.first().unwrap_or(&"?"),
                    ms.get(1).unwrap_or(&"?")
                )
            })
            .ok_or_else(|| format!("no {name} line in {text}"))
    };
    Ok(PythonFigures {
        telegram: line("telegram ")?,
        health: line("healthz ")?,
    })
}
