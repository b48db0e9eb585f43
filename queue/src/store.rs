//! The durable store: a sled database holding requests, the audit log and the records the
//! scheduler, plugin and adapters need to survive a restart.
//!
//! Reads go straight to sled from any thread. Changes go to the single writer thread
//! ([`writer`]), which applies each as one transaction and answers only after a flush that
//! batches of concurrent changes share.
//!
//! This file opens the store, runs a change ([`Store::change`]) and publishes events. Each
//! concern keeps its `Store` methods beside the writer-side changes they run:
//! [`requests`] (asks and decisions), [`execution`] (start, phases, finish), [`history`]
//! (closing, pruning, the audit log), [`records`] (pause, drain, escalation, health, the
//! self-restart marker, the fleet hold), [`seen`] (platform event ids and their answers) and
//! [`outbox`] (notices). [`layout`] names the trees and keys, [`lookup`] reads requests back,
//! [`open`] checks the schema.

mod execution;
mod history;
mod layout;
mod lookup;
mod open;
mod outbox;
#[cfg(test)]
mod prop_tests;
mod records;
mod requests;
mod seen;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};

use layout::{TreeId, Trees, io_error};
pub use requests::{Cancelled, Submitted};
use writer::{Job, Writer, WriterStats};

use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::events::QueueEvent;
use crate::settings::QueueSettings;
use crate::timestamp::Timestamp;

/// A handle to one profile's store. Cheap to clone; the database closes when the last clone drops.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    trees: Trees,
    path: PathBuf,
    clock: Arc<dyn Clock>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<WriterStats>,
    events: broadcast::Sender<QueueEvent>,
    notice_hook: Mutex<Option<NoticeHook>>,
}

/// Turns an event into notices for the durable outbox (the plugin supplies it). It runs on the
/// writer thread right after the change that caused the event, so the notices are flushed with
/// that change, before anyone is told it happened.
pub type NoticeHook = Arc<dyn Fn(&QueueEvent, Timestamp) -> Vec<serde_json::Value> + Send + Sync>;

/// A platform event id being handled (see [`Store::handling_event`]).
#[derive(Clone)]
struct PlatformEvent {
    key: String,
    ttl: Duration,
    /// Set once a change made while handling it is on disk with the id.
    recorded: Arc<std::sync::atomic::AtomicBool>,
}

tokio::task_local! {
    // Task-local rather than a parameter: the event's handling passes through the plugin, which
    // makes whichever store change the command calls for, and none of those calls should need
    // to know that a platform delivers at least once.
    static PLATFORM_EVENT: PlatformEvent;
}

/// The actor name of changes the scheduler makes.
pub const SCHEDULER: &str = "scheduler";

/// Events buffered per subscriber before a slow one is told it lagged.
const EVENT_BUFFER: usize = 1024;

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the channel stops the writer after its last batch; joining it releases
        // sled's file lock before the caller can try to reopen the same path.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
    }
}

impl Store {
    /// Opens (or creates) the store at `path` with the system clock.
    pub fn open(path: impl AsRef<Path>, settings: QueueSettings) -> Result<Self, Error> {
        Self::open_with_clock(path, settings, Arc::new(SystemClock))
    }

