//! The command line's client side, for scripts: `countersign call` (one call, its outcome
//! as an exit code), `countersign login` (a token, saved for later), `countersign watch`
//! (notifications as JSON lines, resumed across reconnects). Everything here talks to a
//! running server over HTTP and WebSocket, as any client would.

pub mod call;
pub mod credentials;
pub mod login;
pub mod watch;

use std::process::ExitCode;

/// What a command's exit status says, so a script can tell "retry later" from "denied" from
/// "your params are wrong" (README "For scripts").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok = 0,
    /// Bad command line or params that are not JSON (clap uses 2 for usage errors too).
    Usage = 2,
    /// No JSON-RPC answer: the server could not be reached, or something else answered.
    Unreachable = 3,
    Unauthenticated = 4,
    Forbidden = 5,
    NotFound = 6,
    Conflict = 7,
    /// Invalid params, a validation error, an unknown method, a malformed request, or a
    /// missing typed confirmation: fix the call.
    Invalid = 8,
    /// Rate limited or unavailable: try again later.
    RetryLater = 9,
    /// An internal error, or an answer this client does not understand.
    Internal = 10,
}

impl Outcome {
    /// The outcome of a JSON-RPC error `code` (docs/protocol.md §2).
    pub fn of_error_code(code: i64) -> Outcome {
        match code {
            -32001 => Outcome::Unauthenticated,
            -32002 => Outcome::Forbidden,
            -32003 => Outcome::NotFound,
            -32004 => Outcome::Conflict,
            -32700 | -32600 | -32601 | -32602 | -32005 | -32011 => Outcome::Invalid,
            -32006 | -32007 => Outcome::RetryLater,
            _ => Outcome::Internal,
        }
    }

    /// The outcome of a JSON-RPC error object.
    pub fn of_error(error: &serde_json::Value) -> Outcome {
        error.get("code").and_then(serde_json::Value::as_i64).map_or(Outcome::Internal, Outcome::of_error_code)
    }
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> ExitCode {
        ExitCode::from(outcome as u8)
    }
}

/// The table `--help` and the README show.
pub const EXIT_CODES: &str = "Exit status: 0 ok; 2 usage (bad flags or params that are not JSON); \
3 server unreachable; 4 unauthenticated; 5 forbidden; 6 not found; 7 conflict; \
8 invalid params, validation error, unknown method or confirmation required; \
9 rate limited or unavailable (retry later); 10 internal error.";

/// A client-side failure, with the exit status it means.
#[derive(Debug)]
pub struct Failure {
    pub outcome: Outcome,
    pub message: String,
}

impl Failure {
    pub fn new(outcome: Outcome, message: impl Into<String>) -> Failure {
        Failure { outcome, message: message.into() }
    }

    /// The server could not be reached (or answered something other than JSON-RPC).
    pub fn unreachable(url: &str, error: impl std::fmt::Display) -> Failure {
        Failure::new(Outcome::Unreachable, format!("cannot reach {url}: {error}"))
    }
}

/// `http://host:port` from a base URL such as `http://host:port/`.
pub fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_has_its_exit_status() {
        let table = [
            (-32001, 4),
            (-32002, 5),
            (-32003, 6),
            (-32004, 7),
            (-32700, 8),
            (-32600, 8),
            (-32601, 8),
            (-32602, 8),
            (-32005, 8),
            (-32011, 8),
            (-32006, 9),
            (-32007, 9),
            (-32603, 10),
            (-1, 10),
        ];
        for (code, status) in table {
            assert_eq!(Outcome::of_error_code(code) as u8, status, "{code}");
        }
    }
}
