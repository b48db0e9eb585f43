//! lull's own gateway connection (the sidecar's): one shard speaking Discord's gateway protocol
//! over tokio-tungstenite, with serenity's model types for what it receives.
//!
//! Not serenity's `Client`, for two reasons the platform cares about. serenity 0.12.5 resumes at
//! the URL it first connected to, not at READY's `resume_gateway_url` (Discord disconnects such
//! clients sooner); and after a refused resume (op 9) its shard runner waits out a 5 s shutdown
//! timeout of its own manager before it identifies again, deaf meanwhile. Here:
//!
//! - a resume (after op 7, a lost connection, or op 9 saying it may) goes to READY's
//!   `resume_gateway_url`, with the session id and the last sequence number;
//! - a new session (the first, or after op 9 saying the session is gone, or close codes 4007 and
//!   4009) identifies at the URL `GET /gateway` gave, at once; a second refusal in a row waits a
//!   backoff first, so a loop cannot hammer Discord's identify limit;
//! - heartbeats follow HELLO's interval; one not acknowledged before the next is due ends the
//!   connection (and resumes);
//! - close codes 4004 (token), 4013/4014 (intents) and 4010–4012 (shard, version) stop the
//!   adapter with the reason; a resume URL that cannot be reached three times in a row is given
//!   up for a new session at `GET /gateway`'s URL.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lull_queue::Backoff;
use serde_json::{Value, json};
use serenity::all::{Event, GatewayEvent, GatewayIntents};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_util::sync::CancellationToken;

use super::gateway::GatewayEvents;
use super::sidecar::DiscordError;
use crate::chat::supervisor::Attempt;

/// The gateway API version lull speaks (serenity 0.12's models are v10's).
const GATEWAY_VERSION: u8 = 10;

/// Resumes in a row that fail before Discord confirms them, after which lull starts a new
/// session instead.
const MAX_FAILED_RESUMES: u32 = 3;

/// How long a new connection may take to say HELLO.
const HELLO_WITHIN: Duration = Duration::from_secs(20);

/// A session Discord can resume.
#[derive(Clone, Debug)]
struct Session {
    id: String,
    resume_url: String,
    seq: u64,
}

/// How one connection ended.
#[derive(Debug)]
enum Ended {
    /// lull is stopping.
    Stopped,
    /// Resume the session (op 7, op 9 with `d: true`, or a dropped connection).
    Resume(String),
    /// Start a new session (op 9 with `d: false`, close codes 4007 and 4009).
    Identify(String),
    /// Waiting will not fix it.
    Fatal(DiscordError),
}

/// Who the shard is and what it asks for.
pub(crate) struct Shard<'a> {
    /// The URL `GET /gateway` returned: new sessions begin there.
    pub(crate) gateway_url: String,
    pub(crate) token: &'a str,
    pub(crate) intents: GatewayIntents,
    pub(crate) events: &'a GatewayEvents,
}

