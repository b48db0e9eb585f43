//! Opening a store: sled's lock, the schema version, and a decode of what lull needs to run
//! (open and running requests, `meta`, pending notices), so bad data there is refused at open
//! with the path named rather than found later mid-change. History is read only when asked for.

use std::path::Path;

use super::layout::{
    META_DRAIN, META_LAST_EXECUTION_END, META_NEXT_AUDIT, META_NEXT_FINISH, META_NEXT_OUTBOX,
    META_OPEN, META_PAUSE, META_RUNNING, META_SCHEMA, SCHEMA_VERSION, TreeId, Trees, decode,
    decode_request_id, decode_u64, encode, io_error, requester_key, u64_key,
};
use super::lookup;
use super::writer::Counters;
use crate::drain::Drain;
use crate::error::Error;
use crate::outbox::OutboxEntry;
use crate::pause::Pause;
use crate::request::State;

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
                2 => migrate_from_2(trees, path),
                1 => {
                    migrate_from_1(trees, path)?;
                    migrate_from_2(trees, path)
                }
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
        .insert(META_SCHEMA, &u64_key(2))
        .map_err(|e| io_error(path, &e))?;
    trees.db.flush().map_err(|e| io_error(path, &e))?;
    tracing::info!(path = %path.display(), "store: migrated from schema 1 to 2 (requesters in a tree of their own)");
    Ok(())
}

/// Schema 3 keeps when the last execution finished in `meta`, where schema 2 found it by
/// walking back through history: the walk is made once here, and the version moves to 3 in the
/// same flush.
fn migrate_from_2(trees: &Trees, path: &Path) -> Result<(), Error> {
    let mut batch = sled::Batch::default();
    for entry in trees.get(TreeId::Finished).iter().values().rev() {
        let bytes = entry.map_err(|e| io_error(path, &e))?;
        let id = decode_request_id(path, "a finished request", &bytes)?;
        let Some(request) = lookup::get(trees, path, id)? else {
            continue;
        };
        if request
            .transitions
            .iter()
            .any(|t| t.state == State::Running)
        {
            let end = request.state_since().unix_millis();
            batch.insert(META_LAST_EXECUTION_END, &u64_key(end));
            break;
        }
    }
    batch.insert(META_SCHEMA, &u64_key(SCHEMA_VERSION));
    trees
        .get(TreeId::Meta)
        .apply_batch(batch)
        .map_err(|e| io_error(path, &e))?;
    trees.db.flush().map_err(|e| io_error(path, &e))?;
    tracing::info!(path = %path.display(), "store: migrated from schema 2 to 3 (the last execution's end kept in meta)");
    Ok(())
}

/// Decodes what lull needs to run — the open and running requests, the records in `meta`, the
/// notices still to send — and reads the counters. Finished requests and the audit log are not
/// read here: they grow with history (100 000 kept requests took a second to decode at every
/// start), nothing at start needs them, and one that cannot be decoded is refused, naming it,
/// when it is read (`lull history`, `lull audit`), never reset.
fn validate(trees: &Trees, path: &Path) -> Result<Counters, Error> {
    for (key, name) in [(META_OPEN, "open"), (META_RUNNING, "running")] {
        let Some(request) = lookup::indexed(trees, path, key)? else {
            continue;
        };
        let fits = match key {
            META_OPEN => request.state.is_open(),
            _ => request.state == State::Running,
        };
        if !fits {
            return Err(corrupt(
                path,
                &format!("the {name} request index"),
                format!(
                    "it names request {}, which is {}",
                    request.id,
                    request.state.as_str()
                ),
            ));
        }
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
    let next_finish_seq = counter(META_NEXT_FINISH)?;
    let finished = finished_count(trees, path, next_finish_seq)?;
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

/// How many requests the `finished` tree holds, from its first key: closing appends at
/// `next_finish_seq` and pruning removes from the front, so the keys run without gaps.
fn finished_count(trees: &Trees, path: &Path, next_finish_seq: u64) -> Result<usize, Error> {
    let first = trees
        .get(TreeId::Finished)
        .first()
        .map_err(|e| io_error(path, &e))?;
    let Some((key, _)) = first else {
        return Ok(0);
    };
    let first_seq = decode_u64(&key)
        .filter(|seq| key.len() == 8 && *seq < next_finish_seq)
        .ok_or_else(|| {
            corrupt(
                path,
                "the finished requests",
                format!("key {key:?} is not below the next finish number {next_finish_seq}"),
            )
        })?;
    usize::try_from(next_finish_seq - first_seq)
        .map_err(|_| corrupt(path, "the finished requests", "too many to count"))
}
