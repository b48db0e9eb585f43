//! The store's single writer thread and its group commit.
//!
//! Every change runs on this one thread, in arrival order: it reads the current records, applies
//! its writes as one sled transaction across all trees it touches, and waits. When the channel is
//! momentarily empty (or a batch is full) the thread flushes once and only then answers every
//! change of the batch. Concurrent callers therefore share fsyncs, and one writer means changes
//! never conflict, so the dedupe rules see a consistent "the open request".
//!
//! A plain OS thread rather than a tokio task: sled's flush blocks, and under tokio's paused
//! clock a flush on sled's own threads would let the clock auto-advance.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::layout::{
    META_NEXT_AUDIT, META_NEXT_FINISH, META_NEXT_OUTBOX, TreeId, Trees, audit_index_key,
    audit_owner, decode_u64, encode, io_error, request_key, u64_key,
};
use std::time::Duration;

use crate::audit::AuditEntry;
use crate::error::Error;
use crate::id::RequestId;
use crate::request::Request;
use crate::settings::QueueSettings;
use crate::timestamp::Timestamp;

/// Most expired seen-event ids pruned per change, so one change never does unbounded work.
const SEEN_PRUNE_BATCH: usize = 256;

/// Most old audit entries about no request pruned per change.
const AUDIT_PRUNE_BATCH: usize = 64;

/// Most changes answered by one flush.
const MAX_BATCH: usize = 1024;

/// A change to run on the writer thread; it returns what to tell its caller after the flush.
pub(crate) type Job = Box<dyn FnOnce(&mut Writer) -> Completion + Send>;
/// Tells a caller the result once the batch is flushed (or failed to flush).
pub(crate) type Completion = Box<dyn FnOnce(Result<(), Error>) + Send>;

/// Sequence counters that must never go back, kept in memory and persisted in `meta` with each change.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub(crate) next_audit_seq: u64,
    pub(crate) next_finish_seq: u64,
    pub(crate) next_outbox_seq: u64,
    /// Number of entries in the `finished` tree.
    pub(crate) finished: usize,
    /// Number of audit entries about no request.
    pub(crate) unowned_audit: usize,
}

/// Figures about the writer, for tests and metrics.
#[derive(Debug, Default)]
pub(crate) struct WriterStats {
    /// Flushes done.
    pub(crate) flushes: AtomicU64,
    /// Changes handled.
    pub(crate) changes: AtomicU64,
    /// Jobs sent but not yet taken by the writer.
    pub(crate) queued: AtomicUsize,
    /// Transactions applied: one per change that wrote anything, its notices included.
    pub(crate) transactions: AtomicU64,
}

/// What the writer thread owns.
pub(crate) struct Writer {
    pub(crate) trees: Trees,
    pub(crate) path: PathBuf,
    pub(crate) settings: QueueSettings,
    pub(crate) counters: Counters,
    /// The time the current change is stamped with: when its caller asked, but never earlier
    /// than the change before it, so stamps follow the order changes were applied in.
    pub(crate) now: Timestamp,
    /// Set when a flush failed: memory and disk may disagree, so every later change is refused
    /// rather than built on state that may not be durable. A restart (and `recover()`) settles it.
    pub(crate) failed_flush: Option<String>,
    /// The platform event being handled (`Store::handling_event`), recorded as seen by the next
    /// commit, inside that commit's transaction.
    pub(crate) platform_event: Option<(String, std::time::Duration)>,
    /// The current change's writes, committed but not yet applied: [`Writer::apply_change`]
    /// adds the change's notices and applies them together, so no state holds the change
    /// without its notices.
    pub(crate) staged: Option<Tx>,
    pub(crate) stats: Arc<WriterStats>,
}

impl Writer {
    /// Sets the time the next change is stamped with; `asked_at` is read on the caller's side,
    /// where the clock is the caller's (a test's paused tokio clock, say).
    pub(crate) fn stamp(&mut self, asked_at: Timestamp) {
        self.now = self.now.max(asked_at);
    }

