//! Asking and deciding: a request opened, joined, withdrawn, approved, rejected or expired, and
//! reading requests back. Each `Store` method sits beside the writer-side change it runs.

use super::history::close;
use super::layout::{
    META_OPEN, TreeId, audit_owner, decode, encode, io_error, request_key, requester_key,
};
use super::lookup;
use super::writer::Writer;
use super::{SCHEDULER, Store};
use crate::ask::Ask;
use crate::dedupe::{self, Merge, Withdrawal};
use crate::error::Error;
use crate::events::QueueEvent;
use crate::id::RequestId;
use crate::request::{Event, Request, RunResult};
use crate::requester::{Actor, MAX_LISTED_REQUESTERS, Requester, Role};

impl Store {
    /// Asks for a restart or update: opens a request, or joins the open one (docs/queue.md's merging).
    pub async fn submit(&self, ask: Ask) -> Result<Submitted, Error> {
        self.change(
            move |w| submit(w, ask),
            |s: &Submitted| {
                let request = s.request.clone();
                Some(if s.deduplicated {
                    QueueEvent::Merged {
                        request,
                        merge: s.merge,
                    }
                } else {
                    QueueEvent::Queued { request }
                })
            },
        )
        .await
    }

    /// Cancels the request `query` names (id, short id or unique prefix) on behalf of `actor`:
    /// an admin cancels it, anyone else withdraws only their own ask.
    pub async fn cancel(&self, query: &str, actor: Actor) -> Result<Cancelled, Error> {
        let query = query.to_owned();
        self.change(
            move |w| cancel(w, &query, &actor),
            |c: &Cancelled| {
                let request = c.request.clone();
                Some(match c.withdrawal {
                    Withdrawal::Cancelled => QueueEvent::Cancelled { request },
                    Withdrawal::RequesterRemoved { .. } => QueueEvent::Withdrawn { request },
                })
            },
        )
        .await
    }

    /// An admin approves a request awaiting approval (not one they asked for).
    pub async fn approve(&self, query: &str, actor: Actor) -> Result<Request, Error> {
        let query = query.to_owned();
        self.change(
            move |w| approve(w, &query, &actor),
            |r: &Request| Some(QueueEvent::Approved { request: r.clone() }),
        )
        .await
    }

    /// An admin rejects an open request.
    pub async fn reject(&self, query: &str, actor: Actor) -> Result<Request, Error> {
        let query = query.to_owned();
        self.change(
            move |w| reject(w, &query, &actor),
            |r: &Request| Some(QueueEvent::Rejected { request: r.clone() }),
        )
        .await
    }

    /// Rejects a request whose approval window passed. The scheduler's to call.
    pub(crate) async fn expire_approval(&self, id: RequestId) -> Result<Request, Error> {
        self.change(
            move |w| expire_approval(w, id),
            |r: &Request| Some(QueueEvent::Expired { request: r.clone() }),
        )
        .await
    }

    /// The request with this full id.
    pub fn get(&self, id: RequestId) -> Result<Option<Request>, Error> {
        lookup::get(&self.inner.trees, &self.inner.path, id)
    }

    /// The request named by a full id, short id, or unique prefix of either.
    pub fn find(&self, query: &str) -> Result<Request, Error> {
        lookup::find(&self.inner.trees, &self.inner.path, query)
    }

    /// The open request (awaiting approval or queued), if any. There is never more than one.
    pub fn open_request(&self) -> Result<Option<Request>, Error> {
        lookup::open(&self.inner.trees, &self.inner.path)
    }

    /// The running request, if any.
    pub fn running_request(&self) -> Result<Option<Request>, Error> {
        lookup::running(&self.inner.trees, &self.inner.path)
    }

    /// Size in bytes of the stored record of request `id`, for tests that check records stay small.
    pub fn stored_size(&self, id: RequestId) -> Result<Option<usize>, Error> {
        let bytes = self
            .tree(TreeId::Requests)
            .get(request_key(id))
            .map_err(|e| self.io(&e))?;
        Ok(bytes.map(|b| b.len()))
    }
}

/// The answer to an ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The request the ask created or joined, as stored.
    pub request: Request,
    /// The ask joined an open request instead of opening one.
    pub deduplicated: bool,
    /// What joining changed (all false for a new request).
    pub merge: Merge,
}

