//! The wall clock the store stamps records with, injectable so tests control time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::timestamp::Timestamp;

/// Source of wall-clock time for persisted records (created_at, transitions, audit, expiries).
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_system_time(SystemTime::now())
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Clone, Debug)]
pub struct ManualClock {
    millis: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            millis: Arc::new(AtomicU64::new(start.unix_millis())),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let add = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_add(add, Ordering::SeqCst);
    }

    /// Sets the clock to `to` (also backwards, as a wall clock may jump).
    pub fn set(&self, to: Timestamp) {
        self.millis.store(to.unix_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(self.millis.load(Ordering::SeqCst))
    }
}

/// A wall clock that follows tokio's clock from a fixed start, so tests under
/// `tokio::time::pause()` see wall time and monotonic time move together.
///
/// Read it on a runtime thread: elsewhere tokio's clock falls back to the real one. The store
/// reads its clock on the caller's side for this reason.
#[derive(Clone, Debug)]
pub struct TokioClock {
    start_wall: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start_wall` now.
    pub fn new(start_wall: Timestamp) -> Self {
        Self {
            start_wall,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.start_wall.saturating_add(self.start.elapsed())
    }
}