    /// Opens (or creates) the store at `path`, stamping records with `clock`.
    ///
    /// Refuses a store written by a newer lull, and one whose open or running request, `meta`
    /// records or pending notices cannot be decoded, naming the path; it never resets data.
    /// Finished requests and the audit log are decoded when read, not at open.
    pub fn open_with_clock(
        path: impl AsRef<Path>,
        settings: QueueSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        let path = path.as_ref().to_owned();
        let (trees, counters) = open::open(&path)?;
        let stats = Arc::new(WriterStats::default());
        let writer = Writer {
            trees: trees.clone(),
            path: path.clone(),
            settings,
            counters,
            now: clock.now(),
            failed_flush: None,
            platform_event: None,
            staged: None,
            stats: stats.clone(),
        };
        let (jobs, receiver) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("lull-store-writer".into())
            .spawn(move || writer::run(writer, receiver))
            .map_err(|e| Error::Io {
                path: path.clone(),
                message: format!("could not start the writer thread: {e}"),
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                trees,
                path,
                clock,
                jobs: Mutex::new(Some(jobs)),
                writer: Mutex::new(Some(handle)),
                stats,
                events: broadcast::channel(EVENT_BUFFER).0,
                notice_hook: Mutex::new(None),
            }),
        })
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The store's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// Installs the hook that writes each event's notices to the outbox with the change itself.
    pub fn set_notice_hook(&self, hook: NoticeHook) {
        *self
            .inner
            .notice_hook
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Runs `change` on the writer thread and answers once it is flushed to disk. The event
    /// `event` derives from its result has its notices written to the outbox in the same flush,
    /// and is published after it.
    async fn change<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut Writer) -> Result<T, Error> + Send + 'static,
        event: impl FnOnce(&T) -> Option<QueueEvent> + Send + 'static,
    ) -> Result<T, Error> {
        let (answer, answered) = oneshot::channel();
        let events = self.inner.events.clone();
        let hook = self
            .inner
            .notice_hook
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let asked_at = self.now();
        let platform_event = PLATFORM_EVENT.try_with(PlatformEvent::clone).ok();
        let job: Job = Box::new(move |writer: &mut Writer| {
            writer.stamp(asked_at);
            // The event id goes into the change's own transaction (see Writer::commit): no
            // state holds the change without the id, so a redelivered event is never applied
            // twice.
            let recorded = platform_event.as_ref().map(|e| e.recorded.clone());
            writer.platform_event = platform_event.map(|e| (e.key, e.ttl));
            let mut outcome = change(writer);
            // A commit takes the id into its transaction.
            let recorded = recorded.filter(|_| writer.platform_event.is_none());
            writer.platform_event = None;
            let mut event = outcome.as_ref().ok().and_then(event);
            let notices = match (&event, &hook) {
                (Some(event), Some(hook)) => hook(event, writer.now),
                _ => Vec::new(),
            };
            // The change and its notices are one transaction: a failed write loses neither
            // alone, and the caller hears the failure.
            if let Err(error) = writer.apply_change(outcome.is_ok(), notices) {
                outcome = Err(error);
                event = None;
            }
            Box::new(move |flushed: Result<(), Error>| {
                let outcome = flushed.and(outcome);
                if let (Ok(_), Some(recorded)) = (&outcome, recorded) {
                    recorded.store(true, Ordering::SeqCst);
                }
                if let (Ok(_), Some(event)) = (&outcome, event) {
                    // No subscriber is not an error: events are notifications, the store is the truth.
                    let _ = events.send(event);
                }
                let _ = answer.send(outcome);
            })
        });
        {
            let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let sender = jobs.as_ref().ok_or(Error::Closed)?;
            self.inner.stats.queued.fetch_add(1, Ordering::SeqCst);
            if sender.send(job).is_err() {
                self.inner.stats.queued.fetch_sub(1, Ordering::SeqCst);
                return Err(Error::Closed);
            }
        }
        // Under tokio's paused test clock, waiting on the blocking pool keeps the clock from
        // jumping ahead while the flush runs on the writer thread, so timers never fire "during"
        // a write. Time can be paused only on a current-thread runtime; on a multi-thread one
        // (`lull serve`'s) the answer is awaited directly, sparing each change two thread
        // hand-offs.
        let paused_clock_possible = tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
            runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
        });
        if paused_clock_possible {
            tokio::task::spawn_blocking(move || answered.blocking_recv())
                .await
                .map_err(|_| Error::Closed)?
                .map_err(|_| Error::Closed)?
        } else {
            answered.await.map_err(|_| Error::Closed)?
        }
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<QueueEvent> {
        self.inner.events.subscribe()
    }

    /// Publishes an event that changes no request (the scheduler's reports: waiting, escalated,
    /// wedged, crash loop), after writing its notices to the outbox.
    pub async fn report(&self, event: QueueEvent) -> Result<(), Error> {
        self.change(|_| Ok(()), move |_| Some(event)).await
    }

    /// How many transactions the writer has applied (one per change that wrote anything).
    pub fn transactions(&self) -> u64 {
        self.inner.stats.transactions.load(Ordering::SeqCst)
    }

    /// How many flushes the writer has done, and how many changes they covered.
    pub fn flush_stats(&self) -> (u64, u64) {
        let stats = &self.inner.stats;
        (
            stats.flushes.load(Ordering::SeqCst),
            stats.changes.load(Ordering::SeqCst),
        )
    }

    /// A JSON record kept under a `meta` key.
    fn meta_record<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        what: &str,
    ) -> Result<Option<T>, Error> {
        lookup::meta_record(&self.inner.trees, &self.inner.path, key, what)
    }

    fn tree(&self, id: TreeId) -> &sled::Tree {
        self.inner.trees.get(id)
    }

    fn io(&self, error: &sled::Error) -> Error {
        io_error(&self.inner.path, error)
    }
}