/// The answer to a cancel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cancelled {
    /// The request after the cancel.
    pub request: Request,
    /// Whether it was cancelled or only the actor's ask removed.
    pub withdrawal: Withdrawal,
}

fn submit(w: &mut Writer, ask: Ask) -> Result<Submitted, Error> {
    if ask.kind == crate::request::Kind::Update && !w.settings.update_available {
        return Err(Error::UpdateNotConfigured);
    }
    let mut tx = w.begin();
    let by = ask.actor.by();
    if let Some(mut request) = lookup::open(&w.trees, w.path())? {
        let key = requester_key(request.id, &ask.actor.key());
        let known = requester(w, &key)?;
        let merge = dedupe::merge_into(&mut request, &ask, &w.settings, tx.now, known.is_some())?;
        let mut requester = known.unwrap_or_else(|| Requester {
            count: 0,
            ..Requester::first_ask(&ask.actor)
        });
        requester.count = requester.count.saturating_add(1);
        tx.put(TreeId::Requesters, &key, encode(&requester));
        tx.put_request(&request);
        let action = if merge.approved {
            "approved_by_ask"
        } else if merge.sent_back_for_approval {
            "upgraded_needs_approval"
        } else if merge.upgraded {
            "upgraded"
        } else if merge.new_requester {
            "joined"
        } else {
            "repeated"
        };
        let changes_the_request = merge.approved || merge.sent_back_for_approval || merge.upgraded;
        let listed = request.requested_by.iter().any(|r| ask.actor.is(r));
        let audited = changes_the_request
            || (merge.new_requester && request.requester_count() <= MAX_AUDITED_REQUESTERS)
            || (!merge.new_requester && listed && requester.count <= AUDITED_ASKS_PER_REQUESTER);
        if audited {
            tx.audit(&by, action, Some(request.id), ask_detail(&ask));
        }
        w.commit(tx)?;
        return Ok(Submitted {
            request,
            deduplicated: true,
            merge,
        });
    }
    let id = RequestId::new_random();
    let short_id = lookup::free_short_id(&w.trees, w.path(), id)?;
    let request = dedupe::new_request(&ask, &w.settings, id, short_id, tx.now);
    tx.put_request(&request);
    for requester in &request.requested_by {
        let key = requester_key(id, &requester.key());
        tx.put(TreeId::Requesters, key, encode(requester));
    }
    tx.put(TreeId::ShortIds, request.short_id.as_str(), request_key(id));
    tx.put(TreeId::Meta, META_OPEN, request_key(id));
    tx.audit(&by, "submitted", Some(id), ask_detail(&ask));
    w.commit(tx)?;
    Ok(Submitted {
        request,
        deduplicated: false,
        merge: Merge::default(),
    })
}

fn ask_detail(ask: &Ask) -> String {
    format!(
        "{} idle={}s{}{} reason={:?}",
        ask.kind,
        ask.idle_seconds,
        if ask.idle_explicit { " (explicit)" } else { "" },
        if ask.ignore_windows {
            " window=any"
        } else {
            ""
        },
        ask.reason
    )
}

fn cancel(w: &mut Writer, query: &str, actor: &Actor) -> Result<Cancelled, Error> {
    let mut request = lookup::find(&w.trees, w.path(), query)?;
    let mut tx = w.begin();
    let key = requester_key(request.id, &actor.key());
    let known = requester(w, &key)?.is_some();
    let listed = request.requested_by.iter().any(|r| actor.is(r));
    let withdrawal = dedupe::withdraw(&mut request, actor, tx.now, known)?;
    // A cancelled request's requesters all go when it is closed, below.
    if let Withdrawal::RequesterRemoved { .. } = withdrawal {
        tx.remove(TreeId::Requesters, key.as_slice());
        if listed && request.unlisted_requesters > 0 {
            promote_unlisted(w, &mut request, &key)?;
        }
    }
    tx.put_request(&request);
    match withdrawal {
        Withdrawal::Cancelled => {
            tx.audit(&actor.by(), "cancelled", Some(request.id), String::new());
            close(&mut tx, w, &request)?;
        }
        Withdrawal::RequesterRemoved { remaining } => {
            if listed || request.requester_count() < MAX_AUDITED_REQUESTERS {
                tx.audit(
                    &actor.by(),
                    "withdrew",
                    Some(request.id),
                    format!("{remaining} requester(s) remain"),
                );
            }
        }
    }
    w.commit(tx)?;
    Ok(Cancelled {
        request,
        withdrawal,
    })
}

