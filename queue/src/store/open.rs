//! Opening a store: sled's lock, the schema version, and a full decode of what is on disk, so
//! bad data is refused at open with the path named rather than found later mid-change.

use std::path::Path;

use super::layout::{
    META_DRAIN, META_NEXT_AUDIT, META_NEXT_FINISH, META_NEXT_OUTBOX, META_OPEN, META_PAUSE,
    META_RUNNING, META_SCHEMA, SCHEMA_VERSION, TreeId, Trees, decode, decode_request_id,
    decode_u64, encode, io_error, requester_key, u64_key,
};
use super::lookup;
use super::writer::Counters;
use crate::audit::AuditEntry;
use crate::drain::Drain;
use crate::error::Error;
use crate::outbox::OutboxEntry;
use crate::pause::Pause;
use crate::request::{Request, State};

/// Opens the database at `path`, creating it if new, and returns its trees and counters.
pub(crate) fn open(path: &Path) -> Result<(Trees, Counters), Error> {
    // lull flushes after every change itself; sled's periodic flusher would only add a thread.
    let db = sled::Config::new()
        .path(path)
        .flush_every_ms(None)
        .open()
        .map_err(|e| {
            let mut message = e.to_string();
            if message.contains("lock") {
                message.push_str(
                    " (another lull process, such as `lull serve`, has this profile open; \
                     use the CLI through it or stop it first)",
                );
            }
            Error::Open {
                path: path.to_owned(),
                message,
            }
        })?;
    let trees = Trees::open(db, path)?;
    check_schema(&trees, path)?;
    let counters = validate(&trees, path)?;
    Ok((trees, counters))
}

fn corrupt(path: &Path, what: &str, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_owned(),
        what: what.to_owned(),
        reason: reason.into(),
    }
}

