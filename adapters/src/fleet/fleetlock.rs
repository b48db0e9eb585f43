//! The FleetLock backend: Zincati's HTTP protocol (`docs/development/fleetlock/protocol.md`),
//! which servers people already run speak (airlock on etcd, fleetlock on Kubernetes Leases…).
//! `POST {base}/v1/pre-reboot` takes a slot, recursively for the same id; `POST
//! {base}/v1/steady-state` gives it back; both carry `fleet-lock-protocol: true` and
//! `{"client_params": {"id", "group"}}`; 200 is success and anything else a failure with
//! `{"kind", "value"}`.
//!
//! The protocol has no TTL and no fencing token, and cannot be watched: a dead holder keeps its
//! slot until released, the command gets no `LULL_FENCING_TOKEN`, and a replica denied a slot
//! asks again after a bounded backoff (1 s, doubling to a minute) — the one place lull polls.

use std::sync::Mutex;
use std::time::Duration;

use lull_queue::{Attempt, Backoff, FleetError, FleetFuture, FleetHold, FleetLock, Timestamp};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;
use url::Url;

/// Longest one request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A replica's client of a FleetLock server.
pub struct FleetLockClient {
    http: reqwest::Client,
    base: Url,
    group: String,
    id: String,
    /// The wait before asking again after a denial.
    backoff: Mutex<Backoff>,
    /// Never changes: the protocol cannot be watched.
    changes: watch::Sender<u64>,
}

/// How a call went.
enum Answer {
    /// 200.
    Granted,
    /// The server said no: `kind: value`.
    Denied(String),
}

#[derive(Deserialize)]
struct ServerError {
    kind: String,
    value: String,
}

impl FleetLockClient {
    /// A client for `id` in `group` of the server at `base`.
    pub fn new(base: Url, group: &str, id: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .timeout(CALL_TIMEOUT)
                .build()
                .unwrap_or_default(),
            base,
            group: group.to_owned(),
            id: id.to_owned(),
            backoff: Mutex::new(Backoff::default()),
            changes: watch::channel(0).0,
        }
    }

    /// `{base}/v1/{operation}`, keeping a base path (`https://example.com/base`).
    fn endpoint(&self, operation: &str) -> String {
        format!(
            "{}/v1/{operation}",
            self.base.as_str().trim_end_matches('/')
        )
    }

    /// `operation` for replica `id` (this one's, or a persisted hold's).
    async fn call(&self, operation: &str, id: &str) -> Result<Answer, FleetError> {
        let response = self
            .http
            .post(self.endpoint(operation))
            .header("fleet-lock-protocol", "true")
            .json(&json!({"client_params": {"id": id, "group": self.group}}))
            .send()
            .await
            .map_err(|e| {
                FleetError::Unreachable(format!(
                    "FleetLock {operation}: {}",
                    super::transport_error(&e)
                ))
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(Answer::Granted);
        }
        let text = response.text().await.unwrap_or_default();
        match serde_json::from_str::<ServerError>(&text) {
            Ok(error) => Ok(Answer::Denied(format!("{}: {}", error.kind, error.value))),
            // Not the protocol's error: a proxy, a wrong URL, a server down behind a balancer.
            Err(_) => Err(FleetError::Unreachable(format!(
                "FleetLock {operation} answered {status} without the protocol's error body"
            ))),
        }
    }

    fn backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        self.backoff.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hold(&self) -> FleetHold {
        FleetHold {
            backend: "fleetlock".into(),
            group: self.group.clone(),
            id: self.id.clone(),
            key: self.base.to_string(),
            lease: None,
            token: None,
            since: Timestamp::from_system_time(std::time::SystemTime::now()),
            request: None,
            kept: None,
        }
    }

    async fn steady_state(&self, id: &str) -> Result<(), FleetError> {
        match self.call("steady-state", id).await? {
            Answer::Granted => Ok(()),
            Answer::Denied(why) => Err(FleetError::Unreachable(format!(
                "the FleetLock server refused to release the slot: {why}"
            ))),
        }
    }
}

impl FleetLock for FleetLockClient {
    fn try_acquire(&self) -> FleetFuture<'_, Result<Attempt, FleetError>> {
        Box::pin(async move {
            match self.call("pre-reboot", &self.id).await? {
                Answer::Granted => {
                    self.backoff().reset();
                    Ok(Attempt::Granted(self.hold()))
                }
                Answer::Denied(why) => Ok(Attempt::Busy {
                    holders: Vec::new(),
                    detail: Some(why),
                    retry_after: Some(self.backoff().next_wait()),
                }),
            }
        })
    }

    fn verify<'a>(&'a self, hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>> {
        // The lock is recursive: asking again is how a holder learns it still holds it.
        Box::pin(async move {
            match self.call("pre-reboot", &hold.id).await? {
                Answer::Granted => Ok(()),
                Answer::Denied(why) => Err(FleetError::Lost(why)),
            }
        })
    }

    fn release<'a>(&'a self, hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>> {
        Box::pin(self.steady_state(&hold.id))
    }

    fn resume<'a>(&'a self, _hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>> {
        // Nothing to keep alive: without a TTL the server keeps the slot until it is released.
        Box::pin(async { Ok(()) })
    }

    fn release_stale(&self) -> FleetFuture<'_, Result<(), FleetError>> {
        // The protocol's "initialization" state: a client that starts healthy releases
        // whatever slot it may have held.
        Box::pin(self.steady_state(&self.id))
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn describe(&self) -> String {
        format!(
            "replica {} of group {} (FleetLock at {})",
            self.id, self.group, self.base
        )
    }
}