    /// Starts a change. A change commits at most once: a second `begin` would not see the
    /// first one's writes, which are applied only when the change ends.
    pub(crate) fn begin(&self) -> Tx {
        debug_assert!(self.staged.is_none(), "a change began twice");
        Tx {
            batches: TreeId::ALL.iter().map(|_| None).collect(),
            counters: self.counters,
            now: self.now,
            unowned_pruned_below: 0,
        }
    }

    /// Ends the change's writes: `tx` is applied, with the change's notices, once the change
    /// returns ([`Writer::apply_change`]). Refused after a failed flush.
    pub(crate) fn commit(&mut self, mut tx: Tx) -> Result<(), Error> {
        self.refuse_after_failed_flush()?;
        if let Some((key, ttl)) = self.platform_event.take() {
            self.record_seen(&mut tx, &key, ttl)?;
        }
        debug_assert!(self.staged.is_none(), "a change committed twice");
        self.staged = Some(tx);
        Ok(())
    }

    /// Applies the change that just ran: if it succeeded, its writes and `notices` (the
    /// outbox entries its event calls for) as one transaction; if it failed, nothing. `Err`
    /// when the transaction could not be applied, in which case nothing of it was.
    pub(crate) fn apply_change(
        &mut self,
        succeeded: bool,
        notices: Vec<serde_json::Value>,
    ) -> Result<(), Error> {
        let staged = self.staged.take();
        if !succeeded {
            return Ok(());
        }
        let mut tx = match staged {
            Some(tx) => tx,
            None if notices.is_empty() => return Ok(()),
            None => self.begin(),
        };
        for payload in notices {
            tx.outbox(payload);
        }
        self.apply(tx)
    }

