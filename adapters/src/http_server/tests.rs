//! The bounds against real sockets on loopback: a silent connection and a stalled body are
//! closed, a connection over the cap waits for a slot, and a request is served meanwhile.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::*;

const SHORT: Bounds = Bounds {
    max_connections: 3,
    header_read: Duration::from_millis(300),
    body_idle: Duration::from_millis(300),
};

/// Bounds every wait of these tests: far beyond the short timeouts above.
const PATIENCE: Duration = Duration::from_secs(10);

async fn start(bounds: Bounds) -> (SocketAddr, CancellationToken) {
    let router = axum::Router::new()
        .route("/ping", axum::routing::get(|| async { "pong" }))
        .route(
            "/echo",
            axum::routing::post(|body: Bytes| async move { body }),
        )
        .route(
            "/peer",
            axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                peer.ip().to_string()
            }),
        );
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = tcp.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(serve(tcp, router, |_, peer| *peer, bounds, stop.clone()));
    (address, stop)
}

/// Everything the server sends until it closes the connection.
async fn until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn get(address: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    until_closed(&mut stream).await
}

#[tokio::test]
async fn a_connection_that_sends_nothing_or_stops_mid_request_is_closed() {
    let (address, _stop) = start(SHORT).await;
    let mut silent = TcpStream::connect(address).await.unwrap();
    assert_eq!(until_closed(&mut silent).await, "", "closed without a word");

    let mut half_headers = TcpStream::connect(address).await.unwrap();
    half_headers
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut half_headers).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    let mut half_body = TcpStream::connect(address).await.unwrap();
    half_body
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let answer = until_closed(&mut half_body).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // Kept alive after a request, then idle: closed like a silent one.
    let mut kept = TcpStream::connect(address).await.unwrap();
    kept.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut kept).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("pong"),
        "{answer}"
    );
}

#[tokio::test]
async fn connections_over_the_cap_wait_for_a_slot_and_requests_carry_their_peer() {
    let (address, _stop) = start(Bounds {
        header_read: PATIENCE * 3,
        ..SHORT
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..SHORT.max_connections {
        let stream = TcpStream::connect(address).await.unwrap();
        idle.push(stream);
    }
    // Give the server a moment to take all three; the fourth is then not served.
    let waiting = tokio::spawn(get(address, "/ping"));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), async {
            while !waiting.is_finished() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .is_err(),
        "served over the cap"
    );
    drop(idle.pop());
    let answer = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(answer.ends_with("pong"), "{answer}");
    drop(idle);
    let peer = tokio::time::timeout(PATIENCE, get(address, "/peer"))
        .await
        .unwrap();
    assert!(peer.ends_with("127.0.0.1"), "{peer}");
}

#[tokio::test]
async fn stopping_takes_no_new_connections() {
    let (address, stop) = start(SHORT).await;
    assert!(get(address, "/ping").await.ends_with("pong"));
    stop.cancel();
    tokio::time::timeout(PATIENCE, async {
        while TcpStream::connect(address).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the listener closes");
}
