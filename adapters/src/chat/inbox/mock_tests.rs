//! The inbox's order of checks and its answer-after-handling rule, against a recording inbox
//! whose handling the test releases.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::http::Request;
use futures_util::StreamExt;
use tokio::sync::{Notify, oneshot};
use tower::ServiceExt;

use super::*;
use crate::chat::verifier::SecretHeader;

/// Parses bodies of the form `event:<name>`; records what it was given; each delivery waits
/// for the test's release (or is refused, when told to be).
#[derive(Clone, Default)]
struct Recording {
    delivered: Arc<Mutex<Vec<String>>>,
    arrived: Arc<Notify>,
    release: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
    stopping: Arc<AtomicBool>,
    refuse_delivery: Arc<AtomicBool>,
}

impl Inbox for Recording {
    type Event = String;

    fn platform(&self) -> &'static str {
        "test"
    }

    fn parse(&self, body: &[u8]) -> Result<String, String> {
        std::str::from_utf8(body)
            .ok()
            .and_then(|b| b.strip_prefix("event:"))
            .map(str::to_owned)
            .ok_or_else(|| "expected event:<name>".into())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    async fn deliver(&self, event: String) -> Option<Response> {
        self.delivered.lock().unwrap().push(event.clone());
        self.arrived.notify_one();
        if self.refuse_delivery.load(Ordering::SeqCst) {
            return None;
        }
        let release = self.release.lock().unwrap().take();
        if let Some(release) = release {
            release.await.ok()?;
        }
        Some((StatusCode::OK, format!("handled {event}")).into_response())
    }

    fn overdue(&self) -> Response {
        StatusCode::ACCEPTED.into_response()
    }
}

const LIMITS: Limits = Limits {
    max_body_bytes: 64,
    answer_within: Duration::from_secs(50),
};

fn router(inbox: &Recording) -> axum::Router {
    route(
        "/hook",
        inbox.clone(),
        SecretHeader::new("x-secret", "s3cret"),
        LIMITS,
    )
}

fn post(secret: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post("/hook");
    if let Some(secret) = secret {
        request = request.header("x-secret", secret);
    }
    request.body(body.into()).unwrap()
}

async fn status(inbox: &Recording, request: Request<Body>) -> StatusCode {
    router(inbox).oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn each_refusal_has_its_status_and_delivers_nothing() {
    let inbox = Recording::default();
    let huge = format!("event:{}", "x".repeat(100));
    assert_eq!(
        status(&inbox, post(Some("s3cret"), huge)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        status(&inbox, post(None, "event:a")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&inbox, post(Some("s3cre"), "event:a")).await,
        StatusCode::UNAUTHORIZED
    );
    // Verified before parsed: a forged post cannot even learn whether its body would parse.
    assert_eq!(
        status(&inbox, post(Some("wrong"), "{not")).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&inbox, post(Some("s3cret"), "{not")).await,
        StatusCode::BAD_REQUEST
    );
    inbox.stopping.store(true, Ordering::SeqCst);
    assert_eq!(
        status(&inbox, post(Some("s3cret"), "event:a")).await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(inbox.delivered.lock().unwrap().is_empty());
    inbox.stopping.store(false, Ordering::SeqCst);
    inbox.refuse_delivery.store(true, Ordering::SeqCst);
    assert_eq!(
        status(&inbox, post(Some("s3cret"), "event:b")).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "an event that will not be handled is posted again"
    );
    assert_eq!(*inbox.delivered.lock().unwrap(), ["b"]);
}

#[tokio::test]
async fn a_post_is_answered_only_once_its_event_was_handled() {
    let inbox = Recording::default();
    let (release, released) = oneshot::channel();
    *inbox.release.lock().unwrap() = Some(released);
    let arrived = inbox.arrived.notified();
    let posting = tokio::spawn(router(&inbox).oneshot(post(Some("s3cret"), "event:a")));
    tokio::time::timeout(Duration::from_secs(10), arrived)
        .await
        .expect("the event reaches its handling");
    tokio::task::yield_now().await;
    assert!(!posting.is_finished(), "answered before it was handled");
    release.send(()).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(10), posting)
        .await
        .expect("answered once handled")
        .unwrap()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body = axum::body::to_bytes(answer.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"handled a", "the handling's own answer");
}

#[tokio::test(start_paused = true)]
async fn handling_that_outlasts_the_bound_is_answered_as_overdue() {
    let inbox = Recording::default();
    let (_never_released, released) = oneshot::channel();
    *inbox.release.lock().unwrap() = Some(released);
    let started = tokio::time::Instant::now();
    assert_eq!(
        status(&inbox, post(Some("s3cret"), "event:slow")).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(started.elapsed(), LIMITS.answer_within);
}

#[tokio::test(start_paused = true)]
async fn a_body_that_trickles_past_the_deadline_is_refused_unread() {
    let inbox = Recording::default();
    // A first byte, then nothing more: the body never ends.
    let trickle = futures_util::stream::iter([Ok::<_, std::io::Error>(
        axum::body::Bytes::from_static(b"e"),
    )])
    .chain(futures_util::stream::pending());
    let started = tokio::time::Instant::now();
    assert_eq!(
        status(&inbox, post(Some("s3cret"), Body::from_stream(trickle))).await,
        StatusCode::REQUEST_TIMEOUT
    );
    assert_eq!(started.elapsed(), BODY_DEADLINE);
    assert!(inbox.delivered.lock().unwrap().is_empty());
}

/// Signs nothing in the headers; the body must start with `signed:`.
struct BodySignature;

impl Verifier for BodySignature {
    fn verify_headers(&self, _: &axum::http::HeaderMap) -> Result<(), String> {
        Ok(())
    }

    fn verify_body(&self, _: &axum::http::HeaderMap, body: &[u8]) -> Result<(), String> {
        body.starts_with(b"signed:")
            .then_some(())
            .ok_or_else(|| "bad signature".into())
    }
}

/// Parses `signed:event:<name>`: what passed the body check.
#[derive(Clone, Default)]
struct SignedInbox(Recording);

impl Inbox for SignedInbox {
    type Event = String;

    fn platform(&self) -> &'static str {
        "test"
    }

    fn parse(&self, body: &[u8]) -> Result<String, String> {
        self.0.parse(body.strip_prefix(b"signed:").unwrap_or(body))
    }

    fn stopping(&self) -> bool {
        false
    }

    async fn deliver(&self, event: String) -> Option<Response> {
        self.0.deliver(event).await
    }

    fn overdue(&self) -> Response {
        self.0.overdue()
    }
}

#[tokio::test]
async fn a_body_signature_is_checked_before_the_body_is_parsed() {
    let inbox = SignedInbox::default();
    let router = || route("/hook", inbox.clone(), BodySignature, LIMITS);
    let post = |body: &'static str| Request::post("/hook").body(Body::from(body)).unwrap();
    let forged = router().oneshot(post("event:a")).await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let unparsable = router().oneshot(post("signed:{")).await.unwrap();
    assert_eq!(unparsable.status(), StatusCode::BAD_REQUEST);
    let signed = router().oneshot(post("signed:event:b")).await.unwrap();
    assert_eq!(signed.status(), StatusCode::OK);
    assert_eq!(
        *inbox.0.delivered.lock().unwrap(),
        ["b"],
        "only the signed one"
    );
}
