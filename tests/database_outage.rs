//! Failing fast while the database is down (docs/protocol.md §2.2 `database_unavailable`):
//! once a call has found the database gone, every later call and `/health` answer at once
//! instead of each waiting out the pool's 5 s acquire timeout, and everything works again
//! soon after the database is back. PostgreSQL only: the server reaches it through a
//! TCP relay the test cuts and restores (an embedded SQLite file has no outage to stage).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Backend, assert_error, start_with};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP relay to PostgreSQL that can be cut (every connection dropped, new ones
/// refused) and restored on the same port.
struct Relay {
    addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay { addr: listener.local_addr().unwrap(), upstream, tasks: Arc::default() };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let (upstream, tasks) = (self.upstream, self.tasks.clone());
        let accepting = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let piping = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(piping);
            }
        });
        self.tasks.lock().unwrap().push(accepting);
    }

    /// The database goes away: open connections drop, new ones are refused.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// The database comes back on the same address.
    async fn restore(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_calls_and_health_answer_at_once_and_recover_after() {
    let Some(url) = common::pg::fresh_database().await else { return };
    let host_port = url.split('@').nth(1).and_then(|rest| rest.split('/').next()).unwrap();
    let relay = Relay::start(host_port.parse().unwrap()).await;
    let via_relay = url.replace(host_port, &relay.addr.to_string());
    let Some(server) = start_with(Backend::Postgres, |c| c.server.database_url = via_relay).await else { return };
    let admin = server.admin().await;
    assert!(admin.call("whoami", json!({})).await.get("result").is_some());

    relay.cut();
    // The first call that reads finds out, within the pool's acquire timeout.
    let started = Instant::now();
    assert_error(&admin.call("token_list", json!({})).await, -32007, "database_unavailable");
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    tokio::time::sleep(Duration::from_millis(1500)).await; // the breaker's probe fails
    // The credential cache may answer `whoami` until the cut listener's lease runs out
    // (it cannot hear revocations any more); then it does not.
    let cut = Instant::now();
    while admin.call("whoami", json!({})).await.get("result").is_some() {
        assert!(cut.elapsed() < countersign::credential_cache::LEASE * 2, "the cache outlived its lease");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_error(&admin.call("whoami", json!({})).await, -32007, "database_unavailable");
    for _ in 0..5 {
        let started = Instant::now();
        assert_error(&admin.call("token_list", json!({})).await, -32007, "database_unavailable");
        let (status, _, _) = server.get("/health").await;
        assert_eq!(status, 503);
        assert!(started.elapsed() < Duration::from_secs(1), "answered in {:?}", started.elapsed());
    }

    relay.restore().await;
    let started = Instant::now();
    loop {
        let (status, _, _) = server.get("/health").await;
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still down after the database came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(admin.call("token_list", json!({})).await.get("result").is_some());
}
