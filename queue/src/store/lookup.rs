//! Reading requests back: by id, by short id or unique prefix, and through the open/running index.

use std::path::Path;

use super::layout::{
    META_OPEN, META_RUNNING, TreeId, Trees, decode, decode_request_id, io_error, request_key,
};
use crate::error::Error;
use crate::id::{RequestId, ShortId};
use crate::request::Request;

/// At most this many candidates are listed for an ambiguous prefix.
const MAX_CANDIDATES: usize = 10;

/// The request with id `id`, if kept.
pub(crate) fn get(trees: &Trees, path: &Path, id: RequestId) -> Result<Option<Request>, Error> {
    let bytes = trees
        .get(TreeId::Requests)
        .get(request_key(id))
        .map_err(|e| io_error(path, &e))?;
    bytes
        .map(|b| decode(path, &format!("request {id}"), &b))
        .transpose()
}

/// The request with id `id`, which must be kept (a change names one it read before).
pub(crate) fn existing(trees: &Trees, path: &Path, id: RequestId) -> Result<Request, Error> {
    get(trees, path, id)?.ok_or_else(|| Error::NotFound {
        query: id.to_string(),
    })
}

/// A JSON record kept under a `meta` key (the pause, the drain, the fleet hold, …), if any.
pub(crate) fn meta_record<T: serde::de::DeserializeOwned>(
    trees: &Trees,
    path: &Path,
    key: &[u8],
    what: &str,
) -> Result<Option<T>, Error> {
    let bytes = trees
        .get(TreeId::Meta)
        .get(key)
        .map_err(|e| io_error(path, &e))?;
    bytes.map(|b| decode(path, what, &b)).transpose()
}

/// The request a `meta` index key points at (the open or the running one).
pub(crate) fn indexed(trees: &Trees, path: &Path, key: &[u8]) -> Result<Option<Request>, Error> {
    let what = String::from_utf8_lossy(key);
    let Some(bytes) = trees
        .get(TreeId::Meta)
        .get(key)
        .map_err(|e| io_error(path, &e))?
    else {
        return Ok(None);
    };
    let id = decode_request_id(path, &format!("the {what} request index"), &bytes)?;
    match get(trees, path, id)? {
        Some(request) => Ok(Some(request)),
        None => Err(Error::Corrupt {
            path: path.to_owned(),
            what: format!("the {what} request index"),
            reason: format!("it points at request {id}, which is not stored"),
        }),
    }
}

/// The open request, if any.
pub(crate) fn open(trees: &Trees, path: &Path) -> Result<Option<Request>, Error> {
    indexed(trees, path, META_OPEN)
}

/// The running request, if any.
pub(crate) fn running(trees: &Trees, path: &Path) -> Result<Option<Request>, Error> {
    indexed(trees, path, META_RUNNING)
}

/// Finds one request by full id, short id, or a unique prefix of either (any case).
///
/// An exact short id wins over longer short ids it is a prefix of, so `r7k2` still names
/// `r7k2` after a collision made another request `r7k2x`.
pub(crate) fn find(trees: &Trees, path: &Path, query: &str) -> Result<Request, Error> {
    let text = query.trim().to_ascii_lowercase();
    let not_found = || Error::NotFound {
        query: query.trim().to_owned(),
    };
    if text.is_empty() {
        return Err(not_found());
    }
    if let Some(id) = RequestId::parse(&text) {
        return get(trees, path, id)?.ok_or_else(not_found);
    }
    let short_ids = trees.get(TreeId::ShortIds);
    if let Some(bytes) = short_ids.get(&text).map_err(|e| io_error(path, &e))? {
        let id = decode_request_id(path, &format!("short id {text}"), &bytes)?;
        return get(trees, path, id)?.ok_or_else(not_found);
    }
    let mut ids: Vec<RequestId> = Vec::new();
    let by_short = short_ids.scan_prefix(&text).values();
    let by_full = trees.get(TreeId::Requests).scan_prefix(&text).keys();
    for bytes in by_short.chain(by_full) {
        let bytes = bytes.map_err(|e| io_error(path, &e))?;
        let id = decode_request_id(path, "a request key", &bytes)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
        if ids.len() > MAX_CANDIDATES {
            break;
        }
    }
    match ids.as_slice() {
        [] => Err(not_found()),
        [id] => get(trees, path, *id)?.ok_or_else(not_found),
        many => {
            let mut candidates = Vec::new();
            for id in many.iter().take(MAX_CANDIDATES) {
                if let Some(r) = get(trees, path, *id)? {
                    candidates.push(format!("{} ({}, {})", r.short_id, r.kind, r.state));
                }
            }
            if many.len() > MAX_CANDIDATES {
                candidates.push("…".to_owned());
            }
            Err(Error::Ambiguous {
                query: query.trim().to_owned(),
                candidates,
            })
        }
    }
}

/// A short id for `id` that no kept request has: the shortest free one.
pub(crate) fn free_short_id(trees: &Trees, path: &Path, id: RequestId) -> Result<ShortId, Error> {
    let short_ids = trees.get(TreeId::ShortIds);
    for len in ShortId::MIN_LEN..=ShortId::MAX_LEN {
        let candidate = id.short_id(len);
        if !short_ids
            .contains_key(candidate.as_str())
            .map_err(|e| io_error(path, &e))?
        {
            return Ok(candidate);
        }
    }
    // Two kept requests whose UUIDs agree in all 128 bits: a duplicate UUID, which v4 ids never produce.
    Err(Error::Corrupt {
        path: path.to_owned(),
        what: format!("short id of {id}"),
        reason: "every short id of this request id is taken".into(),
    })
}
