//! The log filter every countersign process uses. Whatever `RUST_LOG` asks for, the
//! WebSocket library stays at `info`: at `trace` it prints every message as sent and
//! received, and messages carry secrets (`session_authenticate`'s token, a password
//! change's passwords). The rest of the stack logs no bodies.

use tracing_subscriber::EnvFilter;

/// Directives added last, over whatever was asked for.
const SECRET_SAFE: [&str; 2] = ["tungstenite=info", "tokio_tungstenite=info"];

/// `filter`, with the libraries that would log message bodies held at `info`.
pub fn secret_safe(filter: EnvFilter) -> EnvFilter {
    SECRET_SAFE.iter().fold(filter, |filter, directive| {
        filter.add_directive(directive.parse().expect("the secret-safe directives parse"))
    })
}
