//! A chat connection's life in the sidecar, for any platform: check who lull is there (retrying
//! through network trouble), prepare (menus, command registration), deliver notices from then
//! until the stop (through reconnections too), receive events until told to stop (reconnecting
//! after trouble, with a backoff that starts again after a connection that lasted), and stop
//! within a bound.
//!
//! A platform implements [`Connection`]; [`supervise`] drives it. What ends it early is only what
//! waiting cannot fix, such as a refused token: [`Attempt::Fatal`].

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use lull_queue::{Backoff, MAX_BACKOFF};

use super::adapter::MountedLull;

/// How long stopping waits for events being handled, and notices being sent, to finish.
pub const STOP_GRACE: Duration = Duration::from_secs(15);

/// Why an attempt ended before it was told to stop.
#[derive(Debug)]
pub enum Attempt<F> {
    /// Worth another attempt after a while (the platform could not be reached).
    Retry(String),
    /// The platform (or whatever answers at its address) answered something lull cannot read:
    /// the call and the field that was missing or wrong. Tried again too, since a proxy or an
    /// outage page can pass, but logged for what it is: most often a wrong `api_url`.
    Unreadable(String),
    /// Not worth it: waiting will not fix it (a refused token, an address lull cannot bind).
    Fatal(F),
}

/// One platform's connection, as the supervisor drives it.
pub trait Connection: Send + Sync {
    /// Who lull is on the platform (the bot's user), as the identity check found it.
    type Identity: Send + Sync;
    /// What ends the connection for good.
    type Fatal: std::error::Error + Send + Sync + 'static;

    /// The platform's name, for logs.
    fn platform(&self) -> &'static str;

    /// Checks the credentials: who lull is. One attempt; the supervisor retries.
    fn identify(&self)
    -> impl Future<Output = Result<Self::Identity, Attempt<Self::Fatal>>> + Send;

    /// Once identified, before receiving: the command menu or registration. Failures here are
    /// the platform's to log; the command still works when typed.
    fn prepare(&self, identity: &Self::Identity) -> impl Future<Output = ()> + Send;

    /// What delivers this platform's notices while the connection runs.
    type Notices: NoticeDelivery;

    /// The platform's notice delivery (lull in its client).
    fn notices(&self) -> Self::Notices;

    /// Receives and handles events until `stop` is cancelled (`Ok`, after letting events being
    /// handled finish within [`STOP_GRACE`]), or until the connection fails.
    fn receive(
        &self,
        identity: &Self::Identity,
        stop: &CancellationToken,
    ) -> impl Future<Output = Result<(), Attempt<Self::Fatal>>> + Send;
}

/// What delivers a platform's notices while its connection runs: lull in the platform's client
/// (every [`MountedLull`]), or a test's stand-in.
pub trait NoticeDelivery: Send + 'static {
    /// Delivers the outbox's notices until `stop` is cancelled.
    fn deliver_until(self, stop: CancellationToken) -> impl Future<Output = ()> + Send + 'static;
}

impl<L: MountedLull> NoticeDelivery for L {
    async fn deliver_until(self, stop: CancellationToken) {
        self.deliver_notices(stop.cancelled_owned()).await;
    }
}

/// Runs `connection` until `stop` is cancelled. Network trouble, at start-up too, is waited out
/// with backoff; only a fatal error ends it early.
pub async fn supervise<C: Connection>(
    connection: C,
    stop: CancellationToken,
) -> Result<(), C::Fatal> {
    let platform = connection.platform();
    let mut backoff = Backoff::default();
    let identity = loop {
        let attempt = tokio::select! {
            attempt = connection.identify() => attempt,
            () = stop.cancelled() => return Ok(()),
        };
        match attempt {
            Ok(identity) => break identity,
            Err(Attempt::Fatal(error)) => return Err(error),
            Err(Attempt::Retry(error)) => {
                let why = format!("cannot reach the platform: {error}");
                if !wait_to_retry(platform, &why, &mut backoff, &stop).await {
                    return Ok(());
                }
            }
            Err(Attempt::Unreadable(what)) => {
                if !wait_to_retry(platform, &unreadable(&what), &mut backoff, &stop).await {
                    return Ok(());
                }
            }
        }
    };
    tokio::select! {
        () = connection.prepare(&identity) => {}
        () = stop.cancelled() => return Ok(()),
    }

    // Notices stop with the connection, and only after it: a command handled during the stop
    // grace may still queue one.
    let notices_stop = CancellationToken::new();
    let mut notices = tokio::spawn(connection.notices().deliver_until(notices_stop.clone()));
    let mut backoff = Backoff::default();
    let result = loop {
        let began = Instant::now();
        let attempt = connection.receive(&identity, &stop).await;
        if began.elapsed() > MAX_BACKOFF {
            // It was connected a while: this is new trouble, not the same trouble again.
            backoff.reset();
        }
        match attempt {
            Ok(()) => break Ok(()),
            Err(Attempt::Fatal(error)) => break Err(error),
            Err(Attempt::Retry(error)) => {
                let why = format!("cannot receive events: {error}");
                if !wait_to_retry(platform, &why, &mut backoff, &stop).await {
                    break Ok(());
                }
            }
            Err(Attempt::Unreadable(what)) => {
                if !wait_to_retry(platform, &unreadable(&what), &mut backoff, &stop).await {
                    break Ok(());
                }
            }
        }
    };
    notices_stop.cancel();
    if tokio::time::timeout(STOP_GRACE, &mut notices)
        .await
        .is_err()
    {
        tracing::warn!(platform, "a notice was still being sent when lull stopped");
        notices.abort();
    }
    result
}

/// What the log says of an answer lull cannot read.
fn unreadable(what: &str) -> String {
    format!(
        "the platform answered something lull cannot read ({what}); check api_url: it must be the platform's API, or a proxy that passes it through unchanged"
    )
}

/// Logs `why` and sleeps the backoff's next wait; `false` if `stop` was cancelled meanwhile.
async fn wait_to_retry(
    platform: &str,
    why: &str,
    backoff: &mut Backoff,
    stop: &CancellationToken,
) -> bool {
    let wait = backoff.next_wait();
    tracing::warn!(
        platform,
        retry_in_seconds = wait.as_secs(),
        "{why}; trying again"
    );
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        () = stop.cancelled() => false,
    }
}

#[cfg(test)]
mod mock_tests;
