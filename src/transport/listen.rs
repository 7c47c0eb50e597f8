//! Accepting connections without being taken down by them. A connection is admitted only
//! under two caps — all connections, and connections from one IP — and holds its place for
//! as long as its socket is open, WebSocket upgrades included (the place travels inside the
//! socket, [`Counted`]). A client must send a request's headers within
//! `server.header_timeout_s` of connecting or of its previous answer (the keep-alive idle
//! time too), or the connection is closed; a body must arrive within
//! `server.body_timeout_s` (`http.rs`). Running out of file descriptors slows accepting
//! down instead of spinning on the error.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::rpc::Api;

/// How long to wait before accepting again after the process ran out of descriptors.
const BACKOFF_ON_EXHAUSTION: Duration = Duration::from_millis(100);
/// The accept errors that mean "out of resources" (Linux `errno`: EMFILE, ENFILE,
/// ENOBUFS, ENOMEM): waited out rather than retried at once.
const EXHAUSTED: [i32; 4] = [24, 23, 105, 12];

/// The two caps on open connections.
pub struct Caps {
    all: Arc<Semaphore>,
    per_ip: usize,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A connection's place under the caps, given back when it is dropped.
pub struct Place {
    _all: OwnedSemaphorePermit,
    ip: IpAddr,
    by_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Caps {
    pub fn new(max: usize, per_ip: usize) -> Caps {
        Caps { all: Arc::new(Semaphore::new(max)), per_ip, by_ip: Arc::default() }
    }

    /// A place for a connection from `ip`, or `None` when either cap is reached.
    pub fn admit(&self, ip: IpAddr) -> Option<Place> {
        let all = self.all.clone().try_acquire_owned().ok()?;
        let mut by_ip = self.by_ip.lock().expect("caps lock");
        let open = by_ip.entry(ip).or_default();
        if *open >= self.per_ip {
            return None;
        }
        *open += 1;
        Some(Place { _all: all, ip, by_ip: self.by_ip.clone() })
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut by_ip = self.by_ip.lock().expect("caps lock");
        if let Some(open) = by_ip.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                by_ip.remove(&self.ip);
            }
        }
    }
}

/// A socket that holds its connection's [`Place`] until it is dropped.
pub struct Counted {
    stream: TcpStream,
    _place: Place,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Serves `api` on `listener` until its shutdown begins, then lets open requests finish.
pub async fn serve(listener: TcpListener, api: Arc<Api>) {
    let config = &api.env.config.server;
    let service = super::service(api.clone());
    let shutdown = api.shutdown.clone();
    let caps = Caps::new(config.max_connections, config.max_connections_per_ip);
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(config.header_timeout_s));
    let open = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                backoff(&e).await;
                continue;
            }
        };
        let Some(place) = caps.admit(peer.ip()) else {
            api.env.metrics.connection_refused();
            continue; // dropped: closed at once
        };
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(Counted { stream, _place: place });
        let service =
            TowerToHyperService::new(service.clone().map_request(move |request: hyper::Request<Incoming>| {
                let mut request = request.map(Body::new);
                request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                request
            }));
        let connection = builder.serve_connection_with_upgrades(io, service).into_owned();
        let shutdown = shutdown.clone();
        open.spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    open.close();
    open.wait().await;
}

/// After a failed accept: running out of descriptors (or memory) is waited out, so the
/// loop does not spin on the error and connections already open can finish and free them.
async fn backoff(error: &io::Error) {
    if error.raw_os_error().is_some_and(|errno| EXHAUSTED.contains(&errno)) {
        tracing::warn!(error = %error, "cannot accept a connection: out of descriptors; pausing accepts");
        tokio::time::sleep(BACKOFF_ON_EXHAUSTION).await;
    } else {
        tracing::debug!(error = %error, "accept failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_capped_in_all_and_per_ip_and_come_back() {
        let caps = Caps::new(3, 2);
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = caps.admit(a).unwrap();
        let _second = caps.admit(a).unwrap();
        assert!(caps.admit(a).is_none(), "two per IP");
        let _third = caps.admit(b).unwrap();
        assert!(caps.admit(b).is_none(), "three in all");
        drop(first);
        assert!(caps.admit(a).is_some(), "a closed connection gives its place back");
        assert!(caps.by_ip.lock().unwrap().get(&b).is_some());
    }
}
