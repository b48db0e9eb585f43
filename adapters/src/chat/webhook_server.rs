//! The HTTP listener a platform's webhook routes are served on (Telegram's webhook, Slack's
//! request URLs, Discord's interactions endpoint): bound before the platform is told the URL, so
//! an address lull cannot listen on is found at once, and stopped gracefully within
//! [`STOP_GRACE`](super::supervisor::STOP_GRACE) so posts in flight are answered. Served within
//! lull's listener bounds (header and body timeouts, a connection cap) like every listener.

use std::net::SocketAddr;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::supervisor::STOP_GRACE;

/// The address cannot be listened on (in use, not this host's, not permitted).
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {address}: {source}")]
pub struct ListenError {
    /// The configured address.
    pub address: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// A running listener.
pub struct WebhookServer {
    task: JoinHandle<()>,
    stop: CancellationToken,
    address: SocketAddr,
}

impl WebhookServer {
    /// Binds `listen` and serves `router` on it; logs "`name` listening on `address`" with the
    /// bound address (with port 0 the system picks it).
    pub async fn start(
        name: &str,
        listen: SocketAddr,
        router: axum::Router,
    ) -> Result<Self, ListenError> {
        let tcp = crate::http_server::bind_tcp(listen).map_err(|source| ListenError {
            address: listen,
            source,
        })?;
        let address = tcp.local_addr().unwrap_or(listen);
        tracing::info!("{name} listening on {address}");
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(crate::http_server::serve(
            tcp,
            router,
            |_, peer: &SocketAddr| *peer,
            crate::http_server::Bounds::default(),
            stopped,
        ));
        Ok(Self {
            task,
            stop,
            address,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Takes no new connections and lets requests in flight finish, within the stop grace.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if tokio::time::timeout(STOP_GRACE, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!(address = %self.address, "requests were still in flight when lull stopped");
            self.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn get(address: SocketAddr) -> String {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream
            .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn it_serves_until_stopped_and_a_taken_address_is_an_error() {
        let router = axum::Router::new().route("/ping", axum::routing::get(|| async { "pong" }));
        let any_port = "127.0.0.1:0".parse().unwrap();
        let server = WebhookServer::start("test webhook", any_port, router.clone())
            .await
            .unwrap();
        let address = server.address();
        assert_ne!(address.port(), 0, "the bound port, not the configured one");
        assert!(get(address).await.ends_with("pong"));

        let taken = WebhookServer::start("second", address, router)
            .await
            .err()
            .unwrap();
        assert_eq!(taken.address, address);
        assert_eq!(taken.source.kind(), std::io::ErrorKind::AddrInUse);

        tokio::time::timeout(STOP_GRACE, server.stop())
            .await
            .expect("stops promptly");
        assert!(
            tokio::net::TcpStream::connect(address).await.is_err(),
            "no longer listening"
        );
    }
}
