//! A minimal HTTP/1.1 client for the control socket: what the CLI (and tests) need, and no more.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Longest a control call may take (a submit waits only for a flush).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A response: status and JSON body (or the text, as a JSON string, if not JSON).
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Parsed body.
    pub body: Value,
}

/// Why a call failed before a response arrived.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens on the socket.
    #[error("no lull server is listening on {0}")]
    NotRunning(String),
    /// The socket exists but refused the connection for another reason (permissions, a full
    /// backlog).
    #[error("control socket {path}: cannot connect: {message}")]
    Unreachable {
        /// The socket.
        path: String,
        /// The system's reason.
        message: String,
    },
    /// The connection stayed open, but no answer came in time.
    #[error("control socket {0}: no answer within 30s")]
    NoAnswer(String),
    /// The connection broke or the answer was not HTTP.
    #[error("control socket {path}: {message}")]
    Broken {
        /// The socket.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// What is behind a control socket.
#[derive(Debug)]
pub(crate) enum Probe {
    /// A lull server: it answered a status request, or kept the connection open without
    /// answering in time (busy).
    Server,
    /// No server: no socket, nothing listening, or a listener that dropped the request unanswered.
    Absent,
    /// Something is there, but it cannot be reached (the error says why).
    Unreachable(ClientError),
}

/// Probes `socket` with a status request. A connect alone proves nothing: a process forked by a
/// lull that was then killed (its process-group guardian, or a command not yet executed) briefly
/// holds the dead server's listening socket, which takes connections and then drops them
/// unanswered.
pub(crate) async fn probe(socket: &Path) -> Probe {
    match call(socket, "GET", "/v1/status", None).await {
        Ok(_) | Err(ClientError::NoAnswer(_)) => Probe::Server,
        Err(ClientError::NotRunning(_) | ClientError::Broken { .. }) => Probe::Absent,
        Err(error @ ClientError::Unreachable { .. }) => Probe::Unreachable(error),
    }
}

/// `method path` with an optional JSON body, over the Unix socket at `socket`.
pub async fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Response, ClientError> {
    let where_ = socket.display().to_string();
    let broken = |message: String| ClientError::Broken {
        path: where_.clone(),
        message,
    };
    let mut stream = UnixStream::connect(socket)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
                ClientError::NotRunning(where_.clone())
            }
            _ => ClientError::Unreachable {
                path: where_.clone(),
                message: e.to_string(),
            },
        })?;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: lull\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(CALL_TIMEOUT, exchange)
        .await
        .map_err(|_| ClientError::NoAnswer(where_.clone()))?
        .map_err(|e| broken(e.to_string()))?;
    parse_response(&raw).ok_or_else(|| broken("the answer is not HTTP".into()))
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body)?;
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Some(Response { status, body })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..line_end])
                .ok()?
                .split(';')
                .next()?
                .trim(),
            16,
        )
        .ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;
    use std::path::PathBuf;

    use super::*;

    /// A listener on a fresh socket that serves one connection with `serve`, on a thread.
    fn one_connection(serve: fn(std::os::unix::net::UnixStream)) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("control.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            serve(stream);
        });
        (dir, socket)
    }

    #[tokio::test]
    async fn only_a_listener_that_answers_is_a_server() {
        let (_dir, live) = one_connection(|mut stream| {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
        });
        assert!(matches!(probe(&live).await, Probe::Server));

        // What a killed lull's forked child does with the listener it inherited: takes the
        // connection and drops it without reading or answering.
        let (_dir, stale) = one_connection(drop);
        assert!(matches!(probe(&stale).await, Probe::Absent));

        let nothing = tempfile::tempdir().unwrap();
        assert!(matches!(
            probe(&nothing.path().join("control.sock")).await,
            Probe::Absent
        ));
    }
}
