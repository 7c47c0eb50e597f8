//! A minimal HTTP/1.1 client for load generators: one keep-alive connection, one request
//! in flight, requests written from prepared bytes, answers read by `Content-Length`.
//!
//! Why not reqwest or hyper's client: on two cores the load generator shares the CPU with
//! the server it measures, so every microsecond the client spends per call is taken from
//! the server and hides its cost. This client does one `write` and (usually) one `read`
//! per call, allocates nothing per call once its buffer has grown, and leaves the checking
//! of a body to the caller (the generators compare it byte for byte with a known answer).
//! It understands exactly what countersign and jsonrpsee send: a status line, headers, and
//! a body of `Content-Length` bytes; chunked bodies and `Connection: close` are refused or
//! reported, never guessed at.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bytes read at most per `read` call (answers here are well under this, but for batches).
const READ_CHUNK: usize = 16 * 1024;
/// Headers longer than this are refused (a sign of a confused exchange, not of load).
const MAX_HEAD: usize = 16 * 1024;

/// A request, ready to write: the whole of it, head and body.
pub fn post(addr: SocketAddr, path: &str, body: &[u8], bearer: Option<&str>) -> Vec<u8> {
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n");
    if let Some(secret) = bearer {
        head.push_str(&format!("Authorization: Bearer {secret}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    request
}

/// A GET request for `target` (path and query), with a bearer token when given.
pub fn get(addr: SocketAddr, target: &str, bearer: Option<&str>) -> Vec<u8> {
    let auth = bearer.map(|secret| format!("Authorization: Bearer {secret}\r\n")).unwrap_or_default();
    format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n").into_bytes()
}

/// An answer: its status and body, borrowed from the connection's buffer.
pub struct Answer<'a> {
    pub status: u16,
    pub body: &'a [u8],
}

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
        Ok(Conn { stream, buf: Vec::with_capacity(READ_CHUNK) })
    }

    /// Writes `request` and reads its answer. After an `Err` the connection is unusable.
    pub async fn call(&mut self, request: &[u8]) -> Result<Answer<'_>, String> {
        self.stream.write_all(request).await.map_err(|e| format!("cannot send: {e}"))?;
        self.buf.clear();
        let (head_len, status, body_len) = loop {
            self.fill().await?;
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(format!("no end of headers within {MAX_HEAD} bytes"));
            }
        };
        let total = head_len + body_len;
        while self.buf.len() < total {
            self.fill().await?;
        }
        if self.buf.len() > total {
            return Err(format!("{} bytes beyond the answer (nothing was pipelined)", self.buf.len() - total));
        }
        Ok(Answer { status, body: &self.buf[head_len..total] })
    }

    /// Reads what is there (at least one byte) onto the end of the buffer.
    async fn fill(&mut self) -> Result<(), String> {
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let read = self.stream.read(&mut self.buf[len..]).await;
        let read = read.map_err(|e| format!("cannot receive: {e}"))?;
        self.buf.truncate(len + read);
        if read == 0 {
            return Err("the server closed the connection".to_owned());
        }
        Ok(())
    }
}

/// `(head length, status, body length)` once the whole head is in `buf`.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, u16, usize)>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { return Ok(None) };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "the answer's head is not UTF-8".to_owned())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3)?.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let mut body_len = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            body_len = Some(value.parse::<usize>().map_err(|_| format!("bad Content-Length {value:?}"))?);
        } else if (name.eq_ignore_ascii_case("transfer-encoding") || name.eq_ignore_ascii_case("connection"))
            && !value.eq_ignore_ascii_case("keep-alive")
        {
            return Err(format!("unsupported answer header {line:?} (status {status})"));
        }
    }
    let body_len = body_len.ok_or_else(|| format!("an answer without Content-Length (status {status})"))?;
    Ok(Some((end + 4, status, body_len)))
}
