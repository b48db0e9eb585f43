//! The etcd backend: a slot semaphore under `lull/<group>/slots/`. Slot `i` is the key
//! `lull/<group>/slots/<i>`; a replica takes a free one with a transaction that writes it only
//! if it does not exist, under a lease of `lock_ttl_seconds` that lull keeps alive while it
//! holds the slot. The fencing token is the revision of that write. A holder that goes silent
//! (kill -9, a machine gone) stops renewing its lease, and etcd deletes the key when the lease
//! expires: its slot frees after at most the TTL. Waiting replicas watch the prefix and try
//! again on every change.

mod gateway;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use lull_queue::{
    Attempt, Backoff, FleetError, FleetFuture, FleetHold, FleetHolder, FleetLock, Timestamp,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::task::AbortOnDropHandle;

use gateway::{Gateway, Kv};

/// What a slot key holds: who took it and when.
#[derive(Debug, Serialize, Deserialize)]
struct SlotValue {
    id: String,
    since: Timestamp,
}

/// A replica's client of the etcd slot semaphore.
pub struct EtcdLock {
    gateway: Arc<Gateway>,
    group: String,
    id: String,
    slots: u32,
    ttl: Duration,
    prefix: String,
    changes: Arc<watch::Sender<u64>>,
    watcher: OnceLock<AbortOnDropHandle<()>>,
    /// The leases this process keeps alive, by lease id.
    keepers: Mutex<HashMap<i64, AbortOnDropHandle<()>>>,
}

impl EtcdLock {
    /// A client for `id` in `group`, with `slots` slots and leases of `ttl`.
    pub fn new(endpoints: Vec<url::Url>, group: &str, id: &str, slots: u32, ttl: Duration) -> Self {
        Self {
            gateway: Arc::new(Gateway::new(endpoints)),
            group: group.to_owned(),
            id: id.to_owned(),
            slots,
            ttl,
            prefix: format!("lull/{group}/slots/"),
            changes: Arc::new(watch::channel(0).0),
            watcher: OnceLock::new(),
            keepers: Mutex::new(HashMap::new()),
        }
    }

