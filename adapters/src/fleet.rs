//! `[fleet]`: replicas of a gateway, each with its own lull, restart k at a time through a lock
//! service they already run (docs/fleet.md). The scheduler's side (when a slot is taken,
//! verified, given back or kept) is `lull_queue::FleetLock`; here are the backends.
//!
//! | module | holds |
//! |---|---|
//! | `settings` | `[fleet]` checked |
//! | `etcd` (`etcd/gateway`) | the slot semaphore on etcd v3, through its JSON gateway |
//! | `fleetlock` | Zincati's FleetLock protocol |
//!
//! etcd is spoken through its JSON gateway rather than the `etcd-client` crate: that crate
//! compiles etcd's protos with `protoc` at build time (one more system package on every
//! machine that builds lull) and brings tonic and prost, while the gateway needs only the
//! HTTP client lull already builds for its chat platforms.

mod etcd;
mod fleetlock;
mod settings;

use std::sync::Arc;

use lull_queue::FleetLock;

pub use etcd::EtcdLock;
pub use fleetlock::FleetLockClient;
pub use settings::{Backend, FleetSettings};

/// The lock client `settings` describe.
pub(crate) fn connect(settings: &FleetSettings) -> Arc<dyn FleetLock> {
    match &settings.backend {
        Backend::Etcd {
            endpoints,
            slots,
            lock_ttl,
        } => Arc::new(EtcdLock::new(
            endpoints.clone(),
            &settings.group,
            &settings.id,
            *slots,
            *lock_ttl,
        )),
        Backend::FleetLock { url } => Arc::new(FleetLockClient::new(
            url.clone(),
            &settings.group,
            &settings.id,
        )),
    }
}

/// A transport error with its causes (reqwest's own text stops at "error sending request").
fn transport_error(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