impl Shard<'_> {
    /// Runs the shard until `stop`; `Err` only for what waiting will not fix.
    pub(crate) async fn run(&self, stop: &CancellationToken) -> Result<(), Attempt<DiscordError>> {
        let mut session: Option<Session> = None;
        let mut backoff = Backoff::default();
        let mut failed_resumes = 0;
        loop {
            let mut ready = false;
            let resuming = session.is_some();
            let ended = self.connection(&mut session, &mut ready, stop).await;
            if ready {
                backoff.reset();
            }
            // Whatever just worked is followed at once; what keeps failing waits a backoff.
            let wait = match ended {
                Ended::Stopped => return Ok(()),
                Ended::Fatal(error) => return Err(Attempt::Fatal(error)),
                Ended::Resume(why) if session.is_some() && failed_resumes < MAX_FAILED_RESUMES => {
                    tracing::info!(%why, "discord: resuming the gateway session");
                    failed_resumes = if ready || !resuming {
                        0
                    } else {
                        failed_resumes + 1
                    };
                    (!ready).then(|| backoff.next_wait())
                }
                Ended::Resume(why) | Ended::Identify(why) => {
                    tracing::info!(%why, "discord: starting a new gateway session");
                    session = None;
                    failed_resumes = 0;
                    // After a refused resume the new session begins at once: only an identify
                    // that itself failed waits.
                    (!ready && !resuming).then(|| backoff.next_wait())
                }
            };
            if let Some(wait) = wait.filter(|w| !w.is_zero()) {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop.cancelled() => return Ok(()),
                }
            }
        }
    }

    /// One websocket connection: HELLO, IDENTIFY or RESUME, then events until it ends. `ready`
    /// is set once Discord confirmed the session (READY or RESUMED).
    async fn connection(
        &self,
        session: &mut Option<Session>,
        ready: &mut bool,
        stop: &CancellationToken,
    ) -> Ended {
        let base = session
            .as_ref()
            .map_or(self.gateway_url.as_str(), |s| s.resume_url.as_str());
        let url = format!(
            "{}/?v={GATEWAY_VERSION}&encoding=json",
            base.trim_end_matches('/')
        );
        let connected = tokio::select! {
            connected = tokio_tungstenite::connect_async(url.as_str()) => connected,
            () = stop.cancelled() => return Ended::Stopped,
        };
        let mut socket = match connected {
            Ok((socket, _)) => socket,
            Err(error) => return Ended::Resume(format!("cannot connect to {base}: {error}")),
        };
        let hello = tokio::select! {
            hello = tokio::time::timeout(HELLO_WITHIN, next_payload(&mut socket)) => hello,
            () = stop.cancelled() => return Ended::Stopped,
        };
        let interval = match hello {
            Ok(Ok(Payload::Event(event, _))) => match *event {
                GatewayEvent::Hello(interval) => Duration::from_millis(interval.max(1)),
                _ => return Ended::Resume("the gateway did not begin with HELLO".into()),
            },
            Ok(Ok(Payload::Unreadable(_))) => {
                return Ended::Resume("the gateway did not begin with HELLO".into());
            }
            Ok(Err(ended)) => return ended,
            Err(_) => return Ended::Resume("no HELLO from the gateway".into()),
        };
        let opening = match session {
            Some(s) => {
                json!({"op": 6, "d": {"token": self.token, "session_id": s.id, "seq": s.seq}})
            }
            None => json!({"op": 2, "d": {
                "token": self.token,
                "intents": self.intents.bits(),
                "properties": {"os": std::env::consts::OS, "browser": "lull", "device": "lull"},
            }}),
        };
        if let Err(error) = send(&mut socket, &opening).await {
            return Ended::Resume(error);
        }
        // The first heartbeat comes after a random part of the interval, as Discord asks, so
        // that clients reconnecting together do not beat together (the clock's nanoseconds are
        // random enough for that).
        let jitter = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.5, |d| f64::from(d.subsec_nanos()) / 1e9);
        let first = interval.mul_f64(jitter);
        let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + first, interval);
        beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut acknowledged = true;
        loop {
            let payload = tokio::select! {
                () = stop.cancelled() => {
                    let _ = socket.close(Some(close_frame(1000))).await;
                    return Ended::Stopped;
                }
                _ = beats.tick() => {
                    if !acknowledged {
                        return Ended::Resume("a heartbeat was not acknowledged".into());
                    }
                    acknowledged = false;
                    if let Err(error) = self.heartbeat(&mut socket, session).await {
                        return Ended::Resume(error);
                    }
                    continue;
                }
                payload = next_payload(&mut socket) => payload,
            };
            let (event, seq) = match payload {
                Ok(Payload::Event(event, seq)) => (Some(*event), seq),
                Ok(Payload::Unreadable(seq)) => (None, seq),
                Err(ended) => return ended,
            };
            if let (Some(seq), Some(session)) = (seq, session.as_mut()) {
                session.seq = seq;
            }
            let Some(event) = event else { continue };
            match event {
                GatewayEvent::Dispatch(seq, event) => {
                    if let Event::Ready(ready_event) = &event {
                        *session = Some(Session {
                            id: ready_event.ready.session_id.clone(),
                            resume_url: ready_event.ready.resume_gateway_url.clone(),
                            seq,
                        });
                    }
                    if matches!(event, Event::Ready(_) | Event::Resumed(_)) {
                        *ready = true;
                    }
                    self.events.dispatch(event);
                }
                GatewayEvent::Heartbeat(..) => {
                    if let Err(error) = self.heartbeat(&mut socket, session).await {
                        return Ended::Resume(error);
                    }
                }
                GatewayEvent::HeartbeatAck => acknowledged = true,
                GatewayEvent::Reconnect => {
                    let _ = socket.close(Some(close_frame(4000))).await;
                    return Ended::Resume("Discord asked for a reconnect (op 7)".into());
                }
                GatewayEvent::InvalidateSession(resumable) => {
                    let _ = socket.close(Some(close_frame(4000))).await;
                    let why = "Discord invalidated the session (op 9)".to_owned();
                    return if resumable {
                        Ended::Resume(why)
                    } else {
                        Ended::Identify(why)
                    };
                }
                // A late HELLO, or what a newer serenity adds.
                _ => {}
            }
        }
    }

    async fn heartbeat(
        &self,
        socket: &mut Socket,
        session: &Option<Session>,
    ) -> Result<(), String> {
        let seq = session.as_ref().map(|s| s.seq);
        send(socket, &json!({"op": 1, "d": seq})).await
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn close_frame(code: u16) -> CloseFrame<'static> {
    CloseFrame {
        code: code.into(),
        reason: "".into(),
    }
}

