//! Asking and deciding from the command line: `lull restart|update`, `cancel`, `approve`, `reject`.

use std::time::Duration;

use lull_queue::{Ask, AskDraft, Kind};
use serde_json::json;

use super::target::{Target, api, cli_actor, queue_failure};
use super::{AskArgs, EXIT_ERROR, EXIT_USAGE, Failure, IdArgs, print_json};

/// `lull restart` / `lull update`: the ask checked as every surface checks it ([`Ask::new`]).
pub(super) async fn ask(kind: Kind, mut args: AskArgs, target: &Target) -> Result<(), Failure> {
    if let Some(idle) = args.idle {
        args.idle_seconds = Some(idle.as_secs());
    }
    let (request, deduplicated) = match target {
        Target::Server(socket) => {
            let mut body =
                json!({"kind": kind, "reason": args.reason, "idle_seconds": args.idle_seconds});
            if let Some(window) = &args.window {
                body["window"] = json!(window);
            }
            let answer = api(socket, "POST", "/v1/requests", Some(body)).await?;
            let request: lull_queue::Request = serde_json::from_value(answer["request"].clone())
                .map_err(|e| Failure::new(EXIT_ERROR, format!("unexpected answer: {e}")))?;
            (request, answer["deduplicated"].as_bool().unwrap_or(false))
        }
        Target::Direct(store, config) => {
            let draft = AskDraft {
                kind,
                reason: args.reason,
                idle: args.idle_seconds.map(Duration::from_secs),
                ignore_windows: args.window.is_some(),
                actor: cli_actor(),
            };
            let ask = Ask::new(draft, &config.maintenance.ask_rules())
                .map_err(|e| Failure::new(EXIT_USAGE, e.to_string()))?;
            let submitted = store.submit(ask).await.map_err(queue_failure)?;
            (submitted.request, submitted.deduplicated)
        }
    };
    if args.json {
        print_json(&json!({"request": request, "deduplicated": deduplicated}));
    } else if deduplicated {
        println!(
            "joined {} {} ({} requesters)",
            request.kind,
            request.short_id,
            request.requester_count()
        );
    } else {
        println!(
            "queued {} {} ({}); it runs when the gateway has been idle for {}s",
            request.kind, request.short_id, request.state, request.idle_seconds
        );
    }
    Ok(())
}

/// `lull cancel`, `approve` or `reject`, as the operator.
pub(super) async fn decide(verb: &str, args: IdArgs, target: &Target) -> Result<(), Failure> {
    let request = match target {
        Target::Server(socket) => {
            let answer = api(
                socket,
                "POST",
                &format!("/v1/requests/{}/{verb}", args.id),
                None,
            )
            .await?;
            serde_json::from_value(answer["request"].clone())
                .map_err(|e| Failure::new(EXIT_ERROR, format!("unexpected answer: {e}")))?
        }
        Target::Direct(store, _) => match verb {
            "cancel" => store.cancel(&args.id, cli_actor()).await.map(|c| c.request),
            "approve" => store.approve(&args.id, cli_actor()).await,
            _ => store.reject(&args.id, cli_actor()).await,
        }
        .map_err(queue_failure)?,
    };
    let request: lull_queue::Request = request;
    if args.json {
        print_json(&json!({"request": request}));
    } else {
        println!(
            "{} {} is now {}",
            request.kind, request.short_id, request.state
        );
    }
    Ok(())
}
