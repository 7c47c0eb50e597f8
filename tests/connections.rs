//! Holding under half-sent requests (docs/protocol.md §1.3): a client may not keep more
//! than `server.max_connections_per_ip` connections open, one that sends half a request
//! is closed at `server.header_timeout_s`, one that promises a body it never sends at
//! `server.body_timeout_s`, and meanwhile everyone else is served at once. WebSockets
//! count against the caps too.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{Backend, TestServer, start_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

backend_tests!(
    half_sent_requests_past_the_ip_cap_starve_no_one_and_are_closed_at_the_header_timeout,
    a_body_that_never_comes_is_answered_at_the_body_timeout,
    websockets_count_against_the_caps,
);

const CAP: usize = 8;

async fn server(backend: Backend) -> Option<TestServer> {
    start_with(backend, |config| {
        config.server.max_connections_per_ip = CAP;
        config.server.header_timeout_s = 2;
        config.server.body_timeout_s = 1;
    })
    .await
}

/// A connection from `source` (any 127.0.0.0/8 address) to the server.
async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Waits up to `within` for the server to close `stream`; returns how long that took.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(within.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue, // an answer (e.g. an error response) before the close
        }
    }
}

/// `GET /health` from `source` on a fresh connection: the status line and how long it took.
async fn health_from(source: &str, to: SocketAddr) -> (String, Duration) {
    let started = Instant::now();
    let mut stream = connect_from(source, to).await;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    (answer.lines().next().unwrap_or_default().to_owned(), started.elapsed())
}

/// The attack: 12 connections from one address each send half a request and stop. The cap
/// admits 8 and closes the rest at once; another address is served at once meanwhile; the
/// 8 are closed at the 2 s header timeout, and their address may connect again after.
async fn half_sent_requests_past_the_ip_cap_starve_no_one_and_are_closed_at_the_header_timeout(backend: Backend) {
    let Some(server) = server(backend).await else { return };
    let mut attackers = Vec::new();
    for _ in 0..CAP + 4 {
        let mut stream = connect_from("127.0.0.1", server.addr).await;
        let _ = stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
        attackers.push(stream);
    }
    // All watched at once, well inside the header timeout.
    let watched = attackers.iter_mut().map(|stream| closed_within(stream, Duration::from_millis(300)));
    let refused = futures::future::join_all(watched).await.iter().filter(|closed| closed.is_some()).count();
    assert_eq!(refused, 4, "the cap admits {CAP} from one address and closes the rest at once");

    let (status, took) = health_from("127.0.0.2", server.addr).await;
    assert!(status.contains("200"), "{status}");
    assert!(took < Duration::from_secs(1), "another address is served at once: {took:?}");

    let watched = attackers.iter_mut().map(|stream| closed_within(stream, Duration::from_secs(4)));
    let closed = futures::future::join_all(watched).await;
    assert!(
        closed.iter().all(Option::is_some),
        "every half-sent connection is closed at the header timeout: {closed:?}"
    );
    let (status, _) = health_from("127.0.0.1", server.addr).await;
    assert!(status.contains("200"), "places come back as connections close: {status}");
}

/// A POST that declares a body and sends part of it is answered `body_timeout` after 1 s
/// and closed; one declaring an absurd length is refused at once without reading it.
async fn a_body_that_never_comes_is_answered_at_the_body_timeout(backend: Backend) {
    let Some(server) = server(backend).await else { return };
    let mut stream = connect_from("127.0.0.1", server.addr).await;
    let head = "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n";
    stream.write_all(format!("{head}{{\"jsonrpc\":").as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let took = started.elapsed();
    assert!(answer.contains("\"body_timeout\""), "{answer}");
    assert!((Duration::from_millis(900)..Duration::from_secs(3)).contains(&took), "{took:?}");

    let mut stream = connect_from("127.0.0.1", server.addr).await;
    let head =
        "POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999999999\r\n\r\n{}";
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.contains("\"too_large\""), "{answer}");
    assert!(started.elapsed() < Duration::from_millis(500), "refused at once: {:?}", started.elapsed());
}

/// Open WebSockets hold their connection's place: with 8 open from one address a 9th
/// connection is closed at once, and closing one socket lets the next one in.
async fn websockets_count_against_the_caps(backend: Backend) {
    let Some(server) = server(backend).await else { return };
    let mut sockets = Vec::new();
    for _ in 0..CAP {
        sockets.push(server.ws().await);
    }
    let mut extra = connect_from("127.0.0.1", server.addr).await;
    assert!(closed_within(&mut extra, Duration::from_millis(500)).await.is_some(), "the 9th is refused");
    drop(sockets.pop());
    let mut admitted = None;
    for _ in 0..50 {
        // The server sees the close a moment later.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (status, _) = health_from("127.0.0.1", server.addr).await;
        if status.contains("200") {
            admitted = Some(status);
            break;
        }
    }
    assert!(admitted.is_some(), "a closed socket gives its place back");
}