async fn send(socket: &mut Socket, payload: &Value) -> Result<(), String> {
    socket
        .send(Message::Text(payload.to_string()))
        .await
        .map_err(|e| format!("the gateway connection failed: {e}"))
}

/// One payload from the gateway.
enum Payload {
    /// An event lull reads, with its sequence number if it has one.
    Event(Box<GatewayEvent>, Option<u64>),
    /// One lull cannot read (logged); its sequence number still counts, so that a resume does
    /// not ask for it again.
    Unreadable(Option<u64>),
}

/// The next payload, or how the connection ended.
async fn next_payload(socket: &mut Socket) -> Result<Payload, Ended> {
    loop {
        let frame = match socket.next().await {
            None => return Err(Ended::Resume("the gateway closed the connection".into())),
            Some(Err(error)) => {
                return Err(Ended::Resume(format!(
                    "the gateway connection failed: {error}"
                )));
            }
            Some(Ok(frame)) => frame,
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Close(frame) => return Err(closed(frame)),
            _ => continue,
        };
        let value: Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(%error, "discord: a gateway payload that is not JSON; skipped");
                continue;
            }
        };
        let seq = value.get("s").and_then(Value::as_u64);
        return Ok(match serde_json::from_value::<GatewayEvent>(value) {
            Ok(event) => Payload::Event(Box::new(event), seq),
            Err(error) => {
                tracing::warn!(%error, "discord: a gateway payload lull cannot read; skipped");
                Payload::Unreadable(seq)
            }
        });
    }
}

/// What a close frame from Discord means.
fn closed(frame: Option<CloseFrame<'_>>) -> Ended {
    let code = frame.as_ref().map_or(0, |f| u16::from(f.code));
    let reason = frame.map(|f| f.reason.into_owned()).unwrap_or_default();
    let why = format!("the gateway closed the connection ({code} {reason})");
    match code {
        4004 => Ended::Fatal(DiscordError::TokenRefused),
        4013 | 4014 => Ended::Fatal(DiscordError::IntentDisallowed),
        // Invalid shard, sharding required, invalid API version: waiting will not change them.
        4010..=4012 => Ended::Fatal(DiscordError::GatewayRefused(why)),
        // Invalid sequence, session timed out: only a new session helps.
        4007 | 4009 => Ended::Identify(why),
        _ => Ended::Resume(why),
    }
}
