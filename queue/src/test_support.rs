//! Builders shared by the crate's unit tests.

use std::sync::Arc;

use crate::ask::Ask;
use crate::clock::ManualClock;
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
        via: None,
    }
}

pub(crate) fn ask(kind: Kind, user: &str, role: Role) -> Ask {
    Ask {
        kind,
        reason: format!("asked by {user}"),
        idle_seconds: 1200,
        idle_explicit: false,
        ignore_windows: false,
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
        let store =
            while_locked(|| Store::open_with_clock(&path, settings, Arc::new(clock.clone())))
                .unwrap();
        Self { dir, clock, store }
    }

    /// Closes the store, lets `edit` change the database underneath (an older schema, a record
    /// lull cannot read), and opens it again.
    pub(crate) fn reopen_edited(
        self,
        settings: QueueSettings,
        edit: impl FnOnce(&sled::Db),
    ) -> Self {
        let Self { dir, clock, store } = self;
        let path = store.path().to_owned();
        drop(store);
        edit_on_disk(&path, edit);
        let store =
            while_locked(|| Store::open_with_clock(&path, settings, Arc::new(clock.clone())))
                .unwrap();
        Self { dir, clock, store }
    }
}

/// Opens the closed store at `path` with sled alone, lets `edit` change it, and flushes.
pub(crate) fn edit_on_disk(path: &std::path::Path, edit: impl FnOnce(&sled::Db)) {
    let db = while_locked(|| sled::open(path)).unwrap();
    edit(&db);
    db.flush().unwrap();
}

/// Retries `open` (bounded) while sled's file lock is still held. Dropping the last `Db` handle
/// does not release the lock at once: sled's I/O threads may still hold the file for a moment,
/// longer when parallel tests load the machine.
pub(crate) fn while_locked<T, E: std::fmt::Display>(
    mut open: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match open() {
            Err(e) if e.to_string().contains("lock") && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}
