//! A webhook receiver on loopback, in the test process, for the executor tests: it checks
//! every delivery's `Countersign-Signature` with the secret it was given, keeps each
//! delivery (counted per `Idempotency-Key`), and answers as the test tells it — a status
//! and body, a hang, or a dropped connection.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use hmac::{Hmac, Mac};
use hyper::{Request, Response};
use serde_json::Value;
use sha2::Sha256;

/// A secret long enough for the config's check, and easy to search a log for.
pub const SECRET: &str = "whsec-test-7f3a9c2e5b8d1046";

/// How the receiver answers the next deliveries.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16, String),
    /// Answers `status` after a delay.
    After(Duration, u16),
    /// Never answers (until the test process ends).
    Hang,
    /// Drops the connection without answering.
    Close,
}

/// One delivery as it arrived.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub key: String,
    /// The signature matched the body and the secret.
    pub signed: bool,
    pub body: Value,
}

#[derive(Default)]
struct State {
    answer: Mutex<Option<Answer>>,
    delivered: Mutex<Vec<Delivered>>,
}

pub struct Receiver {
    /// Where to point a webhook executor.
    pub url: String,
    state: Arc<State>,
}

impl Receiver {
    /// Listens on a free loopback port, answering `answer`.
    pub async fn start(answer: Answer) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let state = Arc::new(State { answer: Mutex::new(Some(answer)), ..State::default() });
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| handle(state.clone(), request));
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                });
            }
        });
        Receiver { url, state }
    }

    /// Answers the next deliveries with `answer`.
    pub fn answer(&self, answer: Answer) {
        *self.state.answer.lock().unwrap() = Some(answer);
    }

    /// Every delivery so far, in arrival order.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.state.delivered.lock().unwrap().clone()
    }

    /// How many deliveries came with `key`.
    pub fn count(&self, key: &str) -> usize {
        self.delivered().iter().filter(|d| d.key == key).count()
    }

    /// Waits (at most 20 s) until `n` deliveries have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Delivered> {
        for _ in 0..1000 {
            let delivered = self.delivered();
            if delivered.len() >= n {
                return delivered;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {n} deliveries, got {:?}", self.delivered());
    }
}

/// Whether `header` is `t=<t>,v1=<hex HMAC-SHA256(SECRET, "<t>.<body>")>`.
pub fn verify(header: &str, body: &[u8]) -> bool {
    let mut parts = header.split(',');
    let (Some(t), Some(v1), None) = (parts.next(), parts.next(), parts.next()) else { return false };
    let (Some(t), Some(v1)) = (t.strip_prefix("t="), v1.strip_prefix("v1=")) else { return false };
    let Ok(expected) = hex::decode(v1) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

async fn handle(state: Arc<State>, request: Request<hyper::body::Incoming>) -> Result<Response<Body>, std::io::Error> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let (signature, key) = (header("countersign-signature"), header("idempotency-key"));
    let bytes = axum::body::to_bytes(Body::new(request.into_body()), usize::MAX).await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let signed = verify(&signature, &bytes);
    state.delivered.lock().unwrap().push(Delivered { key, signed, body });
    let answer = state.answer.lock().unwrap().clone().unwrap();
    match answer {
        Answer::Status(status, body) => Ok(Response::builder().status(status).body(Body::from(body)).unwrap()),
        Answer::After(delay, status) => {
            tokio::time::sleep(delay).await;
            Ok(Response::builder().status(status).body(Body::from("late")).unwrap())
        }
        Answer::Hang => match std::future::pending::<Infallible>().await {},
        Answer::Close => Err(std::io::Error::other("the test receiver drops this connection")),
    }
}
