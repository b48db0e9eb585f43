//! Builders shared by the crate's unit tests.

use std::sync::Arc;

use crate::clock::ManualClock;
use crate::dedupe::Ask;
use crate::request::Kind;
use crate::requester::{Actor, Origin, Role};
use crate::settings::QueueSettings;
use crate::store::Store;
use crate::timestamp::Timestamp;

/// 2026-11-24T00:00:00Z.
pub(crate) const START: Timestamp = Timestamp::from_unix_millis(1_795_478_400_000);

pub(crate) fn actor(user: &str, role: Role) -> Actor {
    Actor {
        platform: "telegram".into(),
        chat: Some("-100".into()),
        user_id: user.into(),
        display: format!("user {user}"),
        role,
        origin: Origin::Chat,
    }
}

pub(crate) fn ask(kind: Kind, user: &str, role: Role) -> Ask {
    Ask {
        kind,
        reason: format!("asked by {user}"),
        idle_seconds: 1200,
        idle_explicit: false,
        actor: actor(user, role),
    }
}

/// A fresh store in a temporary directory, on a manual clock.
pub(crate) struct TestStore {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) clock: ManualClock,
    pub(crate) store: Store,
}

impl TestStore {
    pub(crate) fn new(settings: QueueSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(START);
        let store =
            Store::open_with_clock(dir.path().join("db"), settings, Arc::new(clock.clone()))
                .unwrap();
        Self { dir, clock, store }
    }

    /// Drops the store and opens the same path again, as a restart would.
    pub(crate) fn reopen(self, settings: QueueSettings) -> Self {
        let Self { dir, clock, store } = self;
        let path = store.path().to_owned();
        drop(store);
        let store = Store::open_with_clock(path, settings, Arc::new(clock.clone())).unwrap();
        Self { dir, clock, store }
    }
}