    /// Applies `tx` as one transaction across the trees it touched. Not yet flushed. Refused
    /// after a failed flush (a change that writes only notices, too).
    fn apply(&mut self, mut tx: Tx) -> Result<(), Error> {
        self.refuse_after_failed_flush()?;
        self.prune_unowned_audit(&mut tx)?;
        tx.persist_counters(self.counters);
        let touched: Vec<(sled::Tree, sled::Batch)> = TreeId::ALL
            .iter()
            .zip(tx.batches)
            .filter_map(|(id, batch)| batch.map(|b| (self.trees.get(*id).clone(), b)))
            .collect();
        if touched.is_empty() {
            return Ok(());
        }
        let (trees, batches): (Vec<_>, Vec<_>) = touched.into_iter().unzip();
        let result: Result<(), TransactionError<()>> = trees.as_slice().transaction(|views| {
            for (view, batch) in views.iter().zip(&batches) {
                view.apply_batch(batch)?;
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match result {
            Ok(()) => {
                self.counters = tx.counters;
                self.stats.transactions.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            Err(TransactionError::Storage(e)) => Err(io_error(&self.path, &e)),
            Err(TransactionError::Abort(())) => Err(Error::Io {
                path: self.path.clone(),
                message: "transaction aborted".into(),
            }),
        }
    }

    /// Memory and disk may disagree after a failed flush: every later change is refused.
    fn refuse_after_failed_flush(&self) -> Result<(), Error> {
        match &self.failed_flush {
            Some(reason) => Err(Error::Io {
                path: self.path.clone(),
                message: format!("an earlier flush failed ({reason}); restart lull"),
            }),
            None => Ok(()),
        }
    }

    /// Adds platform event id `key` (seen until `ttl` from now) to `tx`, replacing an expired
    /// record of it and pruning a batch of other expired ones; `false` (and nothing added) if it
    /// was already seen and has not expired.
    pub(crate) fn record_seen(&self, tx: &mut Tx, key: &str, ttl: Duration) -> Result<bool, Error> {
        let now = tx.now.unix_millis();
        let seen = self.tree(TreeId::SeenEvents);
        let previous = seen.get(key).map_err(|e| io_error(self.path(), &e))?;
        let previous_expiry = previous.as_deref().and_then(decode_u64);
        if previous_expiry.is_some_and(|expiry| expiry > now) {
            return Ok(false);
        }
        let expiry_key = |expiry: u64| {
            let mut k = u64_key(expiry).to_vec();
            k.extend_from_slice(key.as_bytes());
            k
        };
        if let Some(expiry) = previous_expiry {
            tx.remove(TreeId::SeenExpiry, expiry_key(expiry));
        }
        let expiry = tx.now.saturating_add(ttl).unix_millis();
        tx.put(TreeId::SeenEvents, key, u64_key(expiry));
        tx.put(TreeId::SeenExpiry, expiry_key(expiry), []);
        let expired = self
            .tree(TreeId::SeenExpiry)
            .range(..u64_key(now.saturating_add(1)).to_vec())
            .keys()
            .take(SEEN_PRUNE_BATCH);
        for old in expired {
            let old = old.map_err(|e| io_error(self.path(), &e))?;
            let old_event = old.get(8..).unwrap_or_default();
            if old_event != key.as_bytes() {
                tx.remove(TreeId::SeenEvents, old_event);
            }
            tx.remove(TreeId::SeenExpiry, old);
        }
        Ok(true)
    }

    /// Prunes, in `tx`, the oldest audit entries about no request that are past
    /// `audit_retention`, or beyond `max_unowned_audit` whatever their age; a
    /// bounded batch per change that writes one, so no change does unbounded work.
    fn prune_unowned_audit(&self, tx: &mut Tx) -> Result<(), Error> {
        // Only a change that adds such an entry prunes them (the only way their number grows):
        // submissions and the scheduler's own changes, which write a request's entries, skip it.
        if tx.counters.unowned_audit <= self.counters.unowned_audit {
            return Ok(());
        }
        let cutoff = tx.now.unix_millis().saturating_sub(
            u64::try_from(self.settings.audit_retention.as_millis()).unwrap_or(u64::MAX),
        );
        let unowned = audit_owner(None);
        let index = self.tree(TreeId::AuditByRequest);
        for key in index.scan_prefix(unowned).keys().take(AUDIT_PRUNE_BATCH) {
            let key = key.map_err(|e| io_error(&self.path, &e))?;
            let Some(seq) = key.get(16..).and_then(decode_u64) else {
                continue;
            };
            if seq < tx.unowned_pruned_below {
                continue;
            }
            let too_many = tx.counters.unowned_audit > self.settings.max_unowned_audit;
            if !too_many {
                let entry = self
                    .tree(TreeId::Audit)
                    .get(u64_key(seq))
                    .map_err(|e| io_error(&self.path, &e))?;
                let at = entry
                    .as_deref()
                    .and_then(|bytes| serde_json::from_slice::<AuditEntry>(bytes).ok())
                    .map(|entry| entry.at.unix_millis());
                // Oldest first: the first entry still within the retention ends the pass.
                if at.is_some_and(|at| at >= cutoff) {
                    break;
                }
            }
            tx.remove(TreeId::Audit, u64_key(seq));
            tx.remove(TreeId::AuditByRequest, key);
            tx.counters.unowned_audit = tx.counters.unowned_audit.saturating_sub(1);
        }
        Ok(())
    }

    /// The kept request `id`, as a change reads it before changing it.
    pub(crate) fn existing(&self, id: RequestId) -> Result<Request, Error> {
        super::lookup::existing(&self.trees, &self.path, id)
    }

    /// A JSON record under a `meta` key, if any.
    pub(crate) fn meta_record<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        what: &str,
    ) -> Result<Option<T>, Error> {
        super::lookup::meta_record(&self.trees, &self.path, key, what)
    }

    pub(crate) fn tree(&self, id: TreeId) -> &sled::Tree {
        self.trees.get(id)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// The writes of one change, applied atomically by [`Writer::commit`].
pub(crate) struct Tx {
    batches: Vec<Option<sled::Batch>>,
    pub(crate) counters: Counters,
    /// The time the change is stamped with.
    pub(crate) now: Timestamp,
    /// Audit entries about no request below this sequence number are already removed in this
    /// change (history pruning), so the writer's own pruning skips them (and counts them once).
    pub(crate) unowned_pruned_below: u64,
}

impl Tx {
    pub(crate) fn put(&mut self, tree: TreeId, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.batch(tree).insert(key.as_ref(), value.as_ref());
    }

    pub(crate) fn remove(&mut self, tree: TreeId, key: impl AsRef<[u8]>) {
        self.batch(tree).remove(key.as_ref());
    }

    fn batch(&mut self, tree: TreeId) -> &mut sled::Batch {
        self.batches[tree as usize].get_or_insert_with(sled::Batch::default)
    }

    pub(crate) fn put_request(&mut self, request: &Request) {
        self.put(TreeId::Requests, request_key(request.id), encode(request));
    }

    /// Appends a notice to the outbox with the next sequence number; returns it.
    pub(crate) fn outbox(&mut self, payload: serde_json::Value) -> u64 {
        let seq = self.counters.next_outbox_seq;
        self.counters.next_outbox_seq += 1;
        let entry = crate::outbox::OutboxEntry {
            seq,
            created_at: self.now,
            payload,
        };
        self.put(TreeId::Outbox, u64_key(seq), encode(&entry));
        seq
    }

    /// Appends an audit entry with the next sequence number.
    pub(crate) fn audit(
        &mut self,
        actor: &str,
        action: &str,
        request: Option<RequestId>,
        detail: String,
    ) {
        let seq = self.counters.next_audit_seq;
        self.counters.next_audit_seq += 1;
        let entry = AuditEntry {
            seq,
            at: self.now,
            actor: actor.to_owned(),
            action: action.to_owned(),
            request,
            detail,
        };
        self.put(TreeId::Audit, u64_key(seq), encode(&entry));
        if request.is_none() {
            self.counters.unowned_audit += 1;
        }
        self.put(
            TreeId::AuditByRequest,
            audit_index_key(audit_owner(request), seq),
            [],
        );
    }

    fn persist_counters(&mut self, before: Counters) {
        let c = self.counters;
        for (key, now, was) in [
            (META_NEXT_AUDIT, c.next_audit_seq, before.next_audit_seq),
            (META_NEXT_FINISH, c.next_finish_seq, before.next_finish_seq),
            (META_NEXT_OUTBOX, c.next_outbox_seq, before.next_outbox_seq),
        ] {
            if now != was {
                self.put(TreeId::Meta, key, u64_key(now));
            }
        }
    }
}

/// How long the writer looks for the next change before it sleeps on the channel. A caller
/// that submits one change after another (a host recording its runs, the CLI) sends the next
/// within microseconds of hearing the last: caught here it skips one thread wake-up, which is
/// a tenth of a durable change's time on a VM. Bounded, so an idle writer costs nothing.
const SPIN_FOR_NEXT: Duration = Duration::from_micros(50);

/// The next job: looked for briefly ([`SPIN_FOR_NEXT`]), then waited for.
fn next_job(jobs: &mpsc::Receiver<Job>) -> Result<Job, mpsc::RecvError> {
    let started = std::time::Instant::now();
    while started.elapsed() < SPIN_FOR_NEXT {
        match jobs.try_recv() {
            Ok(job) => return Ok(job),
            Err(mpsc::TryRecvError::Disconnected) => return Err(mpsc::RecvError),
            Err(mpsc::TryRecvError::Empty) => std::hint::spin_loop(),
        }
    }
    jobs.recv()
}

/// Runs jobs until every sender is gone, flushing once per batch.
pub(crate) fn run(mut writer: Writer, jobs: mpsc::Receiver<Job>) {
    let stats = writer.stats.clone();
    let mut completions: Vec<Completion> = Vec::new();
    while let Ok(job) = next_job(&jobs) {
        stats.queued.fetch_sub(1, Ordering::SeqCst);
        completions.push(job(&mut writer));
        while completions.len() < MAX_BATCH {
            let Ok(job) = jobs.try_recv() else { break };
            stats.queued.fetch_sub(1, Ordering::SeqCst);
            completions.push(job(&mut writer));
        }
        let flushed = writer.trees.db.flush();
        stats.flushes.fetch_add(1, Ordering::SeqCst);
        stats
            .changes
            .fetch_add(completions.len() as u64, Ordering::SeqCst);
        if let Err(e) = &flushed {
            tracing::error!(path = %writer.path.display(), error = %e, "store flush failed; refusing further changes");
            writer.failed_flush = Some(e.to_string());
        }
        for completion in completions.drain(..) {
            completion(
                flushed
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| io_error(&writer.path, e)),
            );
        }
    }
}
