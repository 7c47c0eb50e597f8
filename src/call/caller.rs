//! Who is calling and from where, as the transport saw it: the credentials presented, the
//! peer's IP, the `Origin` header, the transport, and the socket of a WebSocket call.

use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::sockets::SocketLink;

/// Which transport a call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Post,
    Get,
    WebSocket,
    /// The server's own housekeeping (expiring offers), not a client's call.
    System,
    /// A change made by the `countersign` command line, straight on the database.
    Cli,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Post => "post",
            Transport::Get => "get",
            Transport::WebSocket => "ws",
            Transport::System => "system",
            Transport::Cli => "cli",
        }
    }
}

/// The credentials a request presented. Debug output never shows the secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    #[default]
    None,
    /// The session cookie's token.
    Session(String),
    /// An `Authorization: Bearer` API token (or one given in a socket's first message).
    Bearer(String),
    /// A session's secret given explicitly, in a socket's first message: the session, but
    /// never sent by a browser on its own, so the Origin rule does not apply to it.
    SessionSecret(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Credentials::None => "None",
            Credentials::Session(_) => "Session(<redacted>)",
            Credentials::Bearer(_) => "Bearer(<redacted>)",
            Credentials::SessionSecret(_) => "SessionSecret(<redacted>)",
        })
    }
}

/// Who is calling and from where.
#[derive(Debug, Clone)]
pub struct Caller {
    pub credentials: Credentials,
    pub ip: Option<IpAddr>,
    /// The `Origin` header, for the CSRF check of cookie-authenticated mutations.
    pub origin: Option<String>,
    pub transport: Transport,
    /// The socket a WebSocket call came through (subscriptions push through it).
    pub socket: Option<SocketLink>,
}

impl Caller {
    /// A caller with no credentials and no address: the server itself or the CLI.
    pub fn unattended(transport: Transport) -> Caller {
        Caller { credentials: Credentials::None, ip: None, origin: None, transport, socket: None }
    }

    /// Where the call came from, as the audit log records it: the IP, `cli` for the
    /// command line, nothing for the server's own housekeeping.
    pub fn source(&self) -> Option<String> {
        match self.transport {
            Transport::Cli => Some("cli".to_owned()),
            _ => self.ip.map(|ip| ip.to_string()),
        }
    }
}

/// What the transport should do with the session cookie after a call.
#[derive(Clone, PartialEq, Eq)]
pub enum SessionCookie {
    Set { token: String, expires_at: DateTime<Utc> },
    Clear,
}

impl fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionCookie::Set { expires_at, .. } => write!(f, "Set(<redacted>, {expires_at})"),
            SessionCookie::Clear => f.write_str("Clear"),
        }
    }
}
