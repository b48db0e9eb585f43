//! Serving HTTP where slow, idle and numerous clients are bounded. Every listener lull opens
//! (the control socket, the TCP API, each platform's webhook) is served by [`serve`]:
//!
//! - a request's headers must arrive within [`HEADER_READ_TIMEOUT`]; the same clock runs while
//!   a kept-alive connection waits for its next request, so a connection that sends nothing is
//!   closed after it;
//! - a request body that stops arriving for [`BODY_IDLE_TIMEOUT`] fails its read (the route
//!   answers `400`) and the connection closes;
//! - at most [`Bounds::max_connections`] connections at once per listener; beyond that a new one
//!   waits in the kernel's backlog until one closes, so a flood costs file descriptors only up to
//!   the cap and cannot starve the store, the socket or the executor's pipes. `lull serve` also
//!   raises its soft limit on open files to the hard one when it starts
//!   ([`raise_open_files_limit`]).
//!
//! HTTP/1.1 only, as every client of lull's speaks it. Time a handler spends (a relay long
//! poll, a webhook waiting for its event to be handled) is the route's to bound, not this file's.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How long a client has to send a request's headers, or, between requests, to start the next.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request body may stop arriving before its read fails.
pub(crate) const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most connections one listener serves at once, whatever the limit on open files.
const MAX_CONNECTIONS: usize = 1024;

/// Connections the kernel queues for a TCP listener before it accepts them. Clients post in
/// bursts (500 commands at once in the benchmark); the 128 a plain bind gives dropped the rest,
/// which then waited a second for the retransmitted SYN. The kernel caps it at
/// `net.core.somaxconn`.
pub const BACKLOG: u32 = 1024;

/// Binds a TCP listener with [`BACKLOG`]: every TCP listener lull opens (the API, each webhook).
pub(crate) fn bind_tcp(listen: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if listen.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    socket.listen(BACKLOG)
}

/// Open files kept for everything but connections: the store, logs, the executor's pipes.
const RESERVED_FILES: u64 = 256;

/// The bounds of one listener.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    /// Connections served at once.
    pub(crate) max_connections: usize,
    /// [`HEADER_READ_TIMEOUT`] (tests shorten it).
    pub(crate) header_read: Duration,
    /// [`BODY_IDLE_TIMEOUT`] (tests shorten it).
    pub(crate) body_idle: Duration,
}

impl Default for Bounds {
    /// [`MAX_CONNECTIONS`], or less where the limit on open files would not hold four listeners'
    /// worth beside [`RESERVED_FILES`].
    fn default() -> Self {
        let share = open_files_limit().saturating_sub(RESERVED_FILES) / 4;
        Self {
            max_connections: usize::try_from(share)
                .unwrap_or(usize::MAX)
                .clamp(16, MAX_CONNECTIONS),
            header_read: HEADER_READ_TIMEOUT,
            body_idle: BODY_IDLE_TIMEOUT,
        }
    }
}

/// This process's soft limit on open files (1024 when it cannot be read).
fn open_files_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return 1024;
    }
    limit.rlim_cur
}

/// Raises this process's soft limit on open files to its hard limit: `lull serve` does at start,
/// before its listeners size their caps (an embedding host's limits are its own).
pub(crate) fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write only the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::warn!("could not raise the limit on open files to its hard limit");
            }
        }
    }
}

/// Serves `router` on `listener` within `bounds` until `stop` is cancelled, then lets each
/// connection finish the request it is on (callers bound that wait). Each request carries
/// `ConnectInfo(peer(io, address))` of its connection.
pub(crate) async fn serve<L, C>(
    mut listener: L,
    router: axum::Router,
    peer: fn(&L::Io, &L::Addr) -> C,
    bounds: Bounds,
    stop: CancellationToken,
) where
    L: Listener,
    C: Clone + Send + Sync + 'static,
{
    let slots = Arc::new(Semaphore::new(bounds.max_connections));
    let connections = TaskTracker::new();
    let service = tower::ServiceBuilder::new()
        .layer(RequestBodyTimeoutLayer::new(bounds.body_idle))
        .service(router);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = stop.cancelled() => break,
        };
        let Ok(slot) = slot else { break };
        let (io, address) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let peer = peer(&io, &address);
        let service = service.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer.clone()));
                    service.clone().oneshot(request)
                },
            );
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(bounds.header_read);
            let connection = builder.serve_connection(TokioIo::new(io), service);
            tokio::pin!(connection);
            // A connection's own errors (a client that went away, a header timeout) end only it.
            tokio::select! {
                _ = connection.as_mut() => {}
                () = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    connections.close();
    connections.wait().await;
}

#[cfg(test)]
mod tests;