    fn keepers(&self) -> std::sync::MutexGuard<'_, HashMap<i64, AbortOnDropHandle<()>>> {
        self.keepers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `lease` alive (every third of the TTL) until it is released or found lapsed; a
    /// keeper already at work (not finished) is left as it is.
    fn keep_alive(&self, lease: i64) {
        if self
            .keepers()
            .get(&lease)
            .is_some_and(|keeper| !keeper.is_finished())
        {
            return;
        }
        let gateway = self.gateway.clone();
        let every = self.ttl / 3;
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match gateway.keep_alive(lease).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        tracing::warn!(lease, "the fleet slot's etcd lease lapsed");
                        return;
                    }
                    // Tried again next period; the TTL allows two misses.
                    Err(error) => {
                        tracing::warn!(%error, lease, "could not renew the fleet slot's lease")
                    }
                }
            }
        });
        self.keepers().insert(lease, AbortOnDropHandle::new(task));
    }

    fn stop_keeping(&self, lease: i64) {
        self.keepers().remove(&lease);
    }

    /// Whether this process keeps `lease` alive (a slot of this life, not a stale one).
    fn keeps(&self, lease: i64) -> bool {
        self.keepers()
            .get(&lease)
            .is_some_and(|keeper| !keeper.is_finished())
    }

    fn holder(kv: &Kv) -> FleetHolder {
        match serde_json::from_slice::<SlotValue>(&kv.value) {
            Ok(value) => FleetHolder {
                id: value.id,
                since: Some(value.since),
            },
            Err(_) => FleetHolder {
                id: format!("unknown ({})", kv.key),
                since: None,
            },
        }
    }

    fn busy(holders: Vec<FleetHolder>) -> Attempt {
        Attempt::Busy {
            holders,
            detail: None,
            retry_after: None,
        }
    }

    async fn acquire(&self) -> Result<Attempt, FleetError> {
        let (kvs, _) = self.gateway.range_prefix(&self.prefix).await?;
        let mut taken = Vec::new();
        for kv in &kvs {
            let holder = Self::holder(kv);
            if holder.id == self.id && !self.keeps(kv.lease) {
                // Ours from a life that died before persisting it: free it.
                self.gateway.revoke(kv.lease).await?;
                continue;
            }
            taken.push((kv.key.clone(), holder));
        }
        if taken.len() >= self.slots as usize {
            return Ok(Self::busy(taken.into_iter().map(|(_, h)| h).collect()));
        }
        let lease = self.gateway.grant(self.ttl).await?;
        let since = Timestamp::from_system_time(std::time::SystemTime::now());
        let value = serde_json::to_vec(&SlotValue {
            id: self.id.clone(),
            since,
        })
        .unwrap_or_default();
        for slot in 0..self.slots {
            let key = format!("{}{slot}", self.prefix);
            if taken.iter().any(|(k, _)| *k == key) {
                continue;
            }
            if let Some(revision) = self.gateway.put_if_absent(&key, &value, lease).await? {
                self.keep_alive(lease);
                return Ok(Attempt::Granted(FleetHold {
                    backend: "etcd".into(),
                    group: self.group.clone(),
                    id: self.id.clone(),
                    key,
                    lease: Some(lease),
                    token: Some(revision),
                    since,
                    request: None,
                    kept: None,
                }));
            }
        }
        // Others took the free slots meanwhile.
        self.gateway.revoke(lease).await?;
        let (kvs, _) = self.gateway.range_prefix(&self.prefix).await?;
        Ok(Self::busy(kvs.iter().map(Self::holder).collect()))
    }

    /// Our key still exists under our live lease, written by the grant: renewed first, so the
    /// lease has its whole TTL ahead when the execution starts.
    async fn check(&self, hold: &FleetHold) -> Result<(), FleetError> {
        let lease = hold
            .lease
            .ok_or_else(|| FleetError::Lost("the hold has no etcd lease".into()))?;
        let left = self
            .gateway
            .keep_alive(lease)
            .await?
            .ok_or_else(|| FleetError::Lost(format!("its lease {lease:x} expired")))?;
        // A margin: a lease about to lapse would free the slot mid-restart.
        let margin = self.ttl.as_secs() / 2;
        if left < margin {
            return Err(FleetError::Lost(format!(
                "its lease has only {left} s left (less than {margin} s)"
            )));
        }
        let lost = match self.gateway.held(&hold.key, lease).await? {
            None => Some(format!("{} is no longer under its lease", hold.key)),
            Some(kv) if hold.token.is_some_and(|t| t != kv.mod_revision) => Some(format!(
                "{} was written again (revision {}, the grant was {})",
                hold.key,
                kv.mod_revision,
                hold.token.unwrap_or_default()
            )),
            Some(_) => None,
        };
        if let Some(lost) = lost {
            // The lease lives on without the slot: let it go rather than keep renewing it.
            self.stop_keeping(lease);
            if let Err(error) = self.gateway.revoke(lease).await {
                tracing::warn!(%error, lease, "could not revoke the lease of a lost fleet slot");
            }
            return Err(FleetError::Lost(lost));
        }
        // Held from here on: a hold taken up again (after a failed release, or a restart of
        // lull) is renewed from now on too.
        self.keep_alive(lease);
        Ok(())
    }

    /// Starts the watch of the prefix once: every event (and every re-opened watch, which may
    /// have missed some) changes the counter the scheduler waits on.
    fn start_watch(&self) {
        self.watcher.get_or_init(|| {
            let gateway = self.gateway.clone();
            let changes = self.changes.clone();
            let body = Gateway::watch_body(&self.prefix);
            AbortOnDropHandle::new(tokio::spawn(async move {
                let mut backoff = Backoff::default();
                loop {
                    match gateway.send("v3/watch", &body, None).await {
                        Ok(response) if !response.status().is_success() => {
                            tracing::warn!(status = %response.status(), "etcd refused to watch the fleet's slots; trying again");
                        }
                        Ok(mut response) => {
                            changes.send_modify(|c| *c += 1);
                            while let Ok(Some(chunk)) = response.chunk().await {
                                backoff.reset();
                                if chunk.windows(8).any(|w| w == b"\"events\"") {
                                    changes.send_modify(|c| *c += 1);
                                }
                            }
                            tracing::debug!("the etcd watch ended; opening it again");
                        }
                        Err(error) => {
                            tracing::warn!(%error, "could not watch the fleet's slots; trying again");
                        }
                    }
                    tokio::time::sleep(backoff.next_wait()).await;
                    changes.send_modify(|c| *c += 1);
                }
            }))
        });
    }
}

impl FleetLock for EtcdLock {
    fn try_acquire(&self) -> FleetFuture<'_, Result<Attempt, FleetError>> {
        Box::pin(self.acquire())
    }

    fn verify<'a>(&'a self, hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>> {
        Box::pin(self.check(hold))
    }

    fn release<'a>(&'a self, hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>> {
        Box::pin(async move {
            let Some(lease) = hold.lease else {
                return Ok(());
            };
            self.stop_keeping(lease);
            // Revoking the lease deletes the key: the slot is free at once.
            self.gateway.revoke(lease).await
        })
    }

    fn resume<'a>(&'a self, hold: &'a FleetHold) -> FleetFuture<'a, Result<(), FleetError>> {
        // The check renews the lease and keeps it alive from then on.
        Box::pin(self.check(hold))
    }

    fn release_stale(&self) -> FleetFuture<'_, Result<(), FleetError>> {
        Box::pin(async move {
            let (kvs, _) = self.gateway.range_prefix(&self.prefix).await?;
            for kv in kvs {
                if Self::holder(&kv).id == self.id && !self.keeps(kv.lease) {
                    tracing::info!(key = %kv.key, "freeing a fleet slot this replica took before it last stopped");
                    self.gateway.revoke(kv.lease).await?;
                }
            }
            Ok(())
        })
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.start_watch();
        self.changes.subscribe()
    }

    fn describe(&self) -> String {
        format!(
            "replica {} of group {} (etcd, {} slot{})",
            self.id,
            self.group,
            self.slots,
            if self.slots == 1 { "" } else { "s" }
        )
    }
}
