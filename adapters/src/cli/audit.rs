//! `lull audit [--limit N] [--request ID] [--json]`: the audit log's newest entries, oldest
//! first, from the server (`GET /v1/audit`) or, without one, from the store.

use lull_queue::AuditEntry;
use serde_json::json;

use super::target::{Target, api, queue_failure};
use super::{EXIT_ERROR, Failure, print_json};

/// Prints the newest `limit` entries (of `request` when given).
pub(super) async fn audit(
    limit: u64,
    request: Option<&str>,
    json: bool,
    target: &Target,
) -> Result<(), Failure> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let entries: Vec<AuditEntry> = match target {
        Target::Server(socket) => {
            let mut path = format!("/v1/audit?limit={limit}");
            if let Some(request) = request {
                let encoded: String =
                    url::form_urlencoded::byte_serialize(request.as_bytes()).collect();
                path.push_str(&format!("&request={encoded}"));
            }
            let body = api(socket, "GET", &path, None).await?;
            serde_json::from_value(body["entries"].clone())
                .map_err(|e| Failure::new(EXIT_ERROR, format!("unexpected answer: {e}")))?
        }
        Target::Direct(store, _) => {
            let id = match request {
                Some(query) => Some(store.find(query).map_err(queue_failure)?.id),
                None => None,
            };
            store.audit_tail(id, limit).map_err(queue_failure)?
        }
    };
    if json {
        print_json(&json!({"entries": entries}));
        return Ok(());
    }
    if entries.is_empty() {
        println!(
            "the audit log has no entries{}",
            if request.is_some() {
                " for that request"
            } else {
                ""
            }
        );
    }
    for entry in entries {
        let about = entry
            .request
            .map(|id| format!(" (request {id})"))
            .unwrap_or_default();
        let detail = if entry.detail.is_empty() {
            String::new()
        } else {
            format!(": {}", entry.detail)
        };
        println!(
            "{}  {}  {}{about}{detail}",
            entry.at, entry.actor, entry.action
        );
    }
    Ok(())
}