fn check_schema(trees: &Trees, path: &Path) -> Result<(), Error> {
    let meta = trees.get(TreeId::Meta);
    match meta.get(META_SCHEMA).map_err(|e| io_error(path, &e))? {
        Some(bytes) => {
            let found = decode_u64(&bytes)
                .filter(|_| bytes.len() == 8)
                .ok_or_else(|| corrupt(path, "the schema version", format!("{bytes:?}")))?;
            if found > SCHEMA_VERSION {
                return Err(Error::NewerSchema {
                    path: path.to_owned(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            match found {
                SCHEMA_VERSION => Ok(()),
                1 => migrate_from_1(trees, path),
                _ => Err(corrupt(
                    path,
                    "the schema version",
                    format!("version {found} is older than any lull release"),
                )),
            }
        }
        None => {
            let has_data = TreeId::ALL.iter().any(|id| !trees.get(*id).is_empty());
            if has_data {
                return Err(corrupt(
                    path,
                    "the schema version",
                    "it is missing, but the store holds data",
                ));
            }
            meta.insert(META_SCHEMA, &u64_key(SCHEMA_VERSION))
                .map_err(|e| io_error(path, &e))?;
            trees.db.flush().map_err(|e| io_error(path, &e))?;
            Ok(())
        }
    }
}

/// Schema 1 kept every requester in the request record; schema 2 keeps them in the requesters
/// tree too. Only the open request takes asks and withdrawals, so only its requesters are
/// copied; the version moves to 2 in the same flush.
fn migrate_from_1(trees: &Trees, path: &Path) -> Result<(), Error> {
    let mut batch = sled::Batch::default();
    if let Some(open) = lookup::indexed(trees, path, META_OPEN)? {
        for requester in &open.requested_by {
            let key = requester_key(open.id, &requester.key());
            batch.insert(key, encode(requester));
        }
    }
    trees
        .get(TreeId::Requesters)
        .apply_batch(batch)
        .map_err(|e| io_error(path, &e))?;
    trees
        .get(TreeId::Meta)
        .insert(META_SCHEMA, &u64_key(SCHEMA_VERSION))
        .map_err(|e| io_error(path, &e))?;
    trees.db.flush().map_err(|e| io_error(path, &e))?;
    tracing::info!(path = %path.display(), "store: migrated from schema 1 to 2 (requesters in a tree of their own)");
    Ok(())
}

/// Decodes every record and checks the indexes agree with the requests.
fn validate(trees: &Trees, path: &Path) -> Result<Counters, Error> {
    let mut open = Vec::new();
    let mut running = Vec::new();
    for entry in trees.get(TreeId::Requests).iter() {
        let (key, value) = entry.map_err(|e| io_error(path, &e))?;
        let id = decode_request_id(path, "a request key", &key)?;
        let request: Request = decode(path, &format!("request {id}"), &value)?;
        if request.id != id {
            return Err(corrupt(
                path,
                &format!("request {id}"),
                format!("it is stored under another id ({})", request.id),
            ));
        }
        if request.state.is_open() {
            open.push(request.id);
        } else if request.state == State::Running {
            running.push(request.id);
        }
    }
    for (key, ids, name) in [
        (META_OPEN, &open, "open"),
        (META_RUNNING, &running, "running"),
    ] {
        let indexed = lookup::indexed(trees, path, key)?.map(|r| r.id);
        let agrees = match (indexed, ids.as_slice()) {
            (None, []) => true,
            (Some(a), [b]) => a == *b,
            _ => false,
        };
        if !agrees {
            return Err(corrupt(
                path,
                &format!("the {name} request index"),
                format!("it names {indexed:?} but the {name} requests are {ids:?}"),
            ));
        }
    }
    let mut finished = 0;
    for entry in trees.get(TreeId::Finished).iter() {
        let (_, value) = entry.map_err(|e| io_error(path, &e))?;
        decode_request_id(path, "a finished request", &value)?;
        finished += 1;
    }
    for entry in trees.get(TreeId::Audit).iter().values() {
        let _: AuditEntry = decode(
            path,
            "an audit entry",
            &entry.map_err(|e| io_error(path, &e))?,
        )?;
    }
    for entry in trees.get(TreeId::Outbox).iter().values() {
        let _: OutboxEntry = decode(
            path,
            "an outbox entry",
            &entry.map_err(|e| io_error(path, &e))?,
        )?;
    }
    let meta = trees.get(TreeId::Meta);
    if let Some(bytes) = meta.get(META_PAUSE).map_err(|e| io_error(path, &e))? {
        let _: Pause = decode(path, "the pause", &bytes)?;
    }
    if let Some(bytes) = meta
        .get(super::layout::META_RESTART_MARKER)
        .map_err(|e| io_error(path, &e))?
    {
        let _: crate::restart_marker::RestartMarker = decode(path, "the restart marker", &bytes)?;
    }
    if let Some(bytes) = meta
        .get(super::layout::META_ESCALATION)
        .map_err(|e| io_error(path, &e))?
    {
        let _: crate::escalation::LastEscalation = decode(path, "the last escalation", &bytes)?;
    }
    if let Some(bytes) = meta.get(META_DRAIN).map_err(|e| io_error(path, &e))? {
        let _: Drain = decode(path, "the drain", &bytes)?;
    }
    let counter = |key: &[u8]| -> Result<u64, Error> {
        match meta.get(key).map_err(|e| io_error(path, &e))? {
            None => Ok(0),
            Some(bytes) => decode_u64(&bytes).ok_or_else(|| {
                corrupt(
                    path,
                    &String::from_utf8_lossy(key),
                    format!("{bytes:?} is not a counter"),
                )
            }),
        }
    };
    // Bounded by pruning (see `Writer::prune_unowned_audit`), so counting them is cheap.
    let unowned_audit = trees
        .get(TreeId::AuditByRequest)
        .scan_prefix(super::layout::audit_owner(None))
        .keys()
        .count();
    Ok(Counters {
        next_audit_seq: counter(META_NEXT_AUDIT)?,
        next_finish_seq: counter(META_NEXT_FINISH)?,
        next_outbox_seq: counter(META_NEXT_OUTBOX)?,
        finished,
        unowned_audit,
    })
}