/// Distinct requesters whose first ask (and withdrawal) a request's audit records one by one.
/// Past them, and past [`AUDITED_ASKS_PER_REQUESTER`] asks of one requester, asks are counted
/// in the request and its requesters rather than audited, so a storm of asks cannot grow what a
/// request keeps in history. What changes the request (opened, approved, upgraded, started,
/// finished, …) is always audited.
pub(crate) const MAX_AUDITED_REQUESTERS: u64 = 256;

/// The asks of one listed requester (the first [`MAX_LISTED_REQUESTERS`]) that the audit
/// records: the first and two repeats.
pub(crate) const AUDITED_ASKS_PER_REQUESTER: u64 = 3;

/// The requester stored under `key`, if the request has it.
fn requester(w: &Writer, key: &[u8]) -> Result<Option<Requester>, Error> {
    w.tree(TreeId::Requesters)
        .get(key)
        .map_err(|e| io_error(w.path(), &e))?
        .map(|bytes| decode(w.path(), "a requester", &bytes))
        .transpose()
}

/// A listed requester withdrew while others are unlisted: the first unlisted one found takes
/// the free place, so notices keep reaching someone who asked. At most one more than the
/// listed ones is read (`withdrawn`, the key just removed, is skipped).
fn promote_unlisted(w: &Writer, request: &mut Request, withdrawn: &[u8]) -> Result<(), Error> {
    let prefix = audit_owner(Some(request.id));
    for entry in w
        .tree(TreeId::Requesters)
        .scan_prefix(prefix)
        .take(MAX_LISTED_REQUESTERS + 2)
    {
        let (key, bytes) = entry.map_err(|e| io_error(w.path(), &e))?;
        if key.as_ref() == withdrawn {
            continue;
        }
        let candidate: Requester = decode(w.path(), "a requester", &bytes)?;
        let listed = request
            .requested_by
            .iter()
            .any(|r| r.key() == candidate.key());
        if !listed {
            request.requested_by.push(candidate);
            request.unlisted_requesters -= 1;
            return Ok(());
        }
    }
    Ok(())
}

fn approve(w: &mut Writer, query: &str, actor: &Actor) -> Result<Request, Error> {
    let mut request = lookup::find(&w.trees, w.path(), query)?;
    require_admin(actor, "approve", &request)?;
    // Listed or not: the requesters tree has every one.
    let asked = request.requested_by.iter().any(|r| actor.is(r))
        || requester(w, &requester_key(request.id, &actor.key()))?.is_some();
    if asked {
        return Err(Error::Forbidden(format!(
            "you asked for request {}; someone else must approve it",
            request.short_id
        )));
    }
    let mut tx = w.begin();
    request.apply(Event::Approve, tx.now, &actor.by())?;
    tx.put_request(&request);
    tx.audit(&actor.by(), "approved", Some(request.id), String::new());
    w.commit(tx)?;
    Ok(request)
}

fn reject(w: &mut Writer, query: &str, actor: &Actor) -> Result<Request, Error> {
    let mut request = lookup::find(&w.trees, w.path(), query)?;
    require_admin(actor, "reject", &request)?;
    let mut tx = w.begin();
    request.apply(Event::Reject, tx.now, &actor.by())?;
    tx.put_request(&request);
    tx.audit(&actor.by(), "rejected", Some(request.id), String::new());
    close(&mut tx, w, &request)?;
    w.commit(tx)?;
    Ok(request)
}

fn require_admin(actor: &Actor, verb: &str, request: &Request) -> Result<(), Error> {
    if actor.role == Role::Admin {
        Ok(())
    } else {
        Err(Error::Forbidden(format!(
            "only an admin can {verb} request {}",
            request.short_id
        )))
    }
}

fn expire_approval(w: &mut Writer, id: RequestId) -> Result<Request, Error> {
    let mut request = w.existing(id)?;
    let mut tx = w.begin();
    request.apply(Event::ExpireApproval, tx.now, SCHEDULER)?;
    request.result = Some(RunResult {
        message: Some("approval expired".into()),
        ..RunResult::default()
    });
    tx.put_request(&request);
    tx.audit(SCHEDULER, "approval_expired", Some(id), String::new());
    close(&mut tx, w, &request)?;
    w.commit(tx)?;
    Ok(request)
}
