//! The webhook's front door. Telegram posts each update with the secret given to `setWebhook`
//! in `X-Telegram-Bot-Api-Secret-Token`; this layer compares it in constant time and refuses a
//! wrong or missing one (401), an oversized body (413) and a body that is not an update (400)
//! before teloxide's route parses anything.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// The header Telegram puts the secret in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Updates are small; anything bigger is not one.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Wraps teloxide's webhook router so only Telegram, holding `secret`, gets through.
pub fn guarded(router: axum::Router, secret: String) -> axum::Router {
    let secret: std::sync::Arc<[u8]> = secret.into_bytes().into();
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let secret = secret.clone();
            async move { check(&secret, request, next).await }
        },
    ))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"ok": false, "description": message})),
    )
        .into_response()
}

async fn check(secret: &[u8], request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(secret)) {
        tracing::warn!("refused a webhook post without the right secret token");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong X-Telegram-Bot-Api-Secret-Token",
        );
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than an update can be (1 MiB)",
        );
    };
    if let Err(error) = serde_json::from_slice::<teloxide::types::Update>(&bytes) {
        return refuse(
            StatusCode::BAD_REQUEST,
            &format!("the body is not a Telegram update: {error}"),
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
